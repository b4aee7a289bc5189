//! Every logical type round-trips through SELECT; values no Snowflake type
//! holds follow `special_values`.

use serde_json::json;
use singer_target_snowflake::{SpecialValues, TimestampType};
use snowflake_connector_rs::CellValue;

use crate::support::{chain, columns, config, lines, load, messages, on_double, run};

fn schema() -> serde_json::Value {
    json!({"type": "SCHEMA", "stream": "public-types", "key_properties": ["id"], "schema": {"properties": {
        "id": {"type": "integer"},
        "big": {"type": ["null", "integer"]},
        "exact": {"type": ["null", "string"], "format": "x-singer.decimal", "precision": 38, "scale": 10},
        "money": {"type": ["null", "number"], "multipleOf": 0.01, "minimum": -1e10, "maximum": 1e10},
        "ratio": {"type": ["null", "number"]},
        "flag": {"type": ["null", "boolean"]},
        "label": {"type": ["null", "string"], "maxLength": 20},
        "note": {"type": ["null", "string"]},
        "doc": {"type": ["null", "object", "array"]},
        "day": {"type": ["null", "string"], "format": "date"},
        "at": {"type": ["null", "string"], "format": "time"},
        "ts": {"type": ["null", "string"], "format": "date-time"},
        "blob": {"type": ["null", "string"], "contentEncoding": "base64"},
        "weight": {"anyOf": [{"type": "number"}, {"type": "string", "maxLength": 0}, {"type": "null"}]},
    }}})
}

fn record(value: serde_json::Value) -> serde_json::Value {
    json!({"type": "RECORD", "stream": "public-types", "record": value})
}

#[test]
fn every_type_is_created_as_documented() {
    let config = config("types_ddl");
    let mut run = load(&config, &messages(&[schema()]));
    assert_eq!(
        columns(&mut run.loader, "RAW", "TYPES"),
        [
            "ID NUMBER(38,0)",
            "BIG NUMBER(38,0)",
            "EXACT NUMBER(38,10)",
            "MONEY NUMBER(13,2)",
            "RATIO FLOAT",
            "FLAG BOOLEAN",
            "LABEL TEXT(20)",
            "NOTE TEXT",
            "DOC VARIANT",
            "DAY DATE",
            "AT TIME",
            "TS TIMESTAMP_NTZ",
            "BLOB BINARY",
            "WEIGHT FLOAT",
        ]
    );
}

#[test]
fn every_type_round_trips_through_select() {
    let config = config("types_round_trip");
    let big = if on_double() {
        "9223372036854775807"
    } else {
        "99999999999999999999999999999999999999"
    };
    let input = format!(
        "{}{}{}{}",
        messages(&[schema()]),
        // Raw lines keep the numbers' text exactly as a tap writes them.
        format_args!(
            r#"{{"type":"RECORD","stream":"public-types","record":{{"id":1,"big":{big},"exact":"1234567890123456789012345678.0123456789","money":-12345678.90,"ratio":12.25,"flag":true,"label":"été \"q\" ✓","note":"line1\nline2\ttab \\ back","doc":{{"a":[1,2.5,null,"x"],"b":{{"c":true}}}},"day":"2024-02-29","at":"23:59:59.999999","ts":"2024-01-01T01:02:03.123456+02:00","blob":"aGk=","weight":0.5}}}}"#
        ),
        "\n",
        messages(&[
            record(
                json!({"id": 2, "big": -9_223_372_036_854_775_807_i64, "exact": "-0.0000000001", "money": 0,
                "ratio": -0.5, "flag": false, "label": "", "note": "", "doc": [1, {"x": null}],
                "day": "0001-01-01", "at": "00:00:00", "ts": "9999-12-31T23:59:59.999999Z", "blob": "",
                "weight": ""})
            ),
            record(
                json!({"id": 3, "big": null, "exact": null, "money": null, "ratio": null, "flag": null,
                "label": null, "note": null, "doc": null, "day": null, "at": null, "ts": null, "blob": null,
                "weight": null})
            ),
            record(json!({"id": 4})),
        ]),
    );
    let mut run = load(&config, &input);
    assert_eq!(
        lines(
            &mut run.loader,
            r#"SELECT "ID", "BIG", "EXACT", "MONEY", "RATIO", "FLAG", "LABEL", "NOTE", "DAY", "AT", "TS", "BLOB", "WEIGHT" FROM "RAW"."TYPES" ORDER BY "ID""#
        ),
        [
            format!("1|{big}|1234567890123456789012345678.0123456789|-12345678.90|12.25|true|été \"q\" ✓|line1\nline2\ttab \\ back|2024-02-29|23:59:59.999999|2023-12-31 23:02:03.123456|6869|0.5"),
            "2|-9223372036854775807|-0.0000000001|0.00|-0.5|false|||0001-01-01|00:00:00|9999-12-31 23:59:59.999999||∅".to_owned(),
            "3|∅|∅|∅|∅|∅|∅|∅|∅|∅|∅|∅|∅".to_owned(),
            "4|∅|∅|∅|∅|∅|∅|∅|∅|∅|∅|∅|∅".to_owned(),
        ]
    );
    // Decimals as the client decodes them: every digit, no float.
    let rows = run
        .loader
        .query(&crate::support::schema_sql(
            r#"SELECT "EXACT", "DOC" FROM "RAW"."TYPES" WHERE "ID" = 1"#,
        ))
        .unwrap();
    match &rows[0].values()[0] {
        CellValue::Decimal(d) => assert_eq!(d.raw(), "1234567890123456789012345678.0123456789"),
        other => panic!("not a decimal: {other:?}"),
    }
    assert_eq!(
        rows[0].values()[1],
        CellValue::Json(json!({"a": [1, 2.5, null, "x"], "b": {"c": true}}))
    );
    // Exact comparison in SQL too.
    assert_eq!(
        lines(
            &mut run.loader,
            r#"SELECT COUNT(*) FROM "RAW"."TYPES" WHERE "EXACT" = 1234567890123456789012345678.0123456789"#
        ),
        ["1"]
    );
}

