//! POP3 commands (RFC 1939 5-7, RFC 2449 5, RFC 2595 4, RFC 5034 4, RFC 6856 3).

use alloc::borrow::Cow;
use alloc::string::String;
use core::fmt;
use core::num::NonZeroU32;

use mail_wire::Secret;
use md5::{Digest, Md5};

use super::language::LanguageTag;
use super::text::{
    COMMAND_LINE, InvalidValue, MAX_ARGUMENT, Mechanism, Text, Timestamp, check, is_vchar,
    text_conversions, text_serde, text_type,
};

/// A message number (RFC 1939 5): 1 for the first message of the maildrop. Decoded from ASCII
/// digits only, no sign, at most `u32::MAX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageNumber(NonZeroU32);

impl MessageNumber {
    /// The first message.
    pub const FIRST: Self = Self(NonZeroU32::MIN);

    /// `n`, unless 0.
    pub const fn new(n: u32) -> Option<Self> {
        match NonZeroU32::new(n) {
            Some(n) => Some(Self(n)),
            None => None,
        }
    }

    /// Parses `1*DIGIT`: no sign, no leading `+`, not 0, at most 4294967295.
    pub fn parse(text: &str) -> Result<Self, InvalidValue> {
        let n = super::whole_number(text.as_bytes(), "message number", u64::from(u32::MAX))?;
        u32::try_from(n)
            .ok()
            .and_then(Self::new)
            .ok_or(InvalidValue::Number {
                what: "message number",
                reason: "message numbers start at 1",
            })
    }

    /// The number.
    pub const fn get(self) -> u32 {
        self.0.get()
    }

    /// The index of the message in a 0-based list.
    pub const fn index(self) -> usize {
        self.0.get() as usize - 1
    }
}

impl fmt::Display for MessageNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

text_type!(
    /// A mailbox name for `USER` and `APOP` (RFC 1939 7): 1 to 248 VCHARs (no space: it is one
    /// argument), UTF-8 allowed after `UTF8` (RFC 6856 2). 248 octets fill a 255-octet `USER`
    /// line (RFC 2449 4, [`MAX_ARGUMENT`]); `APOP` with its digest holds names up to 215 within
    /// that line.
    Username,
    "user name",
    MAX_ARGUMENT,
    |b: u8| is_vchar(b) || b >= 0x80
);

text_type!(
    /// A command verb outside the known set, kept so that a server can answer it (RFC 2449 3:
    /// `3*4VCHAR`; longer ones are kept too, for extensions with longer names, up to the
    /// 253 octets a 255-octet line holds, RFC 2449 4). A known verb, in any case, is refused:
    /// it has its own [`Command`] variant, which is what decoding gives.
    Verb,
    "command",
    COMMAND_LINE - 2,
    is_vchar,
    |verb: &str| !KNOWN_VERBS.iter().any(|known| known.eq_ignore_ascii_case(verb)),
    "a known command: use its own variant"
);

/// The verbs with a [`Command`] variant of their own.
const KNOWN_VERBS: [&str; 17] = [
    "USER", "PASS", "APOP", "STAT", "LIST", "RETR", "DELE", "NOOP", "RSET", "QUIT", "TOP", "UIDL",
    "CAPA", "STLS", "AUTH", "UTF8", "LANG",
];

text_conversions!(Username, Verb);
text_serde!(Username, Verb);

impl core::str::FromStr for MessageNumber {
    type Err = InvalidValue;

    /// As [`MessageNumber::parse`].
    fn from_str(text: &str) -> Result<Self, InvalidValue> {
        Self::parse(text)
    }
}

impl TryFrom<u32> for MessageNumber {
    type Error = InvalidValue;

    /// Any number but 0.
    fn try_from(n: u32) -> Result<Self, InvalidValue> {
        Self::new(n).ok_or(InvalidValue::Number {
            what: "message number",
            reason: "message numbers start at 1",
        })
    }
}

/// Serialized as the number.
#[cfg(feature = "serde")]
impl serde::Serialize for MessageNumber {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u32(self.get())
    }
}

