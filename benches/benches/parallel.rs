//! Parallel extraction bench (issue #15, item 3), run by
//! `benches/parallel.sh`: in one run, on a throwaway PostgreSQL, times
//! tap-postgres with `parallelism` 1, 2 and 4 on
//!
//! - the 1,000,000-row `issues` bench table (one FULL_TABLE stream, split
//!   into key ranges inside one shared snapshot when `parallelism` > 1), and
//! - many small tables (200 × 5,000 rows by default, every one a stream),
//!
//! each as `tap > /dev/null` (the records the tap's own summary line
//! reports; counting the lines here would put a third process on the two
//! cores) and `tap | target-csv` (CSV rows counted), contenders taking turns round by round, and prints
//! the median wall time, the median CPU seconds of the tap (and target), the
//! server's CPU seconds (from `/proc` of the cluster's processes) and the
//! speed-up over `parallelism` 1. Every run is checked to move every row.
//!
//! Sizes: `ROWS` (1,000,000), `TABLES` (200), `TABLE_ROWS` (5,000), `RUNS`
//! (3), `PARALLELISM` (`1,2,4`).

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

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use serde_json::{Value, json};

/// One measured run.
struct Sample {
    seconds: f64,
    tap_cpu: f64,
    target_cpu: f64,
    server_cpu: f64,
}

/// The data set a case reads.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Data {
    Big,
    Small,
}

impl Data {
    const fn label(self) -> &'static str {
        match self {
            Self::Big => "1 table",
            Self::Small => "many small tables",
        }
    }
}

struct Bench {
    tap: PathBuf,
    target_csv: PathBuf,
    dir: PathBuf,
    host: String,
    port: u16,
    user: String,
    data_dir: PathBuf,
}

