//! One stream's compiled schema and open batch, and the record → row path.

use std::borrow::Cow;
use std::fmt;
use std::time::Instant;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use singer_protocol::{PropertySpan, RecordLine, RecordMessage, SchemaMessage};
use singer_schema::{Column, Flattener, Outcome, TypeOptions, ValidationConfig, Validator};

use crate::error::{Error, Result};
use crate::loader::{Batch, RowBuilder};
use crate::metadata::{self, MetadataColumn};
use singer_schema::FastSchema;

/// What the driver keeps per stream.
pub(crate) struct Stream {
    pub(crate) schema: SchemaMessage,
    validator: Option<Validator>,
    /// The validation fast path, when the schema allows one.
    fast: Option<FastSchema>,
    flattener: Option<Flattener>,
    pub(crate) columns: Vec<String>,
    pub(crate) flat_schema: Value,
    index: foldhash::HashMap<String, usize>,
    keys: Vec<(usize, String)>,
    /// Metadata columns and their cell index.
    metadata: Vec<(MetadataColumn, usize)>,
    pub(crate) typed: Vec<(String, Column)>,
    pub(crate) batch: Batch,
    pub(crate) opened: Option<Instant>,
    pub(crate) counts: Counts,
}

/// Per-stream counters.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Counts {
    pub(crate) records: u64,
    pub(crate) skipped: u64,
    pub(crate) batches: u64,
    /// Records since the last METRIC line.
    pub(crate) interval: u64,
}

/// A record as the driver hands it to its stream: borrowed from the input
/// line, read in one pass ([`RecordLine`]) or from a parsed message.
#[derive(Clone, Copy)]
pub(crate) struct RecordView<'a> {
    pub(crate) stream: &'a str,
    /// The record object's raw JSON text.
    pub(crate) raw: &'a str,
    pub(crate) version: Option<u64>,
    /// The extraction time (decoded text).
    pub(crate) time_extracted: Option<&'a str>,
    /// The top-level properties, when the line was read in one pass.
    scanned: Option<(RecordLine<'a>, &'a [PropertySpan])>,
}

impl<'a> RecordView<'a> {
    /// A record read by [`RecordLine::scan`] with its property list.
    pub(crate) fn scanned(line: RecordLine<'a>, spans: &'a [PropertySpan]) -> Self {
        Self {
            stream: line.stream,
            raw: line.record,
            version: line.version,
            time_extracted: line.time_extracted,
            scanned: Some((line, spans)),
        }
    }

    /// A record from a parsed message.
    pub(crate) fn message(message: &'a RecordMessage) -> Self {
        Self {
            stream: &message.stream,
            raw: message.record.get(),
            version: message.version,
            time_extracted: message.time_extracted.as_deref(),
            scanned: None,
        }
    }
}

/// Per-record context from the driver.
pub(crate) struct RecordContext<'a> {
    pub(crate) received_at: &'a str,
    pub(crate) sequence: u64,
}

impl Stream {
    /// Compiles a SCHEMA message.
    pub(crate) fn new(
        message: &SchemaMessage,
        line: u64,
        validation: Option<&ValidationConfig>,
        flatten_depth: usize,
        add_metadata: bool,
    ) -> Result<Self> {
        let stream = &message.stream;
        let schema_error = |source| Error::Schema {
            line,
            stream: stream.clone(),
            source,
        };
        let properties = match message.schema.get("properties") {
            Some(Value::Object(p)) if !p.is_empty() => p,
            _ => {
                return Err(Error::SchemaWithoutProperties {
                    line,
                    stream: stream.clone(),
                });
            }
        };
        if let Some(missing) = message
            .key_properties
            .iter()
            .find(|k| !properties.contains_key(k.as_str()))
        {
            return Err(Error::KeyPropertyNotInSchema {
                line,
                stream: stream.clone(),
                property: missing.clone(),
            });
        }
        let validator = validation
            .map(|config| Validator::new(stream, &message.schema, config))
            .transpose()
            .map_err(schema_error)?;
        let flattener = (flatten_depth > 0)
            .then(|| Flattener::new(&message.schema, flatten_depth))
            .transpose()
            .map_err(schema_error)?;
        let fast = match (validation, &flattener) {
            (Some(config), None) => FastSchema::compile(&message.schema, config),
            _ => None,
        };
        let mut flat_schema = flattener
            .as_ref()
            .map_or_else(|| message.schema.clone(), |f| f.schema().clone());
        let mut columns: Vec<String> = flat_schema
            .get("properties")
            .and_then(Value::as_object)
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default();
        let mut metadata = Vec::new();
        if add_metadata {
            let added = metadata::add_properties(&mut flat_schema);
            for column in added {
                metadata.push((column, columns.len()));
                columns.push(column.name().to_owned());
            }
        }
        let typed =
            singer_schema::columns(&flat_schema, &TypeOptions::default()).map_err(schema_error)?;
        let index: foldhash::HashMap<String, usize> = columns
            .iter()
            .enumerate()
            .map(|(i, c)| (c.clone(), i))
            .collect();
        let keys = message
            .key_properties
            .iter()
            .filter_map(|k| index.get(k).map(|i| (*i, k.clone())))
            .collect();
        let batch = Batch::new(columns.len());
        Ok(Self {
            schema: message.clone(),
            validator,
            fast,
            flattener,
            columns,
            flat_schema,
            index,
            keys,
            metadata,
            typed,
            batch,
            opened: None,
            counts: Counts::default(),
        })
    }

