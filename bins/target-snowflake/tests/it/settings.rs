//! Settings are declared once (`singer_target_snowflake::ABOUT`, from the config type's
//! `settings!` declaration): the binary's `--help` and `--about`, and its
//! README section, list every one of them, with the declared type and
//! default.

#[test]
fn every_declared_setting_is_in_help_about_and_the_readme() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README.md");
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_target-snowflake"));
    let problems =
        singer_testkit::binary_settings_drift(bin, &singer_target_snowflake::ABOUT, &readme)
            .expect("runs --help and --about");
    assert!(
        problems.is_empty(),
        "settings out of step with their declaration:\n{}",
        singer_testkit::render_drift(&problems)
    );
}
