//! Line framer: any chunking gives the same lines as the whole input, the bytes held never
//! exceed the limit, and every line returned is within the limit and free of CR and LF.
#![no_main]

use arbitrary::Unstructured;
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use mail_wire::line::{LineConfig, LineReader};

fn lines(config: LineConfig, pieces: &[&[u8]]) -> Vec<Result<Bytes, mail_wire::line::LineError>> {
    let mut reader = LineReader::new(config);
    let mut out = Vec::new();
    for piece in pieces {
        let mut input = *piece;
        while let Some(line) = reader.next_line(&mut input) {
            if let Ok(line) = &line {
                assert!(line.len() + 2 <= config.max_length());
                assert!(!line.contains(&b'\r') && !line.contains(&b'\n'));
            }
            out.push(line);
        }
        assert!(input.is_empty());
        assert!(reader.buffered() <= config.max_length());
    }
    out
}

fuzz_target!(|input: &[u8]| {
    let mut u = Unstructured::new(input);
    let max = usize::from(u.arbitrary::<u8>().unwrap_or(0)) + 2;
    let lenient = u.arbitrary::<bool>().unwrap_or(false);
    let split = usize::from(u.arbitrary::<u16>().unwrap_or(0));
    let rest = u.take_rest();
    let (data, sizes) = rest.split_at(rest.len() - split.min(rest.len()));
    let config = LineConfig::new(max).accept_bare_lf(lenient);
    let whole = lines(config, &[data]);
    let pieces = mail_fuzz::chunks(&mut Unstructured::new(sizes), data);
    assert_eq!(whole, lines(config, &pieces));
});
