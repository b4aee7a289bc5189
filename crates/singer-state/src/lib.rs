//! Singer state: bookmarks, their exact ordering, and durable state stores.
//!
//! A Singer tap reads a state document when it starts (`--state`) and
//! emits STATE messages as it goes; a target passes on each one once the
//! records before it are committed, and the last one is saved for the next
//! run. This crate sits between the protocol and the taps and targets: it
//! owns the document ([`State`], one [`Bookmark`] per stream), decides when a
//! bookmark moves forward ([`State::advance`], with [`BookmarkValue`]s
//! compared exactly: numbers digit by digit, timestamps as instants), resets
//! a stream whose replication method or key changed ([`State::reconcile`]),
//! and keeps state between runs ([`StateStore`]: an atomically written
//! [`FileStateStore`], and with the `postgres-store` feature a table in
//! PostgreSQL, `PgStateStore`, which also stops two runs of one job from
//! overlapping).
//!
//! It does no network I/O except in `PgStateStore`, and never touches stdin
//! or stdout.
//!
//! Unknown keys, at the top level and in bookmarks (the Meltano SDK's
//! `partitions` and `progress_markers`, pipelinewise's `last_pk_fetched`, …),
//! are kept and written back, and numbers keep their exact text.
//!
//! ```
//! use serde_json::json;
//! use singer_state::{BookmarkKind, State};
//!
//! let mut state = State::from_json(
//!     r#"{"bookmarks": {"public-orders": {
//!           "replication_key": "amount",
//!           "replication_key_value": 12345678901234567890.123456789012345678,
//!           "last_replication_method": "INCREMENTAL"}},
//!         "meltano": {"run_id": 7}}"#,
//! )?;
//!
//! // The catalog still says INCREMENTAL on `amount`: the bookmark stays.
//! assert!(!state.reconcile("public-orders", "INCREMENTAL", Some("amount")));
//!
//! // Only a greater value moves the bookmark; an f64 could not tell these apart.
//! let smaller: serde_json::Value = serde_json::from_str("12345678901234567890.123456789012345677")
//!     .map_err(|source| singer_state::Error::Json { source })?;
//! let larger: serde_json::Value = serde_json::from_str("12345678901234567890.123456789012345679")
//!     .map_err(|source| singer_state::Error::Json { source })?;
//! assert!(!state.advance("public-orders", "amount", &smaller, BookmarkKind::Number)?);
//! assert!(state.advance("public-orders", "amount", &larger, BookmarkKind::Number)?);
//!
//! // Values of different kinds are an error, not a guess.
//! let kind = BookmarkKind::Timestamp;
//! assert!(state.advance("public-events", "updated_at", &json!("2024-05-01T10:00:00+02:00"), kind)?);
//! assert!(!state.advance("public-events", "updated_at", &json!("2024-05-01T08:00:00Z"), kind)?);
//! let naive = state.advance("public-events", "updated_at", &json!("2024-05-01T09:00:00"), kind);
//! assert!(naive.is_err_and(|error| error.is_kind_mismatch()));
//!
//! let text = state.to_json();
//! assert!(text.contains("12345678901234567890.123456789012345679"));
//! assert!(text.contains(r#""meltano":{"run_id":7}"#));
//! # Ok::<(), singer_state::Error>(())
//! ```
//!
//! The example `examples/tap-csv-file` in the repository is a whole tap
//! built on this crate: it reads `--state` through [`FileStateStore`],
//! [`State::reconcile`]s the stream with its replication key and
//! [`State::advance`]s the bookmark row by row.
#![warn(missing_docs)]

mod bookmark;
mod error;
mod file;
#[cfg(feature = "postgres-store")]
mod pg;
mod state;
mod store;
mod temporal;
mod value;

pub use bookmark::Bookmark;
pub use error::{Error, Result};
pub use file::FileStateStore;
#[cfg(feature = "postgres-store")]
pub use pg::{PgStateStore, TableName};
pub use state::State;
pub use store::StateStore;
pub use value::{BookmarkKind, BookmarkValue};
