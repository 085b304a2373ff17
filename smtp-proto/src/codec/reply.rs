//! Replies on the wire (RFC 5321 4.2): one line with [`decode_reply_line`], a whole reply from
//! a buffer with [`decode_reply`], a stream of replies fed in pieces of any size with
//! [`ReplyAssembler`], and back to bytes with [`encode_reply`].
//!
//! ```text
//! Reply-line = *( Reply-code "-" [ textstring ] CRLF ) Reply-code [ SP textstring ] CRLF
//! ```
//!
//! The code alone (`250` CRLF) and the code with a space and no text (`250 ` CRLF) are both
//! accepted, as RFC 5321 4.2 asks of clients. When every line's text starts with the same
//! enhanced status code (RFC 2034 4) whose class is the code's first digit, it is taken off the
//! lines and kept in [`Reply::status`]; if the lines disagree the text stays as it is.
//!
//! ```
//! use bytes::BytesMut;
//! use smtp_proto::codec::{Decoded, ReplyOptions, decode_reply, encode_reply};
//! use smtp_proto::types::{EnhancedStatus, ReplyCode};
//!
//! let options = ReplyOptions::default();
//! let input = b"250 2.1.0 Ok\r\n221 2.0.0 Bye\r\n";
//! let Decoded::Complete(reply, used) = decode_reply(input, &options)? else {
//!     unreachable!("the reply is all there");
//! };
//! assert_eq!(reply.code(), ReplyCode::OK);
//! assert_eq!(reply.status(), Some(EnhancedStatus::SENDER_OK));
//! assert_eq!(reply.lines()[0].as_str(), "Ok");
//! assert_eq!(used, 14);
//!
//! // A prefix is incomplete, never an error.
//! assert_eq!(decode_reply(b"250-mx.example\r\n250-PIPE", &options)?, Decoded::Incomplete);
//!
//! let mut out = BytesMut::new();
//! encode_reply(&reply, &mut out);
//! assert_eq!(&out[..], b"250 2.1.0 Ok\r\n");
//! # Ok::<(), smtp_proto::codec::DecodeError>(())
//! ```

use alloc::vec::Vec;

use bytes::Bytes;
use mail_wire::decode::{frame_line, line_text};
use mail_wire::line::{LineConfig, LineReader};
use mail_wire::{Input, Output};

use super::{DecodeError, DecodeErrorExt, Decoded, ErrorKind, MAX_REPLY_LINE};
use crate::types::{
    EnhancedStatus, InvalidValue, Reply, ReplyCode, ReplyText, check_reply_text,
    parse_status_prefix, reply_code_error, split_text,
};

/// Limits and switches of the reply decoders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyOptions {
    /// The longest line, CRLF included: 512 by default (RFC 5321 4.5.3.1.5).
    pub max_line_length: usize,
    /// The most lines in one reply: 128 by default.
    pub max_lines: usize,
    /// The most octets in one reply, CRLFs included: 64 KiB by default.
    pub max_bytes: usize,
    /// Whether text may be UTF-8 (SMTPUTF8 in effect, RFC 6531 3.7.4.2); otherwise a
    /// non-ASCII octet is an error. Off by default.
    pub utf8: bool,
}

impl ReplyOptions {
    /// The defaults: 512-octet lines, 128 lines, 64 KiB, ASCII only.
    pub const fn new() -> Self {
        Self {
            max_line_length: MAX_REPLY_LINE,
            max_lines: 128,
            max_bytes: 64 * 1024,
            utf8: false,
        }
    }
}

impl Default for ReplyOptions {
    fn default() -> Self {
        Self::new()
    }
}

/// One line of a reply: the code, whether it is the last line, and the text (enhanced status
/// code included: that belongs to the whole reply, see [`decode_reply`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReplyLine<'a> {
    /// The reply code.
    pub code: ReplyCode,
    /// `code SP text` (or the code alone) ends a reply; `code "-" text` does not.
    pub is_last: bool,
    /// The text after the separator.
    pub text: ReplyText<'a>,
}

impl ReplyLine<'_> {
    /// The same line, owning its text.
    pub fn into_owned(self) -> ReplyLine<'static> {
        ReplyLine {
            code: self.code,
            is_last: self.is_last,
            text: self.text.into_owned(),
        }
    }
}

/// Decodes the reply line at the start of `input`.
pub fn decode_reply_line<'a>(
    input: &'a [u8],
    options: &ReplyOptions,
) -> Result<Decoded<ReplyLine<'a>>, DecodeError> {
    let Some((line, used)) = frame_line(input, options.max_line_length)? else {
        check_partial(input, None)?;
        return Ok(Decoded::Incomplete);
    };
    let head = line_head(line)?;
    let text = text_str(
        line.get(head.text_start..).unwrap_or_default(),
        options.utf8,
    )
    .map_err(|error| error.shifted(head.text_start))?;
    Ok(Decoded::Complete(
        ReplyLine {
            code: head.code,
            is_last: head.is_last,
            text: ReplyText::checked(text),
        },
        used,
    ))
}

