//! Two builds of the workspace side by side, in one run, on the same data:
//! the release binaries of an older revision (`COMPARE_OLD_BIN_DIR`) and of
//! this tree (`COMPARE_NEW_BIN_DIR`), so a refactor or an optimisation
//! quotes before/after figures measured together on this shared, noisy
//! machine. `benches/compare-revisions.sh REV` builds both and runs this.
//!
//! Measured, `RUNS` times each with the builds taking turns (medians):
//!
//! - `tap-postgres` FULL_TABLE of the 1,000,000-row bench table
//!   (`fixtures/postgres/bench-issues.sql`) to `/dev/null`, and in manifest
//!   mode (`--load-type full`);
//! - `target-csv` (validation on) reading the same 1,000,000-record stream
//!   (`issues-stream`, the shape of `benches/target-csv-vs-python.sh`).
//!
//! Each run reports wall seconds, CPU seconds (user + system, from
//! `/usr/bin/time`) and peak RSS; the last column is new / old for wall
//! time (below 1: faster). Every run is checked to succeed and to have
//! moved every row.

#![allow(
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::indexing_slicing,
    reason = "a bench harness that reports on stdout and aborts loudly"
)]

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use singer_testkit::bench;

const ROWS: u64 = 1_000_000;
const RUNS: usize = 5;

/// One case: how a build's binaries in a directory are run once.
type Case<'a> = (&'static str, Box<dyn Fn(&Path) -> Sample + 'a>);

/// One timed run: wall seconds, CPU seconds, peak RSS KiB.
#[derive(Clone, Copy)]
struct Sample {
    wall: f64,
    cpu: f64,
    rss_kib: u64,
}

