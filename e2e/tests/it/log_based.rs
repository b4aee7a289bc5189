//! LOG_BASED end to end: a randomised race. A writer inserts, updates and
//! deletes (re-inserting deleted keys, never touching the TOASTed column)
//! before and during `tap-postgres | target-snowflake` runs, some of
//! which are SIGKILLed (tap or target) at a random moment; every run
//! resumes from the last state the target wrote. After a final clean run
//! the table's live rows in Snowflake equal the source exactly, TOASTed
//! values included.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use singer_e2e::binaries::binary;
use singer_e2e::crash::{Rng, SNOWFLAKE_SCHEMA};
use singer_target_snowflake::{SnowflakeConfig, SnowflakeLoader};

use crate::pipe::write;

const STREAM: &str = "public-race";
const INITIAL_ROWS: i64 = 300;

/// `id -> (v, note, md5(doc))`.
type Rows = BTreeMap<i64, (i64, Option<String>, String)>;

fn source_rows(client: &mut postgres::Client) -> Rows {
    client
        .query("SELECT id, v, note, md5(doc) FROM race", &[])
        .expect("source")
        .iter()
        .map(|r| {
            (
                i64::from(r.get::<_, i32>(0)),
                (i64::from(r.get::<_, i32>(1)), r.get(2), r.get(3)),
            )
        })
        .collect()
}

fn destination_rows(loader: &mut SnowflakeLoader) -> Rows {
    loader
        .query_text(&format!(
            "SELECT \"ID\", \"V\", \"NOTE\", MD5(\"DOC\") FROM \"{SNOWFLAKE_SCHEMA}\".\"RACE\" \
             WHERE \"_SDC_DELETED_AT\" IS NULL"
        ))
        .expect("destination")
        .into_iter()
        .map(|row| {
            let cell = |i: usize| row.get(i).cloned().flatten();
            (
                cell(0).and_then(|t| t.parse().ok()).expect("id"),
                (
                    cell(1).and_then(|t| t.parse().ok()).expect("v"),
                    cell(2),
                    cell(3).unwrap_or_default(),
                ),
            )
        })
        .collect()
}

/// The writer: random changes until `stop`.
fn writer(connection: String, stop: Arc<AtomicBool>, seed: u64) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut client = postgres::Client::connect(&connection, postgres::NoTls).expect("writer");
        let mut rng = Rng::new(seed);
        let mut next_id = INITIAL_ROWS + 1;
        let mut deleted: Vec<i64> = Vec::new();
        let mut changes = 0_u64;
        while !stop.load(Ordering::Relaxed) {
            let id =
                i64::try_from(rng.between(1, u64::try_from(next_id - 1).unwrap_or(1))).unwrap_or(1);
            let sql = match rng.between(0, 9) {
                0..=2 => {
                    next_id += 1;
                    format!(
                        "INSERT INTO race VALUES ({id}, 0, 'new', repeat(md5('{id}'), 300))",
                        id = next_id - 1
                    )
                }
                3..=5 => format!("UPDATE race SET v = v + 1, note = 'u' || v WHERE id = {id}"),
                6 | 7 => {
                    deleted.push(id);
                    format!("DELETE FROM race WHERE id = {id}")
                }
                _ => match deleted.pop() {
                    Some(back) => format!(
                        "INSERT INTO race VALUES ({back}, 100, NULL, repeat(md5('back{back}'), 300)) \
                         ON CONFLICT (id) DO NOTHING"
                    ),
                    None => format!(
                        "BEGIN; UPDATE race SET v = v + 10 WHERE id = {id}; \
                         UPDATE race SET note = NULL WHERE id = {id}; COMMIT"
                    ),
                },
            };
            client.batch_execute(&sql).expect("change");
            changes += 1;
            std::thread::sleep(Duration::from_millis(3));
        }
        changes
    })
}

/// One run, killed (tap or target) after `kill_after` if given; returns
/// the target's last state line, if it wrote one.
fn run(
    tap_config: &Path,
    catalog: &Path,
    state: &Path,
    target_config: &Path,
    kill: Option<(bool, Duration)>,
) -> Option<String> {
    let mut tap = Command::new(binary("tap-postgres").expect("tap"));
    tap.arg("--config")
        .arg(tap_config)
        .arg("--catalog")
        .arg(catalog);
    if state.exists() {
        tap.arg("--state").arg(state);
    }
    let logs = state.with_extension("log");
    let log = |name: &str| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(logs.with_extension(name))
            .expect("log")
    };
    let mut tap: Child = tap
        .stdout(Stdio::piped())
        .stderr(log("tap"))
        .spawn()
        .expect("tap");
    let mut target: Child = Command::new(binary("target-snowflake").expect("target"))
        .arg("--config")
        .arg(target_config)
        .stdin(tap.stdout.take().expect("stdout"))
        .stdout(Stdio::piped())
        .stderr(log("target"))
        .spawn()
        .expect("target");
    let stdout = target.stdout.take().expect("target stdout");
    let reader = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .filter(|l| !l.trim().is_empty())
            .last()
    });
    if let Some((kill_tap, after)) = kill {
        std::thread::sleep(after);
        let victim = if kill_tap { &mut tap } else { &mut target };
        let _ = victim.kill();
    }
    let tap_status = tap.wait().expect("tap");
    let target_status = target.wait().expect("target");
    if kill.is_none() {
        let tail = |name: &str| {
            let text = std::fs::read_to_string(logs.with_extension(name)).unwrap_or_default();
            text.lines().rev().take(15).collect::<Vec<_>>().join("\n")
        };
        assert!(
            tap_status.success(),
            "tap failed in a clean run:\n{}",
            tail("tap")
        );
        assert!(
            target_status.success(),
            "target failed in a clean run:\n{}",
            tail("target")
        );
    }
    reader.join().expect("reader")
}

