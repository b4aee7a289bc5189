//! Singer catalogs: streams, their schemas and metadata, and the selection
//! rules.
//!
//! Two spellings of the same facts exist in the wild. Classic Singer taps
//! (pipelinewise) read the metadata spelling on the stream's root breadcrumb
//! (`replication-method`, `replication-key`, `table-key-properties`);
//! Meltano writes, and SDK taps read, top-level `replication_method`,
//! `replication_key` and `key_properties` on each entry. This module reads
//! both (metadata first, then the top-level key) and
//! [`CatalogEntry::set_replication`] writes both, so a catalog works with
//! either world.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// Metadata key: whether the user selected the stream or property.
pub const SELECTED: &str = "selected";
/// Metadata key: whether a stream or property is selected when the user said nothing.
pub const SELECTED_BY_DEFAULT: &str = "selected-by-default";
/// Metadata key: `available`, `automatic` or `unsupported`.
pub const INCLUSION: &str = "inclusion";
/// Metadata key: the stream's replication method.
pub const REPLICATION_METHOD: &str = "replication-method";
/// Metadata key: the stream's replication key.
pub const REPLICATION_KEY: &str = "replication-key";
/// Metadata key: the stream's primary key columns.
pub const TABLE_KEY_PROPERTIES: &str = "table-key-properties";
/// Metadata key: the replication method the tap insists on.
pub const FORCED_REPLICATION_METHOD: &str = "forced-replication-method";
/// Metadata key: the columns that can serve as replication key.
pub const VALID_REPLICATION_KEYS: &str = "valid-replication-keys";
/// Top-level entry key (Meltano/SDK spelling) for the replication method.
pub const TOP_REPLICATION_METHOD: &str = "replication_method";
/// Top-level entry key (Meltano/SDK spelling) for the replication key.
pub const TOP_REPLICATION_KEY: &str = "replication_key";
/// Top-level entry key (Meltano/SDK spelling) for the key properties.
pub const TOP_KEY_PROPERTIES: &str = "key_properties";

/// How a stream is replicated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReplicationMethod {
    /// Every sync copies the whole table.
    FullTable,
    /// Every sync copies the rows at or after the bookmark of the replication key.
    Incremental,
    /// Changes are read from the database log.
    LogBased,
}

impl ReplicationMethod {
    /// The spelling on the wire: `FULL_TABLE`, `INCREMENTAL`, `LOG_BASED`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FullTable => "FULL_TABLE",
            Self::Incremental => "INCREMENTAL",
            Self::LogBased => "LOG_BASED",
        }
    }
}

impl fmt::Display for ReplicationMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A replication method name that is none of the Singer ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown replication method {value:?} (expected FULL_TABLE, INCREMENTAL or LOG_BASED)")]
pub struct UnknownReplicationMethod {
    /// The name given.
    pub value: String,
}

impl FromStr for ReplicationMethod {
    type Err = UnknownReplicationMethod;

    /// Parses the wire spelling in any letter case, with `-` or `_`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let normal = s.trim().to_ascii_uppercase().replace('-', "_");
        match normal.as_str() {
            "FULL_TABLE" => Ok(Self::FullTable),
            "INCREMENTAL" => Ok(Self::Incremental),
            "LOG_BASED" => Ok(Self::LogBased),
            _ => Err(UnknownReplicationMethod {
                value: s.to_owned(),
            }),
        }
    }
}

/// `inclusion` metadata: whether a stream or property can be chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inclusion {
    /// The user chooses.
    Available,
    /// Always emitted (primary keys, replication keys).
    Automatic,
    /// Never emitted (the tap cannot read it).
    Unsupported,
}

impl Inclusion {
    fn parse(value: &Value) -> Option<Self> {
        match value.as_str()? {
            "available" => Some(Self::Available),
            "automatic" => Some(Self::Automatic),
            "unsupported" => Some(Self::Unsupported),
            _ => None,
        }
    }
}

/// One metadata entry: the metadata of the node at `breadcrumb` (`[]` for
/// the stream, `["properties", "id"]` for a column).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetadataEntry {
    /// The path of the node in the schema.
    pub breadcrumb: Vec<String>,
    /// Its metadata.
    pub metadata: Map<String, Value>,
}

/// The metadata list of a catalog entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Metadata(pub Vec<MetadataEntry>);

impl Metadata {
    /// The metadata at `breadcrumb`, if any.
    #[must_use]
    pub fn get<S: AsRef<str>>(&self, breadcrumb: &[S]) -> Option<&Map<String, Value>> {
        self.0
            .iter()
            .find(|e| same_breadcrumb(&e.breadcrumb, breadcrumb))
            .map(|e| &e.metadata)
    }

