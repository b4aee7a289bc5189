//! Catalog mode with `parallelism` > 1 (or a resumed split copy, or
//! `max_rows_per_statement`): several streams at once, and big FULL_TABLE
//! streams split into ranges read inside one shared snapshot.
//!
//! The calling thread plans every stream (SCHEMA, version, ranges), writes
//! the SCHEMA messages and a first STATE, then owns stdout while
//! `parallelism` workers, each on its own connection, take tasks from one
//! queue in catalog order (a stream, or one range of a split stream). See
//! [`crate::parallel`] for how lines, checkpoints and failures travel.
//!
//! What the state holds (rules the Singer spec leaves open, in the README):
//!
//! * Bookmarks per stream, as in a sequential run; `currently_syncing` is
//!   the first stream (in the run's order) not finished yet, so a rerun
//!   still starts there, and every other unfinished stream resumes from its
//!   own bookmark.
//! * A FULL_TABLE stream split by its integer primary key keeps
//!   `pending_ranges`: the key ranges `[from, to]` not finished yet, `from`
//!   past the last key written. A rerun reads only those, under the same
//!   table version, then ACTIVATE_VERSION follows the last range. The rerun
//!   reads them in a new snapshot: each row still arrives exactly once (a
//!   key belongs to one range), but rows already written show the table as
//!   it was at the first run and the rest as it is at the rerun.
//! * A FULL_TABLE stream without such a key is split by heap blocks
//!   (`ctid` ranges, PostgreSQL ≥ 14 reads only those blocks). A row's
//!   block can change between two snapshots, so such a copy cannot resume:
//!   an interrupted one starts over under a new version, and a transient
//!   failure inside a block range fails the run instead of retrying it.

use std::collections::{BTreeMap, VecDeque};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::Value;
use singer_protocol::{ActivateVersionMessage, Message, ReplicationMethod, Writer};
use singer_state::State;
use tracing::info;

use super::plan::StreamPlan;
use super::read::{LAST_PK_FETCHED, Position, ReadSpec, Slice};
use super::{StreamSummary, SyncOptions};
use crate::connect::Connector;
use crate::error::{Error, Result};
use crate::parallel::{
    Channel, Event, Outlet, SharedSnapshot, pieces_for, split_blocks, split_keys,
};
use crate::session::{RetryBudget, Session, Subject};
use crate::stream::{
    RecordCounter, StreamCounter, new_version, warn_special_values, write_message, write_state,
};
use crate::types::EncodeStats;

/// The bookmark key of a split FULL_TABLE copy's unfinished key ranges:
/// `[[from, to], …]`, inclusive, `from` past the last key written.
pub(super) const PENDING_RANGES: &str = "pending_ranges";

/// One stream of the run, as the writer tracks it.
struct Job<'p> {
    plan: &'p StreamPlan,
    /// The table version its records carry (FULL_TABLE).
    version: Option<u64>,
    /// A split copy's unfinished key ranges, by task: `(from, to)`.
    ranges: BTreeMap<usize, (i64, i64)>,
    /// Whether its tasks read in the shared snapshot.
    shared: bool,
    /// Tasks not finished.
    pending: usize,
    records: u64,
    retries: u32,
    stats: EncodeStats,
    started: Instant,
}

/// One piece of work: a stream, or one range of a split stream.
struct Task {
    /// Index of the stream (into the plans and the jobs).
    job: usize,
    slice: Slice,
    /// Where the read starts (a resumed position, or nothing).
    start: Position,
    /// The version the task's records carry.
    version: Option<u64>,
    /// Whether it reads in the shared snapshot.
    shared: bool,
}

