//! The error type of this crate.

use std::path::PathBuf;

/// A `Result` whose error defaults to this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while reading Singer messages, catalogs,
/// configuration or command-line arguments.
///
/// Input errors carry the 1-based input line and, when it is known, the
/// stream, so a user can find the offending line in a multi-gigabyte pipe.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading the input failed.
    #[error("line {line}: reading input failed")]
    Read {
        /// The line being read when the failure happened.
        line: u64,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A line is longer than the configured limit.
    #[error("line {line}: longer than the limit of {limit} bytes")]
    LineTooLong {
        /// The offending line.
        line: u64,
        /// The configured limit in bytes.
        limit: usize,
    },
    /// A line is not valid UTF-8.
    #[error("line {line}, column {column}: not valid UTF-8")]
    InvalidUtf8 {
        /// The offending line.
        line: u64,
        /// The 1-based column (byte) of the first invalid byte.
        column: usize,
    },
    /// A line is not well-formed JSON.
    #[error("line {line}, column {column}: malformed JSON: {reason}")]
    MalformedJson {
        /// The offending line.
        line: u64,
        /// The 1-based column (byte) where the parser stopped.
        column: usize,
        /// What the parser expected.
        reason: String,
    },
    /// A line is JSON but not a JSON object, or a field of the message
    /// envelope has the wrong JSON type.
    #[error("line {line}, column {column}: not a Singer message: {reason}")]
    NotAMessage {
        /// The offending line.
        line: u64,
        /// The 1-based column (byte) where decoding stopped.
        column: usize,
        /// What was wrong.
        reason: String,
    },
    /// A message has no `type` field.
    #[error("line {line}: message has no \"type\" field")]
    MissingType {
        /// The offending line.
        line: u64,
    },
    /// The `type` field names no Singer message type.
    #[error(
        "line {line}: unknown message type {message_type:?} (expected SCHEMA, RECORD, STATE, ACTIVATE_VERSION or BATCH)"
    )]
    UnknownMessageType {
        /// The offending line.
        line: u64,
        /// The type as written.
        message_type: String,
    },
    /// A required field of a message is missing (or null).
    #[error("line {line}{}: {message_type} message has no {field:?} field", stream_suffix(.stream.as_deref()))]
    MissingField {
        /// The offending line.
        line: u64,
        /// The message type.
        message_type: &'static str,
        /// The missing field.
        field: &'static str,
        /// The stream, when the message named one.
        stream: Option<String>,
    },
    /// A field of a message has a value of the wrong shape.
    #[error("line {line}{}: {message_type} field {field:?} must be {expected}", stream_suffix(.stream.as_deref()))]
    InvalidField {
        /// The offending line.
        line: u64,
        /// The message type.
        message_type: &'static str,
        /// The offending field.
        field: &'static str,
        /// What the field must hold.
        expected: &'static str,
        /// The stream, when the message named one.
        stream: Option<String>,
    },
    /// A catalog is malformed.
    #[error("catalog{}: {reason}", stream_suffix(.stream.as_deref()))]
    Catalog {
        /// The catalog entry, when known.
        stream: Option<String>,
        /// What is wrong.
        reason: String,
    },
    /// A catalog file could not be read or parsed.
    #[error("catalog file {}", path.display())]
    CatalogFile {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: Box<Error>,
    },
    /// A file named on the command line could not be read.
    #[error("reading {}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file named on the command line is not valid JSON.
    #[error("{} is not valid JSON", path.display())]
    FileJson {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// The configuration is invalid. The message never contains the value of
    /// a secret setting.
    #[error("configuration: {reason}")]
    Config {
        /// What is wrong, with secrets redacted.
        reason: String,
    },
    /// The command line is invalid.
    #[error("usage: {reason}")]
    Usage {
        /// What is wrong.
        reason: String,
    },
}

impl Error {
    /// The 1-based input line the error refers to, if it refers to one.
    #[must_use]
    pub fn line(&self) -> Option<u64> {
        match self {
            Self::Read { line, .. }
            | Self::LineTooLong { line, .. }
            | Self::InvalidUtf8 { line, .. }
            | Self::MalformedJson { line, .. }
            | Self::NotAMessage { line, .. }
            | Self::MissingType { line }
            | Self::UnknownMessageType { line, .. }
            | Self::MissingField { line, .. }
            | Self::InvalidField { line, .. } => Some(*line),
            _ => None,
        }
    }

    /// Whether the error is a problem with the input data (as opposed to an
    /// I/O failure, a configuration or usage error).
    #[must_use]
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            Self::LineTooLong { .. }
                | Self::InvalidUtf8 { .. }
                | Self::MalformedJson { .. }
                | Self::NotAMessage { .. }
                | Self::MissingType { .. }
                | Self::UnknownMessageType { .. }
                | Self::MissingField { .. }
                | Self::InvalidField { .. }
        )
    }

    /// Whether the error is a configuration or command-line problem (exit
    /// code 2 in the binaries).
    #[must_use]
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            Self::Config { .. }
                | Self::Usage { .. }
                | Self::File { .. }
                | Self::FileJson { .. }
                | Self::Catalog { .. }
                | Self::CatalogFile { .. }
        )
    }
}

/// Splits a `serde_json` error into its column and its message without the
/// "at line 1 column N" suffix (the line is ours, not the parser's).
pub(crate) fn json_reason(error: &serde_json::Error) -> (usize, String) {
    let text = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    let reason = text.strip_suffix(&suffix).unwrap_or(&text).to_owned();
    (error.column(), reason)
}

fn stream_suffix(stream: Option<&str>) -> String {
    stream.map_or_else(String::new, |s| format!(" (stream {s:?})"))
}

/// An error and its causes, `: `-separated, outermost first: how the
/// workspace prints an error. No error type here repeats its source in its
/// own message, so each cause appears once.
///
/// ```
/// use singer_protocol::{ErrorChain, Error};
///
/// let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
/// let error = Error::File { path: "tap.json".into(), source: io };
/// assert_eq!(error.to_string(), "reading tap.json");
/// assert_eq!(ErrorChain(&error).to_string(), "reading tap.json: no such file");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(error) = cause {
            write!(f, ": {error}")?;
            cause = error.source();
        }
        Ok(())
    }
}