#[test]
fn timestamp_tz_keeps_the_instant_in_utc() {
    let mut config = config("types_tz");
    config.timestamp_type = TimestampType::TZ;
    let schema = json!({"type": "SCHEMA", "stream": "public-tz", "key_properties": [], "schema": {"properties": {
        "ts": {"type": "string", "format": "date-time"}}}});
    let mut run = load(
        &config,
        &messages(&[
            schema,
            json!({"type": "RECORD", "stream": "public-tz", "record": {"ts": "2024-06-01T12:00:00.5-07:00"}}),
        ]),
    );
    assert_eq!(columns(&mut run.loader, "RAW", "TZ"), ["TS TIMESTAMP_TZ"]);
    assert_eq!(
        lines(&mut run.loader, r#"SELECT "TS" FROM "RAW"."TZ""#),
        ["2024-06-01 19:00:00.500+00:00"]
    );
}

fn specials_input() -> String {
    let schema = json!({"type": "SCHEMA", "stream": "public-specials", "key_properties": ["id"], "schema": {"properties": {
        "id": {"type": "integer"},
        "num": {"anyOf": [{"type": ["null", "string"], "format": "x-singer.decimal", "precision": 10, "scale": 2},
                          {"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]}]},
        "f": {"anyOf": [{"type": ["null", "number"]}, {"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]}]},
        "ts": {"type": ["null", "string"]},
    }}});
    // `ts` typed as a timestamp by a separate property schema below.
    let schema = {
        let mut s = schema;
        s["schema"]["properties"]["ts"] =
            json!({"type": ["null", "string"], "format": "date-time"});
        s
    };
    messages(&[
        schema,
        json!({"type": "RECORD", "stream": "public-specials", "record": {"id": 1, "num": "1.50", "f": "NaN", "ts": "2024-01-01T00:00:00Z"}}),
        json!({"type": "RECORD", "stream": "public-specials", "record": {"id": 2, "num": "NaN", "f": "-Infinity", "ts": "infinity"}}),
    ])
}

#[test]
fn values_no_snowflake_type_holds_fail_by_default() {
    let config = config("specials_error");
    let failed = run(
        &config,
        &format!(
            "{}{}",
            specials_input(),
            "{\"type\":\"STATE\",\"value\":{\"x\":1}}\n"
        ),
    );
    let text = chain(&failed.result.expect_err("NaN in a NUMBER"));
    assert!(
        text.contains(r#"stream "public-specials", column "num", batch row 2: "NaN" cannot be stored in NUMBER(10,2)"#),
        "{text}"
    );
    assert!(text.contains("special_values"), "{text}");
    assert!(failed.states.is_empty());
}

#[test]
fn values_no_snowflake_type_holds_load_as_null_when_configured() {
    let mut config = config("specials_null");
    config.special_values = SpecialValues::Null;
    let mut run = load(&config, &specials_input());
    assert_eq!(run.loader.stats().special_values_nulled, 2);
    assert_eq!(
        lines(
            &mut run.loader,
            r#"SELECT "ID", "NUM", "F", "TS" FROM "RAW"."SPECIALS" ORDER BY "ID""#
        ),
        ["1|1.50|NaN|2024-01-01 00:00:00", "2|∅|-inf|∅"]
    );
}
