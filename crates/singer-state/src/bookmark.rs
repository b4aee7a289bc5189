//! One stream's bookmark.

use serde_json::{Map, Value};

use crate::error::{Error, Result, json_type};

/// Key of the replication key's name in a bookmark.
pub(crate) const REPLICATION_KEY: &str = "replication_key";
/// Key of the replication key's value in a bookmark.
pub(crate) const REPLICATION_KEY_VALUE: &str = "replication_key_value";
/// Key of the table version (`ACTIVATE_VERSION`) in a bookmark.
pub(crate) const VERSION: &str = "version";
/// Key of the replication method last used (pipelinewise's spelling).
pub(crate) const LAST_REPLICATION_METHOD: &str = "last_replication_method";
/// Meltano SDK: the state of each partition of a partitioned stream.
pub(crate) const PARTITIONS: &str = "partitions";
/// Meltano SDK: the not-yet-final progress of an unsorted stream.
pub(crate) const PROGRESS_MARKERS: &str = "progress_markers";

/// The bookmark of one stream: where its last sync got to.
///
/// The keys this crate understands are fields; every other key (for
/// instance `last_pk_fetched`, `xmin`, `lsn`, or the Meltano SDK's
/// `partitions` and `progress_markers`) is kept in [`extra`](Self::extra),
/// in order, and written back unchanged.
///
/// The SDK's `progress_markers` hold progress that is not final (the stream
/// was not sorted by its replication key), so they are never read as the
/// bookmark's value.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Bookmark {
    /// The replication key the value belongs to.
    pub replication_key: Option<String>,
    /// The highest replication key value synced so far, as received.
    pub replication_key_value: Option<Value>,
    /// The table version of a `FULL_TABLE` sync (`ACTIVATE_VERSION`).
    pub version: Option<u64>,
    /// The replication method of the sync that wrote the bookmark, in
    /// pipelinewise's key `last_replication_method`.
    pub last_replication_method: Option<String>,
    /// Every other key, preserved.
    pub extra: Map<String, Value>,
}

impl Bookmark {
    /// An empty bookmark.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The Meltano SDK's `partitions`, if present.
    #[must_use]
    pub fn partitions(&self) -> Option<&Value> {
        self.extra.get(PARTITIONS)
    }

    /// The Meltano SDK's `progress_markers`, if present. They are not final
    /// and are not the bookmark's value.
    #[must_use]
    pub fn progress_markers(&self) -> Option<&Value> {
        self.extra.get(PROGRESS_MARKERS)
    }

    /// Whether the bookmark holds nothing at all.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.replication_key.is_none()
            && self.replication_key_value.is_none()
            && self.version.is_none()
            && self.last_replication_method.is_none()
            && self.extra.is_empty()
    }

    /// Reads the bookmark of `stream` from its JSON object.
    pub(crate) fn from_map(stream: &str, map: Map<String, Value>) -> Result<Self> {
        let invalid = |key: &str, expected: &'static str, found: &Value| Error::InvalidState {
            path: format!("bookmarks.{stream}.{key}"),
            expected,
            found: json_type(found),
        };
        let mut bookmark = Self::new();
        for (key, value) in map {
            match key.as_str() {
                REPLICATION_KEY => {
                    bookmark.replication_key = match value {
                        Value::Null => None,
                        Value::String(text) => Some(text),
                        other => return Err(invalid(&key, "a string or null", &other)),
                    };
                }
                REPLICATION_KEY_VALUE => {
                    bookmark.replication_key_value = (!value.is_null()).then_some(value);
                }
                VERSION => {
                    bookmark.version = match &value {
                        Value::Null => None,
                        Value::Number(number) => Some(number.as_u64().ok_or_else(|| {
                            invalid(&key, "a non-negative integer or null", &value)
                        })?),
                        other => {
                            return Err(invalid(&key, "a non-negative integer or null", other));
                        }
                    };
                }
                LAST_REPLICATION_METHOD => {
                    bookmark.last_replication_method = match value {
                        Value::Null => None,
                        Value::String(text) => Some(text),
                        other => return Err(invalid(&key, "a string or null", &other)),
                    };
                }
                _ => {
                    bookmark.extra.insert(key, value);
                }
            }
        }
        Ok(bookmark)
    }

    /// The bookmark as a JSON object: the known keys first, then the others
    /// in their original order.
    #[must_use]
    pub fn to_value(&self) -> Value {
        let mut map = Map::new();
        if let Some(method) = &self.last_replication_method {
            map.insert(
                LAST_REPLICATION_METHOD.to_owned(),
                Value::String(method.clone()),
            );
        }
        if let Some(key) = &self.replication_key {
            map.insert(REPLICATION_KEY.to_owned(), Value::String(key.clone()));
        }
        if let Some(value) = &self.replication_key_value {
            map.insert(REPLICATION_KEY_VALUE.to_owned(), value.clone());
        }
        if let Some(version) = self.version {
            map.insert(VERSION.to_owned(), Value::from(version));
        }
        for (key, value) in &self.extra {
            map.entry(key.clone()).or_insert_with(|| value.clone());
        }
        Value::Object(map)
    }
}