/// Syncs `plans` with `options.parallelism` workers.
pub(super) fn sync_parallel<W: Write>(
    connector: &Connector,
    plans: &[StreamPlan],
    state: &mut State,
    options: &SyncOptions,
    out: &mut Writer<W>,
) -> Result<Vec<StreamSummary>> {
    let mut snapshot: Option<SharedSnapshot> = None;
    let mut jobs = Vec::new();
    let mut tasks = Vec::new();
    for plan in plans {
        let job = plan_job(
            connector,
            plan,
            state,
            options,
            &mut snapshot,
            jobs.len(),
            &mut tasks,
        )?;
        write_message(out, &Message::Schema(plan.schema_message()))?;
        jobs.push(job);
    }
    for (index, job) in jobs.iter_mut().enumerate() {
        job.pending = tasks.iter().filter(|t| t.job == index).count();
        if !job.ranges.is_empty() {
            write_ranges(state, job);
        }
    }
    emit_state(out, state, &jobs)?;
    // One METRIC counter and progress line per stream, whichever readers
    // read its ranges.
    let counters: Vec<Arc<StreamCounter>> = jobs
        .iter()
        .map(|job| {
            StreamCounter::new(
                &job.plan.tap_stream_id,
                options.metrics_interval,
                options.progress.as_ref(),
                job.plan.progress_estimate(),
                job.pending,
            )
        })
        .collect();
    let workers = options.parallelism.clamp(1, tasks.len().max(1));
    info!(
        streams = jobs.len(),
        tasks = tasks.len(),
        workers,
        shared_snapshot = snapshot.is_some(),
        "Syncing in parallel."
    );
    let slices: Vec<(usize, Slice)> = tasks.iter().map(|t| (t.job, t.slice)).collect();
    let snapshot_id = snapshot.as_ref().map(|s| s.id().to_owned());
    let queue = Mutex::new(tasks.into_iter().enumerate().collect::<VecDeque<_>>());
    let channel = Channel::new(workers);
    let mut writer = RunWriter {
        jobs,
        slices,
        snapshot,
        summaries: Vec::new(),
    };
    // A resumed copy whose ranges had all been read (the run stopped
    // before ACTIVATE_VERSION) has nothing left to read: finish it now.
    for index in 0..writer.jobs.len() {
        if writer.jobs.get(index).is_some_and(|j| j.pending == 0) {
            writer.finish(index, state, out)?;
        }
    }
    channel.run(
        workers,
        |outlet| {
            work(
                connector,
                &queue,
                plans,
                &counters,
                options,
                snapshot_id.as_deref(),
                outlet,
            );
        },
        |end| {
            let mut failure: Option<Error> = None;
            while let Some(event) = end.next() {
                match event {
                    Event::Lines {
                        lines,
                        task,
                        last_key,
                    } => {
                        if failure.is_none() {
                            match out.write_lines(&lines) {
                                Ok(()) => writer.advance(task, last_key, state),
                                Err(source) => {
                                    failure = Some(Error::Output { source });
                                    end.cancel();
                                }
                            }
                        }
                        end.recycle(lines);
                    }
                    Event::Failed(error) if failure.is_none() => {
                        failure = Some(error);
                        end.cancel();
                    }
                    event if failure.is_none() => {
                        if let Err(error) = writer.apply(event, state, out) {
                            failure = Some(error);
                            end.cancel();
                        }
                    }
                    _ => {}
                }
            }
            failure
        },
    )?;
    if let Some(snapshot) = writer.snapshot.take() {
        snapshot.release();
    }
    state.set_currently_syncing(None);
    write_state(out, state)?;
    Ok(writer.summaries)
}

/// The writer's side of the run: every stream's bookkeeping.
struct RunWriter<'p> {
    jobs: Vec<Job<'p>>,
    /// Each task's stream and slice.
    slices: Vec<(usize, Slice)>,
    /// The shared snapshot, released once no split stream is left.
    snapshot: Option<SharedSnapshot>,
    summaries: Vec<StreamSummary>,
}

