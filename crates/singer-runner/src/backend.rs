//! Where a job's state lives, and the lock that keeps a job to one run.

use std::fmt;
use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use singer_state::{FileStateStore, PgStateStore, State, StateStore, TableName};

use crate::error::{Error, Result};

/// A state backend: `file:PATH` or a PostgreSQL URL.
#[derive(Clone, PartialEq, Eq)]
pub enum Backend {
    /// A JSON file, written atomically (temp file, fsync, rename); the
    /// lock is `PATH.lock` beside it.
    File(PathBuf),
    /// A row per job in a PostgreSQL table (`singer_state` unless given);
    /// the lock is an advisory lock held by the run's connection.
    Postgres {
        /// `postgresql://user:password@host:port/dbname?…` (libpq URL form).
        url: String,
        /// The table, optionally schema-qualified.
        table: Option<String>,
    },
}

impl fmt::Debug for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(path) => f.debug_tuple("File").field(path).finish(),
            Self::Postgres { table, .. } => f
                .debug_struct("Postgres")
                .field("url", &"<redacted>")
                .field("table", table)
                .finish(),
        }
    }
}

impl fmt::Display for Backend {
    /// The backend as logs may show it: a URL without its credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(path) => write!(f, "file:{}", path.display()),
            Self::Postgres { url, table } => {
                let host = url
                    .split_once('@')
                    .map_or_else(|| url.split_once("://").map_or("", |(_, r)| r), |(_, r)| r);
                let host = host.split(['?', '#']).next().unwrap_or_default();
                write!(f, "postgresql://{host}")?;
                if let Some(table) = table {
                    write!(f, " (table {table})")?;
                }
                Ok(())
            }
        }
    }
}

impl Backend {
    /// Parses `file:PATH` or `postgresql://…` / `postgres://…`.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for anything else.
    pub fn parse(text: &str) -> Result<Self> {
        if let Some(path) = text.strip_prefix("file:") {
            if path.is_empty() {
                return Err(Error::Config {
                    reason: "state backend `file:` needs a path (file:PATH)".to_owned(),
                });
            }
            return Ok(Self::File(PathBuf::from(path)));
        }
        if text.starts_with("postgresql://") || text.starts_with("postgres://") {
            return Ok(Self::Postgres {
                url: text.to_owned(),
                table: None,
            });
        }
        Err(Error::Config {
            reason: format!(
                "state backend {:?} is neither file:PATH nor postgresql://…",
                text.split_once('@').map_or(text, |(_, rest)| rest)
            ),
        })
    }

    /// The same backend with the PostgreSQL store's table set.
    #[must_use]
    pub fn with_table(self, table: Option<String>) -> Self {
        match self {
            Self::Postgres { url, .. } => Self::Postgres { url, table },
            other => other,
        }
    }

    /// Opens the job's store and takes its lock.
    ///
    /// # Errors
    ///
    /// [`Error::AlreadyRunning`] when another run holds the lock; the
    /// store's or the connection's error otherwise.
    pub fn open(&self, job: &str) -> Result<OpenStore> {
        match self {
            Self::File(path) => {
                let lock = lock_file(path, job)?;
                Ok(OpenStore {
                    store: Box::new(FileStateStore::new(path.clone())),
                    _lock: Some(lock),
                })
            }
            Self::Postgres { url, table } => {
                let config =
                    postgres::Config::from_str(url).map_err(|source| Error::StoreConnect {
                        job: job.to_owned(),
                        source,
                    })?;
                let client =
                    config
                        .connect(postgres::NoTls)
                        .map_err(|source| Error::StoreConnect {
                            job: job.to_owned(),
                            source,
                        })?;
                let store_error = |source| Error::Store {
                    job: job.to_owned(),
                    source: Box::new(source),
                };
                let table = match table {
                    Some(name) => TableName::parse(name).map_err(store_error)?,
                    None => TableName::default(),
                };
                let store = PgStateStore::with_table(client, job, table).map_err(|source| {
                    if source.is_job_already_running() {
                        Error::AlreadyRunning {
                            job: job.to_owned(),
                            lock: "PostgreSQL advisory lock".to_owned(),
                        }
                    } else {
                        Error::Store {
                            job: job.to_owned(),
                            source: Box::new(source),
                        }
                    }
                })?;
                Ok(OpenStore {
                    store: Box::new(store),
                    _lock: None,
                })
            }
        }
    }
}

/// A job's open store, holding the job's lock until dropped.
pub struct OpenStore {
    store: Box<dyn StateStore>,
    _lock: Option<File>,
}

impl fmt::Debug for OpenStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenStore").finish_non_exhaustive()
    }
}

impl OpenStore {
    /// The last state saved for the job, if any.
    ///
    /// # Errors
    ///
    /// The store's error.
    pub fn load(&mut self, job: &str) -> Result<Option<State>> {
        self.store.load().map_err(|source| Error::Store {
            job: job.to_owned(),
            source: Box::new(source),
        })
    }

    /// Saves `state` durably.
    ///
    /// # Errors
    ///
    /// The store's error.
    pub fn save(&mut self, job: &str, state: &State) -> Result<()> {
        self.store.save(state).map_err(|source| Error::Store {
            job: job.to_owned(),
            source: Box::new(source),
        })
    }
}

/// Takes an exclusive lock on `PATH.lock` (created with its directory).
fn lock_file(path: &Path, job: &str) -> Result<File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(Error::io("creating", dir.display().to_string()))?;
    }
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    let lock_path = PathBuf::from(name);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(Error::io("opening", lock_path.display().to_string()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(Error::AlreadyRunning {
            job: job.to_owned(),
            lock: lock_path.display().to_string(),
        }),
        Err(TryLockError::Error(source)) => Err(Error::Io {
            action: "locking",
            what: lock_path.display().to_string(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_parse_and_never_show_a_password() {
        assert_eq!(
            Backend::parse("file:state/j.json").unwrap(),
            Backend::File(PathBuf::from("state/j.json"))
        );
        let pg = Backend::parse("postgresql://etl:s3cret@db:5432/etl?sslmode=disable").unwrap();
        assert!(!format!("{pg:?}").contains("s3cret"));
        assert_eq!(pg.to_string(), "postgresql://db:5432/etl");
        assert!(Backend::parse("file:").is_err());
        let error = Backend::parse("mysql://u:s3cret@h/d")
            .unwrap_err()
            .to_string();
        assert!(!error.contains("s3cret"), "{error}");
    }

    #[test]
    fn a_file_store_refuses_a_second_run_of_the_job() {
        let dir = std::env::temp_dir().join(format!("singer-runner-lock-{}", std::process::id()));
        let backend = Backend::File(dir.join("j.json"));
        let mut first = backend.open("j").unwrap();
        assert!(matches!(
            backend.open("j"),
            Err(Error::AlreadyRunning { .. })
        ));
        assert_eq!(first.load("j").unwrap(), None);
        first
            .save("j", &State::from_json(r#"{"bookmarks":{}}"#).unwrap())
            .unwrap();
        drop(first);
        let mut again = backend.open("j").unwrap();
        assert!(again.load("j").unwrap().is_some());
        drop(again);
        let _ = std::fs::remove_dir_all(dir);
    }
}
