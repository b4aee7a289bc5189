//! The CI-sized crash/resume scenario against target-snowflake (upsert)
//! and the Snowflake double: every source row exactly once by key.

use singer_e2e::crash::{Scenario, SnowflakeDestination};

use crate::crash::Setup;

#[test]
fn tap_postgres_to_target_snowflake_upsert_survives_random_sigkills_with_every_key_once() {
    survives_random_sigkills("crash_snowflake", Scenario::snowflake_ci);
}

/// A parallel tap (both streams at once, the FULL_TABLE copy split into key
/// ranges in one snapshot and resumed from `pending_ranges`): the table
/// version holds each row once.
#[test]
fn a_parallel_tap_to_target_snowflake_survives_random_sigkills_with_every_key_once() {
    survives_random_sigkills("crash_sf_parallel", Scenario::snowflake_ci_parallel);
}

/// The incremental table replicated LOG_BASED (inserts, updates and
/// deletes between attempts): its live rows equal the source's.
#[test]
fn log_based_to_target_snowflake_survives_random_sigkills_with_every_key_once() {
    survives_random_sigkills("crash_sf_log", Scenario::snowflake_ci_log_based);
}

/// The crash scenarios against the double run one at a time: the double
/// is one server, and two scenarios killing targets mid-commit at once
/// made its requests time out (seen in CI), which is the double's limit,
/// not the loader's.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn survives_random_sigkills(name: &str, scenario: fn(std::path::PathBuf) -> Scenario) {
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut setup = Setup::new("target-snowflake", name, scenario);
    let double = singer_testkit::snowflake_double()
        .expect("the Snowflake double (fakesnow) must start; run scripts/setup");
    let destination = SnowflakeDestination::new(
        setup.target.clone(),
        setup.work_dir(),
        &double.url(),
        &double.isolated_database(name),
        setup.scenario.batch_rows,
    )
    .unwrap();
    let logs = format!(
        "logs: {}, double log {}",
        setup.work_dir().display(),
        double.log().display()
    );
    let (report, text) = setup.run(&destination, &logs);
    assert!(report.upserts, "{text}");
    // The last check followed the final clean run and covers both tables:
    // every source row present exactly once by key.
    let last = report.checks.last().expect("a check after the clean run");
    assert_eq!(last.streams.len(), 2, "{text}");
    for stream in &last.streams {
        assert_eq!(stream.missing, 0, "{text}");
        assert_eq!(stream.duplicates, 0, "{text}");
        assert_eq!(stream.unknown, 0, "{text}");
        assert_eq!(stream.destination_rows, stream.source_rows, "{text}");
    }
    // Staged files: nothing left behind by the killed runs.
    assert_eq!(
        destination.staged_files().unwrap(),
        Vec::<String>::new(),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(setup.work_dir());
}
