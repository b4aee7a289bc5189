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

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::Value;
use singer_schema::{Decision, Evolution, TypeOptions, evolve};
use singer_target::{Batch, Loader, StreamSchema};
use tracing::{debug, info, warn};

use crate::config::{LoadMethod, SnowflakeConfig};
use crate::connection::{Bind, Connection, cell_int, cell_text};
use crate::encode::{BinaryEncoding, ColumnPlan, EncodeOptions};
use crate::error::{Error, Result};
use crate::naming::{TableName, column_names, fold, quote, table_for_stream};
use crate::stage::{JsonBindStager, ROW_COLUMN, STAGE_TABLE, Stager, stage_column};
use crate::types::SqlType;

/// The soft-delete marker column (a tap's, or the loader's for
/// ACTIVATE_VERSION without hard deletes).
pub const DELETED_AT: &str = "_sdc_deleted_at";
/// The table-version column.
pub const TABLE_VERSION: &str = "_sdc_table_version";
/// Suffix of the temporary column a widening copies into.
const WIDEN_SUFFIX: &str = "__SINGER_WIDEN";

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
}

/// One staging table: a stream's rows staged since the last commit, in
/// one column layout.
#[derive(Debug, Clone)]
struct Stage {
    stream: String,
    /// Quoted, unqualified: a temporary table in `table.schema`.
    name: String,
    table: TableName,
    /// Target columns, parallel to `types` (the staging columns).
    idents: Vec<String>,
    types: Vec<SqlType>,
    keys: Vec<usize>,
    own_deleted: Option<usize>,
    /// [`Connection::session_id`] it was created under.
    session: u64,
    rows: u64,
    batches: u64,
    /// Queued for the next commit (it holds at least one batch).
    registered: bool,
}

/// What the next commit applies, in order.
#[derive(Debug, Clone)]
enum Pending {
    /// A staging table (index into `SnowflakeLoader::stages`).
    Apply(usize),
    /// An ACTIVATE_VERSION.
    Activate {
        stream: String,
        version: u64,
        /// The soft-delete time.
        now: String,
    },
}

/// One statement of a commit's transaction.
#[derive(Debug, Clone)]
struct Statement {
    action: String,
    sql: String,
    binds: Vec<Bind>,
    /// The schema that must be current (the statement names a staging
    /// table unqualified).
    schema: Option<String>,
}

impl Statement {
    fn new(action: String, sql: String) -> Self {
        Self {
            action,
            sql,
            binds: Vec::new(),
            schema: None,
        }
    }
}

/// Counts of what the loader did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
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
}

/// The Snowflake loader behind `target-snowflake` (see the crate docs).
pub struct SnowflakeLoader {
    config: SnowflakeConfig,
    connection: Connection,
    stager: JsonBindStager,
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
}

