//! What a server announces in its EHLO response (RFC 5321 4.1.1.1): typed [`Capability`]
//! values and the [`EhloResponse`] that holds them.
//!
//! Keywords are recognised without regard to case (RFC 5321 4.1.1.1). A keyword this crate
//! does not know is kept as [`Capability::Other`] with its parameters, and a known one whose
//! parameters break its grammar as [`Capability::Malformed`], with the reason: nothing the
//! server said is dropped, and nothing unreadable passes for absent.

use alloc::borrow::Cow;
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use super::address::Host;
use super::chars;
use super::error::InvalidValue;
use super::reply::ReplyText;
use crate::types::{ByMode, DateTime, DeliverBy, Mechanism};

/// Defines a validated token that borrows or owns its text.
macro_rules! token {
    ($(#[$doc:meta])* $name:ident, $check:path) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $name<'a>(Cow<'a, str>);

        impl<'a> $name<'a> {
            /// Checks `text` against the grammar.
            pub fn new(text: impl Into<Cow<'a, str>>) -> Result<Self, InvalidValue> {
                let text = text.into();
                $check(&text)?;
                Ok(Self(text))
            }

            /// For text the caller has checked with the same rule.
            #[allow(dead_code)]
            pub(crate) const fn checked(text: &'a str) -> Self {
                Self(Cow::Borrowed(text))
            }

            /// The text as written.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Whether it equals `other` without regard to ASCII case.
            pub fn eq_ignore_case(&self, other: &str) -> bool {
                self.0.eq_ignore_ascii_case(other)
            }

            /// The same value, owning its text.
            pub fn into_owned(self) -> $name<'static> {
                $name(Cow::Owned(self.0.into_owned()))
            }
        }

        impl fmt::Display for $name<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name<'_> {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl<'a> TryFrom<&'a str> for $name<'a> {
            type Error = InvalidValue;
            fn try_from(text: &'a str) -> Result<Self, InvalidValue> {
                Self::new(text)
            }
        }

        impl TryFrom<String> for $name<'static> {
            type Error = InvalidValue;
            fn try_from(text: String) -> Result<Self, InvalidValue> {
                Self::new(text)
            }
        }
    };
}

token! {
    /// The keyword of an extension outside the known set, for [`Capability::Other`] (RFC 5321
    /// 4.1.1.1: `(ALPHA / DIGIT) *(ALPHA / DIGIT / "-")`), compared without regard to case. A
    /// keyword this crate knows ([`Extension`]), in any case, is refused: it has its own
    /// [`Capability`] variant, which is what decoding gives.
    ///
    /// ```
    /// use smtp_proto::types::EhloKeyword;
    ///
    /// assert!(EhloKeyword::new("X-VENDOR").is_ok());
    /// assert!(EhloKeyword::new("size").is_err()); // Capability::Size
    /// # Ok::<(), smtp_proto::types::InvalidValue>(())
    /// ```
    EhloKeyword, check_other_keyword
}

token! {
    /// An EHLO parameter (RFC 5321 4.1.1.1): `1*(%d33-126)`, any visible ASCII character.
    EhloParam, check_param
}

token! {
    /// The name of a priority assignment policy, the parameter of `MT-PRIORITY` (RFC 6710 7):
    /// `1*20(ALPHA / DIGIT / "-" / "_" / ".")`, such as `MIXER` or `STANAG4406`.
    PriorityProfile, check_profile
}

token! {
    /// One entry of the `LIMITS` parameter (RFC 9422 3) beside the registered ones:
    /// `limit-name ["=" limit-value]`, the name `1*(ALPHA / DIGIT / "-" / "_")`, the value
    /// `1*(%x21-3A / %x3C-7E)` (any visible character but `;`).
    ///
    /// A registered limit (`MAILMAX`, `RCPTMAX`, `RCPTDOMAINMAX`, RFC 9422 4; any case) is
    /// refused, whatever its value: it has its own field of [`Capability::Limits`], and a
    /// `LIMITS` line whose registered limit does not fit there is
    /// [`Capability::Malformed`]. So what can be built is what decoding gives back.
    ///
    /// ```
    /// use smtp_proto::types::Limit;
    ///
    /// assert_eq!(Limit::new("X-PER-HOUR=50")?.value(), Some("50"));
    /// assert!(Limit::new("rcptmax=100").is_err());
    /// assert!(Limit::new("RCPTMAX=abc").is_err());
    /// # Ok::<(), smtp_proto::types::InvalidValue>(())
    /// ```
    Limit, check_limit
}

impl Limit<'_> {
    /// The name, before any `=`.
    pub fn name(&self) -> &str {
        self.0.split_once('=').map_or(&*self.0, |(name, _)| name)
    }

    /// The value after the `=`, if there is one.
    pub fn value(&self) -> Option<&str> {
        self.0.split_once('=').map(|(_, value)| value)
    }
}

/// The parameter of `DELIVERBY` (RFC 2852 2: `min-by-time = [1*9DIGIT]`): the shortest
/// by-time, in seconds, that the server accepts with by-mode `R` (RFC 2852 4). At most nine
/// digits, as on the wire.
///
/// ```
/// use smtp_proto::types::{ByMode, DeliverBy, MinByTime};
///
/// let min = MinByTime::new(600)?;
/// assert!(min.allows(DeliverBy::new(900, ByMode::Return, false)?));
/// assert!(!min.allows(DeliverBy::new(300, ByMode::Return, false)?));
/// // By-mode N is not held to it.
/// assert!(min.allows(DeliverBy::new(300, ByMode::Notify, false)?));
/// assert!(MinByTime::new(1_000_000_000).is_err());
/// # Ok::<(), smtp_proto::types::InvalidValue>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(try_from = "u32", into = "u32")
)]
pub struct MinByTime(u32);

impl MinByTime {
    /// The longest: nine digits (RFC 2852 2).
    pub const MAX: u32 = 999_999_999;

    /// `seconds`, at most [`MAX`](Self::MAX).
    pub const fn new(seconds: u32) -> Result<Self, InvalidValue> {
        if seconds > Self::MAX {
            return Err(InvalidValue::Malformed {
                what: "min-by-time",
                offset: 0,
                reason: "more than 9 digits",
            });
        }
        Ok(Self(seconds))
    }

    /// The shortest by-time, in seconds.
    pub const fn seconds(self) -> u32 {
        self.0
    }

    /// Whether a server with this minimum takes `by`: by-mode `N` always, by-mode `R` with a
    /// by-time of at least the minimum (RFC 2852 4).
    pub fn allows(self, by: DeliverBy) -> bool {
        by.mode() == ByMode::Notify || i64::from(by.seconds()) >= i64::from(self.0)
    }
}

impl TryFrom<u32> for MinByTime {
    type Error = InvalidValue;
    fn try_from(seconds: u32) -> Result<Self, InvalidValue> {
        Self::new(seconds)
    }
}