/// Decodes the whole reply at the start of `input`: [`Decoded::Incomplete`] until its last
/// line has arrived. Lines that disagree on the code are an error
/// ([`ErrorKind::ReplyCodeMismatch`]), and so is a reply over the limits of `options`
/// ([`ErrorKind::TooManyLines`], [`ErrorKind::ReplyTooLarge`], [`ErrorKind::LineTooLong`]),
/// as soon as the bytes show it.
pub fn decode_reply<'a>(
    input: &'a [u8],
    options: &ReplyOptions,
) -> Result<Decoded<Reply<'a>>, DecodeError> {
    if input.get(3) == Some(&b'-') {
        if let Some((reply, used)) = decode_plain_lines(input, options) {
            return Ok(Decoded::Complete(reply, used));
        }
    } else if let Some((reply, used)) = decode_plain_line(input, options) {
        return Ok(Decoded::Complete(reply, used));
    }
    decode_reply_general(input, options)
}

/// [`decode_reply`] without its fast paths: any input, with the precise error.
fn decode_reply_general<'a>(
    input: &'a [u8],
    options: &ReplyOptions,
) -> Result<Decoded<Reply<'a>>, DecodeError> {
    let Some(framed) = frame_reply(input, options, None)? else {
        return Ok(Decoded::Incomplete);
    };
    let reply = reply_str(input.get(..framed.used).unwrap_or_default(), options.utf8)?;
    let mut builder = Builder::new(framed.code, framed.lines == 1);
    for (text, offset) in ReplyLines::new(reply) {
        builder.push(text, offset, options.utf8)?;
    }
    Ok(Decoded::Complete(builder.finish(), framed.used))
}

/// The common case, quickly: a one-line reply of plain text, and the octets it takes.
/// `None` for anything else, which the general path then decodes (or reports).
#[inline]
fn decode_plain_line<'a>(input: &'a [u8], options: &ReplyOptions) -> Option<(Reply<'a>, usize)> {
    let code = ReplyCode::from_digits(input).ok()?;
    if !matches!(input.get(3), Some(b' ' | b'\r')) {
        return None;
    }
    let window = input.get(..options.max_line_length).unwrap_or(input);
    let lf = find_lf_short(window)?;
    let used = lf + 1;
    let line = window.get(..lf).and_then(|line| line.strip_suffix(b"\r"))?;
    if used > options.max_bytes
        || options.max_lines == 0
        || !matches!(line.get(3), None | Some(b' '))
    {
        return None;
    }
    // The status code is plain when there is one, so the whole text is checked at once: in
    // place if it is one or two words long.
    let content = line.get(4..).unwrap_or_default();
    let short_plain = match (content.get(..8), content.len().checked_sub(8)) {
        (Some(first), Some(last)) if content.len() <= 16 => {
            let last = content.get(last..).unwrap_or_default();
            plain_flags(first, options.utf8) | plain_flags(last, options.utf8) == 0
        }
        _ => false,
    };
    if !short_plain && !is_plain(content, options.utf8) {
        return None;
    }
    let class = input.first().map_or(0, |digit| digit.wrapping_sub(b'0'));
    let (status, text) = split_status(class, content);
    let text = core::str::from_utf8(text).ok()?;
    let reply = Reply::decoded_agreeing(code, status, ReplyText::checked(text));
    Some((reply, used))
}

