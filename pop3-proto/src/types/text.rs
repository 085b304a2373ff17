//! Text values and the error for a value that breaks its grammar.

use alloc::borrow::Cow;
use alloc::string::String;
use core::fmt;

/// Why a value was refused. Offsets count octets from the start of the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidValue {
    /// Empty where the grammar needs at least one character.
    #[error("empty {what}")]
    Empty {
        /// The grammar element.
        what: &'static str,
    },
    /// Longer than allowed.
    #[error("{what} of {length} octets exceeds the limit of {limit}")]
    TooLong {
        /// The grammar element.
        what: &'static str,
        /// Its length in octets.
        length: usize,
        /// The limit.
        limit: usize,
    },
    /// A character the grammar does not allow here (CR, LF and NUL always end up here).
    #[error("{what}: unexpected {found:?} at offset {offset}")]
    UnexpectedChar {
        /// The grammar element.
        what: &'static str,
        /// Where.
        offset: usize,
        /// The character.
        found: char,
    },
    /// A number that is not 1*DIGIT, or too large, or 0 where numbering starts at 1.
    #[error("{what}: {reason}")]
    Number {
        /// The grammar element.
        what: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// Some other breach of the grammar.
    #[error("{what}: {reason}")]
    Malformed {
        /// The grammar element.
        what: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
}

impl InvalidValue {
    /// Where in the value the problem is (0 when the whole value is at fault).
    pub fn offset(&self) -> usize {
        match *self {
            Self::UnexpectedChar { offset, .. } => offset,
            _ => 0,
        }
    }
}

/// `VCHAR` (RFC 5234): printable ASCII without space.
pub(crate) fn is_vchar(byte: u8) -> bool {
    (0x21..=0x7e).contains(&byte)
}

/// Checks `text` is 1 to `limit` octets that all satisfy `allowed`.
pub(crate) fn check(
    text: &str,
    what: &'static str,
    limit: usize,
    allowed: impl Fn(u8) -> bool,
) -> Result<(), InvalidValue> {
    if text.is_empty() {
        return Err(InvalidValue::Empty { what });
    }
    if text.len() > limit {
        return Err(InvalidValue::TooLong {
            what,
            length: text.len(),
            limit,
        });
    }
    match text.bytes().position(|b| !allowed(b)) {
        Some(offset) => Err(InvalidValue::UnexpectedChar {
            what,
            offset,
            found: text
                .get(offset..)
                .and_then(|rest| rest.chars().next())
                .unwrap_or('\u{fffd}'),
        }),
        None => Ok(()),
    }
}

/// Parses `1*DIGIT` into a `u64` no larger than `max`: no sign, no space, ASCII digits only.
pub(crate) fn whole_number(text: &[u8], what: &'static str, max: u64) -> Result<u64, InvalidValue> {
    if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
        return Err(InvalidValue::Number {
            what,
            reason: "not a number (ASCII digits only)",
        });
    }
    let mut value: u64 = 0;
    for digit in text {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(digit - b'0')))
            .filter(|v| *v <= max)
            .ok_or(InvalidValue::Number {
                what,
                reason: "too large",
            })?;
    }
    Ok(value)
}

macro_rules! text_type {
    ($(#[$doc:meta])* $name:ident, $what:literal, $limit:expr, $allowed:expr) => {
        text_type!($(#[$doc])* $name, $what, $limit, $allowed, |_: &str| true, "");
    };
    (
        $(#[$doc:meta])* $name:ident, $what:literal, $limit:expr, $allowed:expr,
        $whole:expr, $refused:literal
    ) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name<'a>(Cow<'a, str>);

        impl<'a> $name<'a> {
            /// Checks the value against its grammar.
            pub fn new(text: impl Into<Cow<'a, str>>) -> Result<Self, InvalidValue> {
                let text = text.into();
                check(&text, $what, $limit, $allowed)?;
                if !($whole)(&*text) {
                    return Err(InvalidValue::Malformed {
                        what: $what,
                        reason: $refused,
                    });
                }
                Ok(Self(text))
            }

            /// The text.
            pub fn as_str(&self) -> &str {
                &self.0
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

        impl fmt::Debug for $name<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), &*self.0)
            }
        }

        impl AsRef<str> for $name<'_> {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}
pub(crate) use text_type;

/// `FromStr` and `TryFrom<String>` (owned, `'static`) and `TryFrom<&str>` (borrowed) for a
/// validated text type with a `new` constructor: the same checks, whatever the caller has.
macro_rules! text_conversions {
    ($($name:ident),+ $(,)?) => {$(
        impl core::str::FromStr for $name<'static> {
            type Err = InvalidValue;

            fn from_str(text: &str) -> Result<Self, InvalidValue> {
                $name::new(text).map($name::into_owned)
            }
        }

        impl TryFrom<alloc::string::String> for $name<'static> {
            type Error = InvalidValue;

            fn try_from(text: alloc::string::String) -> Result<Self, InvalidValue> {
                $name::new(text)
            }
        }

        impl<'a> TryFrom<&'a str> for $name<'a> {
            type Error = InvalidValue;

            fn try_from(text: &'a str) -> Result<Self, InvalidValue> {
                $name::new(text)
            }
        }
    )+};
}
pub(crate) use text_conversions;

/// `serde` for a validated text type with a `new` constructor and `as_str`: serialized as its
/// text, deserialized into an owned value through `new`, so a value that breaks the grammar is a
/// serde error, never an invalid value.
macro_rules! text_serde {
    ($($name:ident),+ $(,)?) => {$(
        /// Serialized as its text.
        #[cfg(feature = "serde")]
        impl serde::Serialize for $name<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        /// Deserialized from its text, owned, through the constructor's checks.
        #[cfg(feature = "serde")]
        impl<'de> serde::Deserialize<'de> for $name<'_> {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <alloc::string::String as serde::Deserialize>::deserialize(deserializer)?;
                $name::new(text).map_err(serde::de::Error::custom)
            }
        }
    )+};
}
pub(crate) use text_serde;

