//! Crash and resume: `tap-postgres | <target>` killed with SIGKILL at
//! random points, resumed each time from the last state line the target
//! wrote (what Meltano or any orchestrator saves), then the destination is
//! compared with the source.
//!
//! The source holds two tables of [`Scenario::rows`] rows each:
//! `crash_full` (synced FULL_TABLE: primary-key order, `last_pk_fetched`
//! resume under the same table version, ACTIVATE_VERSION at the end) and
//! `crash_incr` (INCREMENTAL on `updated_at`, with ties, so the `>=`
//! boundary matters). Between attempts the incremental table gets new rows
//! and updated rows, so a resume must also pick up changes.
//!
//! Kill stages ([`Stage`]) are drawn from a seeded RNG, so a failing seed
//! replays. The target is anything implementing [`Destination`]
//! ([`CsvDestination`] for `target-csv`); an upserting destination adds one
//! check (no duplicate keys in either table).
//!
//! Checks ([`Report::failures`]), after every clean run (both tables) and
//! after every attempt whose last state says the FULL_TABLE copy finished
//! (that table; its version is activated then, whatever was killed later):
//! - every source row (key and current value) is in the destination
//!   (nothing lost);
//! - FULL_TABLE: the destination holds exactly the source rows, each once
//!   (the activated version only), except rows that a kill between a
//!   commit and its STATE line left committed past the last STATE written
//!   ([`Attempt::uncovered`]: the resume sends them again; at-least-once);
//!   an upserting destination must have no duplicate at all;
//! - INCREMENTAL: duplicates are allowed (at-least-once) unless the
//!   destination upserts.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use singer_protocol::{Catalog, ReplicationMethod};
use singer_target_snowflake::{SnowflakeConfig, SnowflakeLoader};

use crate::error::{Error, Result, io};

/// The FULL_TABLE source table (and its stream `public-crash_full`).
pub const FULL_TABLE: &str = "crash_full";
/// The INCREMENTAL source table (and its stream `public-crash_incr`).
pub const INCREMENTAL_TABLE: &str = "crash_incr";
/// The key column of both tables.
pub const KEY: &str = "id";
/// The value column compared between source and destination.
pub const VALUE: &str = "payload";

/// The stream name tap-postgres gives a table of schema `public`.
#[must_use]
pub fn stream_of(table: &str) -> String {
    format!("public-{table}")
}

/// Where the loaded rows go: the target under test.
///
/// Implement it for another target and hand it to [`run`]:
/// [`CsvDestination`] reads files, [`SnowflakeDestination`] runs
/// `target-snowflake --config ...`, queries the table and upserts.
pub trait Destination {
    /// A short name for reports.
    fn name(&self) -> &str;
    /// The target's command line; the harness sets stdin (the tap's
    /// stdout), stdout (a file it reads the state from) and stderr.
    fn command(&self) -> Command;
    /// Bytes written so far, committed or not (for "kill after N bytes").
    fn progress(&self) -> u64;
    /// Commits published so far (for "kill right after a commit").
    fn commits(&self) -> u64;
    /// The committed rows of `stream` as (key, value) text pairs.
    ///
    /// # Errors
    ///
    /// When the destination cannot be read.
    fn rows(&self, stream: &str) -> Result<Vec<(String, String)>>;
    /// Whether the destination upserts on the key (no key twice).
    fn upserts(&self) -> bool;
}

/// `target-csv` writing `{stream}/{timestamp}-{run_id}-{part}.csv` files
/// under a directory, small batches, a commit after every batch.
#[derive(Debug, Clone)]
pub struct CsvDestination {
    binary: PathBuf,
    config: PathBuf,
    dir: PathBuf,
}

impl CsvDestination {
    /// Writes the target's config under `work_dir` (files go to
    /// `work_dir/csv`), with batches of `batch_rows` rows.
    ///
    /// # Errors
    ///
    /// When the config cannot be written.
    pub fn new(binary: PathBuf, work_dir: &Path, batch_rows: u64) -> Result<Self> {
        let dir = work_dir.join("csv");
        std::fs::create_dir_all(&dir).map_err(io("creating", &dir))?;
        let config = work_dir.join("target-csv.json");
        write_json(
            &config,
            &json!({
                "destination_path": dir,
                "file_naming_scheme": "{stream}/{timestamp}-{run_id}-{part}.csv",
                "batch_size_rows": batch_rows,
                "commit_interval_seconds": 0,
            }),
        )?;
        Ok(Self {
            binary,
            config,
            dir,
        })
    }

