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

/// The longest response code: `-ERR [` and `]` and CRLF around it fill 512 octets.
const MAX_CODE: usize = RESPONSE_LINE - "-ERR []".len() - 2;

/// An extended response code (RFC 2449 8): levels of `rchar`s separated by `/`, at most 503
/// octets (what a 512-octet response line holds as `-ERR [code]`, RFC 2449 4), compared
/// without regard to case. Unknown codes and unknown detail levels are kept.
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
/// response code, and text.
///
/// Built, it always fits the 512-octet response line of RFC 2449 4, CRLF included, whatever
/// its status: [`Response::ok`] and [`Response::err`] take any [`Text`] (at most
/// [`MAX_TEXT`](crate::types::MAX_TEXT) octets), and [`Response::new`] and
/// [`Response::with_code`] check code and text together. Only a response decoded from a line
/// longer than RFC 2449 allows (a client with a raised
/// [`max_response_line`](crate::client::ClientConfig::max_response_line)) can be longer;
/// [`encode_response`](crate::codec::encode_response) cuts its text to fit.
///
/// With the `serde` feature it is `{"status": "Err", "code": "IN-USE", "text": "locked"}`,
/// deserialized through [`Response::new`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(try_from = "ResponseFields<'a>"))]
pub struct Response<'a> {
    // Private to the crate: code and text are only valid together (the line limit).
    pub(crate) status: Status,
    pub(crate) code: Option<ResponseCode<'a>>,
    pub(crate) text: Text<'a>,
}

/// The fields of a [`Response`] before [`Response::new`] checks them together.
#[cfg(feature = "serde")]
#[derive(serde::Deserialize)]
struct ResponseFields<'a> {
    status: Status,
    #[serde(default)]
    code: Option<ResponseCode<'a>>,
    text: Text<'a>,
}

#[cfg(feature = "serde")]
impl<'a> TryFrom<ResponseFields<'a>> for Response<'a> {
    type Error = InvalidValue;

    fn try_from(fields: ResponseFields<'a>) -> Result<Self, InvalidValue> {
        Self::new(fields.status, fields.code, fields.text)
    }
}

/// Whether a text without a code needs the escape space when sent: it starts with `[`, after
/// spaces or not (RFC 2449 6.4: under RESP-CODES such text would read as a code).
pub(crate) fn escapes(text: &str) -> bool {
    text.trim_start_matches(' ').starts_with('[')
}

/// The octets of the line `status [code] text` CRLF, as it is encoded.
pub(crate) fn line_length(status: Status, code: Option<&ResponseCode<'_>>, text: &str) -> usize {
    let code_length = code.map_or(0, |code| " [".len() + code.as_str().len() + "]".len());
    let text_length = match text.len() {
        0 => 0,
        length if code.is_none() && escapes(text) => "  ".len() + length,
        length => " ".len() + length,
    };
    status.as_str().len() + code_length + text_length + "\r\n".len()
}

impl<'a> Response<'a> {
    /// A response with an optional code, checked as a whole: the line, CRLF included, fits in
    /// 512 octets (RFC 2449 4) with `-ERR`, the longer status, so that
    /// [`with_status`](Self::with_status) can never break it.
    ///
    /// ```
    /// use pop3_proto::types::{KnownCode, Response, ResponseCode, Status, Text};
    ///
    /// let code = ResponseCode::known(KnownCode::SysTemp);
    /// let busy = Response::new(Status::Err, Some(code.clone()), Text::new("try later")?)?;
    /// assert_eq!(busy.code(), Some(&code));
    /// let long = Text::new("x".repeat(500))?;
    /// assert!(Response::new(Status::Err, Some(code), long).is_err());
    /// # Ok::<(), pop3_proto::types::InvalidValue>(())
    /// ```
    pub fn new(
        status: Status,
        code: Option<ResponseCode<'a>>,
        text: Text<'a>,
    ) -> Result<Self, InvalidValue> {
        let length = line_length(Status::Err, code.as_ref(), text.as_str());
        if length > RESPONSE_LINE {
            return Err(InvalidValue::TooLong {
                what: "response line",
                length,
                limit: RESPONSE_LINE,
            });
        }
        Ok(Self { status, code, text })
    }

    /// `+OK text` (always fits: [`Text`] is at most [`MAX_TEXT`](crate::types::MAX_TEXT)
    /// octets).
    pub fn ok(text: Text<'a>) -> Self {
        Self {
            status: Status::Ok,
            code: None,
            text,
        }
    }

    /// `-ERR text` (always fits: [`Text`] is at most [`MAX_TEXT`](crate::types::MAX_TEXT)
    /// octets).
    pub fn err(text: Text<'a>) -> Self {
        Self {
            status: Status::Err,
            code: None,
            text,
        }
    }

    /// The same response with a code (RFC 2449 8), if code and text fit in the 512-octet line
    /// together (see [`new`](Self::new)).
    ///
    /// ```
    /// use pop3_proto::types::{KnownCode, Response, ResponseCode, Text};
    ///
    /// let busy = Response::err(Text::new("maildrop already locked")?)
    ///     .with_code(ResponseCode::known(KnownCode::InUse))?;
    /// assert!(busy.code().is_some_and(|code| code.is(KnownCode::InUse)));
    /// let long = Response::err(Text::new("x".repeat(500))?);
    /// assert!(long.with_code(ResponseCode::known(KnownCode::InUse)).is_err());
    /// # Ok::<(), pop3_proto::types::InvalidValue>(())
    /// ```
    pub fn with_code(self, code: ResponseCode<'a>) -> Result<Self, InvalidValue> {
        Self::new(self.status, Some(code), self.text)
    }

    /// The same response with another status (a built response fits as `-ERR` and `+OK`
    /// alike).
    #[must_use]
    pub fn with_status(mut self, status: Status) -> Self {
        self.status = status;
        self
    }

    /// `+OK` or `-ERR`.
    pub fn status(&self) -> Status {
        self.status
    }

    /// The extended response code, if any (RFC 2449 8).
    pub fn code(&self) -> Option<&ResponseCode<'a>> {
        self.code.as_ref()
    }

    /// The text (without the code).
    pub fn text(&self) -> &Text<'a> {
        &self.text
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
