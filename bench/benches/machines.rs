//! The machines in memory, without sockets: a whole SMTP transaction through smtp-proto's
//! client and server, and a whole POP3 session through pop3-proto's, per iteration, so that a
//! regression in a machine shows on its own.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mail_bench::wiring::{maildrop, pop3_session, smtp_session};

const BODY: usize = 10 * 1024;
const MESSAGES: usize = 100;

fn smtp(c: &mut Criterion) {
    let body = mail_bench::message(BODY);
    let mut group = c.benchmark_group("smtp_transaction");
    group.throughput(Throughput::Elements(1));
    group.bench_function("EHLO MAIL RCPT DATA(10 KiB) QUIT", |b| {
        b.iter(|| assert_eq!(smtp_session(black_box(&body), 1), body.len()))
    });
    group.finish();
}

fn pop3(c: &mut Criterion) {
    let message = mail_bench::message(BODY);
    let listing = maildrop(&message, MESSAGES);
    let mut group = c.benchmark_group("pop3_session");
    group.throughput(Throughput::Elements(1));
    group.bench_function("USER PASS LIST RETRx100(10 KiB) QUIT", |b| {
        b.iter(|| {
            let fetched = pop3_session(black_box(&message), &listing, MESSAGES);
            assert_eq!(fetched, message.len() * MESSAGES)
        })
    });
    group.finish();
}

criterion_group!(benches, smtp, pop3);
criterion_main!(benches);
