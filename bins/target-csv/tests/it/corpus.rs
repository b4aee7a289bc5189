//! The bad-input corpus (`fixtures/invalid/README.md`) through the binary:
//! `targets/` holds the Singer input every target reads, `target-csv/` this
//! binary's configuration and flags. Each case must exit with its code,
//! name what is wrong and where, never panic, and write exactly the STATE
//! lines the commits before the bad line cover; when it wrote none, no
//! file is published either (only `.partial` files may be left).

use std::process::{Command, Output};

use singer_testkit::corpus::{self, Case};

use crate::support::{BIN, Scratch, fixture};

/// Runs one case: `--config` with `destination_path` in a scratch
/// directory plus the case's `.json` overlay, or the case's `.args`; stdin
/// from its `.jsonl`.
fn run_case(case: &Case) -> Result<Output, String> {
    let scratch = Scratch::new(&format!("corpus-{}", case.name()));
    let case_dir = case.dir().to_string_lossy().into_owned();
    let overlay = match case.read_sidecar("json", &[("case_dir", &case_dir)])? {
        Some(text) => serde_json::from_str(&text).map_err(|e| format!("{}: {e}", case.name()))?,
        None => serde_json::json!({}),
    };
    let config = scratch.config(&overlay).to_string_lossy().into_owned();
    let mut args = case.args(&[("case_dir", &case_dir), ("config", &config)])?;
    if args.is_empty() {
        args = vec!["--config".to_owned(), config];
    }
    let output = corpus::output(
        Command::new(BIN).args(&args),
        case.sidecar("jsonl").as_deref(),
    )?;
    let published: Vec<String> = scratch
        .files()
        .into_iter()
        .filter(|f| !f.ends_with(".partial"))
        .collect();
    if case.stdout().is_empty() && !published.is_empty() {
        return Err(format!(
            "{}: no STATE was written, yet files were published: {published:?}",
            case.name()
        ));
    }
    Ok(output)
}

#[test]
fn singer_input_corpus_fails_cleanly() {
    match corpus::walk(&fixture("invalid/targets"), run_case) {
        Ok(cases) => assert!(cases >= 40, "only {cases} cases"),
        Err(report) => panic!("{report}"),
    }
}

#[test]
fn configuration_corpus_fails_cleanly() {
    if let Err(report) = corpus::walk(&fixture("invalid/target-csv"), run_case) {
        panic!("{report}");
    }
}

/// The Singer spec makes a STATE's `value` any JSON and opaque to targets,
/// so a value that is not an object is not bad input: it passes through,
/// byte for byte, once the rows before it are committed. (A STATE without
/// `value`, or with `"value": null`, is bad input: `targets/state_without_value*`.)
#[test]
fn state_values_that_are_not_objects_pass_through() {
    let scratch = Scratch::new("state-not-object");
    let config = scratch.config(&serde_json::json!({"commit_interval_seconds": 0}));
    let input = crate::support::lines(&[
        crate::support::USERS,
        &crate::support::record(1, "a"),
        r#"{"type":"STATE","value":42}"#,
        &crate::support::record(2, "b"),
        r#"{"type":"STATE","value":"text"}"#,
        r#"{"type":"STATE","value":[1,{"a":2.50}]}"#,
    ]);
    let output = crate::support::run(&config, &input);
    assert!(
        output.status.success(),
        "{}",
        crate::support::stderr(&output)
    );
    assert_eq!(
        crate::support::stdout(&output),
        "42\n\"text\"\n[1,{\"a\":2.50}]\n"
    );
}
