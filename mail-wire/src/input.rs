//! What the framing types read from (a slice, copied when a value is kept, or `Bytes` /
//! `BytesMut`, sliced without copying) and write to (a growable buffer).

use bytes::{Bytes, BytesMut};

mod sealed {
    pub trait Sealed {}
    impl Sealed for &[u8] {}
    impl Sealed for bytes::Bytes {}
    impl Sealed for bytes::BytesMut {}
    impl Sealed for alloc::vec::Vec<u8> {}
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

/// A growable buffer that encoders and copying decoders append to: `Vec<u8>` or [`BytesMut`].
/// Growable only, so that writing can never fail or panic for want of room.
pub trait Output: sealed::Sealed {
    /// Appends `bytes`.
    fn put(&mut self, bytes: &[u8]);
}

impl Output for alloc::vec::Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

impl Output for BytesMut {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}
