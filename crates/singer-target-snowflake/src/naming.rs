//! Stream → table and property → column names.
//!
//! Rules (pipelinewise-target-snowflake's habits are the default):
//!
//! - **Every identifier is quoted** in every statement (`"` doubled inside),
//!   so spaces, quotes, reserved words (`"SELECT"`) and Unicode are kept.
//! - **Case**: with `identifier_case: upper` (default) a name is folded to
//!   upper case (Unicode-aware), which is what the same name unquoted means
//!   in Snowflake, so `SELECT id FROM users` finds the column `"ID"` of the
//!   table `"USERS"`. With `preserve` names are kept exactly.
//! - **Streams**: a stream with a `-` is `<source schema>-<table>` (the
//!   tap-postgres/pipelinewise `tap_stream_id`): the text before the first
//!   `-` is the source schema, the rest (dashes included) the table. The
//!   target schema is `schema_mapping[<source schema>].target_schema`, else
//!   `default_target_schema`, else the source schema itself. A stream
//!   without `-` (manifest mode: `GITLAB_DB_ISSUES`) is the table name, in
//!   `default_target_schema`. So `public-users` → `"ANALYTICS"."USERS"`.
//! - **Collisions fail, never merge**: two properties of one stream, or two
//!   streams of one run, that map to the same identifier are an error naming
//!   both (switch to `preserve`, rename in the tap, or map the schemas
//!   apart). Names longer than 255 characters (Snowflake's limit) and empty
//!   names are errors too.

use std::collections::BTreeMap;

use crate::config::{IdentifierCase, SnowflakeConfig};
use crate::error::{Error, Result};

/// Snowflake's longest identifier, in characters.
pub const MAX_IDENTIFIER_CHARS: usize = 255;

/// `name` as a quoted identifier: `"a""b"`.
#[must_use]
pub fn quote(name: &str) -> String {
    let mut quoted = String::with_capacity(name.len() + 2);
    quoted.push('"');
    for c in name.chars() {
        if c == '"' {
            quoted.push('"');
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted
}

/// `name` under the identifier case rule.
#[must_use]
pub fn fold(name: &str, case: IdentifierCase) -> String {
    match case {
        IdentifierCase::Upper => name.to_uppercase(),
        IdentifierCase::Preserve => name.to_owned(),
    }
}

/// A target table: schema and table identifiers (unquoted, folded).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TableName {
    /// The schema.
    pub schema: String,
    /// The table.
    pub table: String,
}

impl TableName {
    /// `"SCHEMA"."TABLE"`.
    #[must_use]
    pub fn sql(&self) -> String {
        format!("{}.{}", quote(&self.schema), quote(&self.table))
    }
}

impl std::fmt::Display for TableName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.sql())
    }
}

/// The table a stream loads into (see the module docs).
///
/// # Errors
///
/// [`Error::Naming`] when no schema can be chosen, or a name is empty or
/// too long.
///
/// ```
/// use singer_target_snowflake::{SnowflakeConfig, table_for_stream};
///
/// let mut config = SnowflakeConfig::new("acct", "me", "RAW");
/// config.default_target_schema = Some("analytics".to_owned());
/// assert_eq!(table_for_stream("public-users", &config)?.sql(), r#""ANALYTICS"."USERS""#);
/// assert_eq!(table_for_stream("GITLAB_DB_ISSUES", &config)?.sql(), r#""ANALYTICS"."GITLAB_DB_ISSUES""#);
/// # Ok::<(), singer_target_snowflake::Error>(())
/// ```
pub fn table_for_stream(stream: &str, config: &SnowflakeConfig) -> Result<TableName> {
    let naming = |reason: String| Error::Naming {
        stream: stream.to_owned(),
        reason,
    };
    let (source_schema, table) = match stream.split_once('-') {
        Some((schema, table)) => (Some(schema), table),
        None => (None, stream),
    };
    let schema = source_schema
        .and_then(|s| config.schema_mapping.get(s))
        .map(|m| m.target_schema.clone())
        .or_else(|| config.default_target_schema.clone())
        .or_else(|| source_schema.map(str::to_owned))
        .ok_or_else(|| {
            naming("the stream has no schema part and default_target_schema is not set".to_owned())
        })?;
    let name = TableName {
        schema: fold(&schema, config.identifier_case),
        table: fold(table, config.identifier_case),
    };
    check_identifier(&name.schema).map_err(|r| naming(format!("schema name: {r}")))?;
    check_identifier(&name.table).map_err(|r| naming(format!("table name: {r}")))?;
    Ok(name)
}