    /// Every file under the destination (recursively) with its size.
    fn files(&self) -> Vec<(PathBuf, u64)> {
        let mut files = Vec::new();
        let mut dirs = vec![self.dir.clone()];
        while let Some(dir) = dirs.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let Ok(meta) = entry.metadata() else {
                    continue;
                };
                if meta.is_dir() {
                    dirs.push(entry.path());
                } else {
                    files.push((entry.path(), meta.len()));
                }
            }
        }
        files
    }
}

impl Destination for CsvDestination {
    fn name(&self) -> &str {
        "target-csv"
    }

    fn command(&self) -> Command {
        let mut command = Command::new(&self.binary);
        command.arg("--config").arg(&self.config);
        command
    }

    fn progress(&self) -> u64 {
        self.files().iter().map(|(_, len)| len).sum()
    }

    fn commits(&self) -> u64 {
        let complete = self
            .files()
            .iter()
            .filter(|(path, _)| path.extension().is_some_and(|e| e == "csv"))
            .count();
        u64::try_from(complete).unwrap_or(u64::MAX)
    }

    fn rows(&self, stream: &str) -> Result<Vec<(String, String)>> {
        let dir = self.dir.join(stream);
        let mut rows = Vec::new();
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(rows);
        };
        let mut files: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "csv"))
            .collect();
        files.sort();
        for path in files {
            let csv_error = |source| Error::Csv {
                path: path.clone(),
                source,
            };
            let mut reader = csv::Reader::from_path(&path).map_err(csv_error)?;
            let headers = reader.headers().map_err(csv_error)?.clone();
            let column = |name: &str| {
                headers
                    .iter()
                    .position(|h| h == name)
                    .ok_or_else(|| Error::MissingColumn {
                        path: path.clone(),
                        column: name.to_owned(),
                    })
            };
            let (key, value) = (column(KEY)?, column(VALUE)?);
            for record in reader.records() {
                let record = record.map_err(csv_error)?;
                rows.push((
                    record.get(key).unwrap_or_default().to_owned(),
                    record.get(value).unwrap_or_default().to_owned(),
                ));
            }
        }
        Ok(rows)
    }

    fn upserts(&self) -> bool {
        false
    }
}

/// The schema [`SnowflakeDestination`] loads into.
pub const SNOWFLAKE_SCHEMA: &str = "RAW";

/// `target-snowflake` with `load_method` upsert (MERGE on the key) into
/// schema [`SNOWFLAKE_SCHEMA`] of a Snowflake endpoint (the double of
/// `singer_testkit::snowflake_double`), with record metadata so the
/// harness can see commits: every batch carries its own
/// `_sdc_batched_at`.
///
/// The target stages batches in session temporary tables and publishes
/// them only at a commit, so [`Destination::progress`] counts committed
/// rows (≈ 90 bytes each, as the CSV files hold) and
/// [`Destination::commits`] the `_sdc_batched_at` values seen appear. Both
/// poll the endpoint at most every [`SnowflakeDestination::POLL`] and
/// answer from the last poll in between.
pub struct SnowflakeDestination {
    binary: PathBuf,
    config_path: PathBuf,
    config: SnowflakeConfig,
    monitor: Mutex<Monitor>,
}

/// What the polls of a [`SnowflakeDestination`] saw so far.
#[derive(Default)]
struct Monitor {
    loader: Option<SnowflakeLoader>,
    polled: Option<Instant>,
    /// (table, `_sdc_batched_at`) pairs already counted.
    batches: HashSet<(String, String)>,
    rows: u64,
}

impl std::fmt::Debug for SnowflakeDestination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnowflakeDestination")
            .field("binary", &self.binary)
            .field("config_path", &self.config_path)
            .finish_non_exhaustive()
    }
}

impl SnowflakeDestination {
    /// The least time between two polls of the endpoint.
    pub const POLL: Duration = Duration::from_millis(150);

    /// Bytes a committed row stands for in [`Destination::progress`].
    const ROW_BYTES: u64 = 90;

    /// Writes the target's config under `work_dir`: `endpoint` (the
    /// double's URL), login session parameter `FAKESNOW_DB_PATH` =
    /// `database_path` (an isolated database of the double, which survives
    /// the target's reconnects and restarts), upsert, batches of
    /// `batch_rows` rows.
    ///
    /// # Errors
    ///
    /// When the config cannot be written or is not a valid target config.
    pub fn new(
        binary: PathBuf,
        work_dir: &Path,
        endpoint: &str,
        database_path: &str,
        batch_rows: u64,
    ) -> Result<Self> {
        std::fs::create_dir_all(work_dir).map_err(io("creating", work_dir))?;
        let config = json!({
            "account": "testaccount",
            "user": "tester",
            "password": "not-checked-by-the-double",
            "database": "CRASHDB",
            "default_target_schema": SNOWFLAKE_SCHEMA,
            "endpoint": endpoint,
            "session_parameters": {"FAKESNOW_DB_PATH": database_path},
            "load_method": "upsert",
            "add_record_metadata": true,
            "batch_size_rows": batch_rows,
        });
        let config_path = work_dir.join("target-snowflake.json");
        write_json(&config_path, &config)?;
        let config: SnowflakeConfig =
            serde_json::from_value(config).map_err(|source| Error::Json {
                what: "the target-snowflake config".to_owned(),
                source,
            })?;
        Ok(Self {
            binary,
            config_path,
            config,
            monitor: Mutex::new(Monitor::default()),
        })
    }

