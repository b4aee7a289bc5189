//! The CI-sized crash/resume scenario against target-csv.

use singer_e2e::binaries::binary;
use singer_e2e::crash::{self, CsvDestination, Scenario, Source, Stage};

#[test]
fn tap_postgres_to_target_csv_survives_random_sigkills_without_loss_or_duplicates() {
    let tap = binary("tap-postgres").expect("binaries under test");
    let target = binary("target-csv").expect("binaries under test");
    let work_dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("e2e-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work_dir);
    let scenario = Scenario::ci(work_dir.clone());
    let cluster = singer_testkit::postgres().expect("throwaway PostgreSQL");
    let db = cluster.create_database("crash").unwrap();
    let mut client = cluster.connect(&db).unwrap();
    crash::seed_source(&mut client, scenario.rows).unwrap();
    let source = Source {
        host: cluster.host().to_owned(),
        port: cluster.port(),
        user: cluster.user().to_owned(),
        dbname: db,
    };
    let destination = CsvDestination::new(target, &work_dir, scenario.batch_rows).unwrap();
    let report =
        crash::run(&scenario, &tap, &source, &mut client, &destination).unwrap_or_else(|e| {
            panic!(
                "crash scenario failed to run: {e} (logs in {})",
                work_dir.display()
            )
        });
    let text = report.to_text();
    eprintln!("{text}");
    assert!(
        report.failures().is_empty(),
        "{text}\nlogs and files: {}",
        work_dir.display()
    );
    assert!(report.kills() >= scenario.kills, "{text}");
    // The seed lands kills in the tap and in the target.
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
