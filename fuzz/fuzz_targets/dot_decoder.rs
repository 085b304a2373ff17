//! Dot decoder: any chunking gives the same body, errors and end as the whole input, with both
//! bare-ending policies and a size limit; the copying and zero-copy paths agree.
#![no_main]

use arbitrary::Unstructured;
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use mail_wire::dot::{DecodeBareEndings, DecodeStatus, DecoderConfig, DotDecoder, DotEvent};

#[derive(Debug, PartialEq)]
struct Outcome {
    body: Vec<u8>,
    errors: Vec<mail_wire::dot::BodyError>,
    end: Option<u64>,
}

fn decode(config: DecoderConfig, pieces: &[&[u8]]) -> Outcome {
    let mut decoder = DotDecoder::new(config);
    let mut out = Outcome {
        body: Vec::new(),
        errors: Vec::new(),
        end: None,
    };
    for piece in pieces {
        let mut input = Bytes::copy_from_slice(piece);
        while let Some(event) = decoder.decode(&mut input) {
            match event {
                DotEvent::Data(data) => {
                    assert!(!data.is_empty() && out.end.is_none());
                    out.body.extend_from_slice(&data);
                }
                DotEvent::Invalid(error) => out.errors.push(error),
                DotEvent::End => out.end = Some(decoder.consumed()),
            }
        }
    }
    assert!(out.errors.len() <= 1);
    if !out.errors.is_empty() {
        out.body.clear();
    }
    out
}

fn decode_into(config: DecoderConfig, pieces: &[&[u8]]) -> Outcome {
    let mut decoder = DotDecoder::new(config);
    let mut out = Outcome {
        body: Vec::new(),
        errors: Vec::new(),
        end: None,
    };
    for piece in pieces {
        let mut input: &[u8] = piece;
        loop {
            match decoder.decode_into(&mut input, &mut out.body) {
                DecodeStatus::NeedMore => break,
                DecodeStatus::Invalid(error) => out.errors.push(error),
                DecodeStatus::End => {
                    out.end = Some(decoder.consumed());
                    break;
                }
            }
        }
    }
    if !out.errors.is_empty() {
        out.body.clear();
    }
    out
}

fuzz_target!(|input: &[u8]| {
    let mut u = Unstructured::new(input);
    let pass_through = u.arbitrary::<bool>().unwrap_or(false);
    let limit = u
        .arbitrary::<Option<u16>>()
        .unwrap_or(None)
        .map_or(u64::MAX, u64::from);
    let split = usize::from(u.arbitrary::<u16>().unwrap_or(0));
    let rest = u.take_rest();
    let (data, sizes) = rest.split_at(rest.len() - split.min(rest.len()));
    let policy = if pass_through {
        DecodeBareEndings::PassThrough
    } else {
        DecodeBareEndings::Reject
    };
    let config = DecoderConfig::new().bare_endings(policy).max_size(limit);
    let whole = decode(config, &[data]);
    if let Some(end) = whole.end {
        let end = usize::try_from(end).unwrap();
        assert!(data[..end].ends_with(b".\r\n"));
        assert!(end == 3 || data[..end].ends_with(b"\r\n.\r\n"));
    }
    assert!(whole.body.len() as u64 <= limit);
    let pieces = mail_fuzz::chunks(&mut Unstructured::new(sizes), data);
    assert_eq!(whole, decode(config, &pieces));
    assert_eq!(whole, decode_into(config, &pieces));
});
