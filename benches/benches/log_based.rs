//! LOG_BASED bench (issue #16), run by `benches/log-based.sh`: in one run,
//! on a throwaway PostgreSQL with `wal_level = logical`, times tap-postgres
//! (release) into /dev/null:
//!
//! - FULL_TABLE on the `issues` bench table (`ROWS`, 1,000,000), for the
//!   rows-per-second it is compared with;
//! - LOG_BASED replay of one transaction updating every row of that table
//!   (one `ROWS`-row transaction: the change stream's worst case for
//!   memory), and of one updating `SMALL` (10,000) rows, with the tap's
//!   peak RSS for both (flat: memory does not grow with the transaction);
//! - LOG_BASED replay of a pgbench workload (`pgbench -T SECONDS -c 2`,
//!   TPC-B-like: updates of accounts, tellers and branches; the history
//!   table has no primary key and is not published).
//!
//! Prints changes (or rows) per second, the tap's CPU seconds and peak RSS,
//! medians of `RUNS` (3) runs; every run is checked to emit what was
//! changed.

#![allow(
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::indexing_slicing,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "a bench binary: a failure is the bench failing; it prints its table"
)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use serde_json::{Value, json};

struct Sample {
    seconds: f64,
    cpu: f64,
    rss_kb: u64,
    records: u64,
}

struct Bench {
    tap: PathBuf,
    dir: PathBuf,
}

