//! Reading GitLab postgres_pipeline manifests (and the separate
//! connection-info file) exactly as upstream wrote them.
//!
//! The YAML is read into a generic tree first and every key is then checked
//! by hand, so an error names the table and the key (`table "issues": key
//! `advanced_metadata` must be a boolean, not a string`) and an unknown key
//! is a warning, never fatal: existing manifests keep working.

use serde_json::{Map, Value};
use tracing::warn;

use super::connection::ConnectionInfo;

/// Why a manifest or connection-info file cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// The text is not YAML.
    #[error("not valid YAML: {message}")]
    Yaml {
        /// The parser's message (with line and column).
        message: String,
    },
    /// The document does not have the manifest's shape.
    #[error("{reason}")]
    Shape {
        /// What is wrong.
        reason: String,
    },
    /// A table lacks a required key.
    #[error("table {table:?}: missing required key `{key}`")]
    MissingKey {
        /// The table's key in `tables`.
        table: String,
        /// The missing key.
        key: &'static str,
    },
    /// A key has a value of the wrong type.
    #[error("table {table:?}: key `{key}` must be {expected}, not {found}")]
    WrongType {
        /// The table's key in `tables` (or `connection_info`).
        table: String,
        /// The key.
        key: String,
        /// What it must be.
        expected: &'static str,
        /// What it is.
        found: &'static str,
    },
    /// A key has a value of the right type that is still unusable.
    #[error("table {table:?}: key `{key}`: {reason}")]
    BadValue {
        /// The table's key in `tables`.
        table: String,
        /// The key.
        key: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// `--table` named a table the manifest does not have.
    #[error("unknown table {table:?}; the manifest's tables are: {valid}")]
    UnknownTable {
        /// The name given.
        table: String,
        /// The valid keys, comma-separated.
        valid: String,
    },
    /// Two tables would write the same stream.
    #[error("tables {first:?} and {second:?} both write stream {stream:?}")]
    DuplicateStream {
        /// The stream name.
        stream: String,
        /// The first table.
        first: String,
        /// The second table.
        second: String,
    },
    /// `connection_info` names an environment variable that is not set.
    #[error("connection_info key `{key}` names environment variable {var}, which is not set")]
    MissingEnv {
        /// The connection_info key.
        key: String,
        /// The variable.
        var: String,
    },
    /// A connection value is unusable (the value itself is never shown).
    #[error("connection_info key `{key}` (environment variable {var}): {reason}")]
    BadConnectionValue {
        /// The connection_info key.
        key: String,
        /// The variable.
        var: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The connection-info file has no block for the database type.
    #[error(
        "connection-info file has no block for database type {database_type:?} (looked for `postgres_source_connection_{database_type}` and `{database_type}`); it has: {available}"
    )]
    UnknownDatabaseType {
        /// The database type asked for.
        database_type: String,
        /// The blocks present, comma-separated.
        available: String,
    },
}

/// `incremental_type`: how an incremental table is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IncrementalType {
    /// `load_by_id`: continue after the highest primary key loaded.
    LoadById,
}

/// How a table is loaded, by upstream's rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableKind {
    /// The query carries `{BEGIN_TIMESTAMP}` or `{EXECUTION_DATE}`: a time window.
    Incremental,
    /// `incremental_type: load_by_id`: by primary key.
    LoadById,
    /// Neither: a full (SCD) copy every run.
    Full,
}

/// One entry of `tables`, with every key upstream manifests use.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TableSpec {
    /// The entry's key in `tables` (what `--table` matches).
    pub key: String,
    /// `import_db`: a label; part of the upstream target name.
    pub import_db: String,
    /// `import_query`: the operator's SQL template.
    pub import_query: String,
    /// `export_schema`: a label.
    pub export_schema: Option<String>,
    /// `export_table`: part of the target name.
    pub export_table: String,
    /// `export_table_primary_key`: one column; drives key ranges.
    pub export_table_primary_key: String,
    /// `additional_filtering`: SQL appended after the query.
    pub additional_filtering: Option<String>,
    /// `advanced_metadata`: add `_task_instance`.
    pub advanced_metadata: bool,
    /// `incremental_type`.
    pub incremental_type: Option<IncrementalType>,
    /// `database_type` (main, ci, cells, customers, ops).
    pub database_type: Option<String>,
    /// `deletes_exempt` (orchestration only).
    pub deletes_exempt: Option<bool>,
    /// `is_incremental` (informational).
    pub is_incremental: Option<bool>,
    /// `append_only` (orchestration only).
    pub append_only: Option<bool>,
    /// `dbt_snapshots` (informational; any value).
    pub dbt_snapshots: Option<Value>,
    /// `dbt_source_model` (informational; any value).
    pub dbt_source_model: Option<Value>,
    /// `export_db` (informational).
    pub export_db: Option<String>,
    /// `import_schema` (informational).
    pub import_schema: Option<String>,
}