    /// The table `stream` loads into, quoted.
    fn table(stream: &str) -> String {
        let table = stream.split_once('-').map_or(stream, |(_, t)| t);
        format!("\"{SNOWFLAKE_SCHEMA}\".\"{}\"", table.to_ascii_uppercase())
    }

    /// Runs `sql` on the monitor's session (logging in on first use).
    fn query(
        monitor: &mut Monitor,
        config: &SnowflakeConfig,
        sql: &str,
    ) -> Result<Vec<Vec<Option<String>>>> {
        let loader = match &mut monitor.loader {
            Some(loader) => loader,
            slot @ None => slot.insert(SnowflakeLoader::new(config)?),
        };
        Ok(loader.query_text(sql)?)
    }

    /// The columns of `stream`'s table (none when it does not exist yet).
    fn columns(
        monitor: &mut Monitor,
        config: &SnowflakeConfig,
        stream: &str,
    ) -> Result<Vec<String>> {
        let table = stream.split_once('-').map_or(stream, |(_, t)| t);
        let rows = Self::query(
            monitor,
            config,
            &format!(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = '{SNOWFLAKE_SCHEMA}' AND table_name = '{}'",
                table.to_ascii_uppercase()
            ),
        )?;
        Ok(rows
            .into_iter()
            .filter_map(|row| row.into_iter().next().flatten())
            .map(|c| c.to_ascii_uppercase())
            .collect())
    }

    /// Polls the endpoint when the last poll is older than [`Self::POLL`]:
    /// the rows of `_sdc_batched_at` values not seen before.
    fn poll(&self) -> (u64, u64) {
        let Ok(mut monitor) = self.monitor.lock() else {
            return (0, 0);
        };
        if monitor.polled.is_none_or(|at| at.elapsed() >= Self::POLL) {
            for table in [FULL_TABLE, INCREMENTAL_TABLE] {
                let sql = format!(
                    "SELECT \"_SDC_BATCHED_AT\"::VARCHAR, COUNT(*) FROM {} GROUP BY 1",
                    Self::table(&stream_of(table))
                );
                // The table does not exist before the first commit.
                let Ok(rows) = Self::query(&mut monitor, &self.config, &sql) else {
                    continue;
                };
                for row in rows {
                    let mut cells = row.into_iter();
                    let batch = cells.next().flatten().unwrap_or_default();
                    let count = cells
                        .next()
                        .flatten()
                        .and_then(|n| n.parse::<u64>().ok())
                        .unwrap_or(0);
                    if monitor.batches.insert((table.to_owned(), batch)) {
                        monitor.rows = monitor.rows.saturating_add(count);
                    }
                }
            }
            monitor.polled = Some(Instant::now());
        }
        let commits = u64::try_from(monitor.batches.len()).unwrap_or(u64::MAX);
        (monitor.rows.saturating_mul(Self::ROW_BYTES), commits)
    }
}

impl Destination for SnowflakeDestination {
    fn name(&self) -> &str {
        "target-snowflake (upsert)"
    }

    fn command(&self) -> Command {
        let mut command = Command::new(&self.binary);
        command.arg("--config").arg(&self.config_path);
        command
    }

    fn progress(&self) -> u64 {
        self.poll().0
    }

    fn commits(&self) -> u64 {
        self.poll().1
    }

    fn rows(&self, stream: &str) -> Result<Vec<(String, String)>> {
        let mut monitor = self.monitor.lock().map_err(|_| Error::Scenario {
            reason: "the Snowflake monitor's lock is poisoned".to_owned(),
        })?;
        let columns = Self::columns(&mut monitor, &self.config, stream)?;
        if columns.is_empty() {
            return Ok(Vec::new());
        }
        // Rows an ACTIVATE_VERSION soft-deleted are not in the table any more.
        let live = if columns.iter().any(|c| c == "_SDC_DELETED_AT") {
            " WHERE \"_SDC_DELETED_AT\" IS NULL"
        } else {
            ""
        };
        let sql = format!(
            "SELECT \"{}\"::VARCHAR, \"{}\" FROM {}{live}",
            KEY.to_ascii_uppercase(),
            VALUE.to_ascii_uppercase(),
            Self::table(stream)
        );
        Ok(Self::query(&mut monitor, &self.config, &sql)?
            .into_iter()
            .map(|row| {
                let mut cells = row.into_iter();
                (
                    cells.next().flatten().unwrap_or_default(),
                    cells.next().flatten().unwrap_or_default(),
                )
            })
            .collect())
    }

