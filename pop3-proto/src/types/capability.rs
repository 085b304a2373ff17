//! CAPA capabilities (RFC 2449 6, RFC 2595 4, RFC 3206 6, RFC 6856 2-3).

use alloc::borrow::Cow;
use alloc::vec::Vec;
use core::fmt;
use core::ops::Deref;

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

/// The octets of the CAPA line `tag`, then each of `words` after a space, CRLF included.
fn line_length<'w>(tag: &str, words: impl Iterator<Item = &'w str>) -> usize {
    words.fold(tag.len() + "\r\n".len(), |length, word| {
        length + " ".len() + word.len()
    })
}

/// Refuses a CAPA line over the 512 octets of RFC 2449 4, CRLF included.
fn fits(what: &'static str, length: usize) -> Result<(), InvalidValue> {
    if length > RESPONSE_LINE {
        return Err(InvalidValue::TooLong {
            what,
            length,
            limit: RESPONSE_LINE,
        });
    }
    Ok(())
}

/// The longest `IMPLEMENTATION` text: what a 512-octet CAPA line holds after
/// `IMPLEMENTATION `, CRLF included (RFC 2449 4 and 6.9): 495 octets.
pub const MAX_IMPLEMENTATION: usize = RESPONSE_LINE - "IMPLEMENTATION ".len() - 2;

/// The text of an `IMPLEMENTATION` capability (RFC 2449 6.9): a [`Text`] of at most
/// [`MAX_IMPLEMENTATION`] (495) octets, so that the CAPA line fits in 512 (RFC 2449 4). May be
/// empty ([`ImplementationText::empty`]).
///
/// With the `serde` feature it is a JSON string, deserialized through
/// [`ImplementationText::new`].
///
/// ```
/// use pop3_proto::types::{Capability, ImplementationText, MAX_IMPLEMENTATION};
///
/// let text = ImplementationText::new("Shlemazle-Plotz-v302")?;
/// let capability = Capability::Implementation(text);
/// assert!(ImplementationText::new("x".repeat(MAX_IMPLEMENTATION + 1)).is_err());
/// # Ok::<(), pop3_proto::types::InvalidValue>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImplementationText<'a>(Text<'a>);

impl<'a> ImplementationText<'a> {
    /// Checks the text: at most [`MAX_IMPLEMENTATION`] (495) octets, no CR, LF or NUL.
    pub fn new(text: impl Into<Cow<'a, str>>) -> Result<Self, InvalidValue> {
        Self::try_from(Text::new(text)?)
    }

    /// Decoded text, as long as the line that carried it was allowed to be.
    pub(crate) fn decoded(text: &'a str) -> Self {
        Self(Text::decoded(text))
    }

    /// No text (`IMPLEMENTATION` alone).
    pub const fn empty() -> ImplementationText<'static> {
        ImplementationText(Text::empty())
    }

    /// The text as a [`Text`].
    pub fn as_text(&self) -> &Text<'a> {
        &self.0
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The same text, owning it.
    pub fn into_owned(self) -> ImplementationText<'static> {
        ImplementationText(self.0.into_owned())
    }
}

impl<'a> TryFrom<Text<'a>> for ImplementationText<'a> {
    type Error = InvalidValue;

    /// Any [`Text`] of at most [`MAX_IMPLEMENTATION`] (495) octets.
    fn try_from(text: Text<'a>) -> Result<Self, InvalidValue> {
        let length = text.as_str().len();
        if length > MAX_IMPLEMENTATION {
            return Err(InvalidValue::TooLong {
                what: "implementation text",
                length,
                limit: MAX_IMPLEMENTATION,
            });
        }
        Ok(Self(text))
    }
}

impl<'a> From<ImplementationText<'a>> for Text<'a> {
    fn from(text: ImplementationText<'a>) -> Self {
        text.0
    }
}

impl fmt::Display for ImplementationText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for ImplementationText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ImplementationText({:?})", self.as_str())
    }
}

impl AsRef<str> for ImplementationText<'_> {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

text_conversions!(ImplementationText);
text_serde!(ImplementationText);

