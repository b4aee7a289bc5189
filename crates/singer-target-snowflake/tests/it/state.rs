//! STATE only after commit; a failure leaves no state past the last
//! commit; transient failures are retried without duplicates.

use serde_json::json;

use crate::support::{Event, chain, config, lines, load, messages, run};

fn schema() -> serde_json::Value {
    json!({"type": "SCHEMA", "stream": "public-items", "key_properties": ["id"], "schema": {
        "properties": {"id": {"type": "integer"}, "v": {"type": "string"}}}})
}

fn item(id: i64) -> serde_json::Value {
    json!({"type": "RECORD", "stream": "public-items", "record": {"id": id, "v": format!("v{id}")}})
}

fn state(n: i64) -> serde_json::Value {
    json!({"type": "STATE", "value": {"bookmarks": {"public-items": {"id": n}}}})
}

/// 9 records in batches of 3, a STATE after every 3rd.
fn input() -> String {
    let mut values = vec![schema()];
    for id in 1..=9 {
        values.push(item(id));
        if id % 3 == 0 {
            values.push(state(id));
        }
    }
    messages(&values)
}

#[test]
fn state_is_written_only_after_the_batch_it_covers_is_committed() {
    let mut config = config("state_order");
    config.batch_size_rows = 3;
    let mut run = load(&config, &input());
    assert_eq!(run.states.len(), 3);
    // Every STATE comes after the commit of the records before it.
    let mut committed: Vec<String> = Vec::new();
    for event in &run.events {
        match event {
            Event::Committed(ids) => committed.extend(ids.iter().cloned()),
            Event::State(text) => {
                let value: serde_json::Value = serde_json::from_str(text).unwrap();
                let covers = value["bookmarks"]["public-items"]["id"].as_i64().unwrap();
                for id in 1..=covers {
                    assert!(
                        committed.contains(&id.to_string()),
                        "STATE {text} written before record {id} was committed: {:?}",
                        run.events
                    );
                }
            }
        }
    }
    assert_eq!(
        lines(&mut run.loader, r#"SELECT COUNT(*) FROM "RAW"."ITEMS""#),
        ["9"]
    );
}

#[test]
fn a_failed_statement_mid_run_leaves_no_state_past_the_last_commit() {
    let mut config = config("state_fail");
    config.batch_size_rows = 3;
    // The third MERGE fails with a (permanent) Snowflake error.
    config.session_parameters.insert(
        "SINGER_FAULTS".to_owned(),
        json!([{"match": "^MERGE", "skip": 2, "times": 1, "status": 200,
                "code": "100038", "message": "Numeric value 'x' is not recognized"}]),
    );
    let mut failed = run(&config, &input());
    let error = failed.result.expect_err("the third batch fails");
    let text = chain(&error);
    assert!(
        text.contains("100038") && text.contains("Numeric value 'x' is not recognized"),
        "{text}"
    );
    assert_eq!(
        failed.states,
        [
            r#"{"bookmarks":{"public-items":{"id":3}}}"#,
            r#"{"bookmarks":{"public-items":{"id":6}}}"#
        ]
    );
    // The failed batch's transaction was rolled back.
    assert_eq!(
        lines(
            &mut failed.loader,
            r#"SELECT COUNT(*), MAX("ID") FROM "RAW"."ITEMS""#
        ),
        ["6|6"]
    );
    // A rerun from the last state (the tap resends 7..9) completes it.
    config.session_parameters.remove("SINGER_FAULTS");
    let rest = messages(&[schema(), item(7), item(8), item(9), state(9)]);
    let mut rerun = load(&config, &rest);
    assert_eq!(rerun.states, [r#"{"bookmarks":{"public-items":{"id":9}}}"#]);
    assert_eq!(
        lines(
            &mut rerun.loader,
            r#"SELECT COUNT(*), COUNT(DISTINCT "ID") FROM "RAW"."ITEMS""#
        ),
        ["9|9"]
    );
}

#[test]
fn transient_failures_are_retried_without_duplicates() {
    let mut config = config("retry");
    config.batch_size_rows = 3;
    config.load_method = singer_target_snowflake::LoadMethod::AppendOnly;
    // HTTP 503 on the first INSERT into the table, 429 on the first
    // staging statement of the second batch: each batch is redone.
    config.session_parameters.insert(
        "SINGER_FAULTS".to_owned(),
        json!([
            {"match": "^INSERT INTO \"RAW\"", "times": 1, "status": 503, "message": "unavailable"},
            {"match": "^INSERT INTO \"_SINGER_RS_STAGE\"", "skip": 1, "times": 1, "status": 429, "message": "slow down"}
        ]),
    );
    let mut run = load(&config, &input());
    assert_eq!(run.states.len(), 3);
    assert_eq!(
        lines(
            &mut run.loader,
            r#"SELECT COUNT(*), COUNT(DISTINCT "ID") FROM "RAW"."ITEMS""#
        ),
        ["9|9"]
    );
}

#[test]
fn a_permanent_http_error_is_not_retried() {
    let mut config = config("no_retry");
    config.session_parameters.insert(
        "SINGER_FAULTS".to_owned(),
        json!([{"match": "^MERGE", "times": 1, "status": 403, "message": "forbidden"}]),
    );
    let failed = run(&config, &messages(&[schema(), item(1), state(1)]));
    let error = failed.result.expect_err("403");
    let text = chain(&error);
    assert!(text.contains("HTTP 403"), "{text}");
    assert!(failed.states.is_empty());
}
