//! The CI-sized crash/resume scenario against target-csv, and what every
//! crash/resume test shares ([`Setup`], [`Setup::run`]).

use std::path::{Path, PathBuf};

use singer_e2e::binaries::binary;
use singer_e2e::crash::{self, CsvDestination, Destination, Report, Scenario, Source, Stage};

/// What a crash/resume test starts from: the binaries under test, an empty
/// work directory and a seeded source database.
pub struct Setup {
    /// `tap-postgres`.
    pub tap: PathBuf,
    /// The target under test.
    pub target: PathBuf,
    /// The scenario (its `work_dir` is fresh).
    pub scenario: Scenario,
    /// The tap's connection settings.
    pub source: Source,
    /// A client of the source database.
    pub client: postgres::Client,
}

impl Setup {
    /// Builds the binaries (`tap-postgres` and `target`), empties the work
    /// directory `e2e-{name}-{pid}`, sizes the scenario with `scenario` and
    /// seeds a database `name` of the throwaway PostgreSQL.
    pub fn new(target: &str, name: &str, scenario: fn(PathBuf) -> Scenario) -> Self {
        let tap = binary("tap-postgres").expect("binaries under test");
        let target = binary(target).expect("binaries under test");
        let work_dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("e2e-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&work_dir);
        let scenario = scenario(work_dir);
        let cluster = singer_testkit::postgres().expect("throwaway PostgreSQL");
        let (source, client) = Source::seeded(cluster, name, scenario.rows).unwrap();
        Self {
            tap,
            target,
            scenario,
            source,
            client,
        }
    }

    /// The scenario's work directory.
    pub fn work_dir(&self) -> &Path {
        &self.scenario.work_dir
    }

    /// Runs the scenario into `destination` and asserts what holds for
    /// every destination: nothing lost and no duplicate where none is
    /// allowed, every planned kill landed, kills in the tap and in the
    /// target. `logs` says where to look when the run fails. Returns the
    /// report and its text.
    pub fn run(&mut self, destination: &dyn Destination, logs: &str) -> (Report, String) {
        let report = crash::run(
            &self.scenario,
            &self.tap,
            &self.source,
            &mut self.client,
            destination,
        )
        .unwrap_or_else(|e| panic!("crash scenario failed to run: {e} ({logs})"));
        let text = report.to_text();
        eprintln!("{text}");
        assert!(report.failures().is_empty(), "{text}\n{logs}");
        assert!(report.kills() >= self.scenario.kills, "{text}");
        // The seed lands kills in the tap and in the target (killing both at
        // once kills each of them).
        let stages = report.kills_by_stage();
        assert!(
            stages
                .keys()
                .any(|s| matches!(s, Stage::TapRead | Stage::TapStart | Stage::Both))
                && stages.keys().any(|s| matches!(
                    s,
                    Stage::TargetMidBatch | Stage::TargetAfterCommit | Stage::Both
                )),
            "{text}"
        );
        (report, text)
    }
}

#[test]
fn tap_postgres_to_target_csv_survives_random_sigkills_without_loss_or_duplicates() {
    let mut setup = Setup::new("target-csv", "crash", Scenario::ci);
    let destination = CsvDestination::new(
        setup.target.clone(),
        setup.work_dir(),
        setup.scenario.batch_rows,
    )
    .unwrap();
    let logs = format!("logs and files: {}", setup.work_dir().display());
    setup.run(&destination, &logs);
    let _ = std::fs::remove_dir_all(setup.work_dir());
}

#[test]
fn a_parallel_tap_into_target_csv_survives_random_sigkills_without_loss_or_duplicates() {
    let mut setup = Setup::new("target-csv", "crash_parallel", Scenario::ci_parallel);
    let destination = CsvDestination::new(
        setup.target.clone(),
        setup.work_dir(),
        setup.scenario.batch_rows,
    )
    .unwrap();
    let logs = format!("logs and files: {}", setup.work_dir().display());
    let (report, _) = setup.run(&destination, &logs);
    // Some kill interrupted the split copy itself, and a rerun resumed it.
    assert!(report.kills() >= setup.scenario.kills);
    let _ = std::fs::remove_dir_all(setup.work_dir());
}
