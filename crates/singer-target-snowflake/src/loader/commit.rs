//! The commit: everything staged and queued since the last one applied in
//! order in one `BEGIN ... COMMIT` (overwrite's emptying, MERGE or INSERT
//! per staging table, hard deletes, ACTIVATE_VERSION's deletes), then the
//! staging tables dropped.
//!
//! The statements come from pure functions ([`overwrite`], [`merge`],
//! [`insert`], [`hard_delete`], [`activate`]) of table names, columns and
//! keys; [`SnowflakeLoader`] decides which apply and runs them.

use std::collections::HashSet;
use std::time::Instant;

use tracing::{debug, info, warn};

use super::{DELETED_AT, SnowflakeLoader, Statement, TABLE_VERSION};
use crate::config::{LoadMethod, TimestampType};
use crate::connection::Bind;
use crate::connection::cell_text;
use crate::error::{Error, Result};
use crate::files::StagedFile;
use crate::naming::{TableName, quote};
use crate::stage::{ROW_COLUMN, stage_column};
use crate::types::SqlType;

use super::staging::Stage;

/// What the next commit applies, in order.
#[derive(Debug, Clone)]
pub(super) enum Pending {
    /// A staging table (index into `SnowflakeLoader::stages`).
    Apply(usize),
    /// An ACTIVATE_VERSION.
    Activate {
        stream: String,
        version: u64,
        /// The soft-delete time.
        now: String,
    },
    /// Deletes detection after a key set's activation (see `deletes`).
    DetectDeletes {
        /// The key-set stream.
        key_set: String,
        /// The main stream.
        stream: String,
        /// The key columns (identifiers in both tables).
        keys: Vec<String>,
        /// The key set's version.
        version: u64,
        /// The soft-delete time.
        now: String,
    },
}

/// Overwrite's emptying of `table` (before its first rows of the run).
fn overwrite(table: &TableName) -> Statement {
    Statement::new(
        format!("emptying {table} (overwrite)"),
        format!("DELETE FROM {table}"),
    )
}

/// MERGE of staging table `stage` into `table` on the key columns `keys`
/// (positions in `idents`, the target columns, parallel to the staging
/// columns): the last staged row per key wins; matched rows get every
/// non-key column, and `revive` (the loader's soft-delete column) set to
/// NULL when given.
fn merge(
    table: &TableName,
    stage: &str,
    idents: &[String],
    keys: &[usize],
    revive: Option<&str>,
) -> Statement {
    let quoted: Vec<String> = idents.iter().map(|i| quote(i)).collect();
    let sources: Vec<String> = (0..idents.len()).map(stage_column).collect();
    let partition: Vec<String> = keys.iter().map(|k| stage_column(*k)).collect();
    let on: Vec<String> = keys
        .iter()
        .filter_map(|k| Some(format!("t.{} = s.{}", quoted.get(*k)?, stage_column(*k))))
        .collect();
    let mut sets: Vec<String> = quoted
        .iter()
        .zip(&sources)
        .enumerate()
        .filter(|(i, _)| !keys.contains(i))
        .map(|(_, (column, source))| format!("{column} = s.{source}"))
        .collect();
    if let Some(deleted) = revive {
        // A row the tap sends again is live again.
        sets.push(format!("{} = NULL", quote(deleted)));
    }
    let matched = if sets.is_empty() {
        String::new()
    } else {
        format!(" WHEN MATCHED THEN UPDATE SET {}", sets.join(", "))
    };
    Statement {
        schema: Some(table.schema.clone()),
        ..Statement::new(
            format!("merging into {table}"),
            format!(
                "MERGE INTO {table} t USING (SELECT * FROM {stage} QUALIFY ROW_NUMBER() OVER \
                 (PARTITION BY {partition} ORDER BY {row} DESC) = 1) s ON {on}{matched} WHEN NOT \
                 MATCHED THEN INSERT ({columns}) VALUES ({values})",
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
        )
    }
}

/// INSERT of every row of staging table `stage` into `table` (columns
/// `idents`, parallel to the staging columns), in staging order.
fn insert(table: &TableName, stage: &str, idents: &[String]) -> Statement {
    let quoted: Vec<String> = idents.iter().map(|i| quote(i)).collect();
    let sources: Vec<String> = (0..idents.len()).map(stage_column).collect();
    Statement {
        schema: Some(table.schema.clone()),
        ..Statement::new(
            format!("inserting into {table}"),
            format!(
                "INSERT INTO {table} ({}) SELECT {} FROM {stage} ORDER BY {}",
                quoted.join(", "),
                sources.join(", "),
                quote(ROW_COLUMN)
            ),
        )
    }
}

/// Deletes the rows of `table` whose soft-delete column `deleted` is set.
fn hard_delete(table: &TableName, deleted: &str) -> Statement {
    let deleted = quote(deleted);
    Statement::new(
        format!("hard-deleting rows of {table} with {deleted} set"),
        format!("DELETE FROM {table} WHERE {deleted} IS NOT NULL"),
    )
}

/// How ACTIVATE_VERSION removes the rows of other versions.
#[derive(Debug, Clone, Copy)]
enum Removal<'a> {
    /// `DELETE` them.
    Hard,
    /// Set `column` (of type `timestamps`) to `now` where it is NULL.
    Soft {
        column: &'a str,
        timestamps: TimestampType,
        now: &'a str,
    },
}