    fn upserts(&self) -> bool {
        true
    }
}

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
        }
    }
}

impl Scenario {
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
        }
    }
}

/// One attempt of the pipeline.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// 1-based.
    pub number: usize,
    /// The kill planned for it, if any.
    pub stage: Option<Stage>,
    /// What triggered the kill (or why it did not land).
    pub trigger: String,
    /// Whether a kill hit a running process.
    pub landed: bool,
    /// The tap's exit.
    pub tap: String,
    /// The target's exit.
    pub target: String,
    /// STATE lines the target wrote.
    pub states: usize,
    /// FULL_TABLE rows this attempt committed past the last STATE the
    /// target wrote (a kill between a commit and its STATE line): the
    /// resumed copy sends them again, so they are duplicates by
    /// construction unless the destination upserts.
    pub uncovered: usize,
    /// Bytes the destination grew by (net: an activated version removes
    /// the files of earlier ones).
    pub bytes: u64,
    /// Wall time.
    pub elapsed: Duration,
}

/// The comparison of one stream with its source table.
#[derive(Debug, Clone, Default)]
pub struct StreamCheck {
    /// The stream.
    pub stream: String,
    /// Whether the stream is FULL_TABLE (exactly once expected).
    pub full_table: bool,
    /// Source rows.
    pub source_rows: usize,
    /// Destination rows (with duplicates).
    pub destination_rows: usize,
    /// Destination rows whose key was already seen.
    pub duplicates: usize,
    /// The most duplicates that kills between a commit and its STATE line
    /// explain ([`Attempt::uncovered`] summed since the previous FULL_TABLE
    /// check). Fewer is fine: target-csv removes, at ACTIVATE_VERSION, a
    /// file renamed into place before its version was recorded.
    pub expected_duplicates: usize,
    /// Source rows (key and current value) missing from the destination.
    pub missing: usize,
    /// Destination keys not in the source.
    pub unknown: usize,
    /// A few missing keys, for the report.
    pub missing_sample: Vec<String>,
}

/// The comparison of the destination with the source after a clean run
/// (both tables) or after an attempt that completed a FULL_TABLE copy (that
/// table).
#[derive(Debug, Clone)]
pub struct Check {
    /// The clean attempt it followed.
    pub after_attempt: usize,
    /// Per stream.
    pub streams: Vec<StreamCheck>,
}

/// What a scenario did and found.
#[derive(Debug, Clone)]
pub struct Report {
    /// The destination's name.
    pub destination: String,
    /// The scenario's seed.
    pub seed: u64,
    /// Every attempt, in order.
    pub attempts: Vec<Attempt>,
    /// The comparisons of destination and source after each clean run and
    /// each completed FULL_TABLE copy.
    pub checks: Vec<Check>,
    /// Whether the destination upserts.
    pub upserts: bool,
    /// Wall time of the whole scenario (seeding excluded).
    pub elapsed: Duration,
}

impl Report {
    /// Kills that hit a running process.
    #[must_use]
    pub fn kills(&self) -> usize {
        self.attempts.iter().filter(|a| a.landed).count()
    }

    /// Landed kills per stage.
    #[must_use]
    pub fn kills_by_stage(&self) -> BTreeMap<Stage, usize> {
        let mut by_stage = BTreeMap::new();
        for attempt in self.attempts.iter().filter(|a| a.landed) {
            if let Some(stage) = attempt.stage {
                *by_stage.entry(stage).or_insert(0) += 1;
            }
        }
        by_stage
    }

    /// Every violated expectation, in words; empty when the destination
    /// matches the source.
    #[must_use]
    pub fn failures(&self) -> Vec<String> {
        let mut failures = Vec::new();
        for check in self
            .checks
            .iter()
            .flat_map(|c| c.streams.iter().map(move |s| (c.after_attempt, s)))
        {
            let (after, check) = check;
            if check.missing > 0 {
                failures.push(format!(
                    "after attempt {after}: {}: {} source rows missing from the destination (e.g. keys {:?})",
                    check.stream, check.missing, check.missing_sample
                ));
            }
            if check.unknown > 0 {
                failures.push(format!(
                    "after attempt {after}: {}: {} destination keys not in the source",
                    check.stream, check.unknown
                ));
            }
            let allowed = if self.upserts || !check.full_table {
                0
            } else {
                check.expected_duplicates
            };
            if (check.full_table || self.upserts) && check.duplicates > allowed {
                failures.push(format!(
                    "after attempt {after}: {}: {} duplicate rows where at most {allowed} are explained by kills between a commit and its STATE line ({} rows for {} source rows){}",
                    check.stream,
                    check.duplicates,
                    check.destination_rows,
                    check.source_rows,
                    if self.upserts {
                        " in an upserting destination"
                    } else {
                        " in the activated FULL_TABLE version"
                    }
                ));
            }
        }
        failures
    }

