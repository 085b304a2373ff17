//! Decoding POP3 lines to typed values and encoding them back.
//!
//! Decoders that take a buffer (`decode_*`) return [`Decoded::Incomplete`] until the line's
//! CRLF has arrived (every prefix of a valid line is incomplete, never an error); `parse_*`
//! take one line without its CRLF. Strict by default: a bare CR or LF, a NUL, a sign or a
//! space too many is an error, never repaired. Encoders write into any growable buffer
//! ([`Output`]: `Vec<u8>`, `BytesMut` or a type of your own) and cannot fail: the types they
//! take are valid by construction. Multi-line bodies are dot-stuffed and
//! unstuffed with [`mail_wire::dot`].

mod command;
mod response;

use mail_wire::decode::LineFault;

pub use command::{CommandOptions, decode_command, encode_command, parse_command};
pub use mail_wire::Output;
pub use mail_wire::decode::Decoded;
pub use response::{
    encode_capability, encode_continuation, encode_language_listing, encode_response,
    encode_scan_listing, encode_uid_listing, parse_capability, parse_continuation,
    parse_language_listing, parse_response, parse_scan_listing, parse_selected_language,
    parse_stat, parse_uid_listing,
};

use crate::types::InvalidValue;

/// RFC 2449 4: a command line is at most 255 octets, CRLF included.
pub const MAX_COMMAND_LINE: usize = crate::types::COMMAND_LINE;
/// RFC 2449 4: the first line of a response is at most 512 octets, CRLF included.
pub const MAX_RESPONSE_LINE: usize = crate::types::RESPONSE_LINE;

/// Why a line could not be decoded, and where: [`mail_wire::decode::DecodeError`] with this
/// crate's [`ErrorKind`].
pub type DecodeError = mail_wire::decode::DecodeError<ErrorKind>;

/// The constructors of [`DecodeError`] that need this crate's own kinds.
pub(crate) trait DecodeErrorExt {
    /// An invalid value that starts `base` octets into the line.
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

/// The faults of a line both protocols share, as this crate's kinds.
impl From<LineFault> for ErrorKind {
    fn from(fault: LineFault) -> Self {
        match fault {
            LineFault::LineTooLong { limit } => Self::LineTooLong { limit },
            LineFault::BareCr => Self::BareCr,
            LineFault::BareLf => Self::BareLf,
            LineFault::Nul => Self::Nul,
            LineFault::NonAscii | LineFault::InvalidUtf8 => Self::NotText,
        }
    }
}

fn put<O: Output + ?Sized>(out: &mut O, parts: &[&[u8]]) {
    for part in parts {
        out.put(part);
    }
}

#[cfg(test)]
mod output_tests;
#[cfg(test)]
mod tests;
