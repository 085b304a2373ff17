//! POP3 responses (RFC 1939 3, RFC 2449 3 and 8, RFC 3206, RFC 6856).

use alloc::borrow::Cow;
use core::fmt;

use super::command::MessageNumber;
use super::text::{
    InvalidValue, RESPONSE_LINE, Text, Timestamp, check, is_vchar, text_conversions, text_serde,
    text_type,
};

/// `+OK` or `-ERR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Status {
    /// `+OK`
    Ok,
    /// `-ERR`
    Err,
}

impl Status {
    /// The indicator as sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "+OK",
            Self::Err => "-ERR",
        }
    }
}

/// The response codes this crate knows (RFC 2449 8.1, RFC 3206 4, RFC 6856 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum KnownCode {
    /// `IN-USE`: the maildrop is locked by another session.
    InUse,
    /// `LOGIN-DELAY`: logged in too recently.
    LoginDelay,
    /// `SYS/TEMP`: a temporary system problem.
    SysTemp,
    /// `SYS/PERM`: a permanent system problem.
    SysPerm,
    /// `AUTH`: the credentials are wrong (not a system problem).
    Auth,
    /// `UTF8`: the user name or password needs UTF8 mode.
    Utf8,
}

impl KnownCode {
    /// The code as sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InUse => "IN-USE",
            Self::LoginDelay => "LOGIN-DELAY",
            Self::SysTemp => "SYS/TEMP",
            Self::SysPerm => "SYS/PERM",
            Self::Auth => "AUTH",
            Self::Utf8 => "UTF8",
        }
    }
}

/// `rchar` (RFC 2449 3): printable ASCII but `/` and `]`.
fn is_rchar(byte: u8) -> bool {
    is_vchar(byte) && byte != b'/' && byte != b']'
}

/// The longest response code: `+OK [` and `]` and CRLF around it fill 512 octets.
const MAX_CODE: usize = RESPONSE_LINE - "+OK []".len() - 2;

/// An extended response code (RFC 2449 8): levels of `rchar`s separated by `/`, at most 504
/// octets (what a 512-octet response line holds as `+OK [code]`, RFC 2449 4), compared without
/// regard to case. Unknown codes and unknown detail levels are kept.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ResponseCode<'a>(Cow<'a, str>);

impl<'a> ResponseCode<'a> {
    /// Checks `resp-level *("/" resp-level)`.
    pub fn new(text: impl Into<Cow<'a, str>>) -> Result<Self, InvalidValue> {
        let text = text.into();
        check(&text, "response code", MAX_CODE, |b| {
            is_rchar(b) || b == b'/'
        })?;
        if text.split('/').any(str::is_empty) {
            return Err(InvalidValue::Malformed {
                what: "response code",
                reason: "empty level",
            });
        }
        Ok(Self(text))
    }

    /// A known code.
    pub fn known(code: KnownCode) -> ResponseCode<'static> {
        ResponseCode(Cow::Borrowed(code.as_str()))
    }

    /// The known code this is, ignoring detail levels beyond it (RFC 2449 8: clients ignore
    /// unknown hierarchical detail).
    pub fn kind(&self) -> Option<KnownCode> {
        let mut levels = self.0.split('/');
        let first = levels.next().unwrap_or_default();
        let second = levels.next();
        let is = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
        Some(match (first, second) {
            (f, _) if is(f, "IN-USE") => KnownCode::InUse,
            (f, _) if is(f, "LOGIN-DELAY") => KnownCode::LoginDelay,
            (f, _) if is(f, "AUTH") => KnownCode::Auth,
            (f, _) if is(f, "UTF8") => KnownCode::Utf8,
            (f, Some(s)) if is(f, "SYS") && is(s, "TEMP") => KnownCode::SysTemp,
            (f, Some(s)) if is(f, "SYS") && is(s, "PERM") => KnownCode::SysPerm,
            _ => return None,
        })
    }

    /// Whether this is `code` (or a more detailed form of it).
    pub fn is(&self, code: KnownCode) -> bool {
        self.kind() == Some(code)
    }

    /// The levels.
    pub fn levels(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }

    /// The code as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The same code, owning its text.
    pub fn into_owned(self) -> ResponseCode<'static> {
        ResponseCode(Cow::Owned(self.0.into_owned()))
    }
}

impl fmt::Display for ResponseCode<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ResponseCode<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ResponseCode({:?})", &*self.0)
    }
}

/// A single-line response (or the first line of a multi-line one): the status, an optional
/// response code, and text. Encoded it stays within the 512 octets of RFC 2449 4.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Response<'a> {
    /// `+OK` or `-ERR`.
    pub status: Status,
    /// The extended response code, if any (RFC 2449 8).
    pub code: Option<ResponseCode<'a>>,
    /// The text.
    pub text: Text<'a>,
}

impl<'a> Response<'a> {
    /// `+OK text`.
    pub fn ok(text: Text<'a>) -> Self {
        Self {
            status: Status::Ok,
            code: None,
            text,
        }
    }

    /// `-ERR text`.
    pub fn err(text: Text<'a>) -> Self {
        Self {
            status: Status::Err,
            code: None,
            text,
        }
    }

    /// The same response with a code.
    #[must_use]
    pub fn with_code(mut self, code: ResponseCode<'a>) -> Self {
        self.code = Some(code);
        self
    }

    /// Whether it is `+OK`.
    pub fn is_ok(&self) -> bool {
        self.status == Status::Ok
    }

    /// The APOP timestamp in the text (RFC 1939 7: wherever it sits in a greeting): the first
    /// `<...>` that is a valid timestamp.
    pub fn timestamp(&self) -> Option<Timestamp<'_>> {
        let text = self.text.as_str();
        let mut from = 0;
        while let Some(start) = text.get(from..).and_then(|t| t.find('<')) {
            let start = from + start;
            let rest = text.get(start..).unwrap_or_default();
            if let Some(end) = rest.find('>') {
                if let Ok(stamp) = Timestamp::new(rest.get(..=end).unwrap_or_default()) {
                    return Some(stamp);
                }
            }
            from = start + 1;
        }
        None
    }

    /// The same response, owning its text.
    pub fn into_owned(self) -> Response<'static> {
        Response {
            status: self.status,
            code: self.code.map(ResponseCode::into_owned),
            text: self.text.into_owned(),
        }
    }
}

text_type!(
    /// A unique-id (RFC 1939 7): 1 to 70 characters in 0x21..0x7E.
    UniqueId,
    "unique-id",
    70,
    is_vchar
);

text_conversions!(UniqueId, ResponseCode);
text_serde!(UniqueId, ResponseCode);

/// A scan listing (RFC 1939 5): `msg size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ScanListing {
    /// The message.
    pub message: MessageNumber,
    /// Its size in octets.
    pub size: u64,
}

/// A unique-id listing (RFC 1939 7): `msg unique-id`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct UidListing<'a> {
    /// The message.
    pub message: MessageNumber,
    /// Its unique-id.
    pub uid: UniqueId<'a>,
}

impl UidListing<'_> {
    /// The same listing, owning its text.
    pub fn into_owned(self) -> UidListing<'static> {
        UidListing {
            message: self.message,
            uid: self.uid.into_owned(),
        }
    }
}
