//! POP3 command decoder: arbitrary bytes never panic; whatever decodes encodes to one line that
//! decodes to the same command, taking the whole line, and encodes to the same bytes again.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use pop3_proto::codec::{CommandOptions, Decoded, decode_command, encode_command};

fuzz_target!(|input: &[u8]| {
    let Some((&flags, data)) = input.split_first() else {
        return;
    };
    let options = CommandOptions {
        utf8: flags & 1 == 1,
        max_line_length: if flags & 2 == 2 { 1024 } else { 255 },
    };
    let Ok(Decoded::Complete(command, used)) = decode_command(data, &options) else {
        return;
    };
    assert!(used <= data.len() && data.get(..used).is_some_and(|line| line.ends_with(b"\r\n")));
    let mut wire = BytesMut::new();
    encode_command(&command, &mut wire);
    assert!(wire.ends_with(b"\r\n"));
    assert_eq!(
        wire.iter().filter(|&&b| b == b'\n').count(),
        1,
        "one line: {wire:?}"
    );
    assert_eq!(wire.iter().filter(|&&b| b == b'\r').count(), 1, "{wire:?}");
    // The canonical form is never longer than what was decoded (leading zeros, verb case).
    assert!(wire.len() <= used, "{wire:?} longer than {used}");
    let again = match decode_command(&wire, &options) {
        Ok(Decoded::Complete(again, n)) => {
            assert_eq!(n, wire.len(), "{wire:?}");
            again
        }
        other => panic!("{wire:?} did not decode again: {other:?}"),
    };
    assert_eq!(again, command);
    let mut wire2 = BytesMut::new();
    encode_command(&again, &mut wire2);
    assert_eq!(wire, wire2);
});
