//! `--parallel N` over several tables: up to N tables load at once, each on
//! its own connection, through the same per-table code as a sequential run.
//!
//! Each worker renders a table's messages into its own buffer and hands
//! whole lines to the one writer (this thread) through the bounded channel
//! of [`crate::parallel`], so a slow target holds every worker back. A
//! table's STATE lines never reach stdout as they are: the writer takes the
//! table's own bookmark from them into the run's state and writes that
//! state, so every STATE covers exactly the lines written before it, of
//! every table, and a table's bookmark moves only with its own lines.
//! `currently_syncing` is the first table (in the run's order) not finished
//! yet, which a rerun loads first. A failing table stops the run: nothing
//! is written after the failure.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use singer_protocol::Writer;
use singer_state::State;
use tracing::info;

use super::{Run, TableSummary};
use crate::connect::Connector;
use crate::error::{Error, Result};
use crate::manifest::options::ManifestOptions;
use crate::manifest::plan::TablePlan;
use crate::parallel::{CHUNK_BYTES, Channel, Event, Outlet};
use crate::session::Session;
use crate::stream::write_state;
use crate::types::EncodeStats;

/// How a STATE line starts as [`singer_protocol::Writer`] renders it.
const STATE_PREFIX: &[u8] = b"{\"type\":\"STATE\",";