    /// Validates `record` and appends it to the open batch. `Ok(false)`:
    /// skipped by the validation policy.
    ///
    /// With the validation fast path, the record is parsed once, borrowed:
    /// each top-level value is checked and copied into its cell in the same
    /// pass. Only a record the fast path does not pass is parsed into a
    /// `Value` for the full validator.
    pub(crate) fn push(
        &mut self,
        record: &RecordView<'_>,
        line: u64,
        context: &RecordContext<'_>,
    ) -> Result<bool> {
        let raw = record.raw;
        let use_fast = self.fast.is_some();
        let parsed = if !use_fast && (self.validator.is_some() || self.flattener.is_some()) {
            Some(parse_map(raw, record.stream, line)?)
        } else {
            None
        };
        if let (Some(validator), Some(map)) = (&self.validator, &parsed)
            && !self.apply_outcome(validator.check(map, line), line)?
        {
            return Ok(false);
        }
        // Filling the row can fail (a repeated property, a record too deep
        // to decode): the row is removed again, so the batch holds only
        // whole, accepted rows.
        let filled = (|| -> Result<(Option<String>, bool)> {
            let mut row = self.batch.begin_row(line);
            let mut passed = true;
            match (&self.flattener, parsed) {
                (Some(flattener), Some(Value::Object(map))) => {
                    let flat = flattener
                        .flatten_record(&map)
                        .map_err(|source| Error::Flatten {
                            line,
                            stream: record.stream.to_owned(),
                            source,
                        })?;
                    fill_from_map(&mut row, &flat, &self.index);
                }
                _ => {
                    let mut filler = Filler {
                        row: &mut row,
                        columns: &self.columns,
                        index: &self.index,
                        fast: self.fast.as_ref(),
                        next: 0,
                        passed: true,
                        others: Vec::new(),
                    };
                    let filled = match record.scanned {
                        Some((scanned, spans)) => scanned
                            .properties(spans)
                            .try_for_each(|(key, value)| filler.put(key, value))
                            .map_err(FillError::Duplicate),
                        None => fill_from_raw(&mut filler, raw),
                    };
                    passed = filler.passed;
                    filled.map_err(|e| match e {
                        FillError::Duplicate(property) => Error::DuplicateProperty {
                            line,
                            stream: record.stream.to_owned(),
                            property,
                        },
                        FillError::Json(e) => undecodable(record.stream, line, &e),
                    })?;
                    if let Some(fast) = &self.fast {
                        passed = passed && fast.required().iter().all(|i| row.is_set(*i));
                    }
                }
            }
            for (column, index) in &self.metadata {
                metadata::fill(*column, *index, &mut row, record, context);
            }
            let missing = self
                .keys
                .iter()
                .find(|(index, _)| !row_has_value(&row, *index))
                .map(|(_, key)| key.clone());
            Ok((missing, passed))
        })();
        let (missing_key, fast_passed) = match filled {
            Ok(filled) => filled,
            Err(error) => {
                self.batch.pop_row();
                return Err(error);
            }
        };
        if !fast_passed && let Some(validator) = &self.validator {
            // Unsure or invalid: the full validator decides and explains.
            let value = match parse_map(raw, record.stream, line) {
                Ok(value) => value,
                Err(error) => {
                    self.batch.pop_row();
                    return Err(error);
                }
            };
            let outcome = validator.check(&value, line);
            let keep = match self.apply_outcome(outcome, line) {
                Ok(keep) => keep,
                Err(error) => {
                    self.batch.pop_row();
                    return Err(error);
                }
            };
            if !keep {
                self.batch.pop_row();
                return Ok(false);
            }
        }
        if let Some(property) = missing_key {
            self.batch.pop_row();
            return Err(Error::MissingKeyProperty {
                line,
                stream: record.stream.to_owned(),
                property,
            });
        }
        if self.opened.is_none() {
            self.opened = Some(Instant::now());
        }
        self.counts.records += 1;
        self.counts.interval += 1;
        Ok(true)
    }