fn main() {
    let old = bin_dir("COMPARE_OLD_BIN_DIR");
    let new = bin_dir("COMPARE_NEW_BIN_DIR");
    let rows = env_number("COMPARE_ROWS").unwrap_or(ROWS);
    let runs = env_number("COMPARE_RUNS").map_or(RUNS, |n| usize::try_from(n).unwrap_or(RUNS));
    let cluster = singer_testkit::postgres().expect("a throwaway PostgreSQL");
    let dir = std::env::temp_dir().join(format!("compare-revisions-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("work dir");
    let db = cluster.create_database("bench").expect("database");
    bench::load_bench_table(&mut cluster.connect(&db).expect("connect"), rows)
        .expect("load the bench table");

    let config = dir.join("tap.json");
    std::fs::write(
        &config,
        serde_json::json!({
            "host": cluster.host(), "port": cluster.port(), "user": cluster.user(),
            "dbname": db, "sslmode": "disable"
        })
        .to_string(),
    )
    .expect("tap config");
    let catalog = dir.join("catalog.json");
    bench::write_full_table_catalog(&new.join("tap-postgres"), &config, &catalog)
        .expect("a FULL_TABLE catalog");
    let manifest = dir.join("manifest.yaml");
    std::fs::write(&manifest, bench::bench_manifest()).expect("manifest");
    let stream = dir.join("issues.jsonl");
    let generated = Command::new(new.join("issues-stream"))
        .arg(rows.to_string())
        .stdout(std::fs::File::create(&stream).expect("stream file"))
        .status()
        .expect("issues-stream");
    assert!(generated.success(), "issues-stream failed");
    let csv_config = dir.join("csv.json");
    let csv_out = dir.join("out");
    std::fs::write(
        &csv_config,
        serde_json::json!({"destination_path": csv_out}).to_string(),
    )
    .expect("csv config");

    let cases: [Case<'_>; 3] = [
        (
            "tap-postgres FULL_TABLE > /dev/null",
            Box::new(|bin: &Path| {
                timed(
                    Command::new(bin.join("tap-postgres"))
                        .args(["--config", path(&config), "--catalog", path(&catalog)])
                        .args(["--log-level", "warn"]),
                    None,
                    Some(rows),
                )
            }),
        ),
        (
            "tap-postgres --manifest --load-type full > /dev/null",
            Box::new(|bin: &Path| {
                timed(
                    Command::new(bin.join("tap-postgres"))
                        .args(["--config", path(&config), "--manifest", path(&manifest)])
                        .args(["--load-type", "full", "--log-level", "warn"]),
                    None,
                    Some(rows),
                )
            }),
        ),
        (
            "target-csv < stream (validation on)",
            Box::new(|bin: &Path| {
                let _ = std::fs::remove_dir_all(&csv_out);
                timed(
                    Command::new(bin.join("target-csv")).args([
                        "--config",
                        path(&csv_config),
                        "--log-level",
                        "warn",
                    ]),
                    Some(&stream),
                    None,
                )
            }),
        ),
    ];

    println!("old: {}\nnew: {}", old.display(), new.display());
    println!("{rows} rows, {runs} runs per build (turns alternate), medians");
    println!(
        "| what | old wall s | new wall s | old CPU s | new CPU s | old RSS MB | new RSS MB | new/old wall | new/old CPU |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (name, run) in &cases {
        let mut olds = Vec::new();
        let mut news = Vec::new();
        for _ in 0..runs {
            olds.push(run(&old));
            news.push(run(&new));
        }
        let (o, n) = (median(&olds), median(&news));
        println!(
            "| {name} | {:.2} | {:.2} | {:.2} | {:.2} | {:.1} | {:.1} | {:.2} | {:.2} |",
            o.wall,
            n.wall,
            o.cpu,
            n.cpu,
            o.rss_kib as f64 / 1024.0,
            n.rss_kib as f64 / 1024.0,
            n.wall / o.wall,
            n.cpu / o.cpu,
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn bin_dir(var: &str) -> PathBuf {
    let dir = PathBuf::from(std::env::var_os(var).unwrap_or_else(|| {
        panic!(
            "{var} is not set: run benches/compare-revisions.sh REV, which builds both revisions"
        )
    }));
    for bin in ["tap-postgres", "target-csv"] {
        assert!(
            dir.join(bin).is_file(),
            "{var}: no {bin} in {}",
            dir.display()
        );
    }
    dir
}

fn env_number(var: &str) -> Option<u64> {
    std::env::var(var).ok().and_then(|v| v.parse().ok())
}

fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// Runs `command` under `/usr/bin/time` with `stdin` (or nothing) and
/// its stdout read and counted as it streams; checks success and, when `records` is given, that
/// every record came out.
fn timed(command: &mut Command, stdin: Option<&Path>, records: Option<u64>) -> Sample {
    let program = command.get_program().to_owned();
    let args: Vec<_> = command.get_args().map(ToOwned::to_owned).collect();
    let mut timed = Command::new("/usr/bin/time");
    timed.args(["-f", "%e %U %S %M"]).arg(&program).args(&args);
    timed.stdin(match stdin {
        Some(file) => Stdio::from(std::fs::File::open(file).expect("stdin file")),
        None => Stdio::null(),
    });
    let mut child = timed
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run under /usr/bin/time");
    // Count RECORD lines as they stream by (nothing is kept).
    let mut reader = BufReader::with_capacity(1 << 20, child.stdout.take().expect("stdout"));
    let mut line = Vec::new();
    let mut got = 0_u64;
    while reader.read_until(b'\n', &mut line).expect("read stdout") > 0 {
        if line.starts_with(b"{\"type\":\"RECORD\"") {
            got += 1;
        }
        line.clear();
    }
    let output = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{} failed: {stderr}",
        program.to_string_lossy()
    );
    if let Some(expected) = records {
        assert_eq!(got, expected, "{} lost records", program.to_string_lossy());
    }
    let fields: Vec<f64> = stderr
        .lines()
        .last()
        .unwrap_or_default()
        .split_whitespace()
        .map(|f| f.parse().expect("a /usr/bin/time field"))
        .collect();
    Sample {
        wall: fields[0],
        cpu: fields[1] + fields[2],
        rss_kib: fields[3] as u64,
    }
}

fn median(samples: &[Sample]) -> Sample {
    let pick = |key: fn(&Sample) -> f64| {
        let mut values: Vec<f64> = samples.iter().map(key).collect();
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    Sample {
        wall: pick(|s| s.wall),
        cpu: pick(|s| s.cpu),
        rss_kib: pick(|s| s.rss_kib as f64) as u64,
    }
}
