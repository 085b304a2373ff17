//! SMTP command decoder: arbitrary bytes never panic; whatever decodes encodes to a line that
//! decodes to the same command (source routes aside) and encodes to the same bytes again.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use smtp_proto::codec::{CommandOptions, Decoded, decode_command, encode_command};

fuzz_target!(|input: &[u8]| {
    let Some((&flags, data)) = input.split_first() else {
        return;
    };
    let options = CommandOptions::default()
        .smtputf8(flags & 1 == 1)
        .max_line_length(if flags & 2 == 2 { 4096 } else { 512 });
    let Ok(Decoded::Complete(command, used)) = decode_command(data, &options) else {
        return;
    };
    assert!(used <= data.len() && data.get(..used).is_some_and(|line| line.ends_with(b"\r\n")));
    let mut wire = BytesMut::new();
    encode_command(&command, &mut wire);
    assert_eq!(
        wire.iter().filter(|&&b| b == b'\n').count(),
        1,
        "one line: {wire:?}"
    );
    let roomy = options.max_line_length(8192);
    let again = match decode_command(&wire, &roomy) {
        Ok(Decoded::Complete(again, n)) if n == wire.len() => again,
        other => panic!("{wire:?} did not decode again: {other:?}"),
    };
    assert_eq!(again, command.without_routes());
    let mut wire2 = BytesMut::new();
    encode_command(&again, &mut wire2);
    assert_eq!(wire, wire2);
});
