//! The driver: read, route, validate, batch, write, commit, then STATE.

use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::time::{Duration, Instant};

use serde_json::Value;
use singer_protocol::{
    ActivateVersionMessage, BlockReader, LineBlock, Message, Progress, PropertySpan, RecordLine,
    SchemaMessage, Writer,
};
use singer_schema::{Decision, TypeOptions};
use tracing::{debug, info, warn};

use crate::config::DriverConfig;
use crate::error::{Error, Result};
use crate::loader::{Loader, MAX_BATCH_TEXT, StreamSchema};
use crate::metadata;
use crate::stream::{RecordContext, RecordView, Stream};
use singer_protocol::Retryable as _;

/// Chunks in flight between the threads (bounded: backpressure). 4 MiB of
/// read-ahead lets the tap go on writing while a batch is written, which
/// on a 2-core machine shared with PostgreSQL and the tap cut the pipe's
/// idle time (1M-row bench: 4.5 s -> 4.2 s).
const CHUNKS_IN_FLIGHT: usize = 16;
/// How often the driver looks at the clock and the signal flag while the
/// input is idle.
const TICK: Duration = Duration::from_millis(100);
/// How often live progress is reported.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(250);

/// Lines read ahead by the reading thread, read straight into one buffer;
/// chunks go back to it for reuse, so reading allocates nothing per line.
#[derive(Default)]
struct Chunk {
    block: LineBlock,
    /// What ended the input early, after the lines.
    error: Option<singer_protocol::Error>,
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// Records loaded (validated, not skipped), all streams.
    pub records: u64,
    /// Records dropped by the `skip` validation policy.
    pub skipped: u64,
    /// Batches written.
    pub batches: u64,
    /// Successful commits.
    pub commits: u64,
    /// STATE values written.
    pub states: u64,
    /// Records loaded per stream, in the order streams first appeared.
    pub streams: Vec<(String, u64)>,
    /// The most the open batches of all streams held at once (estimated
    /// bytes, [`crate::Batch::byte_size`]); at most
    /// [`crate::BatchConfig::max_total_bytes`] plus one record.
    pub peak_buffered_bytes: usize,
    /// Wall time of the run.
    pub elapsed: Duration,
}

impl Summary {
    /// Records per second over the run.
    #[must_use]
    pub fn records_per_second(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            // Precision loss past 2^53 records is irrelevant for a rate.
            #[expect(clippy::cast_precision_loss, reason = "a rate for humans")]
            let records = self.records as f64;
            records / secs
        } else {
            0.0
        }
    }
}

/// The driver every target shares (see the crate docs for the STATE rule).
pub struct Driver<L: Loader> {
    loader: L,
    config: DriverConfig,
    interrupt: Option<Arc<AtomicBool>>,
    /// Live progress (a terminal's progress lines), updated a few times a second.
    progress: Option<Progress>,
    last_progress: Instant,
    streams: foldhash::HashMap<String, Stream>,
    order: Vec<String>,
    /// The latest STATE value received and not yet written.
    pending_state: Option<Value>,
    /// Whether the loader was asked to do anything since the last commit.
    dirty: bool,
    /// Whether a STATE arrived in this run.
    seen_state: bool,
    /// Records received since the latest STATE (only counted once a STATE
    /// arrived): a commit waits until none are, so that what it publishes
    /// is exactly what the STATE it writes covers.
    uncovered: u64,
    /// A stream and table version among the uncovered records.
    uncovered_version: Option<(String, u64)>,
    /// Whether an ACTIVATE_VERSION arrived since the latest STATE.
    activated_since_state: bool,
    last_commit: Instant,
    last_metrics: Instant,
    line: u64,
    sequence: u64,
    summary: Summary,
    /// Estimated bytes of all open batches (the sum of their `byte_size`).
    buffered: usize,
    /// The property list [`RecordLine::scan`] fills, reused line by line.
    spans: Vec<PropertySpan>,
}

impl<L: Loader> std::fmt::Debug for Driver<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("config", &self.config)
            .field("streams", &self.order)
            .field("line", &self.line)
            .finish_non_exhaustive()
    }
}

