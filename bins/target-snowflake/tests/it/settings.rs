//! Settings are declared once (`singer_target_snowflake::ABOUT`, from the config type's
//! `settings!` declaration): the binary's `--help` and `--about`, and its
//! README section, list every one of them, with the declared type and
//! default.

use std::process::Command;

#[test]
fn every_declared_setting_is_in_help_about_and_the_readme() {
    let bin = env!("CARGO_BIN_EXE_target-snowflake");
    let help = Command::new(bin).arg("--help").output().expect("runs");
    assert!(help.status.success());
    let about = Command::new(bin)
        .args(["--about", "--format", "json"])
        .output()
        .expect("runs");
    assert!(about.status.success());
    let about_json: serde_json::Value = serde_json::from_slice(&about.stdout).expect("JSON");
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README.md");
    let problems = singer_testkit::settings_drift(
        &singer_target_snowflake::ABOUT,
        &String::from_utf8_lossy(&help.stdout),
        &about_json,
        &readme,
    );
    assert!(
        problems.is_empty(),
        "settings out of step with their declaration:\n{}",
        singer_testkit::render_drift(&problems)
    );
}