/// Deserialized from a number, refused if 0 (RFC 1939 5: numbering starts at 1).
#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for MessageNumber {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let n = <u32 as serde::Deserialize>::deserialize(deserializer)?;
        Self::try_from(n).map_err(serde::de::Error::custom)
    }
}

/// Serialized as the 32 lower-case hex digits sent on the wire.
#[cfg(feature = "serde")]
impl serde::Serialize for ApopDigest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

/// Deserialized from 32 lower-case hex digits, as [`ApopDigest::parse`].
#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for ApopDigest {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let hex = <String as serde::Deserialize>::deserialize(deserializer)?;
        Self::parse(&hex).map_err(serde::de::Error::custom)
    }
}

impl core::str::FromStr for ApopDigest {
    type Err = InvalidValue;

    /// As [`ApopDigest::parse`].
    fn from_str(hex: &str) -> Result<Self, InvalidValue> {
        Self::parse(hex)
    }
}

/// The `APOP` digest (RFC 1939 7): MD5 of the greeting's timestamp followed by the shared
/// secret, sent as 32 lower-case hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ApopDigest([u8; 16]);

impl ApopDigest {
    /// The digest a client sends for `timestamp` and `secret`.
    pub fn compute(timestamp: &Timestamp<'_>, secret: &[u8]) -> Self {
        let mut md5 = Md5::new();
        md5.update(timestamp.as_str().as_bytes());
        md5.update(secret);
        Self(md5.finalize().into())
    }

    /// Whether the digest is the one for `timestamp` and `secret`, compared in constant time.
    pub fn verify(&self, timestamp: &Timestamp<'_>, secret: &[u8]) -> bool {
        mail_wire::sasl::constant_time_eq(&Self::compute(timestamp, secret).0, &self.0)
    }

    /// Parses exactly 32 lower-case hex digits.
    pub fn parse(hex: &str) -> Result<Self, InvalidValue> {
        const WHAT: &str = "APOP digest";
        if hex.len() != 32 {
            return Err(InvalidValue::Malformed {
                what: WHAT,
                reason: "not 32 hex digits",
            });
        }
        let mut digest = [0u8; 16];
        for (i, byte) in hex.bytes().enumerate() {
            let nibble = match byte {
                b'0'..=b'9' => byte - b'0',
                b'a'..=b'f' => byte - b'a' + 10,
                _ => {
                    return Err(InvalidValue::UnexpectedChar {
                        what: WHAT,
                        offset: i,
                        found: char::from(byte),
                    });
                }
            };
            if let Some(slot) = digest.get_mut(i / 2) {
                *slot = (*slot << 4) | nibble;
            }
        }
        Ok(Self(digest))
    }

    /// The 32 lower-case hex digits.
    pub fn to_hex(&self) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(32);
        for byte in self.0 {
            for nibble in [byte >> 4, byte & 0x0f] {
                if let Some(&digit) = HEX.get(usize::from(nibble)) {
                    out.push(char::from(digit));
                }
            }
        }
        out
    }
}

impl fmt::Debug for ApopDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApopDigest({})", self.to_hex())
    }
}

/// What a password or an initial response may hold: 1 to 248 octets ([`MAX_ARGUMENT`]: what a
/// 255-octet `PASS` line holds, RFC 2449 4), no CR, LF or NUL.
pub(crate) fn check_secret(text: &str, what: &'static str) -> Result<(), InvalidValue> {
    check(text, what, MAX_ARGUMENT, |b| {
        !matches!(b, b'\r' | b'\n' | 0)
    })
}

