//! Manifest-mode loads: incremental windows, full (SCD) copies by key
//! range, load-by-id and backfills, emitted as ordinary Singer messages.
//!
//! State (one bookmark per stream, in the bookmark's extra keys):
//! `high_water_mark` (incremental END, RFC 3339 UTC), `max_id` (load-by-id),
//! `columns` (the query's columns at the last full copy or backfill, for
//! backfill detection), and while a full copy or backfill is unfinished
//! `in_progress` (`"full"`/`"backfill"`), `last_finished_range` (`[a, b]`)
//! and `run_uploaded_at` (so a resumed copy keeps one `_uploaded_at`); a
//! backfill's table version is the bookmark's `version`.

use std::io::Write;
use std::time::Instant;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta, Utc};
use postgres::types::{Kind, Type};
use postgres::{Client, IsolationLevel};
use serde_json::{Map, Value, json};
use singer_protocol::{ActivateVersionMessage, Message, SchemaMessage, Writer};
use singer_state::State;
use tracing::{debug, info, warn};

use super::allowlist::AllowLists;
use super::parse::{Manifest, TableKind, TableSpec};
use super::template;
use crate::connect::Connector;
use crate::error::{Error, Result};
use crate::sync::{
    PlanColumn, RecordLayout, SyncOptions, new_version, quote_ident, reconnect, stream_records,
    write_message, write_state,
};
use crate::types::{Codec, EncodeStats};

/// Bookmark key: the END of the last finished incremental window.
pub const HIGH_WATER_MARK: &str = "high_water_mark";
/// Bookmark key: the highest primary key a load-by-id extracted.
pub const MAX_ID: &str = "max_id";
/// Bookmark key: the query's columns at the last full copy or backfill.
pub const COLUMNS: &str = "columns";
/// Bookmark key: `[a, b]`, the last key range an unfinished copy finished.
pub const LAST_FINISHED_RANGE: &str = "last_finished_range";
/// Bookmark key: which copy (`"full"`, `"backfill"`) is unfinished.
pub const IN_PROGRESS: &str = "in_progress";
/// Bookmark key: the `_uploaded_at` of an unfinished copy.
pub const RUN_UPLOADED_AT: &str = "run_uploaded_at";
/// The metadata column every record carries: the run's epoch seconds.
pub const UPLOADED_AT: &str = "_uploaded_at";
/// The metadata column of tables with `advanced_metadata: true`.
pub const TASK_INSTANCE: &str = "_task_instance";

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
        }
    }
}

