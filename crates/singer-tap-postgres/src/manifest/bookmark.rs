//! The manifest-mode bookmark of a stream, typed.
//!
//! It lives in the extra keys of the stream's Singer bookmark, under the
//! names upstream state files already use: `high_water_mark` (incremental
//! END, RFC 3339 UTC), `max_id` (load-by-id), `columns` (the query's
//! columns at the last full copy or backfill, for backfill detection), and
//! while a full copy or backfill is unfinished `in_progress`
//! (`"full"`/`"backfill"`), `last_finished_range` (`[a, b]`) and
//! `run_uploaded_at` (so a resumed copy keeps one `_uploaded_at`); a
//! backfill's table version is the bookmark's `version`.
//!
//! [`ManifestBookmark::read`] reads those keys; the writers change one key
//! each, in place (a key already present keeps its position, a new one goes
//! last, a finished key is removed), so the state JSON is the same, byte for
//! byte, as the tap has always written.

use chrono::{DateTime, Utc};
use serde_json::{Number, Value, json};
use singer_state::Bookmark;

use super::options::parse_timestamp;
use super::window::timestamp_text;

/// The END of the last finished incremental window.
const HIGH_WATER_MARK: &str = "high_water_mark";
/// The highest primary key a load-by-id extracted.
const MAX_ID: &str = "max_id";
/// The query's columns at the last full copy or backfill.
const COLUMNS: &str = "columns";
/// `[a, b]`, the last key range an unfinished copy finished.
const LAST_FINISHED_RANGE: &str = "last_finished_range";
/// A parallel copy's unfinished key ranges, `[[from, to], …]`.
const PENDING_RANGES: &str = "pending_ranges";
/// A parallel copy's largest key (in its first run's snapshot).
const COPY_MAX_KEY: &str = "copy_max_key";
/// Which copy (`"full"`, `"backfill"`) is unfinished.
const IN_PROGRESS: &str = "in_progress";
/// The `_uploaded_at` of an unfinished copy.
const RUN_UPLOADED_AT: &str = "run_uploaded_at";

/// A copy by key ranges that can be interrupted and resumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CopyKind {
    /// A full (SCD) copy.
    Full,
    /// A backfill (a reload as a new table version).
    Backfill,
}

impl CopyKind {
    /// The spelling in `in_progress`.
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::Backfill => "backfill",
        }
    }
}

/// The manifest keys of one stream's bookmark, as read at the start of a
/// table's load. Values of the wrong type read as absent (as they always
/// have), except the high-water mark, which [`high_water_mark`]
/// (Self::high_water_mark) reports.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ManifestBookmark {
    /// `high_water_mark` as stored.
    high_water_mark: Option<Value>,
    /// `max_id`.
    pub(crate) max_id: Option<i64>,
    /// `columns`.
    pub(crate) columns: Option<Vec<String>>,
    /// `in_progress`, as stored.
    pub(crate) in_progress: Option<String>,
    /// `b` of `last_finished_range` `[a, b]`.
    pub(crate) last_finished_through: Option<i64>,
    /// `run_uploaded_at`, as JSON number text.
    pub(crate) run_uploaded_at: Option<Number>,
    /// The bookmark's table version.
    pub(crate) version: Option<u64>,
    /// A parallel copy's unfinished key ranges `(from, to)`, inclusive,
    /// `from` past the last key written.
    pub(crate) pending_ranges: Option<Vec<(i64, i64)>>,
    /// A parallel copy's largest key, kept while it is unfinished.
    pub(crate) copy_max_key: Option<i64>,
}

impl ManifestBookmark {
    /// The manifest keys of `bookmark` (all absent without one).
    pub(crate) fn read(bookmark: Option<&Bookmark>) -> Self {
        let Some(bookmark) = bookmark else {
            return Self::default();
        };
        let extra = &bookmark.extra;
        Self {
            high_water_mark: extra.get(HIGH_WATER_MARK).cloned(),
            max_id: extra.get(MAX_ID).and_then(Value::as_i64),
            columns: extra
                .get(COLUMNS)
                .and_then(|v| serde_json::from_value(v.clone()).ok()),
            in_progress: extra
                .get(IN_PROGRESS)
                .and_then(Value::as_str)
                .map(ToOwned::to_owned),
            last_finished_through: extra
                .get(LAST_FINISHED_RANGE)
                .and_then(|v| v.get(1))
                .and_then(Value::as_i64),
            run_uploaded_at: match extra.get(RUN_UPLOADED_AT) {
                Some(Value::Number(n)) => Some(n.clone()),
                _ => None,
            },
            version: bookmark.version,
            copy_max_key: extra.get(COPY_MAX_KEY).and_then(Value::as_i64),
            pending_ranges: extra.get(PENDING_RANGES).and_then(|v| {
                v.as_array()?
                    .iter()
                    .map(|pair| Some((pair.get(0)?.as_i64()?, pair.get(1)?.as_i64()?)))
                    .collect()
            }),
        }
    }

