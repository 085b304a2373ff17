//! How a client session ended, read in one place: [`Client::outcome`](super::Client::outcome).

use super::Error;

/// How the session ended, from [`Client::outcome`](super::Client::outcome) once it is closed.
///
/// The same three endings as the SMTP client's `Outcome`: the dialogue ended with `QUIT`, the
/// application shut it down where `QUIT` could not go, or it failed. Only a `QUIT` the server
/// answered with `+OK` commits the deletions (RFC 1939 6); [`committed`](Self::committed)
/// says whether that happened.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The server answered the application's `QUIT` ([`Request::Quit`](super::Request::Quit),
    /// or [`Client::shut_down`](super::Client::shut_down) once logged in), as
    /// [`Event::Closed`](super::Event::Closed) reported.
    Quit {
        /// `+OK`: the server entered the UPDATE state and removed the messages marked as
        /// deleted (RFC 1939 6). `-ERR`: some or none were removed.
        committed: bool,
    },
    /// [`Client::shut_down`](super::Client::shut_down) closed the connection where `QUIT`
    /// could not go (before the login): nothing was deleted.
    ShutDown,
    /// The session failed with the error [`Event::Error`](super::Event::Error) reported: the
    /// server closed it ([`Error::ConnectionClosed`]), broke the protocol
    /// ([`Error::is_protocol_violation`]), refused the login, timed out ([`Error::Timeout`]),
    /// and so on. The session never reached the UPDATE state: nothing was deleted (RFC 1939
    /// 6). It stays the outcome even when a `QUIT` went out after the error.
    Failed(Error),
}

impl Outcome {
    /// The error, if the session failed.
    pub fn error(&self) -> Option<&Error> {
        match self {
            Self::Failed(error) => Some(error),
            Self::Quit { .. } | Self::ShutDown => None,
        }
    }

    /// Whether the session ended with `QUIT`, as asked (committed or not).
    pub fn is_quit(&self) -> bool {
        matches!(self, Self::Quit { .. })
    }

    /// Whether the server committed the deletions: `+OK` to `QUIT` (RFC 1939 6).
    pub fn committed(&self) -> bool {
        matches!(self, Self::Quit { committed: true })
    }
}
