//! Character classes of the SMTP grammar, looked up in one table so that the scanners spend a
//! load and a test per octet.

/// RFC 5321 4.1.2 `Let-dig`: a letter or digit.
pub(crate) const LET_DIG: u8 = 1;
/// `-`, which LDH strings and keywords allow inside.
pub(crate) const HYPHEN: u8 = 2;
/// RFC 5322 3.2.3 `atext` (letters, digits and ``!#$%&'*+-/=?^_`{|}~``).
pub(crate) const ATEXT: u8 = 4;
/// RFC 5321 `esmtp-value` octets: `!` to `~` but `=`.
pub(crate) const VALUE: u8 = 8;
/// RFC 3461 4 `xchar`: `!` to `~` but `+` and `=`.
pub(crate) const XCHAR: u8 = 16;
/// An octet of a UTF-8 sequence (0x80 and above), allowed where SMTPUTF8 extends a class.
pub(crate) const HIGH: u8 = 32;
/// RFC 4954 3 `mech-char` (letters, digits, `-` and `_`; lower-case letters accepted too).
pub(crate) const MECHANISM: u8 = 64;

// Evaluated at compile time (for the static table), `byte` below 256: an index out of range
// would fail the build, never a run.
#[allow(clippy::indexing_slicing)]
const fn build() -> [u8; 256] {
    let mut table = [0u8; 256];
    let mut byte = 0usize;
    while byte < 256 {
        let b = byte as u8;
        let mut class = 0;
        if b.is_ascii_alphanumeric() {
            class |= LET_DIG | ATEXT;
        }
        if b == b'-' {
            class |= HYPHEN;
        }
        if matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'/'
                | b'='
                | b'?'
                | b'^'
                | b'_'
                | b'`'
                | b'{'
                | b'|'
                | b'}'
                | b'~'
        ) {
            class |= ATEXT;
        }
        if b > b' ' && b < 0x7f && b != b'=' {
            class |= VALUE;
        }
        if b > b' ' && b < 0x7f && b != b'=' && b != b'+' {
            class |= XCHAR;
        }
        if b >= 0x80 {
            class |= HIGH;
        }
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            class |= MECHANISM;
        }
        table[byte] = class;
        byte += 1;
    }
    table
}

static TABLE: [u8; 256] = build();

/// The classes `byte` belongs to.
#[inline(always)]
pub(crate) fn class(byte: u8) -> u8 {
    // A u8 index is always within the 256 entries.
    TABLE.get(usize::from(byte)).copied().unwrap_or(0)
}

/// `class` widened with [`HIGH`] when UTF-8 is allowed.
#[inline(always)]
pub(crate) const fn with_utf8(class: u8, utf8: bool) -> u8 {
    if utf8 { class | HIGH } else { class }
}

/// Octets from the start of `bytes` that belong to any of `classes`.
#[inline(always)]
pub(crate) fn span(bytes: &[u8], classes: u8) -> usize {
    bytes
        .iter()
        .position(|&b| class(b) & classes == 0)
        .unwrap_or(bytes.len())
}

/// Up to 16 octets as an integer, the first in the lowest octet, zeros after the last (more
/// than 16: the first 16). Read as two overlapping halves, each at once, rather than octet by
/// octet; built in registers (going through a stack array stalls on store forwarding).
#[inline(always)]
pub(crate) fn packed(octets: &[u8]) -> u128 {
    fn half<const N: usize>(octets: &[u8], at: usize) -> Option<[u8; N]> {
        octets.get(at..at + N)?.try_into().ok()
    }
    let len = octets.len().min(16);
    if len >= 8 {
        let (Some(start), Some(end)) = (half::<8>(octets, 0), half::<8>(octets, len - 8)) else {
            return 0;
        };
        // The end's octets shifted down to their places: those it shares with the start
        // fall on the same octets, equal.
        let end = u128::from(u64::from_le_bytes(end)) << 64 >> (8 * (16 - len));
        return u128::from(u64::from_le_bytes(start)) | end;
    }
    if len >= 4 {
        let (Some(start), Some(end)) = (half::<4>(octets, 0), half::<4>(octets, len - 4)) else {
            return 0;
        };
        let end = u64::from(u32::from_le_bytes(end)) << 32 >> (8 * (8 - len));
        return u128::from(u64::from(u32::from_le_bytes(start)) | end);
    }
    octets
        .iter()
        .rev()
        .fold(0, |key, &byte| key << 8 | u128::from(byte))
}

