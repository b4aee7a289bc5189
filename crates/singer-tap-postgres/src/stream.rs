//! The one row loop of both modes: how the rows of a read become RECORD
//! lines, rendered straight from PostgreSQL's binary format by the
//! columns' codecs, and the STATE and version helpers around it.

use std::cell::Cell;
use std::io::Write;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use postgres::types::{FromSql, Type};
use singer_protocol::{Message, Progress, RecordFrame, StateMessage, Writer};
use singer_state::State;
use tracing::{info, warn};

use crate::error::{Error, Result};
use crate::session::Subject;
use crate::types::{Codec, EncodeStats};

/// One selected column.
pub(crate) struct PlanColumn {
    /// The column's name.
    pub(crate) name: String,
    /// `"name":`, rendered once.
    pub(crate) key_json: Vec<u8>,
    /// How its values render.
    pub(crate) codec: Codec,
}

impl PlanColumn {
    /// A column named `name` rendered by `codec`.
    pub(crate) fn new(name: &str, codec: Codec) -> Self {
        let mut key_json = serde_json::to_vec(name).unwrap_or_default();
        key_json.push(b':');
        Self {
            name: name.to_owned(),
            key_json,
            codec,
        }
    }
}

/// A stream's `record_count` METRIC lines and live progress, shared by
/// every reader of the stream (the ranges of a split copy count into one
/// stream, not one line per range): the counter that the Singer taps (and
/// the Meltano SDK) log, `METRIC: {"type":"counter","metric":"record_count",
/// "value":N,"tags":{"stream":"..."}}`, every `interval`, so a long read
/// shows progress before it ends. Readers count in a [`RecordCounter`] of
/// their own and add to it every [`RecordCounter::CHECK_EVERY`] rows.
pub(crate) struct StreamCounter {
    stream: String,
    interval: Duration,
    /// Live progress, with the row estimate, when asked for.
    progress: Option<(Progress, Option<u64>)>,
    /// Records not in a METRIC line yet.
    unlogged: AtomicU64,
    total: AtomicU64,
    /// Readers not finished: the last one ends the stream's lines.
    readers: AtomicUsize,
    /// When the last METRIC line and the last progress update were.
    clock: Mutex<(Instant, Instant)>,
}

impl StreamCounter {
    /// Reports live progress between METRIC lines.
    const PROGRESS_EVERY: Duration = Duration::from_millis(250);

    /// The counter of `stream`, read by `readers` readers, logging every
    /// `interval` and reporting to `progress` (if any) with `estimate`
    /// rows expected.
    pub(crate) fn new(
        stream: &str,
        interval: Duration,
        progress: Option<&Progress>,
        estimate: Option<u64>,
        readers: usize,
    ) -> Arc<Self> {
        let now = Instant::now();
        Arc::new(Self {
            stream: stream.to_owned(),
            interval,
            progress: progress.map(|p| (p.clone(), estimate)),
            unlogged: AtomicU64::new(0),
            total: AtomicU64::new(0),
            readers: AtomicUsize::new(readers),
            clock: Mutex::new((now, now)),
        })
    }

    /// One more reader of the stream: its own count, adding to this one
    /// (the stream's last METRIC line waits for it too).
    pub(crate) fn join(self: &Arc<Self>) -> RecordCounter {
        self.readers.fetch_add(1, Ordering::AcqRel);
        RecordCounter::shared(Arc::clone(self))
    }

    /// Adds `records`; logs a METRIC line when the interval has passed
    /// (whichever reader gets there first; the others go on).
    fn add(&self, records: u64) {
        self.unlogged.fetch_add(records, Ordering::Relaxed);
        self.total.fetch_add(records, Ordering::Relaxed);
        let Ok(mut clock) = self.clock.try_lock() else {
            return;
        };
        // Read under the lock: updates never go backwards.
        let total = self.total.load(Ordering::Relaxed);
        if clock.0.elapsed() >= self.interval {
            clock.0 = Instant::now();
            self.log(self.unlogged.swap(0, Ordering::Relaxed));
        }
        if let Some((progress, estimate)) = &self.progress
            && clock.1.elapsed() >= Self::PROGRESS_EVERY
        {
            clock.1 = Instant::now();
            progress.update(&self.stream, total, *estimate);
        }
    }

