//! Languages of human-readable text: the `LANG` command and its listing (RFC 6856 3).

use alloc::borrow::Cow;
use core::fmt;

use super::text::{InvalidValue, MAX_ARGUMENT, Text, check, text_conversions, text_serde};

/// A language tag (RFC 5646) or the basic language range of a `LANG` command (RFC 6856 3.2,
/// RFC 4647 2.1): `1*8ALPHA *("-" 1*8alphanum)`, or `*` for the language the server's
/// administrator prefers. Compared without regard to case (RFC 5646 2.1.1), at most
/// [`MAX_ARGUMENT`] octets (what a 255-octet `LANG` line holds, RFC 2449 4).
#[derive(Clone)]
pub struct LanguageTag<'a>(Cow<'a, str>);

/// RFC 2277 4.5: the language of text meant for no particular user.
const DEFAULT: &str = "i-default";

impl<'a> LanguageTag<'a> {
    /// Checks the grammar of a basic language range (`*` included).
    pub fn new(text: impl Into<Cow<'a, str>>) -> Result<Self, InvalidValue> {
        const WHAT: &str = "language tag";
        let text = text.into();
        check(&text, WHAT, MAX_ARGUMENT, |b| {
            b.is_ascii_alphanumeric() || b == b'-' || b == b'*'
        })?;
        if text != "*" {
            let mut offset = 0;
            for (index, subtag) in text.split('-').enumerate() {
                let shaped = (1..=8).contains(&subtag.len())
                    && subtag
                        .bytes()
                        .all(|b| b.is_ascii_alphabetic() || (index > 0 && b.is_ascii_digit()));
                if !shaped {
                    let found = subtag.chars().find(|c| *c == '*');
                    return Err(match found {
                        Some(found) => InvalidValue::UnexpectedChar {
                            what: WHAT,
                            offset: offset + subtag.find('*').unwrap_or_default(),
                            found,
                        },
                        None => InvalidValue::Malformed {
                            what: WHAT,
                            reason: "not 1*8ALPHA *(\"-\" 1*8alphanum) (RFC 4647 2.1)",
                        },
                    });
                }
                offset += subtag.len() + 1;
            }
        }
        Ok(Self(text))
    }

    /// `*`: the language the server's administrator prefers (RFC 6856 3.2).
    pub const fn any() -> LanguageTag<'static> {
        LanguageTag(Cow::Borrowed("*"))
    }

    /// `i-default` (RFC 2277 4.5): the language of a session before any `LANG`.
    pub const fn i_default() -> LanguageTag<'static> {
        LanguageTag(Cow::Borrowed(DEFAULT))
    }

    /// Whether this is `*`.
    pub fn is_any(&self) -> bool {
        self.0 == "*"
    }

    /// Whether this range picks `tag` (RFC 4647 3.3.1, basic filtering): `*` picks every tag;
    /// otherwise the range equals the tag, or is a prefix of it that ends where a subtag ends
    /// (`de` picks `de-CH`, not `dem`). Case is ignored.
    pub fn matches(&self, tag: &LanguageTag<'_>) -> bool {
        if self.is_any() {
            return true;
        }
        let (range, tag) = (self.as_str(), tag.as_str());
        match tag.get(..range.len()) {
            Some(head) if head.eq_ignore_ascii_case(range) => {
                tag.len() == range.len() || tag.as_bytes().get(range.len()) == Some(&b'-')
            }
            _ => false,
        }
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The same value, owning its text.
    pub fn into_owned(self) -> LanguageTag<'static> {
        LanguageTag(Cow::Owned(self.0.into_owned()))
    }
}

text_conversions!(LanguageTag);
text_serde!(LanguageTag);

/// RFC 5646 2.1.1: tags are compared without regard to case.
impl PartialEq for LanguageTag<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.0.eq_ignore_ascii_case(&other.0)
    }
}

impl Eq for LanguageTag<'_> {}

impl core::hash::Hash for LanguageTag<'_> {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        for byte in self.0.bytes() {
            state.write_u8(byte.to_ascii_lowercase());
        }
    }
}

impl fmt::Display for LanguageTag<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for LanguageTag<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LanguageTag({:?})", &*self.0)
    }
}

impl AsRef<str> for LanguageTag<'_> {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// One line of the multi-line response to a bare `LANG` (RFC 6856 3.2): a language the server
/// offers and, optionally, its name in that language (UTF-8), such as `de Deutsch`.
///
/// With the `serde` feature it is `{"tag": "de", "description": "Deutsch"}`, deserialized
/// through [`LanguageListing::new`] (so `*` is refused).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(try_from = "ListingFields<'a>"))]
pub struct LanguageListing<'a> {
    tag: LanguageTag<'a>,
    description: Option<Text<'a>>,
}

/// The fields of a [`LanguageListing`] before [`LanguageListing::new`] checks them together.
#[cfg(feature = "serde")]
#[derive(serde::Deserialize)]
struct ListingFields<'a> {
    tag: LanguageTag<'a>,
    #[serde(default)]
    description: Option<Text<'a>>,
}

#[cfg(feature = "serde")]
impl<'a> TryFrom<ListingFields<'a>> for LanguageListing<'a> {
    type Error = InvalidValue;

    fn try_from(fields: ListingFields<'a>) -> Result<Self, InvalidValue> {
        Self::new(fields.tag, fields.description)
    }
}

impl<'a> LanguageListing<'a> {
    /// A listing of `tag` with an optional description; `*` is no language and is refused.
    pub fn new(tag: LanguageTag<'a>, description: Option<Text<'a>>) -> Result<Self, InvalidValue> {
        if tag.is_any() {
            return Err(InvalidValue::Malformed {
                what: "language listing",
                reason: "`*` is not a language",
            });
        }
        // An empty description would not survive the wire (`en ` reads back as `en`).
        let description = description.filter(|text| !text.is_empty());
        Ok(Self { tag, description })
    }

    /// The language (never `*`).
    pub fn tag(&self) -> &LanguageTag<'a> {
        &self.tag
    }

    /// Its name in that language, if given (never empty).
    pub fn description(&self) -> Option<&Text<'a>> {
        self.description.as_ref()
    }

    /// The same listing, owning its text.
    pub fn into_owned(self) -> LanguageListing<'static> {
        LanguageListing {
            tag: self.tag.into_owned(),
            description: self.description.map(Text::into_owned),
        }
    }
}
