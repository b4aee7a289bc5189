//! Reading a described query: by key ranges `[a, a+step-1]` (integer keys)
//! with STATE after each range, or in one statement, each read in one
//! read-only REPEATABLE READ transaction that resumes after the last key
//! emitted when a transient failure reconnects.

use std::collections::{BTreeMap, VecDeque};
use std::io::Write;
use std::sync::{Arc, Mutex};

use postgres::types::ToSql;
use singer_protocol::Writer;
use singer_state::State;
use tracing::{debug, info};

use super::describe::Described;
use super::{Run, TableLoad};
use crate::connect::Connector;
use crate::error::{Error, Result};
use crate::ident::quote_ident;
use crate::manifest::bookmark::ManifestBookmark;
use crate::manifest::plan::TablePlan;
use crate::manifest::template;
use crate::parallel::{
    Channel, Event, MAX_RANGES, Outlet, SharedSnapshot, begin_read, pieces_for, split_keys,
};
use crate::session::{RetryBudget, Session, Subject};
use crate::stream::{RecordCounter, RecordLayout, StreamCounter, stream_records, write_state};
use crate::sync::SyncOptions;
use crate::types::EncodeStats;

/// What the STATE after each range records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Progress {
    /// `last_finished_range` (full copies and backfills).
    Range,
    /// `max_id` (load-by-id).
    MaxId,
}

/// Counts of one read.
#[derive(Default)]
pub(super) struct Span {
    /// Records written.
    pub(super) records: u64,
    /// The highest key written (ranged reads).
    pub(super) max_pk: Option<i64>,
}

