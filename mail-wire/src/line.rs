//! Incremental CRLF line framing with a hard length limit.
//!
//! [`LineReader`] turns a byte stream, fed in pieces of any size, into lines. It is strict by
//! default: only CR LF ends a line (RFC 5321 2.3.8, RFC 1939 section 3), and a bare CR or a bare
//! LF inside a line makes that line an error. The faulty line is consumed up to its CRLF and
//! reported, never repaired. A line longer than the limit is consumed to its end without being
//! buffered and reported as [`LineError::TooLong`]: the reader never holds more than the limit,
//! however the input is chunked, and never resynchronises in the middle of a line.
//!
//! ```
//! use mail_wire::line::{LineConfig, LineError, LineReader};
//!
//! let mut reader = LineReader::new(LineConfig::new(16));
//! let mut lines = Vec::new();
//! for mut chunk in [&b"NOOP\r\nQU"[..], b"IT\r\nthis line is far too long\r\n", b"a\nb\r\n"] {
//!     while let Some(line) = reader.next_line(&mut chunk) {
//!         lines.push(line);
//!     }
//! }
//! assert_eq!(lines[0].as_deref(), Ok(&b"NOOP"[..]));
//! assert_eq!(lines[1].as_deref(), Ok(&b"QUIT"[..]));
//! assert_eq!(lines[2], Err(LineError::TooLong { length: 27, limit: 16 }));
//! assert_eq!(lines[3], Err(LineError::BareLf { offset: 1 }));
//! ```

use bytes::{Bytes, BytesMut};

pub use crate::input::Input;

/// RFC 5321 4.5.3.1.4: a command line is at most 512 octets, CRLF included.
pub const DEFAULT_MAX_LINE_LENGTH: usize = 512;

/// Settings of a [`LineReader`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineConfig {
    max_length: usize,
    accept_bare_lf: bool,
}

impl Default for LineConfig {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_LINE_LENGTH)
    }
}

impl LineConfig {
    /// Strict framing with lines of at most `max_length` octets, the CRLF included (the RFCs
    /// count it). Lines whose content exceeds `max_length - 2` octets are too long.
    pub const fn new(max_length: usize) -> Self {
        Self {
            max_length,
            accept_bare_lf: false,
        }
    }

    /// Lenient mode: a bare LF also ends a line. Off by default; a bare CR stays an error.
    #[must_use]
    pub const fn accept_bare_lf(mut self, accept: bool) -> Self {
        self.accept_bare_lf = accept;
        self
    }

    /// The longest line accepted, terminator included.
    pub const fn max_length(&self) -> usize {
        self.max_length
    }

    /// Whether a bare LF ends a line.
    pub const fn accepts_bare_lf(&self) -> bool {
        self.accept_bare_lf
    }

    /// The most content octets a line may hold: the limit less the CRLF.
    const fn content_limit(&self) -> usize {
        self.max_length.saturating_sub(2)
    }
}

/// Why a line was refused. The line has been consumed up to and including its terminator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LineError {
    /// The line is longer than the configured limit. `length` counts the whole line with its
    /// terminator; none of it was kept.
    #[error("line of {length} octets exceeds the limit of {limit} octets")]
    TooLong {
        /// Octets in the line, terminator included (saturating).
        length: u64,
        /// The configured limit.
        limit: usize,
    },
    /// A CR not followed by LF at `offset` octets into the line.
    #[error("bare CR at offset {offset} of the line")]
    BareCr {
        /// Position of the CR within the line.
        offset: usize,
    },
    /// An LF not preceded by CR at `offset` octets into the line (strict mode).
    #[error("bare LF at offset {offset} of the line")]
    BareLf {
        /// Position of the LF within the line.
        offset: usize,
    },
}

/// Incremental line reader. See the [module docs](self).
///
/// Feed it with [`next_line`](Self::next_line) until that returns `None`, which means the input
/// given so far holds no further complete line: everything was consumed and the partial line is
/// kept for the next call.
#[derive(Debug, Clone, Default)]
pub struct LineReader {
    config: LineConfig,
    /// Content of the current line so far; never more than `config.content_limit()` octets.
    partial: BytesMut,
    /// Octets of the current line consumed so far (content only).
    length: u64,
    /// The last octet consumed was a CR whose successor has not arrived yet.
    pending_cr: bool,
    /// The first thing wrong with the current line; once set, content is no longer kept.
    fault: Option<LineError>,
    /// Octets consumed since the reader was made or reset.
    consumed: u64,
}