/// ACTIVATE_VERSION of `version` in `table`: rows whose `version_column`
/// is another version (or NULL) are removed.
fn activate(
    table: &TableName,
    version_column: &str,
    version: u64,
    removal: Removal<'_>,
) -> Statement {
    let other = format!(
        "({v} IS NULL OR {v} <> {version})",
        v = quote(version_column)
    );
    match removal {
        Removal::Hard => Statement::new(
            format!("deleting rows of other versions than {version} from {table}"),
            format!("DELETE FROM {table} WHERE {other}"),
        ),
        Removal::Soft {
            column,
            timestamps,
            now,
        } => {
            let timestamps = SqlType::Timestamp(timestamps);
            let deleted = quote(column);
            Statement {
                binds: vec![Bind::Text(now.to_owned())],
                ..Statement::new(
                    format!("soft-deleting rows of other versions than {version} in {table}"),
                    format!(
                        "UPDATE {table} SET {deleted} = CAST(? AS {timestamps}) WHERE {deleted} \
                         IS NULL AND {other}"
                    ),
                )
            }
        }
    }
}

/// The current time as the soft-delete literal.
/// The most file names one `COPY INTO ... FILES = (...)` takes.
const MAX_COPY_FILES: usize = 1000;

/// The session's landing table for staged files (one `V VARIANT` column).
const LANDING_TABLE: &str = "_SINGER_RS_LAND";

/// Checks a `COPY INTO` answer: one row per file named, each `LOADED`, the
/// rows loaded adding up to the rows written (a COPY that loads nothing is
/// an error: some clients report success after loading no file).
fn check_copy(
    rows: &[snowflake_connector_rs::DynamicRow],
    names: &[String],
    expected: u64,
    table: &str,
) -> Result<()> {
    let mismatch = |reason: String| Error::CopyMismatch {
        table: table.to_owned(),
        reason,
    };
    if rows.len() != names.len() {
        return Err(mismatch(format!(
            "{} files named, {} in COPY's answer",
            names.len(),
            rows.len()
        )));
    }
    let mut loaded = 0_u64;
    for row in rows {
        let cells: Vec<Option<String>> = row.values().iter().map(cell_text).collect();
        let cell = |i: usize| cells.get(i).cloned().flatten().unwrap_or_default();
        if !cell(1).eq_ignore_ascii_case("LOADED") {
            return Err(mismatch(format!("file {} is {}", cell(0), cell(1))));
        }
        loaded += cell(3).parse::<u64>().map_err(|_| {
            mismatch(format!(
                "file {}: rows_loaded {:?} is not a count",
                cell(0),
                cell(3)
            ))
        })?;
    }
    if loaded != expected {
        return Err(mismatch(format!(
            "{loaded} rows loaded, {expected} written"
        )));
    }
    Ok(())
}

fn now_literal() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%d %H:%M:%S%.6f")
        .to_string()
}

impl SnowflakeLoader {
    /// One attempt of [`singer_target::Loader::activate_version`]: the
    /// columns it needs added, the activation queued.
    pub(super) fn queue_activation(&mut self, stream: &str, version: u64) -> Result<()> {
        self.ensure_version_column(stream)?;
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
        let key_set_of = state.key_set_of.clone();
        // Rows after the activation go to a new staging table, applied
        // after it.
        self.open.remove(stream);
        let now = now_literal();
        // A key set's deletes detection goes right after its activation.
        let detect = key_set_of
            .map(|parent| self.detect_deletes(stream, &parent, version, &now))
            .transpose()?;
        self.pending.push(Pending::Activate {
            stream: stream.to_owned(),
            version,
            now,
        });
        self.pending.extend(detect);
        Ok(())
    }