/// The common case of a multi-line reply, quickly: complete, plain text, a few dozen lines.
/// `None` for anything else, which the general path then decodes (or reports).
fn decode_plain_lines<'a>(input: &'a [u8], options: &ReplyOptions) -> Option<(Reply<'a>, usize)> {
    let text = plain_window(input, options)?;
    let bytes = text.as_bytes();
    let code = ReplyCode::from_digits(bytes).ok()?;
    let mut ranges = [(0u16, 0u16); MOST_PLAIN_LINES];
    let (lines, used) = plain_lines(bytes, options, &mut ranges)?;
    let ranges = ranges.get(..lines)?;
    // The CR and LF of each line, and nothing else, as a rule: every text plain at once.
    let all_plain = unplain_octets(bytes.get(..used)?, options.utf8) == 2 * lines;
    // The text of every line, and the status code they all start with.
    let mut status: Option<(EnhancedStatus, usize)> = None;
    for (index, &(start, end)) in ranges.iter().enumerate() {
        let content = bytes.get(usize::from(start)..usize::from(end))?;
        if !all_plain && !is_plain(content, options.utf8) {
            return None;
        }
        let found = match content.first() {
            Some(b'2' | b'4' | b'5') => {
                parse_status_prefix(content).filter(|(status, _)| status.agrees_with(code))
            }
            _ => None,
        };
        if index == 0 {
            status = found;
        } else if status != found {
            status = None;
        }
    }
    let strip = status.map_or(0, |(_, len)| len);
    // Collected from an iterator of known length, each text is written in place.
    let texts: Vec<ReplyText<'a>> = ranges
        .iter()
        .map(|&(start, end)| {
            let (start, end) = (usize::from(start), usize::from(end));
            // The status code, and the space after it if there is more.
            let skip = if strip == 0 {
                0
            } else {
                strip + usize::from(end - start > strip)
            };
            ReplyText::checked(text.get(start + skip..end).unwrap_or_default())
        })
        .collect();
    let reply = Reply::decoded_many(code, status.map(|(status, _)| status), texts);
    Some((reply, used))
}

/// More lines than this take the general path.
pub(crate) const MOST_PLAIN_LINES: usize = 32;

/// The start of `input` as text for a fast path, checked as UTF-8 in one go: the reply and
/// what follows it, up to the size limit and at most 4 KiB.
#[inline]
pub(crate) fn plain_window<'a>(input: &'a [u8], options: &ReplyOptions) -> Option<&'a str> {
    let window = input.get(..options.max_bytes.min(4096)).unwrap_or(input);
    match super::text(window) {
        Ok(text) => Some(text),
        Err(error) => core::str::from_utf8(window.get(..error.valid_up_to())?).ok(),
    }
}

/// Finds the lines of the complete reply at the start of `bytes`, all with the code of the
/// first, within the limits of `options`: records where each line's text starts and where its
/// CR is, and gives the number of lines and the octets the reply takes. `None` for anything
/// unusual, which the general path decides. (The offsets are 16-bit, so that the callers'
/// arrays of them take little to clear: a fast path reads at most 4 KiB.) Apart from its
/// callers, whose many live values would otherwise crowd its loop out of registers.
#[inline(never)]
pub(crate) fn plain_lines(
    bytes: &[u8],
    options: &ReplyOptions,
    ranges: &mut [(u16, u16)],
) -> Option<(usize, usize)> {
    // Every offset below fits in 16 bits.
    let bytes = bytes.get(..usize::from(u16::MAX)).unwrap_or(bytes);
    let code = head_word(bytes, 0)? & 0x00ff_ffff;
    let mut at = 0;
    for (lines, range) in ranges.iter_mut().enumerate() {
        let rest = bytes.get(at..)?;
        // `code [sep text] CR LF` within the line length; a CR inside is for the text's check.
        // Searched through the window (4 KiB at most, `plain_window`), not cut at the line
        // length first: that cut costs every line, and a longer line is the general path's.
        let lf = find_lf(rest)?;
        if lf < 4 || lf >= options.max_line_length || rest.get(lf - 1) != Some(&b'\r') {
            return None;
        }
        let head = head_word(rest, 0)?;
        if head & 0x00ff_ffff != code {
            return None;
        }
        let cr = at + lf - 1;
        // The text starts after the separator (the CR comes after it: the LF is not at 4),
        // or at the CR of a bare code.
        let (is_last, start) = match (head >> 24) as u8 {
            b'-' => (false, at + 4),
            b' ' => (true, at + 4),
            b'\r' if lf == 4 => (true, cr),
            _ => return None,
        };
        *range = (start as u16, cr as u16);
        at += lf + 1;
        if is_last {
            let lines = lines + 1;
            return (lines <= options.max_lines && at <= options.max_bytes).then_some((lines, at));
        }
    }
    None
}

/// The four octets at `at` as one little-endian word.
#[inline(always)]
fn head_word(bytes: &[u8], at: usize) -> Option<u32> {
    let head = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(<[u8; 4]>::try_from(head).ok()?))
}

/// The enhanced status code at the start of `text` if it agrees with the reply code whose
/// first digit is `class`, and the text after it (and after the space that follows it).
#[inline(always)]
fn split_status(class: u8, text: &[u8]) -> (Option<EnhancedStatus>, &[u8]) {
    if !matches!(text.first(), Some(b'2' | b'4' | b'5')) {
        return (None, text);
    }
    match parse_status_prefix(text) {
        Some((status, len)) if status.class() == class => {
            let skip = len + usize::from(text.len() > len);
            (Some(status), text.get(skip..).unwrap_or_default())
        }
        _ => (None, text),
    }
}