    /// One reader is done; after the last, the stream's last METRIC line
    /// (what was counted since the previous one, if anything) and the end
    /// of its progress line. A counter whose readers are all done does
    /// that again at each call (LOG_BASED finishes its counters after each
    /// read of the change stream).
    fn reader_done(&self) {
        let before = self
            .readers
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                Some(n.saturating_sub(1))
            })
            .unwrap_or_default();
        if before > 1 {
            return;
        }
        let unlogged = self.unlogged.swap(0, Ordering::Relaxed);
        if unlogged > 0 {
            self.log(unlogged);
        }
        if let Some((progress, _)) = &self.progress {
            progress.finish(&self.stream, self.total.load(Ordering::Relaxed));
        }
    }

    fn log(&self, value: u64) {
        if value == 0 {
            return;
        }
        let metric = serde_json::json!({
            "type": "counter",
            "metric": "record_count",
            "value": value,
            "tags": {"stream": self.stream},
        });
        info!("METRIC: {metric}");
    }
}

/// One reader's count of a stream's records: it adds to the stream's
/// [`StreamCounter`] every [`RecordCounter::CHECK_EVERY`] rows, so the row
/// loop only bumps a local number.
pub(crate) struct RecordCounter {
    shared: Arc<StreamCounter>,
    local: Cell<u64>,
}

impl RecordCounter {
    /// Rows between additions to the stream's counter (and looks at the
    /// clock).
    const CHECK_EVERY: u64 = 1024;

    /// The counter of a stream with one reader, logging every `interval`.
    pub(crate) fn new(stream: &str, interval: Duration) -> Self {
        Self::shared(StreamCounter::new(stream, interval, None, None, 1))
    }

    /// A reader of the stream `shared` counts.
    pub(crate) fn shared(shared: Arc<StreamCounter>) -> Self {
        Self {
            shared,
            local: Cell::new(0),
        }
    }

    /// Also reports to `progress` (if any), with `estimate` rows expected
    /// (a counter with one reader, before it counts).
    pub(crate) fn with_progress(self, progress: Option<&Progress>, estimate: Option<u64>) -> Self {
        let readers = self.shared.readers.load(Ordering::Relaxed);
        Self::shared(StreamCounter::new(
            &self.shared.stream,
            self.shared.interval,
            progress,
            estimate,
            readers,
        ))
    }

    /// The stream's counter, for more readers ([`StreamCounter::join`]).
    pub(crate) fn stream_counter(&self) -> Arc<StreamCounter> {
        Arc::clone(&self.shared)
    }

    /// Counts one record.
    #[inline]
    pub(crate) fn add_one(&self) {
        let local = self.local.get() + 1;
        if local == Self::CHECK_EVERY {
            self.local.set(0);
            self.shared.add(local);
        } else {
            self.local.set(local);
        }
    }

    /// This reader is done: what it counted goes to the stream's counter,
    /// and the stream's last METRIC line comes after its last reader's.
    pub(crate) fn finish(&self) {
        let local = self.local.replace(0);
        if local > 0 {
            self.shared.add(local);
        }
        self.shared.reader_done();
    }
}

/// How the rows of one read become RECORD lines.
pub(crate) struct RecordLayout<'a> {
    /// The stream named in errors.
    pub(crate) tap_stream_id: &'a str,
    /// The stream named in the RECORD messages.
    pub(crate) stream: &'a str,
    /// The result columns, in order.
    pub(crate) columns: &'a [PlanColumn],
    /// Indices into `columns` whose rendered values `after_row` receives.
    pub(crate) key_columns: &'a [usize],
    /// JSON members appended after the columns (`,"_uploaded_at":…`), or empty.
    pub(crate) suffix: &'a [u8],
    /// The table version the records carry.
    pub(crate) version: Option<u64>,
    /// The stream's `record_count` METRIC counter.
    pub(crate) counter: &'a RecordCounter,
}

