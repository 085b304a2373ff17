//! What the POP3 servers, tokio and blocking, share: the refusal of a decision, the message
//! asked for, the error a session ends on (`mail_io::pop3::Refusal` and
//! `mail_io::blocking::pop3::Refusal` are the same type, and so on).

use std::io;

use pop3_proto::server::{Answer, ApiError};
use pop3_proto::types::{MessageNumber, Response, Status, Text, UniqueId};

/// What the servers write to a connection over [`ServeOptions::max_sessions`] before closing
/// it.
///
/// [`ServeOptions::max_sessions`]: crate::ServeOptions::max_sessions
pub(crate) const TOO_MANY: &[u8] = b"-ERR [SYS/TEMP] too many connections\r\n";

/// Octets of a message read from its source and handed to the machine at a time; output is
/// written out once this much waits, so a message of any size streams with bounded memory.
pub(crate) const BODY_CHUNK: usize = 64 * 1024;

/// The message a client asks for, as `Maildrop::retrieve` gets it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Retrieve {
    /// Its number in the listing of `Maildrop::login` ([`MessageNumber::index`] indexes it).
    pub message: MessageNumber,
    /// Its unique-id, as listed.
    pub uid: UniqueId<'static>,
    /// Its size, as listed.
    pub size: u64,
    /// `TOP`: the number of body lines wanted (the machine cuts the message itself); `None`
    /// for `RETR`.
    pub top: Option<u32>,
}

/// A `-ERR` response refusing a decision: a login, a message, a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    response: Response<'static>,
}

impl Refusal {
    /// `-ERR text`; a leading `[CODE]` becomes the response code (RFC 2449 8, RFC 3206:
    /// `[AUTH]`, `[IN-USE]`, `[LOGIN-DELAY]`, `[SYS/TEMP]`, `[SYS/PERM]`). Text that cannot be
    /// sent (line ends, too long) gives a bare `-ERR`.
    pub fn new(text: &str) -> Self {
        match Answer::reject(text) {
            Ok(Answer::Reply(response)) => Self::from_response(response),
            _ => Self::from_response(Response::err(Text::empty())),
        }
    }

    /// `-ERR [AUTH] invalid user name or password` (RFC 3206 4): wrong credentials.
    pub fn auth() -> Self {
        Self::new("[AUTH] invalid user name or password")
    }

    /// `-ERR [IN-USE] maildrop already locked` (RFC 2449 8.1.1): another session holds it.
    pub fn in_use() -> Self {
        Self::new("[IN-USE] maildrop already locked")
    }

    /// `-ERR [SYS/TEMP] text` (RFC 3206 5): a passing failure of the system; try later.
    pub fn temporary(text: &str) -> Self {
        Self::new(&format!("[SYS/TEMP] {text}"))
    }

    /// `-ERR [SYS/PERM] text` (RFC 3206 5): a lasting failure of the system.
    pub fn permanent(text: &str) -> Self {
        Self::new(&format!("[SYS/PERM] {text}"))
    }

    /// `-ERR some deleted messages not removed` (RFC 1939 6): the commit failed.
    pub fn not_removed() -> Self {
        Self::from_response(Response::err(Text::empty()))
    }

    /// Any response, sent as `-ERR` whatever its status.
    pub fn from_response(response: Response<'static>) -> Self {
        Self {
            response: response.with_status(Status::Err),
        }
    }

    /// The response that goes out.
    pub fn response(&self) -> &Response<'static> {
        &self.response
    }

    pub(crate) fn into_answer(self) -> Answer {
        Answer::Reply(self.response)
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("-ERR")?;
        if let Some(code) = self.response.code() {
            write!(f, " [{}]", code.as_str())?;
        }
        if !self.response.text().is_empty() {
            write!(f, " {}", self.response.text().as_str())?;
        }
        Ok(())
    }
}

/// Why a POP3 session ended in failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The connection failed at the I/O edge (TLS, timeouts, resets), or the machine refused
    /// a message's content (bare line ends under `EncodeBareEndings::Reject`).
    #[error(transparent)]
    Io(#[from] crate::Error),
    /// Reading a message from the maildrop failed after its first octets went out: the
    /// response could not be completed, so the session was ended.
    #[error("reading the message: {0}")]
    Message(#[source] io::Error),
}

impl From<ApiError> for ServerError {
    fn from(error: ApiError) -> Self {
        Self::Io(crate::Error::api(error))
    }
}
