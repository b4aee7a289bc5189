//! What to compare for each selected stream: its table, key, replication
//! key and bookmark, from the catalog and the state.

use std::collections::BTreeMap;

use serde_json::Value;
use singer_protocol::{Catalog, CatalogEntry, ReplicationMethod};
use singer_state::State;

use crate::checksum::{ChecksumColumn, ValueKind};
use crate::error::{Error, Result};

/// How a stream's key splits into ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// One integer column: ranges of numbers.
    Integer,
    /// One column of another type: one range, duplicates counted.
    Other,
    /// No key, or several columns: one range, rows counted.
    None,
}

/// An incremental stream's bookmark: the rows compared are those with a
/// replication key at or before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bookmark {
    /// A number (its JSON digits).
    Number(String),
    /// A string (a timestamp, a date, text), compared as the column's type
    /// at the source and as text in files (our timestamps sort as text).
    Text(String),
}

/// One stream to reconcile.
#[derive(Debug, Clone)]
pub struct StreamSpec {
    /// The tap_stream_id.
    pub tap_stream_id: String,
    /// The stream name the target saw.
    pub stream: String,
    /// The source schema.
    pub schema: String,
    /// The source table.
    pub table: String,
    /// The key columns.
    pub key: Vec<String>,
    /// How the key splits.
    pub key_kind: KeyKind,
    /// The replication key of an incremental stream with a bookmark.
    pub replication_key: Option<String>,
    /// Its PostgreSQL type (`sql-datatype`), to compare the bookmark as it.
    pub replication_key_type: Option<String>,
    /// The bookmark.
    pub bookmark: Option<Bookmark>,
    /// Each property's PostgreSQL type (`sql-datatype`), where the catalog
    /// names one.
    pub column_types: BTreeMap<String, String>,
}

impl StreamSpec {
    /// The stream's columns among `names`, for a checksum.
    ///
    /// # Errors
    ///
    /// [`Error::Usage`] naming a column whose type no checksum holds.
    pub fn checksum_columns(&self, names: &[String]) -> Result<Vec<ChecksumColumn>> {
        names
            .iter()
            .filter_map(|name| self.column_types.get(name).map(|ty| (name, ty)))
            .map(|(name, ty)| {
                let kind = ValueKind::from_sql_datatype(ty).ok_or_else(|| Error::Usage {
                    reason: format!(
                        "stream {:?}: column {name:?} is {ty}, which a checksum cannot compare \
                         (integers, decimals, text, booleans, dates and timestamps can)",
                        self.tap_stream_id
                    ),
                })?;
                Ok(ChecksumColumn {
                    name: name.clone(),
                    kind,
                })
            })
            .collect()
    }
}

const INTEGER_TYPES: [&str; 3] = ["smallint", "integer", "bigint"];

/// The streams `catalog` selects, with their bookmarks from `state`.
///
/// # Errors
///
/// [`Error::Usage`] for a catalog entry whose replication settings cannot
/// be read.
pub fn specs(catalog: &Catalog, state: Option<&State>) -> Result<Vec<StreamSpec>> {
    catalog.selected().map(|entry| spec(entry, state)).collect()
}

fn spec(entry: &CatalogEntry, state: Option<&State>) -> Result<StreamSpec> {
    let usage = |e: singer_protocol::Error| Error::Usage {
        reason: format!("stream {:?}: {e}", entry.tap_stream_id),
    };
    let root = entry.metadata.root();
    let schema = root
        .and_then(|m| m.get("schema-name"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let table = entry
        .extra
        .get("table_name")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let (schema, table) = match (schema, table) {
        (Some(schema), Some(table)) => (schema, table),
        _ => match entry.tap_stream_id.split_once('-') {
            Some((schema, table)) => (schema.to_owned(), table.to_owned()),
            None => ("public".to_owned(), entry.tap_stream_id.clone()),
        },
    };
    let mut key = entry.key_properties().map_err(usage)?;
    if key.is_empty()
        && let Some(from_metadata) = root
            .and_then(|m| m.get("table-key-properties"))
            .and_then(Value::as_array)
    {
        key = from_metadata
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect();
    }
    let sql_type = |name: &str| {
        entry
            .metadata
            .property(name)
            .and_then(|m| m.get("sql-datatype"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let key_kind = match key.as_slice() {
        [only] if sql_type(only).is_some_and(|t| INTEGER_TYPES.contains(&t.as_str())) => {
            KeyKind::Integer
        }
        [_] => KeyKind::Other,
        _ => KeyKind::None,
    };
    let method = entry.replication_method().map_err(usage)?;
    let replication_key = entry.replication_key().map_err(usage)?.map(str::to_owned);
    let bookmark = match (method, &replication_key, state) {
        (Some(ReplicationMethod::Incremental), Some(rk), Some(state)) => state
            .bookmark(&entry.tap_stream_id)
            .filter(|b| b.replication_key.as_deref().is_none_or(|k| k == rk))
            .and_then(|b| b.replication_key_value.as_ref())
            .and_then(|v| match v {
                Value::Number(n) => Some(Bookmark::Number(n.to_string())),
                Value::String(s) => Some(Bookmark::Text(s.clone())),
                _ => None,
            }),
        _ => None,
    };
    let replication_key = replication_key.filter(|_| bookmark.is_some());
    Ok(StreamSpec {
        tap_stream_id: entry.tap_stream_id.clone(),
        stream: entry.stream.clone(),
        schema,
        table,
        replication_key_type: replication_key.as_deref().and_then(sql_type),
        replication_key,
        key,
        key_kind,
        bookmark,
        column_types: entry
            .schema
            .get("properties")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter_map(|(name, _)| sql_type(name).map(|ty| (name.clone(), ty)))
            .collect(),
    })
}