    /// The report as text for a human.
    #[must_use]
    pub fn to_text(&self) -> String {
        let mut text = String::new();
        let _ = writeln!(
            text,
            "crash/resume against {} (seed {:#x}): {} attempts, {} kills landed, {:.1} s",
            self.destination,
            self.seed,
            self.attempts.len(),
            self.kills(),
            self.elapsed.as_secs_f64()
        );
        let window: Vec<&Attempt> = self.attempts.iter().filter(|a| a.uncovered > 0).collect();
        let _ = writeln!(
            text,
            "  {} kills landed between a commit and its STATE line ({} FULL_TABLE rows committed past the last STATE written)",
            window.len(),
            window.iter().map(|a| a.uncovered).sum::<usize>()
        );
        for (stage, n) in self.kills_by_stage() {
            let _ = writeln!(text, "  {:<22} {n:>4} kills", stage.as_str());
        }
        let _ = writeln!(
            text,
            "  {:>3}  {:<20} {:<30} {:<14} {:<14} {:>6} {:>9} {:>11} {:>7}",
            "#", "stage", "trigger", "tap", "target", "states", "uncovered", "Δbytes", "s"
        );
        for a in &self.attempts {
            let _ = writeln!(
                text,
                "  {:>3}  {:<20} {:<30} {:<14} {:<14} {:>6} {:>9} {:>11} {:>7.2}",
                a.number,
                a.stage.map_or("(none)", Stage::as_str),
                a.trigger,
                a.tap,
                a.target,
                a.states,
                a.uncovered,
                a.bytes,
                a.elapsed.as_secs_f64()
            );
        }
        for (after, c) in self
            .checks
            .iter()
            .flat_map(|c| c.streams.iter().map(move |s| (c.after_attempt, s)))
        {
            let _ = writeln!(
                text,
                "  after #{after:<3} {:<20} {:<11} source {:>8} rows, destination {:>8} rows, {:>6} duplicates{}, {} missing, {} unknown",
                c.stream,
                if c.full_table {
                    "FULL_TABLE"
                } else {
                    "INCREMENTAL"
                },
                c.source_rows,
                c.destination_rows,
                c.duplicates,
                if c.full_table {
                    format!(" (≤ {} allowed)", c.expected_duplicates)
                } else {
                    String::new()
                },
                c.missing,
                c.unknown
            );
        }
        let failures = self.failures();
        if failures.is_empty() {
            let _ = writeln!(
                text,
                "  result: OK (nothing lost; no duplicates where none are allowed)"
            );
        } else {
            for failure in failures {
                let _ = writeln!(text, "  FAILED: {failure}");
            }
        }
        text
    }
}

/// A small seeded generator (SplitMix64): reproducible, no dependency.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    #[must_use]
    pub const fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub const fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `low..=high` (`low` when `high < low`).
    pub const fn between(&mut self, low: u64, high: u64) -> u64 {
        if high <= low {
            return low;
        }
        let span = high - low;
        if span == u64::MAX {
            return self.next_u64();
        }
        low + self.next_u64() % (span + 1)
    }
}

/// Creates and fills the two source tables in database `db`.
///
/// # Errors
///
/// When a statement fails.
pub fn seed_source(client: &mut postgres::Client, rows: u64) -> Result<()> {
    let mut sql = String::new();
    for table in [FULL_TABLE, INCREMENTAL_TABLE] {
        // updated_at has ties (four rows per second), so an INCREMENTAL
        // resume from a bookmark in the middle of a tie must re-read it.
        let _ = write!(
            sql,
            "DROP TABLE IF EXISTS {table};
             CREATE TABLE {table} (
                 id bigint PRIMARY KEY,
                 updated_at timestamptz NOT NULL,
                 payload text NOT NULL,
                 note text
             );
             INSERT INTO {table}
             SELECT i, timestamptz '2024-01-01 00:00:00+00' + (i / 4) * interval '1 second',
                    md5(i::text), CASE WHEN i % 7 = 0 THEN NULL ELSE 'row, \"quoted\" ' || i END
             FROM generate_series(1, {rows}) AS i;
             ANALYZE {table};"
        );
    }
    execute(client, &sql)
}

