//! target-csv's pipeline: the shared driver (validation on) over the CSV
//! loader, fed `benches::issues_stream` (tap-postgres's bench-table shape:
//! 15 fields of mixed types), written to a scratch directory.
//!
//! Goal (issue #6): ≥ 250,000 records/s on the 2-core bench machine; the
//! end-to-end figure with the binary, peak RSS and the Python peer comes
//! from `benches/target-csv-vs-python.sh`.
//!
//! Run: `cargo bench -p benches --bench target_csv`.

#![allow(
    clippy::expect_used,
    reason = "a bench harness aborts loudly on a broken setup"
)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use singer_protocol::Writer;
use singer_target::{Driver, DriverSettings};
use singer_target_csv::{CsvConfig, CsvLoader};

/// Records per iteration.
const RECORDS: usize = 100_000;

fn target_csv(c: &mut Criterion) {
    let input = benches::issues_stream(RECORDS);
    let dir = std::env::temp_dir().join(format!("target-csv-bench-{}", std::process::id()));
    let mut group = c.benchmark_group("target_csv");
    group.throughput(Throughput::Elements(
        u64::try_from(RECORDS).unwrap_or(u64::MAX),
    ));
    group.sample_size(10);
    for (name, validate) in [("validate", true), ("no_validate", false)] {
        group.bench_function(format!("issues_{RECORDS}_{name}"), |b| {
            b.iter(|| {
                let _ = std::fs::remove_dir_all(&dir);
                let config = CsvConfig {
                    destination_path: dir.clone(),
                    file_naming_scheme: Some("{stream}.csv".to_owned()),
                    driver: DriverSettings {
                        validate_records: validate,
                        ..DriverSettings::default()
                    },
                    ..CsvConfig::default()
                };
                let loader = CsvLoader::new(&config).expect("loader");
                let mut out = Writer::new(Vec::new());
                let summary = Driver::new(loader, config.driver_config())
                    .run(std::io::Cursor::new(input.clone()), &mut out)
                    .expect("loads");
                black_box(summary.records)
            });
        });
    }
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, target_csv);
criterion_main!(benches);
