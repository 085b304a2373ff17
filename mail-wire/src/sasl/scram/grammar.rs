//! The SCRAM message grammar (RFC 5802 section 7) that both sides share.

use alloc::string::String;
use alloc::vec::Vec;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::{KEY_LEN, SCRAM_SHA_256};
use crate::sasl::SaslError;

pub(super) fn malformed(reason: &'static str) -> SaslError {
    SaslError::Malformed {
        mechanism: SCRAM_SHA_256,
        reason,
    }
}

/// A message as text: SCRAM messages are UTF-8 (RFC 5802 section 7).
pub(super) fn text(message: &[u8]) -> Result<&str, SaslError> {
    core::str::from_utf8(message).map_err(|_| malformed("not UTF-8"))
}

/// The value of `part` if it is the attribute `name` (`name=value`).
pub(super) fn attribute<'a>(part: Option<&'a str>, name: &str) -> Option<&'a str> {
    part?.strip_prefix(name)?.strip_prefix('=')
}

/// `attr-val = ALPHA "=" value`, `value = 1*value-char`: the shape of an extension, which is
/// otherwise ignored.
pub(super) fn is_extension(part: &str) -> bool {
    let mut bytes = part.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.next() == Some(b'=')
        && part.len() > 2
}

/// `saslname = 1*(value-safe-char / "=2C" / "=3D")`: undoes the escapes of `,` and `=`.
pub(super) fn decode_name(
    value: &str,
    field: &'static str,
    limit: usize,
) -> Result<String, SaslError> {
    let invalid = |reason| SaslError::InvalidField {
        mechanism: SCRAM_SHA_256,
        field,
        reason,
    };
    if value.is_empty() {
        return Err(invalid("empty"));
    }
    if value.len() > limit {
        return Err(SaslError::FieldTooLong {
            mechanism: SCRAM_SHA_256,
            field,
            limit,
        });
    }
    if value.contains('\0') {
        return Err(invalid("contains NUL"));
    }
    let mut name = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(at) = rest.find('=') {
        name.push_str(rest.get(..at).unwrap_or_default());
        let escape = rest.get(at..at + 3);
        match escape {
            Some("=2C") => name.push(','),
            Some("=3D") => name.push('='),
            _ => return Err(invalid("'=' not followed by 2C or 3D")),
        }
        rest = rest.get(at + 3..).unwrap_or_default();
    }
    name.push_str(rest);
    Ok(name)
}

/// The escaped form of a name: `,` as `=2C`, `=` as `=3D`.
pub(super) fn encode_name(name: &str) -> String {
    let mut encoded = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            ',' => encoded.push_str("=2C"),
            '=' => encoded.push_str("=3D"),
            c => encoded.push(c),
        }
    }
    encoded
}

/// `printable = %x21-2B / %x2D-7E` (a nonce), non-empty and within `limit`.
pub(super) fn check_nonce(nonce: &str, limit: usize) -> Result<(), SaslError> {
    let invalid = |reason| SaslError::InvalidField {
        mechanism: SCRAM_SHA_256,
        field: "nonce",
        reason,
    };
    if nonce.is_empty() {
        return Err(invalid("empty"));
    }
    if nonce.len() > limit {
        return Err(SaslError::FieldTooLong {
            mechanism: SCRAM_SHA_256,
            field: "nonce",
            limit,
        });
    }
    if !nonce.bytes().all(|b| b.is_ascii_graphic() && b != b',') {
        return Err(invalid("not printable ASCII without ','"));
    }
    Ok(())
}

pub(super) fn encode_base64(data: &[u8]) -> String {
    STANDARD.encode(data)
}

/// Decodes base64 (with padding, RFC 5802 section 7), to at most `limit` octets.
pub(super) fn decode_base64(
    value: &str,
    limit: usize,
    what: &'static str,
) -> Result<Vec<u8>, SaslError> {
    // Four symbols carry three octets: refuse what cannot fit before decoding it.
    if value.len() / 4 * 3 > limit + 2 {
        return Err(malformed(what));
    }
    let decoded = STANDARD.decode(value).map_err(|_| malformed(what))?;
    if decoded.len() > limit {
        return Err(malformed(what));
    }
    Ok(decoded)
}

/// A base64 key or signature of exactly 32 octets.
pub(super) fn decode_key(value: &str, what: &'static str) -> Result<[u8; KEY_LEN], SaslError> {
    let decoded = decode_base64(value, KEY_LEN, what)?;
    <[u8; KEY_LEN]>::try_from(decoded.as_slice()).map_err(|_| malformed(what))
}
