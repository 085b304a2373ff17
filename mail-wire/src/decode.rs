//! What the decoders of both protocol crates share: their result, their error, and strict
//! framing of one CRLF line at the start of a buffer.
//!
//! A decoder takes the bytes received so far and returns [`Decoded::Incomplete`] while its unit
//! is not all there (every prefix of a valid unit is incomplete, never an error), or the value
//! and the octets it took. What went wrong is a [`DecodeError`]: where, and a kind that each
//! protocol crate defines (`smtp_proto::codec::ErrorKind`, `pop3_proto::codec::ErrorKind`). The
//! faults of a line that both protocols know are a [`LineFault`], which each crate's kind
//! converts from, so the framing helpers here return the crate's own error.
//!
//! Strict by default: only CR LF ends a line (RFC 5321 2.3.8, RFC 1939 section 3); a bare CR, a
//! bare LF or a NUL in a line is an error, never removed. An error is reported as soon as the
//! bytes show it, and more bytes never change it: the verdict on a prefix holds for the whole.
//! This frames one line in a buffer the caller holds; to frame a stream chunk by chunk, without
//! holding more than the limit, use [`LineReader`](crate::line::LineReader).
//!
//! ```
//! use mail_wire::decode::{DecodeError, Decoded, LineFault, frame_line};
//!
//! /// A toy decoder: a line of ASCII text.
//! fn decode_text(input: &[u8]) -> Result<Decoded<&str>, DecodeError<LineFault>> {
//!     let Some((line, used)) = frame_line(input, 16)? else {
//!         return Ok(Decoded::Incomplete);
//!     };
//!     Ok(Decoded::Complete(mail_wire::decode::line_text(line, false)?, used))
//! }
//!
//! assert_eq!(decode_text(b"NOOP\r\nQUIT"), Ok(Decoded::Complete("NOOP", 6)));
//! assert_eq!(decode_text(b"NO"), Ok(Decoded::Incomplete));
//! assert_eq!(decode_text(b"NOOP\r"), Ok(Decoded::Incomplete));
//! let error = decode_text(b"NO\rOP\r\n").unwrap_err();
//! assert_eq!(error, DecodeError::new(2, LineFault::BareCr));
//! assert_eq!(error.to_string(), "bare CR (at offset 2)");
//! assert_eq!(
//!     decode_text(b"a line far longer than sixteen octets"),
//!     Err(DecodeError::new(16, LineFault::LineTooLong { limit: 16 })),
//! );
//! ```

use crate::line::LineError;

/// The result of a decoder given the bytes received so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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

/// Why a unit could not be decoded, and where. `K` says what is wrong; each protocol crate has
/// its own kinds (and names this type with them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[error("{kind} (at offset {offset})")]
pub struct DecodeError<K> {
    /// Octets from the start of the unit to the problem.
    pub offset: usize,
    /// What is wrong.
    pub kind: K,
}

impl<K> DecodeError<K> {
    /// The error `kind` at `offset` octets into the unit.
    pub const fn new(offset: usize, kind: K) -> Self {
        Self { offset, kind }
    }

    /// The same error `by` octets further into the unit: for an error found in a part of the
    /// unit that starts there. Saturates rather than overflowing.
    #[must_use]
    pub fn shifted(mut self, by: usize) -> Self {
        self.offset = self.offset.saturating_add(by);
        self
    }
}

/// What is wrong with a line, in the terms every text protocol shares. The protocol crates'
/// error kinds convert from it and add their own.
//
// Not `#[non_exhaustive]` on purpose: the conversions in the protocol crates must name every
// fault, so that a new one cannot be forgotten there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum LineFault {
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
    /// A non-ASCII octet where only ASCII is allowed.
    #[error("non-ASCII octet")]
    NonAscii,
    /// Octets that are not UTF-8.
    #[error("invalid UTF-8")]
    InvalidUtf8,
}

/// A [`LineReader`](crate::line::LineReader) error as a decode error, with the offset counted
/// from the start of the line: the bare CR or LF itself, or the limit for an over-long line
/// (where [`frame_line`] reports it too).
impl<K: From<LineFault>> From<LineError> for DecodeError<K> {
    fn from(error: LineError) -> Self {
        match error {
            LineError::TooLong { limit, .. } => fault(limit, LineFault::LineTooLong { limit }),
            LineError::BareCr { offset } => fault(offset, LineFault::BareCr),
            LineError::BareLf { offset } => fault(offset, LineFault::BareLf),
        }
    }
}

fn fault<K: From<LineFault>>(offset: usize, fault: LineFault) -> DecodeError<K> {
    DecodeError::new(offset, K::from(fault))
}

