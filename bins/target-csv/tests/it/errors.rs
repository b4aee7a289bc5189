//! Bad input through the binary: exit 1, the exact message on stderr, no
//! STATE past the last commit.

use crate::support::{Scratch, fixture, run, stderr, stdout};

#[test]
fn invalid_target_fixtures_fail_with_their_message() {
    let mut cases = 0;
    for entry in std::fs::read_dir(fixture("invalid-target")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("jsonl") {
            continue;
        }
        let scratch = Scratch::new(&format!(
            "err-{}",
            path.file_stem().unwrap().to_string_lossy()
        ));
        let config = scratch.config(&serde_json::json!({}));
        let output = run(&config, &std::fs::read(&path).unwrap());
        let expected = std::fs::read_to_string(path.with_extension("expected")).unwrap();
        assert_eq!(output.status.code(), Some(1), "{}", path.display());
        assert!(
            stderr(&output).contains(expected.trim_end()),
            "{}: {}",
            path.display(),
            stderr(&output)
        );
        // A STATE that came before the failure is out only if nothing was
        // uncommitted before it; no `{}` ever.
        assert!(!stdout(&output).lines().any(|l| l == "{}"));
        assert!(
            scratch.files().iter().all(|f| f.ends_with(".partial")),
            "{:?}",
            scratch.files()
        );
        cases += 1;
    }
    assert!(cases >= 8);
}

#[test]
fn configuration_errors_exit_2_and_about_works() {
    let scratch = Scratch::new("config");
    let config = scratch.config(&serde_json::json!({"delimiter": "ab"}));
    let output = run(&config, b"");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("delimiter must be one ASCII character"),
        "{}",
        stderr(&output)
    );
    let config = scratch.config(&serde_json::json!({"mode": "sideways"}));
    assert_eq!(run(&config, b"").status.code(), Some(2));
    let about = std::process::Command::new(crate::support::BIN)
        .args(["--about", "--format", "json"])
        .output()
        .unwrap();
    assert!(about.status.success());
    let about: serde_json::Value = serde_json::from_slice(&about.stdout).unwrap();
    assert_eq!(about["name"], "target-csv");
    // singer-io and MeltanoLabs names are accepted.
    let config = scratch.config(&serde_json::json!({"output_path": scratch.0.join("meltano"), "quotechar": "'", "file_naming_scheme": "{stream_name}.csv"}));
    let output = run(
        &config,
        &crate::support::lines(&[crate::support::USERS, &crate::support::record(1, "it's")]),
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        std::fs::read_to_string(scratch.0.join("meltano/users.csv")).unwrap(),
        "id,name\n1,'it''s'\n"
    );
}
