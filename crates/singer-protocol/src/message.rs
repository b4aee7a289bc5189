//! Singer message types and their wire format.
//!
//! Every message is one JSON object on one line. The writer emits the fields
//! in the order the Singer spec and the Meltano SDK use, `type` first, in
//! compact form. The reader accepts `type` in any letter case and ignores
//! fields it does not know (taps add their own).
//!
//! | type | fields (required **bold**) | example |
//! |---|---|---|
//! | `SCHEMA` | **`stream`**, **`schema`** (object), `key_properties` (default `[]`), `bookmark_properties` | `{"type":"SCHEMA","stream":"users","schema":{"properties":{"id":{"type":"integer"}}},"key_properties":["id"]}` |
//! | `RECORD` | **`stream`**, **`record`** (object), `version` (integer), `time_extracted` (RFC 3339) | `{"type":"RECORD","stream":"users","record":{"id":1},"version":1700000000000,"time_extracted":"2024-01-01T00:00:00.000000+00:00"}` |
//! | `STATE` | **`value`** (any JSON, opaque to targets) | `{"type":"STATE","value":{"bookmarks":{}}}` |
//! | `ACTIVATE_VERSION` | **`stream`**, **`version`** (integer) | `{"type":"ACTIVATE_VERSION","stream":"users","version":1700000000000}` |
//! | `BATCH` | **`stream`**, **`encoding`** (`{"format":"jsonl","compression":"gzip"}`), **`manifest`** (file URLs) | `{"type":"BATCH","stream":"users","encoding":{"format":"jsonl","compression":"gzip"},"manifest":["file:///tmp/users-1.jsonl.gz"]}` |
//!
//! Numbers are exact: a record is kept as its raw JSON text
//! ([`serde_json::value::RawValue`]), so `12345678901234567890.123456789012345678`
//! or `1e400` is written back byte for byte. Parsing a record into
//! [`serde_json::Value`] ([`RecordMessage::to_map`]) keeps every digit too
//! (the workspace builds `serde_json` with `arbitrary_precision`); only an
//! explicit `as_f64` on a number goes through floating point.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// The `type` of a `SCHEMA` message.
pub const SCHEMA: &str = "SCHEMA";
/// The `type` of a `RECORD` message.
pub const RECORD: &str = "RECORD";
/// The `type` of a `STATE` message.
pub const STATE: &str = "STATE";
/// The `type` of an `ACTIVATE_VERSION` message.
pub const ACTIVATE_VERSION: &str = "ACTIVATE_VERSION";
/// The `type` of a `BATCH` message (Meltano SDK extension).
pub const BATCH: &str = "BATCH";

/// One Singer message.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Message {
    /// Describes the records of a stream that follow.
    Schema(SchemaMessage),
    /// One row of a stream.
    Record(RecordMessage),
    /// A checkpoint a tap can resume from; opaque to targets.
    State(StateMessage),
    /// The stream now holds exactly the records of this version.
    ActivateVersion(ActivateVersionMessage),
    /// Files of records written out of band (Meltano SDK).
    Batch(BatchMessage),
}

impl Message {
    /// The message type as written on the wire (`"RECORD"`, ...).
    #[must_use]
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Schema(_) => SCHEMA,
            Self::Record(_) => RECORD,
            Self::State(_) => STATE,
            Self::ActivateVersion(_) => ACTIVATE_VERSION,
            Self::Batch(_) => BATCH,
        }
    }

    /// The stream the message belongs to (`None` for `STATE`).
    #[must_use]
    pub fn stream(&self) -> Option<&str> {
        match self {
            Self::Schema(m) => Some(&m.stream),
            Self::Record(m) => Some(&m.stream),
            Self::ActivateVersion(m) => Some(&m.stream),
            Self::Batch(m) => Some(&m.stream),
            Self::State(_) => None,
        }
    }

    /// Parses one line (without its line terminator) into a message.
    ///
    /// `line` is the 1-based line number used in errors.
    ///
    /// # Errors
    ///
    /// [`Error::MalformedJson`] for text that is not JSON,
    /// [`Error::NotAMessage`] for JSON that is not a message object,
    /// [`Error::MissingType`], [`Error::UnknownMessageType`],
    /// [`Error::MissingField`] and [`Error::InvalidField`] for messages that
    /// break the spec.
    pub fn parse(text: &str, line: u64) -> Result<Self> {
        // serde would also accept a JSON array as the tuple form of the
        // envelope: only an object is a message.
        if !text.trim_start().starts_with('{') {
            return Err(Error::NotAMessage {
                line,
                column: 1,
                reason: "expected a JSON object".to_owned(),
            });
        }
        let envelope: Envelope<'_> = serde_json::from_str(text).map_err(|source| {
            let (column, mut reason) = crate::error::json_reason(&source);
            if let Some(literal) = non_json_literal(text, column) {
                reason = format!(
                    "{literal} is not a JSON value (JSON has no NaN or Infinity; \
                     send null or a string)"
                );
            }
            if source.is_data() {
                Error::NotAMessage {
                    line,
                    column,
                    reason,
                }
            } else {
                Error::MalformedJson {
                    line,
                    column,
                    reason,
                }
            }
        })?;
        envelope.into_message(text, line)
    }
}

