//! Live progress for a terminal: how many records each stream has moved so
//! far. Libraries report through [`Progress`]; a binary decides how to show
//! it (a progress line per stream when stderr is a terminal, nothing
//! otherwise: the Singer `METRIC` log lines are the progress of a pipe).
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use singer_protocol::{Progress, ProgressSink};
//!
//! #[derive(Default)]
//! struct Last(Mutex<Vec<(String, u64)>>);
//! impl ProgressSink for Last {
//!     fn update(&self, stream: &str, records: u64, _estimate: Option<u64>) {
//!         if let Ok(mut seen) = self.0.lock() {
//!             seen.push((stream.to_owned(), records));
//!         }
//!     }
//!     fn finish(&self, _stream: &str, _records: u64) {}
//! }
//!
//! let sink = Arc::new(Last::default());
//! let progress = Progress::new(sink.clone());
//! progress.update("users", 42, Some(100));
//! assert_eq!(sink.0.lock().map(|s| s.clone()).unwrap_or_default(), [("users".to_owned(), 42)]);
//! ```

use std::fmt;
use std::sync::Arc;

/// What shows progress.
pub trait ProgressSink: Send + Sync {
    /// `stream` has moved `records` records so far, of about `estimate`
    /// when the source knows (a table's row estimate).
    fn update(&self, stream: &str, records: u64, estimate: Option<u64>);

    /// `stream` is done, with `records` records.
    fn finish(&self, stream: &str, records: u64);
}

/// A shared handle on a [`ProgressSink`].
#[derive(Clone)]
pub struct Progress(Arc<dyn ProgressSink>);

impl Progress {
    /// Reports to `sink`.
    pub fn new(sink: Arc<dyn ProgressSink>) -> Self {
        Self(sink)
    }

    /// See [`ProgressSink::update`].
    pub fn update(&self, stream: &str, records: u64, estimate: Option<u64>) {
        self.0.update(stream, records, estimate);
    }

    /// See [`ProgressSink::finish`].
    pub fn finish(&self, stream: &str, records: u64) {
        self.0.finish(stream, records);
    }
}

impl fmt::Debug for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Progress")
    }
}
