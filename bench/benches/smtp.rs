//! smtp-proto's codec against stalwart's smtp-proto 0.2 on the same inputs, in one run.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use smtp_proto::codec::{CommandOptions, Decoded, decode_command};
use stalwart_smtp_proto::Request;

const EHLO: &[u8] = b"EHLO mail.example.com\r\n";
const MAIL: &[u8] = b"MAIL FROM:<sender.name@example.com> SIZE=123456 BODY=8BITMIME\r\n";
const RCPT: &[u8] =
    b"RCPT TO:<recipient@example.org> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;recipient@example.org\r\n";

fn commands(c: &mut Criterion) {
    let options = CommandOptions::default();
    for (name, input) in [("EHLO", EHLO), ("MAIL", MAIL), ("RCPT", RCPT)] {
        let mut group = c.benchmark_group(format!("command_{name}"));
        group.throughput(Throughput::Bytes(input.len() as u64));
        group.bench_function("smtp-proto (ours)", |b| {
            b.iter(|| match decode_command(black_box(input), &options) {
                Ok(Decoded::Complete(command, used)) => {
                    black_box(&command);
                    used
                }
                other => panic!("{other:?}"),
            })
        });
        group.bench_function("stalwart smtp-proto 0.2", |b| {
            b.iter(|| match Request::parse(&mut black_box(input).iter()) {
                Ok(request) => {
                    black_box(&request);
                }
                Err(error) => panic!("{error:?}"),
            })
        });
        group.finish();
    }
}

criterion_group!(benches, commands);
criterion_main!(benches);
