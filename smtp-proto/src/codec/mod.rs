//! Decoding framed units to typed values and encoding them back.
//!
//! Decoders take the bytes received so far and return [`Decoded::Incomplete`] while a unit is
//! not all there (every prefix of a valid unit is incomplete, never an error), or the value and
//! the number of octets it took. Strict by default: a bare CR, bare LF or NUL in a line is an
//! error, never silently removed. Encoders write into any growable buffer ([`Output`]:
//! `Vec<u8>`, `BytesMut` or a type of your own) and cannot fail: the types they take are valid
//! by construction.

use alloc::string::String;

use mail_wire::decode::LineFault;

use crate::types::InvalidValue;

mod command;
pub use command::{CommandOptions, decode_command, encode_command, parse_command};
pub use mail_wire::Output;
pub use mail_wire::decode::Decoded;

/// RFC 5321 4.5.3.1.4: a command line is at most 512 octets, CRLF included.
pub const MAX_COMMAND_LINE: usize = 512;
/// RFC 5321 4.5.3.1.5: a reply line is at most 512 octets, CRLF included.
pub const MAX_REPLY_LINE: usize = 512;

/// `bytes` as a `str`. ASCII, which nearly every line is, is checked by `<[u8]>::is_ascii`,
/// which reads whole words from any address; the `ascii` crate then turns the checked octets
/// into a `str` without a second check (its one `unsafe` cast, outside this crate, which
/// forbids its own). Anything else goes through the UTF-8 check, whose error tells where it
/// fails. `core`'s UTF-8 check reads two words at a time only from a word boundary, octet by
/// octet up to it and after the last whole pair: on a short line that is most of the line.
#[inline(always)]
pub(crate) fn text(bytes: &[u8]) -> Result<&str, core::str::Utf8Error> {
    match ascii::AsciiStr::from_ascii(bytes) {
        Ok(ascii) => Ok(ascii.as_str()),
        Err(_) => core::str::from_utf8(bytes),
    }
}

/// Why a unit could not be decoded, and where: [`mail_wire::decode::DecodeError`] with this
/// crate's [`ErrorKind`].
pub type DecodeError = mail_wire::decode::DecodeError<ErrorKind>;

/// The constructors of [`DecodeError`] that need this crate's own kinds.
pub(crate) trait DecodeErrorExt {
    /// An invalid value that starts `base` octets into the unit.
    fn value(base: usize, invalid: InvalidValue) -> Self;
    /// The grammar wanted `expected` at `offset`.
    fn syntax(offset: usize, expected: &'static str) -> Self;
}

impl DecodeErrorExt for DecodeError {
    fn value(base: usize, invalid: InvalidValue) -> Self {
        Self::new(base + invalid.offset(), ErrorKind::Invalid(invalid))
    }

    fn syntax(offset: usize, expected: &'static str) -> Self {
        Self::new(offset, ErrorKind::Syntax { expected })
    }
}

/// What is wrong with a unit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The line is longer than the limit (CRLF included).
    #[error("line longer than {limit} octets")]
    LineTooLong {
        /// The limit.
        limit: usize,
    },
    /// A CR not followed by LF.
    #[error("bare CR")]
    BareCr,
    /// An LF not preceded by CR.
    #[error("bare LF")]
    BareLf,
    /// A NUL octet.
    #[error("NUL octet")]
    Nul,
    /// A non-ASCII octet without SMTPUTF8 (RFC 6531).
    #[error("non-ASCII octet without SMTPUTF8")]
    NonAscii,
    /// Octets that are not UTF-8.
    #[error("invalid UTF-8")]
    InvalidUtf8,
    /// The grammar wanted something else here.
    #[error("syntax error: expected {expected}")]
    Syntax {
        /// What the grammar wanted.
        expected: &'static str,
    },
    /// A value breaks its grammar.
    #[error(transparent)]
    Invalid(InvalidValue),
    /// A number too large for its field.
    #[error("{what} out of range")]
    NumberOutOfRange {
        /// The field.
        what: &'static str,
    },
    /// A parameter given twice.
    #[error("parameter {keyword} given twice")]
    DuplicateParameter {
        /// The keyword, as sent.
        keyword: String,
    },
    /// A parameter that belongs to another command.
    #[error("parameter {keyword} not allowed here")]
    ParameterNotAllowed {
        /// The keyword, as sent.
        keyword: String,
    },
    /// A parameter value that breaks the parameter's grammar.
    #[error("invalid value for parameter {keyword}")]
    InvalidParameterValue {
        /// The keyword, as sent.
        keyword: &'static str,
    },
    // Replies (RFC 5321 4.2).
    /// Not a reply code 2yz to 5yz.
    #[error("invalid reply code")]
    InvalidReplyCode,
    /// A line of a multi-line reply with another code than the first.
    #[error("reply line with code {found}, expected {expected}")]
    ReplyCodeMismatch {
        /// The first line's code.
        expected: u16,
        /// This line's code.
        found: u16,
    },
    /// A multi-line reply with more lines than the limit.
    #[error("reply longer than {limit} lines")]
    TooManyLines {
        /// The limit.
        limit: usize,
    },
    /// A multi-line reply with more octets than the limit.
    #[error("reply longer than {limit} octets")]
    ReplyTooLarge {
        /// The limit.
        limit: usize,
    },
}

/// The faults of a line both protocols share, as this crate's kinds.
impl From<LineFault> for ErrorKind {
    fn from(fault: LineFault) -> Self {
        match fault {
            LineFault::LineTooLong { limit } => Self::LineTooLong { limit },
            LineFault::BareCr => Self::BareCr,
            LineFault::BareLf => Self::BareLf,
            LineFault::Nul => Self::Nul,
            LineFault::NonAscii => Self::NonAscii,
            LineFault::InvalidUtf8 => Self::InvalidUtf8,
        }
    }
}

// Replies and EHLO responses.
mod ehlo;
mod reply;
pub use ehlo::*;
pub use reply::*;

#[cfg(test)]
mod output_tests;

#[cfg(test)]
mod text_tests {
    use super::text;

    proptest::proptest! {
        /// Any octets from any place: the same `str`, or the same error, as the UTF-8 check.
        #[test]
        fn text_is_what_the_utf8_check_gives(
            bytes in proptest::collection::vec(
                proptest::prop_oneof![0x20u8..0x7f, proptest::num::u8::ANY], 0..48),
            start in 0usize..8,
        ) {
            let bytes = bytes.get(start.min(bytes.len())..).unwrap_or_default();
            proptest::prop_assert_eq!(text(bytes), core::str::from_utf8(bytes));
        }
    }

    #[test]
    fn ascii_utf8_and_neither() {
        assert_eq!(text(b"mail.example.com"), Ok("mail.example.com"));
        assert_eq!(
            text("caf\u{e9}.example".as_bytes()),
            Ok("caf\u{e9}.example")
        );
        assert_eq!(text(b""), Ok(""));
        let error = text(b"abc\xffdef").err().map(|e| e.valid_up_to());
        assert_eq!(error, Some(3));
    }
}
