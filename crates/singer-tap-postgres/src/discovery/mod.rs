//! Discovery: the tables a tap can read, from `pg_catalog`, as Singer
//! catalog entries.
//!
//! [`discover`] runs four queries in one read-only `REPEATABLE READ`
//! transaction, however many tables there are (relations, columns, the
//! types those columns use with every domain and array element they lead
//! to, primary keys), so thousands of tables take about as long as a few.
//!
//! What is listed:
//!
//! - ordinary tables, partitioned tables (their partitions are not listed:
//!   reading the parent reads them), views, materialized views and foreign
//!   tables, in the schemas of [`DiscoveryFilter`];
//! - only relations the connecting role can read, with only the columns it
//!   can read (`has_column_privilege … 'SELECT'`, so column grants work):
//!   listing a table whose sync must fail would only move the error later;
//! - columns in `attnum` order, with their JSON schema, nullability
//!   (`attnotnull`) and `sql-datatype` (`format_type`); domains resolve to
//!   their base type (with the domain's type modifier), arrays to their
//!   element type;
//! - the primary key in key order (not column order);
//! - the planner's row estimate (`reltuples`; unknown before the first
//!   `ANALYZE` or `VACUUM`, and for views).

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::{Map, Value, json};
use singer_protocol::{CatalogEntry, MetadataEntry};

use crate::types::{Codec, PgType, ValuePolicy};

/// Which relations [`discover`] lists.
///
/// Patterns are globs over `schema.table` (the names as stored, so
/// case-sensitive, unquoted): `*` matches any run of characters (dots
/// included), `?` any one character; every other character matches itself.
/// A relation is listed when its schema is allowed, it matches an `include`
/// pattern (or `include` is empty), and it matches no `exclude` pattern.
///
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DiscoveryFilter {
    /// The schemas to look in (exact names, like pipelinewise's and
    /// Meltano's `filter_schemas`). Empty: every schema except `pg_catalog`,
    /// `information_schema`, and the `pg_toast*`/`pg_temp*` schemas.
    pub schemas: Vec<String>,
    /// Globs over `schema.table`; empty lists every relation.
    pub include: Vec<String>,
    /// Globs over `schema.table`; a match is never listed.
    pub exclude: Vec<String>,
}

impl DiscoveryFilter {
    /// Whether `schema.table` passes the include and exclude patterns (the
    /// schema list is applied by the catalog query).
    #[must_use]
    pub fn matches(&self, schema: &str, table: &str) -> bool {
        let name: Vec<char> = schema.chars().chain(['.']).chain(table.chars()).collect();
        let matching = |pattern: &String| {
            let pattern: Vec<char> = pattern.chars().collect();
            glob_match(&pattern, &name)
        };
        (self.include.is_empty() || self.include.iter().any(matching))
            && !self.exclude.iter().any(matching)
    }
}

/// Glob matching with `*` and `?`, iterative with one backtrack point (linear
/// in practice, never exponential).
fn glob_match(pattern: &[char], name: &[char]) -> bool {
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, n));
                p += 1;
            }
            Some(c) if *c == '?' || Some(c) == name.get(n) => {
                p += 1;
                n += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    p = sp + 1;
                    n = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    pattern
        .get(p..)
        .unwrap_or_default()
        .iter()
        .all(|c| *c == '*')
}

/// What kind of relation a table is (`pg_class.relkind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TableKind {
    /// An ordinary table (`r`).
    Table,
    /// A partitioned table (`p`); reading it reads every partition.
    PartitionedTable,
    /// A view (`v`).
    View,
    /// A materialized view (`m`).
    MaterializedView,
    /// A foreign table (`f`).
    ForeignTable,
}

impl TableKind {
    fn from_relkind(relkind: &str) -> Option<Self> {
        match relkind {
            "r" => Some(Self::Table),
            "p" => Some(Self::PartitionedTable),
            "v" => Some(Self::View),
            "m" => Some(Self::MaterializedView),
            "f" => Some(Self::ForeignTable),
            _ => None,
        }
    }

