//! The bad-input corpus every target reads (`fixtures/invalid/targets`,
//! see `fixtures/invalid/README.md`) through this binary, against the
//! Snowflake double: each case must exit with its code, name what is wrong
//! and where, never panic, and write exactly the STATE lines the commits
//! before the bad line cover. This target commits at every STATE boundary
//! (target-csv on an interval), so where that leaves more STATE lines the
//! case says so in `<case>.target-snowflake.stdout`.

use std::path::PathBuf;
use std::process::{Command, Output};

use singer_testkit::corpus::{self, Case};

use crate::support::{BIN, Scratch, config};

fn fixture(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(path)
}

/// Runs one case: `--config` for an isolated database of the double plus
/// the case's `.json` overlay (settings of other targets in it are
/// warned about and ignored), or the case's `.args`; stdin from its
/// `.jsonl`.
fn run_case(case: &Case) -> Result<Output, String> {
    run_case_with(case, "stage")
}

/// [`run_case`] with `staging` (`stage`, the default, or `bind`).
fn run_case_with(case: &Case, staging: &str) -> Result<Output, String> {
    let scratch = Scratch::new(&format!("corpus-{staging}-{}", case.name()));
    let case_dir = case.dir().to_string_lossy().into_owned();
    let overlay = match case.read_sidecar("json", &[("case_dir", &case_dir)])? {
        Some(text) => serde_json::from_str(&text).map_err(|e| format!("{}: {e}", case.name()))?,
        None => serde_json::json!({}),
    };
    // Merged by hand: the typed config of the helper refuses other
    // targets' settings, which the binary only warns about.
    let (mut config, _) = config("corpus", &serde_json::json!({ "staging": staging }));
    for (key, value) in overlay.as_object().into_iter().flatten() {
        config[key] = value.clone();
    }
    let config = scratch
        .write("config.json", &config)
        .to_string_lossy()
        .into_owned();
    let mut args = case.args(&[("case_dir", &case_dir), ("config", &config)])?;
    if args.is_empty() {
        args = vec!["--config".to_owned(), config];
    }
    corpus::output(
        Command::new(BIN).args(&args),
        case.sidecar("jsonl").as_deref(),
    )
}

#[test]
fn singer_input_corpus_fails_cleanly() {
    match corpus::walk_for("target-snowflake", &fixture("invalid/targets"), run_case) {
        Ok(cases) => assert!(cases >= 40, "only {cases} cases"),
        Err(report) => panic!("{report}"),
    }
}

/// The same corpus, the same outcomes, with batches bound as JSON text
/// (`staging: bind`) instead of staged files.
#[test]
fn singer_input_corpus_fails_cleanly_with_bound_batches_too() {
    match corpus::walk_for("target-snowflake", &fixture("invalid/targets"), |case| {
        run_case_with(case, "bind")
    }) {
        Ok(cases) => assert!(cases >= 40, "only {cases} cases"),
        Err(report) => panic!("{report}"),
    }
}
