//! Planning a catalog-mode stream: the table, the selected columns, the
//! replication method and keys, and its SCHEMA message.

use serde_json::{Map, Value};
use singer_protocol::key_set::DETECT_DELETES;
use singer_protocol::{CatalogEntry, ReplicationMethod, SchemaMessage};
use tracing::warn;

use super::{SyncOptions, table_ref};
use crate::discovery::{TableInfo, TableKind};
use crate::error::{Error, Result};
use crate::ident::quote_ident;
use crate::keyset::{DEFAULT_CHUNK_ROWS, KeySetRead};
use crate::session::Subject;
use crate::stream::PlanColumn;

/// Everything needed to read one stream.
pub(super) struct StreamPlan {
    pub(super) tap_stream_id: String,
    pub(super) stream: String,
    /// The table's schema and name.
    pub(super) schema_name: String,
    pub(super) table_name: String,
    pub(super) qualified_table: String,
    pub(super) columns: Vec<PlanColumn>,
    pub(super) key_properties: Vec<String>,
    pub(super) method: ReplicationMethod,
    /// Index into `columns` of the replication key (INCREMENTAL).
    pub(super) replication_key: Option<usize>,
    /// Indices into `columns` of the primary key (FULL_TABLE resume).
    pub(super) primary_key: Vec<usize>,
    /// The planner's row estimate, for progress (FULL_TABLE only).
    pub(super) row_estimate: Option<u64>,
    /// Whether the relation has heap blocks to split by `ctid` (a table or
    /// a materialized view, not a view or a partitioned parent).
    pub(super) has_blocks: bool,
    /// Metadata `detect-deletes`: after the rows, the table's keys go out
    /// as the stream's key set (indices into `columns`).
    pub(super) detect_deletes: Option<Vec<usize>>,
    /// Each column's declared type OID and modifier (LOG_BASED compares
    /// them with the change stream's).
    pub(super) column_types: Vec<(u32, i32)>,
    /// Whether the relation is a partitioned table.
    pub(super) partitioned: bool,
}

impl StreamPlan {
    pub(super) fn new(
        entry: &CatalogEntry,
        tables: &[TableInfo],
        options: &SyncOptions,
    ) -> Result<Self> {
        let stream_error = |reason: String| Error::Stream {
            stream: entry.tap_stream_id.clone(),
            reason,
        };
        let (schema, table) = table_ref(entry);
        let info = tables
            .iter()
            .find(|t| t.schema == schema && t.name == table)
            .ok_or_else(|| {
                stream_error(format!(
                    "table {schema}.{table} does not exist or cannot be read"
                ))
            })?;
        let method = entry
            .replication_method()
            .map_err(|e| Error::Catalog(Box::new(e)))?
            .or(options.default_method)
            .unwrap_or(ReplicationMethod::FullTable);
        let replication_key = entry
            .replication_key()
            .map_err(|e| Error::Catalog(Box::new(e)))?
            .map(str::to_owned);
        let mut key_properties = entry
            .key_properties()
            .map_err(|e| Error::Catalog(Box::new(e)))?;
        if key_properties.is_empty() {
            key_properties.clone_from(&info.primary_key);
        }
        let catalog_properties = entry.schema.get("properties").and_then(Value::as_object);
        let mut columns = Vec::new();
        let mut column_types = Vec::new();
        for column in &info.columns {
            if method == ReplicationMethod::LogBased && column.generated {
                // pgoutput does not send generated columns (PostgreSQL < 18):
                // a column that never arrives would be NULLed downstream.
                warn!(stream = %entry.tap_stream_id, column = %column.name, "LOG_BASED: a generated column is not in the change stream; it is left out of the stream.");
                continue;
            }
            let automatic = info.primary_key.contains(&column.name)
                || key_properties.contains(&column.name)
                || replication_key.as_deref() == Some(column.name.as_str());
            // LOG_BASED follows the table's shape: a column added after the
            // catalog was made is sent too (the change stream carries it).
            let in_catalog = method == ReplicationMethod::LogBased
                || catalog_properties.is_none_or(|p| p.contains_key(&column.name));
            if automatic || (in_catalog && entry.is_property_selected(&column.name)) {
                columns.push(PlanColumn::new(&column.name, column.codec.clone()));
                column_types.push((column.type_oid, column.typmod));
            }
        }
        if let Some(properties) = catalog_properties {
            for name in properties.keys() {
                if entry.is_property_selected(name) && !info.columns.iter().any(|c| &c.name == name)
                {
                    warn!(stream = %entry.tap_stream_id, column = %name, "Selected column no longer exists in the table; skipping it.");
                }
            }
        }
        if method == ReplicationMethod::LogBased
            && let Some(cast) = columns.iter().find(|c| c.codec.select_expr("x") != "x")
        {
            // Read through a cast by FULL_TABLE; the change stream sends the
            // type's own binary format, which no codec here reads.
            return Err(stream_error(format!(
                "column {:?} ({}) cannot be replicated LOG_BASED (its binary format is not read); \
                 deselect it, or use FULL_TABLE or INCREMENTAL",
                cast.name,
                cast.codec.sql_datatype()
            )));
        }
        let position_of = |name: &str| columns.iter().position(|c| c.name == name);
        let replication_key = match method {
            ReplicationMethod::Incremental => {
                let key = replication_key.ok_or_else(|| {
                    stream_error("INCREMENTAL replication needs a replication key".to_owned())
                })?;
                let index = position_of(&key).ok_or_else(|| {
                    stream_error(format!(
                        "replication key {key:?} is not a column of the table"
                    ))
                })?;
                if !columns
                    .get(index)
                    .is_some_and(|c| c.codec.can_be_replication_key())
                {
                    return Err(stream_error(format!(
                        "replication key {key:?} has a type that cannot be ordered and bookmarked"
                    )));
                }
                Some(index)
            }
            _ => None,
        };
        let primary_key = info
            .primary_key
            .iter()
            .map(|name| position_of(name))
            .collect::<Option<Vec<_>>>()
            .unwrap_or_default();
        let detect_deletes = match entry.metadata.root().and_then(|m| m.get(DETECT_DELETES)) {
            None | Some(Value::Null | Value::Bool(false)) => None,
            Some(Value::Bool(true)) => {
                let keys = key_properties
                    .iter()
                    .map(|name| position_of(name))
                    .collect::<Option<Vec<_>>>()
                    .filter(|keys| !keys.is_empty())
                    .ok_or_else(|| {
                        stream_error(format!(
                            "{DETECT_DELETES} needs key properties (a primary key or table-key-properties), and the stream has none"
                        ))
                    })?;
                Some(keys)
            }
            Some(other) => {
                return Err(stream_error(format!(
                    "metadata {DETECT_DELETES} must be true or false, not {other}"
                )));
            }
        };
        Ok(Self {
            tap_stream_id: entry.tap_stream_id.clone(),
            stream: entry.stream.clone(),
            schema_name: info.schema.clone(),
            table_name: info.name.clone(),
            qualified_table: format!("{}.{}", quote_ident(&info.schema), quote_ident(&info.name)),
            columns,
            key_properties,
            method,
            replication_key,
            primary_key,
            row_estimate: matches!(
                method,
                ReplicationMethod::FullTable | ReplicationMethod::LogBased
            )
            .then_some(info.row_estimate)
            .flatten(),
            has_blocks: matches!(info.kind, TableKind::Table | TableKind::MaterializedView),
            detect_deletes,
            column_types,
            partitioned: info.kind == TableKind::PartitionedTable,
        })
    }