impl Run<'_> {
    /// Copies the table by key ranges `[a, a+step-1]`, starting after
    /// `after` (or at the smallest key), writing STATE after each range as
    /// `progress` says. A key that is not an integer is read in one
    /// statement.
    pub(super) fn copy<W: Write>(
        &mut self,
        load: &mut TableLoad<'_, '_>,
        after: Option<i64>,
        version: Option<u64>,
        progress: Progress,
        state: &mut State,
        out: &mut Writer<W>,
    ) -> Result<Span> {
        let mut total = Span::default();
        if !load.described.ranged {
            return self.read(load, i64::MIN, i64::MAX, version, out);
        }
        let step = i64::try_from(self.options.step.max(1)).unwrap_or(i64::MAX);
        let Some((min, max)) = self.bounds(load, after)? else {
            debug!(table = %load.plan.spec.key, "No rows past the starting point.");
            return Ok(total);
        };
        let mut next = Some(min);
        while let Some(lo) = next
            && lo <= max
        {
            let hi = lo.saturating_add(step - 1);
            let span = self.read(load, lo, hi, version, out)?;
            total.records += span.records;
            total.max_pk = total.max_pk.max(span.max_pk);
            let bookmark = state.bookmark_mut(&load.plan.stream);
            match progress {
                Progress::Range => ManifestBookmark::set_last_finished_range(bookmark, lo, hi),
                Progress::MaxId => {
                    if let Some(max_pk) = span.max_pk {
                        ManifestBookmark::set_max_id(bookmark, max_pk);
                    }
                }
            }
            write_state(out, state)?;
            next = match (span.records, hi.checked_add(1)) {
                (_, None) => None,
                // An empty range: jump to the next key that exists.
                (0, Some(_)) => self.bounds(load, Some(hi))?.map(|(m, _)| m),
                (_, Some(n)) => Some(n),
            };
        }
        Ok(total)
    }

    /// `(min, max)` of the key past `after`, or `None` when there is none.
    fn bounds(
        &mut self,
        load: &mut TableLoad<'_, '_>,
        after: Option<i64>,
    ) -> Result<Option<(i64, i64)>> {
        let sql = key_range_sql(load, true);
        let after = after.unwrap_or(i64::MIN);
        let stream = &load.plan.stream;
        let query_error = |action, source| Error::Query {
            stream: Some(stream.clone()),
            action,
            source,
        };
        let (min, max): (Option<i64>, Option<i64>) = self.session.with_retry(
            Subject::Table(&load.plan.spec.key),
            &mut load.budget,
            |client| {
                let row = client
                    .query_one(sql.as_str(), &[&after])
                    .map_err(|e| query_error("finding the key range", e))?;
                let min = row
                    .try_get(0)
                    .map_err(|e| query_error("reading the key range", e))?;
                let max = row
                    .try_get(1)
                    .map_err(|e| query_error("reading the key range", e))?;
                Ok((min, max))
            },
        )?;
        Ok(min.zip(max))
    }

    /// Reads keys `lo..=hi` (or, for a non-integer key, the whole query)
    /// in key order inside one read-only REPEATABLE READ transaction; after
    /// a transient failure it reconnects and continues after the last key
    /// emitted.
    pub(super) fn read<W: Write>(
        &mut self,
        load: &mut TableLoad<'_, '_>,
        lo: i64,
        hi: i64,
        version: Option<u64>,
        out: &mut Writer<W>,
    ) -> Result<Span> {
        let source = Source {
            described: &load.described,
            plan: load.plan,
            suffix: &load.suffix,
            counter: None,
        };
        let mut reader = RangeReader {
            counter: &load.counter,
            stats: &mut load.stats,
            budget: &mut load.budget,
        };
        reader.read(
            &mut self.session,
            &source,
            (lo, hi),
            version,
            None,
            out,
            &mut |_, _| Ok(()),
        )
    }

    /// A full copy or backfill by key ranges read by `parallelism`
    /// connections inside one shared snapshot: ranges of at most `step`
    /// keys, at least four per reader; the unfinished ones (with the
    /// position reached in each) are in every STATE as `pending_ranges`, so
    /// an interrupted copy resumes with only those. Returns what was read.
    pub(super) fn copy_parallel<W: Write>(
        &mut self,
        load: &mut TableLoad<'_, '_>,
        resume: Option<Vec<(i64, i64)>>,
        version: Option<u64>,
        state: &mut State,
        out: &mut Writer<W>,
    ) -> Result<Span> {
        let connector = self.session.connector();
        let sync = &self.options.sync;
        let mut snapshot = SharedSnapshot::export(connector)?;
        let stream = load.plan.stream.clone();
        let mut copy_max = load.bookmark.copy_max_key;
        let mut pending: BTreeMap<usize, (i64, i64)> = match resume {
            Some(ranges) => ranges.into_iter().enumerate().collect(),
            None => {
                let Some((min, max)) = bounds_in(&mut snapshot, load)? else {
                    snapshot.release();
                    return Ok(Span::default());
                };
                copy_max = Some(max);
                ManifestBookmark::set_copy_max_key(state.bookmark_mut(&stream), max);
                let span = u64::try_from(i128::from(max) - i128::from(min) + 1).unwrap_or(u64::MAX);
                let pieces = pieces_for(None, sync.parallelism, None)
                    .max(span.div_ceil(self.options.step.max(1)))
                    .min(MAX_RANGES);
                split_keys(min, max, pieces)
                    .into_iter()
                    .enumerate()
                    .collect()
            }
        };
        ManifestBookmark::set_pending_ranges(state.bookmark_mut(&stream), pending.values());
        write_state(out, state)?;
        let ranges: Vec<(i64, i64)> = pending.values().copied().collect();
        let tasks: Vec<(usize, (i64, i64))> = pending.iter().map(|(&k, &v)| (k, v)).collect();
        info!(table = %load.plan.spec.key, ranges = ranges.len(), readers = sync.parallelism, "Copying key ranges in parallel inside one snapshot.");
        let queue = Mutex::new(tasks.into_iter().collect::<VecDeque<_>>());
        let workers = sync.parallelism.clamp(1, ranges.len().max(1));
        let channel = Channel::new(workers);
        let source = Source {
            described: &load.described,
            plan: load.plan,
            suffix: &load.suffix,
            counter: Some(load.counter.stream_counter()),
        };
        let snapshot_id = snapshot.id().to_owned();
        let mut total = Span::default();
        let mut stats = EncodeStats::default();
        let mut retries = 0;
        let result = channel.run(
            workers,
            |outlet| {
                copy_worker(
                    connector,
                    sync,
                    &queue,
                    &source,
                    version,
                    &snapshot_id,
                    outlet,
                );
            },
            |end| {
                let mut failure: Option<Error> = None;
                while let Some(event) = end.next() {
                    // Where a range's read has got to, once its lines are written.
                    let mut advance = |task: usize, last_key: &[Vec<u8>], state: &mut State| {
                        let last = last_key
                            .first()
                            .and_then(|raw| std::str::from_utf8(raw).ok())
                            .and_then(|text| text.parse::<i64>().ok());
                        if let (Some(last), Some(range)) = (last, pending.get_mut(&task)) {
                            match last.checked_add(1) {
                                Some(next) if next <= range.1 => range.0 = next,
                                _ => {
                                    pending.remove(&task);
                                }
                            }
                        }
                        ManifestBookmark::set_pending_ranges(
                            state.bookmark_mut(&stream),
                            pending.values(),
                        );
                    };
                    let step = match event {
                        Event::Lines {
                            lines,
                            task,
                            last_key,
                        } => {
                            let written = if failure.is_none() {
                                out.write_lines(&lines)
                                    .map_err(|source| Error::Output { source })
                                    .map(|()| advance(task, &last_key, state))
                            } else {
                                Ok(())
                            };
                            end.recycle(lines);
                            written
                        }
                        Event::Failed(error) => Err(error),
                        _ if failure.is_some() => Ok(()),
                        Event::Checkpoint { task, last_key } => {
                            advance(task, &last_key, state);
                            write_state(out, state)
                        }
                        Event::Finished {
                            task,
                            records,
                            retries: used,
                            stats: part,
                        } => {
                            total.records += records;
                            retries += used;
                            stats.merge(&part);
                            pending.remove(&task);
                            ManifestBookmark::set_pending_ranges(
                                state.bookmark_mut(&stream),
                                pending.values(),
                            );
                            write_state(out, state)
                        }
                        Event::NewVersion { .. } => Ok(()),
                    };
                    if let Err(error) = step
                        && failure.is_none()
                    {
                        failure = Some(error);
                        end.cancel();
                    }
                }
                failure
            },
        );
        snapshot.release();
        load.stats.merge(&stats);
        load.budget.retries += retries;
        result?;
        // The copy's largest key, also when its top range was read by an
        // earlier run.
        total.max_pk = copy_max.or_else(|| ranges.iter().map(|r| r.1).max());
        Ok(total)
    }
}

