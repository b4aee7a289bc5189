//! Deletes detection without change data capture: the key-set convention.
//!
//! A tap that detects deletes reads every primary key of a table after the
//! table's rows and sends them as a **companion stream**, so that a target
//! can mark the rows whose key is gone. The key set never travels as
//! partial records of the main stream (a target that does not know the
//! convention would overwrite the other columns with NULLs); any Singer
//! target loads the companion stream as one more table.
//!
//! The convention, all of it:
//!
//! * The companion stream is named `<stream>__keys` ([`key_set_stream`]).
//!   Its SCHEMA has the main stream's key properties as its properties and
//!   key properties, and the annotation `"x-singer-key-set-of": "<stream>"`
//!   ([`KEY_SET_OF`]) at the top of its schema: a target recognises a key
//!   set by the annotation, never by the name alone. JSON Schema ignores
//!   unknown keywords, so validators are unaffected.
//! * Its RECORDs carry one key each and a table `version`, new for each
//!   pass; STATE may come between them (the key set does not move any
//!   bookmark).
//! * `ACTIVATE_VERSION` of the companion stream marks the key set of that
//!   version **complete**: only then may a target act on it (rows of the
//!   main stream whose key is not in the set were deleted at the source).
//!   A pass cut short never sends it, and its partial key set is ignored
//!   (and removed by the next activation).
//! * The set was read after the main stream's rows, so every key the main
//!   stream sent in the same run and still present at the source is in it.
//!
//! ```
//! use serde_json::json;
//! use singer_protocol::key_set;
//!
//! let schema = key_set::schema("public-orders", json!({"id": {"type": "integer"}}));
//! assert_eq!(key_set::key_set_stream("public-orders"), "public-orders__keys");
//! assert_eq!(key_set::key_set_of(&schema), Some("public-orders"));
//! assert_eq!(key_set::key_set_of(&json!({"type": "object"})), None);
//! ```

use serde_json::{Map, Value};

/// The stream metadata (root breadcrumb) asking a tap for deletes
/// detection: `"detect-deletes": true`.
pub const DETECT_DELETES: &str = "detect-deletes";

/// The companion stream's name suffix.
pub const KEY_SET_SUFFIX: &str = "__keys";

/// The schema annotation naming the stream whose key set a stream is.
pub const KEY_SET_OF: &str = "x-singer-key-set-of";

/// The companion stream of `stream`: `<stream>__keys`.
#[must_use]
pub fn key_set_stream(stream: &str) -> String {
    format!("{stream}{KEY_SET_SUFFIX}")
}

/// The stream whose key set a stream with this JSON `schema` is, if its
/// schema carries the [`KEY_SET_OF`] annotation.
#[must_use]
pub fn key_set_of(schema: &Value) -> Option<&str> {
    schema.get(KEY_SET_OF).and_then(Value::as_str)
}

/// The schema of `stream`'s key set: an object with the key columns'
/// `properties` (the main stream's own property schemas) and the
/// annotation.
#[must_use]
pub fn schema(stream: &str, properties: Value) -> Value {
    let mut schema = Map::new();
    schema.insert("type".to_owned(), Value::String("object".to_owned()));
    schema.insert("properties".to_owned(), properties);
    schema.insert(KEY_SET_OF.to_owned(), Value::String(stream.to_owned()));
    Value::Object(schema)
}
