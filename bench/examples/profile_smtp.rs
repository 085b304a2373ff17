//! Decodes one input of `benches/smtp.rs` in a loop, with our decoder or stalwart's, for a
//! profiler: `profile_smtp <input> <ours|stalwart> [iterations]`, input one of `ehlo`, `mail`,
//! `rcpt`, `ok`, `ehlo-reply` (generic reply), `ehlo-typed`. Under
//! `valgrind --tool=callgrind` the instructions per decode are the total over the iterations
//! (1,000,000 by default), less about 0.3 million for the start.
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
    let commands = CommandOptions::default();
    let replies = ReplyOptions::default();
    let decode: Box<dyn Fn() -> bool> = match (input.as_str(), ours) {
        ("ehlo", true) => Box::new(|| decode_command(black_box(EHLO), &commands).is_ok()),
        ("mail", true) => Box::new(|| decode_command(black_box(MAIL), &commands).is_ok()),
        ("rcpt", true) => Box::new(|| decode_command(black_box(RCPT), &commands).is_ok()),
        ("ok", true) => Box::new(|| decode_reply(black_box(OK_REPLY), &replies).is_ok()),
        ("ehlo-reply", true) => Box::new(|| decode_reply(black_box(EHLO_REPLY), &replies).is_ok()),
        ("ehlo-typed", true) => {
            Box::new(|| decode_ehlo_response(black_box(EHLO_REPLY), &replies).is_ok())
        }
        ("ehlo", false) => Box::new(|| Request::parse(&mut black_box(EHLO).iter()).is_ok()),
        ("mail", false) => Box::new(|| Request::parse(&mut black_box(MAIL).iter()).is_ok()),
        ("rcpt", false) => Box::new(|| Request::parse(&mut black_box(RCPT).iter()).is_ok()),
        ("ok", false) => Box::new(|| {
            ResponseReceiver::default()
                .parse(&mut black_box(OK_REPLY).iter())
                .is_ok()
        }),
        ("ehlo-reply", false) => Box::new(|| {
            ResponseReceiver::default()
                .parse(&mut black_box(EHLO_REPLY).iter())
                .is_ok()
        }),
        ("ehlo-typed", false) => {
            Box::new(|| EhloResponse::parse(&mut black_box(EHLO_REPLY).iter()).is_ok())
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
