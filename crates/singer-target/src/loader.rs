//! The contract between the driver and a back end: [`Loader`], what it is
//! given ([`StreamSchema`], [`Batch`]) and how its errors are classified
//! ([`LoaderError`], through [`Retryable`]).

use serde_json::Value;
use singer_protocol::Retryable;
use singer_schema::Decision;

/// A loader's error: any error that says whether trying again may succeed
/// (by implementing [`Retryable`], the one classification the workspace's
/// retry policy reads).
///
/// The driver retries [`Loader::write_batch`] and [`Loader::commit`] per its
/// [`crate::RetryPolicy`] only when [`Retryable::is_retryable`] is true, so
/// a loader must make both idempotent for the errors it calls retryable
/// (stage under a deterministic name, merge, ...), and must not retry them
/// itself: each operation is retried by one layer only.
pub trait LoaderError: std::error::Error + Send + Sync + 'static + Retryable {}

impl<E: std::error::Error + Send + Sync + 'static + Retryable> LoaderError for E {}

/// One back end (CSV files, Snowflake, ...) behind the shared driver.
///
/// The driver owns everything the Singer protocol decides: routing,
/// validation, batching, retries and the order of STATE. A loader only
/// moves batches to where they go, in the order the driver calls:
///
/// 1. [`configure_stream`](Loader::configure_stream) for each SCHEMA (the
///    stream's open batch has already been written);
/// 2. [`write_batch`](Loader::write_batch) any number of times: the rows may
///    be staged anywhere, they need not be visible or durable yet;
/// 3. [`commit`](Loader::commit): everything written so far, in every
///    stream, becomes durable and visible. Only after it returns `Ok` does
///    the driver write a STATE covering those rows; if it fails, the driver
///    writes nothing more and the run fails.
///
/// [`activate_version`](Loader::activate_version) arrives between writes, after
/// the stream's earlier rows have been written; its effect must become
/// durable no later than the next commit.
///
/// A transactional loader (Snowflake) stages in `write_batch` and merges in
/// `commit`; a file loader writes `.partial` files and renames them in
/// `commit`. Neither needs to know about STATE.
///
/// ```
/// use singer_target::{Batch, Loader, Retryable, StreamSchema};
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("never fails")]
/// struct Never;
/// impl Retryable for Never {
///     fn is_retryable(&self) -> bool { false }
/// }
///
/// /// Counts committed rows.
/// #[derive(Default)]
/// struct Counting { staged: usize, committed: usize }
///
/// impl Loader for Counting {
///     type Error = Never;
///     fn configure_stream(&mut self, _: &StreamSchema) -> Result<(), Never> { Ok(()) }
///     fn write_batch(&mut self, _: &str, batch: &Batch) -> Result<(), Never> {
///         self.staged += batch.len();
///         Ok(())
///     }
///     fn commit(&mut self) -> Result<(), Never> {
///         self.committed += std::mem::take(&mut self.staged);
///         Ok(())
///     }
///     fn activate_version(&mut self, _: &str, _: u64) -> Result<(), Never> { Ok(()) }
/// }
/// # let _ = Counting::default();
/// ```
pub trait Loader {
    /// The loader's error.
    type Error: LoaderError;

    /// Prepares (or re-prepares, after a new SCHEMA) a stream: create or
    /// alter its table, open a file with a new header, ... The stream's
    /// rows written before this call have already been passed to
    /// [`Loader::write_batch`].
    ///
    /// # Errors
    ///
    /// The loader's error; the run fails.
    fn configure_stream(&mut self, schema: &StreamSchema) -> Result<(), Self::Error>;

    /// Writes one batch of `stream`'s rows, in the columns of the stream's
    /// last [`StreamSchema`]. Rows need not be durable until
    /// [`Loader::commit`].
    ///
    /// # Errors
    ///
    /// The loader's error; retried when retryable, else the run fails.
    fn write_batch(&mut self, stream: &str, batch: &Batch) -> Result<(), Self::Error>;