impl RunWriter<'_> {
    /// Applies a worker's report (lines and failures are handled by the
    /// loop) and writes the STATE that follows from it.
    fn apply<W: Write>(
        &mut self,
        event: Event,
        state: &mut State,
        out: &mut Writer<W>,
    ) -> Result<()> {
        match event {
            Event::Checkpoint { task, last_key } => {
                self.advance(task, last_key, state);
                emit_state(out, state, &self.jobs)
            }
            Event::NewVersion { task, version } => {
                if let Some(job) = self
                    .slices
                    .get(task)
                    .and_then(|&(index, _)| self.jobs.get_mut(index))
                {
                    job.version = Some(version);
                    state.bookmark_mut(&job.plan.tap_stream_id).version = Some(version);
                }
                Ok(())
            }
            Event::Finished {
                task,
                records,
                retries,
                stats,
            } => {
                let Some(&(index, _)) = self.slices.get(task) else {
                    return Ok(());
                };
                let Some(job) = self.jobs.get_mut(index) else {
                    return Ok(());
                };
                job.records += records;
                job.retries += retries;
                job.stats.merge(&stats);
                job.pending = job.pending.saturating_sub(1);
                if job.ranges.remove(&task).is_some() {
                    write_ranges(state, job);
                }
                if job.pending == 0 {
                    self.finish(index, state, out)?;
                }
                Ok(())
            }
            Event::Lines { .. } | Event::Failed(_) => Ok(()),
        }
    }

    /// Records in the state that task `task`'s read has got to `last_key`
    /// (its lines up to there are written).
    fn advance(&mut self, task: usize, last_key: Vec<Vec<u8>>, state: &mut State) {
        if last_key.is_empty() {
            return;
        }
        let Some(&(index, slice)) = self.slices.get(task) else {
            return;
        };
        let Some(job) = self.jobs.get_mut(index) else {
            return;
        };
        match slice {
            Slice::Keys { .. } => {
                let last = last_key
                    .first()
                    .and_then(|raw| std::str::from_utf8(raw).ok())
                    .and_then(|text| text.parse::<i64>().ok());
                if let (Some(last), Some(range)) = (last, job.ranges.get_mut(&task)) {
                    match last.checked_add(1) {
                        Some(next) if next <= range.1 => range.0 = next,
                        _ => {
                            job.ranges.remove(&task);
                        }
                    }
                    write_ranges(state, job);
                }
            }
            Slice::All => {
                let position = Position {
                    last_key,
                    ..Position::default()
                };
                job.plan.checkpoint(state, &position);
            }
            Slice::Blocks { .. } => {}
        }
    }

    /// Ends stream `index`: ACTIVATE_VERSION for a FULL_TABLE copy, its
    /// bookmark cleared of resume keys, STATE, and the log.
    fn finish<W: Write>(
        &mut self,
        index: usize,
        state: &mut State,
        out: &mut Writer<W>,
    ) -> Result<()> {
        let Some(job) = self.jobs.get(index) else {
            return Ok(());
        };
        let plan = job.plan;
        if plan.method == ReplicationMethod::FullTable {
            let bookmark = state.bookmark_mut(&plan.tap_stream_id);
            bookmark.extra.shift_remove(LAST_PK_FETCHED);
            bookmark.extra.shift_remove(PENDING_RANGES);
            if let Some(version) = job.version {
                write_message(
                    out,
                    &Message::ActivateVersion(ActivateVersionMessage {
                        stream: plan.stream.clone(),
                        version,
                    }),
                )?;
            }
        }
        emit_state(out, state, &self.jobs)?;
        warn_special_values(&job.stats, Subject::Stream(&plan.tap_stream_id));
        let seconds = job.started.elapsed().as_secs_f64();
        #[allow(clippy::cast_precision_loss, reason = "a rate for the log")]
        let rate = job.records as f64 / seconds.max(1e-9);
        info!(stream = %plan.tap_stream_id, method = %plan.method, records = job.records, retries = job.retries, seconds, rows_per_second = rate.round(), "Stream synced.");
        self.summaries.push(StreamSummary {
            tap_stream_id: plan.tap_stream_id.clone(),
            method: plan.method,
            records: job.records,
            retries: job.retries,
            seconds,
        });
        if !self.jobs.iter().any(|j| j.shared && j.pending > 0)
            && let Some(snapshot) = self.snapshot.take()
        {
            snapshot.release();
        }
        Ok(())
    }
}

