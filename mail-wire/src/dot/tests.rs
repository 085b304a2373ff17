use super::*;
use crate::testing::chunked;
use alloc::vec;
use alloc::vec::Vec;
use proptest::prelude::*;

/// Everything a decoder makes of `chunks`: the body, the errors, whether it ended, and the
/// bytes left after the end.
#[derive(Debug, PartialEq, Eq)]
struct Decoded {
    body: Vec<u8>,
    errors: Vec<BodyError>,
    ended: bool,
    rest: Vec<u8>,
}

fn decode_chunks(config: DecoderConfig, chunks: &[&[u8]]) -> Decoded {
    let mut decoder = DotDecoder::new(config);
    let mut out = Decoded {
        body: Vec::new(),
        errors: Vec::new(),
        ended: false,
        rest: Vec::new(),
    };
    for chunk in chunks {
        let mut input = Bytes::copy_from_slice(chunk);
        while let Some(event) = decoder.decode(&mut input) {
            match event {
                DotEvent::Data(data) => {
                    assert!(!data.is_empty());
                    assert!(!out.ended);
                    out.body.extend_from_slice(&data);
                }
                DotEvent::Invalid(error) => out.errors.push(error),
                DotEvent::End => out.ended = true,
            }
        }
        out.rest.extend_from_slice(&input);
    }
    assert_eq!(decoder.is_done(), out.ended);
    normalize_invalid(out)
}

/// What was delivered of an invalid body before the fault depends on the chunking, and the
/// receiver must throw it away anyway: compare only the rest.
fn normalize_invalid(mut out: Decoded) -> Decoded {
    if !out.errors.is_empty() {
        out.body.clear();
    }
    out
}

/// The same through `decode_into`, which must agree with `decode`.
fn decode_into_chunks(config: DecoderConfig, chunks: &[&[u8]]) -> Decoded {
    let mut decoder = DotDecoder::new(config);
    let mut out = Decoded {
        body: Vec::new(),
        errors: Vec::new(),
        ended: false,
        rest: Vec::new(),
    };
    for chunk in chunks {
        let mut input: &[u8] = chunk;
        loop {
            match decoder.decode_into(&mut input, &mut out.body) {
                DecodeStatus::NeedMore => break,
                DecodeStatus::Invalid(error) => out.errors.push(error),
                DecodeStatus::End => {
                    out.ended = true;
                    break;
                }
            }
        }
        out.rest.extend_from_slice(input);
    }
    normalize_invalid(out)
}

fn decode_all(data: &[u8]) -> Decoded {
    decode_chunks(DecoderConfig::default(), &[data])
}

fn encode_all(encoder: &mut DotEncoder, chunks: &[&[u8]]) -> Result<Vec<u8>, BodyError> {
    let mut out = Vec::new();
    for chunk in chunks {
        encoder.encode(chunk, &mut out)?;
    }
    encoder.finish(&mut out)?;
    Ok(out)
}

#[test]
fn decodes_a_plain_body() {
    let got = decode_all(b"Subject: x\r\n\r\nhello\r\n.\r\nQUIT\r\n");
    assert_eq!(got.body, b"Subject: x\r\n\r\nhello\r\n");
    assert!(got.ended && got.errors.is_empty());
    assert_eq!(got.rest, b"QUIT\r\n");
}

#[test]
fn removes_stuffing_including_on_the_first_line() {
    let got = decode_all(b"..first\r\nmid\r\n...\r\n..\r\n.x\r\n.\r\n");
    assert_eq!(got.body, b".first\r\nmid\r\n..\r\n.\r\nx\r\n");
    assert!(got.ended);
}

#[test]
fn dot_line_first_is_an_empty_body() {
    let got = decode_all(b".\r\nRSET\r\n");
    assert!(got.body.is_empty() && got.ended);
    assert_eq!(got.rest, b"RSET\r\n");
}

