//! The loader's error type.

use std::path::PathBuf;

/// A `Result` whose error defaults to this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong writing CSV files.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file system operation failed.
    #[error("{action} {}", path.display())]
    Io {
        /// What was being done (`creating`, `writing`, `renaming`, ...).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The configuration is invalid.
    #[error("configuration: {reason}")]
    Config {
        /// What is wrong.
        reason: String,
    },
    /// A batch for a stream that had no SCHEMA (a driver bug, reported
    /// rather than panicking).
    #[error("stream {stream:?}: batch before the stream was configured")]
    UnknownStream {
        /// The stream.
        stream: String,
    },
    /// A cell holds a JSON string that does not decode.
    #[error("stream {stream:?}, column {column:?}: value is not valid JSON text")]
    BadValue {
        /// The stream.
        stream: String,
        /// The column.
        column: String,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
}

impl Error {
    /// Whether this is a configuration problem (exit code 2).
    #[must_use]
    pub const fn is_config(&self) -> bool {
        matches!(self, Self::Config { .. })
    }
}

impl singer_target::Retryable for Error {
    /// File system errors here (a full disk, a permission, a missing
    /// directory) do not go away by trying again at once.
    fn is_retryable(&self) -> bool {
        false
    }
}

/// Wraps an I/O error with what was being done and to which path.
pub(crate) fn io(
    action: &'static str,
    path: &std::path::Path,
) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.to_owned();
    move |source| Error::Io {
        action,
        path,
        source,
    }
}
