//! How a client session ended, read in one place: [`Client::outcome`](super::Client::outcome).

use super::Error;

/// How the session ended, from [`Client::outcome`](super::Client::outcome) once it is closed.
///
/// The same three endings as the POP3 client's `Outcome`: the dialogue ended with `QUIT`, the
/// application shut it down where `QUIT` could not go, or it failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The session ended as asked ([`Client::quit`](super::Client::quit), or
    /// [`Client::shut_down`](super::Client::shut_down) between messages): `QUIT` was sent and
    /// the server replied or closed the connection (RFC 5321 4.1.1.10). Every message was
    /// reported by its [`Event::Sent`](super::Event::Sent) before.
    Quit,
    /// [`Client::shut_down`](super::Client::shut_down) closed the connection where `QUIT`
    /// could not go (during the setup or a message): a message under way was not delivered.
    ShutDown,
    /// The session failed with the error [`Event::Error`](super::Event::Error) reported: the
    /// server closed it (421 [`Error::ServiceClosing`], or [`Error::ConnectionClosed`]), broke
    /// the protocol ([`Error::is_protocol_violation`]), refused the session, timed out
    /// ([`Error::Timeout`]), and so on. It stays the outcome even when a `QUIT` went out after
    /// the error.
    Failed(Error),
}

impl Outcome {
    /// The error, if the session failed.
    pub fn error(&self) -> Option<&Error> {
        match self {
            Self::Failed(error) => Some(error),
            Self::Quit | Self::ShutDown => None,
        }
    }

    /// Whether the session ended with `QUIT`, as asked.
    pub fn is_quit(&self) -> bool {
        matches!(self, Self::Quit)
    }
}
