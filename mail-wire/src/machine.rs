//! The shape the four protocol state machines share, as a trait, and the output queue behind it.
//!
//! Every machine of this workspace (the SMTP and POP3 clients and servers) is driven the same way:
//! hand it what arrived ([`Machine::receive`], [`Machine::receive_eof`],
//! [`Machine::handle_timeout`]), then drain [`Machine::poll_output`] until it returns `None`.
//! A driver written against [`Machine`] runs any of them; the `mail-io` crate is that driver.
//!
//! **The invariant:** after every input, and after every call that asks the machine for something
//! (an answer, a request, a body chunk), drain `poll_output` until it returns `None`, act on each
//! output in order, and only then wait for more input. Input that [`Machine::receive`] did not
//! take must be offered again, first, before anything read later.
//!
//! **Deadlines, not idle timers.** [`Machine::timeout`] is the limit of the phase under way (a
//! command, an AUTH exchange, a block of message data; RFC 5321 4.5.3.2 times a command, not
//! an octet), and [`Machine::timer_epoch`] says when a new phase starts: the driver starts its
//! timer when the epoch (or the limit) changes, and never because octets arrived, so a peer
//! that trickles one octet at a time is closed like a silent one.
//!
//! ```
//! use bytes::BytesMut;
//! use mail_wire::machine::{Machine, Output, OutputQueue};
//! use core::time::Duration;
//!
//! /// A toy machine: answers every line with `+OK`, closes on `QUIT`.
//! struct Echo { out: OutputQueue<&'static str>, line: Vec<u8> }
//!
//! impl Machine for Echo {
//!     type Event = &'static str;
//!     type ApiError = core::convert::Infallible;
//!     fn receive(&mut self, bytes: &[u8]) -> usize {
//!         for &byte in bytes {
//!             self.line.push(byte);
//!             if self.line.ends_with(b"\r\n") {
//!                 if self.line == b"QUIT\r\n" {
//!                     self.out.close();
//!                 } else {
//!                     self.out.buffer().extend_from_slice(b"+OK\r\n");
//!                     self.out.emit("line");
//!                 }
//!                 self.line.clear();
//!             }
//!         }
//!         bytes.len()
//!     }
//!     fn receive_eof(&mut self) { self.out.close() }
//!     fn handle_timeout(&mut self) { self.out.close() }
//!     fn shut_down(&mut self) { self.out.close() }
//!     fn timeout(&self) -> Option<Duration> { Some(Duration::from_secs(600)) }
//!     fn timer_epoch(&self) -> u64 { 0 } // one deadline for the whole toy session
//!     fn tls_established(&mut self) -> Result<(), Self::ApiError> { Ok(()) }
//!     fn poll_output(&mut self) -> Option<Output<Self::Event>> { self.out.pop() }
//!     fn is_closed(&self) -> bool { self.out.is_closed() }
//! }
//!
//! let mut machine = Echo { out: OutputQueue::new(), line: Vec::new() };
//! let mut input = BytesMut::from(&b"NOOP\r\nQUIT\r\n"[..]);
//! machine.receive_from(&mut input); // consumes what the machine took: nothing can be lost
//! assert!(input.is_empty());
//! let mut outputs = Vec::new();
//! while let Some(output) = machine.poll_output() {
//!     outputs.push(output);
//! }
//! assert_eq!(outputs, [Output::Transmit("+OK\r\n".into()), Output::Event("line"), Output::Close]);
//! ```

use alloc::collections::VecDeque;
use core::time::Duration;

use bytes::{Buf, Bytes, BytesMut};

/// Something the caller of a machine must act on, from [`Machine::poll_output`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "every output must be acted upon"]
pub enum Output<E> {
    /// Send these bytes to the peer.
    Transmit(Bytes),
    /// Something happened; the machine's docs say which events wait for an answer.
    Event(E),
    /// Send what was transmitted so far, then start TLS on the connection: the next bytes on
    /// the wire are the TLS handshake. Call [`Machine::tls_established`] once it is up.
    StartTls,
    /// Close the connection (after sending what was transmitted).
    Close,
}

/// The verbs every protocol machine of this workspace shares: the sans-IO contract a driver
/// relies on. See the [module docs](self) for the invariant.
pub trait Machine {
    /// What the machine reports to the application.
    type Event;
    /// Misuse of the API by the caller (for example [`tls_established`](Self::tls_established)
    /// without [`Output::StartTls`]).
    type ApiError: core::fmt::Debug + core::fmt::Display;

    /// Hands over received bytes and returns how many were taken. Bytes not taken (back-pressure)
    /// must be offered again, first, once the machine has made progress; dropping them loses
    /// input. [`receive_from`](Self::receive_from) does the bookkeeping.
    #[must_use = "bytes that were not taken must be offered again"]
    fn receive(&mut self, bytes: &[u8]) -> usize;

    /// Hands over the front of `input` and removes from it what was taken; what stays is to be
    /// offered again later. Returns how many octets were taken.
    fn receive_from(&mut self, input: &mut BytesMut) -> usize {
        let taken = self.receive(input).min(input.len());
        input.advance(taken);
        taken
    }

