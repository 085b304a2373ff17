//! Eight octets at a time: a word read from the input and tested in every octet at once
//! ("SIMD within a register"), so that a scan spends some twenty operations on eight octets
//! rather than a lookup and a test on each. That pays for runs longer than a word, such as
//! parameter values (`NOTIFY=SUCCESS,FAILURE`, `ORCPT=rfc822;...`); a domain's labels, with a
//! rule at each dot and hyphen, were measured slower this way than octet by octet.
//!
//! A mask has the high bit of each octet set where the octet passes the test, nothing else;
//! [`first`] gives the place of its first set octet. The tests are exact (no carry from one
//! octet can reach the next). [`span`] pads a short last word with zeros and counts no further
//! than the octets given, whatever the test says of the padding.

use super::chars;

/// The high bit of every octet: where a mask's answers are.
pub(crate) const HIGH: u64 = 0x8080_8080_8080_8080;
/// The low seven bits of every octet.
const SEVEN: u64 = 0x7f7f_7f7f_7f7f_7f7f;

/// `byte` in every octet.
#[inline(always)]
const fn splat(byte: u8) -> u64 {
    0x0101_0101_0101_0101 * byte as u64
}

/// The place (0 to 7) of the first octet set in `mask`, 8 when none is.
#[inline(always)]
pub(crate) const fn first(mask: u64) -> usize {
    mask.trailing_zeros() as usize / 8
}

/// Octets whose low seven bits are above `bound` (at most 0x7f): the sum carries into the
/// high bit exactly then, and never past it.
#[inline(always)]
const fn above(word: u64, bound: u8) -> u64 {
    debug_assert!(bound <= 0x7f);
    ((word & SEVEN) + splat(0x7f - bound)) & HIGH
}

/// ASCII octets from `low` (1 to 0x7f) to `high` (at most 0x7f).
#[inline(always)]
const fn within(word: u64, low: u8, high: u8) -> u64 {
    debug_assert!(low >= 1 && low <= 0x7f && high <= 0x7f);
    above(word, low - 1) & !above(word, high) & !word & HIGH
}

/// Octets equal to `byte`.
#[inline(always)]
pub(crate) const fn equal(word: u64, byte: u8) -> u64 {
    let diff = word ^ splat(byte);
    // The high bit stays clear only where no bit of the difference is set.
    !(((diff & SEVEN) + SEVEN) | diff) & HIGH
}

/// Octets of non-ASCII characters (0x80 and above).
#[inline(always)]
pub(crate) const fn non_ascii(word: u64) -> u64 {
    word & HIGH
}

/// RFC 5321 `esmtp-value` octets (`!` to `~` but `=`), and non-ASCII ones with `utf8`.
#[inline(always)]
pub(crate) const fn value(word: u64, utf8: bool) -> u64 {
    let ascii = within(word, b'!', b'~') & !equal(word, b'=');
    if utf8 { ascii | non_ascii(word) } else { ascii }
}

