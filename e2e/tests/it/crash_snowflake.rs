//! The CI-sized crash/resume scenario against target-snowflake (upsert)
//! and the Snowflake double: every source row exactly once by key.

use singer_e2e::binaries::binary;
use singer_e2e::crash::{self, Scenario, SnowflakeDestination, Source, Stage};

#[test]
fn tap_postgres_to_target_snowflake_upsert_survives_random_sigkills_with_every_key_once() {
    let tap = binary("tap-postgres").expect("binaries under test");
    let target = binary("target-snowflake").expect("binaries under test");
    let work_dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("e2e-crash-snowflake-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work_dir);
    let scenario = Scenario::snowflake_ci(work_dir.clone());
    let cluster = singer_testkit::postgres().expect("throwaway PostgreSQL");
    let db = cluster.create_database("crash_snowflake").unwrap();
    let mut client = cluster.connect(&db).unwrap();
    crash::seed_source(&mut client, scenario.rows).unwrap();
    let source = Source {
        host: cluster.host().to_owned(),
        port: cluster.port(),
        user: cluster.user().to_owned(),
        dbname: db,
    };
    let double = singer_testkit::snowflake_double()
        .expect("the Snowflake double (fakesnow) must start; run scripts/setup");
    let destination = SnowflakeDestination::new(
        target,
        &work_dir,
        &double.url(),
        &double.isolated_database("crash"),
        scenario.batch_rows,
    )
    .unwrap();
    let report =
        crash::run(&scenario, &tap, &source, &mut client, &destination).unwrap_or_else(|e| {
            panic!(
                "crash scenario failed to run: {e} (logs in {}, double log {})",
                work_dir.display(),
                double.log().display()
            )
        });
    let text = report.to_text();
    eprintln!("{text}");
    assert!(report.upserts, "{text}");
    assert!(
        report.failures().is_empty(),
        "{text}\nlogs: {}",
        work_dir.display()
    );
    assert!(report.kills() >= scenario.kills, "{text}");
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
    let stages = report.kills_by_stage();
    assert!(
        stages
            .keys()
            .any(|s| matches!(s, Stage::TapRead | Stage::TapStart))
            && stages
                .keys()
                .any(|s| matches!(s, Stage::TargetMidBatch | Stage::TargetAfterCommit)),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&work_dir);
}