    /// Makes everything written so far durable and visible.
    ///
    /// # Errors
    ///
    /// The loader's error; retried when retryable, else the run fails and no
    /// further STATE is written.
    fn commit(&mut self) -> Result<(), Self::Error>;

    /// `ACTIVATE_VERSION`: the stream must hold exactly the rows of
    /// `version` (rows of other versions go), durably by the next commit.
    ///
    /// # Errors
    ///
    /// The loader's error; the run fails.
    fn activate_version(&mut self, stream: &str, version: u64) -> Result<(), Self::Error>;
}

/// What a loader is told about a stream when a SCHEMA arrives.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamSchema {
    /// The stream name, as the tap wrote it.
    pub stream: String,
    /// The schema the columns come from: the SCHEMA's schema, flattened if
    /// flattening is on, with the metadata columns' properties added when
    /// `add_record_metadata` is on.
    pub schema: Value,
    /// Column names in the order of every [`Row`] of the stream's batches
    /// (the schema's property order, metadata columns last).
    pub columns: Vec<String>,
    /// The key properties.
    pub key_properties: Vec<String>,
    /// The bookmark properties, if the tap named any.
    pub bookmark_properties: Option<Vec<String>>,
    /// For a stream that had a SCHEMA before: one decision per column of
    /// the new schema against the previous one (same, add, widen), from
    /// [`singer_schema::plan`]. Empty for a stream's first SCHEMA. An
    /// incompatible change never reaches a loader: it fails the run.
    pub changes: Vec<(String, Decision)>,
    /// Whether this is the stream's first SCHEMA in this run.
    pub first: bool,
    /// For a key set (deletes detection, see [`singer_protocol::key_set`]):
    /// the stream whose keys it holds. Its `ACTIVATE_VERSION` marks the
    /// set of that version complete, and arrives after the main stream's
    /// rows have been written.
    pub key_set_of: Option<String>,
    /// The input line of the SCHEMA message.
    pub line: u64,
}

impl StreamSchema {
    /// Whether the new schema adds columns to the previous one.
    #[must_use]
    pub fn adds_columns(&self) -> bool {
        self.changes
            .iter()
            .any(|(_, d)| matches!(d, Decision::AddColumn(_)))
    }
}

/// Marks a cell with no value (the property was absent from the record).
const ABSENT: (u32, u32) = (u32::MAX, u32::MAX);

/// A batch of one stream's rows, as raw JSON text per column.
///
/// Cells are the exact JSON text of the record's values (`12.50`,
/// `"a \"quoted\" text"`, `{"a":[1,2]}`, `null`), so numbers keep every
/// digit and a loader decides how to render each type. Memory is one text
/// buffer and two `u32` per cell, about the size of the records.
///
/// ```
/// use singer_target::Batch;
///
/// let mut batch = Batch::new(2);
/// batch.push_row([Some("1"), Some(r#""a,b""#)]);
/// batch.push_row([None, Some("null")]);
/// let rows: Vec<Vec<Option<&str>>> = batch.rows().map(|r| r.cells().collect()).collect();
/// assert_eq!(rows, [vec![Some("1"), Some(r#""a,b""#)], vec![None, Some("null")]]);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Batch {
    columns: usize,
    text: String,
    cells: Vec<(u32, u32)>,
    rows: usize,
    first_line: u64,
    last_line: u64,
    version: Option<u64>,
}

impl Batch {
    /// An empty batch of rows with `columns` cells each.
    #[must_use]
    pub fn new(columns: usize) -> Self {
        Self {
            columns,
            ..Self::default()
        }
    }

    /// The number of rows.
    #[must_use]
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether the batch has no rows.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The number of cells per row.
    #[must_use]
    pub fn columns(&self) -> usize {
        self.columns
    }

    /// An estimate of the memory the batch holds, in bytes.
    #[must_use]
    pub fn byte_size(&self) -> usize {
        self.text.len() + self.cells.len() * 8
    }

