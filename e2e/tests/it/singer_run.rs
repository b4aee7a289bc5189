//! `singer-run` end to end on the throwaway PostgreSQL: tap-postgres into
//! target-csv as one job, with the state in the PostgreSQL store (two
//! incremental runs, the second sending only what changed), a concurrent
//! run of the same job refused, a side killed mid-run then a rerun with
//! nothing lost, SIGTERM, and exit codes passed on.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use singer_e2e::binaries::binary;
use singer_e2e::crash::{FULL_TABLE, INCREMENTAL_TABLE, Source};
use singer_state::{PgStateStore, StateStore};

/// A seeded source, a work directory and the job's files.
struct Job {
    dir: PathBuf,
    source: Source,
    client: postgres::Client,
    /// The state backend URL (the same cluster, the source database).
    backend: String,
    tap_config: PathBuf,
    catalog: PathBuf,
}

impl Job {
    fn new(name: &str, rows: u64, full_table: bool) -> Self {
        let cluster = singer_testkit::postgres().expect("throwaway PostgreSQL");
        let (source, client) = Source::seeded(cluster, name, rows).expect("seeded source");
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("singer-run-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("work dir");
        let tap_config = dir.join("tap.json");
        write_json(
            &tap_config,
            &json!({
                "host": source.host, "port": source.port, "user": source.user,
                "dbname": source.dbname, "sslmode": "disable", "state_interval": 1000,
                "metrics_interval_seconds": 1,
            }),
        );
        let output = Command::new(binary("tap-postgres").expect("tap"))
            .arg("--config")
            .arg(&tap_config)
            .arg("--discover")
            .output()
            .expect("discover");
        assert!(output.status.success(), "discovery failed");
        let mut catalog: Value = serde_json::from_slice(&output.stdout).expect("catalog");
        let streams = catalog["streams"].as_array_mut().expect("streams");
        let wanted = if full_table {
            FULL_TABLE
        } else {
            INCREMENTAL_TABLE
        };
        streams.retain(|s| s["table_name"] == wanted);
        for entry in streams[0]["metadata"].as_array_mut().expect("metadata") {
            if entry["breadcrumb"].as_array().is_some_and(Vec::is_empty) {
                entry["metadata"]["selected"] = true.into();
                if full_table {
                    entry["metadata"]["replication-method"] = "FULL_TABLE".into();
                } else {
                    entry["metadata"]["replication-method"] = "INCREMENTAL".into();
                    entry["metadata"]["replication-key"] = "updated_at".into();
                }
            }
        }
        let catalog_path = dir.join("catalog.json");
        write_json(&catalog_path, &catalog);
        let backend = format!(
            "postgresql://{}@{}:{}/{}?sslmode=disable",
            source.user, source.host, source.port, source.dbname
        );
        Self {
            dir,
            source,
            client,
            backend,
            tap_config,
            catalog: catalog_path,
        }
    }

    /// `singer-run` for job `id` into CSV files under `out`, with `extra`
    /// flags.
    fn command(&self, id: &str, out: &str, batch_rows: u64, extra: &[&str]) -> Command {
        let out_dir = self.dir.join(out);
        std::fs::create_dir_all(&out_dir).expect("out dir");
        let target_config = self.dir.join(format!("{out}.json"));
        write_json(
            &target_config,
            &json!({"destination_path": out_dir, "batch_size_rows": batch_rows, "commit_interval_seconds": 0}),
        );
        let mut command = Command::new(binary("singer-run").expect("singer-run"));
        command
            .args(["--job", id])
            .arg("--tap")
            .arg(format!(
                "{} --config {} --catalog {}",
                binary("tap-postgres").expect("tap").display(),
                self.tap_config.display(),
                self.catalog.display()
            ))
            .arg("--target")
            .arg(format!(
                "{} --config {}",
                binary("target-csv").expect("target").display(),
                target_config.display()
            ))
            .args(["--state-backend", &self.backend])
            .args(extra);
        command
    }

    fn run(&self, id: &str, out: &str, batch_rows: u64) -> Output {
        self.command(id, out, batch_rows, &[])
            .output()
            .expect("singer-run")
    }

    /// The job's state in the PostgreSQL store.
    fn saved_state(&mut self, id: &str) -> Option<Value> {
        // (Before the first run has created the table: nothing saved.)
        let row = self
            .client
            .query_opt(
                "SELECT state::text FROM singer_state WHERE job_id = $1",
                &[&id],
            )
            .ok()
            .flatten();
        row.map(|r| serde_json::from_str(&r.get::<_, String>(0)).expect("json"))
    }
}

fn write_json(path: &Path, value: &Value) {
    std::fs::write(path, value.to_string()).expect("write json");
}

/// The `id`s of every CSV row under `dir`.
fn csv_ids(dir: &Path) -> Vec<u64> {
    let mut ids = Vec::new();
    for entry in std::fs::read_dir(dir).expect("csv dir").flatten() {
        if entry.path().extension().is_some_and(|e| e == "csv") {
            let mut reader = csv::Reader::from_path(entry.path()).expect("csv");
            let id_column = reader
                .headers()
                .expect("header")
                .iter()
                .position(|h| h == "id")
                .expect("id column");
            for record in reader.records() {
                ids.push(record.expect("row")[id_column].parse().expect("id"));
            }
        }
    }
    ids.sort_unstable();
    ids
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn singer_run_two_incremental_runs_keep_their_state_in_postgres() {
    let mut job = Job::new("run_incr", 3_000, false);
    let first = job.run("incr-job", "run1", 500);
    let log = stderr(&first);
    assert!(first.status.success(), "{log}");
    assert_eq!(
        csv_ids(&job.dir.join("run1")),
        (1..=3_000).collect::<Vec<_>>()
    );
    // Both sides' logs come through with their prefix, and the summary
    // counts the stream's records from the metrics.
    assert!(log.contains("[tap] "), "{log}");
    assert!(log.contains("[target] "), "{log}");
    let summary = String::from_utf8_lossy(&first.stdout);
    assert!(
        summary.contains("stream public-crash_incr: 3000 records loaded (3000 extracted)"),
        "{summary}"
    );
    assert!(summary.contains("bottleneck: "), "{summary}");
    let state = job.saved_state("incr-job").expect("a saved state");
    let bookmark = &state["bookmarks"]["public-crash_incr"];
    assert_eq!(bookmark["replication_key"], "updated_at");
    let mark = bookmark["replication_key_value"]
        .as_str()
        .expect("bookmark")
        .to_owned();

    // Changes: 10 new rows and 5 updated ones, all after the bookmark.
    job.client
        .batch_execute(&format!(
            "INSERT INTO {INCREMENTAL_TABLE} SELECT i, timestamptz '2030-01-01' + i * interval '1 s', 'new', NULL
               FROM generate_series(100001, 100010) i;
             UPDATE {INCREMENTAL_TABLE} SET updated_at = timestamptz '2031-01-01', payload = 'changed'
               WHERE id IN (1, 2, 3, 4, 5);"
        ))
        .expect("changes");
    let second = job.run("incr-job", "run2", 500);
    assert!(second.status.success(), "{}", stderr(&second));
    let ids = csv_ids(&job.dir.join("run2"));
    // `>=` the bookmark: the rows at the old bookmark come again (ties),
    // then only what changed.
    let changed: BTreeSet<u64> = (1..=5).chain(100_001..=100_010).collect();
    let got: BTreeSet<u64> = ids.iter().copied().collect();
    assert!(changed.is_subset(&got), "{ids:?}");
    assert!(
        ids.len() <= changed.len() + 4,
        "only changes and the bookmark's ties: {ids:?}"
    );
    let state = job.saved_state("incr-job").expect("state");
    let new_mark = state["bookmarks"]["public-crash_incr"]["replication_key_value"]
        .as_str()
        .expect("bookmark");
    assert!(new_mark > mark.as_str(), "{new_mark} after {mark}");
    let _ = std::fs::remove_dir_all(&job.dir);
}

#[test]
fn singer_run_refuses_a_second_run_of_a_job_and_passes_exit_codes_on() {
    let job = Job::new("run_lock", 100, false);
    // Another run holds the job's lock.
    let cluster = singer_testkit::postgres().expect("cluster");
    let holder = cluster.connect(&job.source.dbname).expect("connect");
    let mut held = PgStateStore::new(holder, "busy-job").expect("lock");
    let refused = job.run("busy-job", "refused", 100);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("already running"),
        "{}",
        stderr(&refused)
    );
    assert!(held.load().expect("load").is_none(), "nothing was saved");
    drop(held);
    let after = job.run("busy-job", "after", 100);
    assert!(after.status.success(), "{}", stderr(&after));

    // A tap that fails on its configuration: its exit code (2) comes back.
    let mut bad = job.command("bad-job", "bad", 100, &[]);
    bad.arg("--tap").arg(format!(
        "{} --config /nonexistent/tap.json --catalog {}",
        binary("tap-postgres").expect("tap").display(),
        job.catalog.display()
    ));
    let output = bad.output().expect("singer-run");
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    // A runner usage error is 2 as well.
    let usage = Command::new(binary("singer-run").expect("singer-run"))
        .args(["--job", "x", "--tap", "tap 'open"])
        .output()
        .expect("singer-run");
    assert_eq!(usage.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&job.dir);
}

/// Kills (SIGKILL) the process whose command line contains `marker`, once
/// it exists, and returns whether it found one.
fn kill_matching(marker: &str, deadline: Instant) -> bool {
    while Instant::now() < deadline {
        let status = Command::new("pkill")
            .args(["-KILL", "-f", marker])
            .stderr(Stdio::null())
            .status()
            .expect("pkill");
        if status.success() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn singer_run_survives_a_killed_side_and_a_sigterm_without_losing_rows() {
    let mut job = Job::new("run_kill", 200_000, true);
    let expected: Vec<u64> = (1..=200_000).collect();
    for (round, victim) in ["target-csv", "tap-postgres"].into_iter().enumerate() {
        // (Each round is its own job, so the tap's pattern only matches
        // this round's tap.)
        let id = format!("kill-{round}");
        // Kill the side once it has committed some batches (a STATE saved).
        let out = format!("kill{round}");
        let mut child = job
            .command(&id, &out, 2_000, &[])
            .stderr(Stdio::null())
            .spawn()
            .expect("singer-run");
        let deadline = Instant::now() + Duration::from_secs(60);
        // Anchored at the side's own program, so that singer-run (whose
        // command line holds both sides' commands) is not matched, and
        // naming this round's own config file, so that no other test's
        // process (tests run side by side) is.
        let config = match victim {
            "target-csv" => job.dir.join(format!("{out}.json")),
            _ => job.tap_config.clone(),
        };
        let marker = format!(
            "^{} --config {}",
            binary(victim).expect("binary").display(),
            config.display()
        );
        // Wait for a committed batch (a state saved), then kill the side.
        while Instant::now() < deadline && job.saved_state(&id).is_none() {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(kill_matching(&marker, deadline), "{victim} to kill");
        let status = child.wait().expect("singer-run");
        assert!(!status.success(), "a killed {victim} fails the job");
        // The rerun resumes from the saved state: nothing lost.
        let rerun = job.run(&id, &out, 2_000);
        assert!(rerun.status.success(), "{}", stderr(&rerun));
        let ids: BTreeSet<u64> = csv_ids(&job.dir.join(&out)).into_iter().collect();
        assert_eq!(
            ids.into_iter().collect::<Vec<_>>(),
            expected,
            "after killing {victim}, every row"
        );
    }

    // SIGTERM to singer-run stops both sides; the saved state is the last
    // one the target confirmed, and a rerun completes the copy.
    let mut child = job
        .command("term-job", "term", 2_000, &[])
        .stderr(Stdio::null())
        .spawn()
        .expect("singer-run");
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline && job.saved_state("term-job").is_none() {
        std::thread::sleep(Duration::from_millis(5));
    }
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    let status = child.wait().expect("singer-run");
    assert!(!status.success(), "a stopped job does not report success");
    let rerun = job.run("term-job", "term", 2_000);
    assert!(rerun.status.success(), "{}", stderr(&rerun));
    let ids: BTreeSet<u64> = csv_ids(&job.dir.join("term")).into_iter().collect();
    assert_eq!(ids.into_iter().collect::<Vec<_>>(), expected);
    let _ = std::fs::remove_dir_all(&job.dir);
}
