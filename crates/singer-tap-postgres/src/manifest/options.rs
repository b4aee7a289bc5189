//! What a manifest run is asked to do: the load type, stream naming, the
//! execution date and window, and upstream's environment variables.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use singer_protocol::temporal;

use super::allowlist::AllowLists;
use super::parse::TableSpec;
use crate::error::{Error, Result};
use crate::sync::SyncOptions;

/// A manifest-mode option (a flag or an environment variable) whose value
/// is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OptionError {
    /// Not a timestamp [`parse_timestamp`] reads.
    #[error(
        "{text:?} is not a timestamp (RFC 3339, `YYYY-MM-DD HH:MM:SS` in UTC, or `YYYY-MM-DD`)"
    )]
    Timestamp {
        /// The text given.
        text: String,
    },
    /// Not a [`LoadType`].
    #[error("load type {text:?} is not one of incremental, full (scd), load-by-id, backfill")]
    LoadType {
        /// The text given.
        text: String,
    },
    /// Not a [`StreamNaming`].
    #[error("stream naming {text:?} is not one of upstream, export-table, key")]
    StreamNaming {
        /// The text given.
        text: String,
    },
    /// A count (`HOURS`, `DAYS`) that is not a whole, non-negative number.
    #[error("{variable}: {text:?} is not a whole, non-negative number")]
    Count {
        /// The variable.
        variable: &'static str,
        /// Its value.
        text: String,
    },
    /// An environment variable whose value is unusable.
    #[error("{variable}")]
    Variable {
        /// The variable.
        variable: &'static str,
        /// What is wrong with its value.
        #[source]
        source: Box<OptionError>,
    },
}

/// What `--load-type` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadType {
    /// Incremental tables: time windows, and load-by-id tables.
    Incremental,
    /// Full (SCD) tables: a complete copy stamped with `_uploaded_at`.
    Full,
    /// Load-by-id tables only.
    LoadById,
    /// Every table that is new to the state or selects new columns (or has
    /// an unfinished backfill): a complete reload as a new table version.
    Backfill,
    /// Every table without `deletes_exempt: true`: its primary keys as the
    /// stream's key set (deletes detection), no rows.
    Deletes,
}

impl LoadType {
    /// The CLI spelling.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Incremental => "incremental",
            Self::Full => "full",
            Self::LoadById => "load-by-id",
            Self::Backfill => "backfill",
            Self::Deletes => "deletes",
        }
    }
}

impl std::str::FromStr for LoadType {
    type Err = OptionError;

    fn from_str(text: &str) -> Result<Self, OptionError> {
        match text.to_ascii_lowercase().replace('_', "-").as_str() {
            "incremental" => Ok(Self::Incremental),
            "full" | "scd" => Ok(Self::Full),
            "load-by-id" => Ok(Self::LoadById),
            "backfill" => Ok(Self::Backfill),
            "deletes" => Ok(Self::Deletes),
            _ => Err(OptionError::LoadType {
                text: text.to_owned(),
            }),
        }
    }
}

/// How a table's stream is named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StreamNaming {
    /// Upstream's target table: `upper(import_db + "_" + export_table)`.
    #[default]
    Upstream,
    /// `export_table` as written.
    ExportTable,
    /// The table's key in the manifest.
    Key,
}

impl std::str::FromStr for StreamNaming {
    type Err = OptionError;

    fn from_str(text: &str) -> Result<Self, OptionError> {
        match text.to_ascii_lowercase().replace('_', "-").as_str() {
            "upstream" => Ok(Self::Upstream),
            "export-table" => Ok(Self::ExportTable),
            "key" => Ok(Self::Key),
            _ => Err(OptionError::StreamNaming {
                text: text.to_owned(),
            }),
        }
    }
}

impl StreamNaming {
    /// The stream name of `table`.
    #[must_use]
    pub fn name(self, table: &TableSpec) -> String {
        match self {
            Self::Upstream => table.upstream_name(),
            Self::ExportTable => table.export_table.clone(),
            Self::Key => table.key.clone(),
        }
    }
}

/// How a manifest run goes.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ManifestOptions {
    /// Which tables and how.
    pub load_type: LoadType,
    /// Table keys to load (empty: every table the load type covers).
    pub tables: Vec<String>,
    /// The run's execution date (`--execution-date`, `EXECUTION_DATE`).
    pub execution_date: DateTime<Utc>,
    /// The `_uploaded_at` of this run (one value per run).
    pub uploaded_at: DateTime<Utc>,
    /// The longest incremental window and the window without state
    /// (`HOURS`, `DAYS`; default 96 h).
    pub window: TimeDelta,
    /// Incremental overlap before the high-water mark (default 30 min).
    pub overlap: TimeDelta,
    /// Ids per key range (default 5,000,000): ranges are `[a, a+step-1]`.
    pub step: u64,
    /// `_task_instance` for tables with `advanced_metadata` (`TASK_INSTANCE`).
    pub task_instance: Option<String>,
    /// How streams are named.
    pub stream_naming: StreamNaming,
    /// Freshness gate: fail when the replica's last replayed transaction is
    /// older than this.
    pub max_replica_lag: Option<TimeDelta>,
    /// Cap incremental END at the replica's replay time.
    pub cap_end_at_replay: bool,
    /// The allow lists for the `INTERNAL_*` tokens.
    pub allow_lists: AllowLists,
    /// Retries and value policy (catalog mode's options).
    pub sync: SyncOptions,
}

