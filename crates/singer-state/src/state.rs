//! The Singer state document.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::bookmark::Bookmark;
use crate::error::{Error, Result, json_type, render_value};
use crate::value::{BookmarkKind, BookmarkValue};

/// Top-level key of the per-stream bookmarks.
const BOOKMARKS: &str = "bookmarks";
/// Top-level key of the stream a sync was in the middle of.
const CURRENTLY_SYNCING: &str = "currently_syncing";

/// A Singer state document:
/// `{"bookmarks": {"<tap_stream_id>": {...}}, "currently_syncing": ...}`.
///
/// Every top-level key other than `bookmarks` and `currently_syncing` is kept
/// in [`extra`](Self::extra) and written back unchanged, as are the unknown
/// keys of each [`Bookmark`]. Numbers keep their exact text throughout.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct State {
    /// Bookmarks by `tap_stream_id`.
    pub bookmarks: BTreeMap<String, Bookmark>,
    /// The stream a sync was in the middle of, if any.
    pub currently_syncing: Option<String>,
    /// Every other top-level key, preserved.
    pub extra: Map<String, Value>,
}

impl State {
    /// An empty state.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a state from JSON text. Empty text, `null` and `{}` are the
    /// empty state.
    ///
    /// # Errors
    ///
    /// [`Error::Json`] if the text is not JSON, [`Error::InvalidState`] if a
    /// known key has the wrong type.
    pub fn from_json(text: &str) -> Result<Self> {
        if text.trim().is_empty() {
            return Ok(Self::new());
        }
        let value: Value = serde_json::from_str(text).map_err(|source| Error::Json { source })?;
        Self::from_value(value)
    }

    /// Reads a state from a JSON value (`null` is the empty state).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidState`] if the value is not an object or a known key
    /// has the wrong type.
    pub fn from_value(value: Value) -> Result<Self> {
        let map = match value {
            Value::Null => return Ok(Self::new()),
            Value::Object(map) => map,
            other => {
                return Err(Error::InvalidState {
                    path: "(top level)".to_owned(),
                    expected: "an object",
                    found: json_type(&other),
                });
            }
        };
        let mut state = Self::new();
        for (key, value) in map {
            match key.as_str() {
                BOOKMARKS => state.bookmarks = read_bookmarks(value)?,
                CURRENTLY_SYNCING => {
                    state.currently_syncing = match value {
                        Value::Null => None,
                        Value::String(stream) => Some(stream),
                        other => {
                            return Err(Error::InvalidState {
                                path: CURRENTLY_SYNCING.to_owned(),
                                expected: "a string or null",
                                found: json_type(&other),
                            });
                        }
                    };
                }
                _ => {
                    state.extra.insert(key, value);
                }
            }
        }
        Ok(state)
    }

    /// The state as a JSON value: `bookmarks` (always), `currently_syncing`
    /// (when set), then the other keys in their original order.
    #[must_use]
    pub fn to_value(&self) -> Value {
        let mut map = Map::new();
        let bookmarks: Map<String, Value> = self
            .bookmarks
            .iter()
            .map(|(stream, bookmark)| (stream.clone(), bookmark.to_value()))
            .collect();
        map.insert(BOOKMARKS.to_owned(), Value::Object(bookmarks));
        if let Some(stream) = &self.currently_syncing {
            map.insert(CURRENTLY_SYNCING.to_owned(), Value::String(stream.clone()));
        }
        for (key, value) in &self.extra {
            map.entry(key.clone()).or_insert_with(|| value.clone());
        }
        Value::Object(map)
    }

    /// The state as compact JSON text.
    #[must_use]
    pub fn to_json(&self) -> String {
        self.to_value().to_string()
    }

    /// The state as indented JSON text.
    #[must_use]
    pub fn to_json_pretty(&self) -> String {
        format!("{:#}", self.to_value())
    }