impl From<MinByTime> for u32 {
    fn from(min: MinByTime) -> u32 {
        min.0
    }
}

impl fmt::Display for MinByTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

fn check_token(
    text: &str,
    what: &'static str,
    max: Option<usize>,
    allowed: impl Fn(u8) -> bool,
) -> Result<(), InvalidValue> {
    if text.is_empty() {
        return Err(InvalidValue::Empty { what });
    }
    if let Some(at) = text.bytes().position(|b| !allowed(b)) {
        return Err(InvalidValue::at(what, text, at, false));
    }
    match max {
        Some(limit) if text.len() > limit => Err(InvalidValue::TooLong {
            what,
            length: text.len(),
            limit,
        }),
        _ => Ok(()),
    }
}

fn check_keyword(text: &str) -> Result<(), InvalidValue> {
    const WHAT: &str = "EHLO keyword";
    if text.starts_with('-') {
        return Err(InvalidValue::at(WHAT, text, 0, false));
    }
    check_token(text, WHAT, None, is_keyword_char)
}

/// A keyword for [`Capability::Other`]: the grammar, and not a known extension.
fn check_other_keyword(text: &str) -> Result<(), InvalidValue> {
    check_keyword(text)?;
    if Extension::from_keyword(text).is_some() {
        return Err(InvalidValue::Malformed {
            what: "EHLO keyword",
            offset: 0,
            reason: "a known extension: use its own variant",
        });
    }
    Ok(())
}

fn check_param(text: &str) -> Result<(), InvalidValue> {
    check_token(text, "EHLO parameter", None, is_param_char)
}

fn check_profile(text: &str) -> Result<(), InvalidValue> {
    check_token(text, "priority profile", Some(20), |b| {
        b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')
    })
}

fn check_limit(text: &str) -> Result<(), InvalidValue> {
    check_limit_grammar(text)?;
    let name = text.split_once('=').map_or(text, |(name, _)| name);
    if is_registered_limit(name) {
        return Err(InvalidValue::Malformed {
            what: "limit",
            offset: 0,
            reason: "a registered limit: use its field of Capability::Limits",
        });
    }
    Ok(())
}

/// `MAILMAX`, `RCPTMAX` or `RCPTDOMAINMAX` (RFC 9422 4), in any case.
fn is_registered_limit(name: &str) -> bool {
    ["MAILMAX", "RCPTMAX", "RCPTDOMAINMAX"]
        .iter()
        .any(|registered| registered.eq_ignore_ascii_case(name))
}

/// `limit-name ["=" limit-value]` (RFC 9422 3).
fn check_limit_grammar(text: &str) -> Result<(), InvalidValue> {
    const WHAT: &str = "limit";
    let (name, value) = match text.split_once('=') {
        Some((name, value)) => (name, Some(value)),
        None => (text, None),
    };
    if name.is_empty() {
        return Err(InvalidValue::Empty { what: WHAT });
    }
    if let Some(at) = name.bytes().position(|b| !is_limit_name_char(b)) {
        return Err(InvalidValue::at(WHAT, text, at, false));
    }
    if let Some(value) = value {
        let start = name.len() + 1;
        if value.is_empty() {
            return Err(InvalidValue::Malformed {
                what: WHAT,
                offset: start,
                reason: "empty value",
            });
        }
        if let Some(at) = value.bytes().position(|b| !is_param_char(b) || b == b';') {
            return Err(InvalidValue::at(WHAT, text, start + at, false));
        }
    }
    Ok(())
}

/// Letters, digits and `-`: the octets of an EHLO keyword (the scan of keywords is the hot
/// loop of EHLO decoding, hence the table).
#[inline(always)]
fn is_keyword_char(byte: u8) -> bool {
    chars::class(byte) & (chars::LET_DIG | chars::HYPHEN) != 0
}

fn is_param_char(byte: u8) -> bool {
    (33..=126).contains(&byte)
}

fn is_limit_name_char(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_'
}

/// The service extensions this crate knows, by EHLO keyword. [`Capability::Other`] holds the
/// rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Extension {
    /// `SIZE` (RFC 1870).
    Size,
    /// `8BITMIME` (RFC 6152).
    EightBitMime,
    /// `PIPELINING` (RFC 2920).
    Pipelining,
    /// `CHUNKING` (RFC 3030).
    Chunking,
    /// `BINARYMIME` (RFC 3030).
    BinaryMime,
    /// `DSN` (RFC 3461).
    Dsn,
    /// `SMTPUTF8` (RFC 6531).
    SmtpUtf8,
    /// `ENHANCEDSTATUSCODES` (RFC 2034).
    EnhancedStatusCodes,
    /// `STARTTLS` (RFC 3207).
    StartTls,
    /// `AUTH` (RFC 4954).
    Auth,
    /// `REQUIRETLS` (RFC 8689).
    RequireTls,
    /// `MT-PRIORITY` (RFC 6710).
    MtPriority,
    /// `FUTURERELEASE` (RFC 4865).
    FutureRelease,
    /// `DELIVERBY` (RFC 2852).
    DeliverBy,
    /// `LIMITS` (RFC 9422).
    Limits,
    /// `ETRN` (RFC 1985).
    Etrn,
    /// `VRFY` (RFC 5321 3.5.2).
    Vrfy,
    /// `EXPN` (RFC 5321 3.5.2).
    Expn,
    /// `HELP` (RFC 5321 4.1.1.8).
    Help,
}

impl Extension {
    /// Every extension with its keyword.
    #[cfg(test)]
    pub(crate) const ALL: [(Self, &'static str); 19] = [
        (Self::Size, "SIZE"),
        (Self::EightBitMime, "8BITMIME"),
        (Self::Pipelining, "PIPELINING"),
        (Self::Chunking, "CHUNKING"),
        (Self::BinaryMime, "BINARYMIME"),
        (Self::Dsn, "DSN"),
        (Self::SmtpUtf8, "SMTPUTF8"),
        (Self::EnhancedStatusCodes, "ENHANCEDSTATUSCODES"),
        (Self::StartTls, "STARTTLS"),
        (Self::Auth, "AUTH"),
        (Self::RequireTls, "REQUIRETLS"),
        (Self::MtPriority, "MT-PRIORITY"),
        (Self::FutureRelease, "FUTURERELEASE"),
        (Self::DeliverBy, "DELIVERBY"),
        (Self::Limits, "LIMITS"),
        (Self::Etrn, "ETRN"),
        (Self::Vrfy, "VRFY"),
        (Self::Expn, "EXPN"),
        (Self::Help, "HELP"),
    ];

    /// The EHLO keyword, in upper case.
    pub fn keyword(self) -> &'static str {
        match self {
            Self::Size => "SIZE",
            Self::EightBitMime => "8BITMIME",
            Self::Pipelining => "PIPELINING",
            Self::Chunking => "CHUNKING",
            Self::BinaryMime => "BINARYMIME",
            Self::Dsn => "DSN",
            Self::SmtpUtf8 => "SMTPUTF8",
            Self::EnhancedStatusCodes => "ENHANCEDSTATUSCODES",
            Self::StartTls => "STARTTLS",
            Self::Auth => "AUTH",
            Self::RequireTls => "REQUIRETLS",
            Self::MtPriority => "MT-PRIORITY",
            Self::FutureRelease => "FUTURERELEASE",
            Self::DeliverBy => "DELIVERBY",
            Self::Limits => "LIMITS",
            Self::Etrn => "ETRN",
            Self::Vrfy => "VRFY",
            Self::Expn => "EXPN",
            Self::Help => "HELP",
        }
    }

