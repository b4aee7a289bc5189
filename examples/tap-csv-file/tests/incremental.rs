//! The example tap run twice over an append-only file, bookmarking on the
//! row number: the second run, from the first run's state, emits only the
//! appended rows.

#![allow(
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test code: a failed expectation is the test failing"
)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

fn tap(args: &[&Path]) -> Vec<Value> {
    let output = Command::new(env!("CARGO_BIN_EXE_tap-csv-file"))
        .args(args)
        .output()
        .expect("run tap-csv-file");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("UTF-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tap-csv-file-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

#[test]
fn second_run_emits_only_appended_rows_by_row_number() {
    let dir = scratch("rows");
    let csv = dir.join("events.csv");
    std::fs::write(&csv, "kind,note\nclick,\npush,\"a, b\"\n").expect("csv");
    let config = dir.join("config.json");
    let config_json = json!({"path": csv, "stream": "events", "state_interval": 1});
    std::fs::write(&config, config_json.to_string()).expect("config");

    let first = tap(&[Path::new("--config"), &config]);
    let kinds: Vec<&str> = first
        .iter()
        .map(|m| m["type"].as_str().expect("type"))
        .collect();
    assert_eq!(
        kinds,
        ["SCHEMA", "RECORD", "STATE", "RECORD", "STATE", "STATE"]
    );
    assert_eq!(first[0]["key_properties"], json!(["_row"]));
    assert_eq!(
        first[1]["record"],
        json!({"_row": 1, "kind": "click", "note": null})
    );
    assert_eq!(
        first[3]["record"],
        json!({"_row": 2, "kind": "push", "note": "a, b"})
    );
    let state = &first[5]["value"];
    assert_eq!(state["bookmarks"]["events"]["replication_key_value"], 2);
    let state_file = dir.join("state.json");
    std::fs::write(&state_file, state.to_string()).expect("state");

    std::fs::write(&csv, "kind,note\nclick,\npush,\"a, b\"\nmerge,ok\n").expect("append");
    let second = tap(&[
        Path::new("--config"),
        &config,
        Path::new("--state"),
        &state_file,
    ]);
    let records: Vec<&Value> = second.iter().filter(|m| m["type"] == "RECORD").collect();
    assert_eq!(records.len(), 1);
    assert_eq!(
        records[0]["record"],
        json!({"_row": 3, "kind": "merge", "note": "ok"})
    );
    let last = second.last().expect("a STATE");
    assert_eq!(
        last["value"]["bookmarks"]["events"]["replication_key_value"],
        3
    );

    // --discover writes a catalog; --catalog with the stream not selected emits nothing.
    let catalog = tap(&[Path::new("--config"), &config, Path::new("--discover")]);
    assert_eq!(catalog[0]["streams"][0]["tap_stream_id"], "events");
    let catalog_file = dir.join("catalog.json");
    std::fs::write(&catalog_file, catalog[0].to_string()).expect("catalog");
    assert!(
        tap(&[
            Path::new("--config"),
            &config,
            Path::new("--catalog"),
            &catalog_file
        ])
        .is_empty()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
