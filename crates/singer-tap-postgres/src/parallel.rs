//! The parts of parallel extraction both modes share: one snapshot that
//! several connections read in, the split of a table into key or block
//! ranges, and the hand-over of rendered lines from the workers to the one
//! writer that owns stdout.
//!
//! How a parallel run is put together (catalog mode in `sync::parallel`,
//! manifest mode in `manifest::run`):
//!
//! * **One writer.** The calling thread owns the [`Writer`] on stdout. The
//!   workers render RECORD lines into their own buffers and send them in
//!   chunks of whole lines ([`Event::Lines`], about [`CHUNK_BYTES`]) through
//!   one bounded channel; each chunk carries where its task's read had got
//!   to after its last line, which the writer applies to the state once
//!   the chunk is written. So every STATE (written at a reader's
//!   [`Event::Checkpoint`] or [`Event::Finished`]) covers exactly the
//!   lines written before it, whichever reader wrote them: a rerun from it
//!   sends no row twice. Memory is bounded by the channel: a slow target
//!   blocks the writer, the channel fills and every worker waits.
//! * **One snapshot.** A coordinating connection opens a REPEATABLE READ
//!   transaction and exports its snapshot ([`SharedSnapshot`]); every range
//!   of a split table is read in a transaction that imports it, so the
//!   ranges together are one consistent picture of the table (as `pg_dump
//!   --jobs` does, with one connection more than the readers).
//! * **Failure.** The first error wins: the writer stops writing at once,
//!   tells the workers to stop ([`Cancel`]), drains the channel until they
//!   have gone, and returns that error. Nothing is written after it, so the
//!   last STATE covers only what was written before.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

use crate::pg::{Client, Transaction};
use singer_protocol::Writer;

use crate::connect::Connector;
use crate::error::{Error, Result};
use crate::types::EncodeStats;

/// The size at which a worker hands its rendered lines to the writer.
pub(crate) const CHUNK_BYTES: usize = 256 * 1024;

/// How long a read in the shared snapshot waits for a table lock.
const LOCK_TIMEOUT: &str = "5min";

/// The most ranges a table is split into (each unfinished one is in every
/// STATE while the copy runs).
pub(crate) const MAX_RANGES: u64 = 4096;

/// Chunks in flight per worker: what bounds a parallel run's memory
/// (about `parallelism × CHUNKS_PER_WORKER × CHUNK_BYTES`).
const CHUNKS_PER_WORKER: usize = 4;

/// What a worker tells the writer.
pub(crate) enum Event {
    /// Complete message lines of task `task`, ready to be written as they
    /// are; after the last of them its read had got to `last_key` (the
    /// rendered JSON values of its position columns; empty when the read
    /// has none).
    Lines {
        /// The lines.
        lines: Vec<u8>,
        /// The task.
        task: usize,
        /// The position after the last line.
        last_key: Vec<Vec<u8>>,
    },
    /// Every line of task `task` up to here has been sent (its read has
    /// got to `last_key`): time for a STATE.
    Checkpoint {
        /// The task.
        task: usize,
        /// The position's rendered values.
        last_key: Vec<Vec<u8>>,
    },
    /// Task `task` could not resume and started over under a new table
    /// version (a FULL_TABLE read without a key).
    NewVersion {
        /// The task.
        task: usize,
        /// The new version.
        version: u64,
    },
    /// Task `task` is done: every line it rendered has been sent.
    Finished {
        /// The task.
        task: usize,
        /// Records it emitted.
        records: u64,
        /// Reconnects it needed.
        retries: u32,
        /// Special values it met.
        stats: EncodeStats,
    },
    /// The task failed; the run stops.
    Failed(Error),
}

/// The run's stop flag, set when the writer has seen an error (or the
/// output closed).
#[derive(Debug, Default)]
pub(crate) struct Cancel(AtomicBool);