/// The mechanisms of a `SASL` capability (RFC 2449 6.3, RFC 5034 5): as many as fit in the
/// 512-octet CAPA line `SASL name name ...` CRLF (RFC 2449 4); at least 24, as a name is at
/// most 20 octets. Reads as a slice of [`Mechanism`]s.
///
/// With the `serde` feature it is a JSON array of names, deserialized through
/// [`SaslMechanisms::new`].
///
/// ```
/// use pop3_proto::types::{Capability, Mechanism, SaslMechanisms};
///
/// let mut mechanisms = SaslMechanisms::new(vec![Mechanism::new("SCRAM-SHA-256")?])?;
/// mechanisms.push(Mechanism::new("PLAIN")?)?;
/// assert_eq!(mechanisms.len(), 2);
/// let capability = Capability::Sasl(mechanisms);
/// let many = vec![Mechanism::new("X".repeat(20))?; 30];
/// assert!(SaslMechanisms::new(many).is_err());
/// # Ok::<(), pop3_proto::types::InvalidValue>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct SaslMechanisms<'a>(Vec<Mechanism<'a>>);

impl<'a> SaslMechanisms<'a> {
    /// Checks that the CAPA line of `mechanisms` fits in 512 octets, CRLF included.
    pub fn new(mechanisms: Vec<Mechanism<'a>>) -> Result<Self, InvalidValue> {
        let length = line_length("SASL", mechanisms.iter().map(Mechanism::as_str));
        fits("SASL capability line", length)?;
        Ok(Self(mechanisms))
    }

    /// Decoded mechanisms, as many as the line that carried them was allowed to hold.
    pub(crate) fn decoded(mechanisms: Vec<Mechanism<'a>>) -> Self {
        Self(mechanisms)
    }

    /// No mechanisms (`SASL` alone).
    pub const fn empty() -> Self {
        Self(Vec::new())
    }

    /// Adds a mechanism, if the line still fits in 512 octets with it; unchanged otherwise.
    pub fn push(&mut self, mechanism: Mechanism<'a>) -> Result<(), InvalidValue> {
        let length = line_length("SASL", self.0.iter().map(Mechanism::as_str))
            + " ".len()
            + mechanism.as_str().len();
        fits("SASL capability line", length)?;
        self.0.push(mechanism);
        Ok(())
    }

    /// The mechanisms.
    pub fn as_slice(&self) -> &[Mechanism<'a>] {
        &self.0
    }

    /// The mechanisms, taken out.
    pub fn into_vec(self) -> Vec<Mechanism<'a>> {
        self.0
    }

    /// The same mechanisms, owning their names.
    pub fn into_owned(self) -> SaslMechanisms<'static> {
        SaslMechanisms(self.0.into_iter().map(Mechanism::into_owned).collect())
    }
}

impl<'a> Deref for SaslMechanisms<'a> {
    type Target = [Mechanism<'a>];

    fn deref(&self) -> &[Mechanism<'a>] {
        &self.0
    }
}

impl<'a> TryFrom<Vec<Mechanism<'a>>> for SaslMechanisms<'a> {
    type Error = InvalidValue;

    /// As [`SaslMechanisms::new`].
    fn try_from(mechanisms: Vec<Mechanism<'a>>) -> Result<Self, InvalidValue> {
        Self::new(mechanisms)
    }
}

impl<'s, 'a> IntoIterator for &'s SaslMechanisms<'a> {
    type Item = &'s Mechanism<'a>;
    type IntoIter = core::slice::Iter<'s, Mechanism<'a>>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Serialized as an array of names.
#[cfg(feature = "serde")]
impl serde::Serialize for SaslMechanisms<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serde::Serialize::serialize(&self.0, serializer)
    }
}

/// Deserialized from an array of names, owned, through [`SaslMechanisms::new`].
#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for SaslMechanisms<'_> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mechanisms = <Vec<Mechanism<'_>> as serde::Deserialize>::deserialize(deserializer)?;
        Self::new(mechanisms).map_err(serde::de::Error::custom)
    }
}