    /// The extension a keyword names, in any case.
    #[inline(always)]
    pub fn from_keyword(keyword: &str) -> Option<Self> {
        extension_of(keyword.as_bytes())
    }
}

/// The extension `keyword` names, in any case: its length, then its octets upper-cased and
/// read as words (the whole keyword as one word for the four- and eight-octet ones; otherwise
/// the first and the last four octets, or eight, overlapping, and the middle eight too of the
/// longest, 19), matched against the known keywords' of that length.
///
/// Upper-casing clears bit 5 of every octet that has bit 6 set: that turns exactly the
/// lower-case letters into capitals and no other octet into a letter, a digit or `-` (the
/// octets of the known keywords), so only a known keyword in any case matches.
#[inline(always)]
fn extension_of(keyword: &[u8]) -> Option<Extension> {
    /// The first and the last `size` octets of `keyword` as little-endian words.
    // Evaluated at compile time, within the keyword's bounds: an index out of range would
    // fail the build, never a run.
    #[allow(clippy::indexing_slicing)]
    const fn key(keyword: &[u8], size: usize) -> (u64, u64) {
        let (mut first, mut last) = (0u64, 0u64);
        let mut at = 0;
        while at < size {
            first |= (keyword[at] as u64) << (8 * at);
            last |= (keyword[keyword.len() - size + at] as u64) << (8 * at);
            at += 1;
        }
        (first, last)
    }
    const SIZE: (u64, u64) = key(b"SIZE", 4);
    const AUTH: (u64, u64) = key(b"AUTH", 4);
    const ETRN: (u64, u64) = key(b"ETRN", 4);
    const EXPN: (u64, u64) = key(b"EXPN", 4);
    const VRFY: (u64, u64) = key(b"VRFY", 4);
    const HELP: (u64, u64) = key(b"HELP", 4);
    const LIMITS: (u64, u64) = key(b"LIMITS", 4);
    const EIGHT_BIT_MIME: (u64, u64) = key(b"8BITMIME", 8);
    const CHUNKING: (u64, u64) = key(b"CHUNKING", 8);
    const STARTTLS: (u64, u64) = key(b"STARTTLS", 8);
    const SMTPUTF8: (u64, u64) = key(b"SMTPUTF8", 8);
    const DELIVERBY: (u64, u64) = key(b"DELIVERBY", 8);
    const PIPELINING: (u64, u64) = key(b"PIPELINING", 8);
    const BINARYMIME: (u64, u64) = key(b"BINARYMIME", 8);
    const REQUIRETLS: (u64, u64) = key(b"REQUIRETLS", 8);
    const MT_PRIORITY: (u64, u64) = key(b"MT-PRIORITY", 8);
    const FUTURERELEASE: (u64, u64) = key(b"FUTURERELEASE", 8);
    const ENHANCED: (u64, u64) = key(b"ENHANCEDSTATUSCODES", 8);
    const ENHANCED_MIDDLE: u64 = key(b"STATUSCO", 8).0;
    let upper = |word: u64| word & !((word & 0x4040_4040_4040_4040) >> 1);
    // Dispatched on the length first, so that each length reads only the words it needs: one
    // of four octets, or one of eight, for the common keywords.
    let short = |word: [u8; 4]| upper(u64::from(u32::from_le_bytes(word)));
    let first8 = || {
        keyword
            .first_chunk::<8>()
            .map(|w| upper(u64::from_le_bytes(*w)))
    };
    let last8 = || {
        keyword
            .last_chunk::<8>()
            .map(|w| upper(u64::from_le_bytes(*w)))
    };
    Some(match keyword.len() {
        3 => {
            // The one keyword shorter than four octets: DSN.
            let [a, b, c] = *keyword else { return None };
            let word = short([a, b, c, 0]);
            return (word == u64::from(u32::from_le_bytes(*b"DSN\0"))).then_some(Extension::Dsn);
        }
        4 => match short(*keyword.first_chunk::<4>()?) {
            word if word == SIZE.0 => Extension::Size,
            word if word == AUTH.0 => Extension::Auth,
            word if word == ETRN.0 => Extension::Etrn,
            word if word == EXPN.0 => Extension::Expn,
            word if word == VRFY.0 => Extension::Vrfy,
            word if word == HELP.0 => Extension::Help,
            _ => return None,
        },
        6 => {
            let first = short(*keyword.first_chunk::<4>()?);
            let last = short(*keyword.last_chunk::<4>()?);
            if (first, last) != LIMITS {
                return None;
            }
            Extension::Limits
        }
        8 => match first8()? {
            word if word == EIGHT_BIT_MIME.0 => Extension::EightBitMime,
            word if word == CHUNKING.0 => Extension::Chunking,
            word if word == STARTTLS.0 => Extension::StartTls,
            word if word == SMTPUTF8.0 => Extension::SmtpUtf8,
            _ => return None,
        },
        9 => match (first8()?, last8()?) {
            DELIVERBY => Extension::DeliverBy,
            _ => return None,
        },
        10 => match (first8()?, last8()?) {
            PIPELINING => Extension::Pipelining,
            BINARYMIME => Extension::BinaryMime,
            REQUIRETLS => Extension::RequireTls,
            _ => return None,
        },
        11 => match (first8()?, last8()?) {
            MT_PRIORITY => Extension::MtPriority,
            _ => return None,
        },
        13 => match (first8()?, last8()?) {
            FUTURERELEASE => Extension::FutureRelease,
            _ => return None,
        },
        // The first and last eight octets of `ENHANCEDSTATUSCODES`, and the eight between.
        19 => {
            let middle = keyword
                .get(8..16)
                .and_then(|middle| middle.try_into().ok())
                .map(|middle| upper(u64::from_le_bytes(middle)));
            if (first8()?, last8()?) != ENHANCED || middle != Some(ENHANCED_MIDDLE) {
                return None;
            }
            Extension::EnhancedStatusCodes
        }
        _ => return None,
    })
}

impl fmt::Display for Extension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())
    }
}

