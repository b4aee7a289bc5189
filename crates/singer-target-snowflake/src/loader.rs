//! [`SnowflakeLoader`]: tables from schemas, one transaction per batch.

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

/// Counts of what the loader did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LoadStats {
    /// Rows staged and applied.
    pub rows: u64,
    /// Batches (transactions) committed.
    pub batches: u64,
    /// Staging statements sent.
    pub stage_statements: u64,
    /// Values loaded as NULL by `special_values: null`.
    pub special_values_nulled: u64,
    /// Rows loaded per table.
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

    /// Stages and applies one batch in one transaction.
    fn load_batch(&mut self, stream: &str, batch: &Batch) -> Result<()> {
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
        let table = state.table.sql();

        // 1. The staging table (session-local), filled outside the
        //    transaction: Snowflake commits an open transaction on DDL.
        self.connection.use_schema(&state.table.schema)?;
        let stage_columns: Vec<String> = plans
            .iter()
            .enumerate()
            .map(|(i, p)| format!("{} {}", stage_column(i), p.sql_type))
            .chain(std::iter::once(format!(
                "{} NUMBER(38,0)",
                quote(ROW_COLUMN)
            )))
            .collect();
        self.connection.run(
            "creating the staging table",
            &format!(
                "CREATE OR REPLACE TEMPORARY TABLE {} ({})",
                quote(STAGE_TABLE),
                stage_columns.join(", ")
            ),
            &[],
            false,
        )?;
        let staged = self
            .stager
            .stage(&mut self.connection, stream, batch, &plans, &constants)?;

        // 2. One transaction: apply, delete, commit.
        let mut statements: Vec<(String, String)> = Vec::new();
        let quoted: Vec<String> = idents.iter().map(|i| quote(i)).collect();
        let sources: Vec<String> = (0..plans.len()).map(stage_column).collect();
        let overwrite_first =
            self.config.load_method == LoadMethod::Overwrite && !state.overwritten;
        if overwrite_first {
            statements.push((
                format!("emptying {table} (overwrite)"),
                format!("DELETE FROM {table}"),
            ));
        }
        let upsert = self.config.load_method == LoadMethod::Upsert && !state.keys.is_empty();
        if upsert {
            let partition: Vec<String> = state.keys.iter().map(|k| stage_column(*k)).collect();
            let on: Vec<String> = state
                .keys
                .iter()
                .filter_map(|k| Some(format!("t.{} = s.{}", quoted.get(*k)?, stage_column(*k))))
                .collect();
            let mut sets: Vec<String> = quoted
                .iter()
                .zip(&sources)
                .enumerate()
                .filter(|(i, _)| !state.keys.contains(i))
                .map(|(_, (column, source))| format!("{column} = s.{source}"))
                .collect();
            let deleted_ident = self.ident(DELETED_AT);
            if state.own_deleted.is_none() && state.table_columns.contains_key(&deleted_ident) {
                // A row the tap sends again is live again.
                sets.push(format!("{} = NULL", quote(&deleted_ident)));
            }
            let matched = if sets.is_empty() {
                String::new()
            } else {
                format!(" WHEN MATCHED THEN UPDATE SET {}", sets.join(", "))
            };
            statements.push((
                format!("merging into {table}"),
                format!(
                    "MERGE INTO {table} t USING (SELECT * FROM {stage} QUALIFY ROW_NUMBER() OVER \
                     (PARTITION BY {partition} ORDER BY {row} DESC) = 1) s ON {on}{matched} WHEN NOT \
                     MATCHED THEN INSERT ({columns}) VALUES ({values})",
                    stage = quote(STAGE_TABLE),
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
            ));
        } else {
            statements.push((
                format!("inserting into {table}"),
                format!(
                    "INSERT INTO {table} ({}) SELECT {} FROM {} ORDER BY {}",
                    quoted.join(", "),
                    sources.join(", "),
                    quote(STAGE_TABLE),
                    quote(ROW_COLUMN)
                ),
            ));
        }
        if self.config.hard_delete && state.own_deleted.is_some() {
            let deleted = quoted
                .get(state.own_deleted.unwrap_or_default())
                .cloned()
                .unwrap_or_default();
            statements.push((
                format!("hard-deleting rows of {table} with {deleted} set"),
                format!("DELETE FROM {table} WHERE {deleted} IS NOT NULL"),
            ));
        }
        self.transaction(&statements)?;
        if let Some(state) = self.streams.get_mut(stream) {
            state.overwritten |= overwrite_first;
        }
        self.stats.rows += u64::try_from(staged.rows).unwrap_or(u64::MAX);
        self.stats.batches += 1;
        self.stats.stage_statements += u64::try_from(staged.statements).unwrap_or(u64::MAX);
        self.stats.special_values_nulled += staged.nulled;
        *self.stats.tables.entry(state.table.sql()).or_default() +=
            u64::try_from(staged.rows).unwrap_or(u64::MAX);
        debug!(stream, table = %state.table, rows = staged.rows, statements = staged.statements, "Batch committed.");
        Ok(())
    }

    /// `BEGIN`, the statements, `COMMIT`; a failure rolls back.
    fn transaction(&mut self, statements: &[(String, String)]) -> Result<()> {
        self.connection
            .run("beginning a transaction", "BEGIN", &[], false)?;
        for (action, sql) in statements {
            // A failure rolls the transaction back (in `run`).
            self.connection.run(action, sql, &[], false)?;
        }
        self.connection.run("committing", "COMMIT", &[], true)?;
        Ok(())
    }
}