    /// The peer closed its side of the connection.
    fn receive_eof(&mut self);

    /// The [`timeout`](Self::timeout) expired without input.
    fn handle_timeout(&mut self);

    /// The session's overall limit expired (a driver's, not the machine's own
    /// [`timeout`](Self::timeout)): a server says so (SMTP 421, POP3 `-ERR`) and closes. The
    /// default is [`handle_timeout`](Self::handle_timeout).
    fn handle_session_timeout(&mut self) {
        self.handle_timeout();
    }

    /// The application ends the session now (for example on shutdown): servers say goodbye
    /// (SMTP 421, POP3 `-ERR`), clients quit where the dialogue allows; then [`Output::Close`].
    fn shut_down(&mut self);

    /// How long the phase under way may take, from its start (see
    /// [`timer_epoch`](Self::timer_epoch)), before [`handle_timeout`](Self::handle_timeout)
    /// should be called; `None` when no timer runs (closed, or waiting for the application).
    fn timeout(&self) -> Option<Duration>;

    /// Which phase the [`timeout`](Self::timeout) times: it changes when a new one starts (the
    /// wait for the next command, an AUTH exchange, a block of message data, a BDAT chunk, a
    /// reply), and never while a unit trickles in octet by octet. A driver starts the timer
    /// when this value or the `timeout` changes, and after each expiry; otherwise it keeps the
    /// deadline it set, however many octets arrive. [`TimerEpoch`] keeps the count.
    fn timer_epoch(&self) -> u64;

    /// TLS is up after [`Output::StartTls`].
    fn tls_established(&mut self) -> Result<(), Self::ApiError>;

    /// Takes the next output; `None` when there is nothing to do until the next input or call.
    fn poll_output(&mut self) -> Option<Output<Self::Event>>;

    /// Whether the session is over (after [`Output::Close`] was queued).
    fn is_closed(&self) -> bool;
}

/// Implements [`Machine`] for a machine whose inherent methods of the same names do the work, as
/// the four protocol machines of this workspace do (so their users call the same verbs with or
/// without the trait in scope).
#[macro_export]
#[doc(hidden)]
macro_rules! impl_machine {
    // A machine with an inherent `handle_session_timeout` of its own (the servers).
    ($machine:ty, $event:ty, $api_error:ty, session_timeout) => {
        $crate::impl_machine!(@impl $machine, $event, $api_error, {
            fn handle_session_timeout(&mut self) {
                <$machine>::handle_session_timeout(self);
            }
        });
    };
    ($machine:ty, $event:ty, $api_error:ty) => {
        $crate::impl_machine!(@impl $machine, $event, $api_error, {});
    };
    (@impl $machine:ty, $event:ty, $api_error:ty, { $($extra:tt)* }) => {
        /// The shared driving verbs ([`mail_wire::machine`]), for drivers generic over all four
        /// machines; each calls the inherent method of the same name.
        impl $crate::machine::Machine for $machine {
            type Event = $event;
            type ApiError = $api_error;

            fn receive(&mut self, bytes: &[u8]) -> usize {
                <$machine>::receive(self, bytes)
            }

            fn receive_eof(&mut self) {
                <$machine>::receive_eof(self);
            }

            fn handle_timeout(&mut self) {
                <$machine>::handle_timeout(self);
            }

            fn shut_down(&mut self) {
                <$machine>::shut_down(self);
            }

            fn timeout(&self) -> Option<::core::time::Duration> {
                <$machine>::timeout(self)
            }

            fn timer_epoch(&self) -> u64 {
                <$machine>::timer_epoch(self)
            }

            fn tls_established(&mut self) -> Result<(), $api_error> {
                <$machine>::tls_established(self)
            }

            fn poll_output(&mut self) -> Option<$crate::machine::Output<$event>> {
                <$machine>::poll_output(self)
            }

            fn is_closed(&self) -> bool {
                <$machine>::is_closed(self)
            }

            $($extra)*
        }
    };
}

/// The phase counter behind [`Machine::timer_epoch`]: a machine restarts it where a new deadline
/// begins, and counts the octets of message data so that each block of them is a phase of its
/// own (RFC 5321 4.5.3.2.5: the data block timeout applies to each block, not to the message).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimerEpoch {
    epoch: u64,
    /// Octets of data counted since the last restart.
    octets: usize,
}

impl TimerEpoch {
    /// Epoch 0, nothing counted.
    pub const fn new() -> Self {
        Self {
            epoch: 0,
            octets: 0,
        }
    }

    /// The current epoch, for [`Machine::timer_epoch`].
    pub const fn get(&self) -> u64 {
        self.epoch
    }

    /// A new phase starts now: the driver's next wait gets a fresh deadline.
    pub fn restart(&mut self) {
        self.epoch = self.epoch.wrapping_add(1);
        self.octets = 0;
    }

