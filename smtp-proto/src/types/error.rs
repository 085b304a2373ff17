//! The error for a value that breaks its grammar.

/// Why a value was refused, by a constructor or by the decoder. Offsets count octets from the
/// start of the value (the decoder's [`DecodeError`](crate::codec::DecodeError) adds where the
/// value starts in the line).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidValue {
    /// The value is empty where the grammar needs at least one character.
    #[error("empty {what}")]
    Empty {
        /// The grammar element, such as `"domain"`.
        what: &'static str,
    },
    /// The value is longer than the RFC allows.
    #[error("{what} of {length} octets exceeds the limit of {limit}")]
    TooLong {
        /// The grammar element.
        what: &'static str,
        /// Its length in octets.
        length: usize,
        /// The limit, with the RFC section in the docs of the type.
        limit: usize,
    },
    /// A character the grammar does not allow here. CR, LF and NUL always end up here, so no
    /// value can carry a command into the stream.
    #[error("{what}: unexpected {found:?} at offset {offset}")]
    UnexpectedChar {
        /// The grammar element.
        what: &'static str,
        /// Where the character is.
        offset: usize,
        /// The character.
        found: char,
    },
    /// A non-ASCII character where only ASCII is allowed (no SMTPUTF8, RFC 6531).
    #[error("{what}: non-ASCII character at offset {offset} without SMTPUTF8")]
    NonAscii {
        /// The grammar element.
        what: &'static str,
        /// Where the character starts.
        offset: usize,
    },
    /// Some other breach of the grammar, described by `reason`.
    #[error("{what}: {reason} at offset {offset}")]
    Malformed {
        /// The grammar element.
        what: &'static str,
        /// Where the problem is.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
}

impl InvalidValue {
    /// Where in the value the problem is (0 for [`Empty`](Self::Empty) and
    /// [`TooLong`](Self::TooLong)).
    pub fn offset(&self) -> usize {
        match *self {
            Self::Empty { .. } | Self::TooLong { .. } => 0,
            Self::UnexpectedChar { offset, .. }
            | Self::NonAscii { offset, .. }
            | Self::Malformed { offset, .. } => offset,
        }
    }

    /// The same error with its offset moved by `by` (a value found inside a larger one).
    #[must_use]
    pub(crate) fn shifted(self, by: usize) -> Self {
        match self {
            Self::UnexpectedChar {
                what,
                offset,
                found,
            } => Self::UnexpectedChar {
                what,
                offset: offset + by,
                found,
            },
            Self::NonAscii { what, offset } => Self::NonAscii {
                what,
                offset: offset + by,
            },
            Self::Malformed {
                what,
                offset,
                reason,
            } => Self::Malformed {
                what,
                offset: offset + by,
                reason,
            },
            other => other,
        }
    }

    /// The error for the character at `offset` of `text`, whatever it is.
    pub(crate) fn at(what: &'static str, text: &str, offset: usize, utf8: bool) -> Self {
        match text.get(offset..).and_then(|rest| rest.chars().next()) {
            Some(found) if !found.is_ascii() && !utf8 => Self::NonAscii { what, offset },
            Some(found) => Self::UnexpectedChar {
                what,
                offset,
                found,
            },
            None => Self::Malformed {
                what,
                offset,
                reason: "unexpected end",
            },
        }
    }
}