fn main() {
    let started = Instant::now();
    let rows = env_number("ROWS").unwrap_or(1_000_000);
    let tables = env_number("TABLES").unwrap_or(200);
    let table_rows = env_number("TABLE_ROWS").unwrap_or(5_000);
    let runs = env_number("RUNS").unwrap_or(3).max(1) as usize;
    let levels: Vec<u64> = std::env::var("PARALLELISM")
        .unwrap_or_else(|_| "1,2,4".to_owned())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    let cluster = singer_testkit::postgres().expect("a throwaway PostgreSQL");
    let dir = std::env::temp_dir().join(format!("parallel-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("bench dir");
    let bench = Bench {
        tap: tool("PARALLEL_BENCH_TAP"),
        target_csv: tool("PARALLEL_BENCH_TARGET_CSV"),
        dir,
        host: cluster.host().to_owned(),
        port: cluster.port(),
        user: cluster.user().to_owned(),
        data_dir: cluster.data_dir().to_owned(),
    };

    let big = cluster.create_database("parallel_big").expect("database");
    let mut client = cluster.connect(&big).expect("connect");
    singer_testkit::bench::load_bench_table(&mut client, rows).expect("the bench table");
    client.batch_execute("ANALYZE issues").expect("analyze");
    let small = cluster.create_database("parallel_small").expect("database");
    let mut client = cluster.connect(&small).expect("connect");
    let mut sql = String::new();
    for t in 0..tables {
        sql.push_str(&format!(
            "CREATE TABLE t{t:03} (id int PRIMARY KEY, account bigint, amount numeric(12,2), \
             note text, created_at timestamptz);
             INSERT INTO t{t:03} SELECT i, i * 7, i * 1.25, 'row ' || i, \
             '2024-01-01'::timestamptz + i * interval '1 minute' FROM generate_series(1, {table_rows}) i;"
        ));
    }
    sql.push_str("ANALYZE;");
    client.batch_execute(&sql).expect("small tables");
    drop(client);
    let small_rows = tables * table_rows;

    for db in [&big, &small] {
        for &p in &levels {
            let config = json!({
                "host": bench.host, "port": bench.port, "user": bench.user,
                "dbname": db, "sslmode": "disable", "parallelism": p,
            });
            write(&bench.path(&format!("{db}-{p}.json")), &config.to_string());
        }
        bench.catalog(db);
    }

    let mut cases: Vec<(Data, u64, bool, Vec<Sample>)> = Vec::new();
    for data in [Data::Big, Data::Small] {
        for &p in &levels {
            for csv in [false, true] {
                cases.push((data, p, csv, Vec::new()));
            }
        }
    }
    for round in 0..runs {
        for (data, p, csv, samples) in &mut cases {
            let (db, expected) = match data {
                Data::Big => (&big, rows),
                Data::Small => (&small, small_rows),
            };
            let sample = bench.run(db, *p, *csv, expected);
            eprintln!(
                "round {round}: {} p={p} {}: {:.2} s (tap CPU {:.2} s, target CPU {:.2} s, server CPU {:.2} s)",
                data.label(),
                if *csv { "| target-csv" } else { "> /dev/null" },
                sample.seconds,
                sample.tap_cpu,
                sample.target_cpu,
                sample.server_cpu
            );
            samples.push(sample);
        }
    }

    println!();
    println!(
        "Parallel extraction on this 2-core machine: the {rows}-row `issues` table \
         (fixtures/postgres/bench-issues.sql) and {tables} tables x {table_rows} rows; \
         medians of {runs} runs, contenders taking turns; every run moved every row."
    );
    println!();
    println!(
        "| data | parallelism | output | median s | rows/s | tap CPU s | target CPU s | server CPU s | speed-up vs 1 |"
    );
    println!("|---|---:|---|---:|---:|---:|---:|---:|---:|");
    for (data, p, csv, samples) in &cases {
        let seconds = median(samples.iter().map(|s| s.seconds).collect());
        let base = cases
            .iter()
            .find(|(d, q, c, _)| d == data && *q == 1 && c == csv)
            .map_or(f64::NAN, |(.., s)| {
                median(s.iter().map(|s| s.seconds).collect())
            });
        let expected = match data {
            Data::Big => rows,
            Data::Small => small_rows,
        };
        println!(
            "| {} | {p} | {} | {seconds:.2} | {:.0} | {:.2} | {} | {:.2} | {:.2} |",
            data.label(),
            if *csv { "target-csv" } else { "/dev/null" },
            expected as f64 / seconds,
            median(samples.iter().map(|s| s.tap_cpu).collect()),
            if *csv {
                format!(
                    "{:.2}",
                    median(samples.iter().map(|s| s.target_cpu).collect())
                )
            } else {
                "-".to_owned()
            },
            median(samples.iter().map(|s| s.server_cpu).collect()),
            base / seconds
        );
    }
    println!();
    println!("Whole bench {:.0} s.", started.elapsed().as_secs_f64());
    let _ = std::fs::remove_dir_all(&bench.dir);
}

impl Bench {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Discovers `db` and selects every table as FULL_TABLE.
    fn catalog(&self, db: &str) {
        let output = Command::new(&self.tap)
            .arg("--config")
            .arg(self.path(&format!("{db}-1.json")))
            .args(["--discover", "--log-level", "warn"])
            .output()
            .expect("discover");
        assert!(output.status.success(), "discovery failed");
        let mut catalog: Value = serde_json::from_slice(&output.stdout).expect("catalog");
        for stream in catalog["streams"].as_array_mut().expect("streams") {
            for entry in stream["metadata"].as_array_mut().expect("metadata") {
                if entry["breadcrumb"].as_array().is_some_and(Vec::is_empty) {
                    entry["metadata"]["selected"] = true.into();
                    entry["metadata"]["replication-method"] = "FULL_TABLE".into();
                }
            }
        }
        write(
            &self.path(&format!("{db}-catalog.json")),
            &catalog.to_string(),
        );
    }

    fn timed(&self, program: &Path, rss: &str) -> Command {
        let mut command = Command::new("/usr/bin/time");
        command
            .args(["-f", "%M %U %S", "-o"])
            .arg(self.path(rss))
            .arg(program);
        command
    }

    /// One run: the tap with `parallelism` `p` on `db`, into /dev/null
    /// (records counted) or target-csv (CSV rows counted).
    fn run(&self, db: &str, p: u64, csv: bool, expected: u64) -> Sample {
        let mut tap = self.timed(&self.tap, "tap.time");
        tap.arg("--config")
            .arg(self.path(&format!("{db}-{p}.json")))
            .arg("--catalog")
            .arg(self.path(&format!("{db}-catalog.json")))
            .args(["--log-level", "info"]);
        let tap_log = File::create(self.path("tap.log")).expect("log");
        let server_before = self.server_cpu();
        let started = Instant::now();
        let stdout = if csv {
            Stdio::piped()
        } else {
            File::create("/dev/null").expect("/dev/null").into()
        };
        let mut tap = tap
            .stdout(stdout)
            .stderr(tap_log)
            .spawn()
            .expect("spawn tap");
        let (moved, target_cpu) = if csv {
            let stdout = tap.stdout.take().expect("stdout");
            let out = self.path("csv-out");
            let _ = std::fs::remove_dir_all(&out);
            std::fs::create_dir_all(&out).expect("csv dir");
            write(
                &self.path("csv.json"),
                &json!({ "destination_path": out }).to_string(),
            );
            let mut target = self.timed(&self.target_csv, "target.time");
            let status = target
                .arg("--config")
                .arg(self.path("csv.json"))
                .args(["--log-level", "warn"])
                .stdin(stdout)
                .stdout(Stdio::null())
                .stderr(File::create(self.path("target.log")).expect("log"))
                .status()
                .expect("target-csv");
            assert!(
                status.success(),
                "target-csv failed: see {}",
                self.path("target.log").display()
            );
            let rows = csv_rows(&out);
            (rows, read_time(&self.path("target.time")))
        } else {
            (u64::MAX, 0.0)
        };
        let status = tap.wait().expect("tap");
        let moved = if csv {
            moved
        } else {
            synced_records(&self.path("tap.log"))
        };
        let seconds = started.elapsed().as_secs_f64();
        assert!(
            status.success(),
            "tap failed: see {}",
            self.path("tap.log").display()
        );
        assert_eq!(moved, expected, "a run moved {moved} of {expected} rows");
        Sample {
            seconds,
            tap_cpu: read_time(&self.path("tap.time")),
            target_cpu,
            server_cpu: self.server_cpu() - server_before,
        }
    }

    /// CPU seconds (user + system) of the cluster's processes so far: the
    /// postmaster's descendants, from /proc (exited backends are counted in
    /// the postmaster's `cutime`/`cstime`).
    fn server_cpu(&self) -> f64 {
        let pid_file = self.data_dir.join("postmaster.pid");
        let Some(pid) = std::fs::read_to_string(pid_file)
            .ok()
            .and_then(|t| t.lines().next().and_then(|l| l.trim().parse::<u32>().ok()))
        else {
            return f64::NAN;
        };
        let ticks = 100.0;
        let mut total = 0.0;
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            let Some(rest) = stat.rsplit_once(") ").map(|(_, r)| r) else {
                continue;
            };
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let own = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok());
            let parent = fields.get(1).and_then(|s| s.parse::<u32>().ok());
            let number = |i: usize| {
                fields
                    .get(i)
                    .and_then(|s| s.parse::<f64>().ok())
                    .unwrap_or(0.0)
            };
            if own == Some(pid) {
                // utime, stime, cutime, cstime (fields 14-17 of stat).
                total += number(11) + number(12) + number(13) + number(14);
            } else if parent == Some(pid) {
                total += number(11) + number(12);
            }
        }
        total / ticks
    }
}

