//! tap-postgres FULL_TABLE against PostgreSQL's own `COPY ... (FORMAT binary)`
//! on the same table, in the same run (issue #4's speed and memory goal).
//!
//! Loads a realistic table (14 columns of mixed types, ~10% NULLs, generated
//! in SQL by `fixtures/postgres/bench-issues.sql`) of `ROWS` rows into a
//! throwaway PostgreSQL, then alternates
//! `psql -c "COPY (SELECT ...) TO STDOUT (FORMAT binary)" > /dev/null` and
//! `tap-postgres --catalog ... > /dev/null` `RUNS` times each, and prints the
//! median times, the ratio, rows/s and the tap's peak RSS (from
//! `/usr/bin/time`). The same is done at 10,000 rows to show that memory does
//! not grow with the table. Goal: ratio ≤ 1.5, peak RSS ≤ 50 MB and flat.
//!
//! Manifest mode (issue #5) is timed on the same table in the same runs: a
//! manifest whose `import_query` selects the same columns, loaded with
//! `--load-type full` (key ranges of 5,000,000 ids, `_uploaded_at` on every
//! record). Goal: within 10% of catalog-mode FULL_TABLE.
//!
//! Run: `cargo bench -p tap-postgres --bench copy_ratio` (or
//! `benches/tap-postgres-vs-copy.sh`). `TAP_BENCH_ROWS` overrides the size.

#![allow(
    clippy::expect_used,
    clippy::print_stdout,
    clippy::cast_precision_loss,
    clippy::indexing_slicing,
    reason = "a bench harness that reports on stdout and aborts loudly"
)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use singer_testkit::bench::{self, BENCH_COLUMNS};

const ROWS: u64 = 1_000_000;
const SMALL_ROWS: u64 = 10_000;
const RUNS: usize = 5;

fn main() {
    let rows = std::env::var("TAP_BENCH_ROWS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(ROWS);
    let cluster = singer_testkit::postgres().expect("a throwaway PostgreSQL");
    let dir = std::env::temp_dir().join(format!("tap-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("bench dir");
    println!(
        "tap-postgres FULL_TABLE vs COPY (FORMAT binary) vs manifest full load, {RUNS} runs each, medians"
    );
    println!(
        "| rows | COPY binary s | tap s | ratio | COPY rows/s | tap rows/s | tap peak RSS MB | manifest s | manifest/catalog |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for size in [SMALL_ROWS, rows] {
        let db = cluster.create_database("bench").expect("database");
        let mut client = cluster.connect(&db).expect("connect");
        bench::load_bench_table(&mut client, size).expect("load");
        let (copy, tap, rss, manifest) = measure(cluster, &db, &dir);
        println!(
            "| {size} | {copy:.3} | {tap:.3} | {:.2} | {:.0} | {:.0} | {:.1} | {manifest:.3} | {:.3} |",
            tap / copy,
            size as f64 / copy,
            size as f64 / tap,
            rss as f64 / 1024.0,
            manifest / tap
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Median COPY seconds, median tap seconds, max tap peak RSS (KiB), median
/// manifest full-load seconds.
fn measure(cluster: &singer_testkit::Cluster, db: &str, dir: &Path) -> (f64, f64, u64, f64) {
    let config = dir.join("config.json");
    std::fs::write(
        &config,
        serde_json::json!({
            "host": cluster.host(), "port": cluster.port(), "user": cluster.user(),
            "dbname": db, "sslmode": "disable"
        })
        .to_string(),
    )
    .expect("config");
    let catalog = dir.join("catalog.json");
    bench::write_full_table_catalog(
        Path::new(env!("CARGO_BIN_EXE_tap-postgres")),
        &config,
        &catalog,
    )
    .expect("a FULL_TABLE catalog");

    let manifest = dir.join("manifest.yaml");
    std::fs::write(&manifest, bench::bench_manifest()).expect("manifest");
    let psql = cluster.bin_dir().join("psql");
    let mut manifests = Vec::new();
    let copy_sql = format!(
        "COPY (SELECT {BENCH_COLUMNS} FROM public.issues ORDER BY id) TO STDOUT (FORMAT binary)"
    );
    let mut copies = Vec::new();
    let mut taps = Vec::new();
    let mut rss = 0;
    for _ in 0..RUNS {
        let started = Instant::now();
        let status = Command::new(&psql)
            .args([
                "-X",
                "-q",
                "-h",
                cluster.host(),
                "-p",
                &cluster.port().to_string(),
                "-U",
                cluster.user(),
                "-d",
                db,
            ])
            .args(["-c", &copy_sql])
            .stdout(Stdio::null())
            .status()
            .expect("psql");
        copies.push(started.elapsed().as_secs_f64());
        assert!(status.success(), "COPY failed");

        let started = Instant::now();
        let output = Command::new("/usr/bin/time")
            .args(["-f", "%M"])
            .arg(env!("CARGO_BIN_EXE_tap-postgres"))
            .args(["--config", config.to_str().expect("utf-8")])
            .args([
                "--catalog",
                catalog.to_str().expect("utf-8"),
                "--log-level",
                "warn",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .expect("tap-postgres under /usr/bin/time");
        taps.push(started.elapsed().as_secs_f64());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "tap failed: {stderr}");
        let kib: u64 = stderr
            .lines()
            .last()
            .and_then(|l| l.trim().parse().ok())
            .expect("peak RSS from /usr/bin/time");
        rss = rss.max(kib);

        let started = Instant::now();
        let status = Command::new(env!("CARGO_BIN_EXE_tap-postgres"))
            .args(["--config", config.to_str().expect("utf-8")])
            .args(["--manifest", manifest.to_str().expect("utf-8")])
            .args(["--load-type", "full", "--log-level", "warn"])
            .stdout(Stdio::null())
            .status()
            .expect("tap-postgres --manifest");
        manifests.push(started.elapsed().as_secs_f64());
        assert!(status.success(), "manifest load failed");
    }
    (median(copies), median(taps), rss, median(manifests))
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}