#[test]
fn smuggling_sequences_never_end_the_body() {
    for fake in [
        &b"\n.\n"[..],
        b"\r.\r",
        b"\n.\r\n",
        b"\r\n.\n",
        b"\r.\r\n",
        b"\r\n.\r",
        b"\r\n\x00.\r\n",
    ] {
        let mut stream = b"a".to_vec();
        stream.extend_from_slice(fake);
        stream.extend_from_slice(b"MAIL FROM:<x@y>\r\n");
        for policy in [DecodeBareEndings::Reject, DecodeBareEndings::PassThrough] {
            let config = DecoderConfig::new().bare_endings(policy);
            let got = decode_chunks(config, &[&stream]);
            assert!(!got.ended, "{fake:?} ended the body under {policy:?}");
            let bytewise: Vec<&[u8]> = stream.chunks(1).collect();
            assert_eq!(got, decode_chunks(config, &bytewise));
        }
    }
}

#[test]
fn bare_endings_are_rejected_by_default_and_the_body_still_ends() {
    let got = decode_all(b"ab\ncd\r\n.\r\nNOOP\r\n");
    assert_eq!(got.errors, [BodyError::BareLf { offset: 2 }]);
    assert!(got.body.is_empty());
    assert!(got.ended);
    assert_eq!(got.rest, b"NOOP\r\n");

    let got = decode_chunks(DecoderConfig::default(), &[b"abc\r", b"d\r\n.\r\n"]);
    assert_eq!(got.errors, [BodyError::BareCr { offset: 3 }]);
    assert!(got.ended);

    let got = decode_all(b"\r\n.\rx\r\n.\r\n");
    assert_eq!(got.errors, [BodyError::BareCr { offset: 3 }]);
    assert!(got.ended);
}

#[test]
fn pass_through_keeps_bare_endings_literally() {
    let config = DecoderConfig::new().bare_endings(DecodeBareEndings::PassThrough);
    let got = decode_chunks(config, &[b"a\n.b\rc\r\n.\r", b"x\r\n.\r\n"]);
    assert!(got.errors.is_empty());
    assert_eq!(got.body, b"a\n.b\rc\r\n\rx\r\n");
    assert!(got.ended);
}

#[test]
fn size_limit_is_enforced_while_streaming() {
    let config = DecoderConfig::new().max_size(10);
    let got = decode_chunks(config, &[b"0123456789\r\n", b"more\r\n.\r\nQUIT\r\n"]);
    assert_eq!(got.errors, [BodyError::TooLarge { limit: 10 }]);
    assert!(got.ended);
    assert_eq!(got.rest, b"QUIT\r\n");

    let got = decode_chunks(DecoderConfig::new().max_size(12), &[b"0123456789\r\n.\r\n"]);
    assert!(got.errors.is_empty());
    assert_eq!(got.body.len(), 12);
}

#[test]
fn data_is_zero_copy() {
    let source = Bytes::from_static(b"hello\r\nworld\r\n.\r\n");
    let mut input = source.clone();
    let mut decoder = DotDecoder::default();
    let Some(DotEvent::Data(first)) = decoder.decode(&mut input) else {
        panic!()
    };
    assert_eq!(first.as_ptr(), source.as_ptr());
    assert_eq!(first, "hello\r\nworld\r\n");
    assert_eq!(decoder.decode(&mut input), Some(DotEvent::End));
    assert_eq!(decoder.decode(&mut input), None);
    assert_eq!(decoder.consumed(), source.len() as u64);
    assert_eq!(decoder.body_size(), 14);
}

#[test]
fn decoder_reset_starts_a_new_body() {
    let mut decoder = DotDecoder::default();
    let mut input = &b".\r\n..x\r\n.\r\n"[..];
    assert_eq!(decoder.decode(&mut input), Some(DotEvent::End));
    decoder.reset();
    assert_eq!(
        decoder.decode(&mut input),
        Some(DotEvent::Data(Bytes::from_static(b".x\r\n")))
    );
    assert_eq!(decoder.decode(&mut input), Some(DotEvent::End));
}