    /// The statements applying one staging table to its stream's table.
    fn apply_statements(&self, stage: &Stage, overwrite_first: bool) -> Vec<Statement> {
        let mut statements = Vec::new();
        if overwrite_first {
            statements.push(overwrite(&stage.table));
        }
        if self.config.load_method == LoadMethod::Upsert && !stage.keys.is_empty() {
            let deleted_ident = self.ident(DELETED_AT);
            let has_deleted = self
                .streams
                .get(&stage.stream)
                .is_some_and(|s| s.table_columns.contains_key(&deleted_ident));
            let revive = (stage.own_deleted.is_none() && has_deleted).then_some(deleted_ident);
            statements.push(merge(
                &stage.table,
                &stage.name,
                &stage.idents,
                &stage.keys,
                revive.as_deref(),
            ));
        } else {
            statements.push(insert(&stage.table, &stage.name, &stage.idents));
        }
        if self.config.hard_delete
            && let Some(deleted) = stage.own_deleted.and_then(|d| stage.idents.get(d))
        {
            statements.push(hard_delete(&stage.table, deleted));
        }
        statements
    }

    /// The statement of one queued ACTIVATE_VERSION.
    fn activate_statement(&self, stream: &str, version: u64, now: &str) -> Result<Statement> {
        let Some(state) = self.streams.get(stream) else {
            return Err(Error::UnknownStream {
                stream: stream.to_owned(),
            });
        };
        let deleted = self.ident(DELETED_AT);
        let removal = if self.config.hard_delete {
            Removal::Hard
        } else {
            Removal::Soft {
                column: &deleted,
                timestamps: self.config.timestamp_type,
                now,
            }
        };
        Ok(activate(
            &state.table,
            &self.ident(TABLE_VERSION),
            version,
            removal,
        ))
    }

