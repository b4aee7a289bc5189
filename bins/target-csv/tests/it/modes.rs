//! append, overwrite, ACTIVATE_VERSION, schema growth, naming.

use crate::support::{Scratch, USERS, lines, record, run, stderr, stdout};

#[test]
fn append_makes_new_files_each_run_and_never_touches_earlier_ones() {
    let scratch = Scratch::new("append");
    let config = scratch.config(&serde_json::json!({}));
    let first = run(&config, &lines(&[USERS, &record(1, "a")]));
    assert!(first.status.success());
    let files = scratch.files();
    assert_eq!(files.len(), 1);
    assert!(
        files[0].starts_with("users-") && files[0].ends_with(".csv"),
        "{files:?}"
    );
    let before = scratch.read(&files[0]);
    let second = run(&config, &lines(&[USERS, &record(2, "b")]));
    assert!(second.status.success());
    let after = scratch.files();
    assert_eq!(after.len(), 2, "{after:?}");
    assert_eq!(scratch.read(&files[0]), before);
}

#[test]
fn overwrite_replaces_the_file_at_the_end() {
    let scratch = Scratch::new("overwrite");
    let config = scratch.config(&serde_json::json!({"mode": "overwrite"}));
    assert!(
        run(&config, &lines(&[USERS, &record(1, "a"), &record(2, "b")]))
            .status
            .success()
    );
    assert_eq!(scratch.read("users.csv"), "id,name\n1,a\n2,b\n");
    let state = r#"{"type":"STATE","value":{"n":3}}"#;
    let output = run(&config, &lines(&[USERS, &record(3, "c"), state]));
    assert!(output.status.success());
    assert_eq!(scratch.files(), ["users.csv"]);
    assert_eq!(scratch.read("users.csv"), "id,name\n3,c\n");
    assert_eq!(stdout(&output), "{\"n\":3}\n");
}

