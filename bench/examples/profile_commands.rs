//! Decodes the benchmark commands in a loop, for a profiler.
use smtp_proto::codec::{CommandOptions, decode_command};

fn main() {
    let inputs: [&[u8]; 3] = [
        b"EHLO mail.example.com\r\n",
        b"MAIL FROM:<sender.name@example.com> SIZE=123456 BODY=8BITMIME\r\n",
        b"RCPT TO:<recipient@example.org> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;recipient@example.org\r\n",
    ];
    let which: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(0);
    let options = CommandOptions::default();
    let mut total = 0;
    for _ in 0..5_000_000 {
        if let Ok(d) = decode_command(std::hint::black_box(inputs[which]), &options) {
            total += std::hint::black_box(d).complete().is_some() as usize;
        }
    }
    println!("{total}");
}
