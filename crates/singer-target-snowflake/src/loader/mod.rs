//! [`SnowflakeLoader`]: tables from schemas; batches staged in the session,
//! applied in one transaction per commit.
//!
//! Durability comes only at [`Loader::commit`] (which the driver calls at
//! STATE boundaries): `write_batch` appends rows to a session-local
//! temporary staging table per stream (a new one after an
//! ACTIVATE_VERSION or a change of columns), numbering them with a sequence
//! running across batches; `activate_version` is queued. `commit` applies
//! the queue in order in one `BEGIN ... COMMIT` and drops the staging
//! tables. Snowflake commits an open transaction on any DDL, so DDL (table
//! creation and evolution in `configure_stream`, the loader's own
//! `_sdc_*` columns, the staging tables) runs only between commits, when
//! no transaction is open: it never publishes staged rows, which are not
//! in the stream's table until the MERGE/INSERT of the commit.
//!
//! The seams, one module each: `table` (DDL and schema evolution),
//! `staging` (the staging tables a batch goes to), `commit` (the
//! transaction: overwrite, MERGE/INSERT, hard deletes, ACTIVATE_VERSION)
//! and `deletes` (deletes detection from a key set, with its guard).
//! Each builds its SQL with pure functions of table names, columns, types
//! and keys; this module holds the loader's state and the [`Loader`] impl.
//!
//! Retries: every loader call is retried by exactly one layer, with the
//! same [`RetryPolicy`] (`max_retries` + 1 attempts). The driver re-runs
//! `write_batch` and `commit`, so inside them every statement (and a login)
//! is sent once per call; `configure_stream`, `activate_version`,
//! [`SnowflakeLoader::connect`] and the queries, which the driver does not
//! retry, are re-run whole by the loader itself.

mod commit;
mod deletes;
mod staging;
mod table;

use std::collections::{BTreeMap, HashMap, HashSet};

use singer_protocol::{RetryPolicy, Retryable};
use singer_target::{Batch, Loader, StreamSchema};
use tracing::warn;

use crate::config::{SnowflakeConfig, Staging};
use crate::connection::{Bind, Connection};
use crate::encode::{ColumnPlan, EncodeOptions};
use crate::error::{Error, Result};
use crate::files::{FileStager, FileStats};
use crate::naming::{TableName, fold};
use crate::stage::JsonBindStager;
use crate::types::SqlType;

use commit::Pending;
use staging::Stage;

/// The soft-delete marker column (a tap's, or the loader's for
/// ACTIVATE_VERSION without hard deletes).
pub const DELETED_AT: &str = "_sdc_deleted_at";
/// The table-version column.
pub const TABLE_VERSION: &str = "_sdc_table_version";
/// The type of the table-version column when the loader adds it.
const VERSION_TYPE: SqlType = SqlType::Number {
    precision: 38,
    scale: 0,
};

/// What a stream loads into, and how.
#[derive(Debug, Clone)]
struct StreamState {
    table: TableName,
    /// One plan per stream column, in batch cell order.
    plans: Vec<ColumnPlan>,
    /// Column identifiers (unquoted), parallel to `plans`.
    idents: Vec<String>,
    /// Key column positions in `plans`.
    keys: Vec<usize>,
    /// The table's columns as last read or changed.
    table_columns: BTreeMap<String, Option<SqlType>>,
    /// The stream itself has the `_sdc_table_version` / `_sdc_deleted_at`
    /// property.
    own_version: Option<usize>,
    own_deleted: Option<usize>,
    /// Overwrite mode: the table was emptied in this run.
    overwritten: bool,
    /// A key set (deletes detection): the stream whose keys it holds.
    key_set_of: Option<String>,
}

/// One SQL statement and what it is for (the `action` of its error).
#[derive(Debug, Clone, PartialEq)]
struct Statement {
    action: String,
    sql: String,
    binds: Vec<Bind>,
    /// The schema that must be current (the statement names a staging
    /// table unqualified).
    schema: Option<String>,
    /// What its answer must satisfy for the transaction to go on.
    check: Option<deletes::Guard>,
}

impl Statement {
    fn new(action: String, sql: String) -> Self {
        Self {
            action,
            sql,
            binds: Vec::new(),
            schema: None,
            check: None,
        }
    }
}

