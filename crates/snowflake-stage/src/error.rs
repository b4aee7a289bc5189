//! Errors of stage uploads.

/// What can go wrong putting a file on a stage.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The PUT answer cannot be acted on.
    #[error("unusable PUT answer: {reason}")]
    PutResponse {
        /// What is wrong with it.
        reason: String,
    },
    /// A file key of the wrong size (the master key's size is needed).
    #[error("a {0}-byte key where 16 or 32 bytes (the master key's size) are needed")]
    KeySize(usize),
    /// The system's random source failed.
    #[error("no random bytes for a file key: {0}")]
    Random(String),
    /// The HTTP client could not be built.
    #[error("building the HTTP client failed")]
    Client(#[source] reqwest::Error),
    /// The store did not answer (connection, timeout).
    #[error("uploading {file} to the {store} stage failed")]
    Transport {
        /// The file.
        file: String,
        /// The store.
        store: &'static str,
        /// The cause.
        #[source]
        source: reqwest::Error,
    },
    /// A REST call (login, statement) failed.
    #[error("{action}: {}{message}", code.as_deref().map(|c| format!("{c}: ")).unwrap_or_default())]
    Session {
        /// What was being done.
        action: &'static str,
        /// Snowflake's error code or the HTTP status.
        code: Option<String>,
        /// Snowflake's message.
        message: String,
        /// Whether trying again (after logging in again) may succeed.
        retryable: bool,
    },
    /// The store refused the upload.
    #[error("the {store} stage refused {file}: HTTP {status}{}", code.as_deref().map(|c| format!(" {c}")).unwrap_or_default())]
    Refused {
        /// The file.
        file: String,
        /// The store.
        store: &'static str,
        /// The HTTP status.
        status: u16,
        /// The store's error code (S3 `<Code>`), when it gave one.
        code: Option<String>,
        /// Whether the credentials (or the presigned URL) expired: re-issue
        /// the PUT for fresh ones and try again.
        expired: bool,
    },
}

impl Error {
    /// Whether trying the same upload again may succeed: 408, 429, 5xx and
    /// transport failures.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Transport { .. } => true,
            Self::Session { retryable, .. } => *retryable,
            Self::Refused { status, .. } => matches!(status, 408 | 429 | 500..=599),
            _ => false,
        }
    }

    /// Whether the stage's credentials expired: re-issue the PUT, then
    /// upload again with its fresh `stageInfo`.
    #[must_use]
    pub fn is_expired(&self) -> bool {
        matches!(self, Self::Refused { expired: true, .. })
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
