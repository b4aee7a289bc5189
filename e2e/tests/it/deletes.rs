//! Deletes detection without CDC, end to end: tap-postgres with
//! `detect-deletes` on the incremental crash table (and the FULL_TABLE one)
//! into target-snowflake (the double), soft and hard, over several runs
//! with deletes, re-inserts and updates at the source; the guard refusing
//! a mass delete; manifest `--load-type deletes` with an exempt table; and
//! target-csv, which knows nothing of key sets beyond writing them, fed
//! the same output.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use singer_e2e::binaries::binary;
use singer_e2e::crash::{INCREMENTAL_TABLE, SNOWFLAKE_SCHEMA};
use singer_target_snowflake::{SnowflakeConfig, SnowflakeLoader};

use crate::pipe::{Pipe, write};

const ROWS: u64 = 400;

/// A target-snowflake config on an isolated database of the double: its
/// file, a loader to query with, and the config itself.
fn snowflake(
    pipe: &Pipe,
    name: &str,
    extra: &Value,
) -> (std::path::PathBuf, SnowflakeLoader, Value) {
    let double = singer_testkit::snowflake_double()
        .expect("the Snowflake double (fakesnow) must start; run scripts/setup");
    let database = double.isolated_database(name);
    let mut config = json!({
        "account": "testaccount",
        "user": "tester",
        "password": "not-checked-by-the-double",
        // Staged files live per database name in the double: one each.
        "database": singer_testkit::isolated_database_name(&database),
        "default_target_schema": SNOWFLAKE_SCHEMA,
        "endpoint": double.url(),
        "session_parameters": {"FAKESNOW_DB_PATH": database},
        "load_method": "upsert",
    });
    for (key, value) in extra.as_object().into_iter().flatten() {
        config[key] = value.clone();
    }
    let path = pipe.dir.join(format!("{name}.json"));
    write(&path, &config);
    let parsed: SnowflakeConfig = serde_json::from_value(config.clone()).expect("config");
    (path, SnowflakeLoader::new(&parsed).expect("loader"), config)
}

/// `ID -> (PAYLOAD, _SDC_DELETED_AT set)` of a Snowflake table.
fn rows(loader: &mut SnowflakeLoader, table: &str, soft: bool) -> BTreeMap<i64, (String, bool)> {
    let deleted = if soft {
        "\"_SDC_DELETED_AT\" IS NOT NULL"
    } else {
        "FALSE"
    };
    loader
        .query_text(&format!(
            "SELECT \"ID\", \"PAYLOAD\", {deleted} FROM \"{SNOWFLAKE_SCHEMA}\".\"{table}\""
        ))
        .expect("rows")
        .into_iter()
        .map(|row| {
            let cell = |i: usize| row.get(i).cloned().flatten().unwrap_or_default();
            (
                cell(0).parse().expect("id"),
                (cell(1), cell(2).eq_ignore_ascii_case("true")),
            )
        })
        .collect()
}

