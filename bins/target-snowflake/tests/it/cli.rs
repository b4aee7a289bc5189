//! Arguments, configuration errors, exit codes, secrets.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::json;

use crate::support::{BIN, Scratch, config, lines};

#[test]
fn about_help_and_version() {
    let about = Command::new(BIN)
        .args(["--about", "--format", "json"])
        .output()
        .unwrap();
    assert!(about.status.success());
    let about: serde_json::Value = serde_json::from_slice(&about.stdout).unwrap();
    assert_eq!(about["name"], "target-snowflake");
    let settings: Vec<&str> = about["settings"]["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for name in [
        "account",
        "user",
        "password",
        "private_key",
        "private_key_path",
        "private_key_passphrase",
        "role",
        "warehouse",
        "database",
        "default_target_schema",
        "load_method",
        "hard_delete",
        "add_record_metadata",
        "timestamp_type",
        "query_tag",
        "batch_size_rows",
        "endpoint",
    ] {
        assert!(settings.contains(&name), "{name} missing from --about");
    }
    let version = Command::new(BIN).arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("target-snowflake "));
    let help = Command::new(BIN).arg("--help").output().unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("TARGET_SNOWFLAKE_<SETTING>"));
}

#[test]
fn configuration_errors_exit_2_without_secrets() {
    let dir = Scratch::new("config");
    let no_credentials = dir.write(
        "a.json",
        &json!({"account": "a", "user": "u", "database": "d"}),
    );
    let output = Command::new(BIN)
        .args(["--config"])
        .arg(&no_credentials)
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("set password, or private_key"));

    let bad_method = dir.write(
        "b.json",
        &json!({"account": "a", "user": "u", "dbname": "d", "password": "Tr0ub4dor&3",
                "load_method": "replace-all"}),
    );
    let output = Command::new(BIN)
        .args(["--config"])
        .arg(&bad_method)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("load_method") && !stderr.contains("Tr0ub4dor"),
        "{stderr}"
    );
}

#[test]
fn loads_from_stdin_with_env_settings_and_keeps_secrets_out_of_logs() {
    let (config, typed) = config("bin_stdin", &json!({"load_method": "append-only"}));
    let dir = Scratch::new("stdin");
    let mut file_config = config.clone();
    file_config.as_object_mut().unwrap().remove("password");
    let path = dir.write("config.json", &file_config);
    let mut child = Command::new(BIN)
        .args(["--config"])
        .arg(&path)
        .args(["--log-level", "debug"])
        .env("TARGET_SNOWFLAKE_PASSWORD", "sw0rdfish-not-checked")
        .env("TARGET_SNOWFLAKE_QUERY_TAG", "singer-rs-test")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let input = [
        json!({"type": "SCHEMA", "stream": "GITLAB_DB_ISSUES", "key_properties": ["id"],
               "schema": {"properties": {"id": {"type": "integer"}, "title": {"type": "string"}}}}),
        json!({"type": "RECORD", "stream": "GITLAB_DB_ISSUES", "record": {"id": 1, "title": "a"}}),
        json!({"type": "STATE", "value": {"high_water_mark": 1}}),
        json!({"type": "RECORD", "stream": "GITLAB_DB_ISSUES", "record": {"id": 2, "title": "b"}}),
    ];
    {
        let mut stdin = child.stdin.take().unwrap();
        for message in &input {
            writeln!(stdin, "{message}").unwrap();
        }
    }
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "{\"high_water_mark\":1}\n"
    );
    assert!(
        !stderr.contains("sw0rdfish"),
        "a secret reached the log: {stderr}"
    );
    assert_eq!(
        lines(
            &typed,
            r#"SELECT "ID", "TITLE" FROM "RAW"."GITLAB_DB_ISSUES" ORDER BY "ID""#
        ),
        ["1|a", "2|b"]
    );
}

#[test]
fn a_failing_load_exits_1_with_the_snowflake_error() {
    let (config, _) = config("bin_fail", &json!({"validate_records": false}));
    let dir = Scratch::new("fail");
    let path = dir.write("config.json", &config);
    let input = dir.write(
        "input.jsonl",
        &json!({"type": "SCHEMA", "stream": "public-t", "key_properties": [],
                "schema": {"properties": {"n": {"type": "string", "format": "x-singer.decimal", "precision": 4, "scale": 0}}}}),
    );
    let mut text = std::fs::read_to_string(&input).unwrap();
    text.push('\n');
    text.push_str(
        &json!({"type": "RECORD", "stream": "public-t", "record": {"n": "NaN"}}).to_string(),
    );
    text.push('\n');
    std::fs::write(&input, text).unwrap();
    let output = Command::new(BIN)
        .args(["--config"])
        .arg(&path)
        .args(["--input"])
        .arg(&input)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot be stored in NUMBER(4,0)"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
    assert!(dir.path().exists());
}