/// Column identifiers for a stream's properties, in order.
///
/// # Errors
///
/// [`Error::Naming`] when two properties fold to the same identifier, or a
/// name is empty or too long.
pub fn column_names(
    stream: &str,
    properties: &[String],
    case: IdentifierCase,
) -> Result<Vec<String>> {
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    let mut names = Vec::with_capacity(properties.len());
    for property in properties {
        let name = fold(property, case);
        check_identifier(&name).map_err(|reason| Error::Naming {
            stream: stream.to_owned(),
            reason: format!("property {property:?}: {reason}"),
        })?;
        if let Some(other) = seen.insert(name.clone(), property) {
            return Err(Error::Naming {
                stream: stream.to_owned(),
                reason: format!(
                    "properties {other:?} and {property:?} both become column {}; set identifier_case to \
                     preserve or rename one in the tap",
                    quote(&name)
                ),
            });
        }
        names.push(name);
    }
    Ok(names)
}

fn check_identifier(name: &str) -> std::result::Result<(), String> {
    if name.is_empty() {
        return Err("empty".to_owned());
    }
    let chars = name.chars().count();
    if chars > MAX_IDENTIFIER_CHARS {
        return Err(format!(
            "{chars} characters, more than Snowflake's {MAX_IDENTIFIER_CHARS}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SchemaMapping;

    #[test]
    fn streams_map_to_schema_and_table() {
        let mut config = SnowflakeConfig::new("a", "u", "d");
        assert_eq!(
            table_for_stream("public-my-table", &config)
                .expect("name")
                .sql(),
            r#""PUBLIC"."MY-TABLE""#
        );
        assert!(table_for_stream("GITLAB_DB_ISSUES", &config).is_err());
        config.default_target_schema = Some("raw".to_owned());
        config.schema_mapping.insert(
            "sales".to_owned(),
            SchemaMapping {
                target_schema: "Sales Raw".to_owned(),
            },
        );
        assert_eq!(
            table_for_stream("sales-orders", &config)
                .expect("name")
                .sql(),
            r#""SALES RAW"."ORDERS""#
        );
        assert_eq!(
            table_for_stream("public-users", &config)
                .expect("name")
                .sql(),
            r#""RAW"."USERS""#
        );
        config.identifier_case = IdentifierCase::Preserve;
        assert_eq!(
            table_for_stream(r#"public-we"ird"#, &config)
                .expect("name")
                .sql(),
            r#""raw"."we""ird""#
        );
        assert!(table_for_stream(&"x".repeat(300), &config).is_err());
    }

    #[test]
    fn columns_fold_and_collisions_fail() {
        let props = vec!["id".to_owned(), "été".to_owned(), "a \"b\"".to_owned()];
        assert_eq!(
            column_names("s", &props, IdentifierCase::Upper).expect("names"),
            ["ID", "ÉTÉ", "A \"B\""]
        );
        let clash = vec!["id".to_owned(), "ID".to_owned()];
        let error = column_names("s", &clash, IdentifierCase::Upper).expect_err("collision");
        assert!(
            error.to_string().contains("both become column \"ID\""),
            "{error}"
        );
        assert!(column_names("s", &clash, IdentifierCase::Preserve).is_ok());
        assert_eq!(quote("a\"b"), "\"a\"\"b\"");
    }
}