/// Counts of what the loader did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct LoadStats {
    /// Rows committed.
    pub rows: u64,
    /// Batches committed.
    pub batches: u64,
    /// Staging statements sent.
    pub stage_statements: u64,
    /// Values loaded as NULL by `special_values: null`.
    pub special_values_nulled: u64,
    /// Rows committed per table.
    pub tables: BTreeMap<String, u64>,
    /// Staged files (`staging: stage`): files, bytes, PUTs, encode and
    /// upload seconds.
    pub files: FileStats,
    /// Seconds binding batches into staging tables (`staging: bind`:
    /// encoding the JSON text and its INSERT statements).
    pub bind_seconds: f64,
    /// Seconds in `COPY INTO` (with the landing table's INSERT).
    pub copy_seconds: f64,
    /// Seconds in the commits' transactions (MERGE / INSERT / DELETE).
    pub merge_seconds: f64,
    /// Statements sent by the commits (COPY, INSERT, MERGE, ...).
    pub commit_statements: u64,
    /// The same counts per stream.
    pub streams: BTreeMap<String, StreamStats>,
}

/// What the loader did for one stream: a line of the end-of-run summary.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct StreamStats {
    /// The table the stream loads into.
    pub table: String,
    /// Rows committed.
    pub rows: u64,
    /// Batches committed.
    pub batches: u64,
    /// Files uploaded (`staging: stage`).
    pub files: u64,
    /// Compressed bytes uploaded.
    pub bytes: u64,
    /// `PUT` statements sent.
    pub puts: u64,
    /// Seconds spent encoding and compressing its files.
    pub encode_seconds: f64,
    /// Seconds its files spent in `PUT` and in transfer (files of several
    /// streams upload at once, so the streams' sum can pass the run's).
    pub upload_seconds: f64,
    /// Seconds binding its batches into staging tables (`staging: bind`).
    pub bind_seconds: f64,
    /// Seconds in `COPY INTO` and filling its staging tables.
    pub copy_seconds: f64,
    /// Seconds in its statements of the commit transactions (MERGE,
    /// INSERT, ACTIVATE_VERSION, deletes).
    pub merge_seconds: f64,
    /// Statements sent for it (staging, `PUT`, COPY, MERGE, ...).
    pub statements: u64,
}

/// The Snowflake loader behind `target-snowflake` (see the crate docs).
/// Its `Debug` shows no secret (the config and the connection redact
/// them).
#[derive(Debug)]
pub struct SnowflakeLoader {
    config: SnowflakeConfig,
    /// Retries of the calls the driver does not retry (`max_retries`).
    retry: RetryPolicy,
    connection: Connection,
    stager: JsonBindStager,
    /// Staged loading (`staging: stage`); `None` for the bind path.
    files: Option<FileStager>,
    streams: HashMap<String, StreamState>,
    tables: HashMap<TableName, String>,
    schemas: HashSet<String>,
    stats: LoadStats,
    /// Staging tables of the rows written since the last commit.
    stages: Vec<Stage>,
    /// Each stream's staging table that its next batch may append to.
    open: HashMap<String, usize>,
    /// What the next commit applies, in order.
    pending: Vec<Pending>,
    /// Rows staged in the run (the staging tables' row numbers).
    sequence: u64,
    /// Staging tables created in the run (their names).
    stage_counter: u64,
    /// The run's id.
    run: String,
}

impl SnowflakeLoader {
    /// A loader for `config`. Nothing is sent to Snowflake until
    /// [`SnowflakeLoader::connect`] or the first stream.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for settings that cannot work (no credentials, an
    /// unreadable key file, a bad endpoint URL).
    pub fn new(config: &SnowflakeConfig) -> Result<Self> {
        let run = run_id()?;
        // Both sessions (queries, and PUT's own) carry the run's tag.
        let mut config = config.clone();
        config.query_tag = config.query_tag.as_deref().map(|template| {
            crate::config::expand_query_tag(
                template,
                &run,
                &config.database,
                config.default_target_schema.as_deref(),
            )
        });
        let config = &config;
        let connection = Connection::new(config)?;
        Ok(Self {
            stager: JsonBindStager::new(
                config.max_bind_bytes,
                EncodeOptions {
                    special: config.special_values,
                },
            ),
            files: match config.staging {
                Staging::Stage => Some(FileStager::new(
                    config,
                    &run,
                    EncodeOptions {
                        special: config.special_values,
                    },
                )?),
                Staging::Bind => None,
            },
            retry: config.retry_policy(),
            config: config.clone(),
            connection,
            streams: HashMap::new(),
            tables: HashMap::new(),
            schemas: HashSet::new(),
            stats: LoadStats::default(),
            stages: Vec::new(),
            open: HashMap::new(),
            pending: Vec::new(),
            sequence: 0,
            stage_counter: 0,
            run,
        })
    }