/// The non-JSON literal (`NaN`, `Infinity`, `-Infinity`) that JSON
/// encoders such as Python's write for floats JSON cannot hold, when the
/// parser stopped at one (`column` is 1-based; the parser stops on the
/// literal's first byte, or on its second after a minus sign).
fn non_json_literal(text: &str, column: usize) -> Option<&'static str> {
    let at = column.checked_sub(1)?;
    let before = text.get(at.checked_sub(1)?..).unwrap_or_default();
    let here = text.get(at..).unwrap_or_default();
    ["-Infinity", "-NaN"]
        .into_iter()
        .find(|literal| before.starts_with(literal))
        .or_else(|| {
            ["Infinity", "NaN"]
                .into_iter()
                .find(|literal| here.starts_with(literal))
        })
}

/// Rejects a record whose strings hold a `\uD800`-`\uDFFF` escape that is
/// not half of a surrogate pair: it is not Unicode, and the record is kept
/// as raw text, which the parser does not decode. Only records with such an
/// escape (Python's `ensure_ascii` writes one for every character beyond
/// U+FFFF) are decoded in full to check.
fn check_unicode_escapes(line_text: &str, record: &str, line: u64) -> Result<()> {
    let bytes = record.as_bytes();
    let has_surrogate_escape = memchr::memmem::find_iter(bytes, b"\\u").any(|at| {
        matches!(bytes.get(at + 2), Some(b'd' | b'D'))
            && matches!(
                bytes.get(at + 3),
                Some(b'8'..=b'9' | b'a'..=b'f' | b'A'..=b'F')
            )
    });
    if !has_surrogate_escape {
        return Ok(());
    }
    serde_json::from_str::<Value>(record)
        .map(drop)
        .map_err(|source| {
            let (column, reason) = crate::error::json_reason(&source);
            // The column within the whole line: the record is a slice of it.
            let offset = record
                .as_ptr()
                .addr()
                .saturating_sub(line_text.as_ptr().addr());
            Error::MalformedJson {
                line,
                column: offset + column,
                reason,
            }
        })
}

/// `SCHEMA`: the JSON schema of a stream's records.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SchemaMessage {
    /// The stream name.
    pub stream: String,
    /// The JSON schema of the records (an object).
    pub schema: Value,
    /// The properties that identify a record (may be empty).
    pub key_properties: Vec<String>,
    /// The properties a tap bookmarks on, if it says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bookmark_properties: Option<Vec<String>>,
}

/// `RECORD`: one row of a stream, kept as its raw JSON text so that values
/// pass through exactly.
#[derive(Debug, Clone, Serialize)]
pub struct RecordMessage {
    /// The stream name.
    pub stream: String,
    /// The record, a JSON object, exactly as read or rendered.
    pub record: Box<RawValue>,
    /// The table version this record belongs to (`FULL_TABLE` syncs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// When the record was extracted (RFC 3339 with a zone), as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_extracted: Option<String>,
}

impl PartialEq for RecordMessage {
    fn eq(&self, other: &Self) -> bool {
        self.stream == other.stream
            && self.record.get() == other.record.get()
            && self.version == other.version
            && self.time_extracted == other.time_extracted
    }
}