impl Cancel {
    /// Asks every worker to stop.
    pub(crate) fn set(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether the run is stopping.
    pub(crate) fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Spare line buffers, handed back by the writer for reuse.
type Pool = Arc<Mutex<Vec<Vec<u8>>>>;

/// The channel between the workers and the writer, with its buffer pool.
pub(crate) struct Channel {
    tx: SyncSender<Event>,
    rx: Receiver<Event>,
    pool: Pool,
    cancel: Arc<Cancel>,
}

impl Channel {
    /// A channel for `workers` workers.
    pub(crate) fn new(workers: usize) -> Self {
        let (tx, rx) = sync_channel(workers.max(1) * CHUNKS_PER_WORKER);
        Self {
            tx,
            rx,
            pool: Arc::default(),
            cancel: Arc::default(),
        }
    }

    /// A worker's end.
    pub(crate) fn outlet(&self) -> Outlet {
        Outlet {
            tx: self.tx.clone(),
            pool: Arc::clone(&self.pool),
            cancel: Arc::clone(&self.cancel),
        }
    }

    /// Runs `workers` threads of `work`, each with its own end of the
    /// channel (a worker that panics stops the run as
    /// [`Error::WorkerPanicked`]), while the calling thread, the writer,
    /// handles their events with `writer` until every worker has gone.
    /// `writer` returns the first error it met (it cancels the run at
    /// once and goes on draining the channel); that error is the run's,
    /// else a worker's panic.
    ///
    /// # Errors
    ///
    /// The writer's first error, or [`Error::WorkerPanicked`].
    pub(crate) fn run<F, G>(self, workers: usize, work: F, writer: G) -> Result<()>
    where
        F: Fn(&Outlet) + Sync,
        G: FnOnce(&WriterEnd) -> Option<Error>,
    {
        std::thread::scope(|scope| {
            let work = &work;
            let handles: Vec<_> = (0..workers)
                .map(|_| {
                    let outlet = self.outlet();
                    scope.spawn(move || {
                        let run = std::panic::AssertUnwindSafe(|| work(&outlet));
                        if std::panic::catch_unwind(run).is_err() {
                            // Stop the others and the writer at once.
                            outlet.fail(Error::WorkerPanicked);
                        }
                    })
                })
                .collect();
            let end = self.into_writer_end();
            let failure = writer(&end);
            let mut panicked = false;
            for handle in handles {
                panicked |= handle.join().is_err();
            }
            match failure {
                Some(error) => Err(error),
                None if panicked => Err(Error::WorkerPanicked),
                None => Ok(()),
            }
        })
    }

    /// The writer's end: the events, until every worker's end is dropped.
    /// Takes the channel's own sender away so that the loop ends.
    pub(crate) fn into_writer_end(self) -> WriterEnd {
        drop(self.tx);
        WriterEnd {
            rx: self.rx,
            pool: self.pool,
            cancel: self.cancel,
        }
    }
}

/// What the writer keeps of the channel.
pub(crate) struct WriterEnd {
    rx: Receiver<Event>,
    pool: Pool,
    cancel: Arc<Cancel>,
}

impl WriterEnd {
    /// Asks every worker to stop (the run is failing).
    pub(crate) fn cancel(&self) {
        self.cancel.set();
    }

    /// The next event, or `None` when every worker has gone.
    pub(crate) fn next(&self) -> Option<Event> {
        self.rx.recv().ok()
    }

    /// Hands a written buffer back for reuse.
    pub(crate) fn recycle(&self, mut buffer: Vec<u8>) {
        buffer.clear();
        if let Ok(mut pool) = self.pool.lock()
            && pool.len() < 2 * CHUNKS_PER_WORKER
        {
            pool.push(buffer);
        }
    }
}

/// A worker's end of the channel.
pub(crate) struct Outlet {
    tx: SyncSender<Event>,
    pool: Pool,
    cancel: Arc<Cancel>,
}

impl Outlet {
    /// A writer over an empty buffer for the worker's lines.
    pub(crate) fn writer(&self) -> Writer<Vec<u8>> {
        Writer::new(self.buffer())
    }

    pub(crate) fn buffer(&self) -> Vec<u8> {
        self.pool
            .lock()
            .ok()
            .and_then(|mut pool| pool.pop())
            .unwrap_or_else(|| Vec::with_capacity(CHUNK_BYTES + 64 * 1024))
    }

    /// Sends an event; [`Error::Cancelled`] when the run is stopping.
    pub(crate) fn send(&self, event: Event) -> Result<()> {
        if self.cancel.is_set() {
            return Err(Error::Cancelled);
        }
        self.tx.send(event).map_err(|_| Error::Cancelled)
    }

    /// Sends the lines of task `task` rendered so far, if any, with the
    /// position after them.
    pub(crate) fn send_lines(
        &self,
        out: &mut Writer<Vec<u8>>,
        task: usize,
        last_key: &[Vec<u8>],
    ) -> Result<()> {
        if out.get_ref().is_empty() {
            return Ok(());
        }
        let lines = std::mem::replace(out.get_mut(), self.buffer());
        self.send(Event::Lines {
            lines,
            task,
            last_key: last_key.to_vec(),
        })
    }

    /// Sends the lines rendered so far once they fill a chunk;
    /// [`Error::Cancelled`] as soon as the run is stopping.
    #[inline]
    pub(crate) fn send_full(
        &self,
        out: &mut Writer<Vec<u8>>,
        task: usize,
        last_key: impl FnOnce() -> Vec<Vec<u8>>,
    ) -> Result<()> {
        if out.get_ref().len() >= CHUNK_BYTES {
            self.send_lines(out, task, &last_key())
        } else if self.cancel.is_set() {
            Err(Error::Cancelled)
        } else {
            Ok(())
        }
    }

    /// Reports a failure (the writer keeps only the first).
    pub(crate) fn fail(&self, error: Error) {
        // A closed channel means the writer has gone: nothing to tell.
        let _ = self.tx.send(Event::Failed(error));
    }

    /// Whether the run is stopping.
    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancel.is_set()
    }
}

/// A snapshot exported by a coordinating transaction, which stays open (on
/// its own connection) until the snapshot is no longer needed: every
/// transaction that imports it sees exactly what the coordinator saw.
pub(crate) struct SharedSnapshot {
    client: Client,
    id: String,
}

impl SharedSnapshot {
    /// Connects, opens a read-only REPEATABLE READ transaction and exports
    /// its snapshot.
    pub(crate) fn export(connector: &Connector) -> Result<Self> {
        let mut client = connector.open()?;
        let error = |action| move |source| Error::Snapshot { action, source };
        // The coordinator sits idle in its transaction for the whole copy:
        // a server-wide idle_in_transaction_session_timeout must not end it.
        client
            .batch_execute(
                "SET idle_in_transaction_session_timeout = 0; \
                 BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
            )
            .map_err(error("starting the coordinating transaction"))?;
        let row = client
            .query_one("SELECT pg_export_snapshot()", &[])
            .map_err(error("exporting the snapshot"))?;
        let id: String = row
            .try_get(0)
            .map_err(error("reading the snapshot's identifier"))?;
        tracing::debug!(snapshot = %id, "Exported a snapshot for parallel readers.");
        Ok(Self { client, id })
    }

