//! Decodes the benchmark EHLO reply in a loop, for a profiler.
use smtp_proto::codec::{ReplyOptions, decode_ehlo_response};

fn main() {
    let input: &[u8] = b"250-mx.example.com Hello client.example [192.0.2.1]\r\n250-SIZE 52428800\r\n250-8BITMIME\r\n250-PIPELINING\r\n250-CHUNKING\r\n250-SMTPUTF8\r\n250-ENHANCEDSTATUSCODES\r\n250-STARTTLS\r\n250-AUTH PLAIN LOGIN\r\n250 DSN\r\n";
    let options = ReplyOptions::default();
    let mut total = 0;
    for _ in 0..3_000_000 {
        if let Ok(d) = decode_ehlo_response(std::hint::black_box(input), &options) {
            total += std::hint::black_box(d)
                .complete()
                .map_or(0, |e| e.capabilities().len());
        }
    }
    println!("{total}");
}