/// Octets from the start of `bytes` that `hits` marks, as [`chars::span`] counts them with a
/// class.
#[inline(always)]
pub(crate) fn span(bytes: &[u8], hits: impl Fn(u64) -> u64) -> usize {
    let mut chunks = bytes.chunks_exact(8);
    let mut at = 0;
    for chunk in &mut chunks {
        let word = chunk
            .first_chunk::<8>()
            .map_or(0, |eight| u64::from_le_bytes(*eight));
        let misses = !hits(word) & HIGH;
        if misses != 0 {
            return at + first(misses);
        }
        at += 8;
    }
    // The last octets, padded with zeros, which miss.
    let rest = chunks.remainder();
    let misses = !hits(chars::packed(rest) as u64) & HIGH;
    at + first(misses).min(rest.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::chars::VALUE;
    use alloc::vec::Vec;

    /// The mask that testing each octet of `octets` (at most eight) by `test` makes.
    fn one_by_one(octets: &[u8], test: impl Fn(u8) -> bool) -> u64 {
        octets
            .iter()
            .enumerate()
            .filter(|&(_, &b)| test(b))
            .fold(0, |mask, (at, _)| mask | 0x80 << (8 * at))
    }

    fn is_value(byte: u8, utf8: bool) -> bool {
        chars::class(byte) & chars::with_utf8(VALUE, utf8) != 0
    }

    /// Every octet at every place of a word, among several kinds of neighbours.
    #[test]
    fn masks_match_the_classes_for_every_octet() {
        for fill in [b'a', 0x00, b'=', 0xff, b'.', 0x7f, b' ', 0x80] {
            for place in 0..8 {
                for byte in 0..=255u8 {
                    let mut octets = [fill; 8];
                    octets[place] = byte;
                    let word = u64::from_le_bytes(octets);
                    for utf8 in [false, true] {
                        let expected = one_by_one(&octets, |b| is_value(b, utf8));
                        assert_eq!(value(word, utf8), expected, "{octets:?} {utf8}");
                    }
                    assert_eq!(equal(word, b'.'), one_by_one(&octets, |b| b == b'.'));
                    assert_eq!(equal(word, 0xff), one_by_one(&octets, |b| b == 0xff));
                    assert_eq!(equal(word, 0), one_by_one(&octets, |b| b == 0));
                    assert_eq!(non_ascii(word), one_by_one(&octets, |b| b >= 0x80));
                }
            }
        }
        assert_eq!(first(0), 8);
        assert_eq!(first(0x80 << 24), 3);
        assert_eq!(first(0x80 << 56 | 0x80 << 8), 1);
    }

    #[test]
    fn spans_end_at_the_first_miss() {
        let values = |bytes: &[u8]| span(bytes, |word| value(word, false));
        assert_eq!(values(b""), 0);
        assert_eq!(values(b"8BITMIME"), 8);
        assert_eq!(values(b"8BITMIME BODY"), 8);
        assert_eq!(values(b"rfc822;recipient@example.org"), 28);
        assert_eq!(values(b"rfc822;recipient=example.org"), 16);
        assert_eq!(values(b"a\0b"), 1);
        assert_eq!(values("caf\u{e9} x".as_bytes()), 3);
        assert_eq!(span("caf\u{e9} x".as_bytes(), |word| value(word, true)), 5);
    }

    proptest::proptest! {
        /// Any octets, any length, from any place: the masks mark what the class table marks,
        /// and the spans end where the octet-by-octet ones do.
        #[test]
        fn masks_and_spans_match_octet_by_octet(
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..40),
            start in 0usize..8,
        ) {
            let start = start.min(bytes.len());
            let bytes = bytes.get(start..).unwrap_or_default();
            for at in 0..bytes.len() {
                let octets: Vec<u8> = bytes.iter().skip(at).take(8).copied().collect();
                let mut padded = [0u8; 8];
                padded[..octets.len()].copy_from_slice(&octets);
                let word = u64::from_le_bytes(padded);
                for utf8 in [false, true] {
                    let expected = one_by_one(&padded, |b| is_value(b, utf8));
                    proptest::prop_assert_eq!(value(word, utf8), expected);
                }
                proptest::prop_assert_eq!(equal(word, b'-'), one_by_one(&padded, |b| b == b'-'));
            }
            for utf8 in [false, true] {
                let classes = chars::with_utf8(VALUE, utf8);
                proptest::prop_assert_eq!(
                    span(bytes, |w| value(w, utf8)),
                    chars::span(bytes, classes)
                );
            }
        }

        /// Mostly value octets, so that spans run over several words before they end.
        #[test]
        fn long_spans_match_octet_by_octet(text in "[a-z0-9=;@. \\x00\\x7f\\u{e9}]{0,40}") {
            for utf8 in [false, true] {
                let classes = chars::with_utf8(VALUE, utf8);
                proptest::prop_assert_eq!(
                    span(text.as_bytes(), |w| value(w, utf8)),
                    chars::span(text.as_bytes(), classes)
                );
            }
        }
    }
}