impl RecordMessage {
    /// A record message for `stream` from a JSON object.
    ///
    /// # Errors
    ///
    /// Fails only if a value cannot be serialised (it cannot for
    /// [`serde_json::Map`]); kept fallible so callers need not unwrap.
    pub fn new(
        stream: impl Into<String>,
        record: &Map<String, Value>,
    ) -> Result<Self, serde_json::Error> {
        Ok(Self {
            stream: stream.into(),
            record: serde_json::value::to_raw_value(record)?,
            version: None,
            time_extracted: None,
        })
    }

    /// A record message for `stream` from JSON text the caller rendered.
    ///
    /// # Errors
    ///
    /// Fails if `json` is not a single valid JSON object.
    pub fn from_json(stream: impl Into<String>, json: String) -> Result<Self, serde_json::Error> {
        let record = RawValue::from_string(json)?;
        if !record.get().starts_with('{') {
            return Err(serde::de::Error::custom("a record must be a JSON object"));
        }
        Ok(Self {
            stream: stream.into(),
            record,
            version: None,
            time_extracted: None,
        })
    }

    /// Sets the table version.
    #[must_use]
    pub fn with_version(mut self, version: u64) -> Self {
        self.version = Some(version);
        self
    }

    /// Sets the extraction time (RFC 3339 with a zone).
    #[must_use]
    pub fn with_time_extracted(mut self, time_extracted: impl Into<String>) -> Self {
        self.time_extracted = Some(time_extracted.into());
        self
    }

    /// Parses the record into a JSON object. Numbers keep every digit
    /// (`arbitrary_precision`); exponents are normalised (`1e400` becomes
    /// `1e+400`), which is the same number. Property order is kept.
    ///
    /// # Errors
    ///
    /// Never for a message read by [`Message::parse`] (the record was checked
    /// to be an object then); kept fallible for records built by hand.
    pub fn to_map(&self) -> Result<Map<String, Value>, serde_json::Error> {
        serde_json::from_str(self.record.get())
    }
}

/// `STATE`: a checkpoint. Targets pass it on once everything before it is
/// durable.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StateMessage {
    /// The state document.
    pub value: Value,
}

/// `ACTIVATE_VERSION`: the stream now holds exactly the records of `version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActivateVersionMessage {
    /// The stream name.
    pub stream: String,
    /// The version that becomes the stream's content.
    pub version: u64,
}

/// `BATCH` (Meltano SDK): records written to files instead of the pipe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchMessage {
    /// The stream name.
    pub stream: String,
    /// How the files are encoded.
    pub encoding: BatchEncoding,
    /// The files, as URLs (`file:///...`).
    pub manifest: Vec<String>,
}

/// The encoding of `BATCH` files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchEncoding {
    /// `jsonl` or `parquet`.
    pub format: String,
    /// `gzip` or `none`; absent means none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression: Option<String>,
}

/// Every field any message type can have, borrowed from the line (the list
/// `record_line::envelope_field` knows too). Decoding
/// into one flat struct (instead of serde's internally tagged enums) keeps
/// record bodies as raw text, reads `type` case-insensitively and lets each
/// error name the line, the stream and the field.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    stream: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    record: Option<&'a RawValue>,
    #[serde(default)]
    schema: Option<Value>,
    #[serde(borrow, default)]
    key_properties: Option<&'a RawValue>,
    #[serde(borrow, default)]
    bookmark_properties: Option<&'a RawValue>,
    #[serde(default)]
    value: Option<Value>,
    #[serde(borrow, default)]
    version: Option<&'a RawValue>,
    #[serde(borrow, default)]
    time_extracted: Option<&'a RawValue>,
    #[serde(borrow, default)]
    encoding: Option<&'a RawValue>,
    #[serde(borrow, default)]
    manifest: Option<&'a RawValue>,
}

