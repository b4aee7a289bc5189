//! The validator and the column-type model over the SCHEMA and RECORD
//! messages that pipelinewise-tap-postgres and meltanolabs-tap-postgres
//! really emit for one table of mixed PostgreSQL types (captured files in
//! `fixtures/peers/`, see the README there).

use std::path::PathBuf;

use serde_json::Value;
use singer_protocol::{Message, Reader};
use singer_schema::{
    Column, ColumnType as T, NumberType, TypeOptions, ValidationConfig, Validator, columns,
};

struct Capture {
    stream: String,
    schema: Value,
    records: Vec<(u64, Value)>,
}

fn capture(tap: &str) -> Capture {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/peers")
        .join(tap)
        .join("sync.jsonl");
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut schema = None;
    let mut records = Vec::new();
    for message in Reader::new(std::io::BufReader::new(file)) {
        let message = message.expect("a valid Singer message");
        match message.message {
            Message::Schema(s) => schema = Some((s.stream, s.schema)),
            Message::Record(r) => {
                let value: Value = serde_json::from_str(r.record.get()).expect("record JSON");
                records.push((message.line, value));
            }
            _ => {}
        }
    }
    let (stream, schema) = schema.expect("a SCHEMA message");
    assert!(!records.is_empty());
    Capture {
        stream,
        schema,
        records,
    }
}

fn assert_records_validate(tap: &str) -> Capture {
    let capture = capture(tap);
    let validator = Validator::new(
        &capture.stream,
        &capture.schema,
        &ValidationConfig::default(),
    )
    .unwrap_or_else(|e| panic!("{tap}: schema compiles: {e}"));
    for (line, record) in &capture.records {
        validator
            .validate(record, *line)
            .unwrap_or_else(|e| panic!("{tap}: {e}"));
    }
    capture
}

fn assert_columns(schema: &Value, options: &TypeOptions, expected: &[(&str, T, bool)]) {
    let actual = columns(schema, options).expect("columns");
    let names: Vec<_> = actual.iter().map(|(n, _)| n.as_str()).collect();
    let expected_names: Vec<_> = expected.iter().map(|(n, _, _)| *n).collect();
    assert_eq!(names, expected_names, "columns follow the schema's order");
    for ((name, column), (_, ty, nullable)) in actual.iter().zip(expected) {
        assert_eq!(
            *column,
            Column::new(*ty, *nullable),
            "column {name}: got {column}"
        );
    }
}

#[test]
fn pipelinewise_schema_validates_its_records_and_types_columns() {
    let capture = assert_records_validate("pipelinewise-tap-postgres");
    let json = T::Json;
    let text = T::String { max_len: None };
    assert_columns(
        &capture.schema,
        &TypeOptions::default(),
        &[
            ("id", T::Integer, false),
            ("c_int2", T::Integer, true),
            ("c_int4", T::Integer, true),
            ("c_int8", T::Integer, true),
            (
                "c_num_10_2",
                T::Decimal {
                    precision: 10,
                    scale: 2,
                },
                true,
            ),
            (
                "c_num_38_38",
                T::Decimal {
                    precision: 38,
                    scale: 38,
                },
                true,
            ),
            // Unconstrained numeric: pipelinewise's ±10^62, scale 38.
            (
                "c_num",
                T::Decimal {
                    precision: 100,
                    scale: 38,
                },
                true,
            ),
            ("c_real", T::Float, true),
            ("c_double", T::Float, true),
            ("c_bool", T::Boolean, true),
            ("c_text", text, true),
            ("c_varchar", T::String { max_len: Some(32) }, true),
            ("c_char", T::String { max_len: Some(4) }, true),
            // pipelinewise describes `date` as date-time (and renders
            // midnight UTC): the schema is what a target sees.
            ("c_date", T::Timestamp { tz: true }, true),
            ("c_time", T::Time, true),
            ("c_timetz", T::Time, true),
            ("c_ts", T::Timestamp { tz: true }, true),
            ("c_tstz", T::Timestamp { tz: true }, true),
            // Unsupported types are `{}` (and never sent).
            ("c_interval", json, true),
            ("c_json", json, true),
            ("c_jsonb", json, true),
            ("c_uuid", text, true),
            ("c_bytea", json, true),
            ("c_int_arr", json, true),
            ("c_text_arr", json, true),
            ("c_inet", text, true),
            ("c_money", text, true),
            ("c_mood", text, true),
            ("updated_at", T::Timestamp { tz: true }, true),
        ],
    );
}

