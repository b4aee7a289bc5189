//! `tap-postgres | target-snowflake`: 100,000 rows from a throwaway
//! PostgreSQL into the Snowflake double through an OS pipe, then a rerun
//! from the final state that loads nothing new.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{BIN, Scratch, config, lines};

const ROWS: u64 = 100_000;

/// The tap binary, built by `cargo test --workspace` next to this test's
/// own binaries (Cargo cannot depend on another package's binary).
fn tap_binary() -> PathBuf {
    let target = PathBuf::from(BIN);
    let path = target.with_file_name("tap-postgres");
    assert!(
        path.is_file(),
        "{} is missing: run the whole suite (`cargo test --workspace`, scripts/test) or `cargo build -p tap-postgres` first",
        path.display()
    );
    path
}

/// CPU seconds (user + system) of a finished, not yet reaped child: read
/// from /proc while it is a zombie, then reaped.
fn wait_with_cpu(child: &mut Child) -> (std::process::ExitStatus, f64) {
    let ticks: f64 = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0);
    let stat_path = format!("/proc/{}/stat", child.id());
    let mut cpu = 0.0;
    while let Ok(stat) = std::fs::read_to_string(&stat_path) {
        // Fields after the parenthesised command name: state is the 1st,
        // utime the 12th, stime the 13th.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .unwrap()
            .1
            .split_whitespace()
            .collect();
        let utime: f64 = fields[11].parse().unwrap();
        let stime: f64 = fields[12].parse().unwrap();
        cpu = (utime + stime) / ticks;
        if fields[0] == "Z" {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    (child.wait().unwrap(), cpu)
}

struct PipeRun {
    states: Vec<Value>,
    wall: Duration,
    tap_cpu: f64,
    target_cpu: f64,
    records: usize,
}

fn pipe(
    tap_config: &PathBuf,
    catalog: &PathBuf,
    state: Option<&PathBuf>,
    target_config: &PathBuf,
) -> PipeRun {
    let started = Instant::now();
    let mut tap = Command::new(tap_binary());
    tap.args(["--config"])
        .arg(tap_config)
        .args(["--catalog"])
        .arg(catalog);
    if let Some(state) = state {
        tap.args(["--state"]).arg(state);
    }
    let mut tap = tap
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let tap_out = tap.stdout.take().unwrap();
    let mut target = Command::new(BIN)
        .args(["--config"])
        .arg(target_config)
        .stdin(Stdio::from(tap_out))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let tap_err = tap.stderr.take().unwrap();
    let tap_log = std::thread::spawn(move || std::io::read_to_string(tap_err).unwrap_or_default());
    let target_err = target.stderr.take().unwrap();
    let target_log =
        std::thread::spawn(move || std::io::read_to_string(target_err).unwrap_or_default());
    let target_out = target.stdout.take().unwrap();
    let target_stdout =
        std::thread::spawn(move || std::io::read_to_string(target_out).unwrap_or_default());
    let (tap_status, tap_cpu) = wait_with_cpu(&mut tap);
    let (target_status, target_cpu) = wait_with_cpu(&mut target);
    let wall = started.elapsed();
    let tap_log = tap_log.join().unwrap();
    let target_log = target_log.join().unwrap();
    assert!(tap_status.success(), "tap failed:\n{tap_log}");
    assert!(target_status.success(), "target failed:\n{target_log}");
    let states: Vec<Value> = target_stdout
        .join()
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let records = target_log
        .lines()
        .find(|l| l.contains("target-snowflake done."))
        .and_then(|l| l.split("records=").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|r| r.parse().ok())
        .unwrap_or(0);
    PipeRun {
        states,
        wall,
        tap_cpu,
        target_cpu,
        records,
    }
}

#[test]
fn tap_postgres_into_snowflake_then_an_incremental_rerun_loads_nothing_new() {
    let cluster = singer_testkit::postgres().expect("a throwaway PostgreSQL (see singer-testkit)");
    let db = cluster.create_database("e2e_snowflake").expect("database");
    cluster
        .connect(&db)
        .expect("connect")
        .batch_execute(&format!(
            "CREATE TABLE issues (
                id bigint PRIMARY KEY,
                title text NOT NULL,
                weight numeric(12,2),
                score double precision,
                confidential boolean,
                labels jsonb,
                due date,
                updated_at timestamptz NOT NULL);
             INSERT INTO issues
             SELECT g, 'issue #' || g || ' ✓', (g % 1000) * 1.25, g / 7.0, g % 3 = 0,
                    jsonb_build_object('n', g, 'tags', jsonb_build_array('a', 'b')),
                    DATE '2024-01-01' + (g % 365),
                    TIMESTAMPTZ '2024-01-01 00:00:00+00' + g * INTERVAL '1 second'
             FROM generate_series(1, {ROWS}) g;"
        ))
        .expect("seed");
    let dir = Scratch::new("e2e");
    let tap_config = dir.write(
        "tap.json",
        &json!({"host": cluster.host(), "port": cluster.port(), "user": cluster.user(),
                "dbname": db, "sslmode": "disable"}),
    );
    let discovered = Command::new(tap_binary())
        .args(["--config"])
        .arg(&tap_config)
        .arg("--discover")
        .output()
        .unwrap();
    assert!(
        discovered.status.success(),
        "{}",
        String::from_utf8_lossy(&discovered.stderr)
    );
    let mut catalog: Value = serde_json::from_slice(&discovered.stdout).unwrap();
    let stream = &mut catalog["streams"][0];
    assert_eq!(stream["tap_stream_id"], "public-issues");
    stream["metadata"][0]["metadata"]["selected"] = json!(true);
    stream["replication_method"] = json!("INCREMENTAL");
    stream["replication_key"] = json!("updated_at");
    let catalog_path = dir.write("catalog.json", &catalog);
    let (target_config, typed) = config("e2e", &json!({"batch_size_rows": 50_000}));
    let target_config = dir.write("target.json", &target_config);

    let first = pipe(&tap_config, &catalog_path, None, &target_config);
    assert_eq!(first.records, usize::try_from(ROWS).unwrap());
    assert!(!first.states.is_empty());
    assert_eq!(
        lines(
            &typed,
            r#"SELECT COUNT(*), COUNT(DISTINCT "ID"), SUM("WEIGHT") = 62437500.00, MAX("UPDATED_AT") FROM "RAW"."ISSUES""#
        ),
        ["100000|100000|true|2024-01-02 03:46:40"]
    );
    assert_eq!(
        lines(
            &typed,
            r#"SELECT "TITLE", "WEIGHT", "CONFIDENTIAL", "DUE", "LABELS":n::VARCHAR FROM "RAW"."ISSUES" WHERE "ID" = 4242"#
        ),
        ["issue #4242 ✓|302.50|true|2024-08-15|4242"]
    );
    let per_record = |cpu: f64| cpu / first.records as f64 * 1e6;
    eprintln!(
        "tap-postgres | target-snowflake, {ROWS} rows into the double: wall {:.2} s; CPU tap {:.2} s ({:.2} µs/record), target {:.2} s ({:.2} µs/record), target/tap {:.2}",
        first.wall.as_secs_f64(),
        first.tap_cpu,
        per_record(first.tap_cpu),
        first.target_cpu,
        per_record(first.target_cpu),
        first.target_cpu / first.tap_cpu.max(1e-9)
    );

    // Rerun from the final state: INCREMENTAL reads `>= bookmark`, so only
    // the boundary row comes again, and the MERGE makes it no new row.
    let state_path = dir.write("state.json", first.states.last().unwrap());
    let second = pipe(
        &tap_config,
        &catalog_path,
        Some(&state_path),
        &target_config,
    );
    assert!(
        second.records <= 1,
        "rerun loaded {} records",
        second.records
    );
    assert_eq!(
        lines(
            &typed,
            r#"SELECT COUNT(*), COUNT(DISTINCT "ID") FROM "RAW"."ISSUES""#
        ),
        ["100000|100000"]
    );
    assert_eq!(second.states.last(), first.states.last());
    eprintln!(
        "rerun from the final state: {} record(s), wall {:.2} s",
        second.records,
        second.wall.as_secs_f64()
    );

    // The same copy with batches bound as JSON text (`staging: bind`)
    // into a fresh database: the same rows, value for value.
    let (bound_config, bound_typed) = config(
        "e2e_bind",
        &json!({"batch_size_rows": 50_000, "staging": "bind"}),
    );
    let bound_config = dir.write("target-bind.json", &bound_config);
    let bound = pipe(&tap_config, &catalog_path, None, &bound_config);
    assert_eq!(bound.records, first.records);
    let sample = r#"SELECT "ID", "TITLE", "WEIGHT", "SCORE", "CONFIDENTIAL", "LABELS"::VARCHAR, "DUE", "UPDATED_AT" FROM "RAW"."ISSUES" WHERE "ID" % 997 = 1 ORDER BY "ID""#;
    let staged_rows = lines(&typed, sample);
    assert!(staged_rows.len() > 90, "{}", staged_rows.len());
    assert_eq!(lines(&bound_typed, sample), staged_rows);
    let totals = r#"SELECT COUNT(*), SUM("WEIGHT"), COUNT("LABELS"), MIN("UPDATED_AT"), MAX("DUE") FROM "RAW"."ISSUES""#;
    assert_eq!(lines(&bound_typed, totals), lines(&typed, totals));
}