    /// The bytes the batch's buffers hold on to (their capacity), even
    /// when empty.
    #[must_use]
    pub fn retained_bytes(&self) -> usize {
        self.text.capacity() + self.cells.capacity() * 8
    }

    /// Empties the batch and gives its buffers back to the allocator.
    pub fn release(&mut self) {
        self.clear();
        self.text = String::new();
        self.cells = Vec::new();
    }

    /// The input lines of the first and last record in the batch.
    #[must_use]
    pub fn lines(&self) -> (u64, u64) {
        (self.first_line, self.last_line)
    }

    /// Removes every row, keeping the allocations (and the column count).
    pub fn clear(&mut self) {
        self.text.clear();
        self.cells.clear();
        self.rows = 0;
        self.first_line = 0;
        self.last_line = 0;
        self.version = None;
    }

    /// The table version (the RECORDs' `version`) of every row in the
    /// batch: the driver never mixes versions in one batch, so a loader can
    /// keep each version's rows apart and `ACTIVATE_VERSION` can keep the
    /// rows of its own version written by an earlier, interrupted run.
    #[must_use]
    pub fn version(&self) -> Option<u64> {
        self.version
    }

    /// Sets the batch's table version (the driver does, per batch).
    pub fn set_version(&mut self, version: Option<u64>) {
        self.version = version;
    }

    /// Appends a row of raw JSON cells (`None`: no value). Extra cells are
    /// ignored; missing ones have no value.
    pub fn push_row<'a>(&mut self, cells: impl IntoIterator<Item = Option<&'a str>>) {
        let mut row = self.begin_row(0);
        for (index, cell) in cells.into_iter().enumerate() {
            if let Some(text) = cell {
                row.set(index, text);
            }
        }
    }

    /// Starts a row read from input line `line`; every cell has no value
    /// until set. The row is complete when the returned builder is dropped.
    pub(crate) fn begin_row(&mut self, line: u64) -> RowBuilder<'_> {
        if self.rows == 0 {
            self.first_line = line;
        }
        self.last_line = line;
        self.rows += 1;
        let start = self.cells.len();
        self.cells.resize(start + self.columns, ABSENT);
        RowBuilder { batch: self, start }
    }

    /// Removes the last row (a record rejected after it was filled in).
    pub(crate) fn pop_row(&mut self) {
        if self.rows == 0 {
            return;
        }
        self.rows -= 1;
        let start = self.rows * self.columns;
        let text_end = self
            .cells
            .get(start..)
            .unwrap_or_default()
            .iter()
            .filter(|c| **c != ABSENT)
            .map(|c| c.0)
            .min();
        self.cells.truncate(start);
        if let Some(end) = text_end.and_then(|e| usize::try_from(e).ok()) {
            self.text.truncate(end);
        }
    }

    /// Sets cell `index` of every row to the same JSON `text` (stored once).
    pub(crate) fn set_column(&mut self, index: usize, text: &str) {
        let (Ok(begin), Ok(end)) = (
            u32::try_from(self.text.len()),
            u32::try_from(self.text.len() + text.len()),
        ) else {
            return;
        };
        self.text.push_str(text);
        let columns = self.columns;
        if columns == 0 {
            return;
        }
        for (position, cell) in self.cells.iter_mut().enumerate() {
            if position % columns == index {
                *cell = (begin, end);
            }
        }
    }

    /// The rows, in order.
    pub fn rows(&self) -> impl ExactSizeIterator<Item = Row<'_>> + '_ {
        (0..self.rows).map(move |index| Row {
            batch: self,
            start: index * self.columns,
        })
    }
}

/// Fills one row of a [`Batch`].
pub(crate) struct RowBuilder<'a> {
    batch: &'a mut Batch,
    start: usize,
}