fn deleted_ids(rows: &BTreeMap<i64, (String, bool)>) -> Vec<i64> {
    rows.iter()
        .filter(|(_, (_, deleted))| *deleted)
        .map(|(id, _)| *id)
        .collect()
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn deletes_detection_soft_deletes_revives_and_the_guard_refuses_a_mass_delete() {
    let mut pipe = Pipe::new("deletes_soft", ROWS, &json!({"detect-deletes": true}));
    let (config, mut loader, settings) = snowflake(&pipe, "deletes_soft", &json!({}));
    pipe.load("target-snowflake", &config);
    let table = "CRASH_INCR";
    let first = rows(&mut loader, table, true);
    assert_eq!(first.len(), usize::try_from(ROWS).expect("small"));
    assert!(deleted_ids(&first).is_empty());

    // Deletes, an update.
    pipe.client
        .batch_execute(&format!(
            "DELETE FROM {INCREMENTAL_TABLE} WHERE id IN (5, 6);
             UPDATE {INCREMENTAL_TABLE} SET payload = 'changed', updated_at = timestamptz '2031-01-01' WHERE id = 7;"
        ))
        .expect("changes");
    pipe.load("target-snowflake", &config);
    let second = rows(&mut loader, table, true);
    assert_eq!(deleted_ids(&second), [5, 6]);
    assert_eq!(second[&7], ("changed".to_owned(), false));
    assert_eq!(second.len(), first.len(), "soft: the rows stay, marked");

    // A deleted key comes back; another goes.
    pipe.client
        .batch_execute(&format!(
            "INSERT INTO {INCREMENTAL_TABLE} VALUES (5, timestamptz '2031-01-02', 'back', NULL);
             DELETE FROM {INCREMENTAL_TABLE} WHERE id = 8;"
        ))
        .expect("changes");
    pipe.load("target-snowflake", &config);
    let third = rows(&mut loader, table, true);
    assert_eq!(deleted_ids(&third), [6, 8]);
    assert_eq!(
        third[&5],
        ("back".to_owned(), false),
        "re-inserted: live again"
    );
    // Reconcile counts live rows: source and destination agree again.
    let reconciled = pipe.reconcile("snowflake", &config, &["--checksum", "payload"]);
    assert_eq!(
        reconciled.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&reconciled.stdout),
        stderr(&reconciled)
    );

    // A mass delete at the source: the guard (0.5 by default) refuses it,
    // the run fails and the table is left as it was.
    pipe.client
        .batch_execute(&format!("DELETE FROM {INCREMENTAL_TABLE} WHERE id > 100"))
        .expect("mass delete");
    let state_before = std::fs::read_to_string(pipe.state()).expect("state");
    let refused = pipe.run("target-snowflake", &config);
    assert!(!refused.status.success(), "the guard fails the run");
    assert!(
        stderr(&refused).contains("max_delete_ratio"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(rows(&mut loader, table, true), third, "nothing deleted");
    assert_eq!(
        std::fs::read_to_string(pipe.state()).expect("state"),
        state_before
    );

    // Raised to 1 for one run, the pass goes through.
    let mut allowing = settings;
    allowing["max_delete_ratio"] = json!(1.0);
    let allowing_path = pipe.dir.join("allowing.json");
    write(&allowing_path, &allowing);
    pipe.load("target-snowflake", &allowing_path);
    let fourth = rows(&mut loader, table, true);
    let live: Vec<i64> = fourth
        .iter()
        .filter(|(_, (_, deleted))| !*deleted)
        .map(|(id, _)| *id)
        .collect();
    let expected: Vec<i64> = (1..=100).filter(|id| ![6, 8].contains(id)).collect();
    assert_eq!(live, expected);
    // The key set's own table holds the last complete set.
    let keys = loader
        .query_text(&format!(
            "SELECT COUNT(*) FROM \"{SNOWFLAKE_SCHEMA}\".\"CRASH_INCR__KEYS\" WHERE \"_SDC_DELETED_AT\" IS NULL"
        ))
        .expect("keys");
    assert_eq!(keys[0][0].as_deref(), Some("98"));
    let _ = std::fs::remove_dir_all(&pipe.dir);
}

#[test]
fn deletes_detection_hard_deletes_with_hard_delete() {
    let mut pipe = Pipe::new("deletes_hard", ROWS, &json!({"detect-deletes": true}));
    let (config, mut loader, _) = snowflake(&pipe, "deletes_hard", &json!({"hard_delete": true}));
    pipe.load("target-snowflake", &config);
    pipe.client
        .batch_execute(&format!(
            "DELETE FROM {INCREMENTAL_TABLE} WHERE id IN (10, 20, 30)"
        ))
        .expect("deletes");
    pipe.load("target-snowflake", &config);
    let after = rows(&mut loader, "CRASH_INCR", false);
    assert_eq!(after.len(), usize::try_from(ROWS).expect("small") - 3);
    assert!(!after.contains_key(&10) && !after.contains_key(&20) && !after.contains_key(&30));
    // The FULL_TABLE stream detects deletes too (its key set is complete).
    assert_eq!(
        rows(&mut loader, "CRASH_FULL", false).len(),
        usize::try_from(ROWS).expect("small")
    );
    pipe.client
        .batch_execute(&format!(
            "INSERT INTO {INCREMENTAL_TABLE} VALUES (20, timestamptz '2031-01-02', 'again', NULL)"
        ))
        .expect("re-insert");
    pipe.load("target-snowflake", &config);
    assert_eq!(
        rows(&mut loader, "CRASH_INCR", false)[&20],
        ("again".to_owned(), false)
    );
    let _ = std::fs::remove_dir_all(&pipe.dir);
}

#[test]
fn a_key_set_reaches_target_csv_as_its_own_files_and_the_rows_stay_whole() {
    let mut pipe = Pipe::new("deletes_csv", ROWS, &json!({"detect-deletes": true}));
    let out = pipe.dir.join("csv");
    let config = pipe.dir.join("target-csv.json");
    write(
        &config,
        &json!({"destination_path": out, "commit_interval_seconds": 0}),
    );
    pipe.load("target-csv", &config);
    pipe.client
        .batch_execute(&format!(
            "DELETE FROM {INCREMENTAL_TABLE} WHERE id IN (3, 33, 333)"
        ))
        .expect("deletes");
    pipe.load("target-csv", &config);
    let files = |prefix: &str| -> Vec<std::path::PathBuf> {
        let mut list: Vec<_> = std::fs::read_dir(&out)
            .expect("out")
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(prefix) && n.ends_with(".csv"))
            })
            .collect();
        list.sort();
        list
    };
    // Only the active version's key files remain: exactly the source's keys.
    let mut keys: Vec<i64> = Vec::new();
    for path in files("public-crash_incr__keys") {
        let text = std::fs::read_to_string(&path).expect("csv");
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("id"), "{}", path.display());
        keys.extend(lines.map(|l| l.parse::<i64>().expect("id")));
    }
    keys.sort_unstable();
    let expected: Vec<i64> = (1..=i64::try_from(ROWS).expect("small"))
        .filter(|id| ![3, 33, 333].contains(id))
        .collect();
    assert_eq!(keys, expected);
    // The main stream's rows were never overwritten by partial records:
    // every row in its files has its payload.
    let mut main_rows = 0;
    for path in files("public-crash_incr-") {
        let mut reader = csv::Reader::from_path(&path).expect("csv");
        let payload = reader
            .headers()
            .expect("header")
            .iter()
            .position(|h| h == "payload")
            .expect("payload column");
        for record in reader.records() {
            let record = record.expect("row");
            assert_eq!(record.get(payload).map(str::len), Some(32), "{record:?}");
            main_rows += 1;
        }
    }
    assert!(main_rows >= ROWS, "{main_rows}");
    let _ = std::fs::remove_dir_all(&pipe.dir);
}