/// `(min, max)` of the query's key in the shared snapshot.
fn bounds_in(
    snapshot: &mut SharedSnapshot,
    load: &TableLoad<'_, '_>,
) -> Result<Option<(i64, i64)>> {
    snapshot
        .min_max(&key_range_sql(load, false))
        .map_err(|source| Error::Query {
            stream: Some(load.plan.stream.clone()),
            action: "finding the key range",
            source,
        })
}

/// The query that finds `(min, max)` of the described query's key (past
/// `$1` when `after`).
fn key_range_sql(load: &TableLoad<'_, '_>, after: bool) -> String {
    let described = &load.described;
    let pk = described
        .columns
        .get(described.pk)
        .map(|c| quote_ident(&c.name))
        .unwrap_or_default();
    let past = if after {
        format!(" WHERE q.{pk} > $1::int8")
    } else {
        String::new()
    };
    format!(
        "SELECT min(q.{pk})::int8, max(q.{pk})::int8 FROM (\n{}\n) q{past}",
        described.body
    )
}

/// One reader of a parallel copy: takes ranges until none is left or the
/// run stops, on its own connection.
fn copy_worker(
    connector: &Connector,
    sync: &SyncOptions,
    queue: &Mutex<VecDeque<(usize, (i64, i64))>>,
    source: &Source<'_, '_>,
    version: Option<u64>,
    snapshot: &str,
    outlet: &Outlet,
) {
    let mut session = match Session::connect(connector, sync.retry_policy()) {
        Ok(session) => session,
        Err(error) => return outlet.fail(error),
    };
    while !outlet.is_cancelled() {
        let Some((task, range)) = queue.lock().ok().and_then(|mut q| q.pop_front()) else {
            return;
        };
        let counter = match &source.counter {
            Some(table) => table.join(),
            None => RecordCounter::new(&source.plan.stream, sync.metrics_interval),
        };
        let mut stats = EncodeStats::default();
        let mut budget = RetryBudget::new();
        let mut out = outlet.writer();
        let mut reader = RangeReader {
            counter: &counter,
            stats: &mut stats,
            budget: &mut budget,
        };
        let state_interval = sync.state_interval.max(1);
        let mut since = 0;
        let result = reader
            .read(
                &mut session,
                source,
                range,
                version,
                Some(snapshot),
                &mut out,
                &mut |id, out| {
                    since += 1;
                    let key = || vec![id.to_string().into_bytes()];
                    if since >= state_interval {
                        since = 0;
                        outlet.send_lines(out, task, &key())?;
                        outlet.send(Event::Checkpoint {
                            task,
                            last_key: key(),
                        })
                    } else {
                        outlet.send_full(out, task, key)
                    }
                },
            )
            .and_then(|span| {
                let last_key: Vec<Vec<u8>> = span
                    .max_pk
                    .map(|id| vec![id.to_string().into_bytes()])
                    .unwrap_or_default();
                outlet.send_lines(&mut out, task, &last_key)?;
                counter.finish();
                outlet.send(Event::Finished {
                    task,
                    records: span.records,
                    retries: budget.retries,
                    stats,
                })
            });
        match result {
            Ok(()) => {}
            Err(Error::Cancelled) => return,
            Err(error) => return outlet.fail(error),
        }
    }
}