/// Writes `currently_syncing` (the first unfinished stream) and the state.
fn emit_state<W: Write>(out: &mut Writer<W>, state: &mut State, jobs: &[Job<'_>]) -> Result<()> {
    let current = jobs
        .iter()
        .find(|j| j.pending > 0)
        .map(|j| j.plan.tap_stream_id.as_str());
    state.set_currently_syncing(current);
    write_state(out, state)
}

/// Writes a split copy's unfinished ranges into its bookmark.
fn write_ranges(state: &mut State, job: &Job<'_>) {
    let ranges: Vec<Value> = job
        .ranges
        .values()
        .map(|&(from, to)| Value::Array(vec![Value::from(from), Value::from(to)]))
        .collect();
    state
        .bookmark_mut(&job.plan.tap_stream_id)
        .extra
        .insert(PENDING_RANGES.to_owned(), Value::Array(ranges));
}

/// A split copy's unfinished ranges from a bookmark, if it has them.
fn pending_ranges(value: &Value) -> Option<Vec<(i64, i64)>> {
    value
        .as_array()?
        .iter()
        .map(|pair| {
            let pair = pair.as_array()?;
            match pair.as_slice() {
                [from, to] => Some((from.as_i64()?, to.as_i64()?)),
                _ => None,
            }
        })
        .collect()
}

/// Plans one stream: reconciles its bookmark, decides its version and
/// whether (and how) it is split, and queues its tasks.
#[allow(
    clippy::too_many_arguments,
    reason = "one call site; the run's planning state"
)]
fn plan_job<'p>(
    connector: &Connector,
    plan: &'p StreamPlan,
    state: &mut State,
    options: &SyncOptions,
    snapshot: &mut Option<SharedSnapshot>,
    index: usize,
    tasks: &mut Vec<Task>,
) -> Result<Job<'p>> {
    let key_name = plan
        .replication_key
        .and_then(|i| plan.columns.get(i))
        .map(|c| c.name.as_str());
    if state.reconcile(&plan.tap_stream_id, plan.method.as_str(), key_name) {
        info!(stream = %plan.tap_stream_id, method = %plan.method, "Replication method or key changed: the stream starts over.");
    }
    let mut job = Job {
        plan,
        version: None,
        ranges: BTreeMap::new(),
        shared: false,
        pending: 0,
        records: 0,
        retries: 0,
        stats: EncodeStats::default(),
        started: Instant::now(),
    };
    let whole = |start: Position, version: Option<u64>| Task {
        job: index,
        slice: Slice::All,
        start,
        version,
        shared: false,
    };
    if plan.method == ReplicationMethod::Incremental {
        tasks.push(whole(plan.incremental_start(state), None));
        return Ok(job);
    }
    let bookmark = state.bookmark(&plan.tap_stream_id);
    let stored_version = bookmark.and_then(|b| b.version);
    let resume_ranges = bookmark
        .and_then(|b| b.extra.get(PENDING_RANGES))
        .and_then(pending_ranges)
        .filter(|_| plan.integer_key().is_some());
    match (
        stored_version,
        plan.resume_after_last_pk(state),
        resume_ranges,
    ) {
        (_, Some((start, version)), _) => {
            // An interrupted sequential copy: continue it as it was.
            job.version = Some(version);
            tasks.push(whole(start, Some(version)));
        }
        (Some(version), None, Some(ranges)) => {
            info!(stream = %plan.tap_stream_id, version, ranges = ranges.len(), "Resuming an interrupted parallel FULL_TABLE copy: reading its unfinished key ranges.");
            job.version = Some(version);
            job.shared = true;
            shared(connector, snapshot)?;
            for (from, to) in ranges {
                job.ranges.insert(tasks.len(), (from, to));
                tasks.push(Task {
                    job: index,
                    slice: Slice::Keys { lo: from, hi: to },
                    start: Position::default(),
                    version: Some(version),
                    shared: true,
                });
            }
        }
        _ => {}
    }
    if job.version.is_some() {
        state.bookmark_mut(&plan.tap_stream_id).version = job.version;
        return Ok(job);
    }
    let version = new_version();
    job.version = Some(version);
    state.bookmark_mut(&plan.tap_stream_id).version = Some(version);
    let bookmark = state.bookmark_mut(&plan.tap_stream_id);
    bookmark.extra.shift_remove(LAST_PK_FETCHED);
    bookmark.extra.shift_remove(PENDING_RANGES);
    if !wants_split(plan.row_estimate, options) {
        tasks.push(whole(Position::default(), Some(version)));
        return Ok(job);
    }
    let pieces = pieces_for(
        plan.row_estimate,
        options.parallelism,
        options.max_rows_per_statement,
    );
    let coordinator = shared(connector, snapshot)?;
    if let Some(key) = plan.integer_key() {
        let Some((min, max)) = key_bounds(coordinator, plan, key)? else {
            // An empty table: one read (of nothing) keeps the flow the same.
            tasks.push(whole(Position::default(), Some(version)));
            return Ok(job);
        };
        job.shared = true;
        let mut ranges = split_keys(min, max, pieces);
        // Keys added before a resumed run, outside the first run's
        // [min, max], still belong to a range (none exist in the snapshot).
        if let Some(first) = ranges.first_mut() {
            first.0 = i64::MIN;
        }
        if let Some(last) = ranges.last_mut() {
            last.1 = i64::MAX;
        }
        for (lo, hi) in ranges {
            job.ranges.insert(tasks.len(), (lo, hi));
            tasks.push(Task {
                job: index,
                slice: Slice::Keys { lo, hi },
                start: Position::default(),
                version: Some(version),
                shared: true,
            });
        }
        info!(stream = %plan.tap_stream_id, ranges = job.ranges.len(), min, max, "Splitting the copy into primary-key ranges in one snapshot.");
    } else if plan.has_blocks {
        let blocks = heap_blocks(coordinator, plan)?;
        job.shared = true;
        let ranges = split_blocks(blocks, pieces);
        info!(stream = %plan.tap_stream_id, ranges = ranges.len(), blocks, "Splitting the copy into block (ctid) ranges in one snapshot; an interrupted copy starts over.");
        for (from, to) in ranges {
            tasks.push(Task {
                job: index,
                slice: Slice::Blocks { from, to },
                start: Position::default(),
                version: Some(version),
                shared: true,
            });
        }
    } else {
        tasks.push(whole(Position::default(), Some(version)));
    }
    Ok(job)
}

