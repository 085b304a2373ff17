//! Decoding framed units to typed values and encoding them back.
//!
//! Decoders take the bytes received so far and return [`Decoded::Incomplete`] while a unit is
//! not all there (every prefix of a valid unit is incomplete, never an error), or the value and
//! the number of octets it took. Strict by default: a bare CR, bare LF or NUL in a line is an
//! error, never silently removed. Encoders write into a [`BytesMut`](bytes::BytesMut) and cannot
//! fail: the types they take are valid by construction.

use alloc::string::String;

use crate::types::InvalidValue;

mod command;
pub use command::{CommandOptions, decode_command, encode_command, parse_command};

/// RFC 5321 4.5.3.1.4: a command line is at most 512 octets, CRLF included.
pub const MAX_COMMAND_LINE: usize = 512;
/// RFC 5321 4.5.3.1.5: a reply line is at most 512 octets, CRLF included.
pub const MAX_REPLY_LINE: usize = 512;

/// The result of a decoder given the bytes received so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded<T> {
    /// More bytes are needed; nothing was consumed.
    Incomplete,
    /// A value, and how many octets of the input it took (terminator included).
    Complete(T, usize),
}

impl<T> Decoded<T> {
    /// The value, if complete.
    pub fn complete(self) -> Option<T> {
        match self {
            Self::Complete(value, _) => Some(value),
            Self::Incomplete => None,
        }
    }
}

/// Why a unit could not be decoded, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} (at offset {offset})")]
pub struct DecodeError {
    /// Octets from the start of the unit to the problem.
    pub offset: usize,
    /// What is wrong.
    pub kind: ErrorKind,
}

impl DecodeError {
    pub(crate) fn new(offset: usize, kind: ErrorKind) -> Self {
        Self { offset, kind }
    }

    /// An invalid value that starts `base` octets into the unit.
    pub(crate) fn value(base: usize, invalid: InvalidValue) -> Self {
        Self::new(base + invalid.offset(), ErrorKind::Invalid(invalid))
    }

    pub(crate) fn syntax(offset: usize, expected: &'static str) -> Self {
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

/// Finds the CRLF-terminated line at the start of `input`: `Ok(None)` while it is incomplete,
/// else the line without its CRLF and the octets it took. A line over `max` octets (CRLF
/// included) is an error as soon as that many octets have arrived without an end; a bare CR or
/// LF in it is an error.
#[inline]
pub(crate) fn frame_line(input: &[u8], max: usize) -> Result<Option<(&[u8], usize)>, DecodeError> {
    let window = input.get(..max.min(input.len())).unwrap_or(input);
    let Some(lf) = memchr::memchr(b'\n', window) else {
        if input.len() >= max {
            return Err(DecodeError::new(max, ErrorKind::LineTooLong { limit: max }));
        }
        // A CR not at the very end can never start a CRLF.
        if let Some(cr) = memchr::memchr(b'\r', window).filter(|&cr| cr + 1 < window.len()) {
            return Err(DecodeError::new(cr, ErrorKind::BareCr));
        }
        return Ok(None);
    };
    let line = window.get(..lf).unwrap_or_default();
    let Some(content) = line.strip_suffix(b"\r") else {
        return Err(DecodeError::new(lf, ErrorKind::BareLf));
    };
    if let Some(cr) = memchr::memchr(b'\r', content) {
        return Err(DecodeError::new(cr, ErrorKind::BareCr));
    }
    Ok(Some((content, lf + 1)))
}

/// Like [`frame_line`], but leaves finding a bare CR inside the line to the caller's own scan
/// (the command parser checks every octet anyway).
#[inline]
pub(crate) fn find_line(input: &[u8], max: usize) -> Result<Option<(&[u8], usize)>, DecodeError> {
    let window = input.get(..max.min(input.len())).unwrap_or(input);
    let Some(lf) = memchr::memchr(b'\n', window) else {
        return frame_line(input, max);
    };
    match window.get(..lf).and_then(|line| line.strip_suffix(b"\r")) {
        Some(content) => Ok(Some((content, lf + 1))),
        None => Err(DecodeError::new(lf, ErrorKind::BareLf)),
    }
}

/// Checks a line's content (no CR or LF in it) and gives it as text: NUL is an error; non-ASCII
/// needs `utf8` and then valid UTF-8.
pub(crate) fn line_text(line: &[u8], utf8: bool) -> Result<&str, DecodeError> {
    if let Some(nul) = memchr::memchr(0, line) {
        return Err(DecodeError::new(nul, ErrorKind::Nul));
    }
    if let Some(high) = line.iter().position(|b| *b >= 0x80) {
        if !utf8 {
            return Err(DecodeError::new(high, ErrorKind::NonAscii));
        }
    }
    core::str::from_utf8(line)
        .map_err(|error| DecodeError::new(error.valid_up_to(), ErrorKind::InvalidUtf8))
}

// Replies and EHLO responses.
mod ehlo;
mod reply;
pub use ehlo::*;
pub use reply::*;