    /// Whether the catalog marks it `is-view`: views and materialized views
    /// (neither has a primary key; pipelinewise marks both the same way).
    #[must_use]
    pub fn is_view(self) -> bool {
        matches!(self, Self::View | Self::MaterializedView)
    }
}

/// One column of a discovered table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnInfo {
    /// The column name as stored.
    pub name: String,
    /// Whether the column admits NULL (`NOT attnotnull`).
    pub nullable: bool,
    /// How its values are read and rendered.
    pub codec: Codec,
    /// The declared type (`atttypid`; a domain's own OID) and modifier.
    pub type_oid: u32,
    /// The type modifier (`atttypmod`).
    pub typmod: i32,
    /// Whether it is a generated column (`GENERATED ALWAYS AS ... STORED`).
    pub generated: bool,
}

impl ColumnInfo {
    /// The column's expression for a `SELECT` list: the quoted name with the
    /// codec's cast, if any.
    #[cfg(test)]
    #[must_use]
    pub fn select_expr(&self) -> String {
        self.codec
            .select_expr(&crate::ident::quote_ident(&self.name))
    }
}

/// One discovered table, view or materialized view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableInfo {
    /// The schema name as stored.
    pub schema: String,
    /// The relation name as stored.
    pub name: String,
    /// What kind of relation.
    pub kind: TableKind,
    /// The readable columns, in table order.
    pub columns: Vec<ColumnInfo>,
    /// The primary key columns, in key order; empty without one.
    pub primary_key: Vec<String>,
    /// The planner's row estimate; `None` when unknown.
    pub row_estimate: Option<u64>,
}

impl TableInfo {
    /// The stream id: `<schema>-<table>`.
    #[must_use]
    pub fn tap_stream_id(&self) -> String {
        format!("{}-{}", self.schema, self.name)
    }

    /// `"schema"."table"`, quoted for SQL.
    #[cfg(test)]
    #[must_use]
    pub fn quoted_name(&self) -> String {
        let quote = crate::ident::quote_ident;
        format!("{}.{}", quote(&self.schema), quote(&self.name))
    }

