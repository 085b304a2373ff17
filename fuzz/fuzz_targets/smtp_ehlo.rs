//! EHLO response decoder: arbitrary bytes never panic; a decoded response encodes to bytes
//! that decode to the same response.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use smtp_proto::codec::{Decoded, ReplyOptions, decode_ehlo_response, encode_ehlo_response};

fuzz_target!(|input: &[u8]| {
    let options = ReplyOptions::default();
    let Ok(Decoded::Complete(ehlo, used)) = decode_ehlo_response(input, &options) else {
        return;
    };
    assert!(used <= input.len());
    let mut wire = BytesMut::new();
    encode_ehlo_response(&ehlo, &mut wire);
    let mut roomy = options;
    roomy.max_bytes = usize::MAX;
    match decode_ehlo_response(&wire, &roomy) {
        Ok(Decoded::Complete(again, n)) => {
            assert_eq!(n, wire.len());
            assert_eq!(again, ehlo);
        }
        other => panic!("{wire:?} did not decode again: {other:?}"),
    }
});