/// Whether `text` is all printable ASCII and HT (and non-ASCII, with `utf8`).
#[inline]
pub(crate) fn is_plain(text: &[u8], utf8: bool) -> bool {
    // A word at a time: any control octet, DEL, or (without `utf8`) non-ASCII octet sets a
    // high bit; then the octets are looked at one by one, which also lets HT through.
    let flags = |chunk: &[u8]| plain_flags(chunk, utf8);
    let mut chunks = text.chunks_exact(8);
    let mut flagged = 0;
    for chunk in &mut chunks {
        flagged |= flags(chunk);
    }
    let plain_byte = |b: u8| (b >= 0x20 && b != 0x7f && (utf8 || b < 0x80)) || b == b'\t';
    if !chunks.remainder().is_empty() {
        // The last eight octets as one word, overlapping the words before; a text shorter
        // than a word is looked at octet by octet.
        match text.len().checked_sub(8) {
            Some(start) => flagged |= flags(text.get(start..).unwrap_or_default()),
            None => return text.iter().all(|b| plain_byte(*b)),
        }
    }
    flagged == 0 || text.iter().all(|b| plain_byte(*b))
}

/// The eight octets of `chunk` (a shorter one reads as zeros) as a word whose high bits flag
/// any control octet, DEL, or (without `utf8`) non-ASCII octet; higher flags than the first
/// may be false, so a word with any flag needs a closer look. Zero when all are plain.
#[inline(always)]
fn plain_flags(chunk: &[u8], utf8: bool) -> u64 {
    const DEL: u64 = LOW * 0x7f;
    let word = u64::from_le_bytes(<[u8; 8]>::try_from(chunk).unwrap_or_default());
    let control = word.wrapping_sub(LOW * 0x20) & !word;
    let del = (word ^ DEL).wrapping_sub(LOW) & !(word ^ DEL);
    let high = if utf8 { 0 } else { word };
    (control | del | high) & HIGH
}

/// How many octets of `text` are a control character (HT, CR and LF among them), DEL, or
/// (without `utf8`) not ASCII: a word at a time, exactly (no carry crosses octets).
#[inline]
pub(crate) fn unplain_octets(text: &[u8], utf8: bool) -> usize {
    const SEVEN: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let flags = |word: u64| {
        let low = word & SEVEN;
        // Below 0x20 in the low seven bits, or all of them set (DEL).
        let control = !(low + LOW * 0x60) | (low + LOW);
        // A UTF-8 octet (high bit set) is plain with `utf8`, and never without.
        let flagged = if utf8 {
            control & !word
        } else {
            control | word
        };
        (flagged & HIGH).count_ones() as usize
    };
    let mut chunks = text.chunks_exact(8);
    let mut count = 0;
    for chunk in &mut chunks {
        count += flags(u64::from_le_bytes(
            <[u8; 8]>::try_from(chunk).unwrap_or_default(),
        ));
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        // The last octets in the low end of a word; the empty places count as plain spaces.
        let word = rest
            .iter()
            .rev()
            .fold(0, |word, &byte| word << 8 | u64::from(byte));
        let padding = !0u64 << (8 * rest.len());
        count += flags(word | (padding & (LOW * u64::from(b' '))));
    }
    count
}

/// Writes `reply`: `code "-" text` CRLF for every line but the last, `code SP text` CRLF for
/// the last (the code alone when the text is empty), the enhanced status code, if any, at the
/// start of every line's text. A line that would be longer than 512 octets (RFC 5321
/// 4.5.3.1.5) is split into several, at a space where there is one.
pub fn encode_reply<O: Output + ?Sized>(reply: &Reply<'_>, dst: &mut O) {
    let code = reply.code().digits();
    let mut status_buf = [0u8; 11];
    let status = reply
        .status()
        .map(|status| status_bytes(status, &mut status_buf));
    // "250-" and CRLF, and the status code with its space.
    let budget = MAX_REPLY_LINE - 6 - status.map_or(0, |s| s.len() + 1);
    let lines = reply.lines();
    for (index, line) in lines.iter().enumerate() {
        let mut rest = line.as_str();
        loop {
            let (chunk, next) = split_text(rest, budget);
            let last = index + 1 == lines.len() && next.is_none();
            dst.reserve(chunk.len() + 20);
            dst.put(&code);
            if !last {
                dst.put(b"-");
            } else if status.is_some() || !chunk.is_empty() {
                dst.put(b" ");
            }
            if let Some(status) = status {
                dst.put(status);
                if !chunk.is_empty() {
                    dst.put(b" ");
                }
            }
            dst.put(chunk.as_bytes());
            dst.put(b"\r\n");
            match next {
                Some(next) => rest = next,
                None => break,
            }
        }
    }
}

