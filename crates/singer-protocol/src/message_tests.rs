//! Tests of the `message` module.

use super::*;

fn roundtrip(line: &str) -> String {
    let message = Message::parse(line, 1).expect("parses");
    serde_json::to_string(&message).expect("serialises")
}

#[test]
fn nan_and_infinity_literals_are_named() {
    for (line, literal, column) in [
        (
            r#"{"type":"RECORD","stream":"s","record":{"x":NaN}}"#,
            "NaN",
            45,
        ),
        (
            r#"{"type":"RECORD","stream":"s","record":{"x":Infinity}}"#,
            "Infinity",
            45,
        ),
        (
            r#"{"type":"RECORD","stream":"s","record":{"x":-Infinity}}"#,
            "-Infinity",
            46,
        ),
        (r#"{"type":"STATE","value":[1,NaN]}"#, "NaN", 28),
    ] {
        assert_eq!(
            Message::parse(line, 7).expect_err("not JSON").to_string(),
            format!(
                "line 7, column {column}: malformed JSON: {literal} is not a JSON value \
                 (JSON has no NaN or Infinity; send null or a string)"
            ),
            "{line}"
        );
    }
}

#[test]
fn lone_surrogate_escape_in_a_record_is_malformed() {
    let line = r#"{"type":"RECORD","stream":"s","record":{"a":"ok \ud83d\ude00","b":"\udc00"}}"#;
    assert_eq!(
        Message::parse(line, 3)
            .expect_err("not Unicode")
            .to_string(),
        "line 3, column 73: malformed JSON: lone leading surrogate in hex escape"
    );
    // A surrogate pair (Python's ensure_ascii for an emoji) is fine.
    let pair = r#"{"type":"RECORD","stream":"s","record":{"a":"\ud83d\ude00"}}"#;
    assert!(Message::parse(pair, 1).is_ok());
}

#[test]
fn record_numbers_round_trip_byte_identical() {
    for number in [
        "12345678901234567890.123456789012345678",
        "1e400",
        "-1E-400",
        "0.10",
        "-0",
        "18446744073709551616",
        "-9223372036854775809",
        "3.141592653589793238462643383279502884197",
        "1.0e+2",
    ] {
        let line =
            format!(r#"{{"type":"RECORD","stream":"s","record":{{"n":{number},"a":[{number}]}}}}"#);
        assert_eq!(roundtrip(&line), line, "number {number}");
    }
}

#[test]
fn record_to_map_keeps_digits() {
    let line =
        r#"{"type":"RECORD","stream":"s","record":{"n":12345678901234567890.123456789012345678}}"#;
    let Message::Record(record) = Message::parse(line, 1).expect("parses") else {
        panic!("not a record")
    };
    let map = record.to_map().expect("object");
    assert_eq!(
        map["n"].to_string(),
        "12345678901234567890.123456789012345678"
    );
}

#[test]
fn every_message_type_serialises_in_spec_order() {
    for line in [
        r#"{"type":"SCHEMA","stream":"users","schema":{"type":"object","properties":{"id":{"type":"integer"},"a":{"type":"string"}}},"key_properties":["id"]}"#,
        r#"{"type":"SCHEMA","stream":"users","schema":{"properties":{}},"key_properties":[],"bookmark_properties":["updated_at"]}"#,
        r#"{"type":"RECORD","stream":"users","record":{"id":1,"name":"a\"b\u00e9"},"version":1700000000000,"time_extracted":"2024-01-01T00:00:00.123456+00:00"}"#,
        r#"{"type":"STATE","value":{"bookmarks":{"public-users":{"replication_key_value":1.50}}}}"#,
        r#"{"type":"ACTIVATE_VERSION","stream":"users","version":1700000000000}"#,
        r#"{"type":"BATCH","stream":"users","encoding":{"format":"jsonl","compression":"gzip"},"manifest":["file:///tmp/a.jsonl.gz"]}"#,
    ] {
        assert_eq!(roundtrip(line), line);
    }
}

#[test]
fn type_is_case_insensitive_and_unknown_fields_are_ignored() {
    let message = Message::parse(
        r#"{"type":"record","stream":"s","record":{},"extra":[1,2]}"#,
        1,
    )
    .expect("parses");
    assert_eq!(message.type_name(), RECORD);
    let message = Message::parse(r#"{"type":"Activate_Version","stream":"s","version":3}"#, 1)
        .expect("parses");
    assert_eq!(
        message,
        Message::ActivateVersion(ActivateVersionMessage {
            stream: "s".into(),
            version: 3
        })
    );
}

#[test]
fn schema_without_key_properties_defaults_to_empty() {
    let message = Message::parse(
        r#"{"type":"SCHEMA","stream":"s","schema":{},"key_properties":null}"#,
        1,
    )
    .expect("parses");
    let Message::Schema(schema) = message else {
        panic!("not a schema")
    };
    assert!(schema.key_properties.is_empty());
    assert_eq!(schema.bookmark_properties, None);
}

#[test]
fn schema_keeps_property_order() {
    let message = Message::parse(
        r#"{"type":"SCHEMA","stream":"s","schema":{"properties":{"z":{},"a":{},"m":{}}}}"#,
        1,
    )
    .expect("parses");
    let Message::Schema(schema) = message else {
        panic!("not a schema")
    };
    let keys: Vec<_> = schema.schema["properties"]
        .as_object()
        .expect("object")
        .keys()
        .cloned()
        .collect();
    assert_eq!(keys, ["z", "a", "m"]);
}

#[test]
fn bad_messages_name_line_stream_and_field() {
    let cases = [
        (
            r#"{"stream":"s"}"#,
            r#"line 7: message has no "type" field"#,
        ),
        (
            r#"{"type":"RECORDS","stream":"s"}"#,
            r#"line 7: unknown message type "RECORDS" (expected SCHEMA, RECORD, STATE, ACTIVATE_VERSION or BATCH)"#,
        ),
        (
            r#"{"type":"RECORD","record":{}}"#,
            r#"line 7: RECORD message has no "stream" field"#,
        ),
        (
            r#"{"type":"RECORD","stream":"users"}"#,
            r#"line 7 (stream "users"): RECORD message has no "record" field"#,
        ),
        (
            r#"{"type":"RECORD","stream":"users","record":null}"#,
            r#"line 7 (stream "users"): RECORD message has no "record" field"#,
        ),
        (
            r#"{"type":"RECORD","stream":"users","record":[1]}"#,
            r#"line 7 (stream "users"): RECORD field "record" must be a JSON object"#,
        ),
        (
            r#"{"type":"RECORD","stream":"users","record":{},"version":-1}"#,
            r#"line 7 (stream "users"): RECORD field "version" must be a non-negative integer"#,
        ),
        (
            r#"{"type":"SCHEMA","stream":"users","schema":{},"key_properties":"id"}"#,
            r#"line 7 (stream "users"): SCHEMA field "key_properties" must be a list of property names"#,
        ),
        (
            r#"{"type":"SCHEMA","stream":"users","schema":true}"#,
            r#"line 7 (stream "users"): SCHEMA field "schema" must be a JSON object (a JSON schema)"#,
        ),
        (
            r#"{"type":"SCHEMA","stream":"users"}"#,
            r#"line 7 (stream "users"): SCHEMA message has no "schema" field"#,
        ),
        (
            r#"{"type":"STATE"}"#,
            r#"line 7: STATE message has no "value" field"#,
        ),
        (
            r#"{"type":"ACTIVATE_VERSION","stream":"users"}"#,
            r#"line 7 (stream "users"): ACTIVATE_VERSION message has no "version" field"#,
        ),
        (
            r#"{"type":"BATCH","stream":"users","encoding":"jsonl","manifest":[]}"#,
            r#"line 7 (stream "users"): BATCH field "encoding" must be an object with "format" and optional "compression" strings"#,
        ),
        (
            r#"{"type":"RECORD","stream":"users","record":{},"time_extracted":5}"#,
            r#"line 7 (stream "users"): RECORD field "time_extracted" must be an RFC 3339 string"#,
        ),
        (
            r#"{"type":"RECORD","stream":5,"record":{}}"#,
            "line 7, column 27: not a Singer message: invalid type: integer `5`, expected a string",
        ),
        (
            "[\"RECORD\",\"s\",{}]",
            "line 7, column 1: not a Singer message: expected a JSON object",
        ),
        (
            "42",
            "line 7, column 1: not a Singer message: expected a JSON object",
        ),
        (
            r#"{"type":"RECORD","stream":"s","record":{"a":1}"#,
            "line 7, column 46: malformed JSON: EOF while parsing an object",
        ),
        (
            r#"{"type":"RECORD","stream":"s","stream":"t","record":{}}"#,
            "line 7, column 38: not a Singer message: duplicate field `stream`",
        ),
    ];
    for (input, expected) in cases {
        let error = Message::parse(input, 7).expect_err(input);
        assert_eq!(error.to_string(), expected, "input {input}");
        assert_eq!(error.line(), Some(7));
        assert!(error.is_bad_input());
    }
}
