//! Runs the zero-copy decoder over the benchmark message many times, for a profiler.
use bytes::Bytes;
use mail_wire::dot::{DotDecoder, DotEvent};

fn main() {
    let wire = Bytes::from(mail_bench::stuffed(&mail_bench::message(10 * 1024 * 1024)));
    let mut total = 0usize;
    let start = std::time::Instant::now();
    for _ in 0..200 {
        let mut decoder = DotDecoder::default();
        for at in (0..wire.len()).step_by(65536) {
            let mut input = wire.slice(at..(at + 65536).min(wire.len()));
            while let Some(event) = decoder.decode(&mut input) {
                if let DotEvent::Data(data) = event {
                    total += data.len();
                }
            }
        }
    }
    let per = start.elapsed() / 200;
    println!(
        "{total} {per:?} {:.1} GB/s",
        wire.len() as f64 / per.as_secs_f64() / 1e9
    );
}