/// Loads `plans` with `workers` tables at once (see the module docs).
pub(super) fn sync_tables<W: Write>(
    connector: &Connector,
    plans: &[TablePlan<'_>],
    state: &mut State,
    options: &ManifestOptions,
    cap: Option<DateTime<Utc>>,
    workers: usize,
    out: &mut Writer<W>,
) -> Result<Vec<TableSummary>> {
    // Tables run side by side: each one's copy reads with one connection.
    let mut table_options = options.clone();
    table_options.sync.parallelism = 1;
    let table_options = &table_options;
    info!(
        tables = plans.len(),
        workers, "Loading tables in parallel, one connection each."
    );
    let start = state.clone();
    let queue = Mutex::new(plans.iter().enumerate().collect::<VecDeque<_>>());
    let summaries: Mutex<Vec<Option<TableSummary>>> = Mutex::new(vec![None; plans.len()]);
    let mut finished = vec![false; plans.len()];
    let channel = Channel::new(workers);
    channel.run(
        workers,
        |outlet| {
            worker(
                connector,
                table_options,
                cap,
                &queue,
                &start,
                &summaries,
                outlet,
            );
        },
        |end| {
            let mut failure: Option<Error> = None;
            while let Some(event) = end.next() {
                if failure.is_some() {
                    if let Event::Lines { lines, .. } = event {
                        end.recycle(lines);
                    }
                    continue;
                }
                let step = match event {
                    Event::Lines { lines, task, .. } => {
                        let written = plans.get(task).map_or(Ok(()), |plan| {
                            write_table_lines(&lines, &plan.stream, plans, &finished, state, out)
                        });
                        end.recycle(lines);
                        written
                    }
                    Event::Finished { task, .. } => {
                        if let Some(done) = finished.get_mut(task) {
                            *done = true;
                        }
                        Ok(())
                    }
                    Event::Failed(error) => Err(error),
                    Event::Checkpoint { .. } | Event::NewVersion { .. } => Ok(()),
                };
                if let Err(error) = step {
                    failure = Some(error);
                    end.cancel();
                }
            }
            failure
        },
    )?;
    state.set_currently_syncing(None);
    write_state(out, state)?;
    Ok(summaries
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .collect())
}

/// Writes a chunk of `stream`'s lines: every line as it is, but a STATE
/// line becomes the run's state with the table's bookmark taken from it.
fn write_table_lines<W: Write>(
    lines: &[u8],
    stream: &str,
    plans: &[TablePlan<'_>],
    finished: &[bool],
    state: &mut State,
    out: &mut Writer<W>,
) -> Result<()> {
    let output = |source| Error::Output { source };
    // Lines before a STATE go out together, as they came.
    let mut pass: &[u8] = &[];
    let mut rest = lines;
    while !rest.is_empty() {
        let length = memchr::memchr(b'\n', rest).map_or(rest.len(), |n| n + 1);
        let (line, after) = rest.split_at(length);
        if line.starts_with(STATE_PREFIX) {
            out.write_lines(pass).map_err(output)?;
            pass = &[];
            take_bookmark(line, stream, state)?;
            let current = plans
                .iter()
                .zip(finished)
                .find(|(_, done)| !**done)
                .map(|(plan, _)| plan.stream.as_str());
            state.set_currently_syncing(current);
            write_state(out, state)?;
        } else {
            // `pass` ends where `line` starts: one slice of `lines`.
            let start = lines.len() - rest.len() - pass.len();
            pass = lines
                .get(start..start + pass.len() + line.len())
                .unwrap_or(line);
        }
        rest = after;
    }
    out.write_lines(pass).map_err(output)
}

/// Sets the run's bookmark of `stream` to the one in `line`, a table's
/// STATE message (as its load saw the state).
fn take_bookmark(line: &[u8], stream: &str, state: &mut State) -> Result<()> {
    let table_state = serde_json::from_slice::<serde_json::Value>(line)
        .ok()
        .and_then(|message| State::from_value(message.get("value")?.clone()).ok())
        .ok_or_else(|| Error::TableState {
            stream: stream.to_owned(),
        })?;
    match table_state.bookmarks.get(stream) {
        Some(bookmark) => {
            state.bookmarks.insert(stream.to_owned(), bookmark.clone());
        }
        None => {
            state.bookmarks.remove(stream);
        }
    }
    Ok(())
}

/// One worker: takes tables from the queue until it is empty or the run
/// stops, each loaded from the run's starting state (a table's bookmark
/// moves only with its own load).
fn worker(
    connector: &Connector,
    options: &ManifestOptions,
    cap: Option<DateTime<Utc>>,
    queue: &Mutex<VecDeque<(usize, &TablePlan<'_>)>>,
    start: &State,
    summaries: &Mutex<Vec<Option<TableSummary>>>,
    outlet: &Outlet,
) {
    let session = match Session::connect(connector, options.sync.retry_policy()) {
        Ok(session) => session,
        Err(error) => return outlet.fail(error),
    };
    let mut run = Run {
        options,
        session,
        cap,
    };
    while !outlet.is_cancelled() {
        let Some((index, plan)) = queue.lock().ok().and_then(|mut q| q.pop_front()) else {
            return;
        };
        let mut state = start.clone();
        let mut out = Writer::new(Sink {
            outlet,
            task: index,
            buffer: outlet.buffer(),
        });
        let loaded = run.table(plan, &mut state, &mut out).and_then(|summary| {
            out.flush()
                .map(|()| summary)
                .map_err(|source| Error::Output { source })
        });
        match loaded {
            Ok(summary) => {
                if let Ok(mut summaries) = summaries.lock()
                    && let Some(slot) = summaries.get_mut(index)
                {
                    *slot = summary;
                }
                let sent = outlet.send(Event::Finished {
                    task: index,
                    records: 0,
                    retries: 0,
                    stats: EncodeStats::default(),
                });
                if sent.is_err() {
                    return;
                }
            }
            Err(error) => return outlet.fail(error),
        }
    }
}

/// A table's output on its way to the writer: whole lines, in chunks of
/// about [`CHUNK_BYTES`], and everything up to a STATE at once (the
/// [`Writer`] flushes after each).
struct Sink<'o> {
    outlet: &'o Outlet,
    task: usize,
    buffer: Vec<u8>,
}

impl Sink<'_> {
    /// Sends the buffer's whole lines (a message may arrive in pieces).
    fn send_lines(&mut self) -> std::io::Result<()> {
        let Some(last) = memchr::memrchr(b'\n', &self.buffer) else {
            return Ok(());
        };
        // The lines go; a partial message's start moves to a pooled buffer.
        let mut next = self.outlet.buffer();
        next.extend_from_slice(self.buffer.get(last + 1..).unwrap_or_default());
        let mut lines = std::mem::replace(&mut self.buffer, next);
        lines.truncate(last + 1);
        self.outlet
            .send(Event::Lines {
                lines,
                task: self.task,
                last_key: Vec::new(),
            })
            .map_err(|_| std::io::Error::other("the run is stopping"))
    }
}

impl Write for Sink<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if self.outlet.is_cancelled() {
            return Err(std::io::Error::other("the run is stopping"));
        }
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= CHUNK_BYTES {
            self.send_lines()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send_lines()
    }
}