/// Frames the CRLF line at the start of `input`: the line without its CRLF and the octets it
/// takes with it, or `None` while its CRLF has not arrived.
///
/// Strict: a bare CR, a bare LF or a NUL anywhere in the line is an error, and so is a line of
/// more than `limit` octets (CRLF included), as soon as `limit` octets have arrived without an
/// LF. The first fault in the line is reported, at its offset (the limit for an over-long line),
/// as soon as the bytes show it; a final CR may still start a CRLF.
#[inline]
pub fn frame_line<K: From<LineFault>>(
    input: &[u8],
    limit: usize,
) -> Result<Option<(&[u8], usize)>, DecodeError<K>> {
    let window = input.get(..limit).unwrap_or(input);
    let Some(lf) = memchr::memchr(b'\n', window) else {
        check_unended(input, limit)?;
        return Ok(None);
    };
    let line = window.get(..lf).unwrap_or_default();
    match line.strip_suffix(b"\r") {
        Some(content) => {
            check_line(content)?;
            Ok(Some((content, lf + 1)))
        }
        None => Err(bare_lf(line, lf)),
    }
}

/// Like [`frame_line`], but a complete line's content is left to the caller, whose parser checks
/// every octet anyway (and then reports a CR or NUL in it with [`check_line`]): only the CRLF and
/// the limit are checked. An incomplete line is checked as [`frame_line`] does, so that a fault
/// is reported before its line ends.
#[inline]
pub fn find_line<K: From<LineFault>>(
    input: &[u8],
    limit: usize,
) -> Result<Option<(&[u8], usize)>, DecodeError<K>> {
    let window = input.get(..limit).unwrap_or(input);
    let Some(lf) = memchr::memchr(b'\n', window) else {
        check_unended(input, limit)?;
        return Ok(None);
    };
    let line = window.get(..lf).unwrap_or_default();
    match line.strip_suffix(b"\r") {
        Some(content) => Ok(Some((content, lf + 1))),
        None => Err(bare_lf(line, lf)),
    }
}

/// Checks the start of `input`, which holds no LF within `limit` octets: every octet but a final
/// CR must be line content, and `limit` octets without an end are too many. Kept out of line:
/// the decoders' common case is a whole line.
#[inline(never)]
fn check_unended<K: From<LineFault>>(input: &[u8], limit: usize) -> Result<(), DecodeError<K>> {
    let window = input.get(..limit).unwrap_or(input);
    check_line(window.strip_suffix(b"\r").unwrap_or(window))?;
    if input.len() >= limit {
        return Err(fault(limit, LineFault::LineTooLong { limit }));
    }
    Ok(())
}

/// The error for a line ended by a bare LF at `lf`: the first fault before it, else the LF.
#[cold]
fn bare_lf<K: From<LineFault>>(line: &[u8], lf: usize) -> DecodeError<K> {
    match check_line(line) {
        Err(error) => error,
        Ok(()) => fault(lf, LineFault::BareLf),
    }
}

/// Checks the content of a line, given without its CRLF: no CR, LF or NUL in it. The first one
/// found is the error.
#[inline]
pub fn check_line<K: From<LineFault>>(line: &[u8]) -> Result<(), DecodeError<K>> {
    let Some(at) = memchr::memchr3(b'\r', b'\n', 0, line) else {
        return Ok(());
    };
    let kind = match line.get(at) {
        Some(0) => LineFault::Nul,
        Some(b'\n') => LineFault::BareLf,
        _ => LineFault::BareCr,
    };
    Err(fault(at, kind))
}