    /// The stream-level metadata (breadcrumb `[]`), if any.
    #[must_use]
    pub fn root(&self) -> Option<&Map<String, Value>> {
        self.get::<&str>(&[])
    }

    /// The metadata of top-level property `name`, if any.
    #[must_use]
    pub fn property(&self, name: &str) -> Option<&Map<String, Value>> {
        self.get(&["properties", name])
    }

    /// Sets `key` at `breadcrumb`, creating the entry if needed.
    pub fn set<S: AsRef<str>>(&mut self, breadcrumb: &[S], key: &str, value: Value) {
        let index = match self
            .0
            .iter()
            .position(|e| same_breadcrumb(&e.breadcrumb, breadcrumb))
        {
            Some(index) => index,
            None => {
                self.0.push(MetadataEntry {
                    breadcrumb: breadcrumb.iter().map(|s| s.as_ref().to_owned()).collect(),
                    metadata: Map::new(),
                });
                self.0.len() - 1
            }
        };
        if let Some(entry) = self.0.get_mut(index) {
            entry.metadata.insert(key.to_owned(), value);
        }
    }

    /// Whether the node at `breadcrumb` is selected, by the Singer rules:
    ///
    /// 1. a parent that is not selected deselects everything under it;
    /// 2. `inclusion: unsupported` is never selected;
    /// 3. `inclusion: automatic` is always selected;
    /// 4. else an explicit `selected` decides;
    /// 5. else `selected-by-default` decides;
    /// 6. else the node is not selected for a stream, and selected for a
    ///    property (a property without metadata follows its stream, as
    ///    singer-python's `metadata.is_selected` does not — it is what
    ///    Meltano users expect when they select a whole stream).
    #[must_use]
    pub fn is_selected<S: AsRef<str>>(&self, breadcrumb: &[S]) -> bool {
        // Parents of a property breadcrumb: [], then ["properties", a], ...
        let mut end = 0;
        while end < breadcrumb.len() {
            if !self.node_selected(breadcrumb.get(..end).unwrap_or_default()) {
                return false;
            }
            end += 2;
        }
        self.node_selected(breadcrumb)
    }

    fn node_selected<S: AsRef<str>>(&self, breadcrumb: &[S]) -> bool {
        let is_stream = breadcrumb.is_empty();
        let Some(metadata) = self.get(breadcrumb) else {
            return !is_stream;
        };
        match metadata.get(INCLUSION).and_then(Inclusion::parse) {
            Some(Inclusion::Unsupported) => return false,
            Some(Inclusion::Automatic) => return true,
            _ => {}
        }
        if let Some(selected) = metadata.get(SELECTED).and_then(Value::as_bool) {
            return selected;
        }
        if let Some(selected) = metadata.get(SELECTED_BY_DEFAULT).and_then(Value::as_bool) {
            return selected;
        }
        !is_stream
    }
}

fn same_breadcrumb<S: AsRef<str>>(a: &[String], b: &[S]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y.as_ref())
}

/// One stream of a catalog.
///
/// Keys this type does not model are kept in [`CatalogEntry::extra`] and
/// written back, so a catalog passes through unchanged.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogEntry {
    /// The tap's id of the stream (`<schema>-<table>` for tap-postgres).
    pub tap_stream_id: String,
    /// The stream name used in messages.
    pub stream: String,
    /// The stream's JSON schema.
    pub schema: Value,
    /// The metadata list.
    pub metadata: Metadata,
    /// Every other key of the entry (`table_name`, `replication_method`,
    /// `key_properties`, ...), in order.
    pub extra: Map<String, Value>,
}

impl CatalogEntry {
    /// A new entry with an empty metadata list.
    pub fn new(tap_stream_id: impl Into<String>, stream: impl Into<String>, schema: Value) -> Self {
        Self {
            tap_stream_id: tap_stream_id.into(),
            stream: stream.into(),
            schema,
            metadata: Metadata::default(),
            extra: Map::new(),
        }
    }

    /// Whether the stream is selected. Besides the metadata rules, the
    /// legacy top-level `"selected": true` of old catalogs selects a stream
    /// whose metadata says nothing.
    #[must_use]
    pub fn is_selected(&self) -> bool {
        let root = self.metadata.root();
        let says = root.is_some_and(|m| {
            m.contains_key(SELECTED)
                || m.contains_key(SELECTED_BY_DEFAULT)
                || m.contains_key(INCLUSION)
        });
        if !says && let Some(selected) = self.extra.get(SELECTED).and_then(Value::as_bool) {
            return selected;
        }
        self.metadata.is_selected::<&str>(&[])
    }

    /// Whether top-level property `name` is selected (its stream must be).
    #[must_use]
    pub fn is_property_selected(&self, name: &str) -> bool {
        self.is_selected() && self.metadata.is_selected(&["properties", name])
    }