impl TableSpec {
    /// Upstream's classification: incremental iff the query has
    /// `{BEGIN_TIMESTAMP}` or `{EXECUTION_DATE}`, or `incremental_type` is
    /// set; otherwise full (SCD).
    #[must_use]
    pub fn kind(&self) -> TableKind {
        if self.incremental_type == Some(IncrementalType::LoadById) {
            TableKind::LoadById
        } else if self.import_query.contains("{BEGIN_TIMESTAMP}")
            || self.import_query.contains("{EXECUTION_DATE}")
        {
            TableKind::Incremental
        } else {
            TableKind::Full
        }
    }

    /// Upstream's target table name: `upper(import_db + "_" + export_table)`.
    #[must_use]
    pub fn upstream_name(&self) -> String {
        format!("{}_{}", self.import_db, self.export_table).to_uppercase()
    }
}

/// A parsed manifest.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Manifest {
    /// Top-level `connection_info`, if present.
    pub connection_info: Option<ConnectionInfo>,
    /// `tables`, in file order.
    pub tables: Vec<TableSpec>,
    /// Keys that were not understood (`tables.issues.colour`), warned about.
    pub unknown_keys: Vec<String>,
}

const TABLE_KEYS: &[&str] = &[
    "import_db",
    "import_query",
    "export_schema",
    "export_table",
    "export_table_primary_key",
    "additional_filtering",
    "advanced_metadata",
    "incremental_type",
    "database_type",
    "deletes_exempt",
    "is_incremental",
    "dbt_snapshots",
    "dbt_source_model",
    "export_db",
    "import_schema",
    "append_only",
];

impl Manifest {
    /// Parses a manifest's text.
    ///
    /// # Errors
    ///
    /// [`ManifestError`] naming the table and key of the first problem.
    pub fn parse(text: &str) -> Result<Self, ManifestError> {
        let root = parse_yaml(text)?;
        let root = root.as_object().ok_or_else(|| ManifestError::Shape {
            reason: format!(
                "a manifest must be a mapping with `tables`, not {}",
                kind_of(&root)
            ),
        })?;
        let mut manifest = Self::default();
        for (key, value) in root {
            match key.as_str() {
                "connection_info" => {
                    manifest.connection_info =
                        Some(ConnectionInfo::from_value(value, "connection_info")?);
                }
                "tables" => {}
                other => manifest.unknown(other.to_owned()),
            }
        }
        let tables = root.get("tables").ok_or_else(|| ManifestError::Shape {
            reason: "the manifest has no `tables` mapping".to_owned(),
        })?;
        let tables = tables.as_object().ok_or_else(|| ManifestError::Shape {
            reason: format!(
                "`tables` must be a mapping of table keys to tables, not {}",
                kind_of(tables)
            ),
        })?;
        for (key, value) in tables {
            let table = manifest.table(key, value)?;
            manifest.tables.push(table);
        }
        Ok(manifest)
    }

    fn unknown(&mut self, path: String) {
        warn!(key = %path, "Unknown manifest key ignored.");
        self.unknown_keys.push(path);
    }

