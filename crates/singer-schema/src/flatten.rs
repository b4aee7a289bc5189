//! Flattening (opt-in), as the Meltano SDK does it.
//!
//! With `flattening_enabled` and `flattening_max_depth: n`, an object
//! property that declares `properties` is replaced by its children, named
//! `parent__child`, down to `n` levels. Objects below that depth, objects
//! without `properties`, and arrays stay one column each: their values are
//! written as JSON text (a string), as the SDK does, so the column is
//! [`crate::ColumnType::Json`] and loaders parse the text.
//!
//! Differences from the SDK, on purpose:
//!
//! - Flattened properties keep the schema's order (the SDK sorts them by
//!   name); column order follows the tap everywhere in this workspace. The
//!   set of names is the same.
//! - JSON text is compact (`{"a":1}`), the SDK writes Python's
//!   `json.dumps` spacing (`{"a": 1}`); both parse to the same value, and
//!   numbers keep their exact digits here.
//! - The SDK shortens names past 255 characters; we keep them whole and
//!   leave identifier limits to the loader.
//! - Two properties that flatten to one name are an error naming both
//!   paths, for schemas and for records (the SDK raises for schemas only).
//!
//! Validate a record against the *original* schema before flattening it:
//! flattened JSON columns hold text, which the original `object` types
//! would reject.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// The separator between a parent and a child name.
pub const FLATTEN_SEPARATOR: &str = "__";

/// The Meltano SDK's flattening settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FlatteningConfig {
    /// Whether nested objects become `parent__child` columns (default off).
    pub flattening_enabled: bool,
    /// How many levels are flattened (default 0: none).
    pub flattening_max_depth: usize,
}

impl FlatteningConfig {
    /// The depth to flatten to: 0 unless enabled.
    #[must_use]
    pub const fn depth(&self) -> usize {
        if self.flattening_enabled {
            self.flattening_max_depth
        } else {
            0
        }
    }
}

/// A stream's schema flattened, and the records to match.
#[derive(Debug, Clone)]
pub struct Flattener {
    schema: Value,
    max_depth: usize,
}

impl Flattener {
    /// Flattens `schema` to `max_depth` levels.
    ///
    /// # Errors
    ///
    /// [`Error::FlattenCollision`] if two properties flatten to one name.
    pub fn new(schema: &Value, max_depth: usize) -> Result<Self> {
        Ok(Self {
            schema: flatten_schema(schema, max_depth)?,
            max_depth,
        })
    }

    /// The flattened schema (what column types are derived from).
    #[must_use]
    pub const fn schema(&self) -> &Value {
        &self.schema
    }

    /// Flattens one record to the flattened schema's names.
    ///
    /// # Errors
    ///
    /// [`Error::FlattenCollision`] if two of the record's properties
    /// flatten to one name.
    pub fn flatten_record(&self, record: &Map<String, Value>) -> Result<Map<String, Value>> {
        let properties = self.schema.get("properties").and_then(Value::as_object);
        let mut out = Map::with_capacity(record.len());
        let mut prefix = String::new();
        if flatten_record_into(record, properties, &mut prefix, 0, self.max_depth, &mut out) {
            Ok(out)
        } else {
            Err(record_collision(record, properties, self.max_depth))
        }
    }
}

/// Flattens a stream schema's `properties` to `max_depth` levels (see the
/// module docs). Other top-level keywords are kept.
///
/// # Errors
///
/// [`Error::FlattenCollision`] if two properties flatten to one name.
///
/// # Example
///
/// ```
/// use serde_json::json;
/// use singer_schema::flatten_schema;
///
/// let schema = json!({"type": "object", "properties": {
///     "id": {"type": "integer"},
///     "author": {"type": "object", "properties": {"id": {"type": "integer"}}},
/// }});
/// let flat = flatten_schema(&schema, 1)?;
/// assert_eq!(flat["properties"]["author__id"], json!({"type": "integer"}));
/// # Ok::<(), singer_schema::Error>(())
/// ```
pub fn flatten_schema(schema: &Value, max_depth: usize) -> Result<Value> {
    let Some(Value::Object(properties)) = schema.get("properties") else {
        return Ok(schema.clone());
    };
    let mut flat = Map::with_capacity(properties.len());
    let mut paths: Vec<(String, String)> = Vec::new();
    flatten_properties(properties, "", "", 0, max_depth, &mut flat, &mut paths)?;
    let mut out = schema.clone();
    if let Value::Object(map) = &mut out {
        map.insert("properties".to_owned(), Value::Object(flat));
    }
    Ok(out)
}