/// Streams `rows` as RECORD messages, rendering each row straight into its
/// line through the columns' codecs (the one row loop of both modes). After
/// each record is written, `after_row` gets the record's line and the byte
/// ranges in it of the `key_columns` values, in order.
pub(crate) fn stream_records<W, F>(
    rows: &mut crate::pg::RowIter<'_>,
    layout: &RecordLayout<'_>,
    stats: &mut EncodeStats,
    out: &mut Writer<W>,
    mut after_row: F,
) -> Result<()>
where
    W: Write,
    F: FnMut(&[u8], &[std::ops::Range<usize>], &mut Writer<W>) -> Result<()>,
{
    let query_error = |action, source| Error::Query {
        stream: Some(layout.tap_stream_id.to_owned()),
        action,
        source,
    };
    let time_extracted = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, false);
    // Every line of the read has the same envelope: rendered once, and
    // each line is built whole in one buffer and written at once.
    let frame = RecordFrame::new(layout.stream, layout.version, Some(&time_extracted));
    // The RECORD line being built (the envelope, the record, the newline).
    let mut line = Vec::with_capacity(1024);
    let mut key_ranges = vec![0..0; layout.key_columns.len()];
    // Rows stream in as the server sends them (the socket is the
    // backpressure), so reading overlaps the server's work, as COPY does;
    // the whole result is read inside one wait on the connection.
    rows.try_for_each(
        |row| {
            line.clear();
            line.extend_from_slice(frame.head());
            line.push(b'{');
            for (i, column) in layout.columns.iter().enumerate() {
                if i > 0 {
                    line.push(b',');
                }
                line.extend_from_slice(&column.key_json);
                let raw: Option<RawColumn<'_>> = row
                    .try_get(i)
                    .map_err(|e| query_error("decoding a row", e))?;
                let start = line.len();
                column
                    .codec
                    .encode(raw.map(|r| r.0), &mut line, stats)
                    .map_err(|source| Error::Encode {
                        stream: layout.tap_stream_id.to_owned(),
                        column: column.name.clone(),
                        source,
                    })?;
                if let Some(k) = layout.key_columns.iter().position(|&kc| kc == i)
                    && let Some(range) = key_ranges.get_mut(k)
                {
                    *range = start..line.len();
                }
            }
            line.extend_from_slice(layout.suffix);
            line.push(b'}');
            line.extend_from_slice(frame.tail());
            out.write_lines(&line)
                .map_err(|source| Error::Output { source })?;
            layout.counter.add_one();
            after_row(&line, &key_ranges, out)
        },
        |e| query_error("reading rows", e),
    )
}

/// A new table version: milliseconds since the epoch (what pipelinewise and
/// the SDK use).
pub(crate) fn new_version() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or_default()
}

pub(crate) fn write_message<W: Write>(out: &mut Writer<W>, message: &Message) -> Result<()> {
    out.write(message)
        .map_err(|source| Error::Output { source })
}

pub(crate) fn write_state<W: Write>(out: &mut Writer<W>, state: &State) -> Result<()> {
    write_message(
        out,
        &Message::State(StateMessage {
            value: state.to_value(),
        }),
    )
}

/// Starts `sql` with text `params` (each cast in the SQL, `$1::text::type`),
/// streaming its rows.
///
/// # Errors
///
/// The server's error.
pub(crate) fn query_text<'t>(
    tx: &'t mut crate::pg::Transaction<'_>,
    sql: &str,
    params: &[String],
) -> std::result::Result<crate::pg::RowIter<'t>, postgres::Error> {
    let refs: Vec<&(dyn postgres::types::ToSql + Sync)> = params
        .iter()
        .map(|p| p as &(dyn postgres::types::ToSql + Sync))
        .collect();
    tx.query_raw(sql, refs.iter().copied())
}

/// A rendered JSON value as the text PostgreSQL parses back into the
/// column's type: a string's content, or a number's digits.
pub(crate) fn json_to_text(raw: &[u8]) -> String {
    match serde_json::from_slice::<serde_json::Value>(raw) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::from_utf8_lossy(raw).into_owned(),
    }
}

/// The raw binary bytes of one column value, whatever its type.
pub(crate) struct RawColumn<'a>(pub(crate) &'a [u8]);