    /// The coordinator's connection, inside the snapshot (for the queries
    /// that plan the split).
    pub(crate) fn client(&mut self) -> &mut Client {
        &mut self.client
    }

    /// `(min, max)` of the two `int8` columns `sql` selects, read in the
    /// snapshot; `None` when the rows it aggregates are none.
    pub(crate) fn min_max(
        &mut self,
        sql: &str,
    ) -> std::result::Result<Option<(i64, i64)>, postgres::Error> {
        let row = self.client.query_one(sql, &[])?;
        let min: Option<i64> = row.try_get(0)?;
        let max: Option<i64> = row.try_get(1)?;
        Ok(min.zip(max))
    }

    /// The snapshot's identifier.
    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    /// Ends the coordinating transaction: the snapshot can no longer be
    /// imported.
    pub(crate) fn release(mut self) {
        if let Err(error) = self.client.batch_execute("COMMIT") {
            tracing::debug!(error = %error, "Ending the coordinating transaction failed.");
        }
    }
}

/// Starts the read-only REPEATABLE READ transaction of a read, in the
/// shared snapshot `snapshot` when given.
///
/// # Errors
///
/// The server's error; importing a snapshot whose coordinator has gone is
/// SQLSTATE 22023, not retryable.
pub(crate) fn begin_read<'c>(
    client: &'c mut Client,
    snapshot: Option<&str>,
) -> std::result::Result<Transaction<'c>, postgres::Error> {
    let mut tx = crate::session::begin_snapshot(client);
    if let Some(id) = snapshot {
        // SET TRANSACTION SNAPSHOT takes no parameter; the identifier comes
        // from pg_export_snapshot() (hex digits and dashes), quoted anyway.
        // The coordinator holds the table's lock: a DDL statement queued
        // behind it would queue this read behind itself, a wait PostgreSQL
        // cannot see as a deadlock (the coordinator waits on us). Fail the
        // read after a while instead of hanging (pg_dump --jobs's rule).
        let literal = id.replace('\'', "''");
        tx.batch_execute(&format!(
            "SET TRANSACTION SNAPSHOT '{literal}'; SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"
        ))?;
    }
    Ok(tx)
}