#[test]
fn activate_version_leaves_only_this_runs_files_of_the_stream() {
    let scratch = Scratch::new("activate");
    let config = scratch.config(&serde_json::json!({}));
    let other = r#"{"type":"SCHEMA","stream":"users-archive","schema":{"properties":{"id":{"type":"integer"}}},"key_properties":[]}"#;
    let other_record = r#"{"type":"RECORD","stream":"users-archive","record":{"id":9}}"#;
    assert!(
        run(
            &config,
            &lines(&[USERS, &record(1, "old"), other, other_record])
        )
        .status
        .success()
    );
    assert_eq!(scratch.files().len(), 2);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let activate = r#"{"type":"ACTIVATE_VERSION","stream":"users","version":2}"#;
    let output = run(
        &config,
        &lines(&[USERS, activate, &record(2, "new"), activate]),
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let files = scratch.files();
    assert_eq!(files.len(), 2, "{files:?}");
    let users: Vec<&String> = files
        .iter()
        .filter(|f| !f.starts_with("users-archive"))
        .collect();
    assert_eq!(users.len(), 1);
    assert_eq!(scratch.read(users[0]), "id,name\n2,new\n");
    // The stream whose name starts with "users-" kept its file.
    assert!(files.iter().any(|f| f.starts_with("users-archive")));
}

#[test]
fn schema_growth_mid_stream_starts_a_new_part_with_the_new_header() {
    let scratch = Scratch::new("growth");
    let config = scratch.config(&serde_json::json!({"file_naming_scheme": "{stream}.csv"}));
    let grown = r#"{"type":"SCHEMA","stream":"users","schema":{"type":"object","properties":{"id":{"type":"integer"},"name":{"type":["null","string"]},"email":{"type":["null","string"]}}},"key_properties":["id"]}"#;
    let output = run(
        &config,
        &lines(&[
            USERS,
            &record(1, "a"),
            grown,
            r#"{"type":"RECORD","stream":"users","record":{"id":2,"name":"b","email":"b@x"}}"#,
        ]),
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(scratch.files(), ["users-0002.csv", "users.csv"]);
    assert_eq!(scratch.read("users.csv"), "id,name\n1,a\n");
    assert_eq!(scratch.read("users-0002.csv"), "id,name,email\n2,b,b@x\n");
}

#[test]
fn unsafe_stream_names_get_distinct_safe_files() {
    let scratch = Scratch::new("names");
    let config = scratch.config(&serde_json::json!({"file_naming_scheme": "{stream}.csv"}));
    let schema = |s: &str| {
        format!(
            r#"{{"type":"SCHEMA","stream":"{s}","schema":{{"properties":{{"id":{{"type":"integer"}}}}}},"key_properties":[]}}"#
        )
    };
    let rec = |s: &str| format!(r#"{{"type":"RECORD","stream":"{s}","record":{{"id":1}}}}"#);
    let streams = ["a/b", "a.b", "a_b", "../up"];
    let mut input = Vec::new();
    for s in streams {
        input.push(schema(s));
        input.push(rec(s));
    }
    let refs: Vec<&str> = input.iter().map(String::as_str).collect();
    let output = run(&config, &lines(&refs));
    assert!(output.status.success(), "{}", stderr(&output));
    let files = scratch.files();
    assert_eq!(files.len(), 4, "{files:?}");
    assert!(files.contains(&"a_b.csv".to_owned()));
    assert!(
        files
            .iter()
            .all(|f| !f.contains('/') && f.ends_with(".csv"))
    );
}

#[test]
fn metadata_and_flattening_columns_reach_the_header() {
    let scratch = Scratch::new("metadata");
    let config = scratch.config(&serde_json::json!({
        "file_naming_scheme": "{stream}.csv", "add_record_metadata": true,
        "flattening_enabled": true, "flattening_max_depth": 1,
    }));
    let schema = r#"{"type":"SCHEMA","stream":"s","schema":{"properties":{"id":{"type":"integer"},"o":{"type":"object","properties":{"k":{"type":"string"}}}}},"key_properties":["id"]}"#;
    let output = run(
        &config,
        &lines(&[
            schema,
            r#"{"type":"RECORD","stream":"s","record":{"id":1,"o":{"k":"v"}},"version":5}"#,
        ]),
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let text = scratch.read("s.csv");
    let header = text.lines().next().unwrap();
    assert_eq!(
        header,
        "id,o__k,_sdc_extracted_at,_sdc_received_at,_sdc_batched_at,_sdc_deleted_at,_sdc_sequence,_sdc_table_version"
    );
    let row: Vec<&str> = text.lines().nth(1).unwrap().split(',').collect();
    assert_eq!((row[0], row[1], row[2], row[7]), ("1", "v", "", "5"));
}

/// A tap resuming an interrupted FULL_TABLE sync continues the same table
/// version in the next run; ACTIVATE_VERSION at its end must keep the rows
/// the first run committed for that version, and drop other versions.
#[test]
fn activate_version_keeps_its_own_version_from_an_interrupted_run() {
    let scratch = Scratch::new("resume-version");
    let config = scratch.config(&serde_json::json!({}));
    let versioned = |id: u32, version: u64| {
        format!(
            r#"{{"type":"RECORD","stream":"users","record":{{"id":{id},"name":"v{version}"}},"version":{version}}}"#
        )
    };
    let state = |n: u32| format!(r#"{{"type":"STATE","value":{{"last_pk_fetched":{n}}}}}"#);
    // An old complete copy (version 1), then a run of version 2 that is
    // interrupted after two rows (no ACTIVATE_VERSION).
    let activate = |version: u64| {
        format!(r#"{{"type":"ACTIVATE_VERSION","stream":"users","version":{version}}}"#)
    };
    let old = run(&config, &lines(&[USERS, &versioned(9, 1), &activate(1)]));
    assert!(old.status.success(), "{}", stderr(&old));
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let first = run(
        &config,
        &lines(&[USERS, &versioned(1, 2), &versioned(2, 2), &state(2)]),
    );
    assert!(first.status.success(), "{}", stderr(&first));
    std::thread::sleep(std::time::Duration::from_millis(1100));
    // The resumed run: the rest of version 2, then ACTIVATE_VERSION 2.
    let second = run(
        &config,
        &lines(&[USERS, &versioned(3, 2), &activate(2), &state(3)]),
    );
    assert!(second.status.success(), "{}", stderr(&second));
    let mut rows: Vec<String> = scratch
        .files()
        .iter()
        .filter(|f| f.ends_with(".csv"))
        .flat_map(|f| {
            scratch
                .read(f)
                .lines()
                .skip(1)
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    rows.sort();
    assert_eq!(
        rows,
        ["1,v2", "2,v2", "3,v2"],
        "version 2 whole, version 1 gone"
    );
}