/// Whether a FULL_TABLE copy of about `rows` rows (`None`: never
/// analysed) is split into ranges: for parallel readers when it has at
/// least `parallel_min_rows` rows, and for the statement budget whenever
/// it has more than `max_rows_per_statement` rows, whatever its size
/// against `parallel_min_rows` (the budget bounds every statement).
fn wants_split(rows: Option<u64>, options: &SyncOptions) -> bool {
    let Some(rows) = rows else {
        return options.parallelism > 1 || options.max_rows_per_statement.is_some();
    };
    (options.parallelism > 1 && rows >= options.parallel_min_rows)
        || options.max_rows_per_statement.is_some_and(|max| rows > max)
}

/// The run's shared snapshot, exported on first use.
fn shared<'s>(
    connector: &Connector,
    snapshot: &'s mut Option<SharedSnapshot>,
) -> Result<&'s mut SharedSnapshot> {
    if snapshot.is_none() {
        *snapshot = Some(SharedSnapshot::export(connector)?);
    }
    snapshot.as_mut().ok_or(Error::Cancelled)
}

/// `(min, max)` of the integer primary key in the shared snapshot.
fn key_bounds(
    snapshot: &mut SharedSnapshot,
    plan: &StreamPlan,
    key: usize,
) -> Result<Option<(i64, i64)>> {
    let name = plan
        .columns
        .get(key)
        .map(|c| crate::ident::quote_ident(&c.name))
        .unwrap_or_default();
    let sql = format!(
        "SELECT min({name})::int8, max({name})::int8 FROM {}",
        plan.qualified_table
    );
    let error = |source| Error::Query {
        stream: Some(plan.tap_stream_id.clone()),
        action: "finding the key range",
        source,
    };
    snapshot.min_max(&sql).map_err(error)
}

/// The relation's size in heap blocks.
fn heap_blocks(snapshot: &mut SharedSnapshot, plan: &StreamPlan) -> Result<u64> {
    let error = |source| Error::Query {
        stream: Some(plan.tap_stream_id.clone()),
        action: "finding the table's size",
        source,
    };
    let row = snapshot
        .client()
        .query_one(
            "SELECT (pg_relation_size($1::text::regclass) / current_setting('block_size')::int8)::int8",
            &[&plan.qualified_table],
        )
        .map_err(error)?;
    let blocks: i64 = row.try_get(0).map_err(error)?;
    Ok(u64::try_from(blocks).unwrap_or(0))
}

