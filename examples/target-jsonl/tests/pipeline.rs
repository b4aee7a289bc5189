//! `tap-csv-file | target-jsonl`, twice: the second run is incremental
//! from the state the target wrote (saved as an orchestrator would, with
//! `singer_state::FileStateStore`); the target writes a STATE only once the
//! rows before it are committed, and none past the last commit when the
//! input goes bad.

#![allow(
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code: a failed expectation is the test failing"
)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};
use singer_state::{FileStateStore, State, StateStore};

const TARGET: &str = env!("CARGO_BIN_EXE_target-jsonl");

/// The example tap's binary: another package's binaries are not built for
/// this test, so build it (a no-op when `cargo test --workspace` did).
fn tap_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test path");
    // <target>/<profile>/deps/pipeline-<hash>
    let profile_dir = exe.parent().and_then(Path::parent).expect("profile dir");
    let target_dir = profile_dir.parent().expect("target dir");
    let mut build = Command::new(env!("CARGO"));
    build.args([
        "build",
        "--quiet",
        "-p",
        "tap-csv-file",
        "--bin",
        "tap-csv-file",
    ]);
    build.arg("--target-dir").arg(target_dir);
    if profile_dir.ends_with("release") {
        build.arg("--release");
    }
    assert!(build.status().expect("cargo build").success());
    profile_dir.join("tap-csv-file")
}

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("target-jsonl-pipeline-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch");
    dir
}

/// Runs `tap args | target --config target_config`; returns the target's
/// output.
fn pipe(tap: &Path, tap_args: &[&Path], target_config: &Path) -> Output {
    let mut tap = Command::new(tap)
        .args(tap_args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn tap");
    let target = Command::new(TARGET)
        .arg("--config")
        .arg(target_config)
        .stdin(tap.stdout.take().expect("tap stdout"))
        .output()
        .expect("run target");
    assert!(tap.wait().expect("tap").success());
    target
}

fn lines(text: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(text)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

fn ids(path: &Path) -> Vec<i64> {
    lines(&std::fs::read(path).expect("jsonl file"))
        .iter()
        .map(|r| r["id"].as_str().expect("id").parse().expect("number"))
        .collect()
}

#[test]
fn csv_to_jsonl_twice_then_a_bad_line() {
    let tap = tap_binary();
    let dir = scratch();
    let csv = dir.join("people.csv");
    std::fs::write(
        &csv,
        "id,name,updated_at\n1,Ada,2024-01-01T00:00:00Z\n2,Grace,2024-01-02T00:00:00Z\n3,Edsger,2024-01-03T00:00:00Z\n",
    )
    .expect("csv");
    let tap_config = dir.join("tap.json");
    let tap_json = json!({"path": csv, "stream": "people", "key_properties": ["id"], "replication_key": "updated_at"});
    std::fs::write(&tap_config, tap_json.to_string()).expect("tap config");
    let out = dir.join("out");
    let target_config = dir.join("target.json");
    let target_json = json!({"destination_path": out, "commit_interval_seconds": 0});
    std::fs::write(&target_config, target_json.to_string()).expect("target config");
    let state_file = dir.join("state.json");
    let mut store = FileStateStore::new(&state_file);

    // First run: everything; the target's one STATE is the tap's last.
    let first = pipe(&tap, &[Path::new("--config"), &tap_config], &target_config);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let states = lines(&first.stdout);
    assert_eq!(states.len(), 1);
    assert_eq!(
        states[0]["bookmarks"]["people"]["replication_key_value"],
        "2024-01-03T00:00:00Z"
    );
    assert_eq!(ids(&out.join("people.jsonl")), [1, 2, 3]);
    let record = &lines(&std::fs::read(out.join("people.jsonl")).expect("file"))[0];
    assert_eq!(
        record,
        &json!({"_row": 1, "id": "1", "name": "Ada", "updated_at": "2024-01-01T00:00:00Z"})
    );
    store
        .save(&State::from_value(states[0].clone()).expect("a state"))
        .expect("save");

    // Changes: a row updated, a row added. Second run from the saved state.
    std::fs::write(
        &csv,
        "id,name,updated_at\n1,Ada,2024-01-01T00:00:00Z\n2,Grace Hopper,2024-01-04T00:00:00Z\n3,Edsger,2024-01-03T00:00:00Z\n4,Barbara,2024-01-05T00:00:00Z\n",
    )
    .expect("csv");
    let second = pipe(
        &tap,
        &[
            Path::new("--config"),
            &tap_config,
            Path::new("--state"),
            &state_file,
        ],
        &target_config,
    );
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    let states = lines(&second.stdout);
    assert_eq!(
        states.last().expect("a STATE")["bookmarks"]["people"]["replication_key_value"],
        "2024-01-05T00:00:00Z"
    );
    // The bookmark row again (>=, at least once), then the changed and the new row.
    assert_eq!(ids(&out.join("people.jsonl")), [1, 2, 3, 2, 3, 4]);

    // A bad line after a STATE: that STATE (committed) is the last line out,
    // and the record after it, never committed, is not in the file.
    let input = [
        r#"{"type":"SCHEMA","stream":"people","schema":{"properties":{"id":{"type":"string"}}},"key_properties":["id"]}"#,
        r#"{"type":"RECORD","stream":"people","record":{"id":"5"}}"#,
        r#"{"type":"STATE","value":{"bookmarks":{"people":{"replication_key_value":"five"}}}}"#,
        r#"{"type":"RECORD","stream":"people","record":{"id":"6"}}"#,
        r#"{"type":"RECORD","stream":"people","record":{"id":7}}"#,
    ]
    .join("\n");
    let mut target = Command::new(TARGET)
        .arg("--config")
        .arg(&target_config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("target");
    target
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write");
    let bad = target.wait_with_output().expect("target");
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("stream \"people\", line 5: record fails its schema at /id"),
        "{stderr}"
    );
    assert_eq!(
        String::from_utf8_lossy(&bad.stdout),
        "{\"bookmarks\":{\"people\":{\"replication_key_value\":\"five\"}}}\n"
    );
    assert_eq!(ids(&out.join("people.jsonl")), [1, 2, 3, 2, 3, 4, 5]);
    let _ = std::fs::remove_dir_all(&dir);
}