fn main() {
    let started = Instant::now();
    let rows = env_number("ROWS").unwrap_or(1_000_000);
    let small = env_number("SMALL").unwrap_or(10_000);
    let runs = env_number("RUNS").unwrap_or(3).max(1) as usize;
    let seconds = env_number("SECONDS").unwrap_or(10);
    let cluster = singer_testkit::postgres().expect("a throwaway PostgreSQL");
    let dir = std::env::temp_dir().join(format!("log-based-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("bench dir");
    let bench = Bench {
        tap: PathBuf::from(std::env::var("LOG_BASED_BENCH_TAP").expect("LOG_BASED_BENCH_TAP")),
        dir,
    };
    let db = cluster.create_database("log_bench").expect("database");
    let mut client = cluster.connect(&db).expect("connect");
    singer_testkit::bench::load_bench_table(&mut client, rows).expect("the bench table");
    client.batch_execute("ANALYZE issues").expect("analyze");
    let config = bench.dir.join("tap.json");
    std::fs::write(
        &config,
        json!({
            "host": cluster.host(), "port": cluster.port(), "user": cluster.user(),
            "dbname": db, "sslmode": "disable", "state_interval": 100_000,
        })
        .to_string(),
    )
    .expect("config");
    let full_catalog = bench.catalog(&config, &["public-issues"], "FULL_TABLE");
    let log_catalog = bench.catalog(&config, &["public-issues"], "LOG_BASED");

    // The copy (bootstrap) once; its state is where every replay starts.
    let (bootstrap, state) = bench.run(&config, &log_catalog, None);
    assert_eq!(bootstrap.records, rows, "the initial copy");
    let state_path = bench.dir.join("state.json");
    std::fs::write(&state_path, &state).expect("state");

    let mut full = Vec::new();
    for _ in 0..runs {
        let (sample, _) = bench.run(&config, &full_catalog, None);
        assert_eq!(sample.records, rows);
        full.push(sample);
    }
    // One transaction over every row, then over SMALL rows: replayed from
    // the same state RUNS times each (a peek does not move the slot).
    client
        .batch_execute("UPDATE issues SET state = state")
        .expect("the big transaction");
    let mut big = Vec::new();
    for _ in 0..runs {
        let (sample, _) = bench.run(&config, &log_catalog, Some(&state_path));
        assert_eq!(sample.records, rows, "every change of the big transaction");
        big.push(sample);
    }
    // Advance past the big transaction, then the small one.
    let (_, after_big) = bench.run(&config, &log_catalog, Some(&state_path));
    std::fs::write(&state_path, &after_big).expect("state");
    let _ = bench.run(&config, &log_catalog, Some(&state_path));
    client
        .batch_execute(&format!(
            "UPDATE issues SET state = state WHERE id <= {small}"
        ))
        .expect("the small transaction");
    let mut little = Vec::new();
    for _ in 0..runs {
        let (sample, _) = bench.run(&config, &log_catalog, Some(&state_path));
        assert_eq!(sample.records, small);
        little.push(sample);
    }

    // pgbench: its tables as LOG_BASED streams, a timed workload, replays.
    let pgbench = cluster.bin_dir().join("pgbench");
    let env = |command: &mut Command| {
        command
            .env("PGHOST", cluster.host())
            .env("PGPORT", cluster.port().to_string())
            .env("PGUSER", cluster.user());
    };
    let mut init = Command::new(&pgbench);
    env(&mut init);
    let status = init
        .args(["-i", "-q", "-s", "2", &db])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("pgbench -i");
    assert!(status.success(), "pgbench -i");
    let tables = [
        "public-pgbench_accounts",
        "public-pgbench_branches",
        "public-pgbench_tellers",
    ];
    let pg_catalog = bench.catalog(&config, &tables, "LOG_BASED");
    let (_, pg_state) = bench.run(&config, &pg_catalog, None);
    let pg_state_path = bench.dir.join("pgbench-state.json");
    std::fs::write(&pg_state_path, &pg_state).expect("state");
    let mut workload = Command::new(&pgbench);
    env(&mut workload);
    let output = workload
        .args(["-c", "2", "-j", "2", "-T", &seconds.to_string(), &db])
        .output()
        .expect("pgbench");
    assert!(output.status.success(), "pgbench");
    let transactions = String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|l| {
            l.strip_prefix("number of transactions actually processed: ")
                .and_then(|n| n.split('/').next())
                .and_then(|n| n.trim().parse::<u64>().ok())
        })
        .expect("pgbench's transaction count");
    let mut pg = Vec::new();
    for _ in 0..runs {
        let (sample, _) = bench.run(&config, &pg_catalog, Some(&pg_state_path));
        // Three updates per TPC-B transaction on published tables.
        assert_eq!(
            sample.records,
            transactions * 3,
            "every change of the workload"
        );
        pg.push(sample);
    }

    println!();
    println!(
        "LOG_BASED on this 2-core machine (PostgreSQL 15, wal_level = logical), tap-postgres \
         (release) into /dev/null; medians of {runs} runs; every run emitted every change."
    );
    println!();
    println!("| what | records | median s | records/s | tap CPU s | tap peak RSS MB |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (label, samples) in [
        ("FULL_TABLE, the issues table", &full),
        ("LOG_BASED, one transaction updating every row", &big),
        ("LOG_BASED, one transaction updating SMALL rows", &little),
        ("LOG_BASED, pgbench workload (3 tables)", &pg),
    ] {
        let records = samples.first().map_or(0, |s| s.records);
        let secs = median(samples.iter().map(|s| s.seconds).collect());
        println!(
            "| {} | {records} | {secs:.2} | {:.0} | {:.2} | {:.1} |",
            label.replace("SMALL", &small.to_string()),
            records as f64 / secs,
            median(samples.iter().map(|s| s.cpu).collect()),
            median(samples.iter().map(|s| s.rss_kb as f64).collect()) / 1024.0
        );
    }
    println!();
    println!(
        "pgbench: {transactions} transactions in {seconds} s with 2 clients. Whole bench {:.0} s.",
        started.elapsed().as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&bench.dir);
}

impl Bench {
    /// Discovers and selects `streams` with `method`.
    fn catalog(&self, config: &Path, streams: &[&str], method: &str) -> PathBuf {
        let output = Command::new(&self.tap)
            .arg("--config")
            .arg(config)
            .args(["--discover", "--log-level", "warn"])
            .output()
            .expect("discover");
        assert!(output.status.success(), "discovery failed");
        let mut catalog: Value = serde_json::from_slice(&output.stdout).expect("catalog");
        let entries = catalog["streams"].as_array_mut().expect("streams");
        entries.retain(|s| streams.contains(&s["tap_stream_id"].as_str().unwrap_or_default()));
        for stream in entries.iter_mut() {
            for entry in stream["metadata"].as_array_mut().expect("metadata") {
                if entry["breadcrumb"].as_array().is_some_and(Vec::is_empty) {
                    entry["metadata"]["selected"] = true.into();
                    entry["metadata"]["replication-method"] = method.into();
                }
            }
        }
        let path = self
            .dir
            .join(format!("{}-{method}.json", streams.join("+")));
        std::fs::write(&path, catalog.to_string()).expect("catalog");
        path
    }

    /// One run into /dev/null (RECORD lines counted); returns the sample
    /// and the last STATE's value.
    fn run(&self, config: &Path, catalog: &Path, state: Option<&Path>) -> (Sample, String) {
        let times = self.dir.join("tap.time");
        let mut command = Command::new("/usr/bin/time");
        command
            .args(["-f", "%M %U %S", "-o"])
            .arg(&times)
            .arg(&self.tap)
            .arg("--config")
            .arg(config)
            .arg("--catalog")
            .arg(catalog)
            .args(["--log-level", "warn"]);
        if let Some(state) = state {
            command.arg("--state").arg(state);
        }
        let started = Instant::now();
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("tap");
        let stdout = child.stdout.take().expect("stdout");
        let mut records = 0_u64;
        let mut last_state = String::new();
        for line in BufReader::with_capacity(1 << 20, stdout).lines() {
            let line = line.expect("line");
            if line.starts_with("{\"type\":\"RECORD\"") {
                records += 1;
            } else if line.starts_with("{\"type\":\"STATE\"") {
                let message: Value = serde_json::from_str(&line).expect("state");
                last_state = message["value"].to_string();
            }
        }
        let status = child.wait().expect("tap");
        let seconds = started.elapsed().as_secs_f64();
        assert!(status.success(), "tap failed");
        let text = std::fs::read_to_string(&times).expect("time");
        let fields: Vec<f64> = text
            .lines()
            .last()
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|f| f.parse().ok())
            .collect();
        (
            Sample {
                seconds,
                cpu: fields.get(1).copied().unwrap_or(0.0) + fields.get(2).copied().unwrap_or(0.0),
                rss_kb: fields.first().copied().unwrap_or(0.0) as u64,
                records,
            },
            last_state,
        )
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}
