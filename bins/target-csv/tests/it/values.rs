//! Exact values: numbers, nested JSON, hostile strings, NULL vs ''.

use std::io::Read;

use crate::support::{Scratch, USERS, lines, record, run};

const HOSTILE: &[&str] = &[
    "plain",
    "comma, inside",
    "\"quoted\" and \"\"doubled\"\"",
    "line\nbreak",
    "carriage\r\nreturn",
    "lone\rCR",
    "tab\there",
    "  leading and trailing spaces  ",
    "ünïcödé ✓ 漢字 🚀 \u{200b}",
    "\u{0}nul and \u{1f} control",
    "back\\slash \\N",
    "'single' ;semicolon;",
    "",
    "#not a comment",
    "ends with quote\"",
];

fn read_back(bytes: &[u8], delimiter: u8, quote: u8) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(true)
        .delimiter(delimiter)
        .quote(quote)
        .from_reader(bytes)
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

fn hostile_input() -> Vec<u8> {
    let mut input = vec![USERS.to_owned()];
    for (i, text) in HOSTILE.iter().enumerate() {
        input.push(record(u32::try_from(i).unwrap(), text));
    }
    let refs: Vec<&str> = input.iter().map(String::as_str).collect();
    lines(&refs)
}

#[test]
fn hostile_strings_round_trip_through_the_csv_crate_reader() {
    for (delimiter, quote, terminator) in
        [(",", "\"", "\n"), (";", "'", "\r\n"), ("\t", "\"", "\n")]
    {
        let scratch = Scratch::new(&format!("hostile-{}", delimiter.as_bytes()[0]));
        let config = scratch.config(&serde_json::json!({
            "file_naming_scheme": "{stream}.csv", "delimiter": delimiter, "quotechar": quote,
            "line_terminator": terminator, "null_value": "\\N",
        }));
        let output = run(&config, &hostile_input());
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let bytes = std::fs::read(scratch.out().join("users.csv")).unwrap();
        let rows = read_back(&bytes, delimiter.as_bytes()[0], quote.as_bytes()[0]);
        let names: Vec<&str> = rows.iter().map(|r| r[1].as_str()).collect();
        assert_eq!(names, HOSTILE, "delimiter {delimiter:?}");
    }
}

#[test]
fn gzip_output_round_trips_too() {
    let scratch = Scratch::new("gzip");
    let config = scratch
        .config(&serde_json::json!({"file_naming_scheme": "{stream}.csv", "compression": "gzip"}));
    let output = run(&config, &hostile_input());
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(scratch.files(), ["users.csv.gz"]);
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(scratch.out().join("users.csv.gz")).unwrap())
        .read_to_end(&mut bytes)
        .unwrap();
    let rows = read_back(&bytes, b',', b'"');
    assert_eq!(
        rows.iter().map(|r| r[1].as_str()).collect::<Vec<_>>(),
        HOSTILE
    );
}

#[test]
fn null_and_empty_string_stay_distinct() {
    let scratch = Scratch::new("null");
    let config = scratch.config(&serde_json::json!({"file_naming_scheme": "{stream}.csv"}));
    let input = lines(&[
        USERS,
        r#"{"type":"RECORD","stream":"users","record":{"id":1,"name":null}}"#,
        r#"{"type":"RECORD","stream":"users","record":{"id":2,"name":""}}"#,
        r#"{"type":"RECORD","stream":"users","record":{"id":3}}"#,
    ]);
    let output = run(&config, &input);
    assert!(output.status.success());
    // Default NULL token: nothing, unquoted (PostgreSQL COPY's CSV rule).
    assert_eq!(scratch.read("users.csv"), "id,name\n1,\n2,\"\"\n3,\n");
    let config = scratch
        .config(&serde_json::json!({"file_naming_scheme": "{stream}-b.csv", "null_value": "NULL"}));
    assert!(run(&config, &input).status.success());
    let rows = read_back(scratch.read("users-b.csv").as_bytes(), b',', b'"');
    assert_eq!(
        rows.iter().map(|r| r[1].as_str()).collect::<Vec<_>>(),
        ["NULL", "", "NULL"]
    );
}

#[test]
fn numbers_keep_every_digit_and_nested_values_are_json_text() {
    let scratch = Scratch::new("numbers");
    let config = scratch.config(&serde_json::json!({"file_naming_scheme": "{stream}.csv"}));
    let schema = r#"{"type":"SCHEMA","stream":"n","schema":{"properties":{"d":{"type":["null","string"],"format":"x-singer.decimal","precision":40,"scale":18},"f":{"type":"number"},"o":{"type":"object"},"a":{"type":"array"},"b":{"type":"boolean"}}},"key_properties":[]}"#;
    let input = lines(&[
        schema,
        r#"{"type":"RECORD","stream":"n","record":{"d":1234567890123456789012.123456789012345678,"f":1e400,"o":{"x":[1,2.50,-0],"y":"a,\"b\""},"a":[],"b":false}}"#,
        r#"{"type":"RECORD","stream":"n","record":{"d":-0.000000000000000001,"f":0.1000,"o":{},"a":[null,{"k":1}],"b":true}}"#,
    ]);
    let output = run(&config, &input);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rows = read_back(scratch.read("n.csv").as_bytes(), b',', b'"');
    assert_eq!(
        rows,
        [
            [
                "1234567890123456789012.123456789012345678",
                "1e400",
                r#"{"x":[1,2.50,-0],"y":"a,\"b\""}"#,
                "[]",
                "false"
            ],
            [
                "-0.000000000000000001",
                "0.1000",
                "{}",
                r#"[null,{"k":1}]"#,
                "true"
            ],
        ]
    );
}