/// `5.1.1` into `buf`, without allocating.
fn status_bytes(status: EnhancedStatus, buf: &mut [u8; 11]) -> &[u8] {
    let mut len = 0;
    let mut put = |byte: u8| {
        if let Some(slot) = buf.get_mut(len) {
            *slot = byte;
            len += 1;
        }
    };
    put(b'0' + status.class());
    for part in [status.subject(), status.detail()] {
        put(b'.');
        let digits = [part / 100, part / 10 % 10, part % 10];
        let skip = if part >= 100 {
            0
        } else if part >= 10 {
            1
        } else {
            2
        };
        for digit in digits.iter().skip(skip) {
            // A digit: below 10.
            put(b'0' + *digit as u8);
        }
    }
    buf.get(..len).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Lines and replies, shared with the EHLO decoder.

/// The start of a reply line.
#[derive(Debug, Clone, Copy)]
struct Head {
    code: ReplyCode,
    is_last: bool,
    /// Where the text starts in the line: after the code and its separator.
    text_start: usize,
}

/// Reads the code and the separator of a complete line.
fn line_head(line: &[u8]) -> Result<Head, DecodeError> {
    let code = ReplyCode::from_digits(line)
        .map_err(|at| DecodeError::new(at, ErrorKind::InvalidReplyCode))?;
    let (is_last, text_start) = match line.get(3) {
        None => (true, 3),
        Some(b' ') => (true, 4),
        Some(b'-') => (false, 4),
        Some(_) => return Err(DecodeError::syntax(3, "SP or \"-\" after the reply code")),
    };
    Ok(Head {
        code,
        is_last,
        text_start,
    })
}

/// Fails early on the start of a line that no reply line can begin with.
fn check_partial(partial: &[u8], expected: Option<ReplyCode>) -> Result<(), DecodeError> {
    let digits = partial.get(..3).unwrap_or(partial);
    if let Some(at) = reply_code_error(digits) {
        return Err(DecodeError::new(at, ErrorKind::InvalidReplyCode));
    }
    if let (Ok(code), Some(expected)) = (ReplyCode::from_digits(partial), expected) {
        if code != expected {
            return Err(mismatch(expected, code, 0));
        }
    }
    // A CR there may end a bare code (`250` CRLF).
    match partial.get(3) {
        None | Some(b' ' | b'-' | b'\r') => Ok(()),
        Some(_) => Err(DecodeError::syntax(3, "SP or \"-\" after the reply code")),
    }
}

fn mismatch(expected: ReplyCode, found: ReplyCode, offset: usize) -> DecodeError {
    DecodeError::new(
        offset,
        ErrorKind::ReplyCodeMismatch {
            expected: expected.get(),
            found: found.get(),
        },
    )
}

/// The error for text that breaks its grammar `base` octets into the unit, with the specific
/// kinds for NUL and non-ASCII.
pub(crate) fn text_error(base: usize, invalid: InvalidValue) -> DecodeError {
    match invalid {
        InvalidValue::NonAscii { offset, .. } => {
            DecodeError::new(base + offset, ErrorKind::NonAscii)
        }
        InvalidValue::UnexpectedChar {
            offset,
            found: '\0',
            ..
        } => DecodeError::new(base + offset, ErrorKind::Nul),
        InvalidValue::UnexpectedChar {
            offset,
            found: '\r',
            ..
        } => DecodeError::new(base + offset, ErrorKind::BareCr),
        other => DecodeError::value(base, other),
    }
}

/// Reply text as a `str`: UTF-8 only with `utf8`, no control characters but HT.
#[inline]
pub(crate) fn text_str(text: &[u8], utf8: bool) -> Result<&str, DecodeError> {
    if is_plain(text, false) {
        if let Ok(checked) = super::text(text) {
            return Ok(checked);
        }
    }
    // NUL, non-ASCII without `utf8`, invalid UTF-8; then the other control characters.
    let checked = line_text(text, utf8)?;
    check_reply_text(checked, utf8).map_err(|invalid| text_error(0, invalid))?;
    Ok(checked)
}

const LOW: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;
const LF: u64 = LOW * b'\n' as u64;

/// The first LF among the eight octets of `chunk` (of eight octets; a shorter one reads as
/// zeros).
#[inline(always)]
fn lf_in_word(chunk: &[u8]) -> Option<usize> {
    let word = u64::from_le_bytes(<[u8; 8]>::try_from(chunk).unwrap_or_default()) ^ LF;
    // The lowest flagged byte is the first LF (higher flags may be false).
    let found = word.wrapping_sub(LOW) & !word & HIGH;
    (found != 0).then(|| (found.trailing_zeros() / 8) as usize)
}

/// The first LF in the whole eight-octet words that start `haystack`: `Ok` with its index,
/// or `Err` with where the words end and the octets after them.
#[inline(always)]
fn lf_in_words(haystack: &[u8]) -> Result<usize, (usize, &[u8])> {
    let mut chunks = haystack.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        if let Some(at) = lf_in_word(chunk) {
            return Ok(offset + at);
        }
        offset += 8;
    }
    Err((offset, chunks.remainder()))
}