    /// Whether the state holds no bookmark, no current stream and no other
    /// key.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.bookmarks.is_empty() && self.currently_syncing.is_none() && self.extra.is_empty()
    }

    /// The bookmark of `stream`, if it has one.
    #[must_use]
    pub fn bookmark(&self, stream: &str) -> Option<&Bookmark> {
        self.bookmarks.get(stream)
    }

    /// The bookmark of `stream`, created empty if it has none.
    pub fn bookmark_mut(&mut self, stream: &str) -> &mut Bookmark {
        self.bookmarks.entry(stream.to_owned()).or_default()
    }

    /// Removes and returns the bookmark of `stream`.
    pub fn remove_bookmark(&mut self, stream: &str) -> Option<Bookmark> {
        self.bookmarks.remove(stream)
    }

    /// Sets (or, with `None`, clears) the stream a sync is in the middle of.
    pub fn set_currently_syncing(&mut self, stream: Option<&str>) {
        self.currently_syncing = stream.map(ToOwned::to_owned);
    }

    /// The stored replication key value of `stream`, read as `kind`; `None`
    /// if the stream has no bookmark value. SDK `progress_markers` are not
    /// a bookmark value.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidBookmarkValue`] if the stored value does not fit
    /// `kind`.
    pub fn bookmark_value(
        &self,
        stream: &str,
        kind: BookmarkKind,
    ) -> Result<Option<BookmarkValue>> {
        let Some(bookmark) = self.bookmarks.get(stream) else {
            return Ok(None);
        };
        let Some(stored) = &bookmark.replication_key_value else {
            return Ok(None);
        };
        let key = bookmark.replication_key.as_deref().unwrap_or_default();
        read_value(stream, key, "stored", stored, kind).map(Some)
    }

    /// Moves the bookmark of `stream` forward to `value` of replication key
    /// `key` if `value` is greater than the stored value (or there is none),
    /// and records `key` as the replication key. Returns whether the value
    /// moved. An equal or smaller value leaves the bookmark as it is.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidBookmarkValue`] if the new or the stored value does
    /// not fit `kind`; [`Error::KindMismatch`] if they are of different kinds
    /// (for instance a stored naive timestamp and a new one with an offset);
    /// [`Error::ReplicationKeyMismatch`] if the bookmark belongs to another
    /// replication key (call [`State::reconcile`] first). On error the state
    /// is unchanged.
    pub fn advance(
        &mut self,
        stream: &str,
        key: &str,
        value: &Value,
        kind: BookmarkKind,
    ) -> Result<bool> {
        let new = read_value(stream, key, "new", value, kind)?;
        let moves = match self.bookmarks.get(stream) {
            None => true,
            Some(bookmark) => {
                if let Some(stored_key) = &bookmark.replication_key
                    && stored_key != key
                {
                    return Err(Error::ReplicationKeyMismatch {
                        stream: stream.to_owned(),
                        stored: stored_key.clone(),
                        requested: key.to_owned(),
                    });
                }
                match &bookmark.replication_key_value {
                    None => true,
                    Some(stored) => {
                        let stored = read_value(stream, key, "stored", stored, kind)?;
                        stored.compare(&new, stream, key)? == Ordering::Less
                    }
                }
            }
        };
        let bookmark = self.bookmark_mut(stream);
        bookmark.replication_key = Some(key.to_owned());
        if moves {
            tracing::trace!(stream, key, value = %new, "Bookmark advanced.");
            bookmark.replication_key_value = Some(new.into_json());
        }
        Ok(moves)
    }

    /// Sets the bookmark of `stream` to `value` of replication key `key`,
    /// whatever was stored before.
    pub fn set_bookmark_value(&mut self, stream: &str, key: &str, value: Value) {
        let bookmark = self.bookmark_mut(stream);
        bookmark.replication_key = Some(key.to_owned());
        bookmark.replication_key_value = Some(value);
    }

    /// Makes the bookmark of `stream` match how it is replicated now, and
    /// returns whether it had to be reset.
    ///
    /// The bookmark is removed (so the stream syncs from scratch) when its
    /// stored `last_replication_method` differs from `replication_method`
    /// (compared ignoring ASCII case) or its stored `replication_key` differs
    /// from `replication_key`. A stored method or key that is absent is
    /// unknown, not different: states written by taps that do not record
    /// them are kept. Then `replication_method` and `replication_key` are
    /// written into the bookmark (creating it if needed).
    pub fn reconcile(
        &mut self,
        stream: &str,
        replication_method: &str,
        replication_key: Option<&str>,
    ) -> bool {
        let reset = self.bookmarks.get(stream).is_some_and(|bookmark| {
            let method_changed = bookmark
                .last_replication_method
                .as_deref()
                .is_some_and(|stored| !stored.eq_ignore_ascii_case(replication_method));
            let key_changed = bookmark
                .replication_key
                .as_deref()
                .is_some_and(|stored| Some(stored) != replication_key);
            method_changed || key_changed
        });
        if reset && let Some(previous) = self.bookmarks.remove(stream) {
            tracing::info!(
                stream,
                previous_method = previous
                    .last_replication_method
                    .as_deref()
                    .unwrap_or("none"),
                method = replication_method,
                previous_key = previous.replication_key.as_deref().unwrap_or("none"),
                key = replication_key.unwrap_or("none"),
                "Bookmark reset: the replication method or key changed."
            );
        }
        let bookmark = self.bookmark_mut(stream);
        bookmark.last_replication_method = Some(replication_method.to_owned());
        bookmark.replication_key = replication_key.map(ToOwned::to_owned);
        reset
    }
}

impl serde::Serialize for State {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(serializer)
    }
}

impl<'de> serde::Deserialize<'de> for State {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Self::from_value(value).map_err(serde::de::Error::custom)
    }
}

fn read_bookmarks(value: Value) -> Result<BTreeMap<String, Bookmark>> {
    let map = match value {
        Value::Null => return Ok(BTreeMap::new()),
        Value::Object(map) => map,
        other => {
            return Err(Error::InvalidState {
                path: BOOKMARKS.to_owned(),
                expected: "an object",
                found: json_type(&other),
            });
        }
    };
    map.into_iter()
        .map(|(stream, value)| match value {
            Value::Object(fields) => {
                let bookmark = Bookmark::from_map(&stream, fields)?;
                Ok((stream, bookmark))
            }
            other => Err(Error::InvalidState {
                path: format!("{BOOKMARKS}.{stream}"),
                expected: "an object",
                found: json_type(&other),
            }),
        })
        .collect()
}

fn read_value(
    stream: &str,
    key: &str,
    origin: &'static str,
    value: &Value,
    kind: BookmarkKind,
) -> Result<BookmarkValue> {
    BookmarkValue::from_json(value, kind).map_err(|error| match error {
        Error::InvalidValue { reason, .. } => Error::InvalidBookmarkValue {
            stream: stream.to_owned(),
            key: key.to_owned(),
            origin,
            kind,
            value: render_value(value),
            reason,
        },
        other => other,
    })
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