    /// The selected top-level properties, in schema order.
    #[must_use]
    pub fn selected_properties(&self) -> Vec<&str> {
        self.schema
            .get("properties")
            .and_then(Value::as_object)
            .map(|p| {
                p.keys()
                    .map(String::as_str)
                    .filter(|name| self.is_property_selected(name))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The replication method: `replication-method` metadata, else the
    /// top-level `replication_method`, else `forced-replication-method`.
    ///
    /// # Errors
    ///
    /// [`Error::Catalog`] when the value is not a known method.
    pub fn replication_method(&self) -> Result<Option<ReplicationMethod>> {
        let root = self.metadata.root();
        let value = root
            .and_then(|m| m.get(REPLICATION_METHOD))
            .or_else(|| self.extra.get(TOP_REPLICATION_METHOD))
            .or_else(|| root.and_then(|m| m.get(FORCED_REPLICATION_METHOD)))
            .filter(|v| !v.is_null());
        let Some(value) = value else { return Ok(None) };
        value
            .as_str()
            .ok_or_else(|| "replication method must be a string".to_owned())
            .and_then(|text| {
                text.parse()
                    .map_err(|e: UnknownReplicationMethod| e.to_string())
            })
            .map(Some)
            .map_err(|reason| self.error(reason))
    }

    /// The replication key: `replication-key` metadata, else the top-level
    /// `replication_key`. An empty string counts as none.
    ///
    /// # Errors
    ///
    /// [`Error::Catalog`] when the value is not a string.
    pub fn replication_key(&self) -> Result<Option<&str>> {
        let value = self
            .metadata
            .root()
            .and_then(|m| m.get(REPLICATION_KEY))
            .filter(|v| !v.is_null())
            .or_else(|| self.extra.get(TOP_REPLICATION_KEY))
            .filter(|v| !v.is_null());
        match value {
            None => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(self.error("replication key must be a string".to_owned())),
        }
    }

    /// The key properties: `table-key-properties` metadata, else the
    /// top-level `key_properties`, else none.
    ///
    /// # Errors
    ///
    /// [`Error::Catalog`] when the value is not a list of strings.
    pub fn key_properties(&self) -> Result<Vec<String>> {
        let value = self
            .metadata
            .root()
            .and_then(|m| m.get(TABLE_KEY_PROPERTIES))
            .filter(|v| !v.is_null())
            .or_else(|| self.extra.get(TOP_KEY_PROPERTIES))
            .filter(|v| !v.is_null());
        let Some(value) = value else {
            return Ok(Vec::new());
        };
        Vec::<String>::deserialize(value)
            .map_err(|_| self.error("key properties must be a list of column names".to_owned()))
    }

    /// Writes the replication settings in both spellings: root metadata
    /// (`replication-method`, `replication-key`, `table-key-properties`) and
    /// top-level keys (`replication_method`, `replication_key`,
    /// `key_properties`). `None` writes `null`/removes the key.
    pub fn set_replication(
        &mut self,
        method: Option<ReplicationMethod>,
        key: Option<&str>,
        key_properties: &[String],
    ) {
        let method = method.map_or(Value::Null, |m| Value::String(m.as_str().to_owned()));
        let key = key.map_or(Value::Null, |k| Value::String(k.to_owned()));
        let keys = Value::Array(key_properties.iter().cloned().map(Value::String).collect());
        let root: [&str; 0] = [];
        self.metadata.set(&root, REPLICATION_METHOD, method.clone());
        self.metadata.set(&root, REPLICATION_KEY, key.clone());
        self.metadata.set(&root, TABLE_KEY_PROPERTIES, keys.clone());
        self.extra.insert(TOP_REPLICATION_METHOD.to_owned(), method);
        self.extra.insert(TOP_REPLICATION_KEY.to_owned(), key);
        self.extra.insert(TOP_KEY_PROPERTIES.to_owned(), keys);
    }

    fn error(&self, reason: String) -> Error {
        Error::Catalog {
            stream: Some(self.tap_stream_id.clone()),
            reason,
        }
    }
}

impl TryFrom<Map<String, Value>> for CatalogEntry {
    type Error = Error;

    fn try_from(mut map: Map<String, Value>) -> Result<Self> {
        let Some(Value::String(tap_stream_id)) = map.shift_remove("tap_stream_id") else {
            return Err(Error::Catalog {
                stream: map.get("stream").and_then(Value::as_str).map(str::to_owned),
                reason: "entry has no \"tap_stream_id\" string".to_owned(),
            });
        };
        let error = |reason: &str| Error::Catalog {
            stream: Some(tap_stream_id.clone()),
            reason: reason.to_owned(),
        };
        let stream = match map.shift_remove("stream") {
            Some(Value::String(s)) => s,
            None | Some(Value::Null) => tap_stream_id.clone(),
            Some(_) => return Err(error("\"stream\" must be a string")),
        };
        let Some(schema @ Value::Object(_)) = map.shift_remove("schema") else {
            return Err(error("entry has no \"schema\" object"));
        };
        let metadata = match map.shift_remove("metadata") {
            None | Some(Value::Null) => Metadata::default(),
            Some(value) => Metadata::deserialize(value).map_err(|_| {
                error("\"metadata\" must be a list of {breadcrumb, metadata} objects")
            })?,
        };
        // A `selected` the selection rules cannot read would silently
        // deselect (or select) a stream or column: refuse it.
        for entry in &metadata.0 {
            for key in [SELECTED, SELECTED_BY_DEFAULT] {
                if let Some(value) = entry.metadata.get(key)
                    && !(value.is_boolean() || value.is_null())
                {
                    return Err(Error::Catalog {
                        stream: Some(tap_stream_id.clone()),
                        reason: format!(
                            "metadata at breadcrumb {:?}: {key:?} must be true or false, not {value}",
                            entry.breadcrumb
                        ),
                    });
                }
            }
        }
        Ok(Self {
            tap_stream_id,
            stream,
            schema,
            metadata,
            extra: map,
        })
    }
}

impl From<CatalogEntry> for Map<String, Value> {
    fn from(entry: CatalogEntry) -> Self {
        let mut map = Map::new();
        map.insert(
            "tap_stream_id".to_owned(),
            Value::String(entry.tap_stream_id),
        );
        map.insert("stream".to_owned(), Value::String(entry.stream));
        map.insert("schema".to_owned(), entry.schema);
        let metadata = entry
            .metadata
            .0
            .into_iter()
            .map(|e| {
                let mut m = Map::new();
                m.insert(
                    "breadcrumb".to_owned(),
                    Value::Array(e.breadcrumb.into_iter().map(Value::String).collect()),
                );
                m.insert("metadata".to_owned(), Value::Object(e.metadata));
                Value::Object(m)
            })
            .collect();
        map.insert("metadata".to_owned(), Value::Array(metadata));
        map.extend(entry.extra);
        map
    }
}

impl Serialize for CatalogEntry {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Map::from(self.clone()).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for CatalogEntry {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = Map::deserialize(deserializer)?;
        Self::try_from(map).map_err(serde::de::Error::custom)
    }
}

/// A Singer catalog: `{"streams": [...]}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    /// The streams.
    pub streams: Vec<CatalogEntry>,
}

impl Catalog {
    /// Parses a catalog from JSON text.
    ///
    /// # Errors
    ///
    /// [`Error::Catalog`] naming the entry when the text is not a catalog.
    pub fn from_json(text: &str) -> Result<Self> {
        let value: Value = serde_json::from_str(text).map_err(|e| Error::Catalog {
            stream: None,
            reason: format!("not valid JSON: {e}"),
        })?;
        let Value::Object(mut map) = value else {
            return Err(Error::Catalog {
                stream: None,
                reason: "a catalog must be a JSON object".to_owned(),
            });
        };
        let Some(Value::Array(streams)) = map.shift_remove("streams") else {
            return Err(Error::Catalog {
                stream: None,
                reason: "a catalog needs a \"streams\" list".to_owned(),
            });
        };
        let streams = streams
            .into_iter()
            .enumerate()
            .map(|(i, entry)| match entry {
                Value::Object(map) => CatalogEntry::try_from(map),
                _ => Err(Error::Catalog {
                    stream: None,
                    reason: format!("stream entry {i} is not an object"),
                }),
            })
            .collect::<Result<_>>()?;
        Ok(Self { streams })
    }

    /// Reads and parses a catalog file.
    ///
    /// # Errors
    ///
    /// [`Error::File`] when it cannot be read, [`Error::CatalogFile`] when it
    /// is not a catalog.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::File {
            path: path.to_owned(),
            source,
        })?;
        Self::from_json(&text).map_err(|e| Error::CatalogFile {
            path: path.to_owned(),
            source: Box::new(e),
        })
    }

    /// The entry with this `tap_stream_id`.
    #[must_use]
    pub fn get(&self, tap_stream_id: &str) -> Option<&CatalogEntry> {
        self.streams
            .iter()
            .find(|s| s.tap_stream_id == tap_stream_id)
    }

    /// The selected entries, in catalog order.
    pub fn selected(&self) -> impl Iterator<Item = &CatalogEntry> {
        self.streams.iter().filter(|s| s.is_selected())
    }
}

#[cfg(test)]
#[path = "catalog_tests.rs"]
mod tests;
