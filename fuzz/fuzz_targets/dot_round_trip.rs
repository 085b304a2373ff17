//! Dot encoder then decoder: any body, in any chunking, comes back with only its bare CR and LF
//! turned into CRLF, and the stuffed stream holds CRLF.CRLF only at its end.
#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use mail_wire::dot::{DecodeStatus, DotDecoder, DotEncoder};

fn normalized(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 2);
    let mut bytes = body.iter().peekable();
    while let Some(&byte) = bytes.next() {
        match byte {
            b'\r' => {
                bytes.next_if_eq(&&b'\n');
                out.extend_from_slice(b"\r\n");
            }
            b'\n' => out.extend_from_slice(b"\r\n"),
            other => out.push(other),
        }
    }
    if !out.is_empty() && !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

fuzz_target!(|input: &[u8]| {
    let mut u = Unstructured::new(input);
    let split = usize::from(u.arbitrary::<u16>().unwrap_or(0));
    let rest = u.take_rest();
    let (body, sizes) = rest.split_at(rest.len() - split.min(rest.len()));
    let mut sizes = Unstructured::new(sizes);

    let mut encoder = DotEncoder::default();
    let mut wire = Vec::new();
    for piece in mail_fuzz::chunks(&mut sizes, body) {
        encoder.encode(piece, &mut wire).unwrap();
    }
    encoder.finish(&mut wire).unwrap();
    let first_end = wire.windows(5).position(|w| w == b"\r\n.\r\n");
    if wire != b".\r\n" {
        assert_eq!(first_end, Some(wire.len() - 5));
    }

    let mut decoder = DotDecoder::default();
    let mut decoded = Vec::new();
    let mut status = DecodeStatus::NeedMore;
    for piece in mail_fuzz::chunks(&mut sizes, &wire) {
        let mut piece = piece;
        status = decoder.decode_into(&mut piece, &mut decoded);
        assert!(!matches!(status, DecodeStatus::Invalid(_)));
    }
    assert_eq!(status, DecodeStatus::End);
    assert_eq!(decoded, normalized(body));
});