    /// This run's id: the `{{run_id}}` of `query_tag` and a part of its
    /// staged files' names.
    #[must_use]
    pub fn run_id(&self) -> &str {
        &self.run
    }

    /// Logs in now (to fail early on bad credentials), retrying a transient
    /// failure up to `max_retries` times.
    ///
    /// # Errors
    ///
    /// [`Error::Login`].
    pub fn connect(&mut self) -> Result<()> {
        self.retried("logging in", |loader| loader.connection.connect())
    }

    /// What the loader did so far.
    #[must_use]
    pub fn stats(&self) -> LoadStats {
        let mut stats = self.stats.clone();
        if let Some(files) = &self.files {
            stats.files = files.stats();
            for (stream, counts) in files.stream_stats() {
                let line = stats.streams.entry(stream).or_default();
                line.files = counts.files;
                line.bytes = counts.bytes;
                line.puts = counts.puts;
                line.statements += counts.puts;
                line.encode_seconds = counts.encode_seconds;
                line.upload_seconds = counts.upload_seconds;
            }
        }
        for (stream, line) in &mut stats.streams {
            if let Some(state) = self.streams.get(stream) {
                line.table = state.table.sql();
            }
        }
        stats
    }

    /// Sends every staged-file upload to `base` instead of the store the
    /// PUT names (tests: a local S3).
    #[cfg(feature = "test-support")]
    pub fn set_upload_override(&mut self, base: url::Url) {
        if let Some(files) = &mut self.files {
            files.set_connect_override(base);
        }
    }

    /// The table a configured stream loads into.
    #[must_use]
    pub fn table(&self, stream: &str) -> Option<&TableName> {
        self.streams.get(stream).map(|s| &s.table)
    }

    /// Runs a query and returns its rows as text cells (`None` = NULL):
    /// reconciliation's counts and tests (`SELECT ... FROM "S"."T"`).
    /// Transient failures are retried like every loader call.
    ///
    /// # Errors
    ///
    /// [`Error::Statement`].
    pub fn query_text(&mut self, sql: &str) -> Result<Vec<Vec<Option<String>>>> {
        let rows = self.query(sql)?;
        Ok(rows
            .iter()
            .map(|row| {
                row.values()
                    .iter()
                    .map(crate::connection::cell_text)
                    .collect()
            })
            .collect())
    }

    /// Runs a query and returns its rows as the client decodes them.
    ///
    /// # Errors
    ///
    /// [`Error::Statement`].
    pub fn query(&mut self, sql: &str) -> Result<Vec<snowflake_connector_rs::DynamicRow>> {
        self.retried("querying", |loader| {
            loader.connection.run("querying", sql, &[], false)
        })
    }

    fn ident(&self, name: &str) -> String {
        fold(name, self.config.identifier_case)
    }

    /// Runs `op` (one whole loader call) until it succeeds, fails for good
    /// or the retry policy is spent. Only for calls the driver does not
    /// retry itself.
    fn retried<T>(
        &mut self,
        action: &'static str,
        mut op: impl FnMut(&mut Self) -> Result<T>,
    ) -> Result<T> {
        let retry = self.retry;
        retry.run(
            |_| op(self),
            |retry| warn!(action, attempt = retry.attempt, wait_ms = retry.wait.as_millis(), error = %retry.error, "Transient Snowflake failure; retrying."),
        )
    }

