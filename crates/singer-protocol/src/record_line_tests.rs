use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::*;
use crate::Message;

/// The record's top-level properties as the full parser sees them.
fn full_properties(record: &str) -> Vec<(String, String)> {
    struct Properties;
    impl<'de> Visitor<'de> for Properties {
        type Value = Vec<(String, String)>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(key) = map.next_key::<String>()? {
                let value: &RawValue = map.next_value()?;
                out.push((key, value.get().to_owned()));
            }
            Ok(out)
        }
    }
    serde_json::Deserializer::from_str(record)
        .deserialize_map(Properties)
        .expect("the full parser accepted this record")
}

/// Whenever the fast path reads a line, the full parser reads the same
/// record from it.
fn agrees(line: &str) -> bool {
    let mut spans = Vec::new();
    let Some(fast) = RecordLine::scan(line, &mut spans) else {
        return false;
    };
    let full = match Message::parse(line, 1) {
        Ok(Message::Record(record)) => record,
        other => panic!("fast path read {line:?}, full parser says {other:?}"),
    };
    assert_eq!(fast.stream, full.stream, "{line}");
    assert_eq!(fast.record, full.record.get(), "{line}");
    assert_eq!(fast.version, full.version, "{line}");
    assert_eq!(
        fast.time_extracted.map(str::to_owned),
        full.time_extracted,
        "{line}"
    );
    let properties: Vec<(String, String)> = fast
        .properties(&spans)
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    assert_eq!(properties, full_properties(full.record.get()), "{line}");
    true
}

const LINES: [&str; 9] = [
    r#"{"type":"RECORD","stream":"public-issues","record":{"id":1,"title":"Issue 1 \"quoted\" \\ \/ \b\f\n\r\t \u00e9 é 🚀","weight":"0.0310","time_estimate":1.25e-3,"confidential":false,"labels":["bug","p1"],"metadata":{"source": "web", "n": [1, -0.5, {"x": null}]},"created_at":"2020-01-01T00:00:37.000000+00:00","due_date":null},"version":1796534612433,"time_extracted":"2026-12-06T05:23:32.434673+00:00"}"#,
    r#"{"type":"record","stream":"s","record":{}}"#,
    r#"{ "record" : { "a" : 1 , "b" : [ ] } , "stream" : "s" , "type" : "Record" , "time_extracted" : null , "extra" : {"k": [true, false]} }"#,
    r#"{"type":"RECORD","stream":"s","record":{"n":12345678901234567890.123456789012345678,"e":1E+400,"z":0,"m":-0.0e-7}}"#,
    r#"{"type":"RECORD","stream":"s","record":{"a":1,"a":2}}"#,
    r#"{"type":"RECORD","stream":"s","record":{"":"","x":"\uD83D\uDE80"}}"#,
    r#"{"type":"RECORD","stream":"s","record":{"a":1},"schema":{"x":1},"value":[1],"key_properties":null}"#,
    r#"{"stream":"s","type":"RECORD","version":0,"record":{"a":"\u0000"}}"#,
    r#"{"type":"RECORD","stream":"s\u00e9","record":{"a":1}}"#,
];

#[test]
fn plain_lines_are_read_like_the_full_parser() {
    let read: Vec<bool> = LINES.iter().map(|line| agrees(line)).collect();
    // Surrogate escapes and escaped stream names go to the full parser.
    assert_eq!(
        read,
        [true, true, true, true, true, false, true, true, false]
    );
}

#[test]
fn other_messages_and_doubtful_lines_go_to_the_full_parser() {
    for line in [
        r#"{"type":"STATE","value":{}}"#,
        r#"{"type":"SCHEMA","stream":"s","schema":{},"key_properties":[]}"#,
        r#"{"stream":"s","record":{"a":1}}"#,
        r#"{"type":"RECORD","record":{"a":1}}"#,
        r#"{"type":"RECORD","stream":"s"}"#,
        r#"{"type":"RECORD","stream":"s","record":[1]}"#,
        r#"{"type":"RECORD","stream":"s","record":{"a":1},"version":-1}"#,
        r#"{"type":"RECORD","stream":"s","record":{"a":1},"version":1.0}"#,
        r#"{"type":"RECORD","stream":"s","record":{"a":1},"version":"1"}"#,
        r#"{"type":"RECORD","stream":"s","record":{"a":1},"time_extracted":5}"#,
        r#"{"type":"RECORD","stream":"s","stream":"t","record":{"a":1}}"#,
        r#"{"typ\u0065":"RECORD","stream":"s","record":{"a":1}}"#,
        r#"{"type":"RECORD","stream":"s","record":{"\u0061":1}}"#,
        r#"{"type":"RECORD","stream":"s","record":{"a":01}}"#,
        r#"{"type":"RECORD","stream":"s","record":{"a":NaN}}"#,
        r#"{"type":"RECORD","stream":"s","record":{"a":1}} x"#,
        r#"{"type":"RECORD","stream":"s","record":{"a":"\ud800"}}"#,
        r#"{"type":"RECORD","stream":"s","record":{"a":1,}}"#,
    ] {
        let mut spans = Vec::new();
        assert!(RecordLine::scan(line, &mut spans).is_none(), "{line}");
    }
    let deep = format!(
        r#"{{"type":"RECORD","stream":"s","record":{{"a":{}1{}}}}}"#,
        "[".repeat(100),
        "]".repeat(100)
    );
    assert!(RecordLine::scan(&deep, &mut Vec::new()).is_none());
}

/// Every one-byte change of the sample lines: whatever the fast path
/// still reads, the full parser reads the same way (malformed JSON is
/// never let through, a changed value is never read differently).
#[test]
fn mutated_lines_never_read_differently() {
    let replacements = [
        "", "\"", "\\", "{", "}", "[", "]", ",", ":", " ", "0", "-", ".", "e", "x", "\u{1}", "n",
        "\\u", "é",
    ];
    let mut read = 0;
    let mut total = 0;
    for line in LINES {
        for (at, _) in line.char_indices() {
            let next = line[at..].chars().next().map_or(at, |c| at + c.len_utf8());
            for replacement in replacements {
                for mutated in [
                    format!("{}{replacement}{}", &line[..at], &line[next..]),
                    format!("{}{replacement}{}", &line[..at], &line[at..]),
                ] {
                    total += 1;
                    if agrees(&mutated) {
                        read += 1;
                    }
                }
            }
        }
    }
    // Most changes still read: the check compared real cases.
    assert!(read * 4 > total, "{read} of {total}");
}