fn execute(client: &mut postgres::Client, sql: &str) -> Result<()> {
    client.batch_execute(sql).map_err(|source| Error::Postgres {
        statement: sql.chars().take(120).collect(),
        source,
    })
}

/// Changes the incremental table between attempts: `n` new rows after the
/// last key, and `n` existing rows given a new value and a later
/// `updated_at` (so the next run must pick them up).
fn change_incremental(
    client: &mut postgres::Client,
    rng: &mut Rng,
    n: u64,
    round: usize,
) -> Result<()> {
    if n == 0 {
        return Ok(());
    }
    let pick = rng.next_u64();
    let sql = format!(
        "INSERT INTO {INCREMENTAL_TABLE}
         SELECT m + i, timestamptz '2030-01-01 00:00:00+00' + ({round} * interval '1 hour') + (i / 3) * interval '1 second',
                md5('new' || (m + i)::text), NULL
         FROM (SELECT max(id) AS m FROM {INCREMENTAL_TABLE}) AS t, generate_series(1, {n}) AS i;
         UPDATE {INCREMENTAL_TABLE}
         SET payload = md5(payload || '{round}'),
             updated_at = timestamptz '2030-01-01 00:00:00+00' + ({round} * interval '1 hour') + interval '30 minutes'
         WHERE id IN (SELECT id FROM {INCREMENTAL_TABLE} ORDER BY md5(id::text || '{pick}') LIMIT {n});"
    );
    execute(client, &sql)
}

/// The tap's connection settings.
#[derive(Debug, Clone)]
pub struct Source {
    /// Host.
    pub host: String,
    /// Port.
    pub port: u16,
    /// User.
    pub user: String,
    /// Database.
    pub dbname: String,
}