    /// The column called `name`.
    #[cfg(test)]
    #[must_use]
    pub fn column(&self, name: &str) -> Option<&ColumnInfo> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The Singer catalog entry of the table.
    ///
    /// - `tap_stream_id` and `stream` are both `<schema>-<table>` (Meltano's
    ///   tap-postgres does the same; pipelinewise's target-snowflake splits
    ///   such a stream name into schema and table, and a bare table name
    ///   would collide across schemas); `table_name` is the table name.
    /// - `schema` is an object with one property per column, in table order.
    /// - root metadata: `selected-by-default: false`, `inclusion:
    ///   available`, `table-key-properties`, `valid-replication-keys`,
    ///   `is-view`, `row-count` (when known), `database-name`, `schema-name`.
    ///   No `forced-replication-method`, not even for views: a view can be
    ///   INCREMENTAL on a key, and FULL_TABLE works without a key (it just
    ///   cannot resume mid-table).
    /// - per column: `inclusion` (`automatic` for primary key columns),
    ///   `selected-by-default: true`, `sql-datatype`.
    /// - top level `key_properties` (the Meltano spelling) too.
    #[must_use]
    pub fn catalog_entry(&self, database: &str) -> CatalogEntry {
        let id = self.tap_stream_id();
        let mut properties = Map::with_capacity(self.columns.len());
        for column in &self.columns {
            properties.insert(
                column.name.clone(),
                column.codec.json_schema(column.nullable),
            );
        }
        let schema = json!({ "type": "object", "properties": properties });
        let mut entry = CatalogEntry::new(id.clone(), id, schema);
        let keys = Value::Array(
            self.primary_key
                .iter()
                .cloned()
                .map(Value::String)
                .collect(),
        );
        let replication_keys: Vec<Value> = self
            .columns
            .iter()
            .filter(|c| c.codec.can_be_replication_key())
            .map(|c| Value::String(c.name.clone()))
            .collect();
        let mut root = Map::new();
        root.insert(
            singer_protocol::SELECTED_BY_DEFAULT.to_owned(),
            Value::Bool(false),
        );
        root.insert(singer_protocol::INCLUSION.to_owned(), json!("available"));
        root.insert(
            singer_protocol::TABLE_KEY_PROPERTIES.to_owned(),
            keys.clone(),
        );
        root.insert(
            singer_protocol::VALID_REPLICATION_KEYS.to_owned(),
            Value::Array(replication_keys),
        );
        root.insert("is-view".to_owned(), Value::Bool(self.kind.is_view()));
        if let Some(rows) = self.row_estimate {
            root.insert("row-count".to_owned(), json!(rows));
        }
        root.insert("database-name".to_owned(), json!(database));
        root.insert("schema-name".to_owned(), json!(self.schema));
        entry.metadata.0.reserve(self.columns.len() + 1);
        entry.metadata.0.push(MetadataEntry {
            breadcrumb: Vec::new(),
            metadata: root,
        });
        for column in &self.columns {
            let inclusion = if self.primary_key.contains(&column.name) {
                "automatic"
            } else {
                "available"
            };
            let mut metadata = Map::new();
            metadata.insert(singer_protocol::INCLUSION.to_owned(), json!(inclusion));
            metadata.insert(
                singer_protocol::SELECTED_BY_DEFAULT.to_owned(),
                Value::Bool(true),
            );
            metadata.insert(
                "sql-datatype".to_owned(),
                json!(column.codec.sql_datatype()),
            );
            entry.metadata.0.push(MetadataEntry {
                breadcrumb: vec!["properties".to_owned(), column.name.clone()],
                metadata,
            });
        }
        entry
            .extra
            .insert("table_name".to_owned(), json!(self.name));
        entry
            .extra
            .insert(singer_protocol::TOP_KEY_PROPERTIES.to_owned(), keys);
        entry
    }
}

/// Why discovery failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// A catalog query (or the transaction around them) failed.
    #[error("discovery query for {query} failed")]
    Query {
        /// Which query: `relations`, `columns`, `types`, `primary keys`, `transaction`.
        query: &'static str,
        /// The database error.
        #[source]
        source: postgres::Error,
    },
    /// A catalog row did not hold what the query selects.
    #[error("discovery query for {query} returned an unexpected value in column {column}")]
    Row {
        /// Which query.
        query: &'static str,
        /// The result column.
        column: &'static str,
        /// The conversion error.
        #[source]
        source: postgres::Error,
    },
}

impl DiscoveryError {
    /// Whether running discovery again may succeed: the connection broke, or
    /// the server cancelled a query (serialization failure or recovery
    /// conflict on a standby, SQLSTATE 40001).
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Query { source, .. } => {
                source.is_closed()
                    || source.code() == Some(&postgres::error::SqlState::T_R_SERIALIZATION_FAILURE)
            }
            Self::Row { .. } => false,
        }
    }
}

const RELATIONS_SQL: &str = r"
SELECT c.oid, n.nspname, c.relname, c.relkind::text AS relkind,
       CASE WHEN c.relkind = 'v' OR c.reltuples < 0 THEN NULL ELSE c.reltuples::int8 END AS estimate
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND NOT c.relispartition
  AND CASE WHEN pg_catalog.cardinality($1::text[]) = 0
           THEN n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp)'
           ELSE n.nspname = ANY($1::text[]) END
  AND pg_catalog.has_any_column_privilege(c.oid, 'SELECT')
ORDER BY n.nspname, c.relname";

const COLUMNS_SQL: &str = r"
SELECT a.attrelid, a.attname, a.atttypid, a.atttypmod,
       pg_catalog.format_type(a.atttypid, a.atttypmod) AS sql_datatype, a.attnotnull,
       a.attgenerated <> '' AS generated
