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
mod tests {
    use super::*;
    use serde_json::json;

    fn raw(text: &str) -> Value {
        serde_json::from_str(text).unwrap_or_else(|error| panic!("{text}: {error}"))
    }

    #[test]
    fn empty_inputs_are_the_empty_state() {
        for text in [
            "",
            "  \n",
            "null",
            "{}",
            "{\"bookmarks\": null}",
            "{\"bookmarks\": {}}",
        ] {
            let state = State::from_json(text).expect(text);
            assert!(state.is_empty(), "{text}");
        }
        assert_eq!(State::new().to_json(), r#"{"bookmarks":{}}"#);
    }

    #[test]
    fn round_trip_preserves_unknown_keys_and_exact_numbers() {
        let text = r#"{
            "bookmarks": {
                "public-orders": {
                    "replication_key": "id",
                    "replication_key_value": 12345678901234567890.123456789012345678,
                    "version": 1714550400000,
                    "last_replication_method": "INCREMENTAL",
                    "xmin": 123,
                    "lsn": 2500000000,
                    "last_pk_fetched": {"id": 42}
                },
                "public-events": {
                    "replication_key": "updated_at",
                    "replication_key_value": "2024-05-01T10:00:00.123456+02:00",
                    "partitions": [{"context": {"tenant": 1}, "replication_key_value": 3}],
                    "progress_markers": {"Note": "Progress is not resumable if interrupted.",
                                         "replication_key": "updated_at",
                                         "replication_key_value": "2030-01-01T00:00:00Z"}
                }
            },
            "currently_syncing": "public-orders",
            "singer_state_version": 1,
            "meltano": {"run_id": "abc"}
        }"#;
        let state = State::from_json(text).expect("parse");
        let orders = state.bookmark("public-orders").expect("orders");
        assert_eq!(orders.replication_key.as_deref(), Some("id"));
        assert_eq!(orders.version, Some(1_714_550_400_000));
        assert_eq!(
            orders.last_replication_method.as_deref(),
            Some("INCREMENTAL")
        );
        assert_eq!(
            orders.extra.get("last_pk_fetched"),
            Some(&json!({"id": 42}))
        );
        assert_eq!(state.currently_syncing.as_deref(), Some("public-orders"));
        assert_eq!(state.extra.get("meltano"), Some(&json!({"run_id": "abc"})));

        // Progress markers are kept but are not the bookmark value.
        let events = state.bookmark("public-events").expect("events");
        assert!(events.partitions().is_some());
        assert!(events.progress_markers().is_some());
        let value = state
            .bookmark_value("public-events", BookmarkKind::Timestamp)
            .expect("value")
            .expect("present");
        assert_eq!(value.as_json(), &json!("2024-05-01T10:00:00.123456+02:00"));

        let written = state.to_json();
        assert!(
            written.contains("12345678901234567890.123456789012345678"),
            "{written}"
        );
        assert_eq!(raw(&written), raw(text));
        let again = State::from_json(&written).expect("reparse");
        assert_eq!(again, state);
        assert_eq!(again.to_json(), written);

        // Through serde too.
        let via_serde: State = serde_json::from_str(text).expect("serde");
        assert_eq!(via_serde, state);
        assert_eq!(
            serde_json::to_string(&via_serde).expect("serialize"),
            written
        );
        assert_eq!(
            State::from_json(&state.to_json_pretty()).expect("pretty"),
            state
        );
    }