#[test]
fn encoder_stuffs_terminates_and_converts() {
    let cases: [(&[u8], &[u8]); 8] = [
        (b"", b".\r\n"),
        (b"a", b"a\r\n.\r\n"),
        (b"a\r\n", b"a\r\n.\r\n"),
        (b".", b"..\r\n.\r\n"),
        (b".\r\n.a\r\nb.\r\n..", b"..\r\n..a\r\nb.\r\n...\r\n.\r\n"),
        (b"a\nb\n.c", b"a\r\nb\r\n..c\r\n.\r\n"),
        (b"a\rb\r", b"a\r\nb\r\n.\r\n"),
        (b"a\r.b\r\r\n", b"a\r\n..b\r\n\r\n.\r\n"),
    ];
    for (body, want) in cases {
        let got = encode_all(&mut DotEncoder::default(), &[body]).unwrap();
        assert_eq!(got, want, "body {body:?}");
        let bytewise: Vec<&[u8]> = body.chunks(1).collect();
        assert_eq!(
            encode_all(&mut DotEncoder::default(), &bytewise).unwrap(),
            want
        );
    }
}

#[test]
fn encoder_reject_mode_refuses_bare_endings() {
    let mut encoder = DotEncoder::new(EncodeBareEndings::Reject);
    assert_eq!(
        encode_all(&mut encoder, &[b"ok\r\nbad\nx"]),
        Err(BodyError::BareLf { offset: 7 })
    );
    let mut encoder = DotEncoder::new(EncodeBareEndings::Reject);
    assert_eq!(
        encode_all(&mut encoder, &[b"ab\r", b"c"]),
        Err(BodyError::BareCr { offset: 2 })
    );
    let mut encoder = DotEncoder::new(EncodeBareEndings::Reject);
    assert_eq!(
        encode_all(&mut encoder, &[b".a\r\n.\r\n"]).unwrap(),
        b"..a\r\n..\r\n.\r\n"
    );
    // A final bare CR is refused too, by finish(), which then writes nothing.
    let mut encoder = DotEncoder::new(EncodeBareEndings::Reject);
    let mut out = Vec::new();
    encoder.encode(b"a\r", &mut out).unwrap();
    assert_eq!(
        encoder.finish(&mut out),
        Err(BodyError::BareCr { offset: 1 })
    );
    assert_eq!(out, b"a\r");
    encoder.reset();
    out.clear();
    encoder.encode(b"b", &mut out).unwrap();
    encoder.finish(&mut out).unwrap();
    assert_eq!(out, b"b\r\n.\r\n");
}

#[test]
fn writes_into_bytes_mut_as_into_vec() {
    let mut encoder = DotEncoder::default();
    let mut out = bytes::BytesMut::new();
    encoder.encode(b".x", &mut out).unwrap();
    encoder.finish(&mut out).unwrap();
    let mut decoder = DotDecoder::default();
    let mut body = bytes::BytesMut::new();
    assert_eq!(
        decoder.decode_into(&mut out.freeze(), &mut body),
        DecodeStatus::End
    );
    assert_eq!(&body[..], b".x\r\n");
}

#[test]
fn encoder_is_reusable_after_finish() {
    let mut encoder = DotEncoder::default();
    assert_eq!(encode_all(&mut encoder, &[b"x"]).unwrap(), b"x\r\n.\r\n");
    assert_eq!(encode_all(&mut encoder, &[b".y"]).unwrap(), b"..y\r\n.\r\n");
}

#[test]
fn long_plain_runs_cross_the_block_scanner() {
    // Lines long enough for the block scanner, with the special octet at every offset.
    for position in 0..80 {
        for special in [&b"\r\n."[..], b"\n", b"\rx", b"\r\n.\r\n"] {
            let mut body = vec![b'x'; 100];
            body.splice(position..position, special.iter().copied());
            body.extend_from_slice(b"\r\n.\r\n");
            let config = DecoderConfig::new().bare_endings(DecodeBareEndings::PassThrough);
            assert_eq!(
                decode_chunks(config, &[&body]),
                reference_decode(&body),
                "{position} {special:?}"
            );
        }
    }
}