impl RowBuilder<'_> {
    /// Sets cell `index` to the raw JSON `text` (out-of-range is ignored).
    pub(crate) fn set(&mut self, index: usize, text: &str) {
        let begin = self.batch.text.len();
        self.batch.text.push_str(text);
        let end = self.batch.text.len();
        if let (Some(cell), Ok(begin), Ok(end)) = (
            self.batch.cells.get_mut(self.start + index),
            u32::try_from(begin),
            u32::try_from(end),
        ) {
            *cell = (begin, end);
        }
    }

    /// Whether cell `index` has a value.
    pub(crate) fn is_set(&self, index: usize) -> bool {
        self.get(index).is_some()
    }

    /// The raw JSON text of cell `index`, if set.
    pub(crate) fn get(&self, index: usize) -> Option<&str> {
        Row {
            batch: self.batch,
            start: self.start,
        }
        .get(index)
    }

    /// The text buffer, to render a value straight into it; pair with
    /// [`RowBuilder::set_range`].
    pub(crate) fn text_mut(&mut self) -> &mut String {
        &mut self.batch.text
    }

    /// Sets cell `index` to `text[begin..]` (what was rendered since
    /// `begin`).
    pub(crate) fn set_range(&mut self, index: usize, begin: usize) {
        let end = self.batch.text.len();
        if let (Some(cell), Ok(begin), Ok(end)) = (
            self.batch.cells.get_mut(self.start + index),
            u32::try_from(begin),
            u32::try_from(end),
        ) {
            *cell = (begin, end);
        }
    }
}

/// One row of a [`Batch`].
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    batch: &'a Batch,
    start: usize,
}

impl<'a> Row<'a> {
    /// The raw JSON text of cell `index` (`None`: the record had no such
    /// property, or `index` is out of range). JSON `null` is `Some("null")`.
    #[must_use]
    pub fn get(&self, index: usize) -> Option<&'a str> {
        let (begin, end) = *self.batch.cells.get(self.start + index)?;
        if (begin, end) == ABSENT {
            return None;
        }
        self.batch
            .text
            .get(usize::try_from(begin).ok()?..usize::try_from(end).ok()?)
    }

    /// The JSON text of cell `index` as bytes, as [`Row::get`] without its
    /// character-boundary checks (for encoders that work on bytes).
    #[must_use]
    #[inline]
    pub fn get_bytes(&self, index: usize) -> Option<&'a [u8]> {
        let (begin, end) = *self.batch.cells.get(self.start + index)?;
        if (begin, end) == ABSENT {
            return None;
        }
        self.batch
            .text
            .as_bytes()
            .get(usize::try_from(begin).ok()?..usize::try_from(end).ok()?)
    }

    /// Every cell, in column order.
    pub fn cells(&self) -> impl Iterator<Item = Option<&'a str>> + '_ {
        (0..self.batch.columns).map(|index| self.get(index))
    }
}

/// The batch text buffer is indexed with `u32`: a batch holds at most 4 GiB
/// of text. The driver closes batches well before (`max_bytes` is capped
/// to this, and one line is far smaller).
pub(crate) const MAX_BATCH_TEXT: usize = 1 << 31;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_round_trip_and_clear_keeps_columns() {
        let mut batch = Batch::new(3);
        {
            let mut row = batch.begin_row(7);
            row.set(0, "1");
            row.set(2, "\"x\"");
            assert!(row.is_set(0) && !row.is_set(1));
            let begin = row.text_mut().len();
            row.text_mut().push_str("true");
            row.set_range(1, begin);
            row.set(9, "ignored");
        }
        batch.begin_row(9).set(1, "null");
        assert_eq!(batch.len(), 2);
        assert_eq!(batch.lines(), (7, 9));
        let rows: Vec<Vec<Option<&str>>> = batch.rows().map(|r| r.cells().collect()).collect();
        assert_eq!(
            rows,
            [
                vec![Some("1"), Some("true"), Some("\"x\"")],
                vec![None, Some("null"), None]
            ]
        );
        assert!(batch.byte_size() > 0);
        batch.clear();
        assert!(batch.is_empty());
        assert_eq!(batch.columns(), 3);
        assert_eq!(batch.rows().len(), 0);
    }
}