    fn table(&mut self, key: &str, value: &Value) -> Result<TableSpec, ManifestError> {
        let map = value.as_object().ok_or_else(|| ManifestError::Shape {
            reason: format!(
                "table {key:?} must be a mapping of settings, not {}",
                kind_of(value)
            ),
        })?;
        for name in map.keys() {
            if !TABLE_KEYS.contains(&name.as_str()) {
                self.unknown(format!("tables.{key}.{name}"));
            }
        }
        let t = Keys { table: key, map };
        let incremental_type = match t.string("incremental_type")? {
            None => None,
            Some(text) if text == "load_by_id" => Some(IncrementalType::LoadById),
            Some(other) => {
                return Err(ManifestError::BadValue {
                    table: key.to_owned(),
                    key: "incremental_type",
                    reason: format!("{other:?} is not a known incremental type (load_by_id)"),
                });
            }
        };
        let spec = TableSpec {
            key: key.to_owned(),
            import_db: t.required("import_db")?,
            import_query: t.required("import_query")?,
            export_schema: t.string("export_schema")?,
            export_table: t.required("export_table")?,
            export_table_primary_key: t.required("export_table_primary_key")?,
            additional_filtering: t.string("additional_filtering")?,
            advanced_metadata: t.boolean("advanced_metadata")?.unwrap_or(false),
            incremental_type,
            database_type: t.string("database_type")?,
            deletes_exempt: t.boolean("deletes_exempt")?,
            is_incremental: t.boolean("is_incremental")?,
            append_only: t.boolean("append_only")?,
            dbt_snapshots: map.get("dbt_snapshots").cloned(),
            dbt_source_model: map.get("dbt_source_model").cloned(),
            export_db: t.string("export_db")?,
            import_schema: t.string("import_schema")?,
        };
        for (name, value) in [
            ("import_query", &spec.import_query),
            ("export_table", &spec.export_table),
            ("export_table_primary_key", &spec.export_table_primary_key),
        ] {
            if value.trim().is_empty() {
                return Err(ManifestError::BadValue {
                    table: key.to_owned(),
                    key: name,
                    reason: "must not be empty".to_owned(),
                });
            }
        }
        Ok(spec)
    }

    /// The table whose key is `key`.
    ///
    /// # Errors
    ///
    /// [`ManifestError::UnknownTable`] listing the valid keys.
    pub fn table_by_key(&self, key: &str) -> Result<&TableSpec, ManifestError> {
        self.tables
            .iter()
            .find(|t| t.key == key)
            .ok_or_else(|| ManifestError::UnknownTable {
                table: key.to_owned(),
                valid: self
                    .tables
                    .iter()
                    .map(|t| t.key.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

pub(super) fn parse_yaml(text: &str) -> Result<Value, ManifestError> {
    serde_saphyr::from_str::<Value>(text).map_err(|e| ManifestError::Yaml {
        message: e.to_string(),
    })
}

/// The keys of one table, read with errors that name it.
struct Keys<'a> {
    table: &'a str,
    map: &'a Map<String, Value>,
}

impl Keys<'_> {
    fn wrong(&self, key: &str, expected: &'static str, value: &Value) -> ManifestError {
        ManifestError::WrongType {
            table: self.table.to_owned(),
            key: key.to_owned(),
            expected,
            found: kind_of(value),
        }
    }

    fn string(&self, key: &'static str) -> Result<Option<String>, ManifestError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(self.wrong(key, "a string", other)),
        }
    }

    fn required(&self, key: &'static str) -> Result<String, ManifestError> {
        self.string(key)?.ok_or_else(|| ManifestError::MissingKey {
            table: self.table.to_owned(),
            key,
        })
    }

    /// A boolean; YAML 1.1 spellings (`yes`, `off`...) count, as PyYAML
    /// read them upstream.
    fn boolean(&self, key: &'static str) -> Result<Option<bool>, ManifestError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) => match s.to_ascii_lowercase().as_str() {
                "true" | "yes" | "on" | "y" => Ok(Some(true)),
                "false" | "no" | "off" | "n" => Ok(Some(false)),
                _ => Err(self.wrong(key, "a boolean", &Value::String(s.clone()))),
            },
            Some(other) => Err(self.wrong(key, "a boolean", other)),
        }
    }
}

pub(super) fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::connection::connection_info_for;

    const MANIFEST: &str = r"
connection_info:
  database: DB_NAME
  host: DB_HOST
  pass: DB_PASS
  port: DB_PORT
  user: DB_USER
