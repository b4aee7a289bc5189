//! `target-snowflake` (upsert) as a [`Destination`]: a table per stream in
//! a Snowflake endpoint (the double), watched by polling.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::json;
use singer_target_snowflake::{SnowflakeConfig, SnowflakeLoader};

use super::{Destination, Target};
use crate::crash::{FULL_TABLE, INCREMENTAL_TABLE, KEY, VALUE, stream_of, write_json};
use crate::error::{Error, Result, io};

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
    target: Target,
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
            .field("binary", &self.target.binary)
            .field("config_path", &self.target.config)
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
            target: Target {
                binary,
                config: config_path,
            },
            config,
            monitor: Mutex::new(Monitor::default()),
        })
    }

    /// The name of the table `stream` loads into (the stream name without
    /// its schema prefix, upper case), unquoted.
    fn table_name(stream: &str) -> String {
        stream
            .split_once('-')
            .map_or(stream, |(_, t)| t)
            .to_ascii_uppercase()
    }

    /// The table `stream` loads into, quoted.
    fn table(stream: &str) -> String {
        format!("\"{SNOWFLAKE_SCHEMA}\".\"{}\"", Self::table_name(stream))
    }

    /// The files left on the target schema's default stage (none after a
    /// clean run: each commit removes its files, and a table's first batch
    /// in a run removes what a killed run left).
    ///
    /// # Errors
    ///
    /// When the double cannot be queried.
    pub fn staged_files(&self) -> Result<Vec<String>> {
        let mut monitor = self
            .monitor
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let rows = Self::query(
            &mut monitor,
            &self.config,
            &format!("LIST @{SNOWFLAKE_SCHEMA}.SINGER_RS_FILES"),
        )?;
        Ok(rows
            .into_iter()
            .filter_map(|row| row.into_iter().next().flatten())
            .collect())
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
        let rows = Self::query(
            monitor,
            config,
            &format!(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = '{SNOWFLAKE_SCHEMA}' AND table_name = '{}'",
                Self::table_name(stream)
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
        self.target.command()
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
