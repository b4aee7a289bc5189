//! Running a manifest plan: per table, the window, the described query and
//! the bookmark decide what to read; one function per load action
//! (incremental window, load-by-id, full or backfill copy) reads it through
//! the shared session and record loop, and STATE follows what was written.

mod actions;
mod concurrent;
mod describe;
mod ranges;

use std::io::Write;
use std::time::Instant;

use chrono::{DateTime, Utc};
use singer_protocol::{Message, Writer};
use singer_state::State;
use tracing::{info, warn};

use self::describe::{Described, schema_message};
use super::bookmark::{CopyKind, ManifestBookmark};
use super::options::ManifestOptions;
use super::parse::Manifest;
use super::plan::{TableAction, TablePlan, plan_tables};
use super::replica::{check_replica, replica_status};
use super::window::{
    end_limit, epoch_seconds, history_begin, history_end, incremental_window, timestamp_text,
};
use crate::connect::Connector;
use crate::error::{Error, Result};
use crate::keyset::{DEFAULT_CHUNK_ROWS, KeySetRead};
use crate::session::{RetryBudget, Session, Subject};
use crate::stream::{PlanColumn, RecordCounter, finish_stream, write_message, write_state};
use crate::types::EncodeStats;

/// The metadata column every record carries: the run's epoch seconds.
pub const UPLOADED_AT: &str = "_uploaded_at";
/// The metadata column of tables with `advanced_metadata: true`.
pub const TASK_INSTANCE: &str = "_task_instance";

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
    let mut session = Session::connect(connector, options.sync.retry_policy())?;
    let cap = if options.max_replica_lag.is_some() || options.cap_end_at_replay {
        let status = replica_status(session.client())?;
        check_replica(status, options.max_replica_lag, options.cap_end_at_replay)?
    } else {
        None
    };
    let workers = options.sync.parallelism.min(plans.len());
    if workers > 1 {
        drop(session);
        let summaries =
            concurrent::sync_tables(connector, &plans, &mut state, options, cap, workers, out)?;
        return Ok(summaries);
    }
    let mut summaries = Vec::new();
    let mut run = Run {
        options,
        session,
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

/// One run over the tables.
struct Run<'a> {
    options: &'a ManifestOptions,
    session: Session<'a>,
    /// The cap on incremental END (the replica's replay time), if asked.
    cap: Option<DateTime<Utc>>,
}

/// One table's load under way: what was decided before the first read.
struct TableLoad<'p, 'm> {
    plan: &'p TablePlan<'m>,
    described: Described,
    /// The bookmark's manifest keys as they were before this load.
    bookmark: ManifestBookmark,
    /// The query's result columns.
    names: Vec<String>,
    /// The window's END (the high-water mark an incremental load stores).
    end: DateTime<Utc>,
    /// `_uploaded_at` of this load, as JSON number text.
    uploaded_at: String,
    /// `,"_uploaded_at":…[,"_task_instance":…]`, appended to every record.
    suffix: Vec<u8>,
    stats: EncodeStats,
    /// The stream's `record_count` METRIC counter.
    counter: RecordCounter,
    budget: RetryBudget,
}

