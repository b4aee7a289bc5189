//! Table DDL and schema evolution: the stream's table created from its
//! SCHEMA, or an existing one (from an earlier SCHEMA or run) brought to
//! it by `singer-schema`'s evolution rules: columns added, widened in place
//! (`VARCHAR` length, `NUMBER` precision) or by copy (through a
//! `<col>__SINGER_WIDEN` column, finished by the next run if a crash
//! interrupts it); an incompatible change fails naming table, column, old
//! and new type.
//!
//! The SQL comes from pure functions ([`create_table`], [`add_column`],
//! [`evolve_column`], [`recover_widenings`], ...); [`SnowflakeLoader`]
//! runs it between commits.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;
use singer_schema::{Decision, Evolution, TypeOptions, evolve};
use singer_target::StreamSchema;
use tracing::{debug, info, warn};

use super::{DELETED_AT, SnowflakeLoader, Statement, StreamState, TABLE_VERSION};
use crate::config::TimestampType;
use crate::connection::{Bind, cell_int, cell_text};
use crate::encode::{BinaryEncoding, ColumnPlan};
use crate::error::{Error, Result};
use crate::naming::{TableName, column_names, quote, table_for_stream};
use crate::types::SqlType;

/// Suffix of the temporary column a widening copies into.
const WIDEN_SUFFIX: &str = "__SINGER_WIDEN";

/// A table's columns in order (binds: schema, table).
const READ_COLUMNS: &str = "SELECT column_name, data_type, character_maximum_length, \
                            numeric_precision, numeric_scale FROM information_schema.columns \
                            WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position";

/// A table's columns: identifier and type (`None`: a type this loader does
/// not create).
type Columns = Vec<(String, Option<SqlType>)>;

/// `CREATE SCHEMA IF NOT EXISTS`.
fn create_schema(schema: &str) -> Statement {
    let schema = quote(schema);
    Statement::new(
        format!("creating schema {schema}"),
        format!("CREATE SCHEMA IF NOT EXISTS {schema}"),
    )
}

/// The query reading `table`'s columns.
fn read_columns(table: &TableName) -> Statement {
    Statement {
        binds: vec![
            Bind::Text(table.schema.clone()),
            Bind::Text(table.table.clone()),
        ],
        ..Statement::new(
            format!("reading the columns of {table}"),
            READ_COLUMNS.to_owned(),
        )
    }
}

/// `CREATE TABLE IF NOT EXISTS` with `columns` (identifier, type).
fn create_table(table: &TableName, columns: &[(&str, SqlType)]) -> Statement {
    let columns: Vec<String> = columns
        .iter()
        .map(|(ident, sql_type)| format!("{} {sql_type}", quote(ident)))
        .collect();
    Statement::new(
        format!("creating table {table}"),
        format!(
            "CREATE TABLE IF NOT EXISTS {table} ({})",
            columns.join(", ")
        ),
    )
}

/// `ALTER TABLE ... ADD COLUMN IF NOT EXISTS`.
fn add_column(table: &TableName, ident: &str, sql_type: SqlType) -> Statement {
    let column = quote(ident);
    Statement::new(
        format!("adding column {column} to {table}"),
        format!("ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {sql_type}"),
    )
}

