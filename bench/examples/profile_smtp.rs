//! Decodes one input of `benches/smtp.rs` in a loop, with our decoder or stalwart's, for a
//! profiler: `profile_smtp <input> <ours|stalwart> [iterations] [alignment]`, input one of
//! `ehlo`, `mail`, `rcpt`, `ok`, `ehlo-reply` (generic reply), `ehlo-typed`. Under
//! `valgrind --tool=callgrind` the instructions per decode are the total over the iterations
//! (1,000,000 by default), less about 0.3 million for the start.
//!
//! Without an alignment the input is the constant where the linker put it; `core`'s UTF-8
//! check reads words only from a word boundary, so a build that moves the constant can move
//! the count by a hundred instructions. An alignment of 0 to 7 copies the input that many
//! octets past a word boundary first (for both decoders), so that builds compare alike.
use std::hint::black_box;

use smtp_proto::codec::{
    CommandOptions, ReplyOptions, decode_command, decode_ehlo_response, decode_reply,
};
use stalwart_smtp_proto::response::parser::ResponseReceiver;
use stalwart_smtp_proto::{EhloResponse, Request};

use mail_bench::smtp_inputs::{EHLO, EHLO_REPLY, MAIL, OK_REPLY, RCPT};

fn main() {
    let mut args = std::env::args().skip(1);
    let input = args.next().unwrap_or_else(|| "ehlo".into());
    let ours = args.next().is_none_or(|who| who == "ours");
    let iterations: usize = args
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let alignment: Option<usize> = args.next().map(|n| match n.parse() {
        Ok(at @ 0..=7) => at,
        _ => {
            eprintln!("the alignment is 0 to 7 octets past a word boundary, not {n}");
            std::process::exit(2);
        }
    });
    let commands = CommandOptions::default();
    let replies = ReplyOptions::default();
    let (ehlo, mail, rcpt, ok_reply, ehlo_reply) = match alignment {
        Some(at) => (
            placed(EHLO, at),
            placed(MAIL, at),
            placed(RCPT, at),
            placed(OK_REPLY, at),
            placed(EHLO_REPLY, at),
        ),
        None => (EHLO, MAIL, RCPT, OK_REPLY, EHLO_REPLY),
    };
    let decode: Box<dyn Fn() -> bool> = match (input.as_str(), ours) {
        ("ehlo", true) => Box::new(|| decode_command(black_box(ehlo), &commands).is_ok()),
        ("mail", true) => Box::new(|| decode_command(black_box(mail), &commands).is_ok()),
        ("rcpt", true) => Box::new(|| decode_command(black_box(rcpt), &commands).is_ok()),
        ("ok", true) => Box::new(|| decode_reply(black_box(ok_reply), &replies).is_ok()),
        ("ehlo-reply", true) => Box::new(|| decode_reply(black_box(ehlo_reply), &replies).is_ok()),
        ("ehlo-typed", true) => {
            Box::new(|| decode_ehlo_response(black_box(ehlo_reply), &replies).is_ok())
        }
        ("ehlo", false) => Box::new(|| Request::parse(&mut black_box(ehlo).iter()).is_ok()),
        ("mail", false) => Box::new(|| Request::parse(&mut black_box(mail).iter()).is_ok()),
        ("rcpt", false) => Box::new(|| Request::parse(&mut black_box(rcpt).iter()).is_ok()),
        ("ok", false) => Box::new(|| {
            ResponseReceiver::default()
                .parse(&mut black_box(ok_reply).iter())
                .is_ok()
        }),
        ("ehlo-reply", false) => Box::new(|| {
            ResponseReceiver::default()
                .parse(&mut black_box(ehlo_reply).iter())
                .is_ok()
        }),
        ("ehlo-typed", false) => {
            Box::new(|| EhloResponse::parse(&mut black_box(ehlo_reply).iter()).is_ok())
        }
        (other, _) => {
            eprintln!("unknown input {other}");
            std::process::exit(2);
        }
    };
    let start = std::time::Instant::now();
    let decoded = (0..iterations).filter(|_| decode()).count();
    let each = start.elapsed() / u32::try_from(iterations.max(1)).unwrap_or(u32::MAX);
    println!("{decoded} decoded, {each:?} each");
}

/// A copy of `input` that starts `at` octets (0 to 7) past a word boundary; leaked, as the
/// constants it stands for live for the whole run.
fn placed(input: &'static [u8], at: usize) -> &'static [u8] {
    let mut buffer = vec![0u8; input.len() + 16];
    let start = buffer.as_ptr().align_offset(8) + at;
    buffer[start..start + input.len()].copy_from_slice(input);
    &buffer.leak()[start..start + input.len()]
}