/// A byte-at-a-time decoder written straight from the rules, to check the fast one against.
/// Returns what pass-through decoding gives, with the errors strict decoding must report.
fn reference_decode(data: &[u8]) -> Decoded {
    let mut out = Decoded {
        body: Vec::new(),
        errors: Vec::new(),
        ended: false,
        rest: Vec::new(),
    };
    let mut at = 0;
    let mut line_start = true;
    while at < data.len() {
        let rest = &data[at..];
        if line_start && rest.starts_with(b".\r\n") {
            out.ended = true;
            out.rest = data[at + 3..].to_vec();
            return out;
        }
        if line_start && b".\r\n".starts_with(rest) {
            // "." or ".\r" at the end of the input: the decoder must wait to see what follows.
            break;
        }
        if line_start && rest[0] == b'.' {
            at += 1;
            line_start = false;
            continue;
        }
        if rest.starts_with(b"\r\n") {
            out.body.extend_from_slice(b"\r\n");
            at += 2;
            line_start = true;
            continue;
        }
        out.body.push(rest[0]);
        at += 1;
        line_start = false;
    }
    out
}

/// The first bare CR or LF of `data` before `end`, as strict decoding must report it.
fn first_bare(data: &[u8], end: usize, ended: bool) -> Option<BodyError> {
    for (at, &byte) in data[..end].iter().enumerate() {
        let next = data.get(at + 1);
        if byte == b'\r' && next != Some(&b'\n') && (next.is_some() || ended) {
            return Some(BodyError::BareCr { offset: at as u64 });
        }
        if byte == b'\n' && (at == 0 || data[at - 1] != b'\r') {
            return Some(BodyError::BareLf { offset: at as u64 });
        }
    }
    None
}

/// Bytes rich in the octets that matter to dot-stuffing.
fn soup(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            6 => Just(b'a'),
            3 => Just(b'\r'),
            3 => Just(b'\n'),
            3 => Just(b'.'),
            1 => any::<u8>(),
        ],
        0..max,
    )
}

/// Bodies made only of CRLF-terminated lines, many of them starting with dots.
fn crlf_body() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop::collection::vec(
            prop_oneof![4 => Just(b'x'), 3 => Just(b'.'), 1 => 0u8..=255u8],
            0..90,
        )
        .prop_map(|mut line| {
            line.retain(|b| *b != b'\r' && *b != b'\n');
            line.extend_from_slice(b"\r\n");
            line
        }),
        0..30,
    )
    .prop_map(|lines| lines.concat())
}

/// Body with bare CR and LF turned into CRLF, as the converting encoder sees it.
fn normalize(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < body.len() {
        match (body[at], body.get(at + 1)) {
            (b'\r', Some(b'\n')) => {
                out.extend_from_slice(b"\r\n");
                at += 2;
            }
            (b'\r' | b'\n', _) => {
                out.extend_from_slice(b"\r\n");
                at += 1;
            }
            (byte, _) => {
                out.push(byte);
                at += 1;
            }
        }
    }
    out
}