/// What bringing the existing column `ident` of type `old` to the type the
/// schema asks for (`new`) takes: nothing (`None`), or the column's new
/// type and the DDL (in place, or by copy through a temporary column).
///
/// # Errors
///
/// [`Error::IncompatibleColumn`] when `new` is not a widening of `old`.
fn evolve_column(
    table: &TableName,
    ident: &str,
    old: SqlType,
    new: SqlType,
    timestamps: TimestampType,
) -> Result<Option<(SqlType, Vec<Statement>)>> {
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
    let statements = if old.alters_in_place_to(target) {
        vec![Statement::new(
            format!("widening {table}.{column} from {old} to {target}"),
            format!("ALTER TABLE {table} ALTER COLUMN {column} SET DATA TYPE {target}"),
        )]
    } else {
        let temp = quote(&format!("{ident}{WIDEN_SUFFIX}"));
        vec![
            Statement::new(
                format!("widening {table}.{column} from {old} to {target} (copy)"),
                format!("ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {temp} {target}"),
            ),
            Statement::new(
                format!("copying {table}.{column} into {target}"),
                format!("UPDATE {table} SET {temp} = {column}::{target}"),
            ),
            Statement::new(
                format!("dropping the old {table}.{column}"),
                format!("ALTER TABLE {table} DROP COLUMN {column}"),
            ),
            Statement::new(
                format!("renaming the widened {table}.{column}"),
                format!("ALTER TABLE {table} RENAME COLUMN {temp} TO {column}"),
            ),
        ]
    };
    Ok(Some((target, statements)))
}

/// The DDL finishing widenings a crash interrupted (a `<col>__SINGER_WIDEN`
/// column left behind): dropped when `<col>` is still there (the copy is
/// redone), else renamed to `<col>`. `existing` is updated to the columns
/// the DDL leaves.
fn recover_widenings(table: &TableName, existing: &mut Columns) -> Vec<Statement> {
    let leftovers: Columns = existing
        .iter()
        .filter(|(name, _)| name.ends_with(WIDEN_SUFFIX))
        .cloned()
        .collect();
    let mut statements = Vec::new();
    for (temp, sql_type) in leftovers {
        let base = temp.trim_end_matches(WIDEN_SUFFIX).to_owned();
        if existing.iter().any(|(n, _)| *n == base) {
            statements.push(Statement::new(
                format!("dropping the unfinished widening column {}", quote(&temp)),
                format!("ALTER TABLE {table} DROP COLUMN {}", quote(&temp)),
            ));
        } else {
            statements.push(Statement::new(
                format!("finishing the widening of {}", quote(&base)),
                format!(
                    "ALTER TABLE {table} RENAME COLUMN {} TO {}",
                    quote(&temp),
                    quote(&base)
                ),
            ));
            existing.push((base, sql_type));
        }
        existing.retain(|(n, _)| *n != temp);
    }
    statements
}

/// One plan per column of `schema`, typed from its JSON schema.
fn column_plans(schema: &StreamSchema, timestamps: TimestampType) -> Result<Vec<ColumnPlan>> {
    let typed: HashMap<String, singer_schema::Column> =
        singer_schema::columns(&schema.schema, &TypeOptions::default())
            .map_err(|e| Error::Naming {
                stream: schema.stream.clone(),
                reason: format!("schema cannot be typed: {e}"),
            })?
            .into_iter()
            .collect();
    let properties = schema.schema.get("properties").and_then(Value::as_object);
    Ok(schema
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
        .collect())
}