/// One line of an EHLO response after the first: a service extension the server offers, with
/// its parameters (RFC 5321 4.1.1.1: `ehlo-line = ehlo-keyword *( SP ehlo-param )`).
///
/// The enum's in-memory layout (its `repr(u8)` tag numbers) is a speed detail, not part of the
/// API: it may change in any release, and derived hashes with it.
///
/// ```
/// use smtp_proto::types::{Capability, Extension};
///
/// assert_eq!(Capability::parse("SIZE 1000000")?, Capability::Size(Some(1000000)));
/// assert_eq!(Capability::parse("pipelining")?, Capability::Pipelining);
/// // The pre-standard `AUTH=` form is read as AUTH.
/// let auth = Capability::parse("AUTH=LOGIN PLAIN")?;
/// assert_eq!(auth.extension(), Some(Extension::Auth));
/// assert_eq!(auth.to_string(), "AUTH LOGIN PLAIN");
/// // Unknown keywords are kept.
/// let other = Capability::parse("X-EXPS GSSAPI NTLM")?;
/// assert_eq!(other.keyword(), "X-EXPS");
/// # Ok::<(), smtp_proto::types::InvalidValue>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
// A tag octet, and the variants that own nothing numbered before those that may (`Auth` on):
// dropping a response then takes one compare for each of its usual capabilities, where a tag
// kept in a niche of the payload took a decode and a jump table. (`Malformed` is boxed so that
// the tag adds no room: 64 octets, as `Auth` needs.)
#[repr(u8)]
pub enum Capability<'a> {
    /// `SIZE [n]` (RFC 1870 4): the largest message the server accepts; `Some(0)` means no
    /// fixed maximum, `None` that the server does not say.
    Size(Option<u64>) = 0,
    /// `8BITMIME` (RFC 6152).
    EightBitMime = 1,
    /// `PIPELINING` (RFC 2920).
    Pipelining = 2,
    /// `CHUNKING`: the BDAT command (RFC 3030).
    Chunking = 3,
    /// `BINARYMIME` (RFC 3030).
    BinaryMime = 4,
    /// `DSN`: delivery status notifications (RFC 3461).
    Dsn = 5,
    /// `SMTPUTF8` (RFC 6531).
    SmtpUtf8 = 6,
    /// `ENHANCEDSTATUSCODES` (RFC 2034).
    EnhancedStatusCodes = 7,
    /// `STARTTLS` (RFC 3207).
    StartTls = 8,
    /// `AUTH mechanism...` (RFC 4954 3). Every `AUTH` line of a response is merged into one,
    /// including the pre-standard `AUTH=LOGIN PLAIN` form that some servers still send for old
    /// clients, and each mechanism is kept once (names compare without regard to case), as
    /// decoding and [`EhloResponse::push`] keep them.
    Auth(Mechanisms<'a>) = 15,
    /// `REQUIRETLS` (RFC 8689).
    RequireTls = 9,
    /// `MT-PRIORITY [profile]` (RFC 6710 3).
    MtPriority(Option<PriorityProfile<'a>>) = 16,
    /// `FUTURERELEASE max-interval max-date-time` (RFC 4865 3).
    FutureRelease {
        /// The longest hold, in seconds, that `HOLDFOR` may ask for.
        max_interval: u64,
        /// The latest time that `HOLDUNTIL` may ask for.
        max_datetime: DateTime<'a>,
    } = 17,
    /// `DELIVERBY [min-by-time]` (RFC 2852 2): the shortest `BY` time the server accepts with
    /// by-mode `R`. A parameter of more than nine digits, or not a number, is
    /// [`Capability::Malformed`].
    DeliverBy(Option<MinByTime>) = 10,
    /// `LIMITS` (RFC 9422): the limits the server applies in this session. The three registered
    /// limits (RFC 9422 4) are read into fields, other entries are kept in `others`. A line
    /// whose registered limit has no number that fits its field (`RCPTMAX=abc`), or names it
    /// twice, is [`Capability::Malformed`] instead: its limits are unknown, never absent.
    Limits {
        /// `MAILMAX`: transactions per session (RFC 9422 4.1).
        mail_max: Option<u32>,
        /// `RCPTMAX`: recipients per transaction (RFC 9422 4.2).
        rcpt_max: Option<u32>,
        /// `RCPTDOMAINMAX`: recipient domains per transaction (RFC 9422 4.3).
        rcpt_domain_max: Option<u32>,
        /// The other entries, in order.
        others: Vec<Limit<'a>>,
    } = 18,
    /// `ETRN` (RFC 1985).
    Etrn = 11,
    /// `VRFY` (RFC 5321 3.5.2).
    Vrfy = 12,
    /// `EXPN` (RFC 5321 3.5.2).
    Expn = 13,
    /// `HELP` (RFC 5321 4.1.1.8).
    Help = 14,
    /// A keyword this crate knows whose parameters break its grammar (`SIZE abc`, `AUTH
    /// PL@IN`): kept as sent, with the reason, so that it is never mistaken for the extension
    /// being absent or for a well-formed one. Only the decoder makes it. Boxed, as it is rare:
    /// the usual capabilities then stay small and take little to drop.
    Malformed(Box<MalformedCapability<'a>>) = 19,
    /// Any other keyword ([`EhloKeyword`] refuses the known ones, so that this is what
    /// decoding gives back).
    Other {
        /// The keyword as sent.
        keyword: EhloKeyword<'a>,
        /// The parameters as sent.
        params: Vec<EhloParam<'a>>,
    } = 20,
}

impl<'a> Capability<'a> {
    /// Reads one EHLO line (without the `250-`): a keyword, then parameters separated by
    /// spaces. A run of spaces counts as one separator and trailing spaces are ignored; an `=`
    /// right after the keyword counts as a space (the pre-standard `AUTH=LOGIN` form).
    pub fn parse(text: &'a str) -> Result<Self, InvalidValue> {
        parse_capability(text)
    }

    /// The extension, unless it is [`Other`](Self::Other).
    pub fn extension(&self) -> Option<Extension> {
        Some(match self {
            Self::Size(_) => Extension::Size,
            Self::EightBitMime => Extension::EightBitMime,
            Self::Pipelining => Extension::Pipelining,
            Self::Chunking => Extension::Chunking,
            Self::BinaryMime => Extension::BinaryMime,
            Self::Dsn => Extension::Dsn,
            Self::SmtpUtf8 => Extension::SmtpUtf8,
            Self::EnhancedStatusCodes => Extension::EnhancedStatusCodes,
            Self::StartTls => Extension::StartTls,
            Self::Auth(_) => Extension::Auth,
            Self::RequireTls => Extension::RequireTls,
            Self::MtPriority(_) => Extension::MtPriority,
            Self::FutureRelease { .. } => Extension::FutureRelease,
            Self::DeliverBy(_) => Extension::DeliverBy,
            Self::Limits { .. } => Extension::Limits,
            Self::Etrn => Extension::Etrn,
            Self::Vrfy => Extension::Vrfy,
            Self::Expn => Extension::Expn,
            Self::Help => Extension::Help,
            Self::Malformed(_) | Self::Other { .. } => return None,
        })
    }

    /// The keyword: upper case for the known extensions, as sent for the others.
    pub fn keyword(&self) -> &str {
        match self {
            Self::Other { keyword, .. } => keyword.as_str(),
            Self::Malformed(malformed) => &malformed.keyword,
            known => known.extension().map_or("", Extension::keyword),
        }
    }

    /// The same capability, owning its text.
    pub fn into_owned(self) -> Capability<'static> {
        match self {
            Self::Size(size) => Capability::Size(size),
            Self::EightBitMime => Capability::EightBitMime,
            Self::Pipelining => Capability::Pipelining,
            Self::Chunking => Capability::Chunking,
            Self::BinaryMime => Capability::BinaryMime,
            Self::Dsn => Capability::Dsn,
            Self::SmtpUtf8 => Capability::SmtpUtf8,
            Self::EnhancedStatusCodes => Capability::EnhancedStatusCodes,
            Self::StartTls => Capability::StartTls,
            Self::Auth(mechanisms) => Capability::Auth(mechanisms.into_owned()),
            Self::RequireTls => Capability::RequireTls,
            Self::MtPriority(profile) => {
                Capability::MtPriority(profile.map(PriorityProfile::into_owned))
            }
            Self::FutureRelease {
                max_interval,
                max_datetime,
            } => Capability::FutureRelease {
                max_interval,
                max_datetime: max_datetime.into_owned(),
            },
            Self::DeliverBy(time) => Capability::DeliverBy(time),
            Self::Limits {
                mail_max,
                rcpt_max,
                rcpt_domain_max,
                others,
            } => Capability::Limits {
                mail_max,
                rcpt_max,
                rcpt_domain_max,
                others: others.into_iter().map(Limit::into_owned).collect(),
            },
            Self::Etrn => Capability::Etrn,
            Self::Vrfy => Capability::Vrfy,
            Self::Expn => Capability::Expn,
            Self::Help => Capability::Help,
            Self::Malformed(malformed) => Capability::Malformed(Box::new(malformed.into_owned())),
            Self::Other { keyword, params } => Capability::Other {
                keyword: keyword.into_owned(),
                params: params.into_iter().map(EhloParam::into_owned).collect(),
            },
        }
    }
}

impl<'a> TryFrom<&'a str> for Capability<'a> {
    type Error = InvalidValue;
    fn try_from(text: &'a str) -> Result<Self, InvalidValue> {
        Self::parse(text)
    }
}