impl Default for ManifestOptions {
    fn default() -> Self {
        let now = Utc::now();
        Self {
            load_type: LoadType::Incremental,
            tables: Vec::new(),
            execution_date: now,
            uploaded_at: now,
            window: TimeDelta::hours(96),
            overlap: TimeDelta::minutes(30),
            step: 5_000_000,
            task_instance: None,
            stream_naming: StreamNaming::Upstream,
            max_replica_lag: None,
            cap_end_at_replay: false,
            allow_lists: AllowLists::default(),
            sync: SyncOptions::default(),
        }
    }
}

impl ManifestOptions {
    /// Sets the freshness gate ([`max_replica_lag`](Self::max_replica_lag))
    /// from a std [`Duration`] (`None`: no gate); a lag too long for
    /// chrono's range is the longest it holds.
    ///
    /// ```
    /// use std::time::Duration;
    /// use singer_tap_postgres::manifest::ManifestOptions;
    ///
    /// let mut options = ManifestOptions::default();
    /// options.set_max_replica_lag(Some(Duration::from_secs(12 * 3600)));
    /// assert_eq!(options.max_replica_lag.map(|lag| lag.num_hours()), Some(12));
    /// options.set_max_replica_lag(None);
    /// assert!(options.max_replica_lag.is_none());
    /// ```
    pub fn set_max_replica_lag(&mut self, lag: Option<Duration>) {
        self.max_replica_lag = lag.map(|lag| TimeDelta::from_std(lag).unwrap_or(TimeDelta::MAX));
    }

    /// Applies upstream's environment: `EXECUTION_DATE`, `HOURS` (or
    /// `DAYS`, in whole days) as the window, `TASK_INSTANCE`.
    ///
    /// # Errors
    ///
    /// An [`OptionError`] naming the variable whose value is unusable.
    pub fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> Result<(), OptionError> {
        if let Some(text) = env("EXECUTION_DATE").filter(|t| !t.trim().is_empty()) {
            self.execution_date =
                parse_timestamp(&text).map_err(|source| OptionError::Variable {
                    variable: "EXECUTION_DATE",
                    source: Box::new(source),
                })?;
        }
        let hours = |variable: &'static str, per: i64| -> Result<Option<TimeDelta>, OptionError> {
            let Some(text) = env(variable).filter(|t| !t.trim().is_empty()) else {
                return Ok(None);
            };
            let count: u32 = text
                .trim()
                .parse()
                .map_err(|_| OptionError::Count { variable, text })?;
            Ok(Some(TimeDelta::hours(i64::from(count) * per)))
        };
        if let Some(window) = hours("HOURS", 1)? {
            self.window = window;
        } else if let Some(window) = hours("DAYS", 24)? {
            self.window = window;
        }
        if let Some(task) = env("TASK_INSTANCE") {
            self.task_instance = Some(task);
        }
        Ok(())
    }

    /// The allow lists a configuration names.
    ///
    /// # Errors
    ///
    /// [`Error::AllowList`] naming the file and line.
    pub fn load_allow_lists(&mut self, config: &crate::TapConfig) -> Result<()> {
        self.allow_lists = AllowLists::load(
            config.internal_projects_file.as_deref(),
            config.internal_namespaces_file.as_deref(),
        )
        .map_err(|source| Error::AllowList { source })?;
        Ok(())
    }
}

/// Parses an execution date: RFC 3339, `YYYY-MM-DD HH:MM:SS[.ffffff]` or
/// with `T` (UTC), or `YYYY-MM-DD` (midnight UTC).
///
/// ```
/// use singer_tap_postgres::manifest::{OptionError, parse_timestamp};
///
/// let midnight = parse_timestamp("2024-06-05")?;
/// assert_eq!(parse_timestamp("2024-06-05T02:00:00+02:00")?, midnight);
/// assert_eq!(parse_timestamp("2024-06-05 00:00:00")?, midnight);
/// assert_eq!(
///     parse_timestamp("yesterday"),
///     Err(OptionError::Timestamp { text: "yesterday".into() })
/// );
/// # Ok::<(), OptionError>(())
/// ```
///
/// # Errors
///
/// [`OptionError::Timestamp`] naming the text.
pub fn parse_timestamp(text: &str) -> Result<DateTime<Utc>, OptionError> {
    let text = text.trim();
    let utc = match temporal::parse_date_time(text) {
        Some(parts) => parts.to_utc(),
        None => temporal::parse_date(text)
            .and_then(|date| date.to_naive())
            .and_then(|date| date.and_hms_opt(0, 0, 0))
            .map(|midnight| midnight.and_utc()),
    };
    utc.ok_or_else(|| OptionError::Timestamp {
        text: text.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(text: &str) -> DateTime<Utc> {
        parse_timestamp(text).expect("timestamp")
    }

    #[test]
    fn upstream_environment() {
        let mut options = ManifestOptions::default();
        let env = |name: &str| match name {
            "EXECUTION_DATE" => Some("2024-06-05T00:00:00+00:00".to_owned()),
            "DAYS" => Some("2".to_owned()),
            "TASK_INSTANCE" => Some("el_gitlab_com-2024-06-05".to_owned()),
            _ => None,
        };
        options.apply_env(env).expect("valid");
        assert_eq!(options.execution_date, t("2024-06-05"));
        assert_eq!(options.window, TimeDelta::hours(48));
        assert_eq!(
            options.task_instance.as_deref(),
            Some("el_gitlab_com-2024-06-05")
        );
        let bad = |name: &str| (name == "HOURS").then(|| "many".to_owned());
        assert_eq!(
            options.apply_env(bad).map_err(|e| e.to_string()),
            Err("HOURS: \"many\" is not a whole, non-negative number".to_owned())
        );
    }
}