impl<L: Loader> Driver<L> {
    /// A driver over `loader`.
    pub fn new(loader: L, config: DriverConfig) -> Self {
        let mut config = config;
        config.batch.max_bytes = config.batch.max_bytes.clamp(1, MAX_BATCH_TEXT);
        config.batch.max_records = config.batch.max_records.max(1);
        Self {
            loader,
            config,
            interrupt: None,
            progress: None,
            last_progress: Instant::now(),
            streams: foldhash::HashMap::default(),
            order: Vec::new(),
            pending_state: None,
            dirty: false,
            seen_state: false,
            uncovered: 0,
            uncovered_version: None,
            activated_since_state: false,
            last_commit: Instant::now(),
            last_metrics: Instant::now(),
            line: 0,
            sequence: 0,
            summary: Summary::default(),
            buffered: 0,
            spans: Vec::new(),
        }
    }

    /// Stops the run gracefully when `flag` becomes true (see
    /// [`crate::register_signals`]).
    #[must_use]
    pub fn with_interrupt(mut self, flag: Arc<AtomicBool>) -> Self {
        self.interrupt = Some(flag);
        self
    }

    /// Reports each stream's record count to `progress` a few times a
    /// second while the run goes, and once at its end.
    #[must_use]
    pub fn with_progress(mut self, progress: Progress) -> Self {
        self.progress = Some(progress);
        self
    }

    /// The loader.
    pub fn loader(&self) -> &L {
        &self.loader
    }

    /// The loader, by value.
    pub fn into_loader(self) -> L {
        self.loader
    }

    /// Reads Singer messages from `input` until its end and loads them;
    /// writes each STATE value to `out` once every record before it is
    /// committed, and the latest one after the final commit.
    ///
    /// `input` is read (buffered, 1 MiB) and parsed on a separate thread,
    /// so parsing overlaps loading, and handed over through a bounded
    /// channel in chunks; a chunk is handed over as soon as the input has
    /// nothing more buffered, so an idle tap never holds records back.
    ///
    /// # Errors
    ///
    /// Any [`Error`]; when one is returned, no STATE past the last
    /// successful commit has been written. [`Error::Interrupted`] after a
    /// signal, once what was read is committed and its STATE written.
    pub fn run<R, W>(&mut self, input: R, out: &mut Writer<W>) -> Result<Summary>
    where
        R: Read + Send + 'static,
        W: Write,
    {
        let started = Instant::now();
        self.last_commit = started;
        self.last_metrics = started;
        let (sender, receiver) = sync_channel::<Chunk>(CHUNKS_IN_FLIGHT);
        let (spare_sender, spare) = sync_channel::<Chunk>(CHUNKS_IN_FLIGHT + 2);
        let max_line_bytes = self.config.max_line_bytes;
        // Not joined: on a signal the reader may be blocked on an idle pipe;
        // it ends with the process (or when the receiver is dropped).
        let _reader = std::thread::Builder::new()
            .name("singer-reader".to_owned())
            .spawn(move || {
                let lines = BlockReader::new(input).with_max_line_bytes(max_line_bytes);
                read_chunks(lines, &sender, &spare);
            })
            .map_err(|source| singer_protocol::Error::Read { line: 0, source })?;
        let result = self.drive(&receiver, &spare_sender, out);
        self.summary.elapsed = started.elapsed();
        self.summary.streams = self
            .order
            .iter()
            .map(|s| {
                (
                    s.clone(),
                    self.streams.get(s).map_or(0, |st| st.counts.records),
                )
            })
            .collect();
        self.log_metrics();
        if let Some(progress) = &self.progress {
            for (stream, records) in &self.summary.streams {
                progress.finish(stream, *records);
            }
        }
        let summary = &self.summary;
        match &result {
            Ok(()) => info!(
                records = summary.records,
                skipped = summary.skipped,
                batches = summary.batches,
                commits = summary.commits,
                states = summary.states,
                elapsed_s = summary.elapsed.as_secs_f64(),
                rows_per_s = summary.records_per_second().round(),
                "Load done."
            ),
            Err(error) => warn!(
                records = summary.records,
                batches = summary.batches,
                commits = summary.commits,
                states = summary.states,
                error = %error,
                "Load stopped."
            ),
        }
        result.map(|()| self.summary.clone())
    }

