//! Every loader call is retried by one layer only, at most `max_retries` + 1
//! attempts in all (here `max_retries` is 2): the driver
//! re-runs `write_batch` and `commit`, the loader re-runs `configure_stream`;
//! no statement is retried inside a call the driver retries too.

use serde_json::json;
use singer_target_snowflake::SnowflakeConfig;

use crate::support::{chain, config, lines, messages, run};

fn input() -> String {
    messages(&[
        json!({"type": "SCHEMA", "stream": "public-tries", "key_properties": ["id"], "schema": {
            "properties": {"id": {"type": "integer"}}}}),
        json!({"type": "RECORD", "stream": "public-tries", "record": {"id": 1}}),
        json!({"type": "STATE", "value": {"bookmarks": {"public-tries": {"id": 1}}}}),
    ])
}

/// `config` with the statements matching `pattern` failing with HTTP 503
/// `times` times.
fn failing(prefix: &str, pattern: &str, times: u32) -> SnowflakeConfig {
    let mut config = config(prefix);
    config.max_retries = 2;
    config.session_parameters.insert(
        "SINGER_FAULTS".to_owned(),
        json!([{"match": pattern, "times": times, "status": 503, "message": "unavailable"}]),
    );
    config
}

#[test]
fn a_batch_is_attempted_max_retries_plus_one_times_by_the_driver_alone() {
    const STAGING: &str = "^INSERT INTO \"_SINGER_RS_STAGE";
    let mut recovered = run(&failing("tries_batch_ok", STAGING, 2), &input());
    let error = recovered.result.as_ref().err().map(|e| chain(e));
    assert!(error.is_none(), "{error:?}");
    assert_eq!(
        lines(
            &mut recovered.loader,
            r#"SELECT COUNT(*) FROM "RAW"."TRIES""#
        ),
        ["1"]
    );
    // A third failure exhausts the three attempts: nothing retries further.
    let failed = run(&failing("tries_batch_spent", STAGING, 3), &input());
    let error = failed.result.expect_err("three failures");
    assert!(
        matches!(
            error,
            singer_target::Error::Loader {
                retryable: true,
                ..
            }
        ) && chain(&error).contains("HTTP 503"),
        "{}",
        chain(&error)
    );
    assert!(failed.states.is_empty());
}

#[test]
fn table_ddl_is_attempted_max_retries_plus_one_times_by_the_loader_alone() {
    const CREATE: &str = "^CREATE TABLE";
    let mut recovered = run(&failing("tries_ddl_ok", CREATE, 2), &input());
    let error = recovered.result.as_ref().err().map(|e| chain(e));
    assert!(error.is_none(), "{error:?}");
    assert_eq!(
        lines(
            &mut recovered.loader,
            r#"SELECT COUNT(*) FROM "RAW"."TRIES""#
        ),
        ["1"]
    );
    let failed = run(&failing("tries_ddl_spent", CREATE, 3), &input());
    let error = failed.result.expect_err("three failures");
    let text = chain(&error);
    assert!(
        text.contains("creating table") && text.contains("HTTP 503"),
        "{text}"
    );
    assert!(failed.states.is_empty());
}