/// One to eight ASCII digits as their number, read at once: `None` for anything else
/// (empty, longer, or an octet that is not a digit).
#[inline(always)]
pub(crate) fn short_number(text: &[u8]) -> Option<u64> {
    const ZEROS: u64 = 0x3030_3030_3030_3030;
    let len = text.len();
    if len == 0 || len > 8 {
        return None;
    }
    // The digits at the end of a word of eight, '0's before them: the first octet (the
    // most significant digit) lowest.
    let pad = 8 * (8 - len);
    let word = ((packed(text) as u64) << pad) | ZEROS.checked_shr(64 - pad as u32).unwrap_or(0);
    // Every octet 0x30 to 0x39: its high half 3, and still 3 with 6 added.
    let high = 0xf0f0_f0f0_f0f0_f0f0;
    if word & high != ZEROS || word.wrapping_add(0x0606_0606_0606_0606) & high != ZEROS {
        return None;
    }
    // Pairs of digits, then fours, then the eight (each step a multiply and a shift).
    let mut value = word & 0x0f0f_0f0f_0f0f_0f0f;
    value = (value.wrapping_mul(10 << 8 | 1) >> 8) & 0x00ff_00ff_00ff_00ff;
    value = (value.wrapping_mul(100 << 16 | 1) >> 16) & 0x0000_ffff_0000_ffff;
    value = value.wrapping_mul(10_000 << 32 | 1) >> 32;
    Some(value)
}

/// [`packed`] with the lower-case letters made capitals: bit 5 is cleared in every octet that
/// has bit 6 set, which turns exactly the lower-case letters into capitals and no other octet
/// into a letter, a digit or `-` (the octets of the known keywords).
#[inline(always)]
pub(crate) fn packed_upper(octets: &[u8]) -> u128 {
    let key = packed(octets);
    key & !((key & 0x4040_4040_4040_4040_4040_4040_4040_4040) >> 1)
}

/// [`packed`] at compile time, for constants.
// Evaluated at compile time, within the loop's bounds: an index out of range would fail the
// build, never a run.
#[allow(clippy::indexing_slicing)]
pub(crate) const fn packed_const(octets: &[u8]) -> u128 {
    let mut key = [0u8; 16];
    let mut at = 0;
    while at < octets.len() && at < 16 {
        key[at] = octets[at];
        at += 1;
    }
    u128::from_le_bytes(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_match_the_grammar() {
        for byte in 0..=255u8 {
            let c = class(byte);
            assert_eq!(c & LET_DIG != 0, byte.is_ascii_alphanumeric());
            assert_eq!(c & VALUE != 0, (33..=126).contains(&byte) && byte != b'=');
            assert_eq!(
                c & XCHAR != 0,
                (33..=126).contains(&byte) && byte != b'=' && byte != b'+'
            );
            assert_eq!(c & HIGH != 0, byte >= 0x80);
            let mechanism = byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_';
            assert_eq!(c & MECHANISM != 0, mechanism);
            let atext = byte.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&byte);
            assert_eq!(c & ATEXT != 0, atext);
        }
        assert_eq!(span(b"abc-1 x", LET_DIG | HYPHEN), 5);
    }

    /// Every octet at every place of one to eight digits: a number only when all are digits.
    #[test]
    fn short_numbers_refuse_every_other_octet() {
        for len in 1..=8usize {
            for place in 0..len {
                for byte in 0..=255u8 {
                    let mut text = alloc::vec![b'5'; len];
                    text[place] = byte;
                    let expected = text.iter().all(u8::is_ascii_digit).then(|| {
                        text.iter()
                            .fold(0u64, |value, digit| value * 10 + u64::from(digit - b'0'))
                    });
                    assert_eq!(short_number(&text), expected, "{text:?}");
                }
            }
        }
        assert_eq!(short_number(b""), None);
        assert_eq!(short_number(b"123456789"), None);
        assert_eq!(short_number(b"99999999"), Some(99_999_999));
        assert_eq!(short_number(b"00000000"), Some(0));
    }

    proptest::proptest! {
        /// Read at once, the digits make the number they make one by one.
        #[test]
        fn short_numbers_read_as_digit_by_digit(text in "[0-9]{0,9}|[0-9/:a ]{0,9}") {
            let expected = (!text.is_empty() && text.len() <= 8 && text.bytes().all(|b| b.is_ascii_digit()))
                .then(|| text.parse::<u64>().ok())
                .flatten();
            proptest::prop_assert_eq!(short_number(text.as_bytes()), expected);
        }
    }
}
