//! How a driver tells the owner of a connection that the session is over before the machine's
//! last words are written (the tokio and the blocking drivers alike).

/// What a driver's `next_step` stopped at.
#[derive(Debug)]
pub(crate) enum Step<E> {
    /// The machine has something to report.
    Event(E),
    /// The session is over and the machine's last words are about to be written (only once
    /// the close is to be announced, and once).
    Closing,
    /// The connection is closed, the machine's last words written.
    Closed,
}

/// Whether the owner of a connection hears of its close before the last words go out.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum CloseNotice {
    /// No: the close is written at once.
    Off,
    /// Yes, and it has not been told yet.
    Armed,
    /// It was told: the close goes on.
    Given,
}