    /// Fails with [`Error::StagedRowsLost`] when rows are staged and the
    /// session they were staged in is gone (a call the loader retries
    /// logged in again in between).
    fn check_stages(&self, action: &str) -> Result<()> {
        if self.files.is_some() {
            // Staged files outlive the session: the commit reloads them.
            return Ok(());
        }
        let session = self.connection.session_id();
        if self.stages.iter().any(|stage| stage.session != session) {
            return Err(Error::StagedRowsLost {
                action: action.to_owned(),
                source: None,
            });
        }
        Ok(())
    }

    /// With anything staged or queued, a retryable failure becomes
    /// [`Error::StagedRowsLost`]: the session (and its temporary tables)
    /// is gone, and retrying only the last call would commit the rest
    /// without what was lost.
    fn final_if_pending(&self, had_pending: bool, action: &str, error: Error) -> Error {
        if self.files.is_none() && had_pending && error.is_retryable() {
            warn!(error = %error, "Transient failure with rows staged and uncommitted; failing the run (a rerun resumes from the last STATE).");
            Error::StagedRowsLost {
                action: action.to_owned(),
                source: Some(Box::new(error)),
            }
        } else {
            error
        }
    }
}

impl Loader for SnowflakeLoader {
    type Error = Error;

    /// Creates or evolves the stream's table. Its DDL runs now, between
    /// commits (no transaction is open), so it commits none of the staged
    /// rows: those are applied by the next [`Loader::commit`]. The driver
    /// does not retry this call: a transient failure re-runs it whole
    /// (reading the table afresh) up to `max_retries` times.
    fn configure_stream(&mut self, schema: &StreamSchema) -> Result<()> {
        self.retried("configuring a stream", |loader| loader.configure(schema))
    }

    /// Stages the batch into a session-local temporary table; nothing is
    /// visible in the stream's table until [`Loader::commit`]. Each
    /// statement is sent once (the driver retries the call). A transient
    /// failure is retryable only when nothing else is staged or queued
    /// (else [`Error::StagedRowsLost`]).
    fn write_batch(&mut self, stream: &str, batch: &Batch) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let had_pending = !self.pending.is_empty();
        self.stage_batch(stream, batch)
            .map_err(|e| self.final_if_pending(had_pending, "staging a batch", e))
    }

    /// Applies everything staged and queued since the last commit, in
    /// order (overwrite's emptying, MERGE/INSERT per staging table,
    /// hard deletes, ACTIVATE_VERSION's deletes), in one `BEGIN ...
    /// COMMIT`, then drops the staging tables. Never retryable once
    /// anything is queued: a failed statement rolls back and a transient
    /// one loses the session's staging tables.
    fn commit(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.apply_pending()
            .map_err(|e| self.final_if_pending(true, "committing", e))
    }

    /// Queues the activation (applied, after the stream's rows staged
    /// before it, at the next commit): the table ends holding exactly the
    /// rows of `version` (those written by earlier batches or runs under
    /// the same version stay): other rows are deleted with `hard_delete`,
    /// else soft-deleted by setting `_sdc_deleted_at`. The columns it needs
    /// are added now (DDL, outside any transaction). The driver does not
    /// retry this call: with nothing staged, a transient failure re-runs it
    /// up to `max_retries` times. For a key set (deletes detection) the
    /// pass over its main table is queued right after it, behind
    /// `max_delete_ratio` (see the `deletes` module).
    fn activate_version(&mut self, stream: &str, version: u64) -> Result<()> {
        let had_pending = !self.pending.is_empty();
        self.retried("activating a version", |loader| {
            loader
                .queue_activation(stream, version)
                .map_err(|e| loader.final_if_pending(had_pending, "activating a version", e))
        })
    }
}

/// A run id unique to this process: its start time, pid and 32 random
/// bits (`20261206T182711-4242-0a1b2c3d`).
fn run_id() -> Result<String> {
    let now = chrono::Utc::now();
    let mut random = [0_u8; 4];
    getrandom::getrandom(&mut random).map_err(|e| Error::Encode {
        reason: format!("no random bytes for the run id: {e}"),
    })?;
    Ok(format!(
        "{}-{}-{:08x}",
        now.format("%Y%m%dT%H%M%S"),
        std::process::id(),
        u32::from_le_bytes(random)
    ))
}