impl SnowflakeLoader {
    /// One attempt of [`singer_target::Loader::configure_stream`]: the
    /// table created or evolved, the stream's plans set.
    pub(super) fn configure(&mut self, schema: &StreamSchema) -> Result<()> {
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
        let plans = column_plans(schema, self.config.timestamp_type)?;
        let keys: Vec<usize> = schema
            .key_properties
            .iter()
            .filter_map(|k| schema.columns.iter().position(|c| c == k))
            .collect();
        self.ensure_schema(&table.schema)?;
        let existing = self.evolve_table(&table, &idents, &plans)?;
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
        for (column, decision) in &schema.changes {
            if !matches!(decision, Decision::Same) {
                debug!(stream, column = %column, decision = ?decision, "Schema change.");
            }
        }
        info!(stream, table = %table, columns = idents.len(), "Stream configured.");
        // Staged files: the stage exists and the table's files of killed
        // runs are gone before this run stages any (every run sends the
        // SCHEMA, even with no new rows).
        self.prepare_stage(&table)?;
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
                key_set_of: schema.key_set_of.clone(),
            },
        );
        Ok(())
    }

    /// Creates `table` or brings it to the stream's columns; returns the
    /// table's columns afterwards.
    fn evolve_table(
        &mut self,
        table: &TableName,
        idents: &[String],
        plans: &[ColumnPlan],
    ) -> Result<Columns> {
        let mut existing = self.read_columns(table)?;
        if existing.is_empty() {
            let columns: Vec<(&str, SqlType)> = idents
                .iter()
                .zip(plans)
                .map(|(ident, plan)| (ident.as_str(), plan.sql_type))
                .collect();
            self.ddl(&create_table(table, &columns))?;
            return Ok(idents
                .iter()
                .zip(plans)
                .map(|(i, p)| (i.clone(), Some(p.sql_type)))
                .collect());
        }
        for statement in recover_widenings(table, &mut existing) {
            self.ddl(&statement)?;
        }
        let mut changed: Columns = Vec::new();
        for (ident, plan) in idents.iter().zip(plans) {
            match existing.iter().find(|(n, _)| n == ident) {
                None => {
                    self.ddl(&add_column(table, ident, plan.sql_type))?;
                    changed.push((ident.clone(), Some(plan.sql_type)));
                }
                Some((_, None)) => {
                    warn!(table = %table, column = %quote(ident), "Column of a type this loader does not create; loading into it as it is.");
                }
                Some((_, Some(old))) => {
                    let evolution = evolve_column(
                        table,
                        ident,
                        *old,
                        plan.sql_type,
                        self.config.timestamp_type,
                    )?;
                    if let Some((new, statements)) = evolution {
                        for statement in &statements {
                            self.ddl(statement)?;
                        }
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
        Ok(existing)
    }

    fn ensure_schema(&mut self, schema: &str) -> Result<()> {
        if self.schemas.contains(schema) {
            return Ok(());
        }
        let statement = create_schema(schema);
        self.connection
            .run(&statement.action, &statement.sql, &[], false)?;
        self.schemas.insert(schema.to_owned());
        Ok(())
    }

    /// The table's columns in order (empty: no such table).
    fn read_columns(&mut self, table: &TableName) -> Result<Columns> {
        let query = read_columns(table);
        let rows = self
            .connection
            .run(&query.action, &query.sql, &query.binds, false)?;
        let mut columns = Vec::with_capacity(rows.len());
        for row in &rows {
            let values = row.values();
            let text = |i: usize| values.get(i).and_then(cell_text);
            let int = |i: usize| values.get(i).and_then(cell_int);
            let (Some(name), Some(data_type)) = (text(0), text(1)) else {
                return Err(Error::Result {
                    action: query.action,
                    reason: "a column without name or type".to_owned(),
                });
            };
            let sql_type = SqlType::from_information_schema(&data_type, int(2), int(3), int(4));
            columns.push((name, sql_type));
        }
        Ok(columns)
    }

    /// Runs one DDL statement (once: the caller's layer retries).
    fn ddl(&mut self, statement: &Statement) -> Result<()> {
        info!(action = %statement.action, "Changing the table.");
        self.connection
            .run(&statement.action, &statement.sql, &[], false)
            .map(drop)
    }

    /// Adds a loader-managed column unless the table has it.
    pub(super) fn ensure_column(
        &mut self,
        stream: &str,
        ident: &str,
        sql_type: SqlType,
    ) -> Result<()> {
        let Some(state) = self.streams.get(stream) else {
            return Err(Error::UnknownStream {
                stream: stream.to_owned(),
            });
        };
        if state.table_columns.contains_key(ident) {
            return Ok(());
        }
        let statement = add_column(&state.table, ident, sql_type);
        self.ddl(&statement)?;
        if let Some(state) = self.streams.get_mut(stream) {
            state.table_columns.insert(ident.to_owned(), Some(sql_type));
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;