/// One POP3 command.
///
/// With the `serde` feature it serializes as a structure (`"Stat"`, `{"Retr": 2}`,
/// `{"User": "alice"}`), every field deserialized through its checks; credentials are not
/// serialized, so that no password reaches a log or a file by accident: serializing `PASS`, or
/// an `AUTH` with an initial response, is an error, and neither deserializes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum Command<'a> {
    /// `USER name` (RFC 1939 7).
    User(Username<'a>),
    /// `PASS string` (RFC 1939 7): the rest of the line, spaces included. Build it with
    /// [`Command::pass`], which refuses CR, LF and NUL (the variant cannot be built outside
    /// this crate, so no password can smuggle a second command onto the wire):
    ///
    /// ```compile_fail
    /// use pop3_proto::types::Command;
    /// let _ = Command::Pass(pop3_proto::Secret::new(String::from("x\r\nDELE 1")));
    /// ```
    ///
    /// Outside this crate, match it with `Command::Pass { 0: password, .. }`.
    #[non_exhaustive]
    #[cfg_attr(feature = "serde", serde(skip))]
    Pass(Secret<String>),
    /// `APOP name digest` (RFC 1939 7).
    Apop {
        /// The mailbox.
        name: Username<'a>,
        /// MD5 of the timestamp and the shared secret.
        digest: ApopDigest,
    },
    /// `STAT` (RFC 1939 5).
    Stat,
    /// `LIST [msg]` (RFC 1939 5).
    List(Option<MessageNumber>),
    /// `RETR msg` (RFC 1939 5).
    Retr(MessageNumber),
    /// `DELE msg` (RFC 1939 5).
    Dele(MessageNumber),
    /// `NOOP` (RFC 1939 5).
    Noop,
    /// `RSET` (RFC 1939 5).
    Rset,
    /// `QUIT` (RFC 1939 4, 6).
    Quit,
    /// `TOP msg n` (RFC 1939 7): the headers and `n` lines of the body.
    Top {
        /// The message.
        message: MessageNumber,
        /// Lines of the body.
        lines: u32,
    },
    /// `UIDL [msg]` (RFC 1939 7).
    Uidl(Option<MessageNumber>),
    /// `CAPA` (RFC 2449 5).
    Capa,
    /// `STLS` (RFC 2595 4).
    Stls,
    /// `AUTH [mechanism [initial-response]]` (RFC 5034 4); a bare `AUTH` asks for the list of
    /// mechanisms (the RFC 1734 practice clients still use). Build it with [`Command::auth`]
    /// or [`Command::auth_list`] (outside this crate the variant cannot be built directly, so
    /// the initial response is always checked).
    #[non_exhaustive]
    Auth {
        /// The mechanism.
        mechanism: Option<Mechanism<'a>>,
        /// The initial response (base64, or `=` for an empty one).
        #[cfg_attr(
            feature = "serde",
            serde(
                default,
                skip_serializing_if = "Option::is_none",
                serialize_with = "refuse_secret",
                deserialize_with = "refuse_secret_input"
            )
        )]
        initial_response: Option<Secret<String>>,
    },
    /// `UTF8` (RFC 6856 2).
    Utf8,
    /// `LANG [tag]` (RFC 6856 3).
    Lang(Option<LanguageTag<'a>>),
    /// Any other verb, with the rest of the line.
    Other {
        /// The verb as sent.
        verb: Verb<'a>,
        /// The rest of the line after the space, if any.
        arguments: Option<Text<'a>>,
    },
}

impl<'a> Command<'a> {
    /// `PASS password`: 1 to 248 octets ([`MAX_ARGUMENT`], a full 255-octet line, RFC 2449 4)
    /// without CR, LF or NUL.
    pub fn pass(password: impl Into<String>) -> Result<Self, InvalidValue> {
        let password = password.into();
        check_secret(&password, "password")?;
        Ok(Self::Pass(Secret::new(password)))
    }