impl std::str::FromStr for LoadType {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text.to_ascii_lowercase().replace('_', "-").as_str() {
            "incremental" => Ok(Self::Incremental),
            "full" | "scd" => Ok(Self::Full),
            "load-by-id" => Ok(Self::LoadById),
            "backfill" => Ok(Self::Backfill),
            _ => Err(format!(
                "load type {text:?} is not one of incremental, full (scd), load-by-id, backfill"
            )),
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
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text.to_ascii_lowercase().replace('_', "-").as_str() {
            "upstream" => Ok(Self::Upstream),
            "export-table" => Ok(Self::ExportTable),
            "key" => Ok(Self::Key),
            _ => Err(format!(
                "stream naming {text:?} is not one of upstream, export-table, key"
            )),
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
    /// Applies upstream's environment: `EXECUTION_DATE`, `HOURS` (or
    /// `DAYS`, in whole days) as the window, `TASK_INSTANCE`.
    ///
    /// # Errors
    ///
    /// A message naming the variable whose value is unusable.
    pub fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> Result<(), String> {
        if let Some(text) = env("EXECUTION_DATE").filter(|t| !t.trim().is_empty()) {
            self.execution_date =
                parse_timestamp(&text).map_err(|e| format!("EXECUTION_DATE: {e}"))?;
        }
        let hours = |name: &str, per: i64| -> Result<Option<TimeDelta>, String> {
            let Some(text) = env(name).filter(|t| !t.trim().is_empty()) else {
                return Ok(None);
            };
            let count: u32 = text
                .trim()
                .parse()
                .map_err(|_| format!("{name}: {text:?} is not a whole, non-negative number"))?;
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

/// What a table's load did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableAction {
    /// An incremental time window.
    Incremental,
    /// Rows after the highest id loaded.
    LoadById,
    /// A full (SCD) copy.
    Full,
    /// A complete reload as a new table version.
    Backfill,
}

impl TableAction {
    const fn as_str(self) -> &'static str {
        match self {
            Self::Incremental => "incremental",
            Self::LoadById => "load-by-id",
            Self::Full => "full",
            Self::Backfill => "backfill",
        }
    }
}

/// What one table's load did.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TableSummary {
    /// The table's key in the manifest.
    pub table: String,
    /// The stream.
    pub stream: String,
    /// The load done.
    pub action: TableAction,
    /// Records emitted.
    pub records: u64,
    /// Reconnects after transient failures.
    pub retries: u32,
    /// Wall time in seconds.
    pub seconds: f64,
}

/// Where the source stands as a replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaStatus {
    /// Not in recovery: a primary (its data is current).
    Primary,
    /// A hot standby.
    Standby {
        /// `pg_last_xact_replay_timestamp()`.
        replay: Option<DateTime<Utc>>,
        /// The server's `now()`.
        now: DateTime<Utc>,
    },
}

/// Applies the freshness gate and returns the cap for END, if any.
///
/// On a primary (`pg_is_in_recovery()` false, where
/// `pg_last_xact_replay_timestamp()` is NULL) the data is current: the gate
/// passes and END is not capped.
///
/// # Errors
///
/// [`Error::ReplicaStale`] past the limit, [`Error::ReplicaNotReplayed`]
/// for a standby that has replayed nothing (when the gate or the cap is on).
pub fn check_replica(
    status: ReplicaStatus,
    max_lag: Option<TimeDelta>,
    cap: bool,
) -> Result<Option<DateTime<Utc>>> {
    match status {
        ReplicaStatus::Primary => {
            if max_lag.is_some() || cap {
                info!(
                    "The source is not a standby: the freshness gate passes and END is not capped."
                );
            }
            Ok(None)
        }
        ReplicaStatus::Standby { replay: None, .. } if max_lag.is_some() || cap => {
            Err(Error::ReplicaNotReplayed)
        }
        ReplicaStatus::Standby { replay: None, .. } => Ok(None),
        ReplicaStatus::Standby {
            replay: Some(replay),
            now,
        } => {
            let age = now.signed_duration_since(replay);
            if let Some(limit) = max_lag
                && age > limit
            {
                return Err(Error::ReplicaStale {
                    replay: timestamp_text(replay),
                    age: human(age),
                    limit: human(limit),
                });
            }
            info!(replay = %timestamp_text(replay), lag_seconds = age.num_seconds(), "Replica freshness checked.");
            Ok(cap.then_some(replay))
        }
    }
}

/// `(BEGIN, END)` of a time window, UTC.
pub type Window = (DateTime<Utc>, DateTime<Utc>);

/// The incremental window `(BEGIN, END)`: END = min(execution date, cap,
/// BEGIN + window); BEGIN = high-water mark − overlap, or END − window
/// without one.
///
/// # Errors
///
/// `(BEGIN, END)` when BEGIN is after END.
pub fn incremental_window(
    high_water_mark: Option<DateTime<Utc>>,
    execution_date: DateTime<Utc>,
    window: TimeDelta,
    overlap: TimeDelta,
    cap: Option<DateTime<Utc>>,
) -> Result<Window, Window> {
    let limit = cap.map_or(execution_date, |c| c.min(execution_date));
    let (begin, end) = match high_water_mark {
        Some(mark) => {
            let begin = mark - overlap;
            (begin, limit.min(begin + window))
        }
        None => (limit - window, limit),
    };
    if begin > end {
        return Err((begin, end));
    }
    Ok((begin, end))
}

/// Parses an execution date: RFC 3339, `YYYY-MM-DD HH:MM:SS[.ffffff]` or
/// with `T` (UTC), or `YYYY-MM-DD` (midnight UTC).
///
/// # Errors
///
/// A message naming the text.
pub fn parse_timestamp(text: &str) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f%:z",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(t.and_utc());
        }
        if let Ok(t) = DateTime::parse_from_str(text, format) {
            return Ok(t.with_timezone(&Utc));
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        && let Some(t) = d.and_hms_opt(0, 0, 0)
    {
        return Ok(t.and_utc());
    }
    Err(format!(
        "{text:?} is not a timestamp (RFC 3339, `YYYY-MM-DD HH:MM:SS` in UTC, or `YYYY-MM-DD`)"
    ))
}

/// Loads the manifest's tables as `options` asks, starting from `state`,
/// writing SCHEMA, RECORD, ACTIVATE_VERSION (backfills) and STATE to `out`.
///
/// # Errors
///
/// Any [`Error`]: [`Error::Manifest`] for an unknown `--table`,
/// [`Error::Table`] for a table that cannot be loaded as asked,
/// [`Error::Window`], the freshness gate's errors, and query or output
/// errors. STATE already written covers only finished work.
pub fn sync_manifest<W: Write>(
    connector: &Connector,
    manifest: &Manifest,
    mut state: State,
    options: &ManifestOptions,
    out: &mut Writer<W>,
) -> Result<Vec<TableSummary>> {
    let mut plans = plan_tables(manifest, options)?;
    if plans.is_empty() {
        warn!(
            load_type = options.load_type.as_str(),
            "No manifest table has this load type: nothing to load."
        );
        return Ok(Vec::new());
    }
    // An interrupted run resumes its unfinished table first.
    if let Some(current) = state.currently_syncing.clone()
        && let Some(index) = plans.iter().position(|p| p.stream == current)
    {
        let plan = plans.remove(index);
        plans.insert(0, plan);
    }
    let mut client = connector.connect()?;
    let cap = if options.max_replica_lag.is_some() || options.cap_end_at_replay {
        let status = replica_status(&mut client)?;
        check_replica(status, options.max_replica_lag, options.cap_end_at_replay)?
    } else {
        None
    };
    let mut summaries = Vec::new();
    let mut run = Run {
        connector,
        options,
        client,
        cap,
    };
    for plan in &plans {
        if let Some(summary) = run.table(plan, &mut state, out)? {
            summaries.push(summary);
        }
    }
    state.set_currently_syncing(None);
    write_state(out, &state)?;
    Ok(summaries)
}