impl Run<'_> {
    /// Loads one table as its plan says, or returns `None` when a backfill
    /// is not needed.
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
        let bookmark = ManifestBookmark::read(state.bookmark(&plan.stream));
        let (begin, end) = match plan.action {
            TableAction::Incremental => incremental_window(
                bookmark.high_water_mark().map_err(table_error)?,
                self.options.execution_date,
                self.options.window,
                self.options.overlap,
                self.cap,
            )
            .map_err(|(begin, end)| Error::Window {
                table: spec.key.clone(),
                begin: timestamp_text(begin),
                end: timestamp_text(end),
            })?,
            TableAction::Deletes => (history_begin(), history_end()),
            _ => (
                history_begin(),
                end_limit(self.options.execution_date, self.cap),
            ),
        };
        let described = self.describe(plan, begin, end)?;
        if plan.action == TableAction::Deletes {
            return self
                .deletes(plan, &described, state, out, started)
                .map(Some);
        }
        let names: Vec<String> = described.columns.iter().map(|c| c.name.clone()).collect();
        let new_columns: Vec<&String> = match &bookmark.columns {
            Some(stored) => names.iter().filter(|n| !stored.contains(n)).collect(),
            None => Vec::new(),
        };
        match plan.action {
            TableAction::Backfill => {
                let resuming = bookmark.is_in_progress(CopyKind::Backfill);
                if bookmark.columns.is_some() && new_columns.is_empty() && !resuming {
                    info!(table = %spec.key, stream = %plan.stream, "No backfill needed: the table is known and its query selects no new column.");
                    return Ok(None);
                }
                info!(table = %spec.key, stream = %plan.stream, new_table = bookmark.columns.is_none(), new_columns = ?new_columns, resuming, "Backfilling.");
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
        let uploaded_at = match (copy_kind(plan.action), &bookmark.run_uploaded_at) {
            (Some(kind), Some(n)) if bookmark.is_in_progress(kind) => n.to_string(),
            _ => epoch_seconds(self.options.uploaded_at),
        };
        let suffix = self.record_suffix(plan, &uploaded_at);

        write_message(
            out,
            &Message::Schema(schema_message(plan, spec, &described)),
        )?;
        state.set_currently_syncing(Some(&plan.stream));

        let mut load = TableLoad {
            plan,
            described,
            bookmark,
            names,
            end,
            uploaded_at,
            suffix,
            stats: EncodeStats::default(),
            counter: RecordCounter::new(&plan.stream, self.options.sync.metrics_interval)
                .with_progress(self.options.sync.progress.as_ref(), None),
            budget: RetryBudget::new(),
        };
        let records = match plan.action {
            TableAction::Incremental => self.incremental(&mut load, state, out)?,
            TableAction::LoadById => self.load_by_id(&mut load, state, out)?,
            TableAction::Full => self.copy_table(&mut load, CopyKind::Full, state, out)?,
            TableAction::Backfill => self.copy_table(&mut load, CopyKind::Backfill, state, out)?,
            // Sent by `deletes` before any of this.
            TableAction::Deletes => 0,
        };
        let seconds = finish_stream(
            out,
            state,
            &load.stats,
            &load.counter,
            Subject::Table(&spec.key),
            started,
        )?;
        let retries = load.budget.retries;
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

    /// `--load-type deletes`: the table's SCHEMA (so a target knows the
    /// table the keys belong to), then every primary key of the query's
    /// rows over all of history as the stream's key set. No bookmark moves.
    fn deletes<W: Write>(
        &mut self,
        plan: &TablePlan<'_>,
        described: &Described,
        state: &State,
        out: &mut Writer<W>,
        started: Instant,
    ) -> Result<TableSummary> {
        let spec = plan.spec;
        write_message(out, &Message::Schema(schema_message(plan, spec, described)))?;
        let key = described
            .columns
            .get(described.pk)
            .map(|c| PlanColumn::new(&c.name, c.codec.clone()));
        let read = KeySetRead {
            subject: Subject::Table(&spec.key),
            stream: &plan.stream,
            source: format!("(\n{}\n)", described.body),
            keys: key.into_iter().collect(),
            chunk_rows: self
                .options
                .sync
                .max_rows_per_statement
                .unwrap_or(DEFAULT_CHUNK_ROWS),
            state_interval: self.options.sync.state_interval,
            metrics_interval: self.options.sync.metrics_interval,
        };
        let keys = read.run(&mut self.session, state, out)?;
        let seconds = started.elapsed().as_secs_f64();
        info!(table = %spec.key, stream = %plan.stream, load = plan.action.as_str(), keys, seconds, "Table's key set sent.");
        Ok(TableSummary {
            table: spec.key.clone(),
            stream: plan.stream.clone(),
            action: plan.action,
            records: keys,
            retries: 0,
            seconds,
        })
    }

    /// The JSON members every record of the table ends with.
    fn record_suffix(&self, plan: &TablePlan<'_>, uploaded_at: &str) -> Vec<u8> {
        let spec = plan.spec;
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
        suffix
    }
}

/// The resumable copy an action makes, if any.
const fn copy_kind(action: TableAction) -> Option<CopyKind> {
    match action {
        TableAction::Full => Some(CopyKind::Full),
        TableAction::Backfill => Some(CopyKind::Backfill),
        TableAction::Incremental | TableAction::LoadById | TableAction::Deletes => None,
    }
}