/// The EHLO line, as it is encoded (without `250-` and CRLF).
impl fmt::Display for Capability<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())?;
        match self {
            Self::Size(Some(n)) => write!(f, " {n}"),
            Self::DeliverBy(Some(min)) => write!(f, " {min}"),
            Self::Auth(mechanisms) => mechanisms.iter().try_for_each(|m| write!(f, " {m}")),
            Self::MtPriority(Some(profile)) => write!(f, " {profile}"),
            Self::FutureRelease {
                max_interval,
                max_datetime,
            } => write!(f, " {max_interval} {max_datetime}"),
            Self::Limits {
                mail_max,
                rcpt_max,
                rcpt_domain_max,
                others,
            } => {
                let registered = [
                    ("MAILMAX", mail_max),
                    ("RCPTMAX", rcpt_max),
                    ("RCPTDOMAINMAX", rcpt_domain_max),
                ];
                for (name, value) in registered {
                    if let Some(value) = value {
                        write!(f, " {name}={value}")?;
                    }
                }
                others.iter().try_for_each(|limit| write!(f, " {limit}"))
            }
            Self::Other { params, .. } => params.iter().try_for_each(|p| write!(f, " {p}")),
            Self::Malformed(malformed) => {
                malformed.params.iter().try_for_each(|p| write!(f, " {p}"))
            }
            _ => Ok(()),
        }
    }
}

/// A known EHLO keyword whose parameters break the extension's grammar, as the server sent
/// it (see [`Capability::Malformed`]).
///
/// ```
/// use smtp_proto::types::{Capability, Extension};
///
/// let Capability::Malformed(size) = Capability::parse("SIZE ten-megabytes")? else {
///     unreachable!()
/// };
/// assert_eq!(size.extension(), Extension::Size);
/// assert_eq!(size.params().len(), 1);
/// assert_eq!(size.reason(), "SIZE is not a number of octets");
/// # Ok::<(), smtp_proto::types::InvalidValue>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MalformedCapability<'a> {
    extension: Extension,
    keyword: Cow<'a, str>,
    params: Vec<EhloParam<'a>>,
    reason: &'static str,
}

impl MalformedCapability<'_> {
    /// The extension the keyword names.
    pub fn extension(&self) -> Extension {
        self.extension
    }

    /// The keyword as sent (a known one, in the case the server used).
    pub fn keyword(&self) -> &str {
        &self.keyword
    }

    /// The parameters as sent.
    pub fn params(&self) -> &[EhloParam<'_>] {
        &self.params
    }

    /// What is wrong with them.
    pub fn reason(&self) -> &'static str {
        self.reason
    }

    /// The same value, owning its text.
    pub fn into_owned(self) -> MalformedCapability<'static> {
        MalformedCapability {
            extension: self.extension,
            keyword: Cow::Owned(self.keyword.into_owned()),
            params: self.params.into_iter().map(EhloParam::into_owned).collect(),
            reason: self.reason,
        }
    }
}

/// A positive answer to EHLO (RFC 5321 4.1.1.1): `250-host [greeting]`, then one capability per
/// line.
///
/// The host is a domain or, as some servers without a name send, an address literal (the
/// grammar of the greeting, RFC 5321 4.2, allows both). An empty greeting is the same as none.
///
/// What can be built is what the decoder reads back ([`decode_ehlo_response`] of
/// [`encode_ehlo_response`] is the same value): the greeting is kept to what fits on the
/// first line, every `AUTH` joins the first one (as the decoder merges `AUTH` lines), and a
/// capability whose line would pass the 512 octets of RFC 5321 4.5.3.1.5 is refused.
///
/// [`decode_ehlo_response`]: crate::codec::decode_ehlo_response
/// [`encode_ehlo_response`]: crate::codec::encode_ehlo_response
///
/// ```
/// use smtp_proto::types::{Capability, Domain, EhloResponse, Extension, Mechanism};
///
/// let ehlo = EhloResponse::new(Domain::new("mx.example")?)
///     .with(Capability::Size(Some(35882577)))?
///     .with(Capability::Auth([Mechanism::new("PLAIN")?].into()))?
///     .with(Capability::Pipelining)?
///     .with(Capability::Auth([Mechanism::new("LOGIN")?, Mechanism::new("plain")?].into()))?;
/// assert!(ehlo.supports(Extension::Pipelining));
/// assert_eq!(ehlo.size(), Some(35882577));
/// let mechanisms: Vec<&str> = ehlo.auth_mechanisms().iter().map(|m| m.as_str()).collect();
/// assert_eq!(mechanisms, ["PLAIN", "LOGIN"]);
/// assert_eq!(ehlo.capabilities().len(), 3);
/// # Ok::<(), smtp_proto::types::InvalidValue>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct EhloResponse<'a> {
    pub(crate) host: Host<'a>,
    pub(crate) greeting: Option<ReplyText<'a>>,
    pub(crate) capabilities: Vec<Capability<'a>>,
}