/// A capability outside the known set (RFC 2449 3): its tag and parameters, checked together
/// so that the CAPA line `tag param param ...` CRLF fits in 512 octets (RFC 2449 4).
///
/// With the `serde` feature it is `{"tag": "X-FOO", "params": ["a", "b"]}`, deserialized
/// through [`OtherCapability::new`].
///
/// ```
/// use pop3_proto::types::{CapaParam, CapaTag, Capability, OtherCapability};
///
/// let xtnd = OtherCapability::new(CapaTag::new("XTND")?, vec![CapaParam::new("XMIT")?])?;
/// assert_eq!(xtnd.tag().as_str(), "XTND");
/// let capability = Capability::Other(xtnd);
/// let long = vec![CapaParam::new("p".repeat(300))?; 2];
/// assert!(OtherCapability::new(CapaTag::new("XTND")?, long).is_err());
/// # Ok::<(), pop3_proto::types::InvalidValue>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(try_from = "OtherFields<'a>"))]
pub struct OtherCapability<'a> {
    tag: CapaTag<'a>,
    params: Vec<CapaParam<'a>>,
}

/// The fields of an [`OtherCapability`] before [`OtherCapability::new`] checks them together.
#[cfg(feature = "serde")]
#[derive(serde::Deserialize)]
struct OtherFields<'a> {
    tag: CapaTag<'a>,
    #[serde(default)]
    params: Vec<CapaParam<'a>>,
}

#[cfg(feature = "serde")]
impl<'a> TryFrom<OtherFields<'a>> for OtherCapability<'a> {
    type Error = InvalidValue;

    fn try_from(fields: OtherFields<'a>) -> Result<Self, InvalidValue> {
        Self::new(fields.tag, fields.params)
    }
}

impl<'a> OtherCapability<'a> {
    /// Checks that the CAPA line of the tag and its parameters fits in 512 octets, CRLF
    /// included.
    pub fn new(tag: CapaTag<'a>, params: Vec<CapaParam<'a>>) -> Result<Self, InvalidValue> {
        let length = line_length(tag.as_str(), params.iter().map(CapaParam::as_str));
        fits("capability line", length)?;
        Ok(Self { tag, params })
    }

    /// Decoded, as long as the line that carried it was allowed to be.
    pub(crate) fn decoded(tag: CapaTag<'a>, params: Vec<CapaParam<'a>>) -> Self {
        Self { tag, params }
    }

    /// The tag.
    pub fn tag(&self) -> &CapaTag<'a> {
        &self.tag
    }

    /// The parameters.
    pub fn params(&self) -> &[CapaParam<'a>] {
        &self.params
    }

    /// The tag and the parameters, taken out.
    pub fn into_parts(self) -> (CapaTag<'a>, Vec<CapaParam<'a>>) {
        (self.tag, self.params)
    }

    /// The same capability, owning its text.
    pub fn into_owned(self) -> OtherCapability<'static> {
        OtherCapability {
            tag: self.tag.into_owned(),
            params: self.params.into_iter().map(CapaParam::into_owned).collect(),
        }
    }
}

/// One line of a CAPA response.
///
/// Every capability built fits in the 512-octet line of RFC 2449 4, CRLF included: the
/// variants that carry text or lists take types that check it ([`SaslMechanisms`],
/// [`ImplementationText`], [`OtherCapability`]). Only one decoded from a longer line (a client
/// with a raised [`max_listing_line`](crate::client::ClientConfig::max_listing_line)) can be
/// longer; [`encode_capability`](crate::codec::encode_capability) cuts it to fit.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum Capability<'a> {
    /// `TOP` (RFC 2449 6.1).
    Top,
    /// `USER` (RFC 2449 6.2).
    User,
    /// `SASL mechanisms` (RFC 2449 6.3, RFC 5034 5).
    Sasl(SaslMechanisms<'a>),
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
    Implementation(ImplementationText<'a>),
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
    Other(OtherCapability<'a>),
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
            Self::Other(other) => other.tag().as_str(),
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
            Self::Sasl(mechanisms) => Capability::Sasl(mechanisms.into_owned()),
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
            Self::Other(other) => Capability::Other(other.into_owned()),
        }
    }
}