    /// Applies the validation policy's outcome: `Ok(false)` to skip.
    fn apply_outcome(
        &mut self,
        outcome: Result<Outcome, Box<singer_schema::ValidationError>>,
        line: u64,
    ) -> Result<bool> {
        match outcome.map_err(Error::Validation)? {
            Outcome::Valid => Ok(true),
            Outcome::Skip(error) => {
                tracing::warn!(stream = %self.schema.stream, line, error = %error, "Record failed schema validation; skipped.");
                self.counts.skipped += 1;
                Ok(false)
            }
            Outcome::Keep(error) => {
                tracing::warn!(stream = %self.schema.stream, line, error = %error, "Record failed schema validation; loaded anyway.");
                Ok(true)
            }
        }
    }

    /// Sets `_sdc_batched_at` on every row of the open batch.
    pub(crate) fn stamp_batched_at(&mut self, now: &str) {
        if let Some((_, index)) = self
            .metadata
            .iter()
            .find(|(c, _)| *c == MetadataColumn::BatchedAt)
        {
            self.batch.set_column(*index, now);
        }
    }

    /// Whether `other` is the same SCHEMA (a tap repeating itself).
    pub(crate) fn same_schema(&self, other: &SchemaMessage) -> bool {
        self.schema.schema == other.schema && self.schema.key_properties == other.key_properties
    }
}

fn row_has_value(row: &RowBuilder<'_>, index: usize) -> bool {
    row.get(index).is_some_and(|text| text != "null")
}

/// Parses a record into a `Value`, refusing a property named twice at the
/// top level (serde_json would keep the last silently).
fn parse_map(raw: &str, stream: &str, line: u64) -> Result<Value> {
    let mut duplicate = None;
    let mut deserializer = serde_json::Deserializer::from_str(raw);
    let parsed = UniqueKeys {
        duplicate: &mut duplicate,
    }
    .deserialize(&mut deserializer)
    .and_then(|map| deserializer.end().map(|()| map));
    match parsed {
        Ok(map) => Ok(Value::Object(map)),
        Err(_) if duplicate.is_some() => Err(Error::DuplicateProperty {
            line,
            stream: stream.to_owned(),
            property: duplicate.unwrap_or_default(),
        }),
        Err(e) => Err(undecodable(stream, line, &e)),
    }
}

/// A record the fast path or the full parse could not decode (too deeply
/// nested, say: the reader only checked that it is well-formed).
fn undecodable(stream: &str, line: u64, error: &serde_json::Error) -> Error {
    let text = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    Error::UndecodableRecord {
        line,
        stream: stream.to_owned(),
        reason: text.strip_suffix(&suffix).unwrap_or(&text).to_owned(),
    }
}

/// A JSON object into a `Map`, noting the first name that appears twice.
struct UniqueKeys<'a> {
    duplicate: &'a mut Option<String>,
}

impl<'de> DeserializeSeed<'de> for UniqueKeys<'_> {
    type Value = Map<String, Value>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for UniqueKeys<'_> {
    type Value = Map<String, Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            let value: Value = access.next_value()?;
            if map.contains_key(&key) {
                let message = format!("duplicate property {key:?}");
                *self.duplicate = Some(key);
                return Err(serde::de::Error::custom(message));
            }
            map.insert(key, value);
        }
        Ok(map)
    }
}