impl std::fmt::Debug for SnowflakeLoader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnowflakeLoader")
            .field("config", &self.config)
            .field("streams", &self.streams.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
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
        let connection = Connection::new(config)?;
        Ok(Self {
            stager: JsonBindStager::new(
                config.max_bind_bytes,
                EncodeOptions {
                    special: config.special_values,
                },
            ),
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
        })
    }

    /// Logs in now (to fail early on bad credentials).
    ///
    /// # Errors
    ///
    /// [`Error::Login`].
    pub fn connect(&mut self) -> Result<()> {
        self.connection.connect()
    }

    /// What the loader did so far.
    #[must_use]
    pub fn stats(&self) -> &LoadStats {
        &self.stats
    }

    /// The table a configured stream loads into.
    #[must_use]
    pub fn table(&self, stream: &str) -> Option<&TableName> {
        self.streams.get(stream).map(|s| &s.table)
    }

    /// Runs a query and returns its rows as text cells (`None` = NULL), for
    /// tests and tools (`SELECT ... FROM "S"."T"`).
    ///
    /// # Errors
    ///
    /// [`Error::Statement`].
    pub fn query_text(&mut self, sql: &str) -> Result<Vec<Vec<Option<String>>>> {
        let rows = self.connection.run_idempotent("querying", sql, &[])?;
        Ok(rows
            .iter()
            .map(|row| row.values().iter().map(cell_text).collect())
            .collect())
    }

    /// Runs a query and returns its rows as the client decodes them.
    ///
    /// # Errors
    ///
    /// [`Error::Statement`].
    pub fn query(&mut self, sql: &str) -> Result<Vec<snowflake_connector_rs::DynamicRow>> {
        self.connection.run_idempotent("querying", sql, &[])
    }

    fn ident(&self, name: &str) -> String {
        fold(name, self.config.identifier_case)
    }

    fn ensure_schema(&mut self, schema: &str) -> Result<()> {
        if self.schemas.contains(schema) {
            return Ok(());
        }
        let sql = format!("CREATE SCHEMA IF NOT EXISTS {}", quote(schema));
        self.connection
            .run_idempotent(&format!("creating schema {}", quote(schema)), &sql, &[])?;
        self.schemas.insert(schema.to_owned());
        Ok(())
    }

    /// The table's columns in order (empty: no such table).
    fn read_columns(&mut self, table: &TableName) -> Result<Vec<(String, Option<SqlType>)>> {
        let sql = "SELECT column_name, data_type, character_maximum_length, numeric_precision, \
                   numeric_scale FROM information_schema.columns WHERE table_schema = ? AND \
                   table_name = ? ORDER BY ordinal_position";
        let rows = self.connection.run_idempotent(
            &format!("reading the columns of {table}"),
            sql,
            &[
                Bind::Text(table.schema.clone()),
                Bind::Text(table.table.clone()),
            ],
        )?;
        let mut columns = Vec::with_capacity(rows.len());
        for row in &rows {
            let values = row.values();
            let text = |i: usize| values.get(i).and_then(cell_text);
            let int = |i: usize| values.get(i).and_then(cell_int);
            let (Some(name), Some(data_type)) = (text(0), text(1)) else {
                return Err(Error::Result {
                    action: format!("reading the columns of {table}"),
                    reason: "a column without name or type".to_owned(),
                });
            };
            let sql_type = SqlType::from_information_schema(&data_type, int(2), int(3), int(4));
            columns.push((name, sql_type));
        }
        Ok(columns)
    }

    fn ddl(&mut self, action: &str, sql: &str) -> Result<()> {
        info!(action, "Changing the table.");
        self.connection.run_idempotent(action, sql, &[]).map(drop)
    }

    /// Finishes widenings a crash interrupted (a `<col>__SINGER_WIDEN`
    /// column left behind).
    fn recover_widenings(
        &mut self,
        table: &TableName,
        existing: &mut Vec<(String, Option<SqlType>)>,
    ) -> Result<()> {
        let leftovers: Vec<(String, Option<SqlType>)> = existing
            .iter()
            .filter(|(name, _)| name.ends_with(WIDEN_SUFFIX))
            .cloned()
            .collect();
        for (temp, sql_type) in leftovers {
            let base = temp.trim_end_matches(WIDEN_SUFFIX).to_owned();
            if existing.iter().any(|(n, _)| *n == base) {
                self.ddl(
                    &format!("dropping the unfinished widening column {}", quote(&temp)),
                    &format!("ALTER TABLE {table} DROP COLUMN {}", quote(&temp)),
                )?;
            } else {
                self.ddl(
                    &format!("finishing the widening of {}", quote(&base)),
                    &format!(
                        "ALTER TABLE {table} RENAME COLUMN {} TO {}",
                        quote(&temp),
                        quote(&base)
                    ),
                )?;
                existing.push((base, sql_type));
            }
            existing.retain(|(n, _)| *n != temp);
        }
        Ok(())
    }

    /// Brings one existing column to `new` (add, widen in place, widen by
    /// copy) or fails for an incompatible change.
    fn evolve_column(
        &mut self,
        table: &TableName,
        ident: &str,
        old: SqlType,
        new: SqlType,
    ) -> Result<Option<SqlType>> {
        let timestamps = self.config.timestamp_type;
        let target = match evolve(&old.column(), &new.column()) {
            Evolution::Same => return Ok(None),
            Evolution::Widen { to, .. } => SqlType::from_logical(to.ty, timestamps),
            Evolution::Incompatible { message, .. } => {
                return Err(Error::IncompatibleColumn {
                    table: table.sql(),
                    column: quote(ident),
                    old: old.to_string(),
                    new: new.to_string(),
                    reason: message,
                });
            }
            _ => return Ok(None),
        };
        if target == old {
            return Ok(None);
        }
        let column = quote(ident);
        if old.alters_in_place_to(target) {
            self.ddl(
                &format!("widening {table}.{column} from {old} to {target}"),
                &format!("ALTER TABLE {table} ALTER COLUMN {column} SET DATA TYPE {target}"),
            )?;
        } else {
            let temp = quote(&format!("{ident}{WIDEN_SUFFIX}"));
            self.ddl(
                &format!("widening {table}.{column} from {old} to {target} (copy)"),
                &format!("ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {temp} {target}"),
            )?;
            self.ddl(
                &format!("copying {table}.{column} into {target}"),
                &format!("UPDATE {table} SET {temp} = {column}::{target}"),
            )?;
            self.ddl(
                &format!("dropping the old {table}.{column}"),
                &format!("ALTER TABLE {table} DROP COLUMN {column}"),
            )?;
            self.ddl(
                &format!("renaming the widened {table}.{column}"),
                &format!("ALTER TABLE {table} RENAME COLUMN {temp} TO {column}"),
            )?;
        }
        Ok(Some(target))
    }

    /// Adds a loader-managed column unless the table has it.
    fn ensure_column(&mut self, stream: &str, ident: &str, sql_type: SqlType) -> Result<()> {
        let Some(state) = self.streams.get(stream) else {
            return Err(Error::UnknownStream {
                stream: stream.to_owned(),
            });
        };
        if state.table_columns.contains_key(ident) {
            return Ok(());
        }
        let table = state.table.clone();
        self.ddl(
            &format!("adding {} to {table}", quote(ident)),
            &format!(
                "ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {} {sql_type}",
                quote(ident)
            ),
        )?;
        if let Some(state) = self.streams.get_mut(stream) {
            state.table_columns.insert(ident.to_owned(), Some(sql_type));
        }
        Ok(())
    }

    fn now_literal(&self) -> String {
        chrono::Utc::now()
            .format("%Y-%m-%d %H:%M:%S%.6f")
            .to_string()
    }

    /// Fails with [`Error::StagedRowsLost`] when rows are staged and the
    /// session they were staged in is gone (a statement safe to repeat
    /// retried on a new session in between).
    fn check_stages(&self, action: &str) -> Result<()> {
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
    fn final_if_pending(had_pending: bool, action: &str, error: Error) -> Error {
        if had_pending && singer_target::Retryable::is_retryable(&error) {
            warn!(error = %error, "Transient failure with rows staged and uncommitted; failing the run (a rerun resumes from the last STATE).");
            Error::StagedRowsLost {
                action: action.to_owned(),
                source: Some(Box::new(error)),
            }
        } else {
            error
        }
    }

    /// Stages one batch into the stream's open staging table (a new one
    /// for its first batch since the last commit, an ACTIVATE_VERSION or a
    /// change of columns). Nothing reaches the stream's table.
    fn stage_batch(&mut self, stream: &str, batch: &Batch) -> Result<()> {
        let Some(state) = self.streams.get(stream) else {
            return Err(Error::UnknownStream {
                stream: stream.to_owned(),
            });
        };
        let version_ident = self.ident(TABLE_VERSION);
        // A versioned batch of a stream without the _sdc_table_version
        // property: the loader keeps the version in that column itself.
        let extra_version = batch.version().filter(|_| state.own_version.is_none());
        if extra_version.is_some() {
            // DDL: outside any transaction (none is open between commits).
            self.ensure_column(
                stream,
                &version_ident,
                SqlType::Number {
                    precision: 38,
                    scale: 0,
                },
            )?;
        }
        let Some(state) = self.streams.get(stream).cloned() else {
            return Err(Error::UnknownStream {
                stream: stream.to_owned(),
            });
        };
        let mut plans = state.plans.clone();
        let mut idents = state.idents.clone();
        let mut constants: Vec<Option<String>> = vec![None; plans.len()];
        if let Some(version) = extra_version {
            plans.push(ColumnPlan {
                property: TABLE_VERSION.to_owned(),
                cell: None,
                sql_type: SqlType::Number {
                    precision: 38,
                    scale: 0,
                },
                empty_string_is_null: false,
                binary: BinaryEncoding::Base64,
            });
            idents.push(version_ident.clone());
            constants.push(Some(version.to_string()));
        }
        self.connection.use_schema(&state.table.schema)?;
        self.connection.connect()?;
        self.check_stages("staging a batch")?;
        let types: Vec<SqlType> = plans.iter().map(|p| p.sql_type).collect();
        let open = self.open.get(stream).copied().filter(|&index| {
            self.stages
                .get(index)
                .is_some_and(|stage| stage.idents == idents && stage.types == types)
        });
        let index = if let Some(index) = open {
            index
        } else {
            // A new session-local staging table. DDL: no transaction is
            // open between commits, so it commits nothing.
            self.stage_counter += 1;
            // Unqualified: a temporary table of the current schema (the
            // table's); `transaction` sets that schema before using it.
            let name = quote(&format!("{STAGE_TABLE}_{}", self.stage_counter));
            let stage_columns: Vec<String> = types
                .iter()
                .enumerate()
                .map(|(i, t)| format!("{} {t}", stage_column(i)))
                .chain(std::iter::once(format!(
                    "{} NUMBER(38,0)",
                    quote(ROW_COLUMN)
                )))
                .collect();
            self.connection.run(
                "creating a staging table",
                &format!(
                    "CREATE OR REPLACE TEMPORARY TABLE {name} ({})",
                    stage_columns.join(", ")
                ),
                &[],
                false,
            )?;
            self.stages.push(Stage {
                stream: stream.to_owned(),
                name,
                table: state.table.clone(),
                idents,
                types,
                keys: state.keys.clone(),
                own_deleted: state.own_deleted,
                session: self.connection.session_id(),
                rows: 0,
                batches: 0,
                registered: false,
            });
            self.stages.len() - 1
        };
        let Some(stage) = self.stages.get(index) else {
            return Err(Error::UnknownStream {
                stream: stream.to_owned(),
            });
        };
        let name = stage.name.clone();
        let staged = self.stager.stage(
            &mut self.connection,
            &name,
            self.sequence,
            stream,
            batch,
            &plans,
            &constants,
        );
        let staged = match staged {
            Ok(staged) => staged,
            Err(error) => {
                if self.stages.get(index).is_some_and(|s| !s.registered) {
                    // Never queued: a retry stages the batch afresh.
                    self.stages.truncate(index);
                }
                return Err(error);
            }
        };
        let rows = u64::try_from(staged.rows).unwrap_or(u64::MAX);
        self.sequence += rows;
        if let Some(stage) = self.stages.get_mut(index) {
            stage.rows += rows;
            stage.batches += 1;
            if !stage.registered {
                stage.registered = true;
                self.pending.push(Pending::Apply(index));
            }
        }
        self.open.insert(stream.to_owned(), index);
        self.stats.stage_statements += u64::try_from(staged.statements).unwrap_or(u64::MAX);
        self.stats.special_values_nulled += staged.nulled;
        debug!(stream, table = %state.table, rows = staged.rows, statements = staged.statements, "Batch staged.");
        Ok(())
    }

    /// The statements applying one staging table to its stream's table.
    fn apply_statements(
        &self,
        stage: &Stage,
        overwrite_first: bool,
        statements: &mut Vec<Statement>,
    ) {
        let table = stage.table.sql();
        let source_table = &stage.name;
        let quoted: Vec<String> = stage.idents.iter().map(|i| quote(i)).collect();
        let sources: Vec<String> = (0..stage.idents.len()).map(stage_column).collect();
        if overwrite_first {
            statements.push(Statement::new(
                format!("emptying {table} (overwrite)"),
                format!("DELETE FROM {table}"),
            ));
        }
        let upsert = self.config.load_method == LoadMethod::Upsert && !stage.keys.is_empty();
        if upsert {
            let partition: Vec<String> = stage.keys.iter().map(|k| stage_column(*k)).collect();
            let on: Vec<String> = stage
                .keys
                .iter()
                .filter_map(|k| Some(format!("t.{} = s.{}", quoted.get(*k)?, stage_column(*k))))
                .collect();
            let mut sets: Vec<String> = quoted
                .iter()
                .zip(&sources)
                .enumerate()
                .filter(|(i, _)| !stage.keys.contains(i))
                .map(|(_, (column, source))| format!("{column} = s.{source}"))
                .collect();
            let deleted_ident = self.ident(DELETED_AT);
            let has_deleted = self
                .streams
                .get(&stage.stream)
                .is_some_and(|s| s.table_columns.contains_key(&deleted_ident));
            if stage.own_deleted.is_none() && has_deleted {
                // A row the tap sends again is live again.
                sets.push(format!("{} = NULL", quote(&deleted_ident)));
            }
            let matched = if sets.is_empty() {
                String::new()
            } else {
                format!(" WHEN MATCHED THEN UPDATE SET {}", sets.join(", "))
            };
            statements.push(Statement {
                schema: Some(stage.table.schema.clone()),
                binds: Vec::new(),
                action: format!("merging into {table}"),
                sql: format!(
                    "MERGE INTO {table} t USING (SELECT * FROM {source_table} QUALIFY ROW_NUMBER() \
                     OVER (PARTITION BY {partition} ORDER BY {row} DESC) = 1) s ON {on}{matched} \
                     WHEN NOT MATCHED THEN INSERT ({columns}) VALUES ({values})",
                    partition = partition.join(", "),
                    row = quote(ROW_COLUMN),
                    on = on.join(" AND "),
                    columns = quoted.join(", "),
                    values = sources
                        .iter()
                        .map(|s| format!("s.{s}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
            });
        } else {
            statements.push(Statement {
                schema: Some(stage.table.schema.clone()),
                binds: Vec::new(),
                action: format!("inserting into {table}"),
                sql: format!(
                    "INSERT INTO {table} ({}) SELECT {} FROM {source_table} ORDER BY {}",
                    quoted.join(", "),
                    sources.join(", "),
                    quote(ROW_COLUMN)
                ),
            });
        }
        if self.config.hard_delete
            && let Some(deleted) = stage.own_deleted.and_then(|d| quoted.get(d))
        {
            statements.push(Statement::new(
                format!("hard-deleting rows of {table} with {deleted} set"),
                format!("DELETE FROM {table} WHERE {deleted} IS NOT NULL"),
            ));
        }
    }

    /// The statements of one queued ACTIVATE_VERSION.
    fn activate_statements(
        &self,
        stream: &str,
        version: u64,
        now: &str,
        statements: &mut Vec<Statement>,
    ) -> Result<()> {
        let Some(state) = self.streams.get(stream) else {
            return Err(Error::UnknownStream {
                stream: stream.to_owned(),
            });
        };
        let table = state.table.sql();
        let other = format!(
            "({v} IS NULL OR {v} <> {version})",
            v = quote(&self.ident(TABLE_VERSION))
        );
        if self.config.hard_delete {
            statements.push(Statement::new(
                format!("deleting rows of other versions than {version} from {table}"),
                format!("DELETE FROM {table} WHERE {other}"),
            ));
        } else {
            let timestamps = SqlType::Timestamp(self.config.timestamp_type);
            let deleted = quote(&self.ident(DELETED_AT));
            statements.push(Statement {
                action: format!("soft-deleting rows of other versions than {version} in {table}"),
                sql: format!(
                    "UPDATE {table} SET {deleted} = CAST(? AS {timestamps}) WHERE {deleted} IS \
                     NULL AND {other}"
                ),
                binds: vec![Bind::Text(now.to_owned())],
                schema: None,
            });
        }
        Ok(())
    }

    /// Applies everything queued since the last commit in one transaction,
    /// then drops the staging tables.
    fn apply_pending(&mut self) -> Result<()> {
        self.connection.connect()?;
        self.check_stages("committing")?;
        let mut statements: Vec<Statement> = Vec::new();
        let mut overwriting: HashSet<String> = HashSet::new();
        for pending in &self.pending {
            match pending {
                Pending::Apply(index) => {
                    let Some(stage) = self.stages.get(*index) else {
                        continue;
                    };
                    let overwrite_first = self.config.load_method == LoadMethod::Overwrite
                        && !self
                            .streams
                            .get(&stage.stream)
                            .is_some_and(|s| s.overwritten)
                        && overwriting.insert(stage.stream.clone());
                    self.apply_statements(stage, overwrite_first, &mut statements);
                }
                Pending::Activate {
                    stream,
                    version,
                    now,
                } => self.activate_statements(stream, *version, now, &mut statements)?,
            }
        }
        self.transaction(&statements)?;
        for stream in overwriting {
            if let Some(state) = self.streams.get_mut(&stream) {
                state.overwritten = true;
            }
        }
        for pending in std::mem::take(&mut self.pending) {
            if let Pending::Activate {
                stream, version, ..
            } = pending
            {
                info!(
                    stream,
                    version,
                    hard_delete = self.config.hard_delete,
                    "Version activated."
                );
            }
        }
        self.open.clear();
        for stage in std::mem::take(&mut self.stages) {
            self.stats.rows += stage.rows;
            self.stats.batches += stage.batches;
            *self.stats.tables.entry(stage.table.sql()).or_default() += stage.rows;
            debug!(stream = %stage.stream, table = %stage.table, rows = stage.rows, "Staged rows committed.");
            // Best effort: the data is committed; a leftover temporary
            // table goes with the session (names are never reused).
            if let Err(error) = self.connection.run(
                "dropping a staging table",
                &format!("DROP TABLE IF EXISTS {}", stage.name),
                &[],
                false,
            ) {
                warn!(error = %error, stage = %stage.name, "Dropping a staging table failed; it goes with the session.");
            }
        }
        Ok(())
    }

    /// `BEGIN`, the statements, `COMMIT`; a failure rolls back.
    fn transaction(&mut self, statements: &[Statement]) -> Result<()> {
        self.connection
            .run("beginning a transaction", "BEGIN", &[], false)?;
        for statement in statements {
            if let Some(schema) = &statement.schema {
                // Not DDL: it does not end the transaction.
                self.connection.use_schema_once(schema)?;
            }
            // A failure rolls the transaction back (in `run`).
            self.connection
                .run(&statement.action, &statement.sql, &statement.binds, false)?;
        }
        self.connection.run("committing", "COMMIT", &[], true)?;
        Ok(())
    }
}

impl Loader for SnowflakeLoader {
    type Error = Error;

    /// Creates or evolves the stream's table. Its DDL runs now, between
    /// commits (no transaction is open), so it commits none of the staged
    /// rows: those are applied by the next [`Loader::commit`].
    fn configure_stream(&mut self, schema: &StreamSchema) -> Result<()> {
        let stream = schema.stream.as_str();
        let table = table_for_stream(stream, &self.config)?;
        if let Some(other) = self.tables.get(&table)
            && other != stream
        {
            return Err(Error::Naming {
                stream: stream.to_owned(),
                reason: format!(
                    "stream {other:?} loads into {table} already; map one of them elsewhere \
                     (schema_mapping, default_target_schema) or rename it"
                ),
            });
        }
        let idents = column_names(stream, &schema.columns, self.config.identifier_case)?;
        let typed: HashMap<String, singer_schema::Column> =
            singer_schema::columns(&schema.schema, &TypeOptions::default())
                .map_err(|e| Error::Naming {
                    stream: stream.to_owned(),
                    reason: format!("schema cannot be typed: {e}"),
                })?
                .into_iter()
                .collect();
        let properties = schema.schema.get("properties").and_then(Value::as_object);
        let timestamps = self.config.timestamp_type;
        let plans: Vec<ColumnPlan> = schema
            .columns
            .iter()
            .enumerate()
            .map(|(cell, name)| {
                let column = typed.get(name);
                let encoding = properties
                    .and_then(|p| p.get(name))
                    .and_then(|p| p.get("contentEncoding"))
                    .and_then(Value::as_str);
                ColumnPlan {
                    property: name.clone(),
                    cell: Some(cell),
                    sql_type: column.map_or(SqlType::Variant, |c| {
                        SqlType::from_logical(c.ty, timestamps)
                    }),
                    empty_string_is_null: column.is_some_and(|c| c.empty_string_is_null),
                    binary: match encoding {
                        Some("base16" | "hex") => BinaryEncoding::Hex,
                        _ => BinaryEncoding::Base64,
                    },
                }
            })
            .collect();
        let keys: Vec<usize> = schema
            .key_properties
            .iter()
            .filter_map(|k| schema.columns.iter().position(|c| c == k))
            .collect();
        self.ensure_schema(&table.schema)?;
        let table_sql = table.sql();
        let mut existing = self.read_columns(&table)?;
        if existing.is_empty() {
            let columns: Vec<String> = idents
                .iter()
                .zip(&plans)
                .map(|(ident, plan)| format!("{} {}", quote(ident), plan.sql_type))
                .collect();
            self.ddl(
                &format!("creating table {table_sql}"),
                &format!(
                    "CREATE TABLE IF NOT EXISTS {table_sql} ({})",
                    columns.join(", ")
                ),
            )?;
            existing = idents
                .iter()
                .zip(&plans)
                .map(|(i, p)| (i.clone(), Some(p.sql_type)))
                .collect();
        } else {
            self.recover_widenings(&table, &mut existing)?;
            let mut changed: Vec<(String, Option<SqlType>)> = Vec::new();
            for (ident, plan) in idents.iter().zip(&plans) {
                match existing.iter().find(|(n, _)| n == ident) {
                    None => {
                        self.ddl(
                            &format!("adding column {} to {table_sql}", quote(ident)),
                            &format!(
                                "ALTER TABLE {table_sql} ADD COLUMN IF NOT EXISTS {} {}",
                                quote(ident),
                                plan.sql_type
                            ),
                        )?;
                        changed.push((ident.clone(), Some(plan.sql_type)));
                    }
                    Some((_, None)) => {
                        warn!(table = %table_sql, column = %quote(ident), "Column of a type this loader does not create; loading into it as it is.");
                    }
                    Some((_, Some(old))) => {
                        let old = *old;
                        if let Some(new) = self.evolve_column(&table, ident, old, plan.sql_type)? {
                            changed.push((ident.clone(), Some(new)));
                        }
                    }
                }
            }
            for (ident, sql_type) in changed {
                match existing.iter_mut().find(|(n, _)| *n == ident) {
                    Some(entry) => entry.1 = sql_type,
                    None => existing.push((ident, sql_type)),
                }
            }
        }
        // The stage casts to the table's own column types.
        let table_columns: BTreeMap<String, Option<SqlType>> = existing.into_iter().collect();
        let plans: Vec<ColumnPlan> = plans
            .into_iter()
            .zip(&idents)
            .map(|(mut plan, ident)| {
                if let Some(Some(actual)) = table_columns.get(ident) {
                    plan.sql_type = *actual;
                }
                plan
            })
            .collect();
        let own_version = schema.columns.iter().position(|c| c == TABLE_VERSION);
        let own_deleted = schema.columns.iter().position(|c| c == DELETED_AT);
        let overwritten = self.streams.get(stream).is_some_and(|s| s.overwritten);
        if !schema.changes.is_empty() {
            for (column, decision) in &schema.changes {
                if !matches!(decision, Decision::Same) {
                    debug!(stream, column = %column, decision = ?decision, "Schema change.");
                }
            }
        }
        info!(stream, table = %table_sql, columns = idents.len(), "Stream configured.");
        // Later rows go to a new staging table (keys may have changed).
        self.open.remove(stream);
        self.tables.insert(table.clone(), stream.to_owned());
        self.streams.insert(
            stream.to_owned(),
            StreamState {
                table,
                plans,
                idents,
                keys,
                table_columns,
                own_version,
                own_deleted,
                overwritten,
            },
        );
        Ok(())
    }

    /// Stages the batch into a session-local temporary table; nothing is
    /// visible in the stream's table until [`Loader::commit`]. A transient
    /// failure is retryable only when nothing else is staged or queued
    /// (else [`Error::StagedRowsLost`]).
    fn write_batch(&mut self, stream: &str, batch: &Batch) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let had_pending = !self.pending.is_empty();
        self.stage_batch(stream, batch)
            .map_err(|e| Self::final_if_pending(had_pending, "staging a batch", e))
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
            .map_err(|e| Self::final_if_pending(true, "committing", e))
    }

    /// Queues the activation (applied, after the stream's rows staged
    /// before it, at the next commit): the table ends holding exactly the
    /// rows of `version` (those written by earlier batches or runs under
    /// the same version stay): other rows are deleted with `hard_delete`,
    /// else soft-deleted by setting `_sdc_deleted_at`. The columns it needs
    /// are added now (DDL, outside any transaction).
    fn activate_version(&mut self, stream: &str, version: u64) -> Result<()> {
        let had_pending = !self.pending.is_empty();
        self.queue_activation(stream, version)
            .map_err(|e| Self::final_if_pending(had_pending, "activating a version", e))
    }
}

impl SnowflakeLoader {
    fn queue_activation(&mut self, stream: &str, version: u64) -> Result<()> {
        let version_ident = self.ident(TABLE_VERSION);
        self.ensure_column(
            stream,
            &version_ident,
            SqlType::Number {
                precision: 38,
                scale: 0,
            },
        )?;
        if !self.config.hard_delete {
            let deleted_ident = self.ident(DELETED_AT);
            let timestamps = SqlType::Timestamp(self.config.timestamp_type);
            self.ensure_column(stream, &deleted_ident, timestamps)?;
        }
        let Some(state) = self.streams.get(stream) else {
            return Err(Error::UnknownStream {
                stream: stream.to_owned(),
            });
        };
        debug!(stream, table = %state.table, version, "Version activation queued.");
        // Rows after the activation go to a new staging table, applied
        // after it.
        self.open.remove(stream);
        self.pending.push(Pending::Activate {
            stream: stream.to_owned(),
            version,
            now: self.now_literal(),
        });
        Ok(())
    }
}