/// RFC 2449 4: a command line is at most 255 octets, CRLF included.
pub(crate) const COMMAND_LINE: usize = 255;

/// RFC 2449 4: the first line of a response is at most 512 octets, CRLF included.
pub(crate) const RESPONSE_LINE: usize = 512;

/// The longest [`Text`]: what fits in a 512-octet response line (RFC 2449 4) after `-ERR `,
/// the longer status, and the space that escapes a text starting with `[` (RFC 2449 6.4), with
/// the CRLF: so [`Response::ok`](crate::types::Response::ok) and
/// [`Response::err`](crate::types::Response::err) always fit. A response code takes room from
/// the text: [`Response::with_code`](crate::types::Response::with_code) checks the two together.
pub const MAX_TEXT: usize = RESPONSE_LINE - "-ERR ".len() - " ".len() - 2;

/// The longest single argument of a command (a user name, a password, a language tag): what
/// fits in a 255-octet command line after a four-letter verb and a space, CRLF included
/// (RFC 2449 4 raised RFC 1939's 40-octet arguments to this). No smaller cap of this crate's
/// own applies; the line limit bounds commands with several arguments.
pub const MAX_ARGUMENT: usize = COMMAND_LINE - "USER ".len() - 2;

/// Any character but CR, LF and NUL (UTF-8 allowed: RFC 6856 after `UTF8`).
fn is_text_byte(byte: u8) -> bool {
    !matches!(byte, b'\r' | b'\n' | 0)
}

/// Human-readable text of a response, a capability or a command argument: no CR, LF or NUL;
/// at most [`MAX_TEXT`] (504) octets when built (so that a response line fits in 512), as long
/// as the line allowed when decoded. May be empty (use [`Text::empty`]).
///
/// With the `serde` feature it is a JSON string, deserialized through [`Text::new`]: text that
/// a raised response-line limit let in beyond 504 octets serializes, but does not deserialize.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Text<'a>(Cow<'a, str>);

impl<'a> Text<'a> {
    /// Checks the text: at most [`MAX_TEXT`] (504) octets, no CR, LF or NUL.
    pub fn new(text: impl Into<Cow<'a, str>>) -> Result<Self, InvalidValue> {
        let text = text.into();
        if !text.is_empty() {
            check(&text, "text", MAX_TEXT, is_text_byte)?;
        }
        Ok(Self(text))
    }

    /// Decoded text: no CR, LF or NUL (checked by the line framing), as long as the line that
    /// carried it was allowed to be.
    pub(crate) fn decoded(text: &'a str) -> Self {
        Self(Cow::Borrowed(text))
    }

    /// No text.
    pub const fn empty() -> Text<'static> {
        Text(Cow::Borrowed(""))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The same text, owning it.
    pub fn into_owned(self) -> Text<'static> {
        Text(Cow::Owned(self.0.into_owned()))
    }
}

impl fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Text({:?})", &*self.0)
    }
}

impl From<Text<'_>> for String {
    fn from(text: Text<'_>) -> Self {
        text.0.into_owned()
    }
}

text_type!(
    /// A SASL mechanism name (RFC 4422 3.1: 1 to 20 of upper-case letters, digits, `-`, `_`;
    /// any case is accepted on input).
    Mechanism,
    "mechanism",
    20,
    |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
);

impl Mechanism<'static> {
    /// A name known to be valid.
    // The server's mechanism names now come from `ServerMechanisms`; tests still use this.
    #[allow(dead_code)]
    pub(crate) const fn checked(name: &'static str) -> Self {
        Self(Cow::Borrowed(name))
    }
}

impl Text<'static> {
    /// Text known to be valid.
    pub(crate) const fn checked(text: &'static str) -> Self {
        Self(Cow::Borrowed(text))
    }
}

impl Mechanism<'_> {
    /// Whether it names `other` (case-insensitive).
    pub fn is(&self, other: &str) -> bool {
        self.0.eq_ignore_ascii_case(other)
    }
}

/// The APOP timestamp of a greeting (RFC 1939 7): `<` VCHARs `>` (an RFC 822 msg-id), such as
/// `<1896.697170952@dbc.mtview.ca.us>`, made unique by the server (the machine has no clock or
/// randomness: the application supplies it). At most [`MAX_TEXT`] (504) octets: what fits in
/// a greeting line (RFC 2449 4).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Timestamp<'a>(Cow<'a, str>);

impl<'a> Timestamp<'a> {
    /// Checks the brackets and the characters.
    pub fn new(text: impl Into<Cow<'a, str>>) -> Result<Self, InvalidValue> {
        let text = text.into();
        check(&text, "timestamp", MAX_TEXT, is_vchar)?;
        let inner = text
            .get(1..text.len().saturating_sub(1))
            .unwrap_or_default();
        let shaped = text.len() >= 3
            && text.starts_with('<')
            && text.ends_with('>')
            && !inner.contains(['<', '>']);
        if !shaped {
            return Err(InvalidValue::Malformed {
                what: "timestamp",
                reason: "not of the form <...>",
            });
        }
        Ok(Self(text))
    }

    /// The text, brackets included (what the APOP digest covers).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The same value, owning its text.
    pub fn into_owned(self) -> Timestamp<'static> {
        Timestamp(Cow::Owned(self.0.into_owned()))
    }
}

text_conversions!(Text, Mechanism, Timestamp);
text_serde!(Text, Mechanism, Timestamp);

impl fmt::Display for Timestamp<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Timestamp<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({:?})", &*self.0)
    }
}