/// The content of a line as text: no NUL; ASCII only unless `utf8`, and then valid UTF-8. (CR
/// and LF are the framing's to check: [`frame_line`], [`check_line`].)
#[inline]
pub fn line_text<K: From<LineFault>>(line: &[u8], utf8: bool) -> Result<&str, DecodeError<K>> {
    if let Some(nul) = memchr::memchr(0, line) {
        return Err(fault(nul, LineFault::Nul));
    }
    if !utf8 {
        if let Some(high) = line.iter().position(|b| !b.is_ascii()) {
            return Err(fault(high, LineFault::NonAscii));
        }
    }
    core::str::from_utf8(line).map_err(|error| fault(error.valid_up_to(), LineFault::InvalidUtf8))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec::Vec;
    use proptest::prelude::*;

    type Framed<'a> = Result<Option<(&'a [u8], usize)>, DecodeError<LineFault>>;

    fn frame(input: &[u8], limit: usize) -> Framed<'_> {
        frame_line(input, limit)
    }

    fn find(input: &[u8], limit: usize) -> Framed<'_> {
        find_line(input, limit)
    }

    fn error(offset: usize, kind: LineFault) -> DecodeError<LineFault> {
        DecodeError::new(offset, kind)
    }

    /// A kind of a protocol crate: its own faults and the shared ones, flat.
    #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
    enum Kind {
        #[error("bare CR")]
        BareCr,
        #[error("{0}")]
        Other(LineFault),
    }

    impl From<LineFault> for Kind {
        fn from(fault: LineFault) -> Self {
            match fault {
                LineFault::BareCr => Self::BareCr,
                other => Self::Other(other),
            }
        }
    }

    #[test]
    fn frames_a_crlf_line_and_leaves_the_rest() {
        assert_eq!(frame(b"NOOP\r\nQUIT\r\n", 512), Ok(Some((&b"NOOP"[..], 6))));
        assert_eq!(frame(b"\r\n", 512), Ok(Some((&b""[..], 2))));
        assert_eq!(find(b"NOOP\r\nQUIT\r\n", 512), Ok(Some((&b"NOOP"[..], 6))));
    }

    #[test]
    fn a_line_without_its_crlf_is_incomplete() {
        for input in [&b""[..], b"NO", b"NOOP", b"NOOP\r"] {
            assert_eq!(frame(input, 512), Ok(None), "{input:?}");
            assert_eq!(find(input, 512), Ok(None), "{input:?}");
        }
    }

    #[test]
    fn faults_are_found_as_soon_as_the_bytes_show_them() {
        let cases: [(&[u8], DecodeError<LineFault>); 10] = [
            (b"RETR 1\n", error(6, LineFault::BareLf)),
            (b"\n", error(0, LineFault::BareLf)),
            (b"RETR\r1\r\n", error(4, LineFault::BareCr)),
            (b"RETR\r1", error(4, LineFault::BareCr)),
            (b"RETR 1\r\r\n", error(6, LineFault::BareCr)),
            (b"RETR\x001\r\n", error(4, LineFault::Nul)),
            (b"PASS a\x00", error(6, LineFault::Nul)),
            (b"\x00", error(0, LineFault::Nul)),
            // The first fault wins, even before a bare LF.
            (b"a\rb\n", error(1, LineFault::BareCr)),
            (b"a\0b\n", error(1, LineFault::Nul)),
        ];
        for (input, want) in cases {
            assert_eq!(frame(input, 512), Err(want), "{input:?}");
        }
    }

    #[test]
    fn find_line_leaves_the_content_to_the_caller() {
        assert_eq!(
            find(b"RE\0TR\r1\r\n", 512),
            Ok(Some((&b"RE\0TR\r1"[..], 9)))
        );
        assert_eq!(find(b"RETR 1\n", 512), Err(error(6, LineFault::BareLf)));
        assert_eq!(find(b"a\rb\n", 512), Err(error(1, LineFault::BareCr)));
        // Not yet ended: checked as frame_line does.
        assert_eq!(find(b"RE\0TR", 512), Err(error(2, LineFault::Nul)));
        assert_eq!(find(b"RETR\r1", 512), Err(error(4, LineFault::BareCr)));
    }

    #[test]
    fn the_limit_counts_the_crlf() {
        assert_eq!(frame(b"123456\r\n", 8), Ok(Some((&b"123456"[..], 8))));
        let too_long = error(8, LineFault::LineTooLong { limit: 8 });
        assert_eq!(frame(b"1234567\r\n", 8), Err(too_long));
        assert_eq!(frame(b"12345678", 8), Err(too_long));
        assert_eq!(find(b"1234567\r\n", 8), Err(too_long));
        assert_eq!(frame(b"1234567", 8), Ok(None));
        // A fault before the limit is the first one.
        assert_eq!(frame(b"12\r45678", 8), Err(error(2, LineFault::BareCr)));
        assert_eq!(
            frame(b"", 0),
            Err(error(0, LineFault::LineTooLong { limit: 0 }))
        );
    }

    #[test]
    fn check_line_names_the_first_fault() {
        assert_eq!(check_line::<LineFault>(b"plain text"), Ok(()));
        assert_eq!(
            check_line::<LineFault>(b"ab\ncd\r"),
            Err(error(2, LineFault::BareLf))
        );
        assert_eq!(
            check_line::<LineFault>(b"a\rb\0"),
            Err(error(1, LineFault::BareCr))
        );
        assert_eq!(
            check_line::<LineFault>(b"\0\r"),
            Err(error(0, LineFault::Nul))
        );
    }

    #[test]
    fn line_text_needs_utf8_for_non_ascii() {
        assert_eq!(line_text::<LineFault>(b"hello", false), Ok("hello"));
        assert_eq!(
            line_text::<LineFault>("grüße".as_bytes(), false),
            Err(error(2, LineFault::NonAscii))
        );
        assert_eq!(
            line_text::<LineFault>("grüße".as_bytes(), true),
            Ok("grüße")
        );
        assert_eq!(
            line_text::<LineFault>(b"ok \xff", true),
            Err(error(3, LineFault::InvalidUtf8))
        );
        assert_eq!(
            line_text::<LineFault>(b"x\xff\0", true),
            Err(error(2, LineFault::Nul))
        );
    }

    #[test]
    fn errors_come_in_the_callers_kind() {
        let error: DecodeError<Kind> = frame_line(b"a\rb", 512).unwrap_err();
        assert_eq!(error, DecodeError::new(1, Kind::BareCr));
        assert_eq!(error.to_string(), "bare CR (at offset 1)");
        let error: DecodeError<Kind> = frame_line(b"abcd", 4).unwrap_err();
        assert_eq!(error.kind, Kind::Other(LineFault::LineTooLong { limit: 4 }));
        assert_eq!(error.to_string(), "line longer than 4 octets (at offset 4)");
    }

    #[test]
    fn line_reader_errors_convert_with_their_offsets() {
        let convert = |error: LineError| DecodeError::<LineFault>::from(error);
        assert_eq!(
            convert(LineError::BareCr { offset: 3 }),
            error(3, LineFault::BareCr)
        );
        assert_eq!(
            convert(LineError::BareLf { offset: 0 }),
            error(0, LineFault::BareLf)
        );
        assert_eq!(
            convert(LineError::TooLong {
                length: 900,
                limit: 512
            }),
            error(512, LineFault::LineTooLong { limit: 512 })
        );
    }

    #[test]
    fn shifted_moves_the_offset_and_saturates() {
        assert_eq!(
            error(2, LineFault::Nul).shifted(10),
            error(12, LineFault::Nul)
        );
        assert_eq!(
            error(usize::MAX - 1, LineFault::Nul).shifted(10),
            error(usize::MAX, LineFault::Nul)
        );
    }

    #[test]
    fn decoded_complete_gives_the_value() {
        assert_eq!(Decoded::Complete("x", 3).complete(), Some("x"));
        assert_eq!(Decoded::<&str>::Incomplete.complete(), None);
    }

    fn line_soup() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(
            prop_oneof![
                6 => Just(b'a'),
                2 => Just(b'\r'),
                2 => Just(b'\n'),
                1 => Just(0u8),
                1 => any::<u8>(),
            ],
            0..80,
        )
    }

    fn clean_line() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(
            any::<u8>().prop_filter("line content", |b| !matches!(b, b'\r' | b'\n' | 0)),
            0..60,
        )
    }

    proptest! {
        /// What a prefix of the input shows (a line, or an error) is what the whole input gives:
        /// so it does not matter how the input was chunked when the decoder was called.
        #[test]
        fn the_verdict_on_a_prefix_holds(data in line_soup(), cut in any::<usize>(), limit in 0usize..40) {
            let prefix = &data[..cut % (data.len() + 1)];
            let whole = frame(&data, limit);
            match frame(prefix, limit) {
                Ok(None) => {}
                verdict => prop_assert_eq!(verdict, whole),
            }
            match find(prefix, limit) {
                Ok(None) => {}
                Ok(Some(line)) => prop_assert_eq!(Ok(Some(line)), find(&data, limit)),
                // The whole line may be complete, and then its caller reports the fault.
                Err(error) => match find(&data, limit) {
                    Ok(Some((line, _))) => prop_assert_eq!(check_line(line), Err(error)),
                    other => prop_assert_eq!(other, Err(error)),
                },
            }
            if let Err(error) = whole {
                prop_assert!(error.offset <= limit.min(data.len()));
            }
        }

        /// A clean line within the limit is framed from any input that starts with it, and
        /// every prefix of it is incomplete, never an error.
        #[test]
        fn a_clean_line_frames_and_its_prefixes_are_incomplete(
            line in clean_line(),
            rest in line_soup(),
        ) {
            let limit = line.len() + 2;
            let mut wire = line.clone();
            wire.extend_from_slice(b"\r\n");
            let used = wire.len();
            wire.extend_from_slice(&rest);
            for end in 0..used {
                prop_assert_eq!(frame(&wire[..end], limit), Ok(None));
                prop_assert_eq!(find(&wire[..end], limit), Ok(None));
            }
            prop_assert_eq!(frame(&wire, limit), Ok(Some((&line[..], used))));
            prop_assert_eq!(find(&wire, limit), Ok(Some((&line[..], used))));
            prop_assert_eq!(
                frame(&wire, limit - 1),
                Err(error(limit - 1, LineFault::LineTooLong { limit: limit - 1 }))
            );
        }

        /// A framed line never holds a CR, LF or NUL, and is within the limit.
        #[test]
        fn a_framed_line_is_clean(data in line_soup(), limit in 0usize..40) {
            if let Ok(Some((line, used))) = frame(&data, limit) {
                prop_assert_eq!(check_line::<LineFault>(line), Ok(()));
                prop_assert!(used <= limit);
                prop_assert_eq!(&data[..used], [line, &b"\r\n"[..]].concat());
            }
        }
    }
}
