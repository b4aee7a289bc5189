//! The loader's error type.

/// A `Result` whose error defaults to this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong loading Snowflake.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is invalid.
    #[error("configuration: {reason}")]
    Config {
        /// What is wrong.
        reason: String,
    },
    /// Logging in failed.
    #[error("logging in to Snowflake as {user:?}")]
    Login {
        /// The user.
        user: String,
        /// Whether trying again may help (network, 5xx, 429).
        retryable: bool,
        /// The cause.
        #[source]
        source: snowflake_connector_rs::Error,
    },
    /// A statement failed. `code` and `message` are Snowflake's; the
    /// message shows them only where the source's own message (the next
    /// link of the chain) does not already say them.
    #[error("{action}{}", not_in_source(code.as_deref(), message, source))]
    Statement {
        /// What the statement was for (`creating table "S"."T"`, ...).
        action: String,
        /// Snowflake's error code (`002003`), when it sent one.
        code: Option<String>,
        /// Snowflake's message, or the client's description of the failure.
        message: String,
        /// Whether trying the whole batch again may help.
        retryable: bool,
        /// The cause.
        #[source]
        source: snowflake_connector_rs::Error,
    },
    /// A result could not be read as expected.
    #[error("{action}: unexpected result: {reason}")]
    Result {
        /// What was being read.
        action: String,
        /// What was wrong.
        reason: String,
    },
    /// A stream's name cannot become a table name.
    #[error("stream {stream:?}: {reason}")]
    Naming {
        /// The stream.
        stream: String,
        /// What is wrong.
        reason: String,
    },
    /// The new schema changes a column in a way the existing table cannot
    /// follow.
    #[error(
        "table {table}, column {column}: the column is {old} and the schema now asks for {new}, which is \
         not a widening of it ({reason}); rename or drop the column so it is re-created, or change the \
         tap's schema back"
    )]
    IncompatibleColumn {
        /// The table, quoted as in SQL.
        table: String,
        /// The column, quoted as in SQL.
        column: String,
        /// The column's type in Snowflake.
        old: String,
        /// The type the schema asks for.
        new: String,
        /// The evolution rule's words.
        reason: String,
    },
    /// A value no Snowflake type holds, under `special_values: error`.
    #[error(
        "stream {stream:?}, column {column:?}, batch row {row}: {value} cannot be stored in {sql_type} \
         ({reason}); set special_values to null to load such values as NULL"
    )]
    SpecialValue {
        /// The stream.
        stream: String,
        /// The property.
        column: String,
        /// The row's 1-based position in its batch.
        row: usize,
        /// The value (JSON text, at most 64 characters).
        value: String,
        /// The column's SQL type.
        sql_type: String,
        /// Why.
        reason: &'static str,
    },
    /// A cell does not hold what its column's type needs (a validation
    /// that was switched off, or a value that passed it but is not usable).
    #[error("stream {stream:?}, column {column:?}, batch row {row}: {reason}")]
    BadValue {
        /// The stream.
        stream: String,
        /// The property.
        column: String,
        /// The row's 1-based position in its batch.
        row: usize,
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
    /// A failure while rows staged since the last commit were waiting in
    /// the session's temporary tables: a new session would not have them,
    /// so redoing only the failed call cannot be right. Never retryable;
    /// the run fails and a rerun resumes from the last STATE written.
    #[error(
        "{action}: rows staged since the last commit are lost with the Snowflake session; not retrying \
         (a rerun resumes from the last STATE written)"
    )]
    StagedRowsLost {
        /// What the loader was doing.
        action: String,
        /// The failure, when there was one (none: the session was found
        /// replaced).
        #[source]
        source: Option<Box<Error>>,
    },
    /// The async runtime could not be built.
    #[error("starting the I/O runtime")]
    Runtime(#[source] std::io::Error),
    /// Putting a file on the stage failed (the PUT, the upload).
    #[error("staging files")]
    Stage {
        /// Whether trying again may succeed (the stager already retried
        /// the upload itself).
        retryable: bool,
        /// The failure.
        #[source]
        source: snowflake_stage::Error,
    },
    /// Encoding or compressing a file failed.
    #[error("encoding a file: {reason}")]
    Encode {
        /// Why.
        reason: String,
    },
    /// Deletes detection's guard refused a key set: it would mark more of
    /// the table's live rows deleted than `max_delete_ratio` allows. The
    /// commit rolled back; nothing was deleted.
    #[error(
        "deletes detection for {table}: the key set of {key_set:?} (version {version}) would mark {missing} of \
         {live} live rows deleted, more than max_delete_ratio {max_ratio} allows; nothing was deleted (if the \
         source really lost those rows, raise max_delete_ratio, up to 1, for one run)"
    )]
    DeleteGuard {
        /// The table, quoted as in SQL.
        table: String,
        /// The key-set stream.
        key_set: String,
        /// The key set's version.
        version: u64,
        /// Live rows whose key is not in the set.
        missing: u64,
        /// Live rows.
        live: u64,
        /// The setting.
        max_ratio: f64,
    },
    /// A key set (deletes detection) whose main stream cannot take it: no
    /// SCHEMA for it in this run, or a key column the table lacks.
    #[error("key set {key_set:?} of stream {stream:?}: {reason}")]
    KeySet {
        /// The key-set stream.
        key_set: String,
        /// The main stream.
        stream: String,
        /// What is wrong.
        reason: String,
    },
    /// A `COPY INTO` did not load exactly what was staged.
    #[error("loading staged files into {table}: {reason}")]
    CopyMismatch {
        /// The landing table.
        table: String,
        /// What differed.
        reason: String,
    },
}

