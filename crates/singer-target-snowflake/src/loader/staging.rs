//! The staging tables a batch goes to: one session-local temporary table
//! per stream and column layout since the last commit (a new one after an
//! ACTIVATE_VERSION or a change of columns), filled by the
//! [`crate::stage::Stager`] and queued for the commit with its first batch.

use singer_target::Batch;
use tracing::{debug, warn};

use super::commit::Pending;
use super::{SnowflakeLoader, TABLE_VERSION, VERSION_TYPE};
use crate::encode::{BinaryEncoding, ColumnPlan, stage_expression};
use crate::error::{Error, Result};
use crate::files::StagedFile;
use crate::naming::{TableName, quote};
use crate::stage::{ROW_COLUMN, STAGE_TABLE, Stager, stage_column};
use crate::types::SqlType;

/// One staging table: a stream's rows staged since the last commit, in
/// one column layout.
#[derive(Debug, Clone)]
pub(super) struct Stage {
    pub(super) stream: String,
    /// Quoted, unqualified: a temporary table in `table.schema`.
    pub(super) name: String,
    pub(super) table: TableName,
    /// Target columns, parallel to `types` (the staging columns).
    pub(super) idents: Vec<String>,
    pub(super) types: Vec<SqlType>,
    pub(super) keys: Vec<usize>,
    pub(super) own_deleted: Option<usize>,
    /// [`crate::connection::Connection::session_id`] it was created under.
    pub(super) session: u64,
    pub(super) rows: u64,
    pub(super) batches: u64,
    /// Queued for the next commit (it holds at least one batch).
    pub(super) registered: bool,
    /// Staged loading: the files holding this table's rows, and the SELECT
    /// list reading a landing row `V` into the staging columns.
    pub(super) files: Vec<StagedFile>,
    pub(super) from_landing: Vec<String>,
}

/// The name of the run's `counter`-th staging table, quoted (unqualified:
/// a temporary table of the current schema).
fn stage_name(counter: u64) -> String {
    quote(&format!("{STAGE_TABLE}_{counter}"))
}

/// `CREATE OR REPLACE TEMPORARY TABLE` for staging columns of `types` (one
/// per target column, see [`stage_column`]) and the row number.
pub(super) fn create_stage(name: &str, types: &[SqlType]) -> String {
    let columns: Vec<String> = types
        .iter()
        .enumerate()
        .map(|(i, t)| format!("{} {t}", stage_column(i)))
        .chain(std::iter::once(format!(
            "{} NUMBER(38,0)",
            quote(ROW_COLUMN)
        )))
        .collect();
    format!(
        "CREATE OR REPLACE TEMPORARY TABLE {name} ({})",
        columns.join(", ")
    )
}

impl SnowflakeLoader {
    /// Adds the loader's `_sdc_table_version` column unless the table has
    /// it; returns its identifier.
    pub(super) fn ensure_version_column(&mut self, stream: &str) -> Result<String> {
        let version_ident = self.ident(TABLE_VERSION);
        self.ensure_column(stream, &version_ident, VERSION_TYPE)?;
        Ok(version_ident)
    }

    /// Stages one batch into the stream's open staging table (a new one
    /// for its first batch since the last commit, an ACTIVATE_VERSION or a
    /// change of columns). Nothing reaches the stream's table. Every
    /// statement is sent once: the driver retries the call.
    /// Staged loading: creates the table's stage when this run has not
    /// (the default one only), and removes what earlier runs of the table
    /// left on it (they died before their commit, or between the commit
    /// and the removal). Once per table and run; nothing in bind mode.
    pub(super) fn prepare_stage(&mut self, table: &TableName) -> Result<()> {
        let Some(files) = &mut self.files else {
            return Ok(());
        };
        let place = files.stage_for(&table.schema);
        let table_dir = files.table_dir(&table.schema, &table.table);
        let (create, clean) = files.setup_needed(&place, &table_dir);
        if create {
            // DDL between commits: no transaction is open.
            self.connection.use_schema(&table.schema)?;
            self.connection.run(
                "creating the stage for staged files",
                &format!("CREATE STAGE IF NOT EXISTS {place}"),
                &[],
                false,
            )?;
        }
        if let Some(files) = &mut self.files {
            files.set_up(&place, &table_dir);
        }
        if clean {
            let leftovers = format!("REMOVE @{place}/{table_dir}");
            if let Err(error) =
                self.connection
                    .run("removing leftover files", &leftovers, &[], false)
            {
                warn!(stage = %place, error = %error, "Removing files of earlier runs failed; they stay on the stage.");
            }
        }
        Ok(())
    }