/// The most text of one EHLO response line after `250-` and before CRLF (RFC 5321 4.5.3.1.5).
pub(crate) const EHLO_LINE_BUDGET: usize = 512 - 6;

impl<'a> EhloResponse<'a> {
    /// A response naming `host`, with no greeting and no capabilities.
    pub fn new(host: impl Into<Host<'a>>) -> Self {
        Self {
            host: host.into(),
            greeting: None,
            capabilities: Vec::new(),
        }
    }

    /// The server's name.
    pub fn host(&self) -> &Host<'a> {
        &self.host
    }

    /// The free text after the name on the first line, if any.
    pub fn greeting(&self) -> Option<&ReplyText<'a>> {
        self.greeting.as_ref()
    }

    /// The capabilities, in the order sent (all `AUTH` lines in the first).
    pub fn capabilities(&self) -> &[Capability<'a>] {
        &self.capabilities
    }

    /// The same response with a greeting: an empty one is none, and one too long for the
    /// first line beside the host (RFC 5321 4.5.3.1.5) is cut short at a character boundary,
    /// as it would be sent.
    #[must_use]
    pub fn with_greeting(mut self, greeting: ReplyText<'a>) -> Self {
        let room = EHLO_LINE_BUDGET.saturating_sub(self.host_len() + 1);
        let mut greeting = greeting.into_inner();
        if greeting.len() > room {
            let mut cut = room;
            while !greeting.is_char_boundary(cut) {
                cut -= 1;
            }
            greeting = match greeting {
                Cow::Borrowed(text) => Cow::Borrowed(text.get(..cut).unwrap_or_default()),
                Cow::Owned(mut text) => {
                    text.truncate(cut);
                    Cow::Owned(text)
                }
            };
        }
        // A cut of checked text at a character boundary is checked text.
        self.greeting = Some(ReplyText::checked_cow(greeting)).filter(|g| !g.is_empty());
        self
    }

    /// The same response with one more capability; see [`push`](Self::push).
    pub fn with(mut self, capability: Capability<'a>) -> Result<Self, InvalidValue> {
        self.push(capability)?;
        Ok(self)
    }

    /// Adds a capability: an `AUTH` joins the first `AUTH` (without repeating a mechanism),
    /// as the decoder merges them; a capability whose line would be longer than the 506
    /// octets left after `250-` and before CRLF (RFC 5321 4.5.3.1.5) is refused, as the
    /// decoder would refuse that line. (A long `AUTH` is spread over several lines.)
    pub fn push(&mut self, capability: Capability<'a>) -> Result<(), InvalidValue> {
        if !matches!(capability, Capability::Auth(_)) {
            let length = line_len(&capability);
            if length > EHLO_LINE_BUDGET {
                return Err(InvalidValue::TooLong {
                    what: "EHLO line",
                    length,
                    limit: EHLO_LINE_BUDGET,
                });
            }
        }
        push_capability(&mut self.capabilities, capability);
        Ok(())
    }

    /// [`with`](Self::with) for a capability whose line always fits: one without parameters,
    /// a number (`SIZE`, `DELIVERBY`), `MT-PRIORITY` or `AUTH` (the server's own list).
    #[must_use]
    pub(crate) fn with_short(mut self, capability: Capability<'a>) -> Self {
        push_capability(&mut self.capabilities, capability);
        self
    }

    /// Octets of the host as sent.
    fn host_len(&self) -> usize {
        match &self.host {
            Host::Domain(domain) => domain.as_str().len(),
            Host::Literal(literal) => literal.as_str().len() + 2,
        }
    }

    /// Whether the server offers `extension`.
    pub fn supports(&self, extension: Extension) -> bool {
        self.find(extension).is_some()
    }

    /// The first capability of `extension`.
    pub fn find(&self, extension: Extension) -> Option<&Capability<'a>> {
        self.capabilities
            .iter()
            .find(|capability| capability.extension() == Some(extension))
    }

    /// The first line that names `extension` with parameters that break its grammar: the
    /// server offers the extension, but what it says about it cannot be read.
    pub fn malformed(&self, extension: Extension) -> Option<&MalformedCapability<'a>> {
        self.capabilities
            .iter()
            .find_map(|capability| match capability {
                Capability::Malformed(malformed) if malformed.extension == extension => {
                    Some(&**malformed)
                }
                _ => None,
            })
    }

    /// The first capability whose keyword is `keyword`, in any case, known or not.
    pub fn find_keyword(&self, keyword: &str) -> Option<&Capability<'a>> {
        self.capabilities
            .iter()
            .find(|capability| capability.keyword().eq_ignore_ascii_case(keyword))
    }

    /// The largest message the server accepts (RFC 1870 4): `None` if it has no `SIZE`, no
    /// number with it, or `SIZE 0` (no fixed maximum). A `SIZE` whose parameter cannot be read
    /// is `None` here too: check [`malformed`](Self::malformed) before taking `None` for "no
    /// limit".
    pub fn size(&self) -> Option<u64> {
        self.capabilities
            .iter()
            .find_map(|capability| match capability {
                Capability::Size(size) => size.filter(|n| *n > 0),
                _ => None,
            })
    }

    /// The SASL mechanisms the server offers (RFC 4954 3), empty if it has no `AUTH`.
    pub fn auth_mechanisms(&self) -> &[Mechanism<'a>] {
        self.capabilities
            .iter()
            .find_map(|capability| match capability {
                Capability::Auth(mechanisms) => Some(mechanisms.as_slice()),
                _ => None,
            })
            .unwrap_or_default()
    }

    /// The same response, owning its text.
    pub fn into_owned(self) -> EhloResponse<'static> {
        EhloResponse {
            host: self.host.into_owned(),
            greeting: self.greeting.map(ReplyText::into_owned),
            capabilities: self
                .capabilities
                .into_iter()
                .map(Capability::into_owned)
                .collect(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Grammar, shared with the codec.

/// Adds `capability` to `capabilities`, merging every `AUTH` into the first one (without
/// repeating a mechanism, within a line or across lines: the encoder may spread one `AUTH`
/// over several lines).
pub(crate) fn push_capability<'a>(
    capabilities: &mut Vec<Capability<'a>>,
    capability: Capability<'a>,
) {
    let Capability::Auth(more) = capability else {
        capabilities.push(capability);
        return;
    };
    let existing = capabilities.iter_mut().find_map(|c| match c {
        Capability::Auth(mechanisms) => Some(mechanisms),
        _ => None,
    });
    let mechanisms = match existing {
        Some(mechanisms) => mechanisms,
        None => {
            capabilities.push(Capability::Auth(Mechanisms::new()));
            match capabilities.last_mut() {
                Some(Capability::Auth(mechanisms)) => mechanisms,
                _ => return,
            }
        }
    };
    for mechanism in more {
        if !mechanisms.iter().any(|m| m.is(mechanism.as_str())) {
            mechanisms.push(mechanism);
        }
    }
}

/// Octets of the line `capability` is written as (without `250-` and CRLF).
fn line_len(capability: &Capability<'_>) -> usize {
    struct Count(usize);
    impl fmt::Write for Count {
        fn write_str(&mut self, text: &str) -> fmt::Result {
            self.0 += text.len();
            Ok(())
        }
    }
    let mut count = Count(0);
    // Counting cannot fail.
    let _ = fmt::write(&mut count, format_args!("{capability}"));
    count.0
}

/// Reads an EHLO line. See [`Capability::parse`].
#[inline]
pub(crate) fn parse_capability(text: &str) -> Result<Capability<'_>, InvalidValue> {
    if let Some(capability) = parse_usual_capability(text) {
        return Ok(capability);
    }
    let (capability, end) = parse_capability_prefix(text)?;
    match text.as_bytes().get(end) {
        None => Ok(capability),
        Some(_) => Err(InvalidValue::at("EHLO parameter", text, end, false)),
    }
}

