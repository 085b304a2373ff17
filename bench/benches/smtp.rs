//! smtp-proto's codec against stalwart's smtp-proto 0.2 on the same inputs, in one run.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use smtp_proto::codec::{
    CommandOptions, Decoded, ReplyOptions, decode_command, decode_ehlo_response, decode_reply,
};
use stalwart_smtp_proto::response::parser::ResponseReceiver;
use stalwart_smtp_proto::{EhloResponse, Request};

use mail_bench::smtp_inputs::{EHLO, EHLO_REPLY, MAIL, OK_REPLY, RCPT};

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

fn replies(c: &mut Criterion) {
    let options = ReplyOptions::default();

    let mut group = c.benchmark_group("reply_250_2.1.0_Ok");
    group.throughput(Throughput::Bytes(OK_REPLY.len() as u64));
    group.bench_function("smtp-proto (ours)", |b| {
        b.iter(|| match decode_reply(black_box(OK_REPLY), &options) {
            Ok(Decoded::Complete(reply, used)) => {
                black_box(&reply);
                used
            }
            other => panic!("{other:?}"),
        })
    });
    group.bench_function("stalwart smtp-proto 0.2", |b| {
        b.iter(
            || match ResponseReceiver::default().parse(&mut black_box(OK_REPLY).iter()) {
                Ok(response) => {
                    black_box(&response);
                }
                Err(error) => panic!("{error:?}"),
            },
        )
    });
    group.finish();

    let mut group = c.benchmark_group("reply_EHLO_10_lines");
    group.throughput(Throughput::Bytes(EHLO_REPLY.len() as u64));
    group.bench_function("smtp-proto (ours), generic reply", |b| {
        b.iter(|| match decode_reply(black_box(EHLO_REPLY), &options) {
            Ok(Decoded::Complete(reply, used)) => {
                black_box(&reply);
                used
            }
            other => panic!("{other:?}"),
        })
    });
    group.bench_function("smtp-proto (ours), typed EHLO response", |b| {
        b.iter(
            || match decode_ehlo_response(black_box(EHLO_REPLY), &options) {
                Ok(Decoded::Complete(ehlo, used)) => {
                    black_box(&ehlo);
                    used
                }
                other => panic!("{other:?}"),
            },
        )
    });
    group.bench_function("stalwart smtp-proto 0.2, generic reply", |b| {
        b.iter(
            || match ResponseReceiver::default().parse(&mut black_box(EHLO_REPLY).iter()) {
                Ok(response) => {
                    black_box(&response);
                }
                Err(error) => panic!("{error:?}"),
            },
        )
    });
    group.bench_function("stalwart smtp-proto 0.2, typed EHLO response", |b| {
        b.iter(
            || match EhloResponse::parse(&mut black_box(EHLO_REPLY).iter()) {
                Ok(response) => {
                    black_box(&response);
                }
                Err(error) => panic!("{error:?}"),
            },
        )
    });
    group.finish();
}

criterion_group!(benches, commands, replies);
criterion_main!(benches);