/// A table to load and how.
struct TablePlan<'m> {
    spec: &'m TableSpec,
    stream: String,
    action: TableAction,
}

fn plan_tables<'m>(
    manifest: &'m Manifest,
    options: &ManifestOptions,
) -> Result<Vec<TablePlan<'m>>> {
    let explicit = !options.tables.is_empty();
    let mut specs: Vec<&TableSpec> = Vec::new();
    if explicit {
        for key in &options.tables {
            let spec = manifest
                .table_by_key(key)
                .map_err(|source| Error::Manifest { path: None, source })?;
            if !specs.iter().any(|s| s.key == spec.key) {
                specs.push(spec);
            }
        }
        // Manifest order, whatever order the flags came in.
        specs.sort_by_key(|s| manifest.tables.iter().position(|t| t.key == s.key));
    } else {
        specs = manifest.tables.iter().collect();
    }
    let mut plans: Vec<TablePlan<'m>> = Vec::new();
    for spec in specs {
        let kind = spec.kind();
        let action = match (options.load_type, kind) {
            (LoadType::Incremental, TableKind::Incremental) => Some(TableAction::Incremental),
            (LoadType::Incremental | LoadType::LoadById, TableKind::LoadById) => {
                Some(TableAction::LoadById)
            }
            (LoadType::Full, TableKind::Full) => Some(TableAction::Full),
            (LoadType::Backfill, _) => Some(TableAction::Backfill),
            _ => None,
        };
        let Some(action) = action else {
            if explicit {
                return Err(Error::Table {
                    table: spec.key.clone(),
                    reason: format!(
                        "is {} table, which --load-type {} does not load (a complete reload is --load-type backfill)",
                        match kind {
                            TableKind::Incremental => "an incremental",
                            TableKind::LoadById => "a load-by-id",
                            TableKind::Full => "a full (SCD)",
                        },
                        options.load_type.as_str()
                    ),
                });
            }
            debug!(table = %spec.key, kind = kind_name(kind), "Table skipped: not of this load type.");
            continue;
        };
        let stream = options.stream_naming.name(spec);
        if let Some(other) = plans.iter().find(|p| p.stream == stream) {
            return Err(Error::Manifest {
                path: None,
                source: super::ManifestError::DuplicateStream {
                    stream,
                    first: other.spec.key.clone(),
                    second: spec.key.clone(),
                },
            });
        }
        plans.push(TablePlan {
            spec,
            stream,
            action,
        });
    }
    Ok(plans)
}

const fn kind_name(kind: TableKind) -> &'static str {
    match kind {
        TableKind::Incremental => "incremental",
        TableKind::LoadById => "load-by-id",
        TableKind::Full => "full (SCD)",
    }
}

fn replica_status(client: &mut Client) -> Result<ReplicaStatus> {
    let row = client
        .query_one(
            "SELECT pg_is_in_recovery(), \
                    floor(extract(epoch FROM pg_last_xact_replay_timestamp()) * 1000000)::int8, \
                    floor(extract(epoch FROM now()) * 1000000)::int8",
            &[],
        )
        .map_err(|source| Error::Query {
            stream: None,
            action: "checking the replica's freshness",
            source,
        })?;
    let in_recovery: bool = row.try_get(0).unwrap_or(false);
    if !in_recovery {
        return Ok(ReplicaStatus::Primary);
    }
    let replay: Option<i64> = row.try_get(1).unwrap_or(None);
    let now: i64 = row.try_get(2).unwrap_or(0);
    Ok(ReplicaStatus::Standby {
        replay: replay.and_then(DateTime::from_timestamp_micros),
        now: DateTime::from_timestamp_micros(now).unwrap_or_else(Utc::now),
    })
}

/// The earliest BEGIN of a whole-history load (full copies and backfills of
/// incremental queries): before any GitLab data.
fn history_begin() -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(1900, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map_or(DateTime::<Utc>::MIN_UTC, |t| t.and_utc())
}

/// One run over the tables.
struct Run<'a> {
    connector: &'a Connector,
    options: &'a ManifestOptions,
    client: Client,
    cap: Option<DateTime<Utc>>,
}

/// A described table: its rendered body and columns.
struct Described {
    body: String,
    columns: Vec<PlanColumn>,
    pk: usize,
    /// Whether the key is an integer (ranged, resumable reads).
    ranged: bool,
}

/// Counts of one read.
#[derive(Default)]
struct Span {
    records: u64,
    max_pk: Option<i64>,
}