impl Error {
    /// Whether this is a configuration problem (exit code 2).
    #[must_use]
    pub const fn is_config(&self) -> bool {
        matches!(self, Self::Config { .. })
    }

    /// Snowflake's error code, when the error came from Snowflake.
    #[must_use]
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Statement { code, .. } => code.as_deref(),
            Self::StagedRowsLost {
                source: Some(source),
                ..
            } => source.code(),
            _ => None,
        }
    }
}

impl singer_target::Retryable for Error {
    /// Transient failures (network, HTTP 5xx/429, an expired session, a
    /// client timeout) of statements that are safe to run again, while
    /// nothing is staged and uncommitted: a batch is staged afresh, so the
    /// driver retrying it cannot duplicate rows. With rows staged, the
    /// loader reports [`Error::StagedRowsLost`] instead (never retryable).
    /// A failure of the COMMIT itself is never retryable (it may have
    /// committed).
    fn is_retryable(&self) -> bool {
        match self {
            Self::Login { retryable, .. }
            | Self::Statement { retryable, .. }
            | Self::Stage { retryable, .. } => *retryable,
            _ => false,
        }
    }
}

/// Whether a client error is transient: a network failure, a timeout, an
/// expired session, or an HTTP 5xx/429 answer (other HTTP errors are not).
pub(crate) fn transient(error: &snowflake_connector_rs::Error) -> bool {
    use snowflake_connector_rs::ErrorKind;
    if let Some(status) = http_status(error) {
        return status == 429 || (500..600).contains(&status);
    }
    match error.kind() {
        ErrorKind::Network | ErrorKind::Timeout | ErrorKind::SessionExpired => true,
        // Snowflake's "try again" codes: 390112/390114 (session or token
        // expired), 000605/000625 (query aborted by the system).
        _ => matches!(
            error.snowflake_code(),
            Some("390112" | "390114" | "000605" | "000625")
        ),
    }
}

/// The HTTP status of a non-2xx answer: the client renders those errors as
/// `HTTP <status>: <body>` and has no accessor for the status.
pub(crate) fn http_status(error: &snowflake_connector_rs::Error) -> Option<u16> {
    let text = error.to_string();
    let at = text.find("HTTP ")?;
    let digits = text.get(at + 5..at + 8)?;
    let after = text.get(at + 8..at + 9);
    (after == Some(":")).then(|| digits.parse().ok()).flatten()
}

/// `code` and `message` as a suffix of a statement error's own message,
/// each left out when the source's message already carries it, so the
/// printed chain says everything once.
fn not_in_source(
    code: Option<&str>,
    message: &str,
    source: &snowflake_connector_rs::Error,
) -> String {
    let text = source.to_string();
    let mut out = String::new();
    if let Some(code) = code.filter(|code| !text.contains(code)) {
        out.push_str(": Snowflake error ");
        out.push_str(code);
    }
    if !text.contains(message) {
        out.push_str(": ");
        out.push_str(message);
    }
    out
}