FROM pg_catalog.pg_attribute a
WHERE a.attrelid = ANY($1::oid[]) AND a.attnum > 0 AND NOT a.attisdropped
  AND pg_catalog.has_column_privilege(a.attrelid, a.attnum, 'SELECT')
ORDER BY a.attrelid, a.attnum";

/// The column types and, transitively, the base types of domains and the
/// element types of arrays.
const TYPES_SQL: &str = r"
WITH RECURSIVE used(oid) AS (
    SELECT DISTINCT a.atttypid
    FROM pg_catalog.pg_attribute a
    WHERE a.attrelid = ANY($1::oid[]) AND a.attnum > 0 AND NOT a.attisdropped
  UNION
    SELECT next.oid
    FROM used
    JOIN pg_catalog.pg_type t ON t.oid = used.oid
    CROSS JOIN LATERAL (VALUES
        (t.typbasetype),
        (CASE WHEN t.typtype <> 'd' AND t.typcategory = 'A' THEN t.typelem ELSE 0::oid END)
    ) AS next(oid)
    WHERE next.oid <> 0
)
SELECT t.oid, t.typname::text AS typname, t.typtype::text AS typtype, t.typbasetype, t.typtypmod,
       (t.typtype <> 'd' AND t.typcategory = 'A' AND t.typelem <> 0) AS is_array, t.typelem
FROM used JOIN pg_catalog.pg_type t ON t.oid = used.oid";

const PRIMARY_KEYS_SQL: &str = r"
SELECT i.indrelid, a.attname
FROM pg_catalog.pg_index i
CROSS JOIN LATERAL pg_catalog.unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, position)
JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
WHERE i.indisprimary AND i.indrelid = ANY($1::oid[])
ORDER BY i.indrelid, k.position";

struct TypeRow {
    name: String,
    typtype: String,
    base: u32,
    typmod: i32,
    is_array: bool,
    element: u32,
}

