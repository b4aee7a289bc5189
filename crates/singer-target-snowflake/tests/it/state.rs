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
    config.driver.batch_size_rows = 3;
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
    config.driver.batch_size_rows = 3;
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
fn transient_failures_with_nothing_staged_are_retried_without_duplicates() {
    let mut config = config("retry");
    config.driver.batch_size_rows = 3;
    config.load_method = singer_target_snowflake::LoadMethod::AppendOnly;
    // HTTP 503 on the first staging statement, 429 on the first staging
    // statement of the second batch: nothing else is staged then (the
    // batch before was committed), so each batch is redone.
    config.session_parameters.insert(
        "SINGER_FAULTS".to_owned(),
        json!([
            {"match": "^INSERT INTO \"_SINGER_RS_STAGE", "times": 1, "status": 503, "message": "unavailable"},
            {"match": "^INSERT INTO \"_SINGER_RS_STAGE", "skip": 1, "times": 1, "status": 429, "message": "slow down"}
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
fn with_bound_batches_a_transient_failure_during_the_commit_is_not_retried() {
    let mut config = config("commit_fail");
    // Bound batches live in the session's temporary tables: nothing to
    // redo the commit from (staged files are; see staging.rs).
    config.staging = singer_target_snowflake::Staging::Bind;
    config.driver.batch_size_rows = 3;
    config.load_method = singer_target_snowflake::LoadMethod::AppendOnly;
    // The second commit's INSERT into the table fails with HTTP 503.
    config.session_parameters.insert(
        "SINGER_FAULTS".to_owned(),
        json!([{"match": "^INSERT INTO \"RAW\"", "skip": 1, "times": 1, "status": 503, "message": "unavailable"}]),
    );
    let mut failed = run(&config, &input());
    let error = failed.result.expect_err("the second commit fails");
    assert!(
        matches!(
            error,
            singer_target::Error::Loader {
                retryable: false,
                ..
            }
        ),
        "{}",
        chain(&error)
    );
    assert!(chain(&error).contains("HTTP 503"), "{}", chain(&error));
    assert_eq!(
        failed.states,
        [r#"{"bookmarks":{"public-items":{"id":3}}}"#]
    );
    assert_eq!(
        lines(
            &mut failed.loader,
            r#"SELECT COUNT(*), MAX("ID") FROM "RAW"."ITEMS""#
        ),
        ["3|3"]
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

fn appended(id: i64, version: Option<u64>) -> serde_json::Value {
    let mut record = item(id);
    if let Some(version) = version {
        record["version"] = json!(version);
    }
    record
}

#[test]
fn with_bound_batches_append_only_rows_after_the_last_state_are_not_committed_when_the_run_fails() {
    let mut config = config("append_durable");
    config.staging = singer_target_snowflake::Staging::Bind;
    config.driver.batch_size_rows = 3;
    config.load_method = singer_target_snowflake::LoadMethod::AppendOnly;
    // Batches 1-3, 4-6 (STATE 6), 7-9, 10-12: the staging of 10-12 fails
    // transiently while 7-9 are staged and uncommitted.
    config.session_parameters.insert(
        "SINGER_FAULTS".to_owned(),
        json!([{"match": "^INSERT INTO \"_SINGER_RS_STAGE", "skip": 3, "times": 1, "status": 503, "message": "unavailable"}]),
    );
    let mut values = vec![schema()];
    values.extend((1..=6).map(|id| appended(id, None)));
    values.push(state(6));
    values.extend((7..=12).map(|id| appended(id, None)));
    let mut failed = run(&config, &messages(&values));
    let error = failed.result.expect_err("the fourth batch fails");
    let text = chain(&error);
    assert!(
        matches!(
            error,
            singer_target::Error::Loader {
                retryable: false,
                ..
            }
        ) && text.contains("lost with the Snowflake session")
            && text.contains("HTTP 503"),
        "{text}"
    );
    assert_eq!(
        failed.states,
        [r#"{"bookmarks":{"public-items":{"id":6}}}"#]
    );
    assert_eq!(
        lines(
            &mut failed.loader,
            r#"SELECT COUNT(*), MAX("ID") FROM "RAW"."ITEMS""#
        ),
        ["6|6"]
    );
    // A rerun from the last STATE (the tap resends 7..12): no duplicates.
    config.session_parameters.remove("SINGER_FAULTS");
    let mut rest = vec![schema()];
    rest.extend((7..=12).map(|id| appended(id, None)));
    rest.push(state(12));
    let mut rerun = load(&config, &messages(&rest));
    assert_eq!(
        lines(
            &mut rerun.loader,
            r#"SELECT COUNT(*), COUNT(DISTINCT "ID") FROM "RAW"."ITEMS""#
        ),
        ["12|12"]
    );
}

#[test]
fn append_only_rows_of_a_version_after_the_last_state_stay_out_when_the_input_ends() {
    let mut config = config("append_version");
    config.driver.batch_size_rows = 2;
    config.load_method = singer_target_snowflake::LoadMethod::AppendOnly;
    let mut values = vec![schema()];
    values.extend((1..=4).map(|id| appended(id, Some(1))));
    values.push(state(4));
    // Written as batches (2 rows each), never covered by a STATE.
    values.extend((5..=8).map(|id| appended(id, Some(1))));
    let mut ended = run(&config, &messages(&values));
    let error = ended.result.expect_err("the input ends mid-version");
    assert!(
        matches!(error, singer_target::Error::EndedWithoutState { .. }),
        "{}",
        chain(&error)
    );
    assert_eq!(ended.states, [r#"{"bookmarks":{"public-items":{"id":4}}}"#]);
    assert_eq!(
        lines(
            &mut ended.loader,
            r#"SELECT COUNT(*), MAX("ID") FROM "RAW"."ITEMS""#
        ),
        ["4|4"]
    );
}

#[test]
fn rows_are_visible_only_after_the_state_that_covers_them() {
    use singer_target::{Batch, Loader, StreamSchema};
    use singer_target_snowflake::SnowflakeLoader;

    let mut config = config("visible");
    config.load_method = singer_target_snowflake::LoadMethod::AppendOnly;
    let mut loader = SnowflakeLoader::new(&config).unwrap();
    let columns = vec!["id".to_owned(), "v".to_owned()];
    loader
        .configure_stream(&StreamSchema {
            stream: "public-items".to_owned(),
            schema: schema()["schema"].clone(),
            columns,
            key_properties: vec!["id".to_owned()],
            bookmark_properties: None,
            changes: Vec::new(),
            first: true,
            line: 1,
            key_set_of: None,
        })
        .unwrap();
    let count =
        |loader: &mut SnowflakeLoader| lines(loader, r#"SELECT COUNT(*) FROM "RAW"."ITEMS""#);
    for round in 0..2 {
        for id in 0..2 {
            let mut batch = Batch::new(2);
            let first = round * 4 + id * 2;
            batch.push_row([Some(first.to_string().as_str()), Some("\"a\"")]);
            batch.push_row([Some((first + 1).to_string().as_str()), Some("\"b\"")]);
            loader.write_batch("public-items", &batch).unwrap();
            assert_eq!(count(&mut loader), [(round * 4).to_string()]);
        }
        loader.commit().unwrap();
        assert_eq!(count(&mut loader), [(round * 4 + 4).to_string()]);
    }
}