impl Run<'_> {
    fn table<W: Write>(
        &mut self,
        plan: &TablePlan<'_>,
        state: &mut State,
        out: &mut Writer<W>,
    ) -> Result<Option<TableSummary>> {
        let started = Instant::now();
        let spec = plan.spec;
        let table_error = |reason: String| Error::Table {
            table: spec.key.clone(),
            reason,
        };
        let bookmark = state.bookmark(&plan.stream).cloned();
        let extra = |key: &str| bookmark.as_ref().and_then(|b| b.extra.get(key)).cloned();
        let kind = spec.kind();
        let end_limit = self.cap.map_or(self.options.execution_date, |c| {
            c.min(self.options.execution_date)
        });
        let (begin, end) = match plan.action {
            TableAction::Incremental => {
                let mark = match extra(HIGH_WATER_MARK) {
                    Some(Value::String(text)) => Some(parse_timestamp(&text).map_err(|e| {
                        table_error(format!("bookmark {HIGH_WATER_MARK} is unusable: {e}"))
                    })?),
                    Some(other) => {
                        return Err(table_error(format!(
                            "bookmark {HIGH_WATER_MARK} is unusable: {other}"
                        )));
                    }
                    None => None,
                };
                incremental_window(
                    mark,
                    self.options.execution_date,
                    self.options.window,
                    self.options.overlap,
                    self.cap,
                )
                .map_err(|(begin, end)| Error::Window {
                    table: spec.key.clone(),
                    begin: timestamp_text(begin),
                    end: timestamp_text(end),
                })?
            }
            _ => (history_begin(), end_limit),
        };
        let described = self.describe(plan, begin, end)?;
        let names: Vec<String> = described.columns.iter().map(|c| c.name.clone()).collect();
        let stored: Option<Vec<String>> =
            extra(COLUMNS).and_then(|v| serde_json::from_value(v).ok());
        let new_columns: Vec<&String> = match &stored {
            Some(stored) => names.iter().filter(|n| !stored.contains(n)).collect(),
            None => Vec::new(),
        };
        let in_progress = extra(IN_PROGRESS).and_then(|v| v.as_str().map(ToOwned::to_owned));
        match plan.action {
            TableAction::Backfill => {
                let resuming = in_progress.as_deref() == Some("backfill");
                if stored.is_some() && new_columns.is_empty() && !resuming {
                    info!(table = %spec.key, stream = %plan.stream, "No backfill needed: the table is known and its query selects no new column.");
                    return Ok(None);
                }
                info!(table = %spec.key, stream = %plan.stream, new_table = stored.is_none(), new_columns = ?new_columns, resuming, "Backfilling.");
            }
            TableAction::Incremental | TableAction::LoadById if !new_columns.is_empty() => {
                warn!(table = %spec.key, stream = %plan.stream, new_columns = ?new_columns, "The query selects columns the last full copy did not: run --load-type backfill to reload the table.");
            }
            _ => {}
        }
        if !described.ranged && matches!(plan.action, TableAction::LoadById) {
            return Err(table_error(format!(
                "load_by_id needs an integer export_table_primary_key; {:?} is not one",
                spec.export_table_primary_key
            )));
        }
        // One `_uploaded_at` per run; an unfinished copy keeps its own.
        let copy_name = match plan.action {
            TableAction::Full => Some("full"),
            TableAction::Backfill => Some("backfill"),
            _ => None,
        };
        let resume = copy_name.is_some() && in_progress.as_deref() == copy_name;
        let uploaded_at = match extra(RUN_UPLOADED_AT) {
            Some(Value::Number(n)) if resume => n.to_string(),
            _ => epoch_seconds(self.options.uploaded_at),
        };
        let task_instance = spec.advanced_metadata.then(|| {
            if self.options.task_instance.is_none() {
                warn!(table = %spec.key, "advanced_metadata is set but TASK_INSTANCE is not: _task_instance is null.");
            }
            self.options.task_instance.clone()
        });
        let mut suffix = format!(",\"{UPLOADED_AT}\":{uploaded_at}").into_bytes();
        if let Some(task) = &task_instance {
            suffix.push(b',');
            suffix.extend_from_slice(format!("\"{TASK_INSTANCE}\":").as_bytes());
            suffix
                .extend_from_slice(&serde_json::to_vec(task).unwrap_or_else(|_| b"null".to_vec()));
        }

        write_message(
            out,
            &Message::Schema(schema_message(plan, spec, &described)),
        )?;
        state.set_currently_syncing(Some(&plan.stream));

        let mut retries = 0;
        let mut stats = EncodeStats::default();
        let records;
        match plan.action {
            TableAction::Incremental => {
                write_state(out, state)?;
                let (lo, hi) = (i64::MIN, i64::MAX);
                let span = self.read(
                    plan,
                    &described,
                    lo,
                    hi,
                    None,
                    &suffix,
                    &mut stats,
                    &mut retries,
                    out,
                )?;
                records = span.records;
                state.bookmark_mut(&plan.stream).extra.insert(
                    HIGH_WATER_MARK.to_owned(),
                    Value::String(timestamp_text(end)),
                );
            }
            TableAction::LoadById => {
                let max_id = extra(MAX_ID).and_then(|v| v.as_i64());
                write_state(out, state)?;
                let span = self.copy(
                    plan,
                    &described,
                    max_id,
                    None,
                    &suffix,
                    &mut stats,
                    &mut retries,
                    state,
                    out,
                    false,
                )?;
                records = span.records;
                if max_id.is_none() {
                    // The first load by id covered the whole table.
                    state
                        .bookmark_mut(&plan.stream)
                        .extra
                        .insert(COLUMNS.to_owned(), json!(names));
                }
            }
            TableAction::Full | TableAction::Backfill => {
                let backfill = plan.action == TableAction::Backfill;
                let stored_version = bookmark.as_ref().and_then(|b| b.version);
                let after = if resume {
                    extra(LAST_FINISHED_RANGE).and_then(|v| v.get(1).and_then(Value::as_i64))
                } else {
                    None
                };
                let version = if backfill {
                    Some(match (resume, stored_version) {
                        (true, Some(v)) => v,
                        _ => new_version(),
                    })
                } else {
                    None
                };
                if resume {
                    info!(table = %spec.key, after = ?after, version = ?version, "Resuming an unfinished copy after the last finished range.");
                }
                {
                    let bookmark = state.bookmark_mut(&plan.stream);
                    if !resume {
                        bookmark.extra.shift_remove(LAST_FINISHED_RANGE);
                    }
                    bookmark
                        .extra
                        .insert(IN_PROGRESS.to_owned(), json!(copy_name));
                    bookmark.extra.insert(
                        RUN_UPLOADED_AT.to_owned(),
                        serde_json::from_str(&uploaded_at).unwrap_or(Value::Null),
                    );
                    if backfill {
                        bookmark.version = version;
                    }
                }
                write_state(out, state)?;
                let span = self.copy(
                    plan,
                    &described,
                    after,
                    version,
                    &suffix,
                    &mut stats,
                    &mut retries,
                    state,
                    out,
                    true,
                )?;
                records = span.records;
                let bookmark = state.bookmark_mut(&plan.stream);
                for key in [IN_PROGRESS, LAST_FINISHED_RANGE, RUN_UPLOADED_AT] {
                    bookmark.extra.shift_remove(key);
                }
                bookmark.extra.insert(COLUMNS.to_owned(), json!(names));
                if backfill {
                    match kind {
                        TableKind::Incremental => {
                            bookmark.extra.insert(
                                HIGH_WATER_MARK.to_owned(),
                                Value::String(timestamp_text(end)),
                            );
                        }
                        TableKind::LoadById => {
                            let previous = bookmark.extra.get(MAX_ID).and_then(Value::as_i64);
                            if let Some(max) = span.max_pk.max(previous) {
                                bookmark.extra.insert(MAX_ID.to_owned(), json!(max));
                            }
                        }
                        TableKind::Full => {}
                    }
                    if let Some(version) = version {
                        write_message(
                            out,
                            &Message::ActivateVersion(ActivateVersionMessage {
                                stream: plan.stream.clone(),
                                version,
                            }),
                        )?;
                    }
                }
            }
        }
        write_state(out, state)?;
        for (kind, count) in stats.iter() {
            warn!(table = %spec.key, kind = kind.as_str(), count, "Values met the special-value policy (see `special_values`).");
        }
        let seconds = started.elapsed().as_secs_f64();
        info!(table = %spec.key, stream = %plan.stream, load = plan.action.as_str(), records, retries, seconds, begin = %timestamp_text(begin), end = %timestamp_text(end), "Table loaded.");
        Ok(Some(TableSummary {
            table: spec.key.clone(),
            stream: plan.stream.clone(),
            action: plan.action,
            records,
            retries,
            seconds,
        }))
    }

    /// Renders the table's query for `(begin, end)` and describes its
    /// result columns (a prepare: nothing runs).
    fn describe(
        &mut self,
        plan: &TablePlan<'_>,
        begin: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Described> {
        let spec = plan.spec;
        let table_error = |reason: String| Error::Table {
            table: spec.key.clone(),
            reason,
        };
        let lists = &self.options.allow_lists;
        let value = |token: &str| -> Option<String> {
            match token {
                "BEGIN_TIMESTAMP" => Some(begin.format("%Y-%m-%d %H:%M:%S%.6f").to_string()),
                "END_TIMESTAMP" => Some(end.format("%Y-%m-%d %H:%M:%S%.6f").to_string()),
                "EXECUTION_DATE" => Some(timestamp_text(end)),
                "HOURS" => Some(decimal_units(end - begin, 3_600_000_000)),
                "DAYS" => Some(decimal_units(end - begin, 86_400_000_000)),
                other => lists.token_value(other),
            }
        };
        let missing = |token: &str| {
            table_error(format!(
                "{{{token}}} needs an allow list, and none is configured (internal_projects_file / internal_namespaces_file)"
            ))
        };
        let query = template::render(&spec.import_query, value).map_err(missing)?;
        let filter = spec
            .additional_filtering
            .as_deref()
            .map(|f| template::render(f, value))
            .transpose()
            .map_err(missing)?;
        let body = template::body(&query, filter.as_deref());
        let describe_sql = template::wrap("*", &body, None, false);
        debug!(table = %spec.key, sql = %describe_sql, "Describing the manifest query.");
        let statement = self.with_retry(&spec.key, &mut 0, |client| {
            client
                .prepare(&describe_sql)
                .map_err(|source| Error::Query {
                    stream: Some(plan.stream.clone()),
                    action: "preparing the manifest query",
                    source,
                })
        })?;
        let mut columns: Vec<PlanColumn> = Vec::new();
        let mut pk = None;
        let mut ranged = false;
        for column in statement.columns() {
            let name = column.name();
            if columns.iter().any(|c| c.name == name) {
                return Err(table_error(format!(
                    "the query returns column {name:?} more than once; give each an alias"
                )));
            }
            if name == UPLOADED_AT || (spec.advanced_metadata && name == TASK_INSTANCE) {
                return Err(table_error(format!(
                    "the query returns column {name:?}, which the tap adds itself"
                )));
            }
            if name == spec.export_table_primary_key {
                pk = Some(columns.len());
                ranged = is_integer(column.type_());
            }
            let codec = Codec::from_postgres_type(
                column.type_(),
                column.type_modifier(),
                self.options.sync.policy,
            );
            columns.push(PlanColumn::new(name, codec));
        }
        let pk = pk.ok_or_else(|| {
            table_error(format!(
                "export_table_primary_key {:?} is not a column of the query's result",
                spec.export_table_primary_key
            ))
        })?;
        if !ranged {
            warn!(table = %spec.key, "The primary key is not an integer: the table is read in one statement, without key ranges.");
        }
        Ok(Described {
            body,
            columns,
            pk,
            ranged,
        })
    }

    /// Runs `f`, reconnecting and retrying after transient failures.
    fn with_retry<T>(
        &mut self,
        table: &str,
        retries: &mut u32,
        mut f: impl FnMut(&mut Client) -> Result<T>,
    ) -> Result<T> {
        loop {
            match f(&mut self.client) {
                Ok(value) => return Ok(value),
                Err(error) if error.is_retryable() && *retries < self.options.sync.max_retries => {
                    *retries += 1;
                    let wait = Connector::backoff(*retries);
                    warn!(table = %table, error = %error, attempt = *retries, wait_ms = wait.as_millis(), "Transient failure: reconnecting and resuming.");
                    std::thread::sleep(wait);
                    self.client = reconnect(self.connector, table)?;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Copies the table by key ranges `[a, a+step-1]`, starting after
    /// `after` (or at the smallest key), writing STATE after each range:
    /// `last_finished_range` for copies, `max_id` for load-by-id.
    #[allow(
        clippy::too_many_arguments,
        reason = "internal; a struct would only rename them"
    )]
    fn copy<W: Write>(
        &mut self,
        plan: &TablePlan<'_>,
        described: &Described,
        after: Option<i64>,
        version: Option<u64>,
        suffix: &[u8],
        stats: &mut EncodeStats,
        retries: &mut u32,
        state: &mut State,
        out: &mut Writer<W>,
        is_copy: bool,
    ) -> Result<Span> {
        let mut total = Span::default();
        if !described.ranged {
            let span = self.read(
                plan,
                described,
                i64::MIN,
                i64::MAX,
                version,
                suffix,
                stats,
                retries,
                out,
            )?;
            return Ok(span);
        }
        let step = i64::try_from(self.options.step.max(1)).unwrap_or(i64::MAX);
        let Some((min, max)) = self.bounds(plan, described, after, retries)? else {
            debug!(table = %plan.spec.key, "No rows past the starting point.");
            return Ok(total);
        };
        let mut next = Some(min);
        while let Some(lo) = next
            && lo <= max
        {
            let hi = lo.saturating_add(step - 1);
            let span = self.read(
                plan, described, lo, hi, version, suffix, stats, retries, out,
            )?;
            total.records += span.records;
            total.max_pk = total.max_pk.max(span.max_pk);
            let bookmark = state.bookmark_mut(&plan.stream);
            if is_copy {
                bookmark
                    .extra
                    .insert(LAST_FINISHED_RANGE.to_owned(), json!([lo, hi]));
            } else if let Some(max_pk) = span.max_pk {
                bookmark.extra.insert(MAX_ID.to_owned(), json!(max_pk));
            }
            write_state(out, state)?;
            next = match (span.records, hi.checked_add(1)) {
                (_, None) => None,
                // An empty range: jump to the next key that exists.
                (0, Some(_)) => self
                    .bounds(plan, described, Some(hi), retries)?
                    .map(|(m, _)| m),
                (_, Some(n)) => Some(n),
            };
        }
        Ok(total)
    }

    /// `(min, max)` of the key past `after`, or `None` when there is none.
    fn bounds(
        &mut self,
        plan: &TablePlan<'_>,
        described: &Described,
        after: Option<i64>,
        retries: &mut u32,
    ) -> Result<Option<(i64, i64)>> {
        let pk = described
            .columns
            .get(described.pk)
            .map(|c| quote_ident(&c.name))
            .unwrap_or_default();
        let sql = format!(
            "SELECT min(q.{pk})::int8, max(q.{pk})::int8 FROM (\n{}\n) q WHERE q.{pk} > $1::int8",
            described.body
        );
        let after = after.unwrap_or(i64::MIN);
        let row = self.with_retry(&plan.spec.key, retries, |client| {
            client
                .query_one(sql.as_str(), &[&after])
                .map_err(|source| Error::Query {
                    stream: Some(plan.stream.clone()),
                    action: "finding the key range",
                    source,
                })
        })?;
        let min: Option<i64> = row.try_get(0).unwrap_or(None);
        let max: Option<i64> = row.try_get(1).unwrap_or(None);
        Ok(min.zip(max))
    }

    /// Reads keys `lo..=hi` (or, for a non-integer key, the whole query)
    /// in key order inside one read-only REPEATABLE READ transaction; after
    /// a transient failure it reconnects and continues after the last key
    /// emitted.
    #[allow(
        clippy::too_many_arguments,
        reason = "internal; a struct would only rename them"
    )]
    fn read<W: Write>(
        &mut self,
        plan: &TablePlan<'_>,
        described: &Described,
        lo: i64,
        hi: i64,
        version: Option<u64>,
        suffix: &[u8],
        stats: &mut EncodeStats,
        retries: &mut u32,
        out: &mut Writer<W>,
    ) -> Result<Span> {
        let select: Vec<String> = described
            .columns
            .iter()
            .map(|c| c.codec.select_expr(&format!("q.{}", quote_ident(&c.name))))
            .collect();
        let pk = described
            .columns
            .get(described.pk)
            .map(|c| quote_ident(&c.name))
            .unwrap_or_default();
        let sql = template::wrap(
            &select.join(", "),
            &described.body,
            Some(&pk),
            described.ranged,
        );
        let key_columns = if described.ranged {
            vec![described.pk]
        } else {
            Vec::new()
        };
        let layout = RecordLayout {
            tap_stream_id: &plan.stream,
            stream: &plan.stream,
            columns: &described.columns,
            key_columns: &key_columns,
            suffix,
            version,
        };
        let mut span = Span::default();
        let mut from = Some(lo);
        self.with_retry(&plan.spec.key, retries, |client| {
            let Some(start) = from else {
                return Ok(());
            };
            let query_error = |action, source| Error::Query {
                stream: Some(plan.stream.clone()),
                action,
                source,
            };
            let mut tx = client
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .map_err(|e| query_error("starting a read-only transaction", e))?;
            let mut rows = if described.ranged {
                tx.query_raw(
                    sql.as_str(),
                    [&start as &(dyn postgres::types::ToSql + Sync), &hi],
                )
            } else {
                tx.query_raw(
                    sql.as_str(),
                    std::iter::empty::<&(dyn postgres::types::ToSql + Sync)>(),
                )
            }
            .map_err(|e| query_error("starting the table read", e))?;
            stream_records(&mut rows, &layout, stats, out, |record, ranges, _| {
                span.records += 1;
                if let Some(id) = ranges
                    .first()
                    .and_then(|r| record.get(r.clone()))
                    .and_then(|raw| std::str::from_utf8(raw).ok())
                    .and_then(|text| text.parse::<i64>().ok())
                {
                    span.max_pk = Some(id);
                    from = id.checked_add(1);
                }
                Ok(())
            })?;
            drop(rows);
            tx.commit()
                .map_err(|e| query_error("ending the read-only transaction", e))?;
            from = None;
            Ok(())
        })?;
        Ok(span)
    }
}

