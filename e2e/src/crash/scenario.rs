//! A scenario and its run: kills drawn at random [`Stage`]s until enough
//! landed, each attempt resumed from the last state the target wrote, then
//! a clean run, with the destination checked against the source.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::json;

use super::attempt::{attempt, exit_status_failure, tail_of_logs};
use super::check::{compare, key_counts};
use super::source::{change_incremental, discover};
use super::state::{completed_version, last_state, resume_point};
use super::{
    Attempt, Check, Destination, FULL_TABLE, INCREMENTAL_TABLE, Report, Rng, Source, stream_of,
    write_json,
};
use crate::error::{Error, Result, io};

/// Where a kill lands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    /// The tap, shortly after start (connecting, discovery of the catalog's
    /// tables, the first rows): a random delay.
    TapStart,
    /// The tap in the middle of its read: once the destination has grown by
    /// a random number of bytes. The target then sees end of input and
    /// commits what it got.
    TapRead,
    /// The target with rows written to its open (uncommitted) files: once
    /// the destination has grown by a random number of bytes.
    TargetMidBatch,
    /// The target right after a commit published files: between the commit
    /// and (most likely before) the STATE line that covers it.
    TargetAfterCommit,
    /// Both at once, once the destination has grown by a random number of
    /// bytes (a machine or container dying).
    Both,
}

impl Stage {
    const ALL: [Self; 5] = [
        Self::TapStart,
        Self::TapRead,
        Self::TargetMidBatch,
        Self::TargetAfterCommit,
        Self::Both,
    ];

    /// A short name for reports.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::TapStart => "tap at start",
            Self::TapRead => "tap mid-read",
            Self::TargetMidBatch => "target mid-batch",
            Self::TargetAfterCommit => "target after commit",
            Self::Both => "tap and target",
        }
    }
}

/// A scenario: table sizes, kills, seed and batching.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Rows in each of the two source tables.
    pub rows: u64,
    /// Kills to land before the final clean run.
    pub kills: usize,
    /// RNG seed: the same seed draws the same stages and thresholds.
    pub seed: u64,
    /// Scratch directory (configs, catalog, states, logs, destination).
    pub work_dir: PathBuf,
    /// The tap's `state_interval` (STATE every N rows).
    pub state_interval: u64,
    /// The target's batch size in rows.
    pub batch_rows: u64,
    /// Rows inserted into, and rows updated in, the incremental table
    /// after each attempt.
    pub changes_per_attempt: u64,
    /// The tap's `parallelism` (1: one stream after the other).
    pub parallelism: u64,
    /// The incremental table replicated LOG_BASED instead (its changes
    /// between attempts then include deletes).
    pub log_based: bool,
}

impl Scenario {
    /// The CI size: 2 × 100,000 rows, 10 kills.
    #[must_use]
    pub fn ci(work_dir: PathBuf) -> Self {
        Self {
            rows: 100_000,
            kills: 10,
            seed: 0x5EED_CAFE,
            work_dir,
            state_interval: 5_000,
            batch_rows: 7_000,
            changes_per_attempt: 50,
            parallelism: 1,
            log_based: false,
        }
    }

    /// The Snowflake CI size with a parallel tap (2 readers, the FULL_TABLE
    /// copy in key ranges inside one shared snapshot), 6 kills.
    #[must_use]
    pub fn snowflake_ci_parallel(work_dir: PathBuf) -> Self {
        Self {
            seed: 0x5EED_F1A5,
            kills: 6,
            parallelism: 2,
            ..Self::snowflake_ci(work_dir)
        }
    }

    /// The CI size with a parallel tap: both streams at once and the
    /// FULL_TABLE copy split into key ranges (3 readers, 12 ranges) inside
    /// one shared snapshot.
    #[must_use]
    pub fn ci_parallel(work_dir: PathBuf) -> Self {
        Self {
            seed: 0x5EED_9A8A,
            parallelism: 3,
            ..Self::ci(work_dir)
        }
    }

    /// The Snowflake CI size with the incremental table replicated
    /// LOG_BASED (inserts, updates and deletes between attempts; a killed
    /// read leaves the slot in use for a while), 5 kills.
    #[must_use]
    pub fn snowflake_ci_log_based(work_dir: PathBuf) -> Self {
        Self {
            seed: 0x5EED_106B,
            log_based: true,
            ..Self::snowflake_ci(work_dir)
        }
    }

    /// The CI size against the Snowflake double (much slower than files):
    /// 2 × 6,000 rows, 5 kills.
    #[must_use]
    pub fn snowflake_ci(work_dir: PathBuf) -> Self {
        Self {
            rows: 6_000,
            kills: 5,
            seed: 0x5EED_F1A4,
            work_dir,
            state_interval: 500,
            batch_rows: 700,
            changes_per_attempt: 20,
            parallelism: 1,
            log_based: false,
        }
    }
}