    #[test]
    fn sdk_state_with_only_progress_markers_has_no_bookmark_value() {
        let mut state = State::from_json(
            r#"{"bookmarks": {"s": {"progress_markers": {"replication_key": "ts",
                "replication_key_value": "2030-01-01T00:00:00Z"}}}}"#,
        )
        .expect("parse");
        assert_eq!(
            state
                .bookmark_value("s", BookmarkKind::Timestamp)
                .expect("ok"),
            None
        );
        assert!(
            state
                .advance(
                    "s",
                    "ts",
                    &json!("2024-01-01T00:00:00Z"),
                    BookmarkKind::Timestamp
                )
                .expect("advance")
        );
        let bookmark = state.bookmark("s").expect("bookmark");
        assert_eq!(
            bookmark.replication_key_value,
            Some(json!("2024-01-01T00:00:00Z"))
        );
        assert!(bookmark.progress_markers().is_some());
    }

    #[test]
    fn invalid_states_name_the_key() {
        let cases = [
            ("[]", "(top level)"),
            ("\"x\"", "(top level)"),
            (r#"{"bookmarks": []}"#, "bookmarks"),
            (r#"{"bookmarks": {"s": 1}}"#, "bookmarks.s"),
            (
                r#"{"bookmarks": {"s": {"version": -1}}}"#,
                "bookmarks.s.version",
            ),
            (
                r#"{"bookmarks": {"s": {"version": 1.5}}}"#,
                "bookmarks.s.version",
            ),
            (
                r#"{"bookmarks": {"s": {"version": "1"}}}"#,
                "bookmarks.s.version",
            ),
            (
                r#"{"bookmarks": {"s": {"replication_key": 1}}}"#,
                "bookmarks.s.replication_key",
            ),
            (
                r#"{"bookmarks": {"s": {"last_replication_method": {}}}}"#,
                "bookmarks.s.last_replication_method",
            ),
            (r#"{"currently_syncing": 3}"#, "currently_syncing"),
        ];
        for (text, expected_path) in cases {
            match State::from_json(text) {
                Err(Error::InvalidState { path, .. }) => assert_eq!(path, expected_path, "{text}"),
                other => panic!("{text}: expected InvalidState, got {other:?}"),
            }
        }
        let error = State::from_json("{\"bookmarks\":").expect_err("truncated");
        assert!(matches!(error, Error::Json { .. }));
        assert!(error.is_invalid_input());
    }

    #[test]
    fn advance_moves_only_forward() {
        let mut state = State::new();
        let kind = BookmarkKind::Number;
        let steps = [
            ("5", true),
            ("4", false),
            ("5.0", false),
            ("5e0", false),
            ("12345678901234567890.123456789012345678", true),
            ("12345678901234567890.123456789012345677", false),
            ("12345678901234567890.123456789012345679", true),
        ];
        for (text, moved) in steps {
            assert_eq!(
                state.advance("s", "id", &raw(text), kind).expect(text),
                moved,
                "{text}"
            );
        }
        let bookmark = state.bookmark("s").expect("bookmark");
        assert_eq!(bookmark.replication_key.as_deref(), Some("id"));
        assert_eq!(
            bookmark
                .replication_key_value
                .as_ref()
                .map(ToString::to_string)
                .as_deref(),
            Some("12345678901234567890.123456789012345679")
        );
    }

    #[test]
    fn advance_compares_timestamps_as_instants() {
        let mut state = State::new();
        let kind = BookmarkKind::Timestamp;
        assert!(
            state
                .advance("s", "ts", &json!("2024-05-01T10:00:00+02:00"), kind)
                .expect("first")
        );
        // Same instant, other offset: not greater, the stored text stays.
        assert!(
            !state
                .advance("s", "ts", &json!("2024-05-01T08:00:00Z"), kind)
                .expect("same")
        );
        assert!(
            state
                .advance("s", "ts", &json!("2024-05-01T08:00:00.000001Z"), kind)
                .expect("later")
        );
        assert_eq!(
            state
                .bookmark("s")
                .and_then(|b| b.replication_key_value.clone()),
            Some(json!("2024-05-01T08:00:00.000001Z"))
        );
    }

    #[test]
    fn advance_refuses_mismatches_and_leaves_state_unchanged() {
        let mut state = State::new();
        state
            .advance(
                "s",
                "ts",
                &json!("2024-05-01T10:00:00"),
                BookmarkKind::Timestamp,
            )
            .expect("naive");
        let before = state.clone();

        let error = state
            .advance(
                "s",
                "ts",
                &json!("2024-05-01T10:00:00Z"),
                BookmarkKind::Timestamp,
            )
            .expect_err("kind mismatch");
        assert!(error.is_kind_mismatch(), "{error}");
        assert_eq!(state, before);

        let error = state
            .advance(
                "s",
                "other",
                &json!("2024-05-01T10:00:00"),
                BookmarkKind::Timestamp,
            )
            .expect_err("key mismatch");
        assert!(
            matches!(error, Error::ReplicationKeyMismatch { .. }),
            "{error}"
        );
        assert_eq!(state, before);

        let error = state
            .advance("s", "ts", &json!(17), BookmarkKind::Timestamp)
            .expect_err("invalid new value");
        assert!(
            matches!(&error, Error::InvalidBookmarkValue { stream, key, origin: "new", .. }
                if stream == "s" && key == "ts"),
            "{error}"
        );
        let error = state
            .advance("s", "ts", &json!(17), BookmarkKind::Number)
            .expect_err("invalid stored value");
        assert!(
            matches!(
                &error,
                Error::InvalidBookmarkValue {
                    origin: "stored",
                    ..
                }
            ),
            "{error}"
        );
        assert_eq!(state, before);
    }

    #[test]
    fn set_bookmark_value_is_unconditional() {
        let mut state = State::new();
        state.set_bookmark_value("s", "id", json!(10));
        state.set_bookmark_value("s", "id", json!(3));
        let bookmark = state.bookmark("s").expect("bookmark");
        assert_eq!(bookmark.replication_key_value, Some(json!(3)));
        state.set_currently_syncing(Some("s"));
        assert_eq!(state.currently_syncing.as_deref(), Some("s"));
        state.set_currently_syncing(None);
        assert_eq!(state.currently_syncing, None);
    }

    #[test]
    fn reconcile_resets_on_method_or_key_change() {
        let stored = r#"{"bookmarks": {"s": {
            "last_replication_method": "INCREMENTAL",
            "replication_key": "updated_at",
            "replication_key_value": "2024-01-01T00:00:00Z",
            "version": 7,
            "xmin": 99
        }}}"#;
        // (method, key, reset?)
        let cases: &[(&str, Option<&str>, bool)] = &[
            ("INCREMENTAL", Some("updated_at"), false),
            ("incremental", Some("updated_at"), false),
            ("INCREMENTAL", Some("id"), true),
            ("FULL_TABLE", None, true),
            ("FULL_TABLE", Some("updated_at"), true),
            ("LOG_BASED", None, true),
            ("INCREMENTAL", None, true),
        ];
        for (method, key, expect_reset) in cases {
            let mut state = State::from_json(stored).expect("parse");
            let reset = state.reconcile("s", method, *key);
            assert_eq!(reset, *expect_reset, "{method} {key:?}");
            let bookmark = state.bookmark("s").expect("bookmark");
            assert_eq!(bookmark.last_replication_method.as_deref(), Some(*method));
            assert_eq!(bookmark.replication_key.as_deref(), *key);
            if *expect_reset {
                assert_eq!(bookmark.replication_key_value, None);
                assert_eq!(bookmark.version, None);
                assert!(bookmark.extra.is_empty());
            } else {
                assert_eq!(
                    bookmark.replication_key_value,
                    Some(json!("2024-01-01T00:00:00Z"))
                );
                assert_eq!(bookmark.version, Some(7));
                assert_eq!(bookmark.extra.get("xmin"), Some(&json!(99)));
            }
        }
    }

    #[test]
    fn reconcile_keeps_bookmarks_without_a_recorded_method_or_key() {
        // A Meltano SDK state records neither the method nor always the key.
        let mut state = State::from_json(
            r#"{"bookmarks": {"s": {"replication_key_value": 10}, "t": {"replication_key": "id", "replication_key_value": 3}}}"#,
        )
        .expect("parse");
        assert!(!state.reconcile("s", "INCREMENTAL", Some("id")));
        assert_eq!(
            state
                .bookmark("s")
                .and_then(|b| b.replication_key_value.clone()),
            Some(json!(10))
        );
        assert!(!state.reconcile("t", "INCREMENTAL", Some("id")));
        // No bookmark yet: nothing to reset, and the bookmark records the method.
        assert!(!state.reconcile("new", "FULL_TABLE", None));
        assert_eq!(
            state
                .bookmark("new")
                .and_then(|b| b.last_replication_method.clone()),
            Some("FULL_TABLE".to_owned())
        );
    }
}