#[test]
fn log_based_race_with_kills_ends_equal_to_the_source() {
    let cluster = singer_testkit::postgres().expect("throwaway PostgreSQL");
    let dbname = cluster.create_database("log_race").expect("database");
    let mut client = cluster.connect(&dbname).expect("connect");
    client
        .batch_execute(&format!(
            "CREATE TABLE race (id int PRIMARY KEY, v int NOT NULL, note text, doc text NOT NULL);
             ALTER TABLE race ALTER COLUMN doc SET STORAGE EXTERNAL;
             INSERT INTO race SELECT i, 0, 'seed', repeat(md5(i::text), 300) FROM generate_series(1, {INITIAL_ROWS}) i;"
        ))
        .expect("seed");
    let dir =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("log-race-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let tap_config = dir.join("tap.json");
    write(
        &tap_config,
        &json!({
            "host": cluster.host(), "port": cluster.port(), "user": cluster.user(),
            "dbname": dbname, "sslmode": "disable", "state_interval": 50,
        }),
    );
    let output = Command::new(binary("tap-postgres").expect("tap"))
        .arg("--config")
        .arg(&tap_config)
        .arg("--discover")
        .output()
        .expect("discover");
    assert!(output.status.success());
    let mut catalog: Value = serde_json::from_slice(&output.stdout).expect("catalog");
    let streams = catalog["streams"].as_array_mut().expect("streams");
    streams.retain(|s| s["tap_stream_id"] == STREAM);
    for entry in streams[0]["metadata"].as_array_mut().expect("metadata") {
        if entry["breadcrumb"].as_array().is_some_and(Vec::is_empty) {
            entry["metadata"]["selected"] = true.into();
        }
    }
    // Meltano's spelling of the method.
    streams[0]["replication_method"] = "LOG_BASED".into();
    let catalog_path = dir.join("catalog.json");
    write(&catalog_path, &catalog);

    let double = singer_testkit::snowflake_double()
        .expect("the Snowflake double (fakesnow) must start; run scripts/setup");
    let database = double.isolated_database("log_race");
    let target = json!({
        "account": "testaccount", "user": "tester", "password": "not-checked",
        "database": singer_testkit::isolated_database_name(&database),
        "default_target_schema": SNOWFLAKE_SCHEMA, "endpoint": double.url(),
        "session_parameters": {"FAKESNOW_DB_PATH": database},
        "batch_size_rows": 200,
    });
    let target_config = dir.join("target.json");
    write(&target_config, &target);
    let state = dir.join("state.json");

    let stop = Arc::new(AtomicBool::new(false));
    let changes = writer(
        cluster.connection_string(&dbname),
        Arc::clone(&stop),
        0x0106_BA5E,
    );
    let mut rng = Rng::new(0x5EED_0106);
    let mut kills = 0;
    for round in 0..6 {
        let kill = (round % 3 == 1).then(|| {
            kills += 1;
            (
                rng.between(0, 1) == 0,
                Duration::from_millis(rng.between(100, 900)),
            )
        });
        if let Some(last) = run(&tap_config, &catalog_path, &state, &target_config, kill) {
            std::fs::write(&state, last).expect("state");
        }
    }
    stop.store(true, Ordering::Relaxed);
    let changes = changes.join().expect("writer");
    assert!(changes > 100, "the writer made {changes} changes");
    let last = run(&tap_config, &catalog_path, &state, &target_config, None).expect("a state");
    std::fs::write(&state, &last).expect("state");
    let settings: SnowflakeConfig = serde_json::from_value(target).expect("config");
    let mut loader = SnowflakeLoader::new(&settings).expect("loader");
    let expected = source_rows(&mut client);
    let actual = destination_rows(&mut loader);
    let differing: Vec<i64> = expected
        .keys()
        .chain(actual.keys())
        .filter(|id| expected.get(id) != actual.get(id))
        .copied()
        .collect();
    assert!(
        differing.is_empty(),
        "{} keys differ after {kills} kills and {changes} changes, e.g. {:?}: source {:?}, destination {:?}",
        differing.len(),
        differing.first(),
        differing.first().and_then(|id| expected.get(id)),
        differing.first().and_then(|id| actual.get(id)),
    );
    let state: Value = serde_json::from_str(&last).expect("state json");
    assert!(state["bookmarks"][STREAM]["lsn"].as_u64().is_some());
    let _ = std::fs::remove_dir_all(&dir);
}