    pub(super) fn schema_message(&self) -> SchemaMessage {
        let mut properties = Map::new();
        for column in &self.columns {
            let nullable = !self.key_properties.contains(&column.name);
            properties.insert(column.name.clone(), column.codec.json_schema(nullable));
        }
        if self.method == ReplicationMethod::LogBased {
            for (name, schema) in crate::logical::metadata_properties() {
                properties.insert(name.to_owned(), schema);
            }
        }
        let mut schema = Map::new();
        schema.insert("type".to_owned(), Value::String("object".to_owned()));
        schema.insert("properties".to_owned(), Value::Object(properties));
        SchemaMessage {
            stream: self.stream.clone(),
            schema: Value::Object(schema),
            key_properties: self.key_properties.clone(),
            bookmark_properties: self
                .replication_key
                .and_then(|i| self.columns.get(i))
                .map(|c| vec![c.name.clone()]),
        }
    }

    /// The key set read of a stream with `detect-deletes`.
    pub(super) fn key_set(&self, options: &SyncOptions) -> Option<KeySetRead<'_>> {
        let keys = self.detect_deletes.as_ref()?;
        Some(KeySetRead {
            subject: Subject::Stream(&self.tap_stream_id),
            stream: &self.stream,
            source: self.qualified_table.clone(),
            keys: keys
                .iter()
                .filter_map(|&i| self.columns.get(i))
                .map(|c| PlanColumn::new(&c.name, c.codec.clone()))
                .collect(),
            chunk_rows: options.max_rows_per_statement.unwrap_or(DEFAULT_CHUNK_ROWS),
            state_interval: options.state_interval,
            metrics_interval: options.metrics_interval,
        })
    }

    /// Whether a run of the stream is a complete copy (FULL_TABLE, or a
    /// LOG_BASED stream's initial copy), versioned and activated.
    pub(super) fn is_copy(&self) -> bool {
        matches!(
            self.method,
            ReplicationMethod::FullTable | ReplicationMethod::LogBased
        )
    }

    /// The rows a read of the stream is expected to send, for live
    /// progress: the table's row estimate for a FULL_TABLE copy; unknown
    /// for an INCREMENTAL read (only the rows past its bookmark).
    pub(super) fn progress_estimate(&self) -> Option<u64> {
        (self.method == ReplicationMethod::FullTable)
            .then_some(self.row_estimate)
            .flatten()
    }

    /// The index of the primary key when it is one integer column: a key
    /// that splits into ranges.
    pub(super) fn integer_key(&self) -> Option<usize> {
        match self.primary_key.as_slice() {
            [only]
                if self
                    .columns
                    .get(*only)
                    .is_some_and(|c| c.codec.is_integer()) =>
            {
                Some(*only)
            }
            _ => None,
        }
    }

    /// Indices of the columns whose values make up the position.
    pub(super) fn position_columns(&self) -> Vec<usize> {
        match self.replication_key {
            Some(index) => vec![index],
            None => self.primary_key.clone(),
        }
    }
}