    /// Counts `octets` of data; restarts each time `block` octets (at least 1) have been
    /// counted since the last restart, so that a peer must deliver a block within each
    /// deadline: a minimum rate of `block` octets per timeout, not one octet per timeout.
    pub fn count(&mut self, octets: usize, block: usize) {
        self.octets = self.octets.saturating_add(octets);
        if self.octets >= block.max(1) {
            self.restart();
        }
    }
}

/// The ordered output queue of a machine: bytes written by the encoders are merged into one
/// [`Output::Transmit`] until an event, a TLS start or the close comes between.
#[derive(Debug)]
pub struct OutputQueue<E> {
    queue: VecDeque<Output<E>>,
    outgoing: BytesMut,
    closed: bool,
}

impl<E> Default for OutputQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> OutputQueue<E> {
    /// An empty queue.
    pub fn new() -> Self {
        Self {
            queue: VecDeque::new(),
            outgoing: BytesMut::new(),
            closed: false,
        }
    }

    /// The buffer that bytes to transmit are written into; they become one
    /// [`Output::Transmit`] at the next [`flush`](Self::flush).
    pub fn buffer(&mut self) -> &mut BytesMut {
        &mut self.outgoing
    }

    /// Hands the bytes written so far out as one transmission.
    pub fn flush(&mut self) {
        if !self.outgoing.is_empty() {
            let bytes = self.outgoing.split().freeze();
            self.queue.push_back(Output::Transmit(bytes));
        }
        if self.outgoing.capacity() == 0 {
            // The split took the whole allocation: start the next one small, not at its size.
            self.outgoing = BytesMut::new();
        }
    }

    /// Queues an event after what was written so far.
    pub fn emit(&mut self, event: E) {
        self.flush();
        self.queue.push_back(Output::Event(event));
    }

    /// Queues the start of TLS after what was written so far.
    pub fn start_tls(&mut self) {
        self.flush();
        self.queue.push_back(Output::StartTls);
    }

    /// Queues the close after what was written so far (once; later calls do nothing).
    pub fn close(&mut self) {
        if self.closed {
            return;
        }
        self.flush();
        self.queue.push_back(Output::Close);
        self.closed = true;
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Takes the next output, flushing written bytes once nothing else is queued.
    pub fn pop(&mut self) -> Option<Output<E>> {
        if self.queue.is_empty() {
            self.flush();
        }
        self.queue.pop_front()
    }

    /// Whether nothing is queued or written.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty() && self.outgoing.is_empty()
    }

    /// Outputs queued (written bytes not yet flushed not counted).
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Octets written or queued for transmission and not yet taken.
    pub fn pending_octets(&self) -> usize {
        self.outgoing.len()
            + self
                .queue
                .iter()
                .map(|output| match output {
                    Output::Transmit(bytes) => bytes.len(),
                    _ => 0,
                })
                .sum::<usize>()
    }

    /// Drops written bytes not yet flushed.
    pub fn discard_written(&mut self) {
        self.outgoing.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_merge_until_an_event_and_close_ends_the_queue() {
        let mut queue = OutputQueue::new();
        queue.buffer().extend_from_slice(b"a");
        queue.buffer().extend_from_slice(b"b");
        queue.emit(1);
        queue.buffer().extend_from_slice(b"c");
        assert_eq!(queue.pending_octets(), 3);
        queue.start_tls();
        queue.close();
        queue.close();
        queue.emit(2);
        let outputs: alloc::vec::Vec<_> = core::iter::from_fn(|| queue.pop()).collect();
        assert_eq!(
            outputs,
            [
                Output::Transmit(Bytes::from_static(b"ab")),
                Output::Event(1),
                Output::Transmit(Bytes::from_static(b"c")),
                Output::StartTls,
                Output::Close,
                Output::Event(2),
            ]
        );
        assert!(queue.is_closed() && queue.is_empty());
    }

    #[test]
    fn the_epoch_moves_on_restart_and_on_each_full_block_only() {
        let mut epoch = TimerEpoch::new();
        assert_eq!(epoch.get(), 0);
        for _ in 0..99 {
            epoch.count(1, 100);
        }
        assert_eq!(epoch.get(), 0, "a block trickling in is one phase");
        epoch.count(1, 100);
        assert_eq!(epoch.get(), 1);
        epoch.count(50, 100);
        epoch.restart();
        assert_eq!(epoch.get(), 2);
        epoch.count(99, 100);
        assert_eq!(epoch.get(), 2, "a restart starts the block count again");
        epoch.count(usize::MAX, 0);
        assert_eq!(epoch.get(), 3);
    }

    #[test]
    fn pop_flushes_written_bytes_once_the_queue_is_empty() {
        let mut queue: OutputQueue<()> = OutputQueue::new();
        queue.buffer().extend_from_slice(b"+OK\r\n");
        assert_eq!(queue.len(), 0);
        assert_eq!(
            queue.pop(),
            Some(Output::Transmit(Bytes::from_static(b"+OK\r\n")))
        );
        assert_eq!(queue.pop(), None);
    }
}