/// One worker: takes tasks from the queue until it is empty or the run
/// stops, on one connection (opened on first use, reopened after a
/// transient failure).
fn work(
    connector: &Connector,
    queue: &Mutex<VecDeque<(usize, Task)>>,
    plans: &[StreamPlan],
    counters: &[Arc<StreamCounter>],
    options: &SyncOptions,
    snapshot: Option<&str>,
    outlet: &Outlet,
) {
    let mut session: Option<Session<'_>> = None;
    loop {
        if outlet.is_cancelled() {
            return;
        }
        let Some((id, task)) = queue.lock().ok().and_then(|mut q| q.pop_front()) else {
            return;
        };
        let (Some(plan), Some(counter)) = (plans.get(task.job), counters.get(task.job)) else {
            return;
        };
        let counter = RecordCounter::shared(Arc::clone(counter));
        let result = match &mut session {
            Some(session) => run_task(
                session, plan, id, &task, &counter, options, snapshot, outlet,
            ),
            None => match Session::connect(connector, options.retry_policy()) {
                Ok(opened) => {
                    let session = session.insert(opened);
                    run_task(
                        session, plan, id, &task, &counter, options, snapshot, outlet,
                    )
                }
                Err(error) => Err(error),
            },
        };
        match result {
            Ok(()) => {}
            Err(Error::Cancelled) => return,
            Err(error) => {
                outlet.fail(error);
                return;
            }
        }
    }
}

/// Reads one task, sending its lines, checkpoints and end to the writer.
#[allow(
    clippy::too_many_arguments,
    reason = "one worker's call site; a struct would only rename them"
)]
fn run_task(
    session: &mut Session<'_>,
    plan: &StreamPlan,
    id: usize,
    task: &Task,
    counter: &RecordCounter,
    options: &SyncOptions,
    snapshot: Option<&str>,
    outlet: &Outlet,
) -> Result<()> {
    let mut out = outlet.writer();
    let mut position = task.start.clone();
    let mut stats = EncodeStats::default();
    let mut budget = RetryBudget::new();
    let mut version = task.version;
    let mut first_attempt = true;
    let snapshot = snapshot.filter(|_| task.shared);
    let restartable = plan.method == ReplicationMethod::FullTable
        && task.slice == Slice::All
        && plan.primary_key.is_empty();
    let mut attempt = |client: &mut crate::pg::Client| -> Result<()> {
        if !first_attempt && restartable {
            // Not resumable: start over under a new version; the target's
            // ACTIVATE_VERSION drops the partial copy.
            let fresh = new_version();
            version = Some(fresh);
            outlet.send_lines(&mut out, id, &position.last_key)?;
            outlet.send(Event::NewVersion {
                task: id,
                version: fresh,
            })?;
            position = Position::default();
        }
        first_attempt = false;
        let spec = ReadSpec {
            version,
            slice: task.slice,
            snapshot,
        };
        plan.read(
            client,
            &mut position,
            &spec,
            options,
            &mut stats,
            counter,
            &mut out,
            &mut |position, out, due| {
                if due && !position.last_key.is_empty() {
                    outlet.send_lines(out, id, &position.last_key)?;
                    outlet.send(Event::Checkpoint {
                        task: id,
                        last_key: position.last_key.clone(),
                    })
                } else {
                    outlet.send_full(out, id, || position.last_key.clone())
                }
            },
        )
    };
    if matches!(task.slice, Slice::Blocks { .. }) {
        // A block range cannot resume: a retry would repeat its rows.
        attempt(session.client())?;
    } else {
        session.with_retry(Subject::Stream(&plan.tap_stream_id), &mut budget, attempt)?;
    }
    outlet.send_lines(&mut out, id, &position.last_key)?;
    if !position.last_key.is_empty() {
        outlet.send(Event::Checkpoint {
            task: id,
            last_key: position.last_key.clone(),
        })?;
    }
    counter.finish();
    outlet.send(Event::Finished {
        task: id,
        records: position.records,
        retries: budget.retries,
        stats,
    })
}