    fn drive<W: Write>(
        &mut self,
        receiver: &Receiver<Chunk>,
        spare: &SyncSender<Chunk>,
        out: &mut Writer<W>,
    ) -> Result<()> {
        loop {
            if self.interrupted() {
                return self.stop_on_signal(out);
            }
            match receiver.recv_timeout(TICK) {
                Ok(mut chunk) => {
                    let received_at = if self.config.add_record_metadata {
                        metadata::now_json()
                    } else {
                        String::new()
                    };
                    for (line, bytes) in chunk.block.lines() {
                        self.line = line;
                        let text = singer_protocol::line_text(bytes, line)?;
                        self.line_message(text, line, &received_at, out)?;
                        if self.interrupted() {
                            return self.stop_on_signal(out);
                        }
                    }
                    if let Some(error) = chunk.error.take() {
                        return Err(error.into());
                    }
                    // The reader makes a new chunk if none comes back.
                    let _ = spare.try_send(chunk);
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            self.on_tick(out)?;
        }
        if let Some((stream, version)) = self.uncovered_version.take()
            && !self.activated_since_state
        {
            // The tap died mid-copy; a commit now would publish records the
            // resumed copy sends again under the same version.
            return Err(Error::EndedWithoutState {
                line: self.line,
                records: self.uncovered,
                stream,
                version,
            });
        }
        self.checkpoint(out)
    }

    /// Whether every record received is covered by the latest STATE (or no
    /// STATE arrived yet, so there is nothing to resume from): only then
    /// may a commit happen, so a commit never publishes records that a
    /// resume from the STATE it writes would send again.
    const fn covered(&self) -> bool {
        !self.seen_state || self.uncovered == 0
    }

    fn interrupted(&self) -> bool {
        self.interrupt
            .as_ref()
            .is_some_and(|flag| flag.load(Ordering::Relaxed))
    }

    fn stop_on_signal<W: Write>(&mut self, out: &mut Writer<W>) -> Result<()> {
        warn!(
            line = self.line,
            "Signal received: committing what was read, then stopping."
        );
        self.checkpoint(out)?;
        Err(Error::Interrupted { line: self.line })
    }

    /// One input line: a plain `RECORD` read in one pass, anything else
    /// parsed in full.
    fn line_message<W: Write>(
        &mut self,
        text: &str,
        line: u64,
        received_at: &str,
        out: &mut Writer<W>,
    ) -> Result<()> {
        let mut spans = std::mem::take(&mut self.spans);
        let result = match RecordLine::scan(text, &mut spans) {
            Some(record) => {
                self.record(&RecordView::scanned(record, &spans), line, received_at, out)
            }
            None => match Message::parse(text, line) {
                Ok(message) => self.handle(message, line, received_at, out),
                Err(error) => Err(error.into()),
            },
        };
        self.spans = spans;
        result
    }

    fn handle<W: Write>(
        &mut self,
        message: Message,
        line: u64,
        received_at: &str,
        out: &mut Writer<W>,
    ) -> Result<()> {
        match message {
            Message::Record(record) => {
                self.record(&RecordView::message(&record), line, received_at, out)
            }
            Message::Schema(schema) => self.schema(&schema, line),
            Message::State(state) => self.state(state.value, out),
            Message::ActivateVersion(activate) => self.activate_version(&activate, line),
            Message::Batch(batch) => Err(Error::Unsupported {
                line,
                stream: batch.stream,
                message_type: singer_protocol::message::BATCH,
            }),
        }
    }

    fn record<W: Write>(
        &mut self,
        record: &RecordView<'_>,
        line: u64,
        received_at: &str,
        out: &mut Writer<W>,
    ) -> Result<()> {
        let Some(stream) = self.streams.get_mut(record.stream) else {
            return Err(Error::RecordBeforeSchema {
                line,
                stream: record.stream.to_owned(),
            });
        };
        let sequence = if self.config.add_record_metadata {
            self.sequence = metadata::epoch_nanos().max(self.sequence + 1);
            self.sequence
        } else {
            0
        };
        let context = RecordContext {
            received_at,
            sequence,
        };
        // One table version per batch: a record of another version closes
        // the open batch first.
        let stream = if !stream.batch.is_empty() && stream.batch.version() != record.version {
            self.write_stream(record.stream)?;
            match self.streams.get_mut(record.stream) {
                Some(stream) => stream,
                None => {
                    return Err(Error::RecordBeforeSchema {
                        line,
                        stream: record.stream.to_owned(),
                    });
                }
            }
        } else {
            stream
        };
        stream.batch.set_version(record.version);
        let before = stream.batch.byte_size();
        let pushed = stream.push(record, line, &context)?;
        let batch = &stream.batch;
        let full = batch.len() >= self.config.batch.max_records
            || batch.byte_size() >= self.config.batch.max_bytes;
        let grown = batch.byte_size().saturating_sub(before);
        self.buffered = self.buffered.saturating_add(grown);
        self.summary.peak_buffered_bytes = self.summary.peak_buffered_bytes.max(self.buffered);
        if !pushed {
            self.summary.skipped += 1;
            return Ok(());
        }
        self.summary.records += 1;
        self.dirty = true;
        if self.seen_state {
            self.uncovered += 1;
            if self.uncovered_version.is_none()
                && let Some(version) = record.version
            {
                self.uncovered_version = Some((record.stream.to_owned(), version));
            }
        }
        if full {
            self.write_stream(record.stream)?;
            if self.commit_due() && self.covered() {
                self.checkpoint(out)?;
            }
        }
        if self.buffered > self.config.batch.max_total_bytes {
            self.relieve()?;
            if self.commit_due() && self.covered() {
                self.checkpoint(out)?;
            }
        }
        Ok(())
    }

    /// Writes the largest open batches until all of them together are
    /// under [`crate::BatchConfig::max_total_bytes`] again, giving their
    /// buffers back: many interleaved streams stay within one memory bound.
    /// Written rows are only staged; STATE still waits for the commit.
    fn relieve(&mut self) -> Result<()> {
        while self.buffered > self.config.batch.max_total_bytes {
            let largest = self
                .streams
                .iter()
                .filter(|(_, s)| !s.batch.is_empty())
                .max_by_key(|(_, s)| s.batch.byte_size())
                .map(|(name, _)| name.clone());
            let Some(name) = largest else {
                self.buffered = 0;
                break;
            };
            debug!(stream = %name, buffered = self.buffered, "Open batches over batch_max_total_bytes: writing the largest.");
            self.write_stream(&name)?;
            if let Some(stream) = self.streams.get_mut(&name) {
                stream.batch.release();
            }
        }
        Ok(())
    }

    fn schema(&mut self, message: &SchemaMessage, line: u64) -> Result<()> {
        let previous = self.streams.get(&message.stream);
        if previous.is_some_and(|p| p.same_schema(message)) {
            return Ok(());
        }
        let validation = self.config.validate.then_some(&self.config.validation);
        let mut stream = Stream::new(
            message,
            line,
            validation,
            self.config.flattening.depth(),
            self.config.add_record_metadata,
        )?;
        let mut changes = Vec::new();
        let first = previous.is_none();
        if let Some(previous) = previous {
            changes = singer_schema::plan(
                &previous.typed,
                &stream.flat_schema,
                &TypeOptions::default(),
            )
            .map_err(|source| Error::Schema {
                line,
                stream: message.stream.clone(),
                source,
            })?;
            if let Some((column, Decision::Incompatible { message: why, .. })) = changes
                .iter()
                .find(|(_, d)| matches!(d, Decision::Incompatible { .. }))
            {
                return Err(Error::IncompatibleSchemaChange {
                    line,
                    stream: message.stream.clone(),
                    column: column.clone(),
                    message: why.clone(),
                });
            }
        }
        if !first {
            // The open batch was built for the old columns: write it first.
            self.write_stream(&message.stream)?;
        }
        let schema = StreamSchema {
            stream: message.stream.clone(),
            schema: stream.flat_schema.clone(),
            columns: stream.columns.clone(),
            key_properties: message.key_properties.clone(),
            bookmark_properties: message.bookmark_properties.clone(),
            changes,
            first,
            line,
            key_set_of: singer_protocol::key_set::key_set_of(&message.schema).map(str::to_owned),
        };
        debug!(stream = %message.stream, line, columns = schema.columns.len(), first, "Configuring stream.");
        self.dirty = true;
        self.loader
            .configure_stream(&schema)
            .map_err(|e| self.loader_error(Some(&message.stream), "configuring the stream", e))?;
        if let Some(previous) = self.streams.remove(&message.stream) {
            stream.counts = previous.counts;
        } else {
            self.order.push(message.stream.clone());
        }
        self.streams.insert(message.stream.clone(), stream);
        Ok(())
    }

    fn state<W: Write>(&mut self, value: Value, out: &mut Writer<W>) -> Result<()> {
        self.pending_state = Some(value);
        self.seen_state = true;
        self.uncovered = 0;
        self.uncovered_version = None;
        self.activated_since_state = false;
        if !self.dirty {
            // Everything before this STATE is committed already.
            return self.emit_state(out);
        }
        if self.commit_due() {
            return self.checkpoint(out);
        }
        Ok(())
    }

    fn activate_version(&mut self, message: &ActivateVersionMessage, line: u64) -> Result<()> {
        if !self.streams.contains_key(&message.stream) {
            // Nothing of the stream was loaded in this run; the loader has
            // not been told of it, so there is nothing to activate.
            warn!(stream = %message.stream, line, "ACTIVATE_VERSION for a stream without a SCHEMA; ignored.");
            return Ok(());
        }
        if let Some(parent) = self
            .streams
            .get(&message.stream)
            .and_then(|s| singer_protocol::key_set::key_set_of(&s.schema.schema))
            .map(str::to_owned)
        {
            // A complete key set: the main stream's rows go first, so that
            // what is marked deleted is judged against all of them.
            self.write_stream(&parent)?;
        }
        self.write_stream(&message.stream)?;
        self.dirty = true;
        self.activated_since_state = true;
        self.loader
            .activate_version(&message.stream, message.version)
            .map_err(|e| self.loader_error(Some(&message.stream), "activating a version", e))
    }

    fn on_tick<W: Write>(&mut self, out: &mut Writer<W>) -> Result<()> {
        let max_age = self.config.batch.max_age;
        let old: Vec<String> = self
            .streams
            .iter()
            .filter(|(_, s)| s.opened.is_some_and(|t| t.elapsed() >= max_age))
            .map(|(name, _)| name.clone())
            .collect();
        for name in &old {
            self.write_stream(name)?;
        }
        if self.dirty
            && self.commit_due()
            && self.covered()
            && (!old.is_empty() || self.pending_state.is_some())
        {
            self.checkpoint(out)?;
        }
        if self.last_metrics.elapsed() >= self.config.metrics_interval {
            self.log_metrics();
        }
        if let Some(progress) = &self.progress
            && self.last_progress.elapsed() >= PROGRESS_INTERVAL
        {
            self.last_progress = Instant::now();
            for name in &self.order {
                if let Some(stream) = self.streams.get(name) {
                    progress.update(name, stream.counts.records, None);
                }
            }
        }
        Ok(())
    }

    fn commit_due(&self) -> bool {
        self.config
            .commit_interval
            .is_some_and(|interval| self.last_commit.elapsed() >= interval)
    }

    /// Writes the stream's open batch (if any).
    fn write_stream(&mut self, name: &str) -> Result<()> {
        let open_streams = self.streams.len();
        let Some(stream) = self.streams.get_mut(name) else {
            return Ok(());
        };
        if stream.batch.is_empty() {
            return Ok(());
        }
        if self.config.add_record_metadata {
            stream.stamp_batched_at(&metadata::now_json());
        }
        let line = self.line;
        let loader = &mut self.loader;
        let batch = &stream.batch;
        self.config
            .retry
            .run(
                |_| loader.write_batch(name, batch),
                |retry| warn!(stream = %name, line, attempt = retry.attempt, wait_ms = retry.wait.as_millis(), error = %retry.error, "Writing a batch failed; retrying."),
            )
            .map_err(|error| Error::Loader {
                line,
                stream: Some(name.to_owned()),
                action: "writing a batch",
                retryable: error.is_retryable(),
                source: Box::new(error),
            })?;
        let (first, last) = stream.batch.lines();
        debug!(stream = %name, rows = stream.batch.len(), first_line = first, last_line = last, "Batch written.");
        stream.counts.batches += 1;
        self.buffered = self.buffered.saturating_sub(stream.batch.byte_size());
        // Each stream keeps its buffers for the next batch only while all of
        // them together stay within the cross-stream bound.
        let share = self.config.batch.max_total_bytes / open_streams.max(1);
        if stream.batch.retained_bytes() > share {
            stream.batch.release();
        } else {
            stream.batch.clear();
        }
        stream.opened = None;
        self.summary.batches += 1;
        self.dirty = true;
        Ok(())
    }

    /// Writes every open batch, commits, then writes the latest STATE.
    fn checkpoint<W: Write>(&mut self, out: &mut Writer<W>) -> Result<()> {
        let names: Vec<String> = self.order.clone();
        for name in &names {
            self.write_stream(name)?;
        }
        if self.dirty {
            let line = self.line;
            let loader = &mut self.loader;
            let committed = self.config.retry.run(
                |_| loader.commit(),
                |retry| warn!(line, attempt = retry.attempt, wait_ms = retry.wait.as_millis(), error = %retry.error, "Commit failed; retrying."),
            );
            if let Err(error) = committed {
                return Err(self.loader_error(None, "commit", error));
            }
            self.dirty = false;
            self.summary.commits += 1;
            debug!(line = self.line, "Committed.");
        }
        self.last_commit = Instant::now();
        self.emit_state(out)
    }

    fn emit_state<W: Write>(&mut self, out: &mut Writer<W>) -> Result<()> {
        if let Some(value) = self.pending_state.take() {
            out.write_state_value(&value)
                .map_err(|source| Error::Output {
                    line: self.line,
                    source,
                })?;
            self.summary.states += 1;
        }
        Ok(())
    }

    fn loader_error(&self, stream: Option<&str>, action: &'static str, error: L::Error) -> Error {
        Error::Loader {
            line: self.line,
            stream: stream.map(str::to_owned),
            action,
            retryable: error.is_retryable(),
            source: Box::new(error),
        }
    }

    /// Singer `METRIC` lines: records per stream since the last ones.
    fn log_metrics(&mut self) {
        self.last_metrics = Instant::now();
        for name in &self.order {
            let Some(stream) = self.streams.get_mut(name) else {
                continue;
            };
            let count = std::mem::take(&mut stream.counts.interval);
            if count == 0 {
                continue;
            }
            let metric = serde_json::json!({
                "type": "counter",
                "metric": "record_count",
                "value": count,
                "tags": {"stream": name},
            });
            info!("METRIC: {metric}");
        }
    }
}

/// The reading thread: blocks of lines until the end, the first error,
/// or the receiver going away. A block goes as soon as the input has
/// nothing more ready ([`BlockReader::fill`]), so an idle tap never holds
/// records back.
fn read_chunks<R: Read>(
    mut lines: BlockReader<R>,
    sender: &SyncSender<Chunk>,
    spare: &Receiver<Chunk>,
) {
    loop {
        let mut chunk = spare.try_recv().unwrap_or_default();
        let end = match lines.fill(&mut chunk.block) {
            Ok(more) => !more,
            Err(error) => {
                chunk.error = Some(error);
                true
            }
        };
        if (!chunk.block.is_empty() || chunk.error.is_some()) && sender.send(chunk).is_err() {
            return;
        }
        if end {
            return;
        }
    }
}
