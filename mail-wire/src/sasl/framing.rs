//! The base64 lines of a SASL exchange, shared by SMTP AUTH (RFC 4954) and POP3 AUTH (RFC 5034).
//!
//! Only the payload is handled here: the protocol crates add their own prefixes (`334 ` in SMTP,
//! `+ ` in POP3) and the CRLF.

use alloc::string::String;
use alloc::vec::Vec;

use base64::Engine;
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::{DecodePaddingMode, general_purpose::STANDARD};

use super::SaslError;
use crate::Secret;
use crate::line::LineConfig;

/// RFC 4954 section 4: "12288 octets is considered to be a sufficient line length limit for
/// handling of deployed authentication mechanisms". Counted like [`LineConfig::new`] counts:
/// the whole line, CRLF included; [`auth_line_config`] frames lines with it.
pub const AUTH_LINE_LIMIT: usize = 12288;

/// The most octets a client line of [`AUTH_LINE_LIMIT`] octets can carry: 12286 octets of text
/// before the CRLF hold 3071 whole base64 groups, which decode to 9213 octets. The default for
/// the `max_len` of the decode functions: every response that decodes within it arrives on a
/// line that [`auth_line_config`] lets through.
pub const MAX_DECODED_LEN: usize = (AUTH_LINE_LIMIT - 2) / 4 * 3;

/// The line framing for a client's lines during an exchange (RFC 4954 section 4): strict CRLF
/// lines of at most [`AUTH_LINE_LIMIT`] octets, whose text [`decode_response`] then decodes
/// with [`MAX_DECODED_LEN`]. A longer line is
/// [`LineError::TooLong`](crate::line::LineError::TooLong), which fails the exchange with
/// `500 5.5.6`.
///
/// ```
/// use mail_wire::line::LineReader;
/// use mail_wire::sasl::{self, ClientResponse, MAX_DECODED_LEN};
///
/// let mut lines = LineReader::new(sasl::auth_line_config());
/// let mut input = &b"dGVzdAB0ZXN0ADEyMzQ=\r\n"[..];
/// let line = lines.next_line(&mut input).unwrap().unwrap();
/// let ClientResponse::Data(response) = sasl::decode_response(&line, MAX_DECODED_LEN)? else {
///     unreachable!()
/// };
/// assert_eq!(response.expose_secret(), b"test\0test\x001234");
/// # Ok::<(), sasl::SaslError>(())
/// ```
pub const fn auth_line_config() -> LineConfig {
    LineConfig::new(AUTH_LINE_LIMIT)
}

/// The line a client sends to cancel the exchange (RFC 4954 section 4, RFC 5034 section 4).
pub const CANCEL: &str = "*";

/// The initial response argument that stands for an empty initial response (RFC 4954 section
/// 4, RFC 5034 section 4).
pub const EMPTY_INITIAL_RESPONSE: &str = "=";

/// Decoding follows the RFC 4954 section 8 grammar: standard alphabet, whole groups of four with
/// `=` padding. The grammar allows any symbol before the padding, so non-zero trailing bits are
/// accepted (RFC 4648 section 3.5 leaves that to the decoder).
const DECODER: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical)
        .with_decode_allow_trailing_bits(true),
);

/// A decoded client line during an exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientResponse {
    /// The decoded response, possibly empty (an empty line is an empty response). It may hold
    /// a password, hence the [`Secret`].
    Data(Secret<Vec<u8>>),
    /// The client sent `*`: the server must fail the exchange (RFC 4954 section 4: `501`;
    /// RFC 5034 section 4: `-ERR`).
    Cancel,
}