impl Envelope<'_> {
    fn into_message(self, text: &str, line: u64) -> Result<Message> {
        let Some(kind) = self.kind.as_deref() else {
            return Err(Error::MissingType { line });
        };
        let message_type = [SCHEMA, RECORD, STATE, ACTIVATE_VERSION, BATCH]
            .into_iter()
            .find(|known| known.eq_ignore_ascii_case(kind))
            .ok_or_else(|| Error::UnknownMessageType {
                line,
                message_type: kind.to_owned(),
            })?;
        let ctx = Ctx {
            line,
            message_type,
            stream: self.stream.as_deref().map(str::to_owned),
        };
        match message_type {
            RECORD => {
                let stream = ctx.required_stream()?;
                let record = self.record.ok_or_else(|| ctx.missing("record"))?;
                if !record.get().starts_with('{') {
                    return Err(ctx.invalid("record", "a JSON object"));
                }
                check_unicode_escapes(text, record.get(), line)?;
                Ok(Message::Record(RecordMessage {
                    stream,
                    record: record.to_owned(),
                    version: self.version.map(|v| ctx.version(v)).transpose()?,
                    time_extracted: self
                        .time_extracted
                        .map(|t| {
                            ctx.decode_raw::<Option<String>>(
                                t,
                                "time_extracted",
                                "an RFC 3339 string",
                            )
                        })
                        .transpose()?
                        .flatten(),
                }))
            }
            SCHEMA => {
                let stream = ctx.required_stream()?;
                let schema = self.schema.ok_or_else(|| ctx.missing("schema"))?;
                if !schema.is_object() {
                    return Err(ctx.invalid("schema", "a JSON object (a JSON schema)"));
                }
                let list = "a list of property names";
                let key_properties = self
                    .key_properties
                    .map(|k| ctx.decode_raw::<Option<Vec<String>>>(k, "key_properties", list))
                    .transpose()?
                    .flatten()
                    .unwrap_or_default();
                let bookmark_properties = self
                    .bookmark_properties
                    .map(|k| ctx.decode_raw::<Option<Vec<String>>>(k, "bookmark_properties", list))
                    .transpose()?
                    .flatten();
                Ok(Message::Schema(SchemaMessage {
                    stream,
                    schema,
                    key_properties,
                    bookmark_properties,
                }))
            }
            STATE => {
                let value = self.value.ok_or_else(|| ctx.missing("value"))?;
                Ok(Message::State(StateMessage { value }))
            }
            ACTIVATE_VERSION => {
                let stream = ctx.required_stream()?;
                let version = self.version.ok_or_else(|| ctx.missing("version"))?;
                Ok(Message::ActivateVersion(ActivateVersionMessage {
                    stream,
                    version: ctx.version(version)?,
                }))
            }
            _ => {
                let stream = ctx.required_stream()?;
                let encoding = self.encoding.ok_or_else(|| ctx.missing("encoding"))?;
                let manifest = self.manifest.ok_or_else(|| ctx.missing("manifest"))?;
                Ok(Message::Batch(BatchMessage {
                    stream,
                    encoding: ctx.decode_raw(
                        encoding,
                        "encoding",
                        "an object with \"format\" and optional \"compression\" strings",
                    )?,
                    manifest: ctx.decode_raw(manifest, "manifest", "a list of file URLs")?,
                }))
            }
        }
    }
}

/// Error context while turning an envelope into a message.
struct Ctx {
    line: u64,
    message_type: &'static str,
    stream: Option<String>,
}

impl Ctx {
    fn missing(&self, field: &'static str) -> Error {
        Error::MissingField {
            line: self.line,
            message_type: self.message_type,
            field,
            stream: self.stream.clone(),
        }
    }

    fn invalid(&self, field: &'static str, expected: &'static str) -> Error {
        Error::InvalidField {
            line: self.line,
            message_type: self.message_type,
            field,
            expected,
            stream: self.stream.clone(),
        }
    }

    fn required_stream(&self) -> Result<String> {
        self.stream.clone().ok_or_else(|| self.missing("stream"))
    }

    fn version(&self, raw: &RawValue) -> Result<u64> {
        raw.get()
            .parse::<u64>()
            .map_err(|_| self.invalid("version", "a non-negative integer"))
    }

    fn decode_raw<'de, T: Deserialize<'de>>(
        &self,
        raw: &'de RawValue,
        field: &'static str,
        expected: &'static str,
    ) -> Result<T> {
        serde_json::from_str(raw.get()).map_err(|_| self.invalid(field, expected))
    }
}

#[cfg(test)]
#[path = "message_tests.rs"]
mod tests;
