//! Load methods, ACTIVATE_VERSION and deletes.

use serde_json::json;
use singer_target_snowflake::LoadMethod;

use crate::support::{columns, config, lines, load, messages};

fn users_schema() -> serde_json::Value {
    json!({"type": "SCHEMA", "stream": "public-users", "key_properties": ["id"], "schema": {
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": ["null", "string"]},
    }}})
}

fn user(id: i64, name: &str) -> serde_json::Value {
    json!({"type": "RECORD", "stream": "public-users", "record": {"id": id, "name": name}})
}

#[test]
fn creates_schema_and_table_from_the_first_schema() {
    let config = config("create");
    let mut run = load(&config, &messages(&[users_schema(), user(1, "ada")]));
    assert_eq!(
        columns(&mut run.loader, "RAW", "USERS"),
        ["ID NUMBER(38,0)", "NAME TEXT"]
    );
    assert_eq!(
        lines(&mut run.loader, r#"SELECT "ID", "NAME" FROM "RAW"."USERS""#),
        ["1|ada"]
    );
    assert_eq!(run.loader.stats().rows, 1);
}

#[test]
fn upsert_keeps_the_last_record_per_key_within_a_batch() {
    let config = config("upsert");
    let mut input = vec![users_schema()];
    input.extend([
        user(1, "a1"),
        user(2, "b1"),
        user(1, "a2"),
        user(3, "c1"),
        user(1, "a3"),
    ]);
    load(&config, &messages(&input));
    // A second run updates and inserts.
    let mut run = load(
        &config,
        &messages(&[users_schema(), user(2, "b2"), user(4, "d1"), user(2, "b3")]),
    );
    assert_eq!(
        lines(
            &mut run.loader,
            r#"SELECT "ID", "NAME" FROM "RAW"."USERS" ORDER BY "ID""#
        ),
        ["1|a3", "2|b3", "3|c1", "4|d1"]
    );
}

#[test]
fn append_only_keeps_every_record() {
    let mut config = config("append");
    config.load_method = LoadMethod::AppendOnly;
    let input = messages(&[users_schema(), user(1, "a1"), user(1, "a2")]);
    load(&config, &input);
    let mut run = load(&config, &input);
    assert_eq!(
        lines(
            &mut run.loader,
            r#"SELECT "ID", "NAME" FROM "RAW"."USERS" ORDER BY "NAME""#
        ),
        ["1|a1", "1|a1", "1|a2", "1|a2"]
    );
}

#[test]
fn overwrite_replaces_the_rows_of_earlier_runs() {
    let mut config = config("overwrite");
    config.load_method = LoadMethod::Overwrite;
    config.driver.batch_size_rows = 2;
    load(
        &config,
        &messages(&[users_schema(), user(1, "a"), user(2, "b"), user(3, "c")]),
    );
    let mut run = load(
        &config,
        &messages(&[users_schema(), user(7, "x"), user(8, "y"), user(9, "z")]),
    );
    // Three batches in the second run: only its first emptied the table.
    assert_eq!(
        lines(
            &mut run.loader,
            r#"SELECT "ID" FROM "RAW"."USERS" ORDER BY "ID""#
        ),
        ["7", "8", "9"]
    );
}

fn versioned(id: i64, version: u64) -> serde_json::Value {
    json!({"type": "RECORD", "stream": "public-users", "version": version,
           "record": {"id": id, "name": format!("v{version}")}})
}

fn activate(version: u64) -> serde_json::Value {
    json!({"type": "ACTIVATE_VERSION", "stream": "public-users", "version": version})
}

#[test]
fn activate_version_with_hard_delete_keeps_exactly_the_new_version() {
    let mut config = config("activate_hard");
    config.hard_delete = true;
    load(
        &config,
        &messages(&[
            users_schema(),
            versioned(1, 100),
            versioned(2, 100),
            versioned(3, 100),
            activate(100),
        ]),
    );
    // The next FULL_TABLE sync (version 200) is interrupted after id 1...
    load(&config, &messages(&[users_schema(), versioned(1, 200)]));
    // ... and resumed in a later run under the same version.
    let mut run = load(
        &config,
        &messages(&[users_schema(), versioned(2, 200), activate(200)]),
    );
    assert_eq!(
        lines(
            &mut run.loader,
            r#"SELECT "ID", "NAME", "_SDC_TABLE_VERSION" FROM "RAW"."USERS" ORDER BY "ID""#
        ),
        ["1|v200|200", "2|v200|200"]
    );
}

#[test]
fn activate_version_without_hard_delete_soft_deletes_other_versions() {
    let config = config("activate_soft");
    load(
        &config,
        &messages(&[
            users_schema(),
            versioned(1, 100),
            versioned(2, 100),
            versioned(3, 100),
            activate(100),
        ]),
    );
    let mut run = load(
        &config,
        &messages(&[
            users_schema(),
            versioned(1, 200),
            versioned(2, 200),
            activate(200),
        ]),
    );
    assert_eq!(
        lines(
            &mut run.loader,
            r#"SELECT "ID", "_SDC_TABLE_VERSION", "_SDC_DELETED_AT" IS NOT NULL FROM "RAW"."USERS" ORDER BY "ID""#
        ),
        ["1|200|false", "2|200|false", "3|100|true"]
    );
    // Sent again under a new version, a soft-deleted row is live again.
    let mut run = load(
        &config,
        &messages(&[users_schema(), versioned(3, 300), activate(300)]),
    );
    assert_eq!(
        lines(
            &mut run.loader,
            r#"SELECT "ID", "_SDC_DELETED_AT" IS NOT NULL FROM "RAW"."USERS" ORDER BY "ID""#
        ),
        ["1|true", "2|true", "3|false"]
    );
}

#[test]
fn hard_delete_removes_rows_with_sdc_deleted_at() {
    let mut config = config("hard_delete");
    config.hard_delete = true;
    let schema = json!({"type": "SCHEMA", "stream": "public-users", "key_properties": ["id"], "schema": {
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": ["null", "string"]},
        "_sdc_deleted_at": {"type": ["null", "string"], "format": "date-time"},
    }}});
    let rec = |id: i64, deleted: Option<&str>| {
        json!({"type": "RECORD", "stream": "public-users",
               "record": {"id": id, "name": "n", "_sdc_deleted_at": deleted}})
    };
    load(
        &config,
        &messages(&[schema.clone(), rec(1, None), rec(2, None), rec(3, None)]),
    );
    let mut run = load(
        &config,
        &messages(&[
            schema.clone(),
            rec(2, Some("2024-05-01T00:00:00Z")),
            rec(4, Some("2024-05-01T00:00:00Z")),
        ]),
    );
    assert_eq!(
        lines(
            &mut run.loader,
            r#"SELECT "ID" FROM "RAW"."USERS" ORDER BY "ID""#
        ),
        ["1", "3"]
    );
    // Without hard_delete the marker is just loaded.
    let config = crate::support::config("soft_marker");
    let mut run = load(
        &config,
        &messages(&[
            schema,
            rec(1, None),
            rec(2, Some("2024-05-01T00:00:00+02:00")),
        ]),
    );
    assert_eq!(
        lines(
            &mut run.loader,
            r#"SELECT "ID", "_SDC_DELETED_AT" FROM "RAW"."USERS" ORDER BY "ID""#
        ),
        ["1|∅", "2|2024-04-30 22:00:00"]
    );
}

