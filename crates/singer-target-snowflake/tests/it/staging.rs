//! Staged loading (`staging: stage`, the default): batches as gzip NDJSON
//! files PUT to a stage (the double answers with a GCS presigned URL),
//! `COPY INTO` at the commit, and commits that survive transient failures
//! because the files stay on the stage until the commit that loads them.

use serde_json::json;
use singer_target_snowflake::Staging;

use crate::support::{chain, config, lines, load, messages, run, run_with};

fn schema() -> serde_json::Value {
    json!({"type": "SCHEMA", "stream": "public-items", "key_properties": ["id"], "schema": {
        "properties": {"id": {"type": "integer"}, "v": {"type": ["null", "string"]},
                       "n": {"type": ["null", "string"], "format": "x-singer.decimal", "precision": 38, "scale": 9},
                       "at": {"type": ["null", "string"], "format": "date-time"},
                       "o": {"type": ["null", "object"]}}}})
}

fn item(id: i64) -> serde_json::Value {
    json!({"type": "RECORD", "stream": "public-items", "record": {
        "id": id, "v": if id % 4 == 0 { json!(null) } else { json!(format!("v{id} \"q\" é")) },
        "n": format!("{id}2345678901234567890123456789.123456789"),
        "at": format!("2024-05-0{}T12:00:00.123456+02:00", 1 + id % 9),
        "o": {"k": [id, null]}}})
}

fn state(n: i64) -> serde_json::Value {
    json!({"type": "STATE", "value": {"bookmarks": {"public-items": {"id": n}}}})
}

/// 9 records in batches of 3 (the last one sent twice), a STATE after
/// every 3rd.
fn input() -> String {
    let mut values = vec![schema()];
    for id in 1..=9 {
        values.push(item(id));
        if id % 3 == 0 {
            values.push(state(id));
        }
    }
    values.push(item(9));
    values.push(state(9));
    messages(&values)
}

const CONTENT: &str =
    r#"SELECT "ID", "V", "N", TO_VARCHAR("AT"), TO_VARCHAR("O") FROM "RAW"."ITEMS" ORDER BY "ID""#;

#[test]
fn the_default_loads_through_staged_files_with_the_same_rows_as_bound_batches() {
    let mut config = config("staged");
    config.driver.batch_size_rows = 3;
    assert_eq!(
        config.staging,
        Staging::Stage,
        "staged files are the default"
    );
    let mut staged = load(&config, &input());
    assert_eq!(staged.states.len(), 4);
    let stats = staged.loader.stats();
    assert!(stats.files.files >= 4 && stats.files.puts >= 4, "{stats:?}");
    assert!(stats.files.bytes > 0, "{stats:?}");
    assert_eq!(stats.stage_statements, 0, "nothing bound: {stats:?}");
    assert!(
        stats.bind_seconds.abs() < f64::EPSILON,
        "nothing bound: {stats:?}"
    );
    let rows = lines(&mut staged.loader, CONTENT);
    assert_eq!(rows.len(), 9);
    assert!(
        lines(&mut staged.loader, "LIST @RAW.SINGER_RS_FILES").is_empty(),
        "committed files are removed"
    );

    let mut config = crate::support::config("bound");
    config.driver.batch_size_rows = 3;
    config.staging = Staging::Bind;
    let mut bound = load(&config, &input());
    let stats = bound.loader.stats();
    assert_eq!(stats.files.files, 0);
    assert!(
        stats.bind_seconds > 0.0 && stats.stage_statements > 0,
        "the bind path's time is reported: {stats:?}"
    );
    let line = &stats.streams["public-items"];
    assert!(
        line.bind_seconds > 0.0 && line.bind_seconds <= stats.bind_seconds,
        "{line:?}"
    );
    assert_eq!(lines(&mut bound.loader, CONTENT), rows);
}