/// The usual EHLO lines, quickly: a known keyword alone, `SIZE n`, and `AUTH` with its
/// mechanisms one space apart. `None` for any other line, and for these with anything
/// unusual (a run of spaces, a trailing space, a name that breaks the grammar), which
/// [`parse_capability_prefix`] then reads: what this gives is what it would give.
#[inline(always)]
pub(crate) fn parse_usual_capability<'a>(text: &'a str) -> Option<Capability<'a>> {
    parse_usual_line(text.as_bytes(), |at| text.get(at..))
}

/// [`parse_usual_capability`] of a line read as octets, whose octets from an offset on
/// `text_from` gives as text: only an `AUTH` asks, as the other usual lines hold no text.
#[inline(always)]
pub(crate) fn parse_usual_line<'a>(
    line: &'a [u8],
    text_from: impl FnOnce(usize) -> Option<&'a str>,
) -> Option<Capability<'a>> {
    // A line with a space or `=` after four octets is no keyword alone (no keyword holds
    // either): only `SIZE n` and `AUTH ...` are read here.
    if !matches!(line.get(4), Some(b' ' | b'=')) {
        return extension_of(line).and_then(bare);
    }
    const fn key(keyword: &[u8; 4]) -> u32 {
        u32::from_le_bytes(*keyword)
    }
    let head = u32::from_le_bytes(line.get(..4)?.try_into().ok()?);
    // Upper case as in `same_keyword`: only `size` and `auth` in any case fold to these.
    let head = head & !((head & 0x4040_4040) >> 1);
    if head == key(b"SIZE") {
        return number_octets(line.get(5..)?).map(|size| Capability::Size(Some(size)));
    }
    if head != key(b"AUTH") {
        return None;
    }
    // Names of mechanism octets, one space apart.
    let mut rest = text_from(5)?;
    let mut mechanisms = Mechanisms::new();
    loop {
        let octets = rest.as_bytes();
        // An index loop: tighter than `position` in the caller's crowded loop.
        let mut len = 0;
        while let Some(&octet) = octets.get(len) {
            if chars::class(octet) & chars::MECHANISM == 0 {
                break;
            }
            len += 1;
        }
        if len == 0 || len > 20 {
            return None;
        }
        let (name, after) = rest.split_at_checked(len)?;
        // `Mechanism::is`, inline.
        if !mechanisms
            .iter()
            .any(|m| m.as_str().eq_ignore_ascii_case(name))
        {
            mechanisms.push(Mechanism::from_cow(Cow::Borrowed(name)));
        }
        match after.as_bytes().first() {
            None => return Some(Capability::Auth(mechanisms)),
            Some(b' ') => rest = after.get(1..)?,
            Some(_) => return None,
        }
    }
}

/// What [`typed`] gives for `extension` without parameters, in one step; `None` where it
/// needs them (`FUTURERELEASE`) or they make a list (`AUTH`, `LIMITS`).
#[inline(always)]
fn bare(extension: Extension) -> Option<Capability<'static>> {
    Some(match extension {
        Extension::Size => Capability::Size(None),
        Extension::EightBitMime => Capability::EightBitMime,
        Extension::Pipelining => Capability::Pipelining,
        Extension::Chunking => Capability::Chunking,
        Extension::BinaryMime => Capability::BinaryMime,
        Extension::Dsn => Capability::Dsn,
        Extension::SmtpUtf8 => Capability::SmtpUtf8,
        Extension::EnhancedStatusCodes => Capability::EnhancedStatusCodes,
        Extension::StartTls => Capability::StartTls,
        Extension::RequireTls => Capability::RequireTls,
        Extension::MtPriority => Capability::MtPriority(None),
        Extension::DeliverBy => Capability::DeliverBy(None),
        Extension::Etrn => Capability::Etrn,
        Extension::Vrfy => Capability::Vrfy,
        Extension::Expn => Capability::Expn,
        Extension::Help => Capability::Help,
        Extension::Auth | Extension::FutureRelease | Extension::Limits => return None,
    })
}

/// Reads the EHLO line at the start of `text` up to the first octet no EHLO line holds (the
/// CR of its CRLF, say): gives the capability and the octets it took.
#[inline(always)]
pub(crate) fn parse_capability_prefix(text: &str) -> Result<(Capability<'_>, usize), InvalidValue> {
    let bytes = text.as_bytes();
    let end = bytes
        .iter()
        .position(|b| !is_keyword_char(*b))
        .unwrap_or(bytes.len());
    if end == 0 || bytes.first() == Some(&b'-') {
        return Err(match bytes.first() {
            None => InvalidValue::Empty {
                what: "EHLO keyword",
            },
            Some(_) => InvalidValue::at("EHLO keyword", text, 0, false),
        });
    }
    let keyword = text.get(..end).unwrap_or_default();
    let (params, taken) = match bytes.get(end) {
        Some(b' ' | b'=') => {
            // SP and %d33-126.
            let rest = bytes.get(end + 1..).unwrap_or_default();
            let len = rest
                .iter()
                .position(|b| !(b' '..=b'~').contains(b))
                .unwrap_or(rest.len());
            let params = text.get(end + 1..end + 1 + len).unwrap_or_default();
            (params, end + 1 + len)
        }
        Some(b'\r') | None => ("", end),
        Some(_) => return Err(InvalidValue::at("EHLO keyword", text, end, false)),
    };
    let raw = || Params(params).map(EhloParam::checked).collect();
    let capability = match Extension::from_keyword(keyword) {
        Some(extension) => match typed(extension, params) {
            Ok(capability) => capability,
            Err(reason) => Capability::Malformed(Box::new(MalformedCapability {
                extension,
                keyword: Cow::Borrowed(keyword),
                params: raw(),
                reason,
            })),
        },
        None => Capability::Other {
            keyword: EhloKeyword::checked(keyword),
            params: raw(),
        },
    };
    Ok((capability, taken))
}