/// The first LF in `haystack`. Reply lines are short, and a word at a time beats both a
/// byte loop and the call into `memchr` for them.
#[inline]
pub(crate) fn find_lf(haystack: &[u8]) -> Option<usize> {
    match lf_in_words(haystack) {
        Ok(at) => Some(at),
        Err((offset, rest)) => rest.iter().position(|b| *b == b'\n').map(|at| offset + at),
    }
}

/// [`find_lf`] for a haystack that is often a single short line (one-line replies,
/// commands): its last partial word is read as the eight octets that end the haystack,
/// overlapping the words before, rather than octet by octet.
#[inline]
pub(crate) fn find_lf_short(haystack: &[u8]) -> Option<usize> {
    match lf_in_words(haystack) {
        Ok(at) => Some(at),
        Err((_, [])) => None,
        // The octets already looked at hold no LF, so the first LF of the last eight octets
        // is the first of the haystack.
        Err(_) => match haystack.len().checked_sub(8) {
            Some(start) => {
                lf_in_word(haystack.get(start..).unwrap_or_default()).map(|at| start + at)
            }
            None => haystack.iter().position(|b| *b == b'\n'),
        },
    }
}

/// What [`frame_reply`] found.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Framed {
    /// Octets the reply takes.
    pub(crate) used: usize,
    /// Its code.
    pub(crate) code: ReplyCode,
    /// Its number of lines.
    pub(crate) lines: usize,
}

/// Frames the lines of the reply at the start of `input`, checking their codes (all the same,
/// and `expected` if given), their separators and the limits; not their text. `None` while the
/// reply is incomplete.
pub(crate) fn frame_reply(
    input: &[u8],
    options: &ReplyOptions,
    expected: Option<ReplyCode>,
) -> Result<Option<Framed>, DecodeError> {
    let mut at = 0;
    let mut count = 0;
    let mut first = expected;
    loop {
        if count >= options.max_lines {
            let limit = options.max_lines;
            return Err(DecodeError::new(at, ErrorKind::TooManyLines { limit }));
        }
        let too_large = |end: usize| {
            (end > options.max_bytes).then_some(DecodeError::new(
                at,
                ErrorKind::ReplyTooLarge {
                    limit: options.max_bytes,
                },
            ))
        };
        let rest = input.get(at..).unwrap_or_default();
        let window = rest.get(..options.max_line_length).unwrap_or(rest);
        // A CR inside the line is left to the checks of the code and the text, which report
        // it as a bare CR.
        let Some(lf) = find_lf(window) else {
            // Incomplete, too long, or with a bare CR already.
            frame_line(rest, options.max_line_length).map_err(|e| e.shifted(at))?;
            check_partial(rest, first).map_err(|e| e.shifted(at))?;
            return match too_large(at + rest.len()) {
                Some(error) => Err(error),
                None => Ok(None),
            };
        };
        let Some(line) = window.get(..lf).and_then(|line| line.strip_suffix(b"\r")) else {
            return Err(DecodeError::new(at + lf, ErrorKind::BareLf));
        };
        let used = lf + 1;
        if let Some(error) = too_large(at + used) {
            return Err(error);
        }
        let head = line_head(line).map_err(|e| e.shifted(at))?;
        match first {
            Some(expected) if expected != head.code => {
                return Err(mismatch(expected, head.code, at));
            }
            Some(_) => {}
            None => first = Some(head.code),
        }
        count += 1;
        at += used;
        if head.is_last {
            return Ok(Some(Framed {
                used: at,
                code: head.code,
                lines: count,
            }));
        }
    }
}

/// A framed reply as a `str`: UTF-8 only with `utf8`.
pub(crate) fn reply_str(reply: &[u8], utf8: bool) -> Result<&str, DecodeError> {
    core::str::from_utf8(reply).map_err(|error| {
        if utf8 {
            DecodeError::new(error.valid_up_to(), ErrorKind::InvalidUtf8)
        } else {
            let at = reply
                .iter()
                .position(|b| *b >= 0x80)
                .unwrap_or(error.valid_up_to());
            DecodeError::new(at, ErrorKind::NonAscii)
        }
    })
}

