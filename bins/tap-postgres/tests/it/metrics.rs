//! Progress for long runs: Singer `METRIC` `record_count` lines appear on
//! stderr while a stream is still reading, every `metrics_interval_seconds`,
//! and add up to the stream's records.

use std::process::Command;

use serde_json::{Value, json};

use crate::{Dir, stdout_lines};

const ROWS: u64 = 6_000;

/// Runs tap-postgres with `config` and `args` (default log level).
fn run_tap(config: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tap-postgres"))
        .args(["--config", config])
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run tap-postgres")
}

/// Writes a catalog of the one stream `id` of a `--discover` run's output,
/// selected FULL_TABLE; returns its path.
fn full_table_catalog(dir: &Dir, discovered: &std::process::Output, id: &str) -> String {
    assert!(
        discovered.status.success(),
        "{}",
        String::from_utf8_lossy(&discovered.stderr)
    );
    let mut catalog = stdout_lines(discovered).remove(0);
    let streams = catalog["streams"].as_array_mut().expect("streams");
    streams.retain(|s| s["tap_stream_id"] == id);
    let stream = streams.first_mut().expect("the stream is discovered");
    stream["metadata"][0]["metadata"]["selected"] = json!(true);
    stream["replication_method"] = json!("FULL_TABLE");
    dir.write("catalog.json", &catalog)
}

#[test]
fn metric_lines_appear_during_a_stream_when_the_interval_is_short() {
    let cluster = singer_testkit::postgres().expect("a throwaway PostgreSQL (see singer-testkit)");
    let db = cluster.create_database("metrics").expect("database");
    // A view whose rows take about 2.4 s to produce (0.4 s every 1,000 rows),
    // streamed to the tap as they come.
    cluster
        .connect(&db)
        .expect("connect")
        .batch_execute(&format!(
            "CREATE TABLE events (id int PRIMARY KEY, payload text);
             INSERT INTO events SELECT g, 'event ' || g FROM generate_series(1, {ROWS}) g;
             CREATE FUNCTION slowly(i int) RETURNS int VOLATILE LANGUAGE sql AS
               $$ SELECT CASE WHEN i % 1000 = 0 THEN (SELECT i FROM pg_sleep(0.4)) ELSE i END $$;
             CREATE VIEW slow_events AS SELECT slowly(id) AS id, payload FROM events ORDER BY id;"
        ))
        .expect("seed");
    let dir = Dir::new("metrics");
    let config = dir.write(
        "config.json",
        &json!({"host": cluster.host(), "port": cluster.port(), "user": cluster.user(),
                "dbname": db, "sslmode": "disable", "metrics_interval_seconds": 1}),
    );
    let tap = |args: &[&str]| run_tap(&config, args);
    let catalog = full_table_catalog(&dir, &tap(&["--discover"]), "public-slow_events");

    let output = tap(&["--catalog", &catalog]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let records = stdout_lines(&output)
        .iter()
        .filter(|m| m["type"] == "RECORD")
        .count();
    assert_eq!(records as u64, ROWS);

    let metric_lines: Vec<(usize, Value)> = stderr
        .lines()
        .enumerate()
        .filter_map(|(n, line)| {
            let json = line.split_once("METRIC: ")?.1;
            Some((n, serde_json::from_str(json).expect("METRIC JSON")))
        })
        .collect();
    let synced_line = stderr
        .lines()
        .position(|line| line.contains("Stream synced."))
        .expect("the end-of-stream summary");
    for (_, metric) in &metric_lines {
        assert_eq!(metric["type"], "counter", "{metric}");
        assert_eq!(metric["metric"], "record_count", "{metric}");
        assert_eq!(metric["tags"]["stream"], "public-slow_events", "{metric}");
    }
    let values: Vec<u64> = metric_lines
        .iter()
        .map(|(_, m)| m["value"].as_u64().expect("a count"))
        .collect();
    assert!(
        values.len() >= 2,
        "a METRIC line during the stream and one at its end: {values:?}\n{stderr}"
    );
    assert!(
        values[0] < ROWS,
        "the first counter came before the stream ended: {values:?}"
    );
    assert!(metric_lines[0].0 < synced_line, "{stderr}");
    assert_eq!(
        values.iter().sum::<u64>(),
        ROWS,
        "the counters add up to the records"
    );
}

/// A copy split into ranges counts as one stream: with the default
/// interval (60 s), one METRIC line at the stream's end with every range's
/// rows, not one line per range.
#[test]
fn a_split_copy_logs_its_metric_per_stream_not_per_range() {
    let cluster = singer_testkit::postgres().expect("a throwaway PostgreSQL (see singer-testkit)");
    let db = cluster.create_database("metrics_split").expect("database");
    cluster
        .connect(&db)
        .expect("connect")
        .batch_execute(&format!(
            "CREATE TABLE events (id int PRIMARY KEY, payload text);
             INSERT INTO events SELECT g, 'event ' || g FROM generate_series(1, {ROWS}) g;
             ANALYZE events;"
        ))
        .expect("seed");
    let dir = Dir::new("metrics_split");
    let config = dir.write(
        "config.json",
        &json!({"host": cluster.host(), "port": cluster.port(), "user": cluster.user(),
                "dbname": db, "sslmode": "disable", "parallelism": 2,
                "max_rows_per_statement": 1000}),
    );
    let tap = |args: &[&str]| run_tap(&config, args);
    let catalog = full_table_catalog(&dir, &tap(&["--discover"]), "public-events");

    let output = tap(&["--catalog", &catalog]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("Splitting the copy into primary-key ranges"),
        "{stderr}"
    );
    let values: Vec<u64> = stderr
        .lines()
        .filter_map(|line| {
            let metric: Value = serde_json::from_str(line.split_once("METRIC: ")?.1).ok()?;
            assert_eq!(metric["tags"]["stream"], "public-events");
            metric["value"].as_u64()
        })
        .collect();
    assert_eq!(values, [ROWS], "one line for the stream: {stderr}");
}
