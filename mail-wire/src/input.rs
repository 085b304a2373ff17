//! What the framing types read from (a slice, copied when a value is kept, or `Bytes` /
//! `BytesMut`, sliced without copying) and write to (any growable buffer).

use core::fmt;

use bytes::{Bytes, BytesMut};

mod sealed {
    pub trait Sealed {}
    impl Sealed for &[u8] {}
    impl Sealed for bytes::Bytes {}
    impl Sealed for bytes::BytesMut {}
}

/// A buffer of received bytes that a reader consumes from the front.
///
/// Implemented for `&[u8]` (kept pieces are copied), [`Bytes`] and [`BytesMut`] (kept pieces are
/// zero-copy slices of the same allocation). What a reader does not consume stays in the buffer
/// for the caller: the bytes after a `DATA` line, or after the end of a message.
pub trait Input: sealed::Sealed {
    /// The bytes not yet consumed.
    fn remaining(&self) -> &[u8];
    /// Removes the first `n` bytes (at most [`remaining`](Input::remaining)`().len()`) and
    /// returns them.
    fn take(&mut self, n: usize) -> Bytes;
    /// Removes the first `n` bytes (at most [`remaining`](Input::remaining)`().len()`).
    fn skip(&mut self, n: usize);
}

impl Input for &[u8] {
    fn remaining(&self) -> &[u8] {
        self
    }
    fn take(&mut self, n: usize) -> Bytes {
        let (head, tail) = self.split_at(n.min(self.len()));
        *self = tail;
        Bytes::copy_from_slice(head)
    }
    fn skip(&mut self, n: usize) {
        let (_, tail) = self.split_at(n.min(self.len()));
        *self = tail;
    }
}

impl Input for Bytes {
    fn remaining(&self) -> &[u8] {
        self
    }
    fn take(&mut self, n: usize) -> Bytes {
        self.split_to(n.min(self.len()))
    }
    fn skip(&mut self, n: usize) {
        bytes::Buf::advance(self, n.min(self.len()));
    }
}

impl Input for BytesMut {
    fn remaining(&self) -> &[u8] {
        self
    }
    fn take(&mut self, n: usize) -> Bytes {
        self.split_to(n.min(self.len())).freeze()
    }
    fn skip(&mut self, n: usize) {
        bytes::Buf::advance(self, n.min(self.len()));
    }
}

/// A growable buffer that encoders and copying decoders append to: `Vec<u8>`, [`BytesMut`], a
/// `&mut` to either, or a buffer type of your own.
///
/// Every `encode_*` function of the protocol crates writes through this trait, so the same
/// call fills whichever buffer the caller holds:
///
/// ```
/// use mail_wire::Output;
///
/// fn greet<O: Output + ?Sized>(out: &mut O) {
///     out.put(b"+OK ");
///     out.put_fmt(format_args!("{} messages\r\n", 2));
/// }
/// let mut vec = Vec::new();
/// let mut bytes = bytes::BytesMut::new();
/// greet(&mut vec);
/// greet(&mut bytes);
/// assert_eq!(vec, &bytes[..]);
/// assert_eq!(vec, b"+OK 2 messages\r\n");
/// ```
///
/// Writing has no way to fail: an implementation must take every byte it is given, growing as
/// needed (which is why there is none for `&mut [u8]`, which would have to drop bytes or
/// panic once full).
pub trait Output {
    /// Appends `bytes`, all of them.
    fn put(&mut self, bytes: &[u8]);

    /// Makes room for at least `additional` more bytes: a hint, which the default ignores.
    fn reserve(&mut self, additional: usize) {
        let _ = additional;
    }

    /// Appends formatted text (`format_args!`). Formatting that fails part-way (only a
    /// `Display` implementation that returns an error can) keeps what was written before it.
    fn put_fmt(&mut self, arguments: fmt::Arguments<'_>) {
        /// `core::fmt::Write` over an `Output`.
        struct Text<'o, O: ?Sized>(&'o mut O);
        impl<O: Output + ?Sized> fmt::Write for Text<'_, O> {
            fn write_str(&mut self, text: &str) -> fmt::Result {
                self.0.put(text.as_bytes());
                Ok(())
            }
        }
        if let Some(text) = arguments.as_str() {
            self.put(text.as_bytes());
        } else {
            let _ = fmt::Write::write_fmt(&mut Text(self), arguments);
        }
    }
}

impl<O: Output + ?Sized> Output for &mut O {
    fn put(&mut self, bytes: &[u8]) {
        (**self).put(bytes);
    }
    fn reserve(&mut self, additional: usize) {
        (**self).reserve(additional);
    }
}

impl Output for alloc::vec::Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
    fn reserve(&mut self, additional: usize) {
        alloc::vec::Vec::reserve(self, additional);
    }
}

impl Output for BytesMut {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
    fn reserve(&mut self, additional: usize) {
        BytesMut::reserve(self, additional);
    }
}
