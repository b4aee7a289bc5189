//! Describing a manifest table: its query rendered for the window, the
//! result columns and their codecs (a prepare: nothing runs), and the
//! SCHEMA message built from them.

use chrono::{DateTime, Utc};
use postgres::types::{Kind, Type};
use serde_json::{Map, json};
use singer_protocol::SchemaMessage;
use tracing::{debug, warn};

use super::{Run, TASK_INSTANCE, UPLOADED_AT};
use crate::error::{Error, Result};
use crate::manifest::parse::TableSpec;
use crate::manifest::plan::TablePlan;
use crate::manifest::template;
use crate::manifest::window::{decimal_units, timestamp_text};
use crate::session::{RetryBudget, Subject};
use crate::stream::PlanColumn;
use crate::types::Codec;

/// A described table: its rendered body and columns.
pub(super) struct Described {
    /// The query with its filter, tokens filled.
    pub(super) body: String,
    /// The result columns.
    pub(super) columns: Vec<PlanColumn>,
    /// Index into `columns` of the primary key.
    pub(super) pk: usize,
    /// Whether the key is an integer (ranged, resumable reads).
    pub(super) ranged: bool,
}

impl Run<'_> {
    /// Renders the table's query for `(begin, end)` and describes its
    /// result columns (a prepare: nothing runs).
    pub(super) fn describe(
        &mut self,
        plan: &TablePlan<'_>,
        begin: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Described> {
        let spec = plan.spec;
        let table_error = |reason: String| Error::Table {
            table: spec.key.clone(),
            reason,
        };
        let lists = &self.options.allow_lists;
        let value = |token: &str| -> Option<String> {
            match token {
                "BEGIN_TIMESTAMP" => Some(begin.format("%Y-%m-%d %H:%M:%S%.6f").to_string()),
                "END_TIMESTAMP" => Some(end.format("%Y-%m-%d %H:%M:%S%.6f").to_string()),
                "EXECUTION_DATE" => Some(timestamp_text(end)),
                "HOURS" => Some(decimal_units(end - begin, 3_600_000_000)),
                "DAYS" => Some(decimal_units(end - begin, 86_400_000_000)),
                other => lists.token_value(other),
            }
        };
        let missing = |token: &str| {
            table_error(format!(
                "{{{token}}} needs an allow list, and none is configured (internal_projects_file / internal_namespaces_file)"
            ))
        };
        let query = template::render(&spec.import_query, value).map_err(missing)?;
        let filter = spec
            .additional_filtering
            .as_deref()
            .map(|f| template::render(f, value))
            .transpose()
            .map_err(missing)?;
        let body = template::body(&query, filter.as_deref());
        let describe_sql = template::wrap("*", &body, None, false);
        debug!(table = %spec.key, sql = %describe_sql, "Describing the manifest query.");
        let statement = self.session.with_retry(
            Subject::Table(&spec.key),
            &mut RetryBudget::new(),
            |client| {
                client
                    .prepare(&describe_sql)
                    .map_err(|source| Error::Query {
                        stream: Some(plan.stream.clone()),
                        action: "preparing the manifest query",
                        source,
                    })
            },
        )?;
        let mut columns: Vec<PlanColumn> = Vec::new();
        let mut pk = None;
        let mut ranged = false;
        for column in statement.columns() {
            let name = column.name();
            if columns.iter().any(|c| c.name == name) {
                return Err(table_error(format!(
                    "the query returns column {name:?} more than once; give each an alias"
                )));
            }
            if name == UPLOADED_AT || (spec.advanced_metadata && name == TASK_INSTANCE) {
                return Err(table_error(format!(
                    "the query returns column {name:?}, which the tap adds itself"
                )));
            }
            if name == spec.export_table_primary_key {
                pk = Some(columns.len());
                ranged = is_integer(column.type_());
            }
            let codec = Codec::from_postgres_type(
                column.type_(),
                column.type_modifier(),
                self.options.sync.policy,
            );
            columns.push(PlanColumn::new(name, codec));
        }
        let pk = pk.ok_or_else(|| {
            table_error(format!(
                "export_table_primary_key {:?} is not a column of the query's result",
                spec.export_table_primary_key
            ))
        })?;
        if !ranged {
            warn!(table = %spec.key, "The primary key is not an integer: the table is read in one statement, without key ranges.");
        }
        Ok(Described {
            body,
            columns,
            pk,
            ranged,
        })
    }
}

/// The SCHEMA of a described table: its columns, `_uploaded_at` and, with
/// `advanced_metadata`, `_task_instance`.
pub(super) fn schema_message(
    plan: &TablePlan<'_>,
    spec: &TableSpec,
    described: &Described,
) -> SchemaMessage {
    let mut properties = Map::new();
    for (i, column) in described.columns.iter().enumerate() {
        // Result columns carry no NOT NULL; only a ranged key cannot be NULL.
        let nullable = !(i == described.pk && described.ranged);
        properties.insert(column.name.clone(), column.codec.json_schema(nullable));
    }
    properties.insert(UPLOADED_AT.to_owned(), json!({ "type": "number" }));
    if spec.advanced_metadata {
        properties.insert(
            TASK_INSTANCE.to_owned(),
            json!({ "type": ["string", "null"] }),
        );
    }
    SchemaMessage {
        stream: plan.stream.clone(),
        schema: json!({ "type": "object", "properties": properties }),
        key_properties: vec![spec.export_table_primary_key.clone()],
        bookmark_properties: None,
    }
}

/// Whether a column type is an integer (through domains).
fn is_integer(ty: &Type) -> bool {
    let mut base = ty;
    for _ in 0..16 {
        match base.kind() {
            Kind::Domain(inner) => base = inner,
            _ => break,
        }
    }
    *base == Type::INT2 || *base == Type::INT4 || *base == Type::INT8
}
