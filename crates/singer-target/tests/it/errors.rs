//! Each bad input is a clear error with its exact message
//! (`fixtures/invalid-target/*.jsonl` and their `.expected`).

use crate::support::{Recorder, fixture, run, run_with};

#[test]
fn every_invalid_target_fixture_fails_with_its_expected_message() {
    let dir = fixture("invalid-target");
    let mut cases = 0;
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.extension().and_then(|e| e.to_str()) != Some("jsonl") {
            continue;
        }
        let input = std::fs::read_to_string(&path).expect("fixture");
        let run = run(&input);
        let expected_path = path.with_extension("expected");
        if std::env::var_os("SINGER_BLESS").is_some() {
            std::fs::write(&expected_path, format!("{}\n", run.error())).expect("bless");
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_else(|_| {
            panic!(
                "{} needs a .expected file (SINGER_BLESS=1 writes it)",
                path.display()
            )
        });
        assert_eq!(run.error(), expected.trim_end(), "{}", path.display());
        assert!(run.states().len() <= 1, "{}", path.display());
        cases += 1;
    }
    assert!(cases >= 8, "only {cases} fixtures");
}

#[test]
fn bad_input_is_classified() {
    let input = std::fs::read_to_string(fixture("invalid-target/record_before_schema.jsonl"))
        .expect("fixture");
    let run = run_with(
        &input,
        Recorder::default(),
        singer_target::DriverConfig::default(),
    );
    let error = run.result.expect_err("fails");
    assert!(error.is_bad_input());
    assert_eq!(error.line(), Some(2));
    // The STATE before the bad record had nothing uncommitted before it.
    assert_eq!(run.events.len(), 1);
}
