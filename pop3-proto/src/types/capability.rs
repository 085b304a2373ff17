//! CAPA capabilities (RFC 2449 6, RFC 2595 4, RFC 3206 6, RFC 6856 2-3).

use alloc::borrow::Cow;
use alloc::vec::Vec;
use core::fmt;

use super::text::{
    InvalidValue, Mechanism, RESPONSE_LINE, Text, check, is_vchar, text_conversions, text_serde,
    text_type,
};

/// How long the server keeps messages (RFC 2449 6.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Expire {
    /// `NEVER`: messages are kept.
    Never,
    /// Days a message may stay after it was retrieved (0: it is deleted at once).
    Days(u32),
}

text_type!(
    /// A capability tag outside the known set (RFC 2449 3: `1*cchar`, printable ASCII but `.`),
    /// as long as a 512-octet capability line allows (RFC 2449 5). A known tag, in any case, is
    /// refused: it has its own [`Capability`] variant, which is what decoding gives.
    CapaTag,
    "capability tag",
    RESPONSE_LINE - 2,
    |b: u8| is_vchar(b) && b != b'.',
    |tag: &str| !KNOWN_TAGS.iter().any(|known| known.eq_ignore_ascii_case(tag)),
    "a known capability: use its own variant"
);

/// The tags with a [`Capability`] variant of their own.
const KNOWN_TAGS: [&str; 13] = [
    "TOP",
    "USER",
    "SASL",
    "RESP-CODES",
    "LOGIN-DELAY",
    "PIPELINING",
    "EXPIRE",
    "UIDL",
    "IMPLEMENTATION",
    "STLS",
    "AUTH-RESP-CODE",
    "UTF8",
    "LANG",
];

text_type!(
    /// A parameter of an unknown capability (RFC 2449 3: `1*VCHAR`), as long as a 512-octet
    /// capability line allows (RFC 2449 5).
    CapaParam,
    "capability parameter",
    RESPONSE_LINE - 2,
    is_vchar
);

text_conversions!(CapaTag, CapaParam);
text_serde!(CapaTag, CapaParam);

/// One line of a CAPA response.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum Capability<'a> {
    /// `TOP` (RFC 2449 6.1).
    Top,
    /// `USER` (RFC 2449 6.2).
    User,
    /// `SASL mechanisms` (RFC 2449 6.3, RFC 5034 5).
    Sasl(Vec<Mechanism<'a>>),
    /// `RESP-CODES` (RFC 2449 6.4).
    RespCodes,
    /// `LOGIN-DELAY seconds [USER]` (RFC 2449 6.5).
    LoginDelay {
        /// Seconds between logins.
        seconds: u32,
        /// `USER`: the delay may vary per user (sent before login).
        per_user: bool,
    },
    /// `PIPELINING` (RFC 2449 6.6).
    Pipelining,
    /// `EXPIRE days|NEVER [USER]` (RFC 2449 6.7).
    Expire {
        /// The policy.
        expire: Expire,
        /// `USER`: the policy may vary per user.
        per_user: bool,
    },
    /// `UIDL` (RFC 2449 6.8).
    Uidl,
    /// `IMPLEMENTATION text` (RFC 2449 6.9).
    Implementation(Text<'a>),
    /// `STLS` (RFC 2595 4).
    Stls,
    /// `AUTH-RESP-CODE` (RFC 3206 6).
    AuthRespCode,
    /// `UTF8 [USER]` (RFC 6856 2).
    Utf8 {
        /// `USER`: UTF-8 user names with USER/PASS too.
        user: bool,
    },
    /// `LANG` (RFC 6856 3).
    Lang,
    /// Any other tag, with its parameters.
    Other {
        /// The tag.
        tag: CapaTag<'a>,
        /// The parameters.
        params: Vec<CapaParam<'a>>,
    },
}

impl<'a> Capability<'a> {
    /// The tag as sent.
    pub fn tag(&self) -> &str {
        match self {
            Self::Top => "TOP",
            Self::User => "USER",
            Self::Sasl(_) => "SASL",
            Self::RespCodes => "RESP-CODES",
            Self::LoginDelay { .. } => "LOGIN-DELAY",
            Self::Pipelining => "PIPELINING",
            Self::Expire { .. } => "EXPIRE",
            Self::Uidl => "UIDL",
            Self::Implementation(_) => "IMPLEMENTATION",
            Self::Stls => "STLS",
            Self::AuthRespCode => "AUTH-RESP-CODE",
            Self::Utf8 { .. } => "UTF8",
            Self::Lang => "LANG",
            Self::Other { tag, .. } => tag.as_str(),
        }
    }

    /// Whether this is the same capability as `other`, whatever their parameters.
    pub fn same_tag(&self, other: &Capability<'_>) -> bool {
        self.tag().eq_ignore_ascii_case(other.tag())
    }

    /// The same capability, owning its text.
    pub fn into_owned(self) -> Capability<'static> {
        match self {
            Self::Top => Capability::Top,
            Self::User => Capability::User,
            Self::Sasl(m) => Capability::Sasl(m.into_iter().map(Mechanism::into_owned).collect()),
            Self::RespCodes => Capability::RespCodes,
            Self::LoginDelay { seconds, per_user } => Capability::LoginDelay { seconds, per_user },
            Self::Pipelining => Capability::Pipelining,
            Self::Expire { expire, per_user } => Capability::Expire { expire, per_user },
            Self::Uidl => Capability::Uidl,
            Self::Implementation(text) => Capability::Implementation(text.into_owned()),
            Self::Stls => Capability::Stls,
            Self::AuthRespCode => Capability::AuthRespCode,
            Self::Utf8 { user } => Capability::Utf8 { user },
            Self::Lang => Capability::Lang,
            Self::Other { tag, params } => Capability::Other {
                tag: tag.into_owned(),
                params: params.into_iter().map(CapaParam::into_owned).collect(),
            },
        }
    }
}
