//! Filling a batch's temporary staging table.
//!
//! [`Stager`] is the seam for other staging paths: today rows go as JSON
//! arrays bound to `INSERT ... SELECT ... FROM TABLE(FLATTEN(INPUT =>
//! PARSE_JSON(?)))` ([`JsonBindStager`]), which works with any Snowflake
//! account through the plain query API. A PUT of compressed files + `COPY
//! INTO` stager would implement the same trait (upload files, copy them
//! into the staging table); the loader's transaction (MERGE / INSERT /
//! DELETE from the staging table) does not change, and the driver never
//! knows.

use singer_target::Batch;

use crate::connection::{Bind, Connection};
use crate::encode::{ColumnPlan, EncodeCounts, EncodeOptions, encode_row, stage_expression};
use crate::error::Result;
use crate::naming::quote;

/// The staging tables' name prefix (session-local temporary tables in the
/// target schema, `_SINGER_RS_STAGE_<n>`; they shadow nothing the loader
/// writes to).
pub(crate) const STAGE_TABLE: &str = "_SINGER_RS_STAGE";
/// The staging column holding each row's sequence number, running across
/// every batch staged in the run (the last record per key wins).
pub(crate) const ROW_COLUMN: &str = "_SINGER_RS_ROW";

/// The staging table's column for plan `index`.
pub(crate) fn stage_column(index: usize) -> String {
    quote(&format!("C{index}"))
}

/// What one staging run did.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Staged {
    /// Rows staged.
    pub(crate) rows: usize,
    /// Statements sent.
    pub(crate) statements: usize,
    /// Values loaded as NULL by the special-values policy.
    pub(crate) nulled: u64,
}

/// Where and how a batch is staged.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StageRequest<'a> {
    /// The staging table (a quoted name).
    pub(crate) stage: &'a str,
    /// The [`ROW_COLUMN`] value of the batch's first row.
    pub(crate) base: u64,
    /// The stream (for errors).
    pub(crate) stream: &'a str,
    /// Staging column `i` gets the value of `plans[i]`.
    pub(crate) plans: &'a [ColumnPlan],
    /// For plans without a cell: `constants[i]` (an SQL literal), or NULL.
    pub(crate) constants: &'a [Option<String>],
}

/// Appends a batch to an (already created) staging table.
pub(crate) trait Stager {
    /// Stages `batch`'s rows as `request` says: column `i` gets the value
    /// of `plans[i]`, and [`ROW_COLUMN`] `base` plus the row's position in
    /// the batch; plans without a cell get `constants[i]` (SQL literal) or
    /// NULL.
    fn stage(
        &mut self,
        connection: &mut Connection,
        request: &StageRequest<'_>,
        batch: &Batch,
    ) -> Result<Staged>;
}

/// JSON arrays bound as text, split so no bind exceeds `max_bind_bytes`.
#[derive(Debug)]
pub(crate) struct JsonBindStager {
    pub(crate) max_bind_bytes: usize,
    pub(crate) options: EncodeOptions,
    buffer: String,
}

impl JsonBindStager {
    pub(crate) fn new(max_bind_bytes: usize, options: EncodeOptions) -> Self {
        Self {
            max_bind_bytes,
            options,
            buffer: String::new(),
        }
    }

    fn insert_sql(
        stage: &str,
        plans: &[ColumnPlan],
        constants: &[Option<String>],
        offset: u64,
    ) -> String {
        let mut columns = Vec::with_capacity(plans.len() + 1);
        let mut values = Vec::with_capacity(plans.len() + 1);
        for (index, plan) in plans.iter().enumerate() {
            columns.push(stage_column(index));
            values.push(
                match (plan.cell, constants.get(index).and_then(Option::as_ref)) {
                    (Some(_), _) => stage_expression("f.value", index, plan.sql_type),
                    (None, Some(constant)) => format!("{constant}::{}", plan.sql_type),
                    (None, None) => format!("NULL::{}", plan.sql_type),
                },
            );
        }
        columns.push(quote(ROW_COLUMN));
        values.push(format!("f.index + {offset}"));
        format!(
            "INSERT INTO {stage} ({}) SELECT {} FROM TABLE(FLATTEN(INPUT => PARSE_JSON(?))) f",
            columns.join(", "),
            values.join(", ")
        )
    }
}

impl Stager for JsonBindStager {
    fn stage(
        &mut self,
        connection: &mut Connection,
        request: &StageRequest<'_>,
        batch: &Batch,
    ) -> Result<Staged> {
        let at = |index: usize| request.base + u64::try_from(index).unwrap_or(u64::MAX);
        let mut staged = Staged::default();
        let mut counts = EncodeCounts::default();
        let mut chunk_start = 0;
        let mut in_chunk = 0;
        self.buffer.clear();
        self.buffer.push('[');
        let mut row_text = String::new();
        for (index, row) in batch.rows().enumerate() {
            row_text.clear();
            encode_row(
                &mut row_text,
                request.stream,
                &row,
                index + 1,
                request.plans,
                self.options,
                &mut counts,
            )?;
            // +2: the separating comma and the closing bracket.
            if in_chunk > 0 && self.buffer.len() + row_text.len() + 2 > self.max_bind_bytes {
                self.flush(connection, request, at(chunk_start), &mut staged)?;
                chunk_start = index;
                in_chunk = 0;
            }
            if in_chunk > 0 {
                self.buffer.push(',');
            }
            self.buffer.push_str(&row_text);
            in_chunk += 1;
            staged.rows += 1;
        }
        if in_chunk > 0 {
            self.flush(connection, request, at(chunk_start), &mut staged)?;
        }
        staged.nulled = counts.nulled;
        Ok(staged)
    }
}

impl JsonBindStager {
    /// Sends the buffered rows (their first row number `offset`).
    fn flush(
        &mut self,
        connection: &mut Connection,
        request: &StageRequest<'_>,
        offset: u64,
        staged: &mut Staged,
    ) -> Result<()> {
        self.buffer.push(']');
        let sql = Self::insert_sql(request.stage, request.plans, request.constants, offset);
        let json = std::mem::replace(&mut self.buffer, String::from("["));
        connection.run("staging rows", &sql, &[Bind::Text(json)], false)?;
        staged.statements += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::BinaryEncoding;
    use crate::types::SqlType;

    fn plan(cell: Option<usize>, sql_type: SqlType) -> ColumnPlan {
        ColumnPlan {
            property: "p".to_owned(),
            cell,
            sql_type,
            empty_string_is_null: false,
            binary: BinaryEncoding::Base64,
        }
    }

    #[test]
    fn staging_inserts_bind_one_json_array_and_number_rows_from_the_offset() {
        let version = SqlType::Number {
            precision: 38,
            scale: 0,
        };
        let plans = [
            plan(Some(0), version),
            plan(Some(1), SqlType::Variant),
            plan(None, version),
            plan(None, SqlType::Varchar(None)),
        ];
        let constants = [None, None, Some("7".to_owned()), None];
        assert_eq!(
            JsonBindStager::insert_sql(r#""_SINGER_RS_STAGE_1""#, &plans, &constants, 100),
            r#"INSERT INTO "_SINGER_RS_STAGE_1" ("C0", "C1", "C2", "C3", "_SINGER_RS_ROW") SELECT f.value:c0::VARCHAR::NUMBER(38,0), f.value:c1, 7::NUMBER(38,0), NULL::VARCHAR, f.index + 100 FROM TABLE(FLATTEN(INPUT => PARSE_JSON(?))) f"#
        );
    }
}