fn schema_message(plan: &TablePlan<'_>, spec: &TableSpec, described: &Described) -> SchemaMessage {
    let mut properties = Map::new();
    for (i, column) in described.columns.iter().enumerate() {
        // Result columns carry no NOT NULL; only a ranged key cannot be NULL.
        let nullable = !(i == described.pk && described.ranged);
        properties.insert(column.name.clone(), column.codec.json_schema(nullable));
    }
    properties.insert(UPLOADED_AT.to_owned(), json!({ "type": "number" }));
    if spec.advanced_metadata {
        properties.insert(
            TASK_INSTANCE.to_owned(),
            json!({ "type": ["string", "null"] }),
        );
    }
    SchemaMessage {
        stream: plan.stream.clone(),
        schema: json!({ "type": "object", "properties": properties }),
        key_properties: vec![spec.export_table_primary_key.clone()],
        bookmark_properties: None,
    }
}

fn is_integer(ty: &Type) -> bool {
    let mut base = ty;
    for _ in 0..16 {
        match base.kind() {
            Kind::Domain(inner) => base = inner,
            _ => break,
        }
    }
    *base == Type::INT2 || *base == Type::INT4 || *base == Type::INT8
}

/// `2024-06-01T00:00:00.000000+00:00`.
fn timestamp_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, false)
}

