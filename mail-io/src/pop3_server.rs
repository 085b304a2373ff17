//! What the POP3 servers, tokio and blocking, share: the refusal of a decision, the message
//! asked for, the error a session ends on (`mail_io::pop3::Refusal` and
//! `mail_io::blocking::pop3::Refusal` are the same type, and so on).

use std::io;

use pop3_proto::server::{Answer, ApiError};
use pop3_proto::types::{InvalidValue, MessageNumber, Response, Status, Text, UniqueId};

/// What the servers write to a connection over [`ServeOptions::max_sessions`] before closing
/// it.
///
/// [`ServeOptions::max_sessions`]: crate::ServeOptions::max_sessions
pub(crate) const TOO_MANY: &[u8] = b"-ERR [SYS/TEMP] too many connections\r\n";
/// Over the client's own limits (sessions at once, connections a minute): a temporary
/// refusal (RFC 3206 4: `SYS/TEMP`, try again later).
pub(crate) const CLIENT_TOO_MANY: &[u8] =
    b"-ERR [SYS/TEMP] too many connections from your address, try again later\r\n";

/// Octets of a message read from its source and handed to the machine at a time; output is
/// written out once this much waits, so a message of any size streams with bounded memory.
pub(crate) const BODY_CHUNK: usize = 64 * 1024;

/// The pieces a TOP reads: the header section and a few lines are usually a few kilobytes, so
/// a TOP of a large message reads (and zeroes) no more than this before the machine has what
/// it needs.
pub(crate) const TOP_CHUNK: usize = 8 * 1024;

/// The size of the pieces `request` is read in.
pub(crate) fn chunk_size(request: &Retrieve) -> usize {
    if request.top.is_some() {
        TOP_CHUNK
    } else {
        BODY_CHUNK
    }
}

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
    /// `[AUTH]`, `[IN-USE]`, `[LOGIN-DELAY]`, `[SYS/TEMP]`, `[SYS/PERM]`).
    ///
    /// Never fails: text that cannot be sent (a CR, LF or NUL, or a line over the 512 octets
    /// of RFC 2449 4) gives a bare `-ERR`, without text or code, which still refuses. Use
    /// [`try_new`](Self::try_new) to learn that the text was refused.
    pub fn new(text: &str) -> Self {
        Self::try_new(text).unwrap_or_else(|_| Self::from_response(Response::err(Text::empty())))
    }

    /// `-ERR text` as [`new`](Self::new), checked: text that cannot be sent (a CR, LF or NUL,
    /// or a line, code included, over the 512 octets of RFC 2449 4, CRLF included) is an
    /// error rather than a bare `-ERR`.
    ///
    /// ```
    /// use mail_io::pop3::Refusal;
    ///
    /// let busy = Refusal::try_new("[SYS/TEMP] try later")?;
    /// assert_eq!(busy.to_string(), "-ERR [SYS/TEMP] try later");
    /// assert!(Refusal::try_new("no\r\n+OK fake").is_err());
    /// assert!(Refusal::try_new(&"x".repeat(600)).is_err());
    /// # Ok::<(), pop3_proto::types::InvalidValue>(())
    /// ```
    pub fn try_new(text: &str) -> Result<Self, InvalidValue> {
        match Answer::reject(text)? {
            Answer::Reply(response) => Ok(Self::from_response(response)),
            // `Answer::reject` answers with a reply, always.
            _ => Err(InvalidValue::Malformed {
                what: "refusal",
                reason: "not a response",
            }),
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

    /// `-ERR [SYS/TEMP] text` (RFC 3206 5): a passing failure of the system; try later. Text
    /// that cannot be sent gives a bare `-ERR`, as with [`new`](Self::new).
    pub fn temporary(text: &str) -> Self {
        Self::new(&format!("[SYS/TEMP] {text}"))
    }

    /// `-ERR [SYS/PERM] text` (RFC 3206 5): a lasting failure of the system. Text that cannot
    /// be sent gives a bare `-ERR`, as with [`new`](Self::new).
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

#[cfg(test)]
mod tests {
    use super::*;
    use pop3_proto::types::KnownCode;

    /// RFC 2449 4 (a response line is at most 512 octets, CRLF included) and RFC 2449 8 (a
    /// leading `[CODE]` is the response code): `try_new` refuses what cannot be sent, `new`
    /// falls back to a bare `-ERR` for it, as documented.
    #[test]
    fn rfc2449_4_refusal_text_is_checked_or_falls_back_to_a_bare_err() {
        let busy = Refusal::try_new("[IN-USE] locked").unwrap();
        assert!(
            busy.response()
                .code()
                .is_some_and(|c| c.is(KnownCode::InUse))
        );
        assert_eq!(busy.response().text().as_str(), "locked");
        assert_eq!(busy, Refusal::new("[IN-USE] locked"));
        // The longest text: 504 octets (`-ERR `, the room for an escaping space, CRLF).
        let longest = "x".repeat(pop3_proto::types::MAX_TEXT);
        let refusal = Refusal::try_new(&longest).unwrap();
        assert_eq!(refusal.response().text().as_str(), longest);
        let bare = Refusal::from_response(Response::err(Text::empty()));
        for text in [
            "no\r\n+OK fake",
            "nul\0",
            &"x".repeat(pop3_proto::types::MAX_TEXT + 1),
            &format!("[SYS/TEMP] {}", "x".repeat(500)),
        ] {
            assert!(
                matches!(
                    Refusal::try_new(text),
                    Err(InvalidValue::UnexpectedChar { .. } | InvalidValue::TooLong { .. })
                ),
                "{text:?}"
            );
            assert_eq!(Refusal::new(text), bare, "{text:?}");
            assert_eq!(Refusal::new(text).to_string(), "-ERR");
        }
        assert_eq!(Refusal::temporary(&"x".repeat(600)), bare);
    }
}
