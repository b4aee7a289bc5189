//! The error type of the end-to-end harness.

use std::path::PathBuf;

/// What went wrong while preparing or running an end-to-end scenario.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or process operation failed.
    #[error("{action} {}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file, directory or program.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// `cargo build` of the binaries under test failed, or a binary is
    /// missing after it.
    #[error("building the binaries under test: {reason}")]
    Build {
        /// What failed, with cargo's output.
        reason: String,
    },
    /// A program exited unsuccessfully where success was required.
    #[error("{program} failed ({status}); stderr:\n{stderr}")]
    Failed {
        /// The program and its role.
        program: String,
        /// How it exited.
        status: std::process::ExitStatus,
        /// The end of its standard error.
        stderr: String,
    },
    /// The throwaway PostgreSQL could not be started or used.
    #[error(transparent)]
    Testkit(#[from] singer_testkit::Error),
    /// A statement against the source database failed.
    #[error("running {statement:?} on the source")]
    Postgres {
        /// The statement (abridged).
        statement: String,
        /// The cause.
        #[source]
        source: postgres::Error,
    },
    /// JSON output of a binary (catalog, state) did not parse.
    #[error("parsing {what}")]
    Json {
        /// What was parsed.
        what: String,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// The catalog could not be read or edited.
    #[error("catalog")]
    Catalog(#[from] singer_protocol::Error),
    /// A destination file could not be read.
    #[error("reading {}", path.display())]
    Csv {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: csv::Error,
    },
    /// A destination file lacks a column the check needs.
    #[error("{}: no column {column:?} in the header", path.display())]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// The column.
        column: String,
    },
    /// A query against the Snowflake destination (the double) failed.
    #[error("snowflake destination")]
    Snowflake(#[source] Box<singer_target_snowflake::Error>),
    /// A discovered catalog lacks a stream the scenario needs.
    #[error("the discovered catalog has no stream {stream:?}")]
    MissingStream {
        /// The stream.
        stream: String,
    },
    /// A scenario setting is out of range.
    #[error("invalid scenario: {reason}")]
    Scenario {
        /// What is wrong.
        reason: String,
    },
    /// The pipeline never finished cleanly within the attempts allowed.
    #[error("no clean run after {attempts} attempts (the last: {last})")]
    NoCleanRun {
        /// Attempts made.
        attempts: usize,
        /// How the last attempt ended.
        last: String,
    },
}

impl From<singer_target_snowflake::Error> for Error {
    fn from(error: singer_target_snowflake::Error) -> Self {
        Self::Snowflake(Box::new(error))
    }
}

/// The harness's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Wraps an I/O error with what was done to which path.
pub(crate) fn io(
    action: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io {
        action,
        path,
        source,
    }
}