/// Splits the keys `min..=max` into at most `pieces` ranges of nearly
/// equal width, in order, covering every key once.
pub(crate) fn split_keys(min: i64, max: i64, pieces: u64) -> Vec<(i64, i64)> {
    if min > max {
        return Vec::new();
    }
    let span = i128::from(max) - i128::from(min) + 1;
    let pieces = i128::from(pieces.max(1)).min(span);
    let mut ranges = Vec::new();
    let mut lo = i128::from(min);
    for i in 0..pieces {
        // The first `span % pieces` ranges are one key wider.
        let width = span / pieces + i128::from(i < span % pieces);
        let hi = lo + width - 1;
        if let (Ok(a), Ok(b)) = (i64::try_from(lo), i64::try_from(hi)) {
            ranges.push((a, b));
        }
        lo = hi + 1;
    }
    ranges
}

/// Splits a table of `blocks` heap blocks into at most `pieces` block
/// ranges `[from, to)`; the last is open-ended, so rows in blocks added
/// after the count (not visible in the snapshot anyway) are covered too.
pub(crate) fn split_blocks(blocks: u64, pieces: u64) -> Vec<(u64, Option<u64>)> {
    let pieces = pieces.max(1).min(blocks.max(1));
    let width = blocks.div_ceil(pieces).max(1);
    let mut ranges = Vec::new();
    let mut from = 0;
    while ranges.len() + 1 < usize::try_from(pieces).unwrap_or(usize::MAX) && from + width < blocks
    {
        ranges.push((from, Some(from + width)));
        from += width;
    }
    ranges.push((from, None));
    ranges
}

/// How many ranges to split a table of about `rows` rows into for
/// `parallelism` readers: four per reader (so a fast reader takes more),
/// and more when `max_rows_per_statement` bounds each statement.
pub(crate) fn pieces_for(rows: Option<u64>, parallelism: usize, max_rows: Option<u64>) -> u64 {
    let per_reader = u64::try_from(parallelism.max(1)).unwrap_or(1) * 4;
    let bounded = match (rows, max_rows) {
        (Some(rows), Some(max)) if max > 0 => rows.div_ceil(max),
        _ => 1,
    };
    per_reader.max(bounded).min(MAX_RANGES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ranges_cover_every_key_once() {
        for (min, max, pieces) in [
            (1, 100, 4),
            (1, 3, 8),
            (-5, 5, 3),
            (7, 7, 4),
            (i64::MIN, i64::MAX, 5),
            (i64::MAX - 2, i64::MAX, 2),
        ] {
            let ranges = split_keys(min, max, pieces);
            assert!(!ranges.is_empty());
            assert!(ranges.len() as u64 <= pieces);
            assert_eq!(ranges.first().map(|r| r.0), Some(min));
            assert_eq!(ranges.last().map(|r| r.1), Some(max));
            for pair in ranges.windows(2) {
                assert_eq!(pair[0].1.checked_add(1), Some(pair[1].0), "{ranges:?}");
            }
            for (lo, hi) in &ranges {
                assert!(lo <= hi);
            }
        }
        assert!(split_keys(5, 4, 3).is_empty());
        assert_eq!(split_keys(1, 10, 3), vec![(1, 4), (5, 7), (8, 10)]);
    }

    #[test]
    fn block_ranges_cover_every_block_and_end_open() {
        assert_eq!(split_blocks(0, 4), vec![(0, None)]);
        assert_eq!(split_blocks(10, 1), vec![(0, None)]);
        assert_eq!(
            split_blocks(10, 4),
            vec![(0, Some(3)), (3, Some(6)), (6, Some(9)), (9, None)]
        );
        assert_eq!(split_blocks(2, 8), vec![(0, Some(1)), (1, None)]);
        for blocks in 0..50 {
            for pieces in 1..10 {
                let ranges = split_blocks(blocks, pieces);
                assert!(ranges.len() as u64 <= pieces.max(1));
                assert_eq!(ranges.first().map(|r| r.0), Some(0));
                assert_eq!(ranges.last().map(|r| r.1), Some(None));
                for pair in ranges.windows(2) {
                    assert_eq!(pair[0].1, Some(pair[1].0));
                }
            }
        }
    }

    #[test]
    fn pieces_grow_with_the_statement_bound() {
        assert_eq!(pieces_for(Some(1_000_000), 2, None), 8);
        assert_eq!(pieces_for(None, 4, Some(10)), 16);
        assert_eq!(pieces_for(Some(1_000_000), 2, Some(50_000)), 20);
    }
}