    pub(super) fn stage_batch(&mut self, stream: &str, batch: &Batch) -> Result<()> {
        let Some(state) = self.streams.get(stream) else {
            return Err(Error::UnknownStream {
                stream: stream.to_owned(),
            });
        };
        // A versioned batch of a stream without the _sdc_table_version
        // property: the loader keeps the version in that column itself.
        let extra_version = batch.version().filter(|_| state.own_version.is_none());
        let version_ident = match extra_version {
            // DDL: outside any transaction (none is open between commits).
            Some(_) => self.ensure_version_column(stream)?,
            None => self.ident(TABLE_VERSION),
        };
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
                sql_type: VERSION_TYPE,
                empty_string_is_null: false,
                binary: BinaryEncoding::Base64,
            });
            idents.push(version_ident);
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
            // table's); the commit sets that schema before using it.
            let name = stage_name(self.stage_counter);
            if self.files.is_none() {
                self.connection.run(
                    "creating a staging table",
                    &create_stage(&name, &types),
                    &[],
                    false,
                )?;
            }
            let from_landing = plans
                .iter()
                .enumerate()
                .map(|(index, plan)| {
                    if plan.cell.is_some() || constants.get(index).is_some_and(Option::is_some) {
                        stage_expression("V", index, plan.sql_type)
                    } else {
                        format!("NULL::{}", plan.sql_type)
                    }
                })
                .collect();
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
                files: Vec::new(),
                from_landing,
            });
            self.stages.len() - 1
        };
        let Some(stage) = self.stages.get(index) else {
            return Err(Error::UnknownStream {
                stream: stream.to_owned(),
            });
        };
        let name = stage.name.clone();
        if let Some(files) = &mut self.files {
            let request = crate::stage::StageRequest {
                stage: &name,
                base: self.sequence,
                stream,
                plans: &plans,
                constants: &constants,
            };
            let place = files.stage_for(&state.table.schema);
            let table_dir = files.table_dir(&state.table.schema, &state.table.table);
            let staged = files.stage(&place, &table_dir, &request, batch)?;
            let rows = staged.rows;
            self.sequence += rows;
            if let Some(stage) = self.stages.get_mut(index) {
                stage.rows += rows;
                stage.batches += 1;
                stage.files.extend(staged.files);
                if !stage.registered {
                    stage.registered = true;
                    self.pending.push(Pending::Apply(index));
                }
            }
            self.open.insert(stream.to_owned(), index);
            self.stats.special_values_nulled += staged.nulled;
            debug!(stream, table = %state.table, rows, "Batch encoded into staged files.");
            return Ok(());
        }
        let started = std::time::Instant::now();
        let staged = self.stager.stage(
            &mut self.connection,
            &crate::stage::StageRequest {
                stage: &name,
                base: self.sequence,
                stream,
                plans: &plans,
                constants: &constants,
            },
            batch,
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
        let statements = u64::try_from(staged.statements).unwrap_or(u64::MAX);
        let seconds = started.elapsed().as_secs_f64();
        self.stats.stage_statements += statements;
        self.stats.bind_seconds += seconds;
        let line = self.stats.streams.entry(stream.to_owned()).or_default();
        line.statements += statements;
        line.bind_seconds += seconds;
        self.stats.special_values_nulled += staged.nulled;
        debug!(stream, table = %state.table, rows = staged.rows, statements = staged.statements, "Batch staged.");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_tables_are_temporary_with_a_row_number() {
        assert_eq!(stage_name(7), r#""_SINGER_RS_STAGE_7""#);
        assert_eq!(
            create_stage(
                &stage_name(1),
                &[
                    SqlType::Number {
                        precision: 38,
                        scale: 0
                    },
                    SqlType::Varchar(Some(8)),
                    SqlType::Variant
                ]
            ),
            r#"CREATE OR REPLACE TEMPORARY TABLE "_SINGER_RS_STAGE_1" ("C0" NUMBER(38,0), "C1" VARCHAR(8), "C2" VARIANT, "_SINGER_RS_ROW" NUMBER(38,0))"#
        );
    }
}