fn tool(var: &str) -> PathBuf {
    std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("{var} is not set: run benches/parallel.sh"))
}

fn env_number(var: &str) -> Option<u64> {
    std::env::var(var).ok().and_then(|v| v.parse().ok())
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write bench file");
}

/// CPU seconds (user + system) that `/usr/bin/time -f "%M %U %S"` wrote.
fn read_time(file: &Path) -> f64 {
    let text = std::fs::read_to_string(file).expect("/usr/bin/time's output");
    let fields: Vec<f64> = text
        .lines()
        .last()
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    fields.get(1).copied().unwrap_or(0.0) + fields.get(2).copied().unwrap_or(0.0)
}

/// The records the tap's summary line (`Sync done. ... records=N`) reports.
fn synced_records(log: &Path) -> u64 {
    let text = std::fs::read_to_string(log).expect("the tap's log");
    text.lines()
        .filter(|line| line.contains("Sync done."))
        .find_map(|line| {
            line.split_whitespace()
                .find_map(|field| field.strip_prefix("records="))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or_else(|| panic!("no summary line in {}", log.display()))
}

/// Data rows in the `.csv` files under `dir`: lines less one header per
/// file (neither data set has a newline in any value).
fn csv_rows(dir: &Path) -> u64 {
    let mut rows = 0;
    for entry in std::fs::read_dir(dir).expect("csv dir").flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "csv") {
            let text = std::fs::read(&path).expect("csv file");
            let lines = text.iter().filter(|&&b| b == b'\n').count() as u64;
            rows += lines.saturating_sub(1);
        }
    }
    rows
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}