/// Decodes a client's line during an exchange (without its CRLF): `*` cancels, anything else is
/// base64, and an empty line is an empty response (RFC 4954 section 4 and 8, RFC 5034 section 4).
///
/// `max_len` bounds the decoded length, and is checked before decoding so that an over-long line
/// costs no allocation; [`MAX_DECODED_LEN`] is a sensible value.
pub fn decode_response(line: &[u8], max_len: usize) -> Result<ClientResponse, SaslError> {
    if line == CANCEL.as_bytes() {
        return Ok(ClientResponse::Cancel);
    }
    decode(line, max_len).map(|data| ClientResponse::Data(Secret::new(data)))
}

/// Decodes the initial response argument of `AUTH mechanism initial-response`: `=` is an empty
/// response, anything else must be base64 (RFC 4954 section 4 and 8, RFC 5034 section 4).
///
/// `*` is not a cancellation here: the grammar only has `base64 / "="`, so it is rejected as
/// invalid base64, as is an empty argument (an empty response must be sent as `=`). Whether
/// the argument is present at all is the protocol crate's business.
pub fn decode_initial_response(
    argument: &[u8],
    max_len: usize,
) -> Result<Secret<Vec<u8>>, SaslError> {
    if argument == EMPTY_INITIAL_RESPONSE.as_bytes() {
        return Ok(Secret::new(Vec::new()));
    }
    if argument.is_empty() {
        return Err(SaslError::EmptyInitialResponse);
    }
    decode(argument, max_len).map(Secret::new)
}

/// Encodes a server challenge as the text of a `334 ` / `+ ` line: base64, or nothing at all
/// for an empty challenge (RFC 4954 section 4: "334 " with no text).
pub fn encode_challenge(challenge: &[u8]) -> String {
    STANDARD.encode(challenge)
}

/// Decodes the text of a server challenge line on the client side (after `334 ` / `+ `).
///
/// Only base64 is accepted, or nothing for an empty challenge (RFC 4954 section 4: the
/// challenge contains no other text). On an error the client must cancel with [`CANCEL`].
pub fn decode_challenge(text: &[u8], max_len: usize) -> Result<Vec<u8>, SaslError> {
    decode(text, max_len)
}

/// Encodes a client response line sent during the exchange: base64, or an empty line for an
/// empty response. The line holds the credentials in a thin disguise, hence the [`Secret`].
pub fn encode_response(response: &[u8]) -> Secret<String> {
    Secret::new(STANDARD.encode(response))
}

/// Encodes a client response for use as the initial response argument of `AUTH`: base64, or
/// `=` for an empty response (RFC 4954 section 4, RFC 5034 section 4).
///
/// Mind the protocol's line length (RFC 4954 section 4: 512 octets for the whole command;
/// RFC 5034 section 4: 255): when the argument does not fit, send `AUTH mechanism` alone and
/// answer the server's empty challenge with the same response. The argument holds the
/// credentials in a thin disguise, hence the [`Secret`].
pub fn encode_initial_response(response: &[u8]) -> Secret<String> {
    Secret::new(if response.is_empty() {
        String::from(EMPTY_INITIAL_RESPONSE)
    } else {
        STANDARD.encode(response)
    })
}