impl Loader for SnowflakeLoader {
    type Error = Error;

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

    /// Stages the batch and applies it in one transaction, committed before
    /// this returns (the driver is told to commit after every batch).
    fn write_batch(&mut self, stream: &str, batch: &Batch) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        self.load_batch(stream, batch)
    }

    /// Every batch and version change is committed when it is written.
    fn commit(&mut self) -> Result<()> {
        Ok(())
    }

    /// The table ends holding exactly the rows of `version` (those written
    /// by earlier batches or runs under the same version stay): other rows
    /// are deleted with `hard_delete`, else soft-deleted by setting
    /// `_sdc_deleted_at`.
    fn activate_version(&mut self, stream: &str, version: u64) -> Result<()> {
        let version_ident = self.ident(TABLE_VERSION);
        self.ensure_column(
            stream,
            &version_ident,
            SqlType::Number {
                precision: 38,
                scale: 0,
            },
        )?;
        let Some(state) = self.streams.get(stream) else {
            return Err(Error::UnknownStream {
                stream: stream.to_owned(),
            });
        };
        let table = state.table.sql();
        let other = format!(
            "({v} IS NULL OR {v} <> {version})",
            v = quote(&version_ident)
        );
        if self.config.hard_delete {
            let sql = format!("DELETE FROM {table} WHERE {other}");
            self.connection.run_idempotent(
                &format!("deleting rows of other versions than {version} from {table}"),
                &sql,
                &[],
            )?;
        } else {
            let deleted_ident = self.ident(DELETED_AT);
            let timestamps = SqlType::Timestamp(self.config.timestamp_type);
            self.ensure_column(stream, &deleted_ident, timestamps)?;
            let deleted = quote(&deleted_ident);
            let sql = format!(
                "UPDATE {table} SET {deleted} = CAST(? AS {timestamps}) WHERE {deleted} IS NULL AND {other}"
            );
            let now = self.now_literal();
            self.connection.run_idempotent(
                &format!("soft-deleting rows of other versions than {version} in {table}"),
                &sql,
                &[Bind::Text(now)],
            )?;
        }
        info!(stream, table = %table, version, hard_delete = self.config.hard_delete, "Version activated.");
        Ok(())
    }
}
