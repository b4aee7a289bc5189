//! The driver's error type.

use singer_schema::ValidationError;

/// A `Result` whose error defaults to this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A loader's error, as the driver keeps it: the cause and whether a retry
/// may succeed.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that stops a run.
///
/// Input errors name the 1-based input line and the stream; a loader
/// failure names the stream (when one stream's batch failed) and the input
/// line the driver had reached. When any of these is returned, no STATE
/// past the last successful commit has been written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input could not be read or a line is not a Singer message
    /// (malformed JSON, unknown message type, missing field, line too long).
    #[error(transparent)]
    Input(#[from] singer_protocol::Error),
    /// A RECORD arrived for a stream that has had no SCHEMA.
    #[error("line {line} (stream {stream:?}): RECORD before any SCHEMA for the stream")]
    RecordBeforeSchema {
        /// The input line of the RECORD.
        line: u64,
        /// The stream.
        stream: String,
    },
    /// A SCHEMA whose schema declares no properties.
    #[error("line {line} (stream {stream:?}): SCHEMA has no properties")]
    SchemaWithoutProperties {
        /// The input line of the SCHEMA.
        line: u64,
        /// The stream.
        stream: String,
    },
    /// A SCHEMA names a key property its schema does not declare.
    #[error(
        "line {line} (stream {stream:?}): key property {property:?} is not among the schema's properties"
    )]
    KeyPropertyNotInSchema {
        /// The input line of the SCHEMA.
        line: u64,
        /// The stream.
        stream: String,
        /// The key property.
        property: String,
    },
    /// A SCHEMA's schema cannot be compiled, typed or flattened.
    #[error("line {line} (stream {stream:?})")]
    Schema {
        /// The input line of the SCHEMA.
        line: u64,
        /// The stream.
        stream: String,
        /// The cause.
        #[source]
        source: singer_schema::Error,
    },
    /// A new SCHEMA changes a column in a way the loaded data cannot follow.
    #[error("line {line} (stream {stream:?}): column {column:?}: {message}")]
    IncompatibleSchemaChange {
        /// The input line of the SCHEMA.
        line: u64,
        /// The stream.
        stream: String,
        /// The column.
        column: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// A record has no value (absent or `null`) for a key property.
    #[error("line {line} (stream {stream:?}): record has no value for key property {property:?}")]
    MissingKeyProperty {
        /// The input line of the RECORD.
        line: u64,
        /// The stream.
        stream: String,
        /// The key property.
        property: String,
    },
    /// A record names the same property twice. JSON leaves duplicate
    /// names undefined and parsers disagree (first wins, last wins, error),
    /// so the record is refused rather than loaded with a guess.
    #[error(
        "line {line} (stream {stream:?}): record has property {property:?} more than once (duplicate keys are ambiguous in JSON)"
    )]
    DuplicateProperty {
        /// The input line of the RECORD.
        line: u64,
        /// The stream.
        stream: String,
        /// The repeated property.
        property: String,
    },
    /// A record the reader accepted as well-formed JSON that cannot be
    /// decoded into values (nested deeper than the parser's limit of 128).
    #[error("line {line} (stream {stream:?}): record cannot be decoded: {reason}")]
    UndecodableRecord {
        /// The input line of the RECORD.
        line: u64,
        /// The stream.
        stream: String,
        /// The parser's reason.
        reason: String,
    },
    /// A record fails its schema under the `fail` policy.
    #[error(transparent)]
    Validation(Box<ValidationError>),
    /// A record cannot be flattened (two properties become one column).
    #[error("line {line} (stream {stream:?})")]
    Flatten {
        /// The input line of the RECORD.
        line: u64,
        /// The stream.
        stream: String,
        /// The cause.
        #[source]
        source: singer_schema::Error,
    },
    /// A message type the driver does not load (`BATCH`).
    #[error(
        "line {line} (stream {stream:?}): {message_type} messages are not supported by this target"
    )]
    Unsupported {
        /// The input line.
        line: u64,
        /// The stream.
        stream: String,
        /// The message type.
        message_type: &'static str,
    },
    /// The loader failed (after the retries its error allowed).
    #[error("line {line}{}: {action} failed", stream_suffix(.stream.as_deref()))]
    Loader {
        /// The last input line read when the failure happened.
        line: u64,
        /// The stream whose batch or version failed (`None` for a commit).
        stream: Option<String>,
        /// What the driver asked: `configuring the stream`, `writing a batch`, `commit`, `activating a version`.
        action: &'static str,
        /// Whether the loader called the error retryable.
        retryable: bool,
        /// The cause.
        #[source]
        source: BoxError,
    },
    /// Writing a STATE value to the output failed (`BrokenPipe` when the
    /// reader went away).
    #[error("line {line}: writing STATE failed")]
    Output {
        /// The last input line read.
        line: u64,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// SIGINT or SIGTERM: the driver stopped reading, committed what it had
    /// and wrote the state covering it.
    #[error(
        "interrupted by a signal after line {line}: committed what was read; STATE written up to there"
    )]
    Interrupted {
        /// The last input line processed.
        line: u64,
    },
    /// The input ended with records of a table version (a FULL_TABLE copy
    /// in progress) that no STATE covers: the tap stopped mid-stream. Nothing
    /// after the last STATE written is committed: the orchestrator resumes
    /// from that STATE and the tap sends those records again, which would
    /// otherwise be in the version twice.
    #[error(
        "input ended at line {line} with {records} records after the last STATE, of stream {stream:?} table version {version}: the tap stopped mid-stream; not committing them (a resume from the last STATE written sends them again)"
    )]
    EndedWithoutState {
        /// The last input line.
        line: u64,
        /// Records received after the last STATE.
        records: u64,
        /// A stream with versioned records after the last STATE.
        stream: String,
        /// Their table version.
        version: u64,
    },
}

impl Error {
    /// The 1-based input line the error refers to, when it refers to one.
    #[must_use]
    pub fn line(&self) -> Option<u64> {
        match self {
            Self::Input(e) => e.line(),
            Self::Validation(e) => Some(e.line),
            Self::RecordBeforeSchema { line, .. }
            | Self::SchemaWithoutProperties { line, .. }
            | Self::KeyPropertyNotInSchema { line, .. }
            | Self::Schema { line, .. }
            | Self::IncompatibleSchemaChange { line, .. }
            | Self::MissingKeyProperty { line, .. }
            | Self::DuplicateProperty { line, .. }
            | Self::UndecodableRecord { line, .. }
            | Self::Flatten { line, .. }
            | Self::Unsupported { line, .. }
            | Self::Loader { line, .. }
            | Self::Output { line, .. }
            | Self::Interrupted { line }
            | Self::EndedWithoutState { line, .. } => Some(*line),
        }
    }

    /// Whether the input data is at fault (a bad line, a record before its
    /// schema, a record failing its schema, ...), as opposed to the loader,
    /// the output or a signal.
    #[must_use]
    pub fn is_bad_input(&self) -> bool {
        match self {
            Self::Input(e) => e.is_bad_input(),
            Self::Loader { .. }
            | Self::Output { .. }
            | Self::Interrupted { .. }
            | Self::EndedWithoutState { .. } => false,
            _ => true,
        }
    }

    /// Whether stdout's reader went away (the binary ends quietly).
    #[must_use]
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Self::Output { source, .. } if source.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

fn stream_suffix(stream: Option<&str>) -> String {
    stream.map_or_else(String::new, |s| format!(" (stream {s:?})"))
}
