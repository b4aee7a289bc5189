//! `fixtures/singer/*.jsonl` round-trip byte for byte; every
//! `fixtures/invalid/<case>.jsonl` fails with exactly the message in
//! `<case>.expected`.

use std::io::BufReader;
use std::path::{Path, PathBuf};

use singer_protocol::{Message, Reader, Writer};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

fn files(dir: &str, extension: &str) -> Vec<PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(fixtures().join(dir))
        .expect("fixture dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == extension))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no *.{extension} fixtures in {dir}");
    files
}

#[test]
fn singer_streams_round_trip_byte_identical() {
    for path in files("singer", "jsonl") {
        let input = std::fs::read(&path).expect("fixture");
        let mut writer = Writer::new(Vec::new());
        let mut records = 0;
        for message in Reader::new(BufReader::new(input.as_slice())) {
            let message = message.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            records += usize::from(matches!(message.message, Message::Record(_)));
            writer.write(&message.message).expect("write");
        }
        assert!(records > 0, "{}", path.display());
        assert_eq!(
            String::from_utf8(writer.into_inner()).expect("UTF-8"),
            String::from_utf8(input).expect("UTF-8"),
            "{}",
            path.display()
        );
    }
}

#[test]
fn invalid_inputs_fail_with_the_expected_message() {
    for path in files("invalid", "jsonl") {
        let input = std::fs::read(&path).expect("fixture");
        let expected = std::fs::read_to_string(path.with_extension("expected"))
            .unwrap_or_else(|e| panic!("{}: missing .expected: {e}", path.display()));
        let error = Reader::new(input.as_slice())
            .with_max_line_bytes(4096)
            .find_map(Result::err)
            .unwrap_or_else(|| panic!("{} read without error", path.display()));
        assert_eq!(error.to_string(), expected.trim_end(), "{}", path.display());
        assert!(error.is_bad_input(), "{}", path.display());
    }
}