impl LineReader {
    /// A reader with the given settings.
    pub fn new(config: LineConfig) -> Self {
        Self {
            config,
            ..Self::default()
        }
    }

    /// The settings.
    pub fn config(&self) -> &LineConfig {
        &self.config
    }

    /// Octets of an incomplete line held between calls; never above the limit.
    pub fn buffered(&self) -> usize {
        self.partial.len() + usize::from(self.pending_cr)
    }

    /// Whether a line has begun and not yet ended (for end-of-stream checks).
    pub fn is_mid_line(&self) -> bool {
        self.length > 0 || self.pending_cr
    }

    /// Octets of the stream consumed since the reader was made or [`reset`](Self::reset).
    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    /// Forgets any partial line (after a TLS upgrade, say) and restarts the count of octets.
    pub fn reset(&mut self) {
        *self = Self::new(self.config);
    }

    /// Consumes bytes from the front of `input` up to the end of the next line and returns that
    /// line without its terminator, or the error for it. Returns `None` once `input` is used up
    /// without completing a line. Bytes after the returned line stay in `input`.
    ///
    /// With `Bytes` or `BytesMut` input a line that arrived in one piece is returned without
    /// copying.
    #[must_use = "a line or an error for it was consumed"]
    pub fn next_line<I: Input>(&mut self, input: &mut I) -> Option<Result<Bytes, LineError>> {
        let before = input.remaining().len();
        let line = self.scan(input);
        self.consumed = self
            .consumed
            .saturating_add((before - input.remaining().len()) as u64);
        line
    }

    fn scan<I: Input>(&mut self, input: &mut I) -> Option<Result<Bytes, LineError>> {
        loop {
            let data = input.remaining();
            let first = *data.first()?;
            if self.pending_cr {
                self.pending_cr = false;
                if first == b'\n' {
                    input.skip(1);
                    return Some(self.finish(2));
                }
                // The CR held over from the last chunk was bare: it counts as content.
                self.fault_at(|offset| LineError::BareCr { offset });
                self.length = self.length.saturating_add(1);
                continue;
            }
            let Some(at) = memchr::memchr2(b'\r', b'\n', data) else {
                let n = data.len();
                self.absorb(input, n);
                return None;
            };
            let next = data.get(at + 1).copied();
            match (data.get(at).copied(), next) {
                (Some(b'\r'), Some(b'\n')) => return Some(self.complete(input, at, 2)),
                (Some(b'\r'), None) => {
                    self.absorb(input, at);
                    input.skip(1);
                    self.pending_cr = true;
                    return None;
                }
                (Some(b'\r'), Some(_)) => {
                    self.absorb(input, at);
                    self.fault_at(|offset| LineError::BareCr { offset });
                    self.absorb(input, 1);
                }
                _ if self.config.accept_bare_lf => return Some(self.complete(input, at, 1)),
                _ => {
                    self.absorb(input, at);
                    self.fault_at(|offset| LineError::BareLf { offset });
                    self.absorb(input, 1);
                }
            }
        }
    }

    /// Ends the current line with `n` content octets and a terminator of `terminator` octets at
    /// the front of `input`.
    fn complete<I: Input>(
        &mut self,
        input: &mut I,
        n: usize,
        terminator: usize,
    ) -> Result<Bytes, LineError> {
        if self.length == 0 && self.fault.is_none() && n <= self.config.content_limit() {
            // Fast path: the whole line is in this chunk; hand out a slice of it.
            let line = input.take(n);
            input.skip(terminator);
            return Ok(line);
        }
        self.absorb(input, n);
        input.skip(terminator);
        self.finish(terminator as u64)
    }

    /// Consumes `n` content octets from `input`, keeping them while the line is healthy.
    fn absorb<I: Input>(&mut self, input: &mut I, n: usize) {
        if n == 0 {
            return;
        }
        let new_length = self.length.saturating_add(n as u64);
        if self.fault.is_none() {
            if new_length > self.config.content_limit() as u64 {
                self.fault = Some(LineError::TooLong {
                    length: 0,
                    limit: self.config.max_length,
                });
                self.partial.clear();
            } else if let Some(piece) = input.remaining().get(..n) {
                self.keep(piece);
            }
        }
        input.skip(n);
        self.length = new_length;
    }