impl<'a> FromSql<'a> for RawColumn<'a> {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Self(raw))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// Ends a stream's (or manifest table's) load, the same in both modes:
/// writes the STATE that covers it, logs the last `record_count` METRIC and
/// the values that met the
/// special-value policy, and returns the wall time since `started`.
pub(crate) fn finish_stream<W: Write>(
    out: &mut Writer<W>,
    state: &State,
    stats: &EncodeStats,
    counter: &RecordCounter,
    subject: Subject<'_>,
    started: Instant,
) -> Result<f64> {
    write_state(out, state)?;
    counter.finish();
    warn_special_values(stats, subject);
    Ok(started.elapsed().as_secs_f64())
}

/// Logs the special values a stream's (or table's) read met, by kind.
pub(crate) fn warn_special_values(stats: &EncodeStats, subject: Subject<'_>) {
    for (kind, count) in stats.iter() {
        let kind = kind.as_str();
        match subject {
            Subject::Stream(stream) => {
                warn!(stream = %stream, kind, count, "Values met the special-value policy (see `special_values`).");
            }
            Subject::Table(table) => {
                warn!(table = %table, kind, count, "Values met the special-value policy (see `special_values`).");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use singer_protocol::ProgressSink;

    use super::*;

    #[test]
    fn json_values_become_parse_back_text() {
        assert_eq!(
            json_to_text(b"\"2024-01-01T00:00:00.000000+00:00\""),
            "2024-01-01T00:00:00.000000+00:00"
        );
        assert_eq!(
            json_to_text(b"12345678901234567890"),
            "12345678901234567890"
        );
        assert_eq!(json_to_text(b"\"12.50\""), "12.50");
    }

    #[derive(Default)]
    struct Seen(Mutex<Vec<(String, u64, Option<u64>)>>);

    impl ProgressSink for Seen {
        fn update(&self, stream: &str, records: u64, estimate: Option<u64>) {
            self.0
                .lock()
                .unwrap()
                .push((stream.to_owned(), records, estimate));
        }

        fn finish(&self, stream: &str, records: u64) {
            self.0
                .lock()
                .unwrap()
                .push((stream.to_owned(), records, None));
        }
    }

    #[test]
    fn the_counter_reports_progress_with_the_estimate_and_its_total_at_the_end() {
        let seen = Arc::new(Seen::default());
        let progress = Progress::new(seen.clone());
        let counter = RecordCounter::new("public-t", Duration::from_secs(3600))
            .with_progress(Some(&progress), Some(5000));
        counter.shared.clock.lock().unwrap().1 =
            Instant::now().checked_sub(Duration::from_secs(1)).unwrap();
        for _ in 0..3000 {
            counter.add_one();
        }
        counter.finish();
        let seen = seen.0.lock().unwrap().clone();
        assert_eq!(
            seen.first(),
            Some(&("public-t".to_owned(), 1024, Some(5000)))
        );
        assert_eq!(seen.last(), Some(&("public-t".to_owned(), 3000, None)));
    }

    #[test]
    fn the_readers_of_a_split_stream_count_into_one_progress_line_ended_by_the_last() {
        let seen = Arc::new(Seen::default());
        let progress = Progress::new(seen.clone());
        let shared = StreamCounter::new(
            "public-big",
            Duration::from_secs(3600),
            Some(&progress),
            Some(9000),
            3,
        );
        shared.clock.lock().unwrap().1 =
            Instant::now().checked_sub(Duration::from_secs(1)).unwrap();
        let readers: Vec<RecordCounter> = (0..3)
            .map(|_| RecordCounter::shared(Arc::clone(&shared)))
            .collect();
        for (i, reader) in readers.iter().enumerate() {
            for _ in 0..(1000 * (i + 2)) {
                reader.add_one();
            }
        }
        let ends = |seen: &Seen| {
            seen.0
                .lock()
                .unwrap()
                .iter()
                .filter(|(_, _, estimate)| estimate.is_none())
                .count()
        };
        readers[0].finish();
        readers[2].finish();
        assert_eq!(ends(&seen), 0, "the stream goes on while a reader reads");
        readers[1].finish();
        let seen = seen.0.lock().unwrap().clone();
        assert!(
            seen.iter().all(|(stream, ..)| stream == "public-big"),
            "one line for the stream: {seen:?}"
        );
        assert_eq!(
            seen.first().map(|s| s.2),
            Some(Some(9000)),
            "updates carry the table's estimate"
        );
        assert_eq!(
            seen.last(),
            Some(&("public-big".to_owned(), 9000, None)),
            "ended once, with every reader's rows"
        );
        assert_eq!(seen.iter().filter(|s| s.2.is_none()).count(), 1);
    }
}