    /// The high-water mark, if any.
    ///
    /// # Errors
    ///
    /// Why the stored value is unusable (for [`crate::Error::Table`]).
    pub(crate) fn high_water_mark(&self) -> Result<Option<DateTime<Utc>>, String> {
        match &self.high_water_mark {
            Some(Value::String(text)) => parse_timestamp(text)
                .map(Some)
                .map_err(|e| format!("bookmark {HIGH_WATER_MARK} is unusable: {e}")),
            Some(other) => Err(format!("bookmark {HIGH_WATER_MARK} is unusable: {other}")),
            None => Ok(None),
        }
    }

    /// Whether an unfinished copy of this kind is recorded.
    pub(crate) fn is_in_progress(&self, kind: CopyKind) -> bool {
        self.in_progress.as_deref() == Some(kind.as_str())
    }

    /// Stores the END of a finished incremental window.
    pub(crate) fn set_high_water_mark(bookmark: &mut Bookmark, end: DateTime<Utc>) {
        bookmark.extra.insert(
            HIGH_WATER_MARK.to_owned(),
            Value::String(timestamp_text(end)),
        );
    }

    /// Stores the highest key a load-by-id extracted.
    pub(crate) fn set_max_id(bookmark: &mut Bookmark, max_id: i64) {
        bookmark.extra.insert(MAX_ID.to_owned(), json!(max_id));
    }

    /// Stores the query's columns after a complete copy.
    pub(crate) fn set_columns(bookmark: &mut Bookmark, columns: &[String]) {
        bookmark.extra.insert(COLUMNS.to_owned(), json!(columns));
    }

    /// Records that a copy of `kind` is under way with `uploaded_at` (JSON
    /// number text); a fresh copy (not `resume`) forgets the last finished
    /// range of an earlier one.
    pub(crate) fn start_copy(
        bookmark: &mut Bookmark,
        kind: CopyKind,
        uploaded_at: &str,
        resume: bool,
    ) {
        if !resume {
            bookmark.extra.shift_remove(LAST_FINISHED_RANGE);
            bookmark.extra.shift_remove(PENDING_RANGES);
            bookmark.extra.shift_remove(COPY_MAX_KEY);
        }
        bookmark
            .extra
            .insert(IN_PROGRESS.to_owned(), json!(kind.as_str()));
        bookmark.extra.insert(
            RUN_UPLOADED_AT.to_owned(),
            serde_json::from_str(uploaded_at).unwrap_or(Value::Null),
        );
    }

    /// Records `[lo, hi]` as the last range the unfinished copy finished.
    pub(crate) fn set_last_finished_range(bookmark: &mut Bookmark, lo: i64, hi: i64) {
        bookmark
            .extra
            .insert(LAST_FINISHED_RANGE.to_owned(), json!([lo, hi]));
    }

    /// Records the unfinished key ranges of a parallel copy.
    pub(crate) fn set_pending_ranges<'r>(
        bookmark: &mut Bookmark,
        ranges: impl Iterator<Item = &'r (i64, i64)>,
    ) {
        let ranges: Vec<Value> = ranges.map(|(from, to)| json!([from, to])).collect();
        bookmark
            .extra
            .insert(PENDING_RANGES.to_owned(), Value::Array(ranges));
    }

    /// Records a parallel copy's largest key (what a resumed copy reports
    /// as the highest key extracted, though its top range may be done).
    pub(crate) fn set_copy_max_key(bookmark: &mut Bookmark, max: i64) {
        bookmark.extra.insert(COPY_MAX_KEY.to_owned(), json!(max));
    }

    /// Forgets the unfinished copy (it finished).
    pub(crate) fn finish_copy(bookmark: &mut Bookmark) {
        for key in [
            IN_PROGRESS,
            LAST_FINISHED_RANGE,
            PENDING_RANGES,
            COPY_MAX_KEY,
            RUN_UPLOADED_AT,
        ] {
            bookmark.extra.shift_remove(key);
        }
    }
}

#[cfg(test)]
#[path = "bookmark_tests.rs"]
mod tests;