/// Decodes base64 to at most `max_len` octets; empty input is empty output.
fn decode(text: &[u8], max_len: usize) -> Result<Vec<u8>, SaslError> {
    // Every 3 octets take 4 symbols, so longer text cannot fit: refuse it before decoding.
    let max_encoded = max_len.div_ceil(3).saturating_mul(4);
    if text.len() > max_encoded {
        return Err(SaslError::TooLong { limit: max_len });
    }
    let decoded = DECODER.decode(text).map_err(|error| match error {
        base64::DecodeError::InvalidByte(offset, byte)
        | base64::DecodeError::InvalidLastSymbol(offset, byte) => {
            SaslError::InvalidBase64Byte { offset, byte }
        }
        base64::DecodeError::InvalidLength(_) => SaslError::InvalidBase64Length,
        base64::DecodeError::InvalidPadding => SaslError::InvalidBase64Padding,
    })?;
    if decoded.len() > max_len {
        return Err(SaslError::TooLong { limit: max_len });
    }
    Ok(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::line::LineReader;
    use alloc::string::ToString;
    use alloc::vec;
    use proptest::prelude::*;

    fn data(response: ClientResponse) -> Vec<u8> {
        match response {
            ClientResponse::Data(data) => data.into_inner(),
            ClientResponse::Cancel => panic!("unexpected cancel"),
        }
    }

    #[test]
    fn rfc4954_plain_initial_response() {
        // RFC 4954 section 4.1: AUTH PLAIN dGVzdAB0ZXN0ADEyMzQ=
        let decoded = decode_initial_response(b"dGVzdAB0ZXN0ADEyMzQ=", MAX_DECODED_LEN).unwrap();
        assert_eq!(decoded.expose_secret(), b"test\0test\x001234");
        assert_eq!(
            encode_initial_response(b"test\0test\x001234").expose_secret(),
            "dGVzdAB0ZXN0ADEyMzQ="
        );
    }

    #[test]
    fn rfc4954_plain_after_empty_challenge() {
        // RFC 4954 section 4.1: "334 " then the response on a line of its own.
        assert_eq!(encode_challenge(b""), "");
        assert_eq!(decode_challenge(b"", MAX_DECODED_LEN).unwrap(), b"");
        let response = decode_response(b"dGVzdAB0ZXN0ADEyMzQ=", MAX_DECODED_LEN).unwrap();
        assert_eq!(data(response), b"test\0test\x001234");
    }

    #[test]
    fn rfc4954_cram_md5_lines() {
        // RFC 4954 section 4.1, the challenge joined from its two printed lines.
        let challenge = b"PDQxOTI5NDIzNDEuMTI4Mjg0NzJAc291cmNlZm91ci5hbmRyZXcuY211LmVkdT4=";
        let decoded = decode_challenge(challenge, MAX_DECODED_LEN).unwrap();
        assert_eq!(decoded, b"<4192942341.12828472@sourcefour.andrew.cmu.edu>");
        assert_eq!(encode_challenge(&decoded).as_bytes(), challenge);
        let response = b"cmpzMyBlYzNhNTlmZWQzOTVhYmExZWM2MzY3YzRmNGI0MWFjMA==";
        let decoded = data(decode_response(response, MAX_DECODED_LEN).unwrap());
        assert_eq!(decoded, b"rjs3 ec3a59fed395aba1ec6367c4f4b41ac0");
        assert_eq!(
            encode_response(&decoded).expose_secret().as_bytes(),
            response
        );
    }

    #[test]
    fn rfc4954_external_empty_initial_response() {
        // RFC 4954 section 4.1: AUTH EXTERNAL =
        let decoded = decode_initial_response(b"=", MAX_DECODED_LEN).unwrap();
        assert!(decoded.expose_secret().is_empty());
        assert_eq!(encode_initial_response(b"").expose_secret(), "=");
    }

    #[test]
    fn cancel() {
        assert_eq!(
            decode_response(b"*", MAX_DECODED_LEN).unwrap(),
            ClientResponse::Cancel
        );
        assert_eq!(CANCEL, "*");
        // Only a lone star cancels.
        assert_eq!(
            decode_response(b"* ", MAX_DECODED_LEN),
            Err(SaslError::InvalidBase64Byte {
                offset: 0,
                byte: b'*'
            })
        );
    }

    #[test]
    fn star_is_not_an_initial_response() {
        assert_eq!(
            decode_initial_response(b"*", MAX_DECODED_LEN),
            Err(SaslError::InvalidBase64Byte {
                offset: 0,
                byte: b'*'
            })
        );
    }

    #[test]
    fn empty_line_is_empty_response_but_empty_argument_is_an_error() {
        assert_eq!(data(decode_response(b"", MAX_DECODED_LEN).unwrap()), b"");
        assert_eq!(
            decode_initial_response(b"", MAX_DECODED_LEN),
            Err(SaslError::EmptyInitialResponse)
        );
    }

    #[test]
    fn equals_sign_is_only_special_as_initial_response() {
        assert!(decode_response(b"=", MAX_DECODED_LEN).is_err());
        assert!(decode_challenge(b"=", MAX_DECODED_LEN).is_err());
    }

    #[test]
    fn invalid_base64() {
        let cases: &[(&[u8], SaslError)] = &[
            // RFC 4954 section 4's own examples of misplaced padding.
            (
                b"=AAA",
                SaslError::InvalidBase64Byte {
                    offset: 0,
                    byte: b'=',
                },
            ),
            (
                b"AAA=BBBB",
                SaslError::InvalidBase64Byte {
                    offset: 3,
                    byte: b'=',
                },
            ),
            // Characters outside the alphabet are rejected, not skipped.
            (
                b"dGVz dA==",
                SaslError::InvalidBase64Byte {
                    offset: 4,
                    byte: b' ',
                },
            ),
            (
                b"dGVzdA==\r",
                SaslError::InvalidBase64Byte {
                    offset: 8,
                    byte: b'\r',
                },
            ),
            (
                b"dGVz-A==",
                SaslError::InvalidBase64Byte {
                    offset: 4,
                    byte: b'-',
                },
            ),
            (b"dGVzdA", SaslError::InvalidBase64Padding),
            (
                b"dGVzdA===",
                SaslError::InvalidBase64Byte {
                    offset: 6,
                    byte: b'=',
                },
            ),
            (b"A", SaslError::InvalidBase64Length),
            (b"AAAAA", SaslError::InvalidBase64Length),
        ];
        for (input, expected) in cases {
            let input_text = core::str::from_utf8(input).unwrap();
            let got = decode_response(input, MAX_DECODED_LEN);
            assert_eq!(got.as_ref().err(), Some(expected), "{input_text:?}");
            assert!(
                decode_challenge(input, MAX_DECODED_LEN).is_err(),
                "{input_text:?}"
            );
            assert!(
                decode_initial_response(input, MAX_DECODED_LEN).is_err(),
                "{input_text:?}"
            );
        }
    }

    #[test]
    fn non_canonical_trailing_bits_are_accepted() {
        // RFC 4954 section 8 allows any base64-char before the padding.
        assert_eq!(decode_challenge(b"AB==", MAX_DECODED_LEN).unwrap(), vec![0]);
    }

    #[test]
    fn limits() {
        // 8 octets fit in 12 symbols.
        let line = encode_response(b"12345678").into_inner();
        assert_eq!(
            data(decode_response(line.as_bytes(), 8).unwrap()),
            b"12345678"
        );
        assert_eq!(
            decode_response(line.as_bytes(), 7),
            Err(SaslError::TooLong { limit: 7 })
        );
        assert_eq!(
            decode_response(line.as_bytes(), 6),
            Err(SaslError::TooLong { limit: 6 })
        );
        assert_eq!(
            decode_challenge(line.as_bytes(), 0),
            Err(SaslError::TooLong { limit: 0 })
        );
        assert_eq!(
            decode_initial_response(line.as_bytes(), 5).map(Secret::into_inner),
            Err(SaslError::TooLong { limit: 5 })
        );
        // The length check comes before the grammar check: junk this long is "too long".
        let junk = vec![b'!'; MAX_DECODED_LEN * 2];
        assert_eq!(
            decode_response(&junk, MAX_DECODED_LEN),
            Err(SaslError::TooLong {
                limit: MAX_DECODED_LEN
            })
        );
        // A full-size line decodes (more in `largest_line_passes_framing_and_decoding`).
        let big = vec![0xa5_u8; MAX_DECODED_LEN];
        let line = encode_response(&big).into_inner();
        assert_eq!(
            data(decode_response(line.as_bytes(), MAX_DECODED_LEN).unwrap()),
            big
        );
        // A "=" initial response is empty, so within any limit.
        assert!(decode_initial_response(b"=", 0).is_ok());
        // No overflow at the top of the range.
        assert!(decode_response(b"AAAA", usize::MAX).is_ok());
    }

    /// Frames `wire` as a client line during an exchange, then decodes it.
    fn read_auth_line(wire: &[u8]) -> Result<ClientResponse, String> {
        let mut reader = LineReader::new(auth_line_config());
        let mut input = wire;
        let line = reader
            .next_line(&mut input)
            .ok_or("no line")?
            .map_err(|error| error.to_string())?;
        decode_response(&line, MAX_DECODED_LEN).map_err(|error| error.to_string())
    }

    #[test]
    fn largest_line_passes_framing_and_decoding() {
        // The limit counts the CRLF, as RFC 4954 section 4 and `LineConfig` do.
        assert_eq!(auth_line_config(), LineConfig::new(AUTH_LINE_LIMIT));
        assert_eq!(AUTH_LINE_LIMIT, 12288);
        assert_eq!(MAX_DECODED_LEN, 9213);

        // The largest response: 9213 octets, 12284 base64 symbols, 12286 octets with CRLF.
        let big = vec![0xa5_u8; MAX_DECODED_LEN];
        let mut wire = encode_response(&big).into_inner().into_bytes();
        wire.extend_from_slice(b"\r\n");
        assert!(wire.len() <= AUTH_LINE_LIMIT);
        assert_eq!(data(read_auth_line(&wire).unwrap()), big);

        // One more group of four symbols (three octets) no longer fits the line...
        let bigger = vec![0xa5_u8; MAX_DECODED_LEN + 1];
        let mut wire = encode_response(&bigger).into_inner().into_bytes();
        wire.extend_from_slice(b"\r\n");
        assert!(wire.len() > AUTH_LINE_LIMIT);
        assert!(
            read_auth_line(&wire)
                .unwrap_err()
                .contains("exceeds the limit")
        );
        // ...nor the decoder's limit.
        assert_eq!(
            decode_response(&wire[..wire.len() - 2], MAX_DECODED_LEN),
            Err(SaslError::TooLong {
                limit: MAX_DECODED_LEN
            })
        );

        // A line of exactly AUTH_LINE_LIMIT octets gets through the framer; its 12286 symbols
        // are not whole groups, so the decoder refuses them.
        let mut wire = vec![b'A'; AUTH_LINE_LIMIT - 2];
        wire.extend_from_slice(b"\r\n");
        assert!(read_auth_line(&wire).is_err());
    }

    proptest! {
        #[test]
        fn encode_then_decode_is_identity(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let line = encode_response(&bytes).into_inner();
            prop_assert_eq!(data(decode_response(line.as_bytes(), bytes.len()).unwrap()), bytes.clone());
            let line = encode_challenge(&bytes);
            prop_assert_eq!(decode_challenge(line.as_bytes(), bytes.len()).unwrap(), bytes.clone());
            let argument = encode_initial_response(&bytes).into_inner();
            let decoded = decode_initial_response(argument.as_bytes(), bytes.len()).unwrap();
            prop_assert_eq!(decoded.into_inner(), bytes);
        }

        #[test]
        fn decoders_never_panic(input in proptest::collection::vec(any::<u8>(), 0..200), max_len in 0_usize..300) {
            let _ = decode_response(&input, max_len);
            let _ = decode_initial_response(&input, max_len);
            let _ = decode_challenge(&input, max_len);
        }

        #[test]
        fn decoded_length_never_exceeds_limit(input in "[A-Za-z0-9+/=*]{0,64}", max_len in 0_usize..64) {
            if let Ok(ClientResponse::Data(data)) = decode_response(input.as_bytes(), max_len) {
                prop_assert!(data.expose_secret().len() <= max_len);
            }
        }
    }
}
