//! The error type of the state crate.

use std::path::PathBuf;

use crate::BookmarkKind;

/// A `Result` whose error defaults to this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong reading, comparing or storing state.
///
/// Variants carry the stream, replication key, path, table or job id they
/// concern; the underlying cause, if any, is the [`source`].
///
/// [`source`]: std::error::Error::source
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The state text is not JSON.
    #[error("state is not valid JSON")]
    Json {
        /// The parser's error, with line and column.
        #[source]
        source: serde_json::Error,
    },

    /// The state is JSON but a known key has the wrong type.
    #[error("invalid state: `{path}` must be {expected}, found {found}")]
    InvalidState {
        /// Where in the document, e.g. `bookmarks.public-users.version`.
        path: String,
        /// What the key must hold.
        expected: &'static str,
        /// The JSON type found instead.
        found: &'static str,
    },

    /// A JSON value is not a valid bookmark value (of the kind asked for).
    #[error("invalid bookmark value {value}{}: {reason}", for_kind(*kind))]
    InvalidValue {
        /// The kind the value was read as; `None` when it was inferred.
        kind: Option<BookmarkKind>,
        /// The value as JSON (shortened if long).
        value: String,
        /// Why it is not valid.
        reason: &'static str,
    },

    /// A stream's stored or new replication key value is not valid for the
    /// replication key's kind.
    #[error(
        "stream `{stream}`: the {origin} value {value} of replication key `{key}` is not a \
         valid {kind}: {reason}"
    )]
    InvalidBookmarkValue {
        /// The stream (`tap_stream_id`).
        stream: String,
        /// The replication key.
        key: String,
        /// `"stored"` (from the state) or `"new"` (from a record).
        origin: &'static str,
        /// The kind the value was read as.
        kind: BookmarkKind,
        /// The value as JSON (shortened if long).
        value: String,
        /// Why it is not valid.
        reason: &'static str,
    },

    /// Two bookmark values of different kinds were compared: ordering them
    /// would be a guess.
    #[error(
        "stream `{stream}`: cannot compare values of replication key `{key}`: the stored value \
         is a {left_kind} and the new value is a {right_kind}"
    )]
    KindMismatch {
        /// The stream (`tap_stream_id`).
        stream: String,
        /// The replication key.
        key: String,
        /// The kind of the stored (left-hand) value.
        left_kind: BookmarkKind,
        /// The kind of the new (right-hand) value.
        right_kind: BookmarkKind,
    },

    /// A stream's bookmark belongs to another replication key.
    #[error(
        "stream `{stream}`: the bookmark is for replication key `{stored}`, not `{requested}` \
         (reconcile the state with the catalog first)"
    )]
    ReplicationKeyMismatch {
        /// The stream (`tap_stream_id`).
        stream: String,
        /// The replication key stored in the bookmark.
        stored: String,
        /// The replication key asked for.
        requested: String,
    },

    /// A file system operation failed.
    #[error("could not {action} {path}")]
    Io {
        /// What was being done, e.g. "read the state file".
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A state file holds something that is not a valid state.
    #[error("invalid state file {path}")]
    StateFile {
        /// The state file.
        path: PathBuf,
        /// What is wrong with its content.
        #[source]
        source: Box<Self>,
    },

    /// Another run of the same job holds the job's lock.
    #[error("job `{job_id}` is already running: another process holds its state lock")]
    JobAlreadyRunning {
        /// The job.
        job_id: String,
    },

    /// A PostgreSQL operation of the state store failed.
    #[cfg(feature = "postgres-store")]
    #[error("state table {table}, job `{job_id}`: could not {action}")]
    Postgres {
        /// What was being done, e.g. "save the state".
        action: &'static str,
        /// The state table (quoted).
        table: String,
        /// The job.
        job_id: String,
        /// The underlying error.
        #[source]
        source: postgres::Error,
    },

    /// The state stored in the table for a job is not a valid state.
    #[cfg(feature = "postgres-store")]
    #[error("state table {table}, job `{job_id}`: the stored state is invalid")]
    StoredState {
        /// The state table (quoted).
        table: String,
        /// The job.
        job_id: String,
        /// What is wrong with the stored state.
        #[source]
        source: Box<Self>,
    },

    /// A state table name cannot be used.
    #[cfg(feature = "postgres-store")]
    #[error("invalid state table name `{name}`: {reason}")]
    InvalidTableName {
        /// The name given.
        name: String,
        /// Why it is refused.
        reason: &'static str,
    },
}

impl Error {
    /// Whether two bookmark values of different kinds were compared
    /// ([`Error::KindMismatch`]): the catalog's replication key type and the
    /// state disagree, which a reset of the stream's bookmark resolves.
    #[must_use]
    pub const fn is_kind_mismatch(&self) -> bool {
        matches!(self, Self::KindMismatch { .. })
    }

    /// Whether another run of the same job is running
    /// ([`Error::JobAlreadyRunning`]); retrying later may succeed.
    #[must_use]
    pub const fn is_job_already_running(&self) -> bool {
        matches!(self, Self::JobAlreadyRunning { .. })
    }

    /// Whether the error is about the content of a state or a value (bad
    /// input), as opposed to I/O or the database.
    #[must_use]
    pub fn is_invalid_input(&self) -> bool {
        match self {
            Self::Json { .. }
            | Self::InvalidState { .. }
            | Self::InvalidValue { .. }
            | Self::InvalidBookmarkValue { .. }
            | Self::KindMismatch { .. }
            | Self::ReplicationKeyMismatch { .. } => true,
            Self::StateFile { source, .. } => source.is_invalid_input(),
            #[cfg(feature = "postgres-store")]
            Self::StoredState { source, .. } => source.is_invalid_input(),
            _ => false,
        }
    }
}

fn for_kind(kind: Option<BookmarkKind>) -> String {
    kind.map(|kind| format!(" for a {kind}"))
        .unwrap_or_default()
}

/// Longest rendering of a value kept in an error message.
const MAX_VALUE_CHARS: usize = 120;

/// A JSON value rendered for an error message, shortened if long.
pub(crate) fn render_value(value: &serde_json::Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= MAX_VALUE_CHARS {
        return text;
    }
    let mut short: String = text.chars().take(MAX_VALUE_CHARS).collect();
    short.push('…');
    short
}

/// The JSON type of a value, for messages.
pub(crate) const fn json_type(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}
