//! Tables follow schema changes: add, widen (in place and by copy), and a
//! clear error for an incompatible change.

use serde_json::json;

use crate::support::{chain, columns, config, lines, load, messages, run};

fn schema(properties: serde_json::Value) -> serde_json::Value {
    json!({"type": "SCHEMA", "stream": "public-things", "key_properties": ["id"],
           "schema": {"properties": properties}})
}

fn record(record: serde_json::Value) -> serde_json::Value {
    json!({"type": "RECORD", "stream": "public-things", "record": record})
}

#[test]
fn columns_are_added_and_widened_across_runs() {
    let config = config("evolve_runs");
    load(
        &config,
        &messages(&[
            schema(json!({
                "id": {"type": "integer"},
                "code": {"type": ["null", "string"], "maxLength": 10},
                "amount": {"type": ["null", "integer"]},
                "day": {"type": ["null", "string"], "format": "date"},
            })),
            record(json!({"id": 1, "code": "short", "amount": 42, "day": "2024-02-29"})),
        ]),
    );
    let mut run = load(
        &config,
        &messages(&[
            schema(json!({
                "id": {"type": "integer"},
                "code": {"type": ["null", "string"], "maxLength": 40},
                "amount": {"type": ["null", "string"], "format": "x-singer.decimal", "precision": 20, "scale": 4},
                "day": {"type": ["null", "string"], "format": "date-time"},
                "added": {"type": ["null", "boolean"]},
            })),
            record(
                json!({"id": 2, "code": "a much longer code than ten", "amount": "12345.6789",
                          "day": "2024-03-01T10:00:00Z", "added": true}),
            ),
        ]),
    );
    let mut found = columns(&mut run.loader, "RAW", "THINGS");
    found.sort();
    assert_eq!(
        found,
        [
            "ADDED BOOLEAN",
            "AMOUNT NUMBER(23,4)",
            "CODE TEXT(40)",
            "DAY TIMESTAMP_NTZ",
            "ID NUMBER(38,0)",
        ]
    );
    assert_eq!(
        lines(
            &mut run.loader,
            r#"SELECT "ID", "CODE", "AMOUNT"::VARCHAR, "DAY", "ADDED" FROM "RAW"."THINGS" ORDER BY "ID""#
        ),
        [
            "1|short|42.0000|2024-02-29 00:00:00|∅",
            "2|a much longer code than ten|12345.6789|2024-03-01 10:00:00|true"
        ]
    );
}

#[test]
fn a_schema_change_within_one_run_alters_the_table_before_its_rows() {
    let config = config("evolve_in_run");
    let mut run = load(
        &config,
        &messages(&[
            schema(json!({"id": {"type": "integer"}, "name": {"type": "string", "maxLength": 3}})),
            record(json!({"id": 1, "name": "abc"})),
            schema(
                json!({"id": {"type": "integer"}, "name": {"type": "string", "maxLength": 8},
                          "extra": {"type": ["null", "number"]}}),
            ),
            record(json!({"id": 2, "name": "abcdefgh", "extra": 2.5})),
        ]),
    );
    assert_eq!(
        columns(&mut run.loader, "RAW", "THINGS"),
        ["ID NUMBER(38,0)", "NAME TEXT(8)", "EXTRA FLOAT"]
    );
    assert_eq!(
        lines(
            &mut run.loader,
            r#"SELECT "ID", "NAME", "EXTRA" FROM "RAW"."THINGS" ORDER BY "ID""#
        ),
        ["1|abc|∅", "2|abcdefgh|2.5"]
    );
}

#[test]
fn an_incompatible_change_names_table_column_and_types() {
    let config = config("evolve_incompatible");
    load(
        &config,
        &messages(&[
            schema(json!({"id": {"type": "integer"}, "payload": {"type": ["null", "integer"]}})),
            record(json!({"id": 1, "payload": 5})),
        ]),
    );
    let failed = run(
        &config,
        &messages(&[
            schema(json!({"id": {"type": "integer"}, "payload": {"type": ["null", "object"]}})),
            record(json!({"id": 2, "payload": {"a": 1}})),
        ]),
    );
    let text = chain(&failed.result.expect_err("incompatible"));
    assert!(
        text.contains(r#"table "RAW"."THINGS", column "PAYLOAD": the column is NUMBER(38,0) and the schema now asks for VARIANT"#),
        "{text}"
    );
    assert!(text.contains("rename or drop the column"), "{text}");
    assert!(failed.states.is_empty());
}
