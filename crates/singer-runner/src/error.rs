//! Errors of a job run.

use std::path::PathBuf;

/// What can stop a job before or outside its two programs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The job's definition is unusable (exit code 2).
    #[error("job configuration: {reason}")]
    Config {
        /// What is wrong.
        reason: String,
    },
    /// The job file cannot be read or parsed (exit code 2).
    #[error("job file {path}: {reason}")]
    JobFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Another run of the same job holds its lock.
    #[error("job `{job}` is already running: another process holds its state lock ({lock})")]
    AlreadyRunning {
        /// The job.
        job: String,
        /// The lock (a file, or the PostgreSQL advisory lock).
        lock: String,
    },
    /// The state store failed.
    #[error("state store for job `{job}`")]
    Store {
        /// The job.
        job: String,
        /// The store's error.
        #[source]
        source: Box<singer_state::Error>,
    },
    /// The state store's database cannot be reached.
    #[error("connecting to the state database for job `{job}`")]
    StoreConnect {
        /// The job.
        job: String,
        /// The driver's error (no password in it).
        #[source]
        source: postgres::Error,
    },
    /// A state line the target wrote is not a state.
    #[error("the target wrote a line on stdout that is not a Singer state: {line:?}")]
    BadStateLine {
        /// The line (cut to 200 characters).
        line: String,
    },
    /// A file or process operation failed.
    #[error("{action} {what}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// To what.
        what: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Whether the error is the job's configuration (exit code 2).
    #[must_use]
    pub const fn is_usage(&self) -> bool {
        matches!(self, Self::Config { .. } | Self::JobFile { .. })
    }

    pub(crate) fn io(
        action: &'static str,
        what: impl Into<String>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let what = what.into();
        move |source| Self::Io {
            action,
            what,
            source,
        }
    }
}

/// The result of a job operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;