/// The text of each line of a reply [`frame_reply`] has checked (after the code and its
/// separator), with the offset where it starts.
pub(crate) struct ReplyLines<'a> {
    reply: &'a str,
    at: usize,
}

impl<'a> ReplyLines<'a> {
    pub(crate) fn new(reply: &'a str) -> Self {
        Self { reply, at: 0 }
    }
}

impl<'a> Iterator for ReplyLines<'a> {
    type Item = (&'a str, usize);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.reply.as_bytes().get(self.at..)?;
        let lf = find_lf(rest)?;
        // Every line is `code [sep text] CRLF`.
        let content = lf.saturating_sub(1);
        let start = self.at + content.min(4);
        let text = self.reply.get(start..self.at + content).unwrap_or_default();
        self.at += lf + 1;
        Some((text, start))
    }
}

/// Collects the lines of a reply and finds its enhanced status code.
struct Builder<'a> {
    code: ReplyCode,
    /// The line of a one-line reply.
    one: Option<ReplyText<'a>>,
    /// The lines of a longer one.
    lines: Vec<ReplyText<'a>>,
    single: bool,
    /// The status code at the start of every line so far, with its length; `None` once a
    /// line has none or another.
    status: Option<(EnhancedStatus, usize)>,
}

impl<'a> Builder<'a> {
    fn new(code: ReplyCode, single: bool) -> Self {
        Self {
            code,
            one: None,
            lines: if single {
                Vec::new()
            } else {
                Vec::with_capacity(16)
            },
            single,
            status: None,
        }
    }

    /// Adds a line whose text starts `offset` octets into the unit.
    #[inline]
    fn push(&mut self, checked: &'a str, offset: usize, utf8: bool) -> Result<(), DecodeError> {
        let text = checked.as_bytes();
        if !is_plain(text, utf8) {
            check_reply_text(checked, utf8).map_err(|e| text_error(offset, e))?;
        }
        let found = match text.first() {
            Some(b'2' | b'4' | b'5') => {
                parse_status_prefix(text).filter(|(status, _)| status.agrees_with(self.code))
            }
            _ => None,
        };
        let first = self.one.is_none() && self.lines.is_empty();
        if first {
            self.status = found;
        } else if self.status != found {
            self.status = None;
        }
        let line = ReplyText::checked(checked);
        if self.single && first {
            self.one = Some(line);
        } else {
            self.lines.push(line);
        }
        Ok(())
    }

    fn finish(mut self) -> Reply<'a> {
        let status = self.status.map(|(status, len)| {
            for line in self.one.iter_mut().chain(self.lines.iter_mut()) {
                // The status code, and the space after it if there is more.
                let strip = len + usize::from(line.as_str().len() > len);
                line.drop_front(strip);
            }
            status
        });
        match self.one {
            Some(one) => Reply::decoded_one(self.code, status, one),
            None => Reply::decoded_many(self.code, status, self.lines),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The assembler.

/// Joins the lines of replies fed in pieces of any size, and hands out each reply once its
/// last line has arrived.
///
/// It holds at most one line being received ([`ReplyOptions::max_line_length`]) and the lines
/// of one reply ([`ReplyOptions::max_bytes`]), whatever the peer sends: a reply over the
/// limits is consumed to its last line without being kept, then reported as
/// [`ErrorKind::TooManyLines`] or [`ErrorKind::ReplyTooLarge`]. An over-long line, a bad code,
/// or a code that differs from the reply's first line is reported once that line has been
/// consumed, and the next line starts a new reply; a client should treat any of these as
/// the end of the session.
///
/// ```
/// use smtp_proto::codec::{ReplyAssembler, ReplyOptions};
/// use smtp_proto::types::ReplyCode;
///
/// let mut assembler = ReplyAssembler::new(ReplyOptions::default());
/// let mut codes = Vec::new();
/// for chunk in [&b"250-mx.example\r\n25"[..], b"0 PIPELINING\r\n354 go", b" ahead\r\n"] {
///     let mut input = chunk;
///     while let Some(reply) = assembler.next_reply(&mut input) {
///         let reply = reply?;
///         codes.push((reply.code(), reply.lines().len()));
///     }
/// }
/// assert_eq!(codes, [(ReplyCode::OK, 2), (ReplyCode::START_DATA, 1)]);
/// # Ok::<(), smtp_proto::codec::DecodeError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ReplyAssembler {
    options: ReplyOptions,
    reader: LineReader,
    /// The lines of the reply being received (or last handed out), codes included.
    lines: Vec<Bytes>,
    /// Octets of `lines`.
    held: usize,
    /// The code of the reply being received.
    code: Option<ReplyCode>,
    /// Octets of the reply being received so far, CRLFs included.
    octets: usize,
    /// What is wrong with the reply being received; its lines are no longer kept.
    fault: Option<DecodeError>,
    /// `lines` holds the reply handed out last; drop it before the next.
    handed_out: bool,
}

impl ReplyAssembler {
    /// An assembler with the given limits.
    pub fn new(options: ReplyOptions) -> Self {
        Self {
            options,
            reader: LineReader::new(LineConfig::new(options.max_line_length)),
            lines: Vec::new(),
            held: 0,
            code: None,
            octets: 0,
            fault: None,
            handed_out: false,
        }
    }

