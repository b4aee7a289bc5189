//! Errors of a reconciliation.

/// What can stop a reconciliation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The catalog, state or configuration is unusable (exit code 2).
    #[error("{reason}")]
    Usage {
        /// What is wrong.
        reason: String,
    },
    /// Counting at the source failed.
    #[error("stream {stream:?}: counting at the source: {reason}")]
    Source {
        /// The stream.
        stream: String,
        /// What failed.
        reason: String,
    },
    /// Counting at the destination failed.
    #[error("stream {stream:?}: counting at the destination: {reason}")]
    Destination {
        /// The stream.
        stream: String,
        /// What failed.
        reason: String,
    },
}

impl Error {
    /// Whether the error is a usage error (exit code 2).
    #[must_use]
    pub const fn is_usage(&self) -> bool {
        matches!(self, Self::Usage { .. })
    }
}

/// The result of a reconciliation step.
pub type Result<T, E = Error> = std::result::Result<T, E>;
