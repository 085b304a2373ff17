//! xtext (RFC 3461 4) and the UTF-8 address forms of RFC 6533 3.

use alloc::borrow::Cow;
use alloc::string::String;
use core::fmt::{self, Write};

use super::chars;
use super::error::InvalidValue;

/// Text carried in xtext form: the *decoded* value, which can hold any character but CR, LF, NUL
/// and other controls (RFC 3461 4 lets xtext encode them, and we refuse them, so a decoded value
/// can never carry a line break anywhere). Used for ENVID, the AUTH= mailbox and ORCPT.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct XText<'a>(Cow<'a, str>);

impl<'a> XText<'a> {
    /// A decoded value; refuses control characters.
    pub fn new(value: impl Into<Cow<'a, str>>) -> Result<Self, InvalidValue> {
        let value = value.into();
        if let Some((offset, found)) = value.char_indices().find(|(_, c)| c.is_control()) {
            return Err(InvalidValue::UnexpectedChar {
                what: "xtext",
                offset,
                found,
            });
        }
        Ok(Self(value))
    }

    /// The decoded value.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The same value, owning its text.
    pub fn into_owned(self) -> XText<'static> {
        XText(Cow::Owned(self.0.into_owned()))
    }

    /// Decodes xtext: `+XX` (two upper-case hex digits) stands for an octet; every other
    /// character must be `!` to `~` but `+` and `=`.
    pub(crate) fn decode(encoded: &'a str) -> Result<Self, InvalidValue> {
        const WHAT: &str = "xtext";
        let bytes = encoded.as_bytes();
        let plain = chars::span(bytes, chars::XCHAR);
        match bytes.get(plain) {
            None => return Ok(Self(Cow::Borrowed(encoded))),
            Some(b'+') => {}
            Some(_) => return Err(InvalidValue::at(WHAT, encoded, plain, false)),
        }
        let mut decoded = alloc::vec::Vec::with_capacity(bytes.len());
        let mut at = 0;
        while let Some(&byte) = bytes.get(at) {
            if byte == b'+' {
                let hex = bytes.get(at + 1..at + 3).and_then(|pair| {
                    let high = upper_hex(*pair.first()?)?;
                    let low = upper_hex(*pair.get(1)?)?;
                    Some(high << 4 | low)
                });
                let Some(value) = hex else {
                    return Err(InvalidValue::Malformed {
                        what: WHAT,
                        offset: at,
                        reason: "'+' not followed by two upper-case hex digits",
                    });
                };
                if value < 0x20 || value == 0x7f {
                    // A control character never gets into a value, escaped or not.
                    return Err(InvalidValue::UnexpectedChar {
                        what: WHAT,
                        offset: at,
                        found: char::from(value),
                    });
                }
                decoded.push(value);
                at += 3;
            } else if chars::class(byte) & chars::XCHAR != 0 {
                decoded.push(byte);
                at += 1;
            } else {
                return Err(InvalidValue::at(WHAT, encoded, at, false));
            }
        }
        let text = String::from_utf8(decoded).map_err(|_| InvalidValue::Malformed {
            what: WHAT,
            offset: 0,
            reason: "decodes to invalid UTF-8",
        })?;
        Self::new(text)
    }

    /// [`decode`](Self::decode) for text already checked as `esmtp-value` octets (RFC 5321
    /// 4.1.2: `%d33-60 / %d62-126`, and UTF-8 with SMTPUTF8): then without `+` and non-ASCII
    /// it is all `xchar`, and decodes to itself.
    #[inline]
    pub(crate) fn decode_value(encoded: &'a str) -> Result<Self, InvalidValue> {
        if !ascii_without_plus(encoded.as_bytes()) {
            return Self::decode(encoded);
        }
        Ok(Self(Cow::Borrowed(encoded)))
    }

    /// Decodes RFC 6533 utf-8-addr-xtext / utf-8-addr-unitext: `\x{HEX}` stands for a
    /// character; other characters must be printable ASCII but `+`, `=`, `\`, or (unitext)
    /// non-ASCII.
    pub(crate) fn decode_unitext(encoded: &'a str) -> Result<Self, InvalidValue> {
        const WHAT: &str = "utf-8 address";
        if !encoded.contains('\\') {
            if let Some(bad) = encoded
                .bytes()
                .position(|b| b < 33 || b == 127 || b == b'+' || b == b'=')
            {
                return Err(InvalidValue::at(WHAT, encoded, bad, true));
            }
            return Self::new(Cow::Borrowed(encoded));
        }
        let mut out = String::with_capacity(encoded.len());
        let mut rest = encoded;
        while let Some(c) = rest.chars().next() {
            let offset = encoded.len() - rest.len();
            if c == '\\' {
                let escape = rest
                    .strip_prefix("\\x{")
                    .and_then(|tail| tail.split_once('}'))
                    .and_then(|(hex, tail)| Some((hexpoint(hex)?, tail)));
                let Some((decoded, tail)) = escape else {
                    return Err(InvalidValue::Malformed {
                        what: WHAT,
                        offset,
                        reason: "'\\' not starting a \\x{HEX} escape",
                    });
                };
                out.push(decoded);
                rest = tail;
            } else if c.is_ascii_graphic() && c != '+' && c != '=' || !c.is_ascii() {
                out.push(c);
                rest = rest.get(c.len_utf8()..).unwrap_or_default();
            } else {
                return Err(InvalidValue::at(WHAT, encoded, offset, true));
            }
        }
        Self::new(out)
    }

    /// Octets of the xtext form.
    pub fn xtext_len(&self) -> usize {
        self.0
            .bytes()
            .map(|b| {
                if (33..=126).contains(&b) && b != b'+' && b != b'=' {
                    1
                } else {
                    3
                }
            })
            .sum()
    }

    /// Octets of the RFC 6533 utf-8-addr-xtext form.
    pub fn unitext_len(&self) -> usize {
        self.0
            .chars()
            .map(|c| {
                if c.is_ascii_graphic() && c != '+' && c != '=' && c != '\\' {
                    1
                } else {
                    // \x{HEX}
                    4 + (32 - u32::from(c).leading_zeros()).div_ceil(4).max(1) as usize
                }
            })
            .sum()
    }

    /// Writes the value as xtext.
    pub(crate) fn write_xtext(&self, out: &mut impl Write) -> fmt::Result {
        for byte in self.0.bytes() {
            if (33..=126).contains(&byte) && byte != b'+' && byte != b'=' {
                out.write_char(char::from(byte))?;
            } else {
                write!(out, "+{byte:02X}")?;
            }
        }
        Ok(())
    }

    /// Writes the value as RFC 6533 utf-8-addr-xtext (ASCII only, `\x{HEX}` escapes).
    pub(crate) fn write_unitext(&self, out: &mut impl Write) -> fmt::Result {
        for c in self.0.chars() {
            if c.is_ascii_graphic() && c != '+' && c != '=' && c != '\\' {
                out.write_char(c)?;
            } else {
                write!(out, "\\x{{{:X}}}", u32::from(c))?;
            }
        }
        Ok(())
    }
}

