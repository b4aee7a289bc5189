//! The error type of the tap.

use std::path::PathBuf;

/// A `Result` whose error defaults to this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can stop a discovery or a sync.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is unusable.
    #[error("configuration: {reason}")]
    Config {
        /// What is wrong.
        reason: String,
    },
    /// A setting has a value the tap does not know.
    #[error("configuration")]
    Setting {
        /// Which setting and what is wrong.
        #[source]
        source: crate::config::SettingError,
    },
    /// The TLS stack could not be set up.
    #[error("TLS setup failed")]
    Tls {
        /// OpenSSL's error.
        #[source]
        source: openssl::error::ErrorStack,
    },
    /// A certificate or key file could not be loaded.
    #[error("TLS: cannot load {what} {}", path.display())]
    TlsFile {
        /// Which setting named the file.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// OpenSSL's error.
        #[source]
        source: openssl::error::ErrorStack,
    },
    /// Connecting failed.
    #[error("cannot connect to {server}")]
    Connect {
        /// `host:port/dbname`.
        server: String,
        /// The driver's error.
        #[source]
        source: postgres::Error,
    },
    /// A connection's runtime could not start.
    #[error("starting a connection's runtime")]
    ConnectionRuntime {
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A statement failed.
    #[error("{}{action}", stream_prefix(.stream.as_deref()))]
    Query {
        /// The stream being synced, if any.
        stream: Option<String>,
        /// What the statement was for.
        action: &'static str,
        /// The driver's error (with SQLSTATE).
        #[source]
        source: postgres::Error,
    },
    /// Discovery failed.
    #[error("discovery")]
    Discovery {
        /// The cause.
        #[source]
        source: crate::discovery::DiscoveryError,
    },
    /// A value could not be rendered.
    #[error("stream {stream:?}, column {column:?}")]
    Encode {
        /// The stream.
        stream: String,
        /// The column.
        column: String,
        /// The cause.
        #[source]
        source: crate::types::EncodeError,
    },
    /// The catalog is unusable for this stream.
    #[error("stream {stream:?}: {reason}")]
    Stream {
        /// The stream.
        stream: String,
        /// What is wrong.
        reason: String,
    },
    /// LOG_BASED cannot run: a server setting, a privilege, a table
    /// without replica identity, a lost slot (the message says what to do).
    #[error("LOG_BASED: {reason}")]
    LogBased {
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// A pgoutput message that does not decode.
    #[error("LOG_BASED: decoding the change stream")]
    Decode(#[source] crate::logical::DecodeError),
    /// A catalog error from the protocol crate.
    #[error(transparent)]
    Catalog(Box<singer_protocol::Error>),
    /// The manifest (or the connection-info file) is unusable.
    #[error("manifest{}", path_suffix(.path.as_deref()))]
    Manifest {
        /// The file, when the text came from one.
        path: Option<PathBuf>,
        /// What is wrong.
        #[source]
        source: crate::manifest::ManifestError,
    },
    /// An allow-list file is unusable.
    #[error(transparent)]
    AllowList {
        /// What is wrong.
        source: crate::manifest::AllowListError,
    },
    /// A manifest table cannot be loaded as asked (a missing column, a key
    /// that cannot be ranged, an allow list that is not configured).
    #[error("table {table:?}: {reason}")]
    Table {
        /// The table's key in the manifest.
        table: String,
        /// What is wrong.
        reason: String,
    },
    /// An incremental window whose BEGIN is after its END (the execution
    /// date is before the high-water mark minus the overlap).
    #[error("table {table:?}: incremental window is empty: BEGIN {begin} is after END {end}")]
    Window {
        /// The table's key in the manifest.
        table: String,
        /// BEGIN (UTC).
        begin: String,
        /// END (UTC).
        end: String,
    },
    /// The freshness gate: the replica's last replayed transaction is older
    /// than the limit.
    #[error(
        "replica is stale: last replayed transaction at {replay} is {age} old, more than the limit of {limit}"
    )]
    ReplicaStale {
        /// `pg_last_xact_replay_timestamp()` (UTC).
        replay: String,
        /// How old it is.
        age: String,
        /// The limit.
        limit: String,
    },
    /// The source is a standby that has not replayed anything yet, so its
    /// freshness is unknown.
    #[error(
        "replica freshness unknown: the server is a standby and pg_last_xact_replay_timestamp() is NULL (nothing replayed yet)"
    )]
    ReplicaNotReplayed,
    /// A parallel worker stopped because the run is ending (another worker
    /// failed, or the output closed); the run reports that first cause.
    #[error("stopped because the run is ending")]
    Cancelled,
    /// A table's STATE line, as its parallel load wrote it, did not decode
    /// (a bug: the run stops rather than lose that table's bookmark).
    #[error("the STATE of table stream {stream:?} written by its parallel load does not decode")]
    TableState {
        /// The table's stream.
        stream: String,
    },
    /// A parallel worker thread panicked (a bug; the run stops, and the
    /// last STATE written covers only what was written before it).
    #[error("a parallel worker stopped unexpectedly")]
    WorkerPanicked,
    /// The snapshot a parallel copy shares could not be exported or
    /// imported.
    #[error("sharing a snapshot between parallel readers: {action}")]
    Snapshot {
        /// What failed.
        action: &'static str,
        /// The server's error.
        #[source]
        source: postgres::Error,
    },
    /// Writing messages failed (a closed pipe is a `BrokenPipe` here).
    #[error("writing output")]
    Output {
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Whether a retry (after reconnecting) may succeed: a dropped
    /// connection, an I/O error, or SQLSTATE 40001 (serialization failure,
    /// which includes a hot standby's "canceling statement due to conflict
    /// with recovery") or 40P01 (deadlock).
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Query { source, .. } | Self::Connect { source, .. } => is_transient(source),
            _ => false,
        }
    }

    /// Whether the output pipe was closed by the reader.
    #[must_use]
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Self::Output { source } if source.kind() == std::io::ErrorKind::BrokenPipe)
    }

    /// Whether the error is a configuration or catalog problem (exit code 2).
    #[must_use]
    pub fn is_usage(&self) -> bool {
        match self {
            Self::Config { .. }
            | Self::Setting { .. }
            | Self::TlsFile { .. }
            | Self::Stream { .. }
            | Self::Manifest { .. }
            | Self::AllowList { .. }
            | Self::Table { .. } => true,
            Self::Catalog(e) => e.is_usage(),
            _ => false,
        }
    }
}

impl singer_protocol::Retryable for Error {
    fn is_retryable(&self) -> bool {
        Self::is_retryable(self)
    }
}

/// Whether a driver error is worth a reconnect and a retry.
pub(crate) fn is_transient(error: &postgres::Error) -> bool {
    if error.is_closed() {
        return true;
    }
    if let Some(code) = error.code() {
        let code = code.code();
        // 40001 serialization_failure (incl. recovery conflicts), 40P01
        // deadlock_detected, 57P01 admin_shutdown (pg_terminate_backend),
        // 08xxx connection exceptions.
        return code == "40001" || code == "40P01" || code == "57P01" || code.starts_with("08");
    }
    // No SQLSTATE: an I/O error or a connection that went away.
    std::error::Error::source(error).is_some_and(<dyn std::error::Error>::is::<std::io::Error>)
}

fn stream_prefix(stream: Option<&str>) -> String {
    stream.map_or_else(String::new, |s| format!("stream {s:?}: "))
}

fn path_suffix(path: Option<&std::path::Path>) -> String {
    path.map_or_else(String::new, |p| format!(" {}", p.display()))
}
