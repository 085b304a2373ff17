//! mail-wire against memcpy (the physical limit) and stalwart's smtp-proto 0.2, in one run.

use std::hint::black_box;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mail_bench::{command_stream, message, stuffed};
use mail_wire::dot::{DecodeStatus, DotDecoder, DotEncoder, DotEvent};
use mail_wire::line::{LineConfig, LineReader};

const MESSAGE_SIZE: usize = 10 * 1024 * 1024;
const CHUNK: usize = 64 * 1024;

fn dot_decode(c: &mut Criterion) {
    let wire = stuffed(&message(MESSAGE_SIZE));
    let chunks: Vec<&[u8]> = wire.chunks(CHUNK).collect();
    let shared = Bytes::from(wire.clone());
    let byte_chunks: Vec<Bytes> = (0..wire.len())
        .step_by(CHUNK)
        .map(|at| shared.slice(at..(at + CHUNK).min(wire.len())))
        .collect();
    let mut out: Vec<u8> = Vec::with_capacity(wire.len());

    let mut group = c.benchmark_group("dot_decode_10MiB");
    group.throughput(Throughput::Bytes(wire.len() as u64));
    group.sample_size(30);
    group.bench_function("memcpy", |b| {
        b.iter(|| {
            out.clear();
            for chunk in &chunks {
                out.extend_from_slice(chunk);
            }
            black_box(out.len())
        })
    });
    group.bench_function("mail-wire decode_into (copy)", |b| {
        b.iter(|| {
            out.clear();
            let mut decoder = DotDecoder::default();
            for chunk in &chunks {
                let mut input: &[u8] = chunk;
                if decoder.decode_into(&mut input, &mut out) != DecodeStatus::NeedMore {
                    break;
                }
            }
            assert!(decoder.is_done());
            black_box(out.len())
        })
    });
    group.bench_function("mail-wire decode (zero-copy Bytes)", |b| {
        b.iter(|| {
            let mut decoder = DotDecoder::default();
            let mut total = 0;
            for chunk in &byte_chunks {
                let mut input = chunk.clone();
                while let Some(event) = decoder.decode(&mut input) {
                    if let DotEvent::Data(data) = event {
                        total += black_box(data).len();
                    }
                }
            }
            assert!(decoder.is_done());
            black_box(total)
        })
    });
    group.bench_function("stalwart smtp-proto 0.2 DataReceiver", |b| {
        b.iter(|| {
            out.clear();
            let mut receiver = stalwart_smtp_proto::request::receiver::DataReceiver::new();
            let mut done = false;
            for chunk in &chunks {
                if receiver.ingest(&mut chunk.iter(), &mut out) {
                    done = true;
                    break;
                }
            }
            assert!(done);
            black_box(out.len())
        })
    });
    group.finish();
}

fn dot_encode(c: &mut Criterion) {
    let body = message(MESSAGE_SIZE);
    let chunks: Vec<&[u8]> = body.chunks(CHUNK).collect();
    let mut out: Vec<u8> = Vec::with_capacity(body.len() + body.len() / 32);

    let mut group = c.benchmark_group("dot_encode_10MiB");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.sample_size(30);
    group.bench_function("memcpy", |b| {
        b.iter(|| {
            out.clear();
            for chunk in &chunks {
                out.extend_from_slice(chunk);
            }
            black_box(out.len())
        })
    });
    group.bench_function("mail-wire encode", |b| {
        b.iter(|| {
            out.clear();
            let mut encoder = DotEncoder::default();
            for chunk in &chunks {
                encoder.encode(chunk, &mut out).unwrap();
            }
            encoder.finish(&mut out).unwrap();
            black_box(out.len())
        })
    });
    group.finish();
}

fn line_framer(c: &mut Criterion) {
    let stream = command_stream(2000);
    let shared = Bytes::from(stream.clone());
    let chunks: Vec<Bytes> = (0..stream.len())
        .step_by(CHUNK)
        .map(|at| shared.slice(at..(at + CHUNK).min(stream.len())))
        .collect();

    let mut group = c.benchmark_group("line_framer_commands");
    group.throughput(Throughput::Bytes(stream.len() as u64));
    group.bench_function(
        BenchmarkId::new("mail-wire LineReader", "strict, 512"),
        |b| {
            b.iter(|| {
                let mut reader = LineReader::new(LineConfig::new(512));
                let mut lines = 0;
                for chunk in &chunks {
                    let mut input = chunk.clone();
                    while let Some(line) = reader.next_line(&mut input) {
                        lines += black_box(line.unwrap()).len();
                    }
                }
                black_box(lines)
            })
        },
    );
    // The floor: split at LF with memchr, no checks and no limits.
    group.bench_function(BenchmarkId::new("memchr split", "unchecked"), |b| {
        b.iter(|| {
            let mut lines = 0;
            let mut rest: &[u8] = &stream;
            while let Some(at) = memchr::memchr(b'\n', rest) {
                lines += black_box(&rest[..at]).len();
                rest = &rest[at + 1..];
            }
            black_box(lines)
        })
    });
    group.finish();
}

criterion_group!(benches, dot_decode, dot_encode, line_framer);
criterion_main!(benches);