fn fill_from_map(
    row: &mut RowBuilder<'_>,
    map: &Map<String, Value>,
    index: &foldhash::HashMap<String, usize>,
) {
    for (key, value) in map {
        if let Some(i) = index.get(key) {
            let begin = row.text_mut().len();
            // Writing a `Value` to a `String` cannot fail.
            let text = value.to_string();
            row.text_mut().push_str(&text);
            row.set_range(*i, begin);
        }
    }
}

/// Why a record could not be put into its row.
enum FillError {
    /// The property named twice.
    Duplicate(String),
    /// The full parser's complaint.
    Json(serde_json::Error),
}

/// Puts a record's top-level values, as raw JSON text, into their cells
/// without building a `Value`, running the fast checks on the way.
struct Filler<'r, 'b> {
    row: &'r mut RowBuilder<'b>,
    columns: &'r [String],
    index: &'r foldhash::HashMap<String, usize>,
    fast: Option<&'r FastSchema>,
    /// The column after the last one set: records usually list their
    /// properties in schema order, so its name is tried before hashing.
    next: usize,
    /// Whether every value passed the fast checks so far (`true` without
    /// them).
    passed: bool,
    /// Properties outside the schema, to catch one named twice; almost
    /// always empty, so a list beats a set.
    others: Vec<String>,
}

impl Filler<'_, '_> {
    /// One property; `Err` with its name when the record already had it.
    #[inline]
    fn put(&mut self, key: &str, value: &str) -> Result<(), String> {
        let found = match self.columns.get(self.next) {
            Some(name) if same_name(name.as_bytes(), key.as_bytes()) => Some(self.next),
            _ => self.index.get(key).copied(),
        };
        let repeated = match found {
            Some(i) => self.row.is_set(i),
            None => self.others.iter().any(|o| o == key),
        };
        if repeated {
            return Err(key.to_owned());
        }
        if let Some(fast) = self.fast {
            self.passed = self.passed
                && match found.and_then(|i| fast.check(i)) {
                    Some(check) => check.passes(value),
                    // Not a property of the schema.
                    None => !fast.is_closed(),
                };
        }
        match found {
            Some(i) => {
                self.row.set(i, value);
                self.next = i + 1;
            }
            None => self.others.push(key.to_owned()),
        }
        Ok(())
    }
}

/// `a == b` for property names, without a `memcmp` call for short ones
/// (most are): the comparison runs once per value.
#[inline]
fn same_name(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let word = |bytes: &[u8], at: usize| {
        bytes
            .get(at..at + 8)
            .and_then(|w| <[u8; 8]>::try_from(w).ok())
            .map(u64::from_ne_bytes)
    };
    match a.len() {
        0..8 => a.iter().zip(b).all(|(x, y)| x == y),
        8..=16 => {
            let last = a.len() - 8;
            word(a, 0) == word(b, 0) && word(a, last) == word(b, last)
        }
        _ => a == b,
    }
}

/// Fills from the record's raw text with the full parser (a line the
/// one-pass reader left to [`singer_protocol::Message::parse`]).
fn fill_from_raw(filler: &mut Filler<'_, '_>, raw: &str) -> Result<(), FillError> {
    let mut duplicate = None;
    let mut deserializer = serde_json::Deserializer::from_str(raw);
    RowSeed {
        filler,
        duplicate: &mut duplicate,
    }
    .deserialize(&mut deserializer)
    .and_then(|()| deserializer.end())
    .map_err(|e| match duplicate.take() {
        Some(property) => FillError::Duplicate(property),
        None => FillError::Json(e),
    })
}

struct RowSeed<'f, 'r, 'b> {
    filler: &'f mut Filler<'r, 'b>,
    /// Set to the first property the record names twice.
    duplicate: &'f mut Option<String>,
}

impl<'de> DeserializeSeed<'de> for RowSeed<'_, '_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RowSeed<'_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            let value: &'de RawValue = map.next_value()?;
            if let Err(property) = self.filler.put(&key, value.get()) {
                let message = format!("duplicate property {property:?}");
                *self.duplicate = Some(property);
                return Err(serde::de::Error::custom(message));
            }
        }
        Ok(())
    }
}