    /// `AUTH mechanism [initial-response]`: the response is base64 text or `=`.
    pub fn auth(
        mechanism: Mechanism<'a>,
        initial_response: Option<String>,
    ) -> Result<Self, InvalidValue> {
        if let Some(response) = &initial_response {
            check_secret(response, "initial response")?;
            let base64 = response == "="
                || (response.len() % 4 == 0
                    && response
                        .trim_end_matches('=')
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/'));
            if !base64 {
                return Err(InvalidValue::Malformed {
                    what: "initial response",
                    reason: "not base64",
                });
            }
        }
        Ok(Self::Auth {
            mechanism: Some(mechanism),
            initial_response: initial_response.map(Secret::new),
        })
    }

    /// A bare `AUTH`: asks for the list of SASL mechanisms.
    pub const fn auth_list() -> Self {
        Self::Auth {
            mechanism: None,
            initial_response: None,
        }
    }

    /// The verb as sent (upper case for the known commands).
    pub fn verb(&self) -> &str {
        match self {
            Self::User(_) => "USER",
            Self::Pass(_) => "PASS",
            Self::Apop { .. } => "APOP",
            Self::Stat => "STAT",
            Self::List(_) => "LIST",
            Self::Retr(_) => "RETR",
            Self::Dele(_) => "DELE",
            Self::Noop => "NOOP",
            Self::Rset => "RSET",
            Self::Quit => "QUIT",
            Self::Top { .. } => "TOP",
            Self::Uidl(_) => "UIDL",
            Self::Capa => "CAPA",
            Self::Stls => "STLS",
            Self::Auth { .. } => "AUTH",
            Self::Utf8 => "UTF8",
            Self::Lang(_) => "LANG",
            Self::Other { verb, .. } => verb.as_str(),
        }
    }

    /// Whether the response is multi-line (RFC 1939 5, 7; RFC 2449 5): `LIST` and `UIDL`
    /// without argument, `RETR`, `TOP`, `CAPA`, and `LANG` without argument (RFC 6856 3).
    /// (A bare `AUTH`'s list is multi-line too.)
    pub fn is_multi_line(&self) -> bool {
        matches!(
            self,
            Self::List(None)
                | Self::Uidl(None)
                | Self::Retr(_)
                | Self::Top { .. }
                | Self::Capa
                | Self::Lang(None)
                | Self::Auth {
                    mechanism: None,
                    ..
                }
        )
    }

    /// The same command, owning its text.
    pub fn into_owned(self) -> Command<'static> {
        match self {
            Self::User(name) => Command::User(name.into_owned()),
            Self::Pass(password) => Command::Pass(password),
            Self::Apop { name, digest } => Command::Apop {
                name: name.into_owned(),
                digest,
            },
            Self::Stat => Command::Stat,
            Self::List(n) => Command::List(n),
            Self::Retr(n) => Command::Retr(n),
            Self::Dele(n) => Command::Dele(n),
            Self::Noop => Command::Noop,
            Self::Rset => Command::Rset,
            Self::Quit => Command::Quit,
            Self::Top { message, lines } => Command::Top { message, lines },
            Self::Uidl(n) => Command::Uidl(n),
            Self::Capa => Command::Capa,
            Self::Stls => Command::Stls,
            Self::Auth {
                mechanism,
                initial_response,
            } => Command::Auth {
                mechanism: mechanism.map(Mechanism::into_owned),
                initial_response,
            },
            Self::Utf8 => Command::Utf8,
            Self::Lang(tag) => Command::Lang(tag.map(LanguageTag::into_owned)),
            Self::Other { verb, arguments } => Command::Other {
                verb: verb.into_owned(),
                arguments: arguments.map(Text::into_owned),
            },
        }
    }
}

/// `serde`: an initial response is a credential (RFC 5034 4), never serialized.
#[cfg(feature = "serde")]
fn refuse_secret<S: serde::Serializer>(
    secret: &Option<Secret<String>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match secret {
        None => serializer.serialize_none(),
        Some(_) => Err(serde::ser::Error::custom(
            "credentials (an AUTH initial response) are not serialized",
        )),
    }
}

/// `serde`: an initial response is not read from serialized data either.
#[cfg(feature = "serde")]
fn refuse_secret_input<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Secret<String>>, D::Error> {
    match <Option<serde::de::IgnoredAny> as serde::Deserialize>::deserialize(deserializer)? {
        None => Ok(None),
        Some(_) => Err(serde::de::Error::custom(
            "credentials (an AUTH initial response) are not deserialized",
        )),
    }
}