/// Runs the scenario: discovery, then attempts with kills until
/// [`Scenario::kills`] kills have landed and a final attempt ran clean,
/// then the comparison. `client` connects to the source database (seeded
/// with [`seed_source`]).
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
        }),
    )?;
    let catalog = discover(tap, &tap_config, work)?;
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
        if let Some(after) = resume_point(state.as_deref()) {
            attempt.uncovered = counts
                .iter()
                .filter(|(key, _)| key.parse::<u64>().is_ok_and(|k| k > after))
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
        change_incremental(client, &mut rng, scenario.changes_per_attempt, number)?;
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

/// Discovers, selects both tables (FULL_TABLE and INCREMENTAL on
/// `updated_at`) and writes the catalog.
fn discover(tap: &Path, config: &Path, work: &Path) -> Result<PathBuf> {
    let output = Command::new(tap)
        .arg("--config")
        .arg(config)
        .arg("--discover")
        .output()
        .map_err(io("running", tap))?;
    if !output.status.success() {
        return Err(Error::Failed {
            program: "tap-postgres --discover".to_owned(),
            status: output.status,
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    let mut catalog = Catalog::from_json(&String::from_utf8_lossy(&output.stdout))?;
    let root: [&str; 0] = [];
    for (table, method, key) in [
        (FULL_TABLE, ReplicationMethod::FullTable, None),
        (
            INCREMENTAL_TABLE,
            ReplicationMethod::Incremental,
            Some("updated_at"),
        ),
    ] {
        let stream = stream_of(table);
        let entry = catalog
            .streams
            .iter_mut()
            .find(|e| e.tap_stream_id == stream)
            .ok_or(Error::MissingStream { stream })?;
        entry.metadata.set(&root, "selected", json!(true));
        let keys = entry.key_properties()?;
        entry.set_replication(Some(method), key, &keys);
    }
    let path = work.join("catalog.json");
    let text = serde_json::to_string_pretty(&catalog).map_err(|source| Error::Json {
        what: "the catalog".to_owned(),
        source,
    })?;
    std::fs::write(&path, text).map_err(io("writing", &path))?;
    Ok(path)
}

/// Runs one attempt and kills per `stage`.
#[expect(
    clippy::too_many_arguments,
    reason = "one call site; a struct would only rename them"
)]
fn attempt(
    number: usize,
    stage: Option<Stage>,
    rng: &mut Rng,
    run_bytes: u64,
    tap: &Path,
    tap_config: &Path,
    catalog: &Path,
    state: Option<&Path>,
    destination: &dyn Destination,
    logs: &Path,
) -> Result<Attempt> {
    let started = Instant::now();
    let bytes_before = destination.progress();
    let commits_before = destination.commits();
    let log = |suffix: &str| {
        let path = logs.join(format!("{number}.{suffix}"));
        File::create(&path).map_err(io("creating", path))
    };
    let mut tap_command = Command::new(tap);
    tap_command
        .arg("--config")
        .arg(tap_config)
        .arg("--catalog")
        .arg(catalog);
    if let Some(state) = state {
        tap_command.arg("--state").arg(state);
    }
    let mut tap_child = tap_command
        .stdout(Stdio::piped())
        .stderr(log("tap.log")?)
        .spawn()
        .map_err(io("starting", tap))?;
    let tap_stdout = tap_child.stdout.take().ok_or_else(|| Error::Scenario {
        reason: "the tap's stdout was not captured".to_owned(),
    })?;
    let mut target_child = match destination
        .command()
        .stdin(Stdio::from(tap_stdout))
        .stdout(log("states")?)
        .stderr(log("target.log")?)
        .spawn()
    {
        Ok(child) => child,
        Err(error) => {
            let _ = tap_child.kill();
            let _ = tap_child.wait();
            return Err(Error::Io {
                action: "starting",
                path: PathBuf::from(destination.name()),
                source: error,
            });
        }
    };

    // The kill point.
    let threshold = rng.between(1, run_bytes);
    let nth_commit = rng.between(1, 4);
    let delay = Duration::from_millis(rng.between(0, 300));
    let mut trigger = String::new();
    let mut landed = false;
    if let Some(stage) = stage {
        loop {
            let grown = destination.progress().saturating_sub(bytes_before);
            let fire = match stage {
                Stage::TapStart => started.elapsed() >= delay,
                Stage::TapRead | Stage::TargetMidBatch | Stage::Both => grown >= threshold,
                Stage::TargetAfterCommit => {
                    destination.commits().saturating_sub(commits_before) >= nth_commit
                }
            };
            let tap_running = matches!(tap_child.try_wait(), Ok(None));
            let target_running = matches!(target_child.try_wait(), Ok(None));
            if fire {
                trigger = match stage {
                    Stage::TapStart => format!("after {} ms", delay.as_millis()),
                    Stage::TargetAfterCommit => format!("after commit #{nth_commit}"),
                    _ => format!("after {grown} B (≥ {threshold})"),
                };
                let (kill_tap, kill_target) = match stage {
                    Stage::TapStart | Stage::TapRead => (true, false),
                    Stage::TargetMidBatch | Stage::TargetAfterCommit => (false, true),
                    Stage::Both => (true, true),
                };
                // SIGKILL (std's Child::kill): no handler runs.
                if kill_tap && tap_running && tap_child.kill().is_ok() {
                    landed = true;
                }
                if kill_target && target_running && target_child.kill().is_ok() {
                    landed = true;
                }
                if !landed {
                    trigger.push_str(", too late");
                }
                break;
            }
            if !tap_running && !target_running {
                trigger = "finished first".to_owned();
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let target_status = wait_bounded(&mut target_child, Duration::from_secs(120));
    // With the target gone the tap fails on its next write; it must not hang.
    let tap_status = wait_bounded(&mut tap_child, Duration::from_secs(60));
    let states_path = logs.join(format!("{number}.states"));
    let states = std::fs::read_to_string(&states_path)
        .map_err(io("reading", &states_path))?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count();
    Ok(Attempt {
        number,
        stage,
        trigger,
        landed,
        tap: describe(tap_status),
        target: describe(target_status),
        states,
        uncovered: 0,
        bytes: destination.progress().saturating_sub(bytes_before),
        elapsed: started.elapsed(),
    })
}

/// Waits for `child` up to `limit`, then kills it (and says so).
fn wait_bounded(child: &mut Child, limit: Duration) -> std::result::Result<ExitStatus, String> {
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status),
            Ok(None) if started.elapsed() < limit => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("hung > {} s", limit.as_secs()));
            }
            Err(error) => return Err(error.to_string()),
        }
    }
}

fn describe(status: std::result::Result<ExitStatus, String>) -> String {
    use std::os::unix::process::ExitStatusExt as _;
    match status {
        Ok(status) if status.success() => "ok".to_owned(),
        Ok(status) => status.code().map_or_else(
            || format!("signal {}", status.signal().unwrap_or_default()),
            |code| format!("exit {code}"),
        ),
        Err(why) => why,
    }
}

fn exit_status_failure() -> ExitStatus {
    use std::os::unix::process::ExitStatusExt as _;
    ExitStatus::from_raw(1 << 8)
}

fn tail_of_logs(logs: &Path, number: usize) -> String {
    let mut text = String::new();
    for suffix in ["tap.log", "target.log"] {
        let path = logs.join(format!("{number}.{suffix}"));
        let content = std::fs::read_to_string(&path).unwrap_or_default();
        let lines: Vec<&str> = content.lines().collect();
        let _ = writeln!(text, "--- {}", path.display());
        for line in lines.iter().skip(lines.len().saturating_sub(15)) {
            let _ = writeln!(text, "{line}");
        }
    }
    text
}