proptest! {
    #[test]
    fn crlf_bodies_round_trip_and_end_only_at_the_end(
        body in crlf_body(),
        cuts in prop::collection::vec(any::<usize>(), 0..10),
        cuts2 in prop::collection::vec(any::<usize>(), 0..10),
    ) {
        let wire = encode_all(&mut DotEncoder::default(), &chunked(&body, &cuts)).unwrap();
        prop_assert_eq!(&wire, &encode_all(&mut DotEncoder::new(EncodeBareEndings::Reject), &[&body]).unwrap());
        // CRLF.CRLF appears once, at the very end (or the stream is just ".\r\n").
        let terminator = memchr::memmem::find(&wire, b"\r\n.\r\n");
        if body.is_empty() {
            prop_assert_eq!(&wire[..], b".\r\n");
        } else {
            prop_assert_eq!(terminator, Some(wire.len() - 5));
            prop_assert!(!wire.starts_with(b".\r\n"));
        }
        let decoded = decode_chunks(DecoderConfig::default(), &chunked(&wire, &cuts2));
        prop_assert!(decoded.errors.is_empty());
        prop_assert!(decoded.ended);
        prop_assert!(decoded.rest.is_empty());
        prop_assert_eq!(decoded.body, body);
    }

    #[test]
    fn any_body_is_normalized_then_round_trips(
        body in soup(400),
        cuts in prop::collection::vec(any::<usize>(), 0..10),
    ) {
        let wire = encode_all(&mut DotEncoder::default(), &chunked(&body, &cuts)).unwrap();
        let mut want = normalize(&body);
        if !want.is_empty() && !want.ends_with(b"\r\n") {
            want.extend_from_slice(b"\r\n");
        }
        let decoded = decode_all(&wire);
        prop_assert!(decoded.errors.is_empty());
        prop_assert!(decoded.ended);
        prop_assert_eq!(decoded.body, want);
    }

    #[test]
    fn decoder_matches_the_reference_under_any_chunking(
        data in soup(600),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let reference = reference_decode(&data);
        let passthrough = DecoderConfig::new().bare_endings(DecodeBareEndings::PassThrough);
        let pieces = chunked(&data, &cuts);
        prop_assert_eq!(&decode_chunks(passthrough, &[&data]), &reference);
        prop_assert_eq!(&decode_chunks(passthrough, &pieces), &reference);
        let bytewise: Vec<&[u8]> = data.chunks(1).collect();
        prop_assert_eq!(&decode_chunks(passthrough, &bytewise), &reference);

        // Strict mode finds the same end, and the first bare ending before it.
        let strict = decode_chunks(DecoderConfig::default(), &pieces);
        prop_assert_eq!(strict.ended, reference.ended);
        prop_assert_eq!(&strict.rest, &reference.rest);
        let end = data.len() - reference.rest.len();
        let want_error = first_bare(&data, end, reference.ended);
        prop_assert_eq!(strict.errors.first().copied(), want_error);
        prop_assert!(strict.errors.len() <= 1);
        if want_error.is_none() {
            prop_assert_eq!(&strict.body, &reference.body);
        }
        prop_assert_eq!(&decode_into_chunks(DecoderConfig::default(), &pieces), &strict);
    }

    #[test]
    fn size_limit_holds_under_any_chunking(
        body in crlf_body(),
        limit in 0u64..2000,
        cuts in prop::collection::vec(any::<usize>(), 0..10),
    ) {
        let wire = encode_all(&mut DotEncoder::default(), &[&body]).unwrap();
        let got = decode_chunks(DecoderConfig::new().max_size(limit), &chunked(&wire, &cuts));
        prop_assert!(got.ended);
        if body.len() as u64 > limit {
            prop_assert_eq!(got.errors, vec![BodyError::TooLarge { limit }]);
        } else {
            prop_assert!(got.errors.is_empty());
            prop_assert_eq!(got.body, body);
        }
    }
}

proptest! {
    #[test]
    fn limit_and_bare_endings_agree_under_any_chunking(
        data in soup(300),
        limit in 0u64..300,
        pass_through in any::<bool>(),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let policy = if pass_through { DecodeBareEndings::PassThrough } else { DecodeBareEndings::Reject };
        let config = DecoderConfig::new().bare_endings(policy).max_size(limit);
        let whole = decode_chunks(config, &[&data]);
        prop_assert!(whole.body.len() as u64 <= limit);
        prop_assert!(whole.errors.len() <= 1);
        prop_assert_eq!(&whole, &decode_chunks(config, &chunked(&data, &cuts)));
        let bytewise: Vec<&[u8]> = data.chunks(1).collect();
        prop_assert_eq!(&whole, &decode_chunks(config, &bytewise));
        prop_assert_eq!(&whole, &decode_into_chunks(config, &chunked(&data, &cuts)));
    }
}