/// Whether the SDK flattens this property's schema: an `object` type with
/// non-empty `properties`.
fn flattens(schema: &Value) -> Option<&Map<String, Value>> {
    let is_object = match schema.get("type") {
        Some(Value::String(t)) => t == "object",
        Some(Value::Array(types)) => types.iter().any(|t| t == "object"),
        _ => false,
    };
    let properties = schema.get("properties")?.as_object()?;
    (is_object && !properties.is_empty()).then_some(properties)
}

fn join_name(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}{FLATTEN_SEPARATOR}{name}")
    }
}

fn join_path(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}.{name}")
    }
}

fn flatten_properties(
    properties: &Map<String, Value>,
    prefix: &str,
    path: &str,
    level: usize,
    max_depth: usize,
    out: &mut Map<String, Value>,
    paths: &mut Vec<(String, String)>,
) -> Result<()> {
    for (name, schema) in properties {
        let key = join_name(prefix, name);
        let key_path = join_path(path, name);
        match flattens(schema) {
            Some(children) if level < max_depth => {
                flatten_properties(children, &key, &key_path, level + 1, max_depth, out, paths)?;
            }
            _ => {
                if let Some((_, first)) = paths.iter().find(|(k, _)| *k == key) {
                    return Err(Error::FlattenCollision {
                        name: key,
                        first: first.clone(),
                        second: key_path,
                    });
                }
                out.insert(key.clone(), schema.clone());
                paths.push((key, key_path));
            }
        }
    }
    Ok(())
}

/// Returns `false` on a collision (the caller then finds both paths).
fn flatten_record_into(
    record: &Map<String, Value>,
    flat_properties: Option<&Map<String, Value>>,
    prefix: &mut String,
    level: usize,
    max_depth: usize,
    out: &mut Map<String, Value>,
) -> bool {
    for (name, value) in record {
        let len = prefix.len();
        if !prefix.is_empty() {
            prefix.push_str(FLATTEN_SEPARATOR);
        }
        prefix.push_str(name);
        let descend = match value {
            Value::Object(_) if level < max_depth => {
                flat_properties.is_none_or(|p| !p.contains_key(prefix.as_str()))
            }
            _ => false,
        };
        let ok = match value {
            Value::Object(children) if descend => {
                flatten_record_into(children, flat_properties, prefix, level + 1, max_depth, out)
            }
            _ => {
                let leaf = match value {
                    Value::Object(_) | Value::Array(_) => Value::String(value.to_string()),
                    other => other.clone(),
                };
                out.insert(prefix.clone(), leaf).is_none()
            }
        };
        prefix.truncate(len);
        if !ok {
            return false;
        }
    }
    true
}

/// Finds the two record paths that flatten to one name.
fn record_collision(
    record: &Map<String, Value>,
    flat_properties: Option<&Map<String, Value>>,
    max_depth: usize,
) -> Error {
    let mut leaves = Vec::new();
    collect_leaves(record, flat_properties, "", "", 0, max_depth, &mut leaves);
    for (i, (key, path)) in leaves.iter().enumerate() {
        if let Some((_, first)) = leaves.iter().take(i).find(|(k, _)| k == key) {
            return Error::FlattenCollision {
                name: key.clone(),
                first: first.clone(),
                second: path.clone(),
            };
        }
    }
    // Unreachable in practice: the first pass found a repeated name.
    Error::FlattenCollision {
        name: String::new(),
        first: String::new(),
        second: String::new(),
    }
}

fn collect_leaves(
    record: &Map<String, Value>,
    flat_properties: Option<&Map<String, Value>>,
    prefix: &str,
    path: &str,
    level: usize,
    max_depth: usize,
    leaves: &mut Vec<(String, String)>,
) {
    for (name, value) in record {
        let key = join_name(prefix, name);
        let key_path = join_path(path, name);
        match value {
            Value::Object(children)
                if level < max_depth
                    && flat_properties.is_none_or(|p| !p.contains_key(key.as_str())) =>
            {
                collect_leaves(
                    children,
                    flat_properties,
                    &key,
                    &key_path,
                    level + 1,
                    max_depth,
                    leaves,
                );
            }
            _ => leaves.push((key, key_path)),
        }
    }
}