    /// Applies everything queued since the last commit in one transaction,
    /// then drops the staging tables. Every statement is sent once: a
    /// failure rolls back, and is never retried with anything queued.
    pub(super) fn apply_pending(&mut self) -> Result<()> {
        self.connection.connect()?;
        self.load_files()?;
        self.check_stages("committing")?;
        let mut statements: Vec<Statement> = Vec::new();
        // The stream each statement is for (the summary's per-stream time).
        let mut owners: Vec<String> = Vec::new();
        let mut overwriting: HashSet<String> = HashSet::new();
        for pending in &self.pending {
            let owner = match pending {
                Pending::Apply(index) => self.stages.get(*index).map(|s| s.stream.clone()),
                Pending::Activate { stream, .. } | Pending::DetectDeletes { stream, .. } => {
                    Some(stream.clone())
                }
            };
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
                    statements.extend(self.apply_statements(stage, overwrite_first));
                }
                Pending::Activate {
                    stream,
                    version,
                    now,
                } => statements.push(self.activate_statement(stream, *version, now)?),
                Pending::DetectDeletes {
                    key_set,
                    stream,
                    keys,
                    version,
                    now,
                } => statements
                    .extend(self.detect_deletes_statements(key_set, stream, keys, *version, now)?),
            }
            owners.resize(statements.len(), owner.unwrap_or_default());
        }
        let started = Instant::now();
        let took = self.transaction(&statements)?;
        self.stats.merge_seconds += started.elapsed().as_secs_f64();
        self.stats.commit_statements += u64::try_from(statements.len()).unwrap_or(u64::MAX) + 2;
        for (owner, seconds) in owners.iter().zip(took) {
            let line = self.stats.streams.entry(owner.clone()).or_default();
            line.merge_seconds += seconds;
            line.statements += 1;
        }
        self.remove_committed_files();
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
            let line = self.stats.streams.entry(stage.stream.clone()).or_default();
            line.rows += stage.rows;
            line.batches += stage.batches;
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

    /// Staged loading: uploads what is still queued, then fills each
    /// staging table of this commit from its files in the current session
    /// (`COPY INTO` a landing table, checked, then `INSERT ... SELECT`).
    /// Run at every commit attempt, so a retry after a lost session loads
    /// the same files again.
    fn load_files(&mut self) -> Result<()> {
        let Some(files) = &mut self.files else {
            return Ok(());
        };
        files.flush()?;
        let started = Instant::now();
        let session = self.connection.session_id();
        let land = quote(LANDING_TABLE);
        for index in 0..self.stages.len() {
            let Some(stage) = self.stages.get(index) else {
                continue;
            };
            if stage.files.is_empty() {
                continue;
            }
            let stage_started = Instant::now();
            let mut sent = 0;
            let (name, types, schema) = (
                stage.name.clone(),
                stage.types.clone(),
                stage.table.schema.clone(),
            );
            self.connection.use_schema(&schema)?;
            self.connection.run(
                "creating a staging table",
                &super::staging::create_stage(&name, &types),
                &[],
                false,
            )?;
            self.connection.run(
                "creating the landing table",
                &format!("CREATE OR REPLACE TEMPORARY TABLE {land} (V VARIANT)"),
                &[],
                false,
            )?;
            let Some(stage) = self.stages.get(index) else {
                continue;
            };
            // One COPY per directory and at most 1,000 files (Snowflake's
            // limit on FILES).
            let mut groups: Vec<(&str, &str, Vec<&StagedFile>)> = Vec::new();
            for file in &stage.files {
                match groups.last_mut() {
                    Some((place, dir, list))
                        if *place == file.stage
                            && *dir == file.dir
                            && list.len() < MAX_COPY_FILES =>
                    {
                        list.push(file);
                    }
                    _ => groups.push((&file.stage, &file.dir, vec![file])),
                }
            }
            let copies: Vec<(String, Vec<String>, u64)> = groups
                .iter()
                .map(|(place, dir, list)| {
                    let names: Vec<String> = list.iter().map(|f| format!("'{}'", f.name)).collect();
                    (
                        format!(
                            "COPY INTO {land} FROM @{place}/{dir} FILES = ({}) FILE_FORMAT = (TYPE = JSON) \
                             ON_ERROR = ABORT_STATEMENT FORCE = TRUE",
                            names.join(", ")
                        ),
                        list.iter().map(|f| f.name.clone()).collect(),
                        list.iter().map(|f| f.rows).sum(),
                    )
                })
                .collect();
            let insert = format!(
                "INSERT INTO {name} ({}, {}) SELECT {}, V:r::VARCHAR::NUMBER(38,0) FROM {land}",
                (0..stage.from_landing.len())
                    .map(stage_column)
                    .collect::<Vec<_>>()
                    .join(", "),
                quote(ROW_COLUMN),
                stage.from_landing.join(", "),
            );
            for (sql, names, expected) in copies {
                let rows = self
                    .connection
                    .run("loading staged files", &sql, &[], false)?;
                check_copy(&rows, &names, expected, &land)?;
                self.stats.commit_statements += 1;
                sent += 1;
            }
            self.connection.run(
                "filling a staging table from its files",
                &insert,
                &[],
                false,
            )?;
            self.stats.commit_statements += 3;
            if let Some(stage) = self.stages.get_mut(index) {
                stage.session = session;
                let line = self.stats.streams.entry(stage.stream.clone()).or_default();
                line.copy_seconds += stage_started.elapsed().as_secs_f64();
                line.statements += sent + 3;
            }
        }
        self.stats.copy_seconds += started.elapsed().as_secs_f64();
        Ok(())
    }

    /// After a commit: its files go (best effort; the next run removes
    /// what is left).
    fn remove_committed_files(&mut self) {
        let Some(files) = &mut self.files else {
            return;
        };
        files.committed();
        let dirs: std::collections::BTreeSet<String> = self
            .stages
            .iter()
            .flat_map(|stage| {
                stage
                    .files
                    .iter()
                    .map(|f| format!("@{}/{}", f.stage, f.dir))
            })
            .collect();
        for dir in dirs {
            let sql = format!("REMOVE {dir}");
            if let Err(error) = self
                .connection
                .run("removing committed files", &sql, &[], false)
            {
                warn!(files = %dir, error = %error, "Removing committed files failed; the next run of the table removes them.");
            }
        }
    }

    /// `BEGIN`, the statements, `COMMIT`; a failure rolls back.
    /// Runs `statements` in one transaction; answers each one's seconds.
    fn transaction(&mut self, statements: &[Statement]) -> Result<Vec<f64>> {
        let mut took = Vec::with_capacity(statements.len());
        self.connection
            .run("beginning a transaction", "BEGIN", &[], false)?;
        for statement in statements {
            if let Some(schema) = &statement.schema {
                // Not DDL: it does not end the transaction.
                self.connection.use_schema(schema)?;
            }
            // A failure rolls the transaction back (in `run`).
            let started = Instant::now();
            let rows =
                self.connection
                    .run(&statement.action, &statement.sql, &statement.binds, false)?;
            took.push(started.elapsed().as_secs_f64());
            if let Some(guard) = &statement.check {
                match guard.check(&rows) {
                    Ok((live, missing)) => {
                        super::deletes::log_pass(guard, live, missing, self.config.hard_delete);
                    }
                    Err(error) => {
                        if let Err(rollback) = self.connection.run(
                            "rolling back after the guard",
                            "ROLLBACK",
                            &[],
                            false,
                        ) {
                            warn!(error = %rollback, "ROLLBACK after the deletes guard failed; the session is dropped with its transaction.");
                        }
                        return Err(error);
                    }
                }
            }
        }
        self.connection.run("committing", "COMMIT", &[], true)?;
        Ok(took)
    }
}

#[cfg(test)]
#[path = "commit_tests.rs"]
mod tests;