tables:
  issues:
    import_db: GITLAB_DB
    export_schema: gitlab_com
    export_table: issues
    export_table_primary_key: id
    advanced_metadata: true
    colour: blue
    import_query: |-
      SELECT id, updated_at FROM issues
      WHERE updated_at BETWEEN '{BEGIN_TIMESTAMP}'::timestamp AND '{END_TIMESTAMP}'::timestamp
  users:
    import_db: GITLAB_DB
    export_table: users
    export_table_primary_key: id
    deletes_exempt: yes
    import_query: SELECT id FROM users
  events:
    import_db: GITLAB_DB
    export_table: events
    export_table_primary_key: id
    incremental_type: load_by_id
    import_query: SELECT id FROM events
";

    #[test]
    fn upstream_shape_parses_with_kinds_names_and_warnings() {
        let manifest = Manifest::parse(MANIFEST).expect("valid");
        let keys: Vec<&str> = manifest.tables.iter().map(|t| t.key.as_str()).collect();
        assert_eq!(keys, ["issues", "users", "events"]);
        let issues = &manifest.tables[0];
        assert_eq!(issues.kind(), TableKind::Incremental);
        assert!(issues.advanced_metadata);
        assert_eq!(issues.upstream_name(), "GITLAB_DB_ISSUES");
        assert!(
            issues.import_query.contains("\n"),
            "block scalar kept as written"
        );
        assert_eq!(manifest.tables[1].kind(), TableKind::Full);
        assert_eq!(manifest.tables[1].deletes_exempt, Some(true));
        assert_eq!(manifest.tables[2].kind(), TableKind::LoadById);
        assert_eq!(manifest.unknown_keys, ["tables.issues.colour"]);
        let env = |name: &str| match name {
            "DB_HOST" => Some("db".to_owned()),
            "DB_PORT" => Some("5433".to_owned()),
            "DB_USER" | "DB_NAME" => Some("gitlab".to_owned()),
            "DB_PASS" => Some("hunter2".to_owned()),
            _ => None,
        };
        let resolved = manifest
            .connection_info
            .expect("connection_info")
            .resolve(env)
            .expect("resolved");
        assert_eq!(resolved.port, Some(5433));
        assert!(!format!("{resolved:?}").contains("hunter2"));
    }

    #[test]
    fn errors_name_the_table_and_the_key() {
        let cases = [
            (
                "tables:\n  t:\n    import_db: X\n    export_table: t\n    export_table_primary_key: id\n",
                "table \"t\": missing required key `import_query`",
            ),
            (
                "tables:\n  t:\n    import_db: X\n    import_query: SELECT 1\n    export_table: t\n    export_table_primary_key: id\n    advanced_metadata: [1]\n",
                "table \"t\": key `advanced_metadata` must be a boolean, not a list",
            ),
            (
                "tables:\n  t:\n    import_db: X\n    import_query: 42\n    export_table: t\n    export_table_primary_key: id\n",
                "table \"t\": key `import_query` must be a string, not a number",
            ),
            (
                "tables: [a]\n",
                "`tables` must be a mapping of table keys to tables, not a list",
            ),
            (
                "connection_info: {}\n",
                "the manifest has no `tables` mapping",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(
                Manifest::parse(text).expect_err(expected).to_string(),
                expected
            );
        }
        let manifest = Manifest::parse(MANIFEST).expect("valid");
        assert_eq!(
            manifest
                .table_by_key("isues")
                .expect_err("unknown")
                .to_string(),
            "unknown table \"isues\"; the manifest's tables are: issues, users, events"
        );
    }

    #[test]
    fn connection_info_file_blocks_by_database_type() {
        let text = "postgres_source_connection_main:\n  host: MAIN_HOST\npostgres_source_connection_ci:\n  host: CI_HOST\n";
        let ci = connection_info_for(text, "ci").expect("ci block");
        assert_eq!(ci.vars, [("host".to_owned(), "CI_HOST".to_owned())]);
        assert_eq!(
            connection_info_for(text, "ops")
                .expect_err("none")
                .to_string(),
            "connection-info file has no block for database type \"ops\" (looked for `postgres_source_connection_ops` and `ops`); it has: postgres_source_connection_main, postgres_source_connection_ci"
        );
        let missing = ci.resolve(|_| None).expect_err("unset").to_string();
        assert_eq!(
            missing,
            "connection_info key `host` names environment variable CI_HOST, which is not set"
        );
    }
}