    /// The limits.
    pub fn options(&self) -> &ReplyOptions {
        &self.options
    }

    /// Octets held between calls: never more than `max_bytes` plus `max_line_length`.
    pub fn buffered(&self) -> usize {
        self.held + self.reader.buffered()
    }

    /// Whether a reply has begun and not ended (for end-of-stream checks).
    pub fn is_mid_reply(&self) -> bool {
        self.code.is_some() || self.reader.is_mid_line()
    }

    /// The error the reply being received already has (too many lines, too many octets): it
    /// is returned by [`next_reply`](Self::next_reply) once the reply's last line arrives,
    /// but a peer that has no intention of ending the reply can be dropped at once.
    pub fn pending_error(&self) -> Option<&DecodeError> {
        self.fault.as_ref()
    }

    /// Forgets any partial reply (after a TLS upgrade, say).
    pub fn reset(&mut self) {
        self.reader.reset();
        self.clear_reply();
    }

    /// Consumes bytes from the front of `input` up to the end of the next reply and returns
    /// it (borrowing the assembler until the next call), or the error for it. Returns `None`
    /// once `input` is used up without completing a reply; bytes after the returned reply stay
    /// in `input`.
    pub fn next_reply<I: Input>(
        &mut self,
        input: &mut I,
    ) -> Option<Result<Reply<'_>, DecodeError>> {
        if self.handed_out {
            self.handed_out = false;
            self.lines.clear();
            self.held = 0;
        }
        loop {
            let start = self.octets;
            let line = match self.reader.next_line(input)? {
                Ok(line) => line,
                Err(error) => {
                    self.clear_reply();
                    return Some(Err(DecodeError::from(error).shifted(start)));
                }
            };
            self.octets = self.octets.saturating_add(line.len() + 2);
            let head = match line_head(&line) {
                Ok(head) => head,
                Err(error) => {
                    self.clear_reply();
                    return Some(Err(error.shifted(start)));
                }
            };
            match self.code {
                Some(expected) if expected != head.code => {
                    self.clear_reply();
                    return Some(Err(mismatch(expected, head.code, start)));
                }
                Some(_) => {}
                None => self.code = Some(head.code),
            }
            if self.fault.is_none() {
                let kind = if self.lines.len() >= self.options.max_lines {
                    Some(ErrorKind::TooManyLines {
                        limit: self.options.max_lines,
                    })
                } else if self.octets > self.options.max_bytes {
                    Some(ErrorKind::ReplyTooLarge {
                        limit: self.options.max_bytes,
                    })
                } else {
                    None
                };
                match kind {
                    Some(kind) => {
                        self.fault = Some(DecodeError::new(start, kind));
                        self.lines.clear();
                        self.held = 0;
                    }
                    None => {
                        self.held += line.len();
                        self.lines.push(line);
                    }
                }
            }
            if head.is_last {
                let fault = self.fault.take();
                self.code = None;
                self.octets = 0;
                if let Some(error) = fault {
                    self.clear_reply();
                    return Some(Err(error));
                }
                self.handed_out = true;
                return Some(assemble(head.code, &self.lines, self.options.utf8));
            }
        }
    }

    fn clear_reply(&mut self) {
        self.lines.clear();
        self.held = 0;
        self.code = None;
        self.octets = 0;
        self.fault = None;
        self.handed_out = false;
    }
}

/// The reply made of whole `lines` (codes included) that all carry `code`.
fn assemble(code: ReplyCode, lines: &[Bytes], utf8: bool) -> Result<Reply<'_>, DecodeError> {
    let mut builder = Builder::new(code, lines.len() == 1);
    let mut offset = 0;
    for line in lines {
        let start = line.len().min(4);
        let text = line.get(start..).unwrap_or_default();
        let checked = text_str(text, utf8).map_err(|e| e.shifted(offset + start))?;
        builder.push(checked, offset + start, utf8)?;
        offset += line.len() + 2;
    }
    Ok(builder.finish())
}

#[cfg(test)]
mod tests;