/// Runs the scenario: discovery, then attempts with kills until
/// [`Scenario::kills`] kills have landed and a final attempt ran clean,
/// then the comparison. `client` connects to the source database (seeded
/// with [`seed_source`](super::seed_source)).
///
/// # Errors
///
/// When the harness itself fails (a binary cannot be started, discovery
/// fails, a clean attempt fails, the destination cannot be read). A
/// destination that does not match the source is not an error: see
/// [`Report::failures`].
pub fn run(
    scenario: &Scenario,
    tap: &Path,
    source: &Source,
    client: &mut postgres::Client,
    destination: &dyn Destination,
) -> Result<Report> {
    let started = Instant::now();
    let work = &scenario.work_dir;
    std::fs::create_dir_all(work).map_err(io("creating", work))?;
    let logs = work.join("logs");
    std::fs::create_dir_all(&logs).map_err(io("creating", &logs))?;
    let tap_config = work.join("tap-postgres.json");
    write_json(
        &tap_config,
        &json!({
            "host": source.host, "port": source.port, "user": source.user,
            "dbname": source.dbname, "sslmode": "disable",
            "state_interval": scenario.state_interval,
            "parallelism": scenario.parallelism,
            "parallel_min_rows": 0,
        }),
    )?;
    let catalog = discover(tap, &tap_config, work, scenario.log_based)?;
    let state_path = work.join("state.json");
    let mut state: Option<String> = None;
    let mut rng = Rng::new(scenario.seed);
    // Bytes a complete run writes, roughly (two tables, ~90 bytes a row):
    // kill thresholds are drawn below it.
    let run_bytes = scenario.rows.saturating_mul(2 * 90);
    let mut attempts = Vec::new();
    let mut checks = Vec::new();
    let mut landed = 0;
    let full_stream = stream_of(FULL_TABLE);
    // Rows per key of the FULL_TABLE stream after the previous attempt.
    let mut full_counts: HashMap<String, usize> = HashMap::new();
    let mut expected_duplicates = 0;
    let max_attempts = scenario.kills.saturating_mul(3).saturating_add(5);
    loop {
        let number = attempts.len() + 1;
        if number > max_attempts {
            return Err(Error::NoCleanRun {
                attempts: attempts.len(),
                last: attempts.last().map_or_else(String::new, |a: &Attempt| {
                    format!("tap {}, target {}", a.tap, a.target)
                }),
            });
        }
        let stage = (landed < scenario.kills).then(|| {
            let index = rng.between(0, (Stage::ALL.len() - 1) as u64);
            Stage::ALL
                .get(usize::try_from(index).unwrap_or(0))
                .copied()
                .unwrap_or(Stage::TapRead)
        });
        if let Some(state) = &state {
            std::fs::write(&state_path, state).map_err(io("writing", &state_path))?;
        }
        let mut attempt = attempt(
            number,
            stage,
            &mut rng,
            run_bytes,
            tap,
            &tap_config,
            &catalog,
            state.as_ref().map(|_| state_path.as_path()),
            destination,
            &logs,
        )?;
        let completed_before = completed_version(state.as_deref());
        if let Some(last) = last_state(&logs.join(format!("{number}.states")))? {
            state = Some(last);
        }
        // The state says the FULL_TABLE copy finished in this attempt, so its
        // version is activated: the destination must hold the table exactly
        // now, whatever was killed later in the attempt.
        let completed_now = completed_version(state.as_deref());
        let full_completed = completed_now.is_some() && completed_now != completed_before;
        // Rows this attempt committed past the last STATE written: the
        // resumed copy (same version) sends them again.
        let counts = key_counts(&destination.rows(&full_stream)?);
        if let Some(resume) = resume_point(state.as_deref()) {
            attempt.uncovered = counts
                .iter()
                .filter(|(key, _)| key.parse::<u64>().is_ok_and(|k| resume.covers(k)))
                .map(|(key, n)| n.saturating_sub(full_counts.get(key).copied().unwrap_or(0)))
                .sum();
        }
        expected_duplicates += attempt.uncovered;
        full_counts = counts;
        let clean = attempt.tap == "ok" && attempt.target == "ok";
        if attempt.landed {
            landed += 1;
        } else if !clean {
            return Err(Error::Failed {
                program: format!(
                    "attempt {number} without a kill (tap {}, target {})",
                    attempt.tap, attempt.target
                ),
                status: exit_status_failure(),
                stderr: tail_of_logs(&logs, number),
            });
        }
        let done = clean && landed >= scenario.kills;
        attempts.push(attempt);
        let mut streams = Vec::new();
        if full_completed || clean {
            let mut check = compare(client, destination, FULL_TABLE, true)?;
            check.expected_duplicates = expected_duplicates;
            expected_duplicates = 0;
            streams.push(check);
        }
        if clean {
            // A clean run leaves nothing of the incremental table behind.
            streams.push(compare(client, destination, INCREMENTAL_TABLE, false)?);
        }
        if !streams.is_empty() {
            checks.push(Check {
                after_attempt: number,
                streams,
            });
        }
        if done {
            break;
        }
        change_incremental(
            client,
            &mut rng,
            scenario.changes_per_attempt,
            number,
            scenario.log_based,
        )?;
    }
    Ok(Report {
        destination: destination.name().to_owned(),
        seed: scenario.seed,
        attempts,
        checks,
        upserts: destination.upserts(),
        elapsed: started.elapsed(),
    })
}