/// What every read of one table shares.
pub(super) struct Source<'l, 'm> {
    described: &'l Described,
    plan: &'l TablePlan<'m>,
    suffix: &'l [u8],
    /// The table's METRIC counter and progress line, which every range's
    /// reader counts into (parallel copies).
    counter: Option<Arc<StreamCounter>>,
}

/// What a ranged read calls after each record: its key and the output.
type AfterKey<'a, W> = dyn FnMut(i64, &mut Writer<W>) -> Result<()> + 'a;

/// One reader's counters.
struct RangeReader<'r> {
    counter: &'r RecordCounter,
    stats: &'r mut EncodeStats,
    budget: &'r mut RetryBudget,
}

impl RangeReader<'_> {
    /// Reads keys `lo..=hi` (the whole query for a non-integer key) in key
    /// order inside one read-only REPEATABLE READ transaction (in the
    /// shared `snapshot` when given), calling `after_row` with each row's
    /// key; after a transient failure it reconnects and continues after the
    /// last key emitted.
    #[allow(
        clippy::too_many_arguments,
        reason = "two call sites; a struct would only rename them"
    )]
    fn read<W: Write>(
        &mut self,
        session: &mut Session<'_>,
        source: &Source<'_, '_>,
        (lo, hi): (i64, i64),
        version: Option<u64>,
        snapshot: Option<&str>,
        out: &mut Writer<W>,
        after_row: &mut AfterKey<'_, W>,
    ) -> Result<Span> {
        let described = source.described;
        let plan = source.plan;
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
            suffix: source.suffix,
            version,
            counter: self.counter,
        };
        let stats = &mut *self.stats;
        let mut span = Span::default();
        let mut from = Some(lo);
        session.with_retry(Subject::Table(&plan.spec.key), self.budget, |client| {
            let Some(start) = from else {
                return Ok(());
            };
            let query_error = |action, source| Error::Query {
                stream: Some(plan.stream.clone()),
                action,
                source,
            };
            let mut tx = begin_read(client, snapshot)
                .map_err(|e| query_error("starting a read-only transaction", e))?;
            let mut rows = if described.ranged {
                tx.query_raw(sql.as_str(), [&start as &(dyn ToSql + Sync), &hi])
            } else {
                tx.query_raw(sql.as_str(), std::iter::empty::<&(dyn ToSql + Sync)>())
            }
            .map_err(|e| query_error("starting the table read", e))?;
            stream_records(&mut rows, &layout, stats, out, |record, ranges, out| {
                span.records += 1;
                if let Some(id) = ranges
                    .first()
                    .and_then(|r| record.get(r.clone()))
                    .and_then(|raw| std::str::from_utf8(raw).ok())
                    .and_then(|text| text.parse::<i64>().ok())
                {
                    span.max_pk = Some(id);
                    from = id.checked_add(1);
                    after_row(id, out)?;
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