#[test]
fn pipelinewise_numeric_bounds_are_checked_exactly() {
    let capture = capture("pipelinewise-tap-postgres");
    let validator = Validator::new(
        &capture.stream,
        &capture.schema,
        &ValidationConfig::default(),
    )
    .unwrap();
    let (line, record) = &capture.records[0];
    let mut record = record.clone();
    // 38 nines after the point pass (float error would round it onto the
    // exclusive bound 1); one more digit is not a multiple of 1e-38.
    record["c_num_38_38"] =
        serde_json::from_str("0.999999999999999999999999999999999999999").unwrap();
    let error = validator.validate(&record, *line).unwrap_err();
    assert_eq!(error.pointer, "/c_num_38_38");
    assert_eq!(error.expected, "a multiple of 1e-38");
    record["c_num_38_38"] = serde_json::from_str("1").unwrap();
    assert_eq!(
        validator.validate(&record, *line).unwrap_err().expected,
        "a number < 1"
    );
    record["c_num_38_38"] = Value::Null;
    record["c_num_10_2"] = serde_json::from_str("100000000").unwrap();
    assert_eq!(
        validator.validate(&record, *line).unwrap_err().expected,
        "a number < 100000000"
    );
}

#[test]
fn meltanolabs_schema_validates_its_records_and_types_columns() {
    let capture = assert_records_validate("meltanolabs-tap-postgres");
    assert_eq!(
        capture.schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    let json = T::Json;
    let text = T::String { max_len: None };
    let expected = |number: T| {
        vec![
            ("id", T::Integer, false),
            ("c_int2", T::Integer, true),
            ("c_int4", T::Integer, true),
            ("c_int8", T::Integer, true),
            // The SDK tap says only `number` for numeric(p,s): no precision
            // survives, so the plain-number option decides.
            ("c_num_10_2", number, true),
            ("c_num_38_38", number, true),
            ("c_num", number, true),
            ("c_real", number, true),
            ("c_double", number, true),
            ("c_bool", T::Boolean, true),
            ("c_text", text, true),
            ("c_varchar", T::String { max_len: Some(32) }, true),
            ("c_char", T::String { max_len: Some(4) }, true),
            ("c_date", T::Date, true),
            ("c_time", T::Time, true),
            ("c_timetz", T::Time, true),
            ("c_ts", T::Timestamp { tz: true }, true),
            ("c_tstz", T::Timestamp { tz: true }, true),
            // The SDK tap renders interval as a plain string.
            ("c_interval", text, true),
            ("c_json", json, true),
            ("c_jsonb", json, true),
            ("c_uuid", text, true),
            // bytea arrives as hex text with no format hint.
            ("c_bytea", text, true),
            ("c_int_arr", json, true),
            ("c_text_arr", json, true),
            ("c_inet", text, true),
            ("c_money", text, true),
            // Enum: the SDK emits maxLength = the longest label.
            ("c_mood", T::String { max_len: Some(5) }, true),
            ("updated_at", T::Timestamp { tz: true }, true),
        ]
    };
    assert_columns(
        &capture.schema,
        &TypeOptions::default(),
        &expected(T::Float),
    );
    let decimal = T::Decimal {
        precision: 38,
        scale: 9,
    };
    assert_columns(
        &capture.schema,
        &TypeOptions::default().with_plain_number(NumberType::Decimal {
            precision: 38,
            scale: 9,
        }),
        &expected(decimal),
    );
}