/// The tap's manifest mode into target-snowflake.
fn manifest_run(pipe: &Pipe, manifest: &Path, load_type: &str, config: &Path) -> String {
    let state = pipe.dir.join("manifest-state.json");
    let tap_config: Value =
        serde_json::from_str(&std::fs::read_to_string(&pipe.tap_config).expect("tap config"))
            .expect("json");
    let mut tap = Command::new(binary("tap-postgres").expect("tap"));
    tap.arg("--manifest")
        .arg(manifest)
        .args(["--load-type", load_type])
        .args(["--execution-date", "2032-01-01T00:00:00Z"])
        .env("PGP_DB", tap_config["dbname"].as_str().expect("db"))
        .env("PGP_HOST", tap_config["host"].as_str().expect("host"))
        .env("PGP_PORT", tap_config["port"].to_string())
        .env("PGP_USER", tap_config["user"].as_str().expect("user"))
        .env("PGP_PASS", "");
    if state.exists() {
        tap.arg("--state").arg(&state);
    }
    let mut tap = tap
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tap");
    let output = Command::new(binary("target-snowflake").expect("target"))
        .arg("--config")
        .arg(config)
        .stdin(tap.stdout.take().expect("stdout"))
        .stderr(Stdio::piped())
        .output()
        .expect("target");
    let tap = tap.wait_with_output().expect("tap");
    assert!(
        tap.status.success(),
        "{}",
        String::from_utf8_lossy(&tap.stderr)
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    if let Some(last) = text.lines().rev().find(|l| !l.trim().is_empty()) {
        std::fs::write(&state, last).expect("state");
    }
    String::from_utf8_lossy(&tap.stderr).into_owned()
}

#[test]
fn manifest_deletes_marks_rows_gone_and_skips_deletes_exempt_tables() {
    let mut pipe = Pipe::new("deletes_manifest", ROWS, &json!({}));
    let manifest = pipe.dir.join("manifest.yaml");
    std::fs::write(
        &manifest,
        "connection_info: {database: PGP_DB, host: PGP_HOST, pass: PGP_PASS, port: PGP_PORT, user: PGP_USER}
tables:
  crash_incr:
    import_db: GITLAB_DB
    export_schema: gitlab_com
    export_table: crash_incr
    export_table_primary_key: id
    import_query: |-
      SELECT id, payload, updated_at FROM crash_incr
      WHERE updated_at BETWEEN '{BEGIN_TIMESTAMP}'::timestamp AND '{END_TIMESTAMP}'::timestamp
  crash_full:
    import_db: GITLAB_DB
    export_schema: gitlab_com
    export_table: crash_full
    export_table_primary_key: id
    deletes_exempt: true
    import_query: SELECT id, payload FROM crash_full
",
    )
    .expect("manifest");
    let (config, mut loader, _) = snowflake(&pipe, "deletes_manifest", &json!({}));
    manifest_run(&pipe, &manifest, "backfill", &config);
    let table = "GITLAB_DB_CRASH_INCR";
    assert_eq!(
        rows(&mut loader, table, true).len(),
        usize::try_from(ROWS).expect("small")
    );
    pipe.client
        .batch_execute(&format!(
            "DELETE FROM {INCREMENTAL_TABLE} WHERE id IN (2, 4);
             DELETE FROM crash_full WHERE id = 9;
             UPDATE {INCREMENTAL_TABLE} SET updated_at = timestamptz '2040-01-01' WHERE id = 11;"
        ))
        .expect("deletes");
    let log = manifest_run(&pipe, &manifest, "deletes", &config);
    assert_eq!(deleted_ids(&rows(&mut loader, table, true)), [2, 4]);
    // Row 11, updated after the execution date, is still in the key set.
    assert!(!rows(&mut loader, table, true)[&11].1);
    // The exempt table sent no key set, so its row 9 stays live.
    assert!(!log.contains("GITLAB_DB_CRASH_FULL__keys"), "{log}");
    assert_eq!(
        rows(&mut loader, "GITLAB_DB_CRASH_FULL", true)
            .get(&9)
            .map(|r| r.1),
        Some(false)
    );
    let _ = std::fs::remove_dir_all(&pipe.dir);
}