/// Epoch seconds with microseconds, as JSON number text.
fn epoch_seconds(t: DateTime<Utc>) -> String {
    let micros = t.timestamp_micros();
    let (seconds, fraction) = (micros.div_euclid(1_000_000), micros.rem_euclid(1_000_000));
    format!("{seconds}.{fraction:06}")
}

/// A non-negative duration in `unit` microseconds, as a decimal with up to
/// six places, rounded up (so a window rendered through `{HOURS}` is never
/// narrower than the one computed).
fn decimal_units(duration: TimeDelta, unit: i64) -> String {
    let micros = duration.num_microseconds().unwrap_or(i64::MAX).max(0);
    let mut whole = micros / unit;
    let rest = micros % unit;
    // rest < unit ≤ 8.64e10, so rest × 1e6 < 8.64e16 fits an i64.
    let mut fraction = (rest * 1_000_000 + unit - 1) / unit;
    if fraction >= 1_000_000 {
        whole += 1;
        fraction = 0;
    }
    if fraction == 0 {
        return whole.to_string();
    }
    let text = format!("{whole}.{fraction:06}");
    text.trim_end_matches('0').to_owned()
}

fn human(d: TimeDelta) -> String {
    let minutes = d.num_minutes();
    format!("{}h{:02}m", minutes / 60, minutes % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(text: &str) -> DateTime<Utc> {
        parse_timestamp(text).expect("timestamp")
    }

    #[test]
    fn windows_follow_upstream_rules() {
        let hours = TimeDelta::hours(96);
        let overlap = TimeDelta::minutes(30);
        // No state: END - HOURS .. END.
        assert_eq!(
            incremental_window(None, t("2024-06-05"), hours, overlap, None),
            Ok((t("2024-06-01"), t("2024-06-05")))
        );
        // Mark minus overlap; END is the execution date.
        assert_eq!(
            incremental_window(
                Some(t("2024-06-04 12:00:00")),
                t("2024-06-05"),
                hours,
                overlap,
                None
            ),
            Ok((t("2024-06-04 11:30:00"), t("2024-06-05")))
        );
        // A long gap: END = BEGIN + HOURS.
        assert_eq!(
            incremental_window(
                Some(t("2024-01-01")),
                t("2024-06-05"),
                hours,
                TimeDelta::zero(),
                None
            ),
            Ok((t("2024-01-01"), t("2024-01-05")))
        );
        // Capped at the replica's replay time.
        assert_eq!(
            incremental_window(
                Some(t("2024-06-04")),
                t("2024-06-05"),
                hours,
                overlap,
                Some(t("2024-06-04 06:00:00"))
            ),
            Ok((t("2024-06-03 23:30:00"), t("2024-06-04 06:00:00")))
        );
        // BEGIN after END.
        assert_eq!(
            incremental_window(Some(t("2024-06-05")), t("2024-06-01"), hours, overlap, None),
            Err((t("2024-06-04 23:30:00"), t("2024-06-01")))
        );
    }

    #[test]
    fn freshness_gate() {
        let now = t("2024-06-05 12:00:00");
        let lag = Some(TimeDelta::hours(12));
        assert_eq!(
            check_replica(ReplicaStatus::Primary, lag, true).expect("primary passes"),
            None
        );
        let fresh = ReplicaStatus::Standby {
            replay: Some(t("2024-06-05 11:00:00")),
            now,
        };
        assert_eq!(
            check_replica(fresh, lag, true).expect("fresh"),
            Some(t("2024-06-05 11:00:00"))
        );
        assert_eq!(check_replica(fresh, lag, false).expect("fresh"), None);
        let stale = ReplicaStatus::Standby {
            replay: Some(t("2024-06-04 20:00:00")),
            now,
        };
        assert_eq!(
            check_replica(stale, lag, false)
                .expect_err("stale")
                .to_string(),
            "replica is stale: last replayed transaction at 2024-06-04T20:00:00.000000+00:00 is 16h00m old, more than the limit of 12h00m"
        );
        let never = ReplicaStatus::Standby { replay: None, now };
        assert!(matches!(
            check_replica(never, lag, false),
            Err(Error::ReplicaNotReplayed)
        ));
        assert_eq!(check_replica(never, None, false).expect("no gate"), None);
    }

    #[test]
    fn token_renderings() {
        assert_eq!(decimal_units(TimeDelta::hours(96), 3_600_000_000), "96");
        assert_eq!(decimal_units(TimeDelta::minutes(90), 3_600_000_000), "1.5");
        assert_eq!(
            decimal_units(TimeDelta::seconds(1), 3_600_000_000),
            "0.000278"
        );
        assert_eq!(decimal_units(TimeDelta::hours(36), 86_400_000_000), "1.5");
        assert_eq!(
            epoch_seconds(t("2024-06-01T00:00:00.25Z")),
            "1717200000.250000"
        );
        assert_eq!(t("2024-06-01T02:00:00+02:00"), t("2024-06-01 00:00:00"));
        assert!(parse_timestamp("yesterday").is_err());
        assert_eq!("SCD".parse::<LoadType>(), Ok(LoadType::Full));
        assert_eq!("load_by_id".parse::<LoadType>(), Ok(LoadType::LoadById));
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
            options.apply_env(bad),
            Err("HOURS: \"many\" is not a whole, non-negative number".to_owned())
        );
    }
}