/// RFC 6533 3 HEXPOINT: the code point of an escape, in its one allowed spelling: two digits
/// for U+0080 to U+00FF and the ASCII characters that must be escaped (space, `+`, `=`, `\`),
/// otherwise three to six digits without a leading zero.
fn hexpoint(hex: &str) -> Option<char> {
    if !(2..=6).contains(&hex.len()) || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let value = u32::from_str_radix(hex, 16).ok()?;
    let canonical = match hex.len() {
        2 => value >= 0x80 || matches!(value, 0x20 | 0x2B | 0x3D | 0x5C),
        _ => !hex.starts_with('0') && value >= 0x100,
    };
    if !canonical {
        return None;
    }
    char::from_u32(value)
}

fn upper_hex(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

impl fmt::Display for XText<'_> {
    /// The decoded value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether `bytes` holds neither a `+` nor a non-ASCII octet: one pass a word at a time, the
/// last partial word read as the eight octets that end `bytes` (overlapping the words before).
#[inline]
fn ascii_without_plus(bytes: &[u8]) -> bool {
    const LOW: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    const PLUS: u64 = LOW * b'+' as u64;
    // A high bit for an octet of 0x80 or more, and (exactly, over the word) for a `+`.
    let flags = |chunk: &[u8]| {
        let word = u64::from_le_bytes(<[u8; 8]>::try_from(chunk).unwrap_or_default());
        let plus = word ^ PLUS;
        (word | (plus.wrapping_sub(LOW) & !plus)) & HIGH
    };
    let mut chunks = bytes.chunks_exact(8);
    let mut flagged = 0;
    for chunk in &mut chunks {
        flagged |= flags(chunk);
    }
    if !chunks.remainder().is_empty() {
        match bytes.len().checked_sub(8) {
            Some(start) => flagged |= flags(bytes.get(start..).unwrap_or_default()),
            None => return bytes.iter().all(|b| *b < 0x80 && *b != b'+'),
        }
    }
    flagged == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The word-at-a-time test against a loop over the octets, the odd octet at every place.
    #[test]
    fn ascii_without_plus_agrees_with_an_octet_loop() {
        for len in 0..=24usize {
            for at in 0..len {
                for odd in [b'+', b'*', b',', b'k', 0x2b ^ 0x80, 0x7f, 0x80, 0xff] {
                    let mut bytes = alloc::vec![b'a'; len];
                    bytes[at] = odd;
                    let expected = bytes.iter().all(|b| *b < 0x80 && *b != b'+');
                    assert_eq!(ascii_without_plus(&bytes), expected, "{len} {at} {odd:#x}");
                }
            }
        }
        assert!(ascii_without_plus(b""));
    }

    #[test]
    fn decodes_rfc3461_xtext() {
        assert_eq!(XText::decode("QQ314159").unwrap().as_str(), "QQ314159");
        assert_eq!(XText::decode("a+2Bb+3Dc").unwrap().as_str(), "a+b=c");
        assert!(matches!(
            XText::decode("a+2b").unwrap_err(),
            InvalidValue::Malformed { offset: 1, .. }
        ));
        assert!(XText::decode("a+2").is_err());
        assert!(XText::decode("a=b").is_err());
        assert!(XText::decode("a b").is_err());
        // A decoded CR, LF or NUL is refused: no smuggling through xtext.
        for bad in ["a+0D+0ADATA", "+0A", "+00", "+0D"] {
            assert!(XText::decode(bad).is_err(), "{bad}");
        }
        assert_eq!(XText::decode("+C3+A9").unwrap().as_str(), "é");
        assert!(XText::decode("+C3").is_err());
    }

    #[test]
    fn decodes_rfc6533_unitext() {
        assert_eq!(
            XText::decode_unitext("j\\x{F6}rg@example.com")
                .unwrap()
                .as_str(),
            "jörg@example.com"
        );
        assert_eq!(
            XText::decode_unitext("jörg@example.com").unwrap().as_str(),
            "jörg@example.com"
        );
        assert!(XText::decode_unitext("a\\x{D}b").is_err());
        for bad in [
            "\\x{+41}",
            "\\x{41}",
            "\\x{0041}",
            "\\x{00F6}",
            "\\x{F}",
            "\\x{1234567}",
        ] {
            assert!(XText::decode_unitext(bad).is_err(), "{bad}");
        }
        assert_eq!(
            XText::decode_unitext("\\x{4E2D}\\x{20}").unwrap().as_str(),
            "中 "
        );
        assert!(XText::decode_unitext("a\\x{110000}").is_err());
        assert!(XText::decode_unitext("a\\xF6").is_err());
        assert!(XText::decode_unitext("a+b").is_err());
        let mut out = String::new();
        XText::new("jörg+x@example.com")
            .unwrap()
            .write_unitext(&mut out)
            .unwrap();
        assert_eq!(out, "j\\x{F6}rg\\x{2B}x@example.com");
    }

    proptest! {
        #[test]
        fn xtext_round_trips(value in "[^\\p{Cc}]{0,30}") {
            let value = XText::new(value.as_str()).unwrap();
            let mut encoded = String::new();
            value.write_xtext(&mut encoded).unwrap();
            prop_assert!(encoded.bytes().all(|b| (33..=126).contains(&b) && b != b'='));
            prop_assert_eq!(XText::decode(&encoded).unwrap(), value.clone());
            let mut unitext = String::new();
            value.write_unitext(&mut unitext).unwrap();
            prop_assert_eq!(XText::decode_unitext(&unitext).unwrap(), value);
        }
    }
}