/// The table version of the FULL_TABLE stream when `state` says its copy
/// is complete (a version, no `last_pk_fetched`, not currently syncing).
fn completed_version(state: Option<&str>) -> Option<u64> {
    let state: Value = serde_json::from_str(state?).ok()?;
    let stream = stream_of(FULL_TABLE);
    let bookmark = state.get("bookmarks")?.get(&stream)?;
    let syncing = state.get("currently_syncing").and_then(Value::as_str) == Some(stream.as_str());
    if syncing || bookmark.get("last_pk_fetched").is_some() {
        return None;
    }
    bookmark.get("version")?.as_u64()
}

/// Where a resumed FULL_TABLE copy continues under the same version: after
/// `last_pk_fetched` (0: from the start) when `state` has the stream's
/// version and the copy is unfinished; `None` when no copy is in progress
/// or the next one starts a new version.
fn resume_point(state: Option<&str>) -> Option<u64> {
    let state: Value = serde_json::from_str(state?).ok()?;
    let bookmark = state.get("bookmarks")?.get(stream_of(FULL_TABLE))?;
    bookmark.get("version")?;
    if completed_version(Some(&state.to_string())).is_some() {
        return None;
    }
    Some(
        bookmark
            .get("last_pk_fetched")
            .and_then(|pk| pk.get(KEY))
            .and_then(Value::as_u64)
            .unwrap_or(0),
    )
}

fn key_counts(rows: &[(String, String)]) -> HashMap<String, usize> {
    let mut counts = HashMap::with_capacity(rows.len());
    for (key, _) in rows {
        *counts.entry(key.clone()).or_insert(0) += 1;
    }
    counts
}

/// The last complete line of the target's stdout that is a JSON object:
/// the state an orchestrator would save.
fn last_state(path: &Path) -> Result<Option<String>> {
    let text = std::fs::read_to_string(path).map_err(io("reading", path))?;
    // A line cut by the kill has no newline: not written, not saved.
    let complete = text
        .rfind('\n')
        .map_or("", |end| text.get(..end).unwrap_or(""));
    Ok(complete
        .lines()
        .rev()
        .map(str::trim)
        .find(|line| serde_json::from_str::<Value>(line).is_ok_and(|v| v.is_object()))
        .map(str::to_owned))
}

/// Compares a destination stream with its source table.
fn compare(
    client: &mut postgres::Client,
    destination: &dyn Destination,
    table: &str,
    full_table: bool,
) -> Result<StreamCheck> {
    let statement = format!("SELECT id::text, {VALUE} FROM {table}");
    let source_rows = client
        .query(statement.as_str(), &[])
        .map_err(|source| Error::Postgres {
            statement: statement.clone(),
            source,
        })?;
    let mut source: HashMap<String, String> = HashMap::with_capacity(source_rows.len());
    for row in &source_rows {
        let key: String = row.try_get(0).map_err(|source| Error::Postgres {
            statement: statement.clone(),
            source,
        })?;
        let value: String = row.try_get(1).map_err(|source| Error::Postgres {
            statement: statement.clone(),
            source,
        })?;
        source.insert(key, value);
    }
    let stream = stream_of(table);
    let rows = destination.rows(&stream)?;
    let mut check = StreamCheck {
        stream,
        full_table,
        source_rows: source.len(),
        destination_rows: rows.len(),
        ..StreamCheck::default()
    };
    // Key → the values the destination holds for it.
    let mut seen: HashMap<&str, Vec<&str>> = HashMap::with_capacity(rows.len());
    for (key, value) in &rows {
        let values = seen.entry(key.as_str()).or_default();
        if !values.is_empty() {
            check.duplicates += 1;
        }
        values.push(value.as_str());
        if !source.contains_key(key) {
            check.unknown += 1;
        }
    }
    let mut missing: Vec<&String> = source
        .iter()
        .filter(|(key, value)| {
            !seen
                .get(key.as_str())
                .is_some_and(|values| values.contains(&value.as_str()))
        })
        .map(|(key, _)| key)
        .collect();
    missing.sort_by_key(|k| k.parse::<u64>().unwrap_or(u64::MAX));
    check.missing = missing.len();
    check.missing_sample = missing.into_iter().take(10).cloned().collect();
    Ok(check)
}

fn write_json(path: &Path, value: &Value) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|source| Error::Json {
        what: path.display().to_string(),
        source,
    })?;
    std::fs::write(path, text).map_err(io("writing", path))
}
