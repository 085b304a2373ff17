//! Decoding POP3 lines to typed values and encoding them back.
//!
//! Decoders that take a buffer (`decode_*`) return [`Decoded::Incomplete`] until the line's
//! CRLF has arrived (every prefix of a valid line is incomplete, never an error); `parse_*`
//! take one line without its CRLF. Strict by default: a bare CR or LF, a NUL, a sign or a
//! space too many is an error, never repaired. Encoders write into a [`BytesMut`] and cannot
//! fail: the types they take are valid by construction. Multi-line bodies are dot-stuffed and
//! unstuffed with [`mail_wire::dot`].

mod command;
mod response;

use bytes::BytesMut;

pub use command::{CommandOptions, decode_command, encode_command, parse_command};
pub use response::{
    encode_capability, encode_continuation, encode_response, encode_scan_listing,
    encode_uid_listing, parse_capability, parse_continuation, parse_response, parse_scan_listing,
    parse_stat, parse_uid_listing,
};

use crate::types::InvalidValue;

/// RFC 2449 4: a command line is at most 255 octets, CRLF included.
pub const MAX_COMMAND_LINE: usize = 255;
/// RFC 2449 4: the first line of a response is at most 512 octets, CRLF included.
pub const MAX_RESPONSE_LINE: usize = 512;

/// The result of a decoder given the bytes received so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded<T> {
    /// More bytes are needed; nothing was consumed.
    Incomplete,
    /// A value, and how many octets of the input it took (CRLF included).
    Complete(T, usize),
}

/// Why a line could not be decoded, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} (at offset {offset})")]
pub struct DecodeError {
    /// Octets from the start of the line to the problem.
    pub offset: usize,
    /// What is wrong.
    pub kind: ErrorKind,
}

impl DecodeError {
    pub(crate) fn new(offset: usize, kind: ErrorKind) -> Self {
        Self { offset, kind }
    }

    pub(crate) fn value(base: usize, invalid: InvalidValue) -> Self {
        Self::new(base + invalid.offset(), ErrorKind::Invalid(invalid))
    }

    pub(crate) fn syntax(offset: usize, expected: &'static str) -> Self {
        Self::new(offset, ErrorKind::Syntax { expected })
    }
}

/// What is wrong with a line.
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
    /// A non-ASCII octet outside UTF8 mode (RFC 6856), or octets that are not UTF-8.
    #[error("non-ASCII or invalid UTF-8 text")]
    NotText,
    /// The grammar wanted something else here.
    #[error("syntax error: expected {expected}")]
    Syntax {
        /// What the grammar wanted.
        expected: &'static str,
    },
    /// A command without an argument it needs.
    #[error("{verb} needs an argument")]
    MissingArgument {
        /// The command.
        verb: &'static str,
    },
    /// A command with more arguments than it takes.
    #[error("too many arguments for {verb}")]
    TooManyArguments {
        /// The command.
        verb: &'static str,
    },
    /// A value breaks its grammar (numbers included: sign, overflow, 0).
    #[error(transparent)]
    Invalid(InvalidValue),
}

/// The line at the start of `input` without its CRLF, and the octets it takes with it; `None`
/// while its CRLF has not arrived. A line longer than `limit` (CRLF included) is an error as
/// soon as the bytes show it, and so is a bare CR or LF.
pub(crate) fn frame_line(
    input: &[u8],
    limit: usize,
) -> Result<Option<(&[u8], usize)>, DecodeError> {
    let window = input.get(..limit).unwrap_or(input);
    match memchr::memchr(b'\n', window) {
        Some(lf) => {
            let line = window.get(..lf).unwrap_or_default();
            let Some(line) = line.strip_suffix(b"\r") else {
                return Err(DecodeError::new(lf, ErrorKind::BareLf));
            };
            check_line(line)?;
            Ok(Some((line, lf + 1)))
        }
        None if input.len() >= limit => {
            Err(DecodeError::new(limit, ErrorKind::LineTooLong { limit }))
        }
        None => {
            // Every octet but a final CR must already be line text.
            let seen = window.strip_suffix(b"\r").unwrap_or(window);
            check_line(seen)?;
            Ok(None)
        }
    }
}

/// No CR, LF or NUL inside a line (the `parse_*` functions take lines from callers too).
pub(crate) fn check_line(line: &[u8]) -> Result<(), DecodeError> {
    match memchr::memchr3(b'\r', b'\n', 0, line) {
        Some(at) if line.get(at) == Some(&0) => Err(DecodeError::new(at, ErrorKind::Nul)),
        Some(at) if line.get(at) == Some(&b'\n') => Err(DecodeError::new(at, ErrorKind::BareLf)),
        Some(at) => Err(DecodeError::new(at, ErrorKind::BareCr)),
        None => Ok(()),
    }
}

/// The line as text: ASCII, or UTF-8 when `utf8`.
pub(crate) fn line_str(line: &[u8], utf8: bool) -> Result<&str, DecodeError> {
    if !utf8 {
        if let Some(at) = line.iter().position(|b| !b.is_ascii()) {
            return Err(DecodeError::new(at, ErrorKind::NotText));
        }
    }
    core::str::from_utf8(line).map_err(|e| DecodeError::new(e.valid_up_to(), ErrorKind::NotText))
}

fn put(out: &mut BytesMut, parts: &[&[u8]]) {
    for part in parts {
        out.extend_from_slice(part);
    }
}

#[cfg(test)]
mod tests;