/// The end-of-run summary has a line per stream (issue #13, item 5):
/// files, bytes, rows, seconds encoding / uploading / in COPY / in MERGE,
/// statements; the streams' counts add up to the run's.
#[test]
fn the_summary_counts_files_rows_time_and_statements_per_stream() {
    let mut config = config("per-stream");
    config.driver.batch_size_rows = 3;
    let mut values = vec![
        schema(),
        json!({"type": "SCHEMA", "stream": "public-notes", "key_properties": ["id"], "schema": {
            "properties": {"id": {"type": "integer"}, "text": {"type": "string"}}}}),
    ];
    for id in 1..=7 {
        values.push(item(id));
        if id <= 2 {
            values.push(json!({"type": "RECORD", "stream": "public-notes",
                               "record": {"id": id, "text": "note"}}));
        }
    }
    values.push(state(7));
    let loaded = load(&config, &messages(&values));
    let stats = loaded.loader.stats();
    let items = &stats.streams["public-items"];
    let notes = &stats.streams["public-notes"];
    assert_eq!((items.rows, notes.rows), (7, 2), "{stats:?}");
    assert_eq!(items.table, r#""RAW"."ITEMS""#);
    assert_eq!(notes.table, r#""RAW"."NOTES""#);
    assert!(items.files >= 3 && notes.files >= 1, "{stats:?}");
    for line in [items, notes] {
        assert!(line.bytes > 0 && line.puts >= line.files, "{line:?}");
        assert!(
            line.encode_seconds > 0.0 && line.upload_seconds > 0.0,
            "{line:?}"
        );
        assert!(
            line.copy_seconds > 0.0 && line.merge_seconds > 0.0,
            "{line:?}"
        );
        // PUTs, the COPY and the landing-table statements, the MERGE.
        assert!(line.statements >= line.puts + 4, "{line:?}");
    }
    assert_eq!(items.rows + notes.rows, stats.rows);
    assert_eq!(items.files + notes.files, stats.files.files);
    assert_eq!(items.bytes + notes.bytes, stats.files.bytes);
    assert_eq!(items.puts + notes.puts, stats.files.puts);
    assert!(items.statements + notes.statements <= stats.commit_statements + stats.files.puts);
}

#[test]
fn a_transient_failure_during_the_commit_is_retried_from_the_staged_files() {
    let mut config = config("staged_commit_retry");
    config.driver.batch_size_rows = 3;
    // The second commit's MERGE fails with HTTP 503: the session is
    // dropped, the driver retries the commit, which loads the same files
    // again in a new session.
    config.session_parameters.insert(
        "SINGER_FAULTS".to_owned(),
        json!([{"match": "^MERGE", "skip": 1, "times": 1, "status": 503, "message": "unavailable"}]),
    );
    let mut run = load(&config, &input());
    assert_eq!(run.states.len(), 4);
    assert_eq!(
        lines(
            &mut run.loader,
            r#"SELECT COUNT(*), COUNT(DISTINCT "ID") FROM "RAW"."ITEMS""#
        ),
        ["9|9"]
    );
    assert!(lines(&mut run.loader, "LIST @RAW.SINGER_RS_FILES").is_empty());
}

#[test]
fn transient_failures_of_put_and_copy_are_retried() {
    let mut config = config("staged_put_copy_retry");
    config.driver.batch_size_rows = 3;
    config.load_method = singer_target_snowflake::LoadMethod::AppendOnly;
    config.session_parameters.insert(
        "SINGER_FAULTS".to_owned(),
        json!([
            {"match": "^PUT ", "skip": 1, "times": 1, "status": 503, "message": "unavailable"},
            {"match": "^COPY INTO", "skip": 1, "times": 1, "status": 429, "message": "slow down"}
        ]),
    );
    let mut run = load(&config, &input());
    assert_eq!(run.states.len(), 4);
    // Append-only: the record sent twice is there twice, nothing more.
    assert_eq!(
        lines(
            &mut run.loader,
            r#"SELECT COUNT(*), COUNT(DISTINCT "ID") FROM "RAW"."ITEMS""#
        ),
        ["10|9"]
    );
    assert!(lines(&mut run.loader, "LIST @RAW.SINGER_RS_FILES").is_empty());
}

#[test]
fn a_failed_run_leaves_files_that_the_next_run_of_the_table_removes() {
    let mut config = config("staged_leftovers");
    config.driver.batch_size_rows = 3;
    config.max_retries = 0;
    config.session_parameters.insert(
        "SINGER_FAULTS".to_owned(),
        json!([{"match": "^MERGE", "skip": 1, "times": 1, "status": 403, "message": "forbidden"}]),
    );
    let mut failed = run(&config, &input());
    let error = failed.result.expect_err("403 is not retried");
    assert!(chain(&error).contains("HTTP 403"), "{}", chain(&error));
    assert_eq!(failed.states.len(), 1);
    let left = lines(&mut failed.loader, "LIST @RAW.SINGER_RS_FILES");
    assert!(!left.is_empty(), "the uncommitted batch's files stay");

    config.session_parameters.remove("SINGER_FAULTS");
    let mut rerun = load(&config, &input());
    assert_eq!(rerun.states.len(), 4);
    assert!(lines(&mut rerun.loader, "LIST @RAW.SINGER_RS_FILES").is_empty());
    assert_eq!(
        lines(
            &mut rerun.loader,
            r#"SELECT COUNT(*), COUNT(DISTINCT "ID") FROM "RAW"."ITEMS""#
        ),
        ["9|9"]
    );
}

#[test]
fn an_s3_stage_that_asks_for_client_side_encryption_gets_files_the_connector_decrypts() {
    let moto = singer_testkit::Moto::start().expect("moto (run scripts/setup)");
    let qsmk = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let mut config = config("staged_s3");
    config.driver.batch_size_rows = 3;
    // The double answers every PUT with an S3 stage on moto and a 256-bit
    // master key: the files go there, encrypted; the COPY then finds
    // nothing in the double's own stage, so the run stops there.
    config.session_parameters.insert(
        "SINGER_PUT_ANSWER".to_owned(),
        json!({
            "stageInfo": moto.stage_info("stages/s3run", None),
            "encryptionMaterial": {"queryStageMasterKey": qsmk, "queryId": "q-1", "smkId": 7},
        }),
    );
    let base = url::Url::parse(&moto.url()).expect("url");
    let failed = run_with(&config, &input(), |loader| {
        loader.set_upload_override(base);
    });
    assert!(failed.result.is_err(), "the double holds no file to COPY");
    assert!(failed.states.is_empty());
    let fetched = moto
        .fetch_decrypted("stages/s3run/", qsmk)
        .expect("read back");
    assert!(!fetched.is_empty(), "files reached the S3 stage");
    let mut rows = 0;
    for file in &fetched {
        assert!(file.key.ends_with(".json.gz"), "{}", file.key);
        assert_eq!(
            file.matdesc,
            r#"{"queryId":"q-1","smkId":"7","keySize":"256"}"#
        );
        let mut text = String::new();
        std::io::Read::read_to_string(
            &mut flate2::read::GzDecoder::new(file.plain.as_slice()),
            &mut text,
        )
        .expect("gzip NDJSON");
        for line in text.lines() {
            let row: serde_json::Value = serde_json::from_str(line).expect("a JSON row");
            assert!(row["c0"].is_string() && row["r"].is_u64(), "{line}");
            rows += 1;
        }
    }
    assert_eq!(rows, 3, "the first batch's rows, before its COPY failed");
}

/// The query tag is the run's (issue #13, item 5): pipelinewise's tokens
/// and `{{run_id}}` are filled in, each run gets its own id, and without a
/// `query_tag` no tag is set (a user's or account's own tag stays).
#[test]
fn query_tag_tokens_name_the_database_schema_and_this_run() {
    let show = "SHOW PARAMETERS LIKE 'QUERY_TAG' IN SESSION";
    let mut config = config("query-tag");
    config.query_tag = Some("singer {{database}}.{{schema}}.{{table}} run={{run_id}}".to_owned());
    let database = config.database.clone();
    let mut first = load(&config, &input());
    let first_run = first.loader.run_id().to_owned();
    let tag = crate::support::rows(&mut first.loader, show);
    assert_eq!(tag.len(), 1, "{tag:?}");
    assert_eq!(tag[0][0].as_deref(), Some("QUERY_TAG"));
    assert_eq!(
        tag[0][1].as_deref(),
        Some(format!("singer {database}.raw.* run={first_run}").as_str())
    );
    let mut second = load(&config, &input());
    assert_ne!(second.loader.run_id(), first_run, "a run id per run");
    let tag = crate::support::rows(&mut second.loader, show);
    assert!(
        tag[0][1]
            .as_deref()
            .is_some_and(|t| t.ends_with(&format!("run={}", second.loader.run_id()))),
        "{tag:?}"
    );

    let mut untagged = load(&crate::support::config("no-query-tag"), &input());
    let rows = crate::support::rows(&mut untagged.loader, show);
    assert!(
        rows.iter()
            .all(|r| r[1].as_deref().is_none_or(str::is_empty)),
        "no tag unless asked: {rows:?}"
    );
}