/// The parameters, separated by spaces (a run counts as one), already checked as
/// `1*(%d33-126)`.
#[derive(Clone)]
struct Params<'a>(&'a str);

impl<'a> Iterator for Params<'a> {
    type Item = &'a str;

    #[inline]
    fn next(&mut self) -> Option<&'a str> {
        let bytes = self.0.as_bytes();
        let start = bytes.iter().position(|b| *b != b' ')?;
        let end = bytes
            .get(start..)
            .and_then(|rest| rest.iter().position(|b| *b == b' '))
            .map_or(bytes.len(), |len| start + len);
        let param = self.0.get(start..end);
        self.0 = self.0.get(end..).unwrap_or_default();
        param
    }
}

/// The typed capability for a known keyword whose parameters fit; otherwise what is wrong with
/// them, for [`Capability::Malformed`].
#[inline(always)]
fn typed(extension: Extension, params: &str) -> Result<Capability<'_>, &'static str> {
    let mut list = Params(params);
    // At most one parameter.
    let mut optional = |reason: &'static str| -> Result<Option<&str>, &'static str> {
        let first = list.next();
        match list.next() {
            None => Ok(first),
            Some(_) => Err(reason),
        }
    };
    Ok(match extension {
        Extension::Size => {
            let param = optional("SIZE takes at most one parameter")?;
            Capability::Size(optional_number(param).ok_or("SIZE is not a number of octets")?)
        }
        Extension::DeliverBy => {
            let param = optional("DELIVERBY takes at most one parameter")?;
            Capability::DeliverBy(match param {
                Some(param) => Some(min_by_time(param).ok_or("DELIVERBY is not 1 to 9 digits")?),
                None => None,
            })
        }
        Extension::MtPriority => {
            Capability::MtPriority(match optional("MT-PRIORITY takes at most one profile")? {
                Some(profile) => Some(
                    PriorityProfile::new(profile)
                        .map_err(|_| "MT-PRIORITY profile breaks its grammar")?,
                ),
                None => None,
            })
        }
        Extension::Auth => {
            let mut mechanisms = Mechanisms::new();
            for name in Params(params) {
                let mechanism =
                    Mechanism::new(name).map_err(|_| "AUTH mechanism breaks its grammar")?;
                // Once each, as the lines of a response merge (names compare without case).
                if !mechanisms.iter().any(|m: &Mechanism<'_>| m.is(name)) {
                    mechanisms.push(mechanism);
                }
            }
            Capability::Auth(mechanisms)
        }
        Extension::FutureRelease => {
            let (Some(interval), Some(datetime), None) = (list.next(), list.next(), list.next())
            else {
                return Err("FUTURERELEASE takes an interval and a date-time");
            };
            Capability::FutureRelease {
                max_interval: number(interval).ok_or("FUTURERELEASE interval is not a number")?,
                max_datetime: DateTime::new(datetime)
                    .map_err(|_| "FUTURERELEASE date-time breaks RFC 3339")?,
            }
        }
        Extension::Limits => limits(params)?,
        flag => {
            if list.next().is_some() {
                return Err("keyword takes no parameters");
            }
            // The extensions with parameters have their arms above.
            bare(flag).unwrap_or(Capability::Help)
        }
    })
}

/// `LIMITS` parameters (RFC 9422 3): the registered limits into their fields (RFC 9422 4:
/// each a number), the other entries kept; otherwise what is wrong, for
/// [`Capability::Malformed`].
fn limits(params: &str) -> Result<Capability<'_>, &'static str> {
    let mut mail_max = None;
    let mut rcpt_max = None;
    let mut rcpt_domain_max = None;
    let mut others = Vec::new();
    for entry in Params(params) {
        check_limit_grammar(entry).map_err(|_| "LIMITS entry breaks its grammar")?;
        let (name, value) = match entry.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (entry, None),
        };
        let field = match name {
            name if name.eq_ignore_ascii_case("MAILMAX") => &mut mail_max,
            name if name.eq_ignore_ascii_case("RCPTMAX") => &mut rcpt_max,
            name if name.eq_ignore_ascii_case("RCPTDOMAINMAX") => &mut rcpt_domain_max,
            _ => {
                others.push(Limit::checked(entry));
                continue;
            }
        };
        if field.is_some() {
            return Err("LIMITS names a registered limit twice");
        }
        let value = value.and_then(number).and_then(|n| u32::try_from(n).ok());
        *field = Some(value.ok_or("LIMITS registered limit is not a number")?);
    }
    Ok(Capability::Limits {
        mail_max,
        rcpt_max,
        rcpt_domain_max,
        others,
    })
}

/// `1*9DIGIT` (RFC 2852 2).
fn min_by_time(text: &str) -> Option<MinByTime> {
    if text.len() > 9 {
        return None;
    }
    MinByTime::new(u32::try_from(number(text)?).ok()?).ok()
}

/// No parameter, or a number: `None` if there is a parameter that is not a number.
fn optional_number(param: Option<&str>) -> Option<Option<u64>> {
    match param {
        Some(param) => Some(Some(number(param)?)),
        None => Some(None),
    }
}

/// `1*DIGIT` that fits in a `u64`.
fn number(text: &str) -> Option<u64> {
    number_octets(text.as_bytes())
}

/// [`number`] of octets.
#[inline]
fn number_octets(text: &[u8]) -> Option<u64> {
    if text.is_empty() {
        return None;
    }
    if let Some(value) = chars::short_number(text) {
        return Some(value);
    }
    if text.len() <= 19 {
        // Nineteen digits cannot overflow a u64: no check at each step.
        let mut value = 0u64;
        for &byte in text {
            let digit = byte.wrapping_sub(b'0');
            if digit > 9 {
                return None;
            }
            value = value * 10 + u64::from(digit);
        }
        return Some(value);
    }
    text.iter().try_fold(0u64, |acc, &b| {
        if !b.is_ascii_digit() {
            return None;
        }
        acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}

mod mechanisms;
pub use mechanisms::Mechanisms;

#[cfg(test)]
pub(crate) mod strategies;
#[cfg(test)]
mod tests;
