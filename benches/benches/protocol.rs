//! Protocol throughput: read a generated RECORD stream with
//! `singer_protocol::Reader` and write every message back with
//! `singer_protocol::Writer`, on one thread. The goal (issue #2) is at least
//! 300 MB/s read + write.

#![allow(
    clippy::expect_used,
    clippy::print_stderr,
    reason = "a bench harness: bad input must abort the run loudly, and the input size is reported on stderr"
)]
#![allow(missing_docs, reason = "criterion_group! generates undocumented items")]

use std::hint::black_box;
use std::io::BufReader;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use singer_protocol::{Message, Reader, Writer};

/// Records per iteration: big enough to leave the caches, small enough for
/// a quick run.
const RECORDS: usize = 50_000;

fn read_write(c: &mut Criterion) {
    let input = benches::issues_stream(RECORDS);
    let mut group = c.benchmark_group("protocol");
    group.throughput(Throughput::Bytes(input.len() as u64));
    group.sample_size(20);
    group.bench_function("read_write_issues", |b| {
        let mut out = Vec::with_capacity(input.len() + 1024);
        b.iter(|| {
            out.clear();
            let mut writer = Writer::new(&mut out);
            let reader = Reader::new(BufReader::with_capacity(1 << 16, input.as_slice()));
            for message in reader {
                let message = message.expect("valid input");
                match &message.message {
                    Message::Record(record) => writer.write_record(record).expect("write"),
                    other => writer.write(other).expect("write"),
                }
            }
            black_box(out.len())
        });
        assert_eq!(out, input, "the stream must round-trip byte for byte");
    });
    group.bench_function("read_only_issues", |b| {
        b.iter(|| {
            let reader = Reader::new(BufReader::with_capacity(1 << 16, input.as_slice()));
            let mut n = 0usize;
            for message in reader {
                n += usize::from(matches!(
                    message.expect("valid").message,
                    Message::Record(_)
                ));
            }
            black_box(n)
        });
    });
    group.finish();
    eprintln!(
        "input: {RECORDS} records, {} bytes, {} bytes/record",
        input.len(),
        input.len() / RECORDS
    );
}

criterion_group!(benches, read_write);
criterion_main!(benches);