    /// Appends to the partial line, growing the buffer by doubling but never past the limit, so
    /// that the memory held stays within the limit too (`BytesMut` alone may round up).
    fn keep(&mut self, piece: &[u8]) {
        let needed = self.partial.len() + piece.len();
        if needed > self.partial.capacity() {
            let limit = self.config.content_limit();
            let capacity = needed.max(self.partial.capacity() * 2).max(64).min(limit);
            let mut grown = BytesMut::with_capacity(capacity);
            grown.extend_from_slice(&self.partial);
            self.partial = grown;
        }
        self.partial.extend_from_slice(piece);
    }

    /// Octets allocated for the partial line; never above the limit.
    pub fn allocated(&self) -> usize {
        self.partial.capacity()
    }

    /// Records a fault at the current position unless the line already has one.
    fn fault_at(&mut self, make: impl FnOnce(usize) -> LineError) {
        if self.fault.is_none() {
            // A healthy line is shorter than the limit, so its length fits in usize.
            let offset = usize::try_from(self.length).unwrap_or(usize::MAX);
            self.fault = Some(make(offset));
            self.partial.clear();
        }
    }

    /// Returns the finished line (or its error) and resets for the next one.
    fn finish(&mut self, terminator: u64) -> Result<Bytes, LineError> {
        let length = core::mem::take(&mut self.length);
        match self.fault.take() {
            Some(LineError::TooLong { limit, .. }) => Err(LineError::TooLong {
                // The terminator counts towards the length, as the RFCs count it.
                length: length.saturating_add(terminator),
                limit,
            }),
            Some(other) => Err(other),
            None => Ok(self.partial.split().freeze()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::chunked;
    use alloc::vec::Vec;
    use proptest::prelude::*;

    fn all_lines(config: LineConfig, chunks: &[&[u8]]) -> Vec<Result<Vec<u8>, LineError>> {
        let mut reader = LineReader::new(config);
        let mut out = Vec::new();
        for chunk in chunks {
            let mut input = Bytes::copy_from_slice(chunk);
            while let Some(line) = reader.next_line(&mut input) {
                out.push(line.map(|b| b.to_vec()));
            }
            assert!(input.is_empty());
            assert!(reader.buffered() <= config.max_length());
            assert!(reader.allocated() <= config.max_length().max(64));
        }
        out
    }

    #[test]
    fn splits_crlf_lines() {
        let got = all_lines(LineConfig::default(), &[b"HELO a\r\nMAIL FROM:<>\r\n\r\n"]);
        assert_eq!(
            got,
            [
                Ok(b"HELO a".to_vec()),
                Ok(b"MAIL FROM:<>".to_vec()),
                Ok(Vec::new())
            ]
        );
    }

    #[test]
    fn crlf_split_across_chunks() {
        let got = all_lines(LineConfig::default(), &[b"NOOP\r", b"\nRSET\r", b"", b"\n"]);
        assert_eq!(got, [Ok(b"NOOP".to_vec()), Ok(b"RSET".to_vec())]);
    }

    #[test]
    fn bare_lf_is_an_error_for_its_line_only() {
        let got = all_lines(LineConfig::default(), &[b"RCPT a\nDATA\r\nQUIT\r\n"]);
        assert_eq!(
            got,
            [Err(LineError::BareLf { offset: 6 }), Ok(b"QUIT".to_vec())]
        );
    }

    #[test]
    fn bare_cr_is_an_error_even_across_chunks() {
        let got = all_lines(LineConfig::default(), &[b"ab\r", b"cd\r\nok\r\n"]);
        assert_eq!(
            got,
            [Err(LineError::BareCr { offset: 2 }), Ok(b"ok".to_vec())]
        );
        let got = all_lines(LineConfig::default(), &[b"ab\r\r\n"]);
        assert_eq!(got, [Err(LineError::BareCr { offset: 2 })]);
    }

    #[test]
    fn lenient_mode_ends_lines_at_bare_lf() {
        let config = LineConfig::default().accept_bare_lf(true);
        let got = all_lines(config, &[b"a\nb\r\nc\rd\n"]);
        assert_eq!(
            got,
            [
                Ok(b"a".to_vec()),
                Ok(b"b".to_vec()),
                Err(LineError::BareCr { offset: 1 })
            ]
        );
    }

    #[test]
    fn over_long_line_is_consumed_and_reported() {
        let config = LineConfig::new(8);
        let got = all_lines(config, &[b"123456\r\n1234567\r\n12", b"34567890\r\nok\r\n"]);
        assert_eq!(
            got,
            [
                Ok(b"123456".to_vec()),
                Err(LineError::TooLong {
                    length: 9,
                    limit: 8
                }),
                Err(LineError::TooLong {
                    length: 12,
                    limit: 8
                }),
                Ok(b"ok".to_vec()),
            ]
        );
    }

    #[test]
    fn huge_line_without_newline_holds_nothing() {
        let mut reader = LineReader::new(LineConfig::new(512));
        let chunk = [b'x'; 65536];
        for _ in 0..64 {
            let mut input = &chunk[..];
            assert_eq!(reader.next_line(&mut input), None);
            assert!(reader.buffered() <= 512);
        }
        let mut end = &b"\r\nNOOP\r\n"[..];
        assert_eq!(
            reader.next_line(&mut end),
            Some(Err(LineError::TooLong {
                length: 64 * 65536 + 2,
                limit: 512
            }))
        );
        assert_eq!(reader.next_line(&mut end).unwrap().unwrap(), "NOOP");
    }

    #[test]
    fn zero_copy_when_line_is_whole() {
        let source = Bytes::from_static(b"EHLO x\r\n");
        let mut input = source.clone();
        let line = LineReader::default()
            .next_line(&mut input)
            .unwrap()
            .unwrap();
        assert_eq!(line.as_ptr(), source.as_ptr());
    }

    #[test]
    fn leftover_stays_with_caller() {
        let mut reader = LineReader::default();
        let mut input = &b"DATA\r\nbody bytes"[..];
        assert_eq!(reader.next_line(&mut input).unwrap().unwrap(), "DATA");
        assert_eq!(input, b"body bytes");
        assert!(!reader.is_mid_line());
        assert_eq!(reader.consumed(), 6);
        let mut more = &b"par"[..];
        assert_eq!(reader.next_line(&mut more), None);
        assert_eq!(reader.consumed(), 9);
        reader.reset();
        assert_eq!((reader.consumed(), reader.is_mid_line()), (0, false));
    }

    fn line_soup() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(
            prop_oneof![
                4 => Just(b'a'),
                2 => Just(b'\r'),
                2 => Just(b'\n'),
                1 => any::<u8>(),
                2 => Just(b' '),
            ],
            0..300,
        )
    }

    proptest! {
        #[test]
        fn any_chunking_gives_the_same_lines(
            data in line_soup(),
            cuts in prop::collection::vec(any::<usize>(), 0..12),
            max in 2usize..40,
            lenient in any::<bool>(),
        ) {
            let config = LineConfig::new(max).accept_bare_lf(lenient);
            let whole = all_lines(config, &[&data]);
            let pieces = all_lines(config, &chunked(&data, &cuts));
            let bytewise: Vec<&[u8]> = data.chunks(1).collect();
            prop_assert_eq!(&whole, &pieces);
            prop_assert_eq!(&whole, &all_lines(config, &bytewise));
            for line in whole.iter().flatten() {
                prop_assert!(line.len() + 2 <= max);
                prop_assert!(!line.contains(&b'\r'));
                prop_assert!(!line.contains(&b'\n'));
            }
        }

        #[test]
        fn valid_lines_round_trip(
            lines in prop::collection::vec(prop::collection::vec(any::<u8>().prop_map(|b| if b == b'\r' || b == b'\n' { b'x' } else { b }), 0..60), 0..20),
            cuts in prop::collection::vec(any::<usize>(), 0..8),
        ) {
            let mut wire = Vec::new();
            for line in &lines {
                wire.extend_from_slice(line);
                wire.extend_from_slice(b"\r\n");
            }
            let got = all_lines(LineConfig::new(64), &chunked(&wire, &cuts));
            let want: Vec<Result<Vec<u8>, LineError>> = lines.into_iter().map(Ok).collect();
            prop_assert_eq!(got, want);
        }
    }
}