#[test]
fn batches_split_under_the_bind_limit() {
    let mut config = config("split");
    config.staging = singer_target_snowflake::Staging::Bind;
    config.max_bind_bytes = 200;
    let mut input = vec![users_schema()];
    for id in 0..50 {
        input.push(user(id, &format!("name number {id}")));
    }
    input.push(user(7, "last one wins"));
    let mut run = load(&config, &messages(&input));
    assert!(
        run.loader.stats().stage_statements >= 10,
        "{:?}",
        run.loader.stats()
    );
    assert_eq!(
        lines(
            &mut run.loader,
            r#"SELECT COUNT(*), MAX("ID") FROM "RAW"."USERS""#
        ),
        ["50|49"]
    );
    assert_eq!(
        lines(
            &mut run.loader,
            r#"SELECT "NAME" FROM "RAW"."USERS" WHERE "ID" = 7"#
        ),
        ["last one wins"]
    );
}

#[test]
fn manifest_streams_and_hostile_identifiers_are_quoted() {
    let config = config("hostile");
    let schema = json!({"type": "SCHEMA", "stream": "GITLAB_DB_ISSUES", "key_properties": ["select"], "schema": {
    "properties": {
        "select": {"type": "integer"},
        "has \"quotes\"": {"type": ["null", "string"]},
        "with space": {"type": ["null", "string"]},
        "été_数据": {"type": ["null", "string"]},
        "order": {"type": ["null", "boolean"]},
    }}});
    let record = json!({"type": "RECORD", "stream": "GITLAB_DB_ISSUES", "record": {
        "select": 1, "has \"quotes\"": "q\"'", "with space": "s p", "été_数据": "ünï", "order": true}});
    let mut run = load(&config, &messages(&[schema, record]));
    assert_eq!(
        columns(&mut run.loader, "RAW", "GITLAB_DB_ISSUES"),
        [
            "SELECT NUMBER(38,0)",
            "HAS \"QUOTES\" TEXT",
            "WITH SPACE TEXT",
            "ÉTÉ_数据 TEXT",
            "ORDER BOOLEAN"
        ]
    );
    assert_eq!(
        lines(
            &mut run.loader,
            r#"SELECT "SELECT", "HAS ""QUOTES""", "WITH SPACE", "ÉTÉ_数据", "ORDER" FROM "RAW"."GITLAB_DB_ISSUES""#
        ),
        ["1|q\"'|s p|ünï|true"]
    );
    // A stream name with a quote and a dash-separated schema part (the
    // double cannot create a schema whose name holds a quote).
    let schema = json!({"type": "SCHEMA", "stream": "odd schema-ta\"ble", "key_properties": [], "schema": {
        "properties": {"x": {"type": "string"}}}});
    let record = json!({"type": "RECORD", "stream": "odd schema-ta\"ble", "record": {"x": "ok"}});
    let mut config = config;
    config.default_target_schema = None;
    let mut run = load(&config, &messages(&[schema, record]));
    assert_eq!(
        lines(&mut run.loader, r#"SELECT "X" FROM "ODD SCHEMA"."TA""BLE""#),
        ["ok"]
    );
}

#[test]
fn colliding_names_fail_instead_of_merging() {
    let config = config("collide");
    let schema = json!({"type": "SCHEMA", "stream": "public-t", "key_properties": [], "schema": {
        "properties": {"id": {"type": "integer"}, "ID": {"type": "integer"}}}});
    let run = crate::support::run(&config, &messages(&[schema]));
    let error = crate::support::chain(&run.result.expect_err("collision"));
    assert!(
        error.contains("\"id\" and \"ID\" both become column \"ID\""),
        "{error}"
    );
    let a = json!({"type": "SCHEMA", "stream": "public-t", "key_properties": [], "schema": {"properties": {"x": {}}}});
    let b = json!({"type": "SCHEMA", "stream": "other-t", "key_properties": [], "schema": {"properties": {"x": {}}}});
    let run = crate::support::run(&config, &messages(&[a, b]));
    let error = crate::support::chain(&run.result.expect_err("table collision"));
    assert!(
        error.contains("loads into \"RAW\".\"T\" already"),
        "{error}"
    );
}