/// Lists the tables, views, materialized views, partitioned and foreign
/// tables that `filter` allows and the connecting role can read, in
/// `schema, name` order, with columns, types, primary keys and row
/// estimates. Four queries in one read-only `REPEATABLE READ` transaction,
/// whatever the number of tables. `policy` decides the columns' special
/// values (and so their schemas).
///
/// # Errors
///
/// [`DiscoveryError::Query`] when a catalog query fails (see
/// [`DiscoveryError::is_retryable`]), [`DiscoveryError::Row`] when a row
/// holds something unexpected.
pub fn discover(
    client: &mut crate::pg::Client,
    filter: &DiscoveryFilter,
    policy: ValuePolicy,
) -> Result<Vec<TableInfo>, DiscoveryError> {
    let mut transaction = crate::session::begin_snapshot(client);

    let query = "relations";
    let rows = transaction
        .query(RELATIONS_SQL, &[&filter.schemas])
        .map_err(|source| DiscoveryError::Query { query, source })?;
    let mut tables = Vec::with_capacity(rows.len());
    let mut index_of: HashMap<u32, usize> = HashMap::with_capacity(rows.len());
    for row in &rows {
        let oid: u32 = get(row, query, 0, "oid")?;
        let schema: String = get(row, query, 1, "nspname")?;
        let name: String = get(row, query, 2, "relname")?;
        let relkind: String = get(row, query, 3, "relkind")?;
        let estimate: Option<i64> = get(row, query, 4, "estimate")?;
        let Some(kind) = TableKind::from_relkind(&relkind) else {
            continue;
        };
        if !filter.matches(&schema, &name) {
            continue;
        }
        index_of.insert(oid, tables.len());
        tables.push(TableInfo {
            schema,
            name,
            kind,
            columns: Vec::new(),
            primary_key: Vec::new(),
            row_estimate: estimate.and_then(|n| u64::try_from(n).ok()),
        });
    }
    drop(rows);
    let oids: Vec<u32> = index_of.keys().copied().collect();
    if oids.is_empty() {
        return Ok(tables);
    }

    let query = "types";
    let mut types: HashMap<u32, TypeRow> = HashMap::new();
    for row in transaction
        .query(TYPES_SQL, &[&oids])
        .map_err(|source| DiscoveryError::Query { query, source })?
    {
        let oid: u32 = get(&row, query, 0, "oid")?;
        types.insert(
            oid,
            TypeRow {
                name: get(&row, query, 1, "typname")?,
                typtype: get(&row, query, 2, "typtype")?,
                base: get(&row, query, 3, "typbasetype")?,
                typmod: get(&row, query, 4, "typtypmod")?,
                is_array: get(&row, query, 5, "is_array")?,
                element: get(&row, query, 6, "typelem")?,
            },
        );
    }

    let query = "columns";
    for row in transaction
        .query(COLUMNS_SQL, &[&oids])
        .map_err(|source| DiscoveryError::Query { query, source })?
    {
        let relation: u32 = get(&row, query, 0, "attrelid")?;
        let Some(table) = index_of.get(&relation).and_then(|i| tables.get_mut(*i)) else {
            continue;
        };
        let type_oid: u32 = get(&row, query, 2, "atttypid")?;
        let typmod: i32 = get(&row, query, 3, "atttypmod")?;
        let sql_datatype: String = get(&row, query, 4, "sql_datatype")?;
        let not_null: bool = get(&row, query, 5, "attnotnull")?;
        let generated: bool = get(&row, query, 6, "generated")?;
        let (ty, array) = resolve(&types, type_oid, typmod);
        table.columns.push(ColumnInfo {
            name: get(&row, query, 1, "attname")?,
            nullable: !not_null,
            codec: Codec::new(sql_datatype, &ty, array, policy),
            type_oid,
            typmod,
            generated,
        });
    }

    let query = "primary keys";
    for row in transaction
        .query(PRIMARY_KEYS_SQL, &[&oids])
        .map_err(|source| DiscoveryError::Query { query, source })?
    {
        let relation: u32 = get(&row, query, 0, "indrelid")?;
        if let Some(table) = index_of.get(&relation).and_then(|i| tables.get_mut(*i)) {
            table.primary_key.push(get(&row, query, 1, "attname")?);
        }
    }

    transaction
        .commit()
        .map_err(|source| DiscoveryError::Query {
            query: "transaction",
            source,
        })?;
    tracing::debug!(tables = tables.len(), "Discovered tables.");
    Ok(tables)
}

/// Follows domains to their base type (taking the first type modifier met:
/// the column's, else the nearest domain's) and an array to its element.
fn resolve(types: &HashMap<u32, TypeRow>, oid: u32, typmod: i32) -> (PgType, bool) {
    let mut oid = oid;
    let mut typmod = typmod;
    let mut array = false;
    let mut name = String::new();
    let mut is_enum = false;
    // The bound only guards against a malformed catalog; domains do not nest deeply.
    for _ in 0..64 {
        let Some(ty) = types.get(&oid) else { break };
        name.clone_from(&ty.name);
        is_enum = ty.typtype == "e";
        if ty.typtype == "d" {
            if typmod < 0 {
                typmod = ty.typmod;
            }
            oid = ty.base;
        } else if ty.is_array && !array {
            array = true;
            oid = ty.element;
        } else {
            break;
        }
    }
    (
        PgType {
            oid,
            name,
            is_enum,
            typmod,
        },
        array,
    )
}

fn get<'a, T: postgres::types::FromSql<'a>>(
    row: &'a postgres::Row,
    query: &'static str,
    index: usize,
    column: &'static str,
) -> Result<T, DiscoveryError> {
    row.try_get(index).map_err(|source| DiscoveryError::Row {
        query,
        column,
        source,
    })
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod pg_tests;
