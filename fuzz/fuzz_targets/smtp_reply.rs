//! SMTP reply decoder and assembler: arbitrary bytes never panic; a decoded reply encodes to
//! bytes that decode to the same reply; the assembler, fed any chunking, stays within its
//! limits and agrees with the one-shot decoder on the first reply.
#![no_main]

use arbitrary::Unstructured;
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use smtp_proto::codec::{Decoded, ReplyAssembler, ReplyOptions, decode_reply, encode_reply};

fuzz_target!(|input: &[u8]| {
    let mut u = Unstructured::new(input);
    let mut options = ReplyOptions::default();
    options.utf8 = u.arbitrary().unwrap_or(false);
    options.max_lines = usize::from(u.arbitrary::<u8>().unwrap_or(0)) + 1;
    let split = usize::from(u.arbitrary::<u16>().unwrap_or(0));
    let rest = u.take_rest();
    let (data, sizes) = rest.split_at(rest.len() - split.min(rest.len()));

    let first = decode_reply(data, &options);
    if let Ok(Decoded::Complete(reply, used)) = &first {
        assert!(*used <= data.len());
        let mut wire = BytesMut::new();
        encode_reply(reply, &mut wire);
        match decode_reply(&wire, &options) {
            Ok(Decoded::Complete(again, n)) => {
                assert_eq!(n, wire.len());
                assert_eq!(&again, reply);
            }
            other => panic!("{wire:?} did not decode again: {other:?}"),
        }
    }

    let mut assembler = ReplyAssembler::new(options);
    let mut assembled = None;
    for piece in mail_fuzz::chunks(&mut Unstructured::new(sizes), data) {
        let mut piece = piece;
        while let Some(reply) = assembler.next_reply(&mut piece) {
            if assembled.is_none() {
                assembled = Some(reply.map(|r| r.into_owned()));
            }
        }
        assert!(assembler.buffered() <= options.max_bytes + options.max_line_length);
    }
    if let (Ok(Decoded::Complete(reply, _)), Some(Ok(assembled))) = (&first, &assembled) {
        assert_eq!(reply, assembled);
    }
});