/// An object key, borrowed from the input unless it has escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(json: &str) -> SchemaMessage {
        match singer_protocol::Message::parse(json, 1) {
            Ok(singer_protocol::Message::Schema(s)) => s,
            other => panic!("not a schema: {other:?}"),
        }
    }

    fn record(json: &str) -> RecordView<'static> {
        let message = RecordMessage::from_json("s", json.to_owned()).expect("record");
        RecordView::message(Box::leak(Box::new(message)))
    }

    const CTX: RecordContext<'static> = RecordContext {
        received_at: "\"2024-01-01T00:00:00.000000Z\"",
        sequence: 1,
    };

    #[test]
    fn raw_cells_keep_text_and_order_of_the_schema() {
        let s = schema(
            r#"{"type":"SCHEMA","stream":"s","schema":{"properties":{"a":{},"b\n":{},"c":{}}},"key_properties":["a"]}"#,
        );
        let mut stream = Stream::new(&s, 1, None, 0, false).expect("stream");
        assert_eq!(stream.columns, ["a", "b\n", "c"]);
        let ok = stream
            .push(
                &record(r#"{"c":{"x":[1,2.50]},"a":1e400,"b\n":"q\"","zz":1}"#),
                2,
                &CTX,
            )
            .expect("pushed");
        assert!(ok);
        let rows: Vec<Vec<Option<&str>>> =
            stream.batch.rows().map(|r| r.cells().collect()).collect();
        assert_eq!(
            rows,
            [vec![
                Some("1e400"),
                Some(r#""q\"""#),
                Some(r#"{"x":[1,2.50]}"#)
            ]]
        );
        let error = stream
            .push(&record(r#"{"a":null}"#), 3, &CTX)
            .expect_err("key is null");
        assert_eq!(
            error.to_string(),
            "line 3 (stream \"s\"): record has no value for key property \"a\""
        );
        assert_eq!(stream.batch.len(), 1, "the failed row is not kept");
    }

    #[test]
    fn record_nested_too_deeply_is_refused_with_line_and_stream() {
        let s = schema(
            r#"{"type":"SCHEMA","stream":"s","schema":{"properties":{"a":{"type":"string"}}},"key_properties":[]}"#,
        );
        let deep = format!(r#"{{"a":{}1{}}}"#, "[".repeat(200), "]".repeat(200));
        let validation = ValidationConfig::new();
        let mut stream = Stream::new(&s, 1, Some(&validation), 0, false).expect("stream");
        let error = stream.push(&record(&deep), 9, &CTX).expect_err("too deep");
        assert_eq!(
            error.to_string(),
            "line 9 (stream \"s\"): record cannot be decoded: recursion limit exceeded"
        );
        assert!(stream.batch.is_empty());
        // Without validation nothing decodes the value: it passes through
        // as the JSON text it is.
        let mut stream = Stream::new(&s, 1, None, 0, false).expect("stream");
        assert!(stream.push(&record(&deep), 9, &CTX).expect("raw text"));
    }

    #[test]
    fn record_with_a_repeated_property_is_refused() {
        let s = schema(
            r#"{"type":"SCHEMA","stream":"s","schema":{"properties":{"a":{"type":"integer"},"b":{"anyOf":[{"type":"string"},{"type":"null"}]}}},"key_properties":["a"]}"#,
        );
        let validation = ValidationConfig::new();
        // Fast path (raw cells), full validator (flattening parses the
        // record), and no validation at all: the same refusal.
        for (validate, depth) in [(true, 0), (true, 1), (false, 0)] {
            let config = validate.then_some(&validation);
            let mut stream = Stream::new(&s, 1, config, depth, false).expect("stream");
            for (record, property) in [
                (r#"{"a":1,"b":"x","a":2}"#, "a"),
                (r#"{"a":1,"b":"x","b":null}"#, "b"),
                (r#"{"a":1,"zz":1,"zz":2}"#, "zz"),
            ] {
                let error = stream
                    .push(&self::record(record), 4, &CTX)
                    .expect_err("duplicate");
                assert_eq!(
                    error.to_string(),
                    format!(
                        "line 4 (stream \"s\"): record has property \"{property}\" more than once (duplicate keys are ambiguous in JSON)"
                    ),
                    "{record} validate={validate} depth={depth}"
                );
            }
            assert!(stream.batch.is_empty(), "no row kept");
            // Nested objects are values, passed through as written.
            assert!(
                stream
                    .push(&self::record(r#"{"a":1,"b":"x"}"#), 5, &CTX)
                    .expect("valid")
            );
        }
    }
}
