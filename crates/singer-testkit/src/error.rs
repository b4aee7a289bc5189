//! The error type of the test kit.

use std::path::PathBuf;

/// Everything that can go wrong while starting or using the throwaway cluster.
///
/// Variants name the command, path or statement involved, and carry the
/// command's stderr or the tail of the server log where there is one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A test double (moto) could not be set up; the message says how to
    /// get it.
    #[error("{reason}")]
    Setup {
        /// What failed, and how to fix it.
        reason: String,
    },
    /// No directory with `initdb` and `pg_ctl` was found.
    #[error(
        "PostgreSQL server binaries (initdb, pg_ctl) not found: install them with \
         `apt-get install -y postgresql` or set SINGER_PG_BINDIR to their directory"
    )]
    BinariesNotFound,

    /// `SINGER_PG_BINDIR` is set but does not hold `initdb` and `pg_ctl`.
    #[error(
        "SINGER_PG_BINDIR is set to {path}, which does not contain both initdb and pg_ctl: \
         point it at the PostgreSQL server binaries (e.g. /usr/lib/postgresql/15/bin)"
    )]
    InvalidBinDir {
        /// The value of `SINGER_PG_BINDIR`.
        path: PathBuf,
    },

    /// The process runs as root (which `initdb` refuses) and there is no
    /// `postgres` system user to run the server as.
    #[error(
        "running as root, and initdb refuses to run as root, but there is no `postgres` \
         system user to run it as: create one (`useradd --system postgres`, or \
         `apt-get install -y postgresql` does it) or run the tests as a non-root user"
    )]
    NoPostgresUser,

    /// A file system operation failed.
    #[error("could not {action} {path}")]
    Io {
        /// What was being done, e.g. "create the cluster directory".
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A bad-input corpus file is malformed.
    #[error("corpus file {path}: {reason}")]
    Corpus {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// A command could not be started at all.
    #[error("could not run `{command}`")]
    Spawn {
        /// The command line.
        command: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A command ran and failed.
    #[error(
        "`{command}` failed ({status})\n--- output ---\n{output}{}",
        log_section(log_tail)
    )]
    CommandFailed {
        /// The command line.
        command: String,
        /// How it exited.
        status: String,
        /// Its stdout and stderr (bounded).
        output: String,
        /// The tail of the server log, when the command was `pg_ctl start`.
        log_tail: Option<String>,
    },

    /// No free TCP port could be found on 127.0.0.1.
    #[error("could not find a free TCP port on 127.0.0.1")]
    NoFreePort {
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// Connecting to the cluster failed.
    #[error("could not connect to the throwaway cluster as `{connection}`")]
    Connect {
        /// The connection string used (it holds no password).
        connection: String,
        /// The underlying error.
        #[source]
        source: postgres::Error,
    },

    /// A statement run by the test kit failed.
    #[error("statement `{statement}` failed on the throwaway cluster")]
    Query {
        /// The statement.
        statement: String,
        /// The underlying error.
        #[source]
        source: postgres::Error,
    },

    /// The Python venv with fakesnow (the Snowflake double) is missing.
    #[error(
        "the Snowflake double needs fakesnow in a Python venv at {}, which is missing: {}",
        venv.display(),
        crate::snowflake::install_hint(venv)
    )]
    FakesnowMissing {
        /// Where the venv was looked for.
        venv: PathBuf,
    },

    /// The Snowflake double did not start.
    #[error("the Snowflake double (fakesnow wrapper) did not start: {reason}{}", log_section(&Some(log_tail.clone()).filter(|t| !t.is_empty())))]
    DoubleFailed {
        /// What went wrong.
        reason: String,
        /// The tail of its log.
        log_tail: String,
    },

    /// Starting the shared cluster failed earlier in this process; this is
    /// that first failure, repeated for every later caller.
    #[error("the throwaway service is unavailable (its first start failed): {message}")]
    Unavailable {
        /// The first failure with its causes.
        message: String,
    },
}

fn log_section(tail: &Option<String>) -> String {
    match tail {
        Some(tail) => format!("\n--- log (tail) ---\n{tail}"),
        None => String::new(),
    }
}

impl Error {
    /// The error and all its causes, joined with `: `.
    pub(crate) fn chain(&self) -> String {
        let mut message = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        message
    }
}
