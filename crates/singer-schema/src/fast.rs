//! A conservative fast path for validation on the raw JSON text of each
//! top-level value, so most records are checked without building a
//! `serde_json::Value` (which costs more than the check itself).
//!
//! It covers the schemas taps emit for tables: per property a `type` (or
//! list of types), `format` (`date-time`/`date`/`time` through
//! [`crate::format_text_matches`], `x-singer.decimal` with
//! `precision`/`scale` through [`crate::decimal_text_fits`]), and
//! `items` of the same kind, `anyOf` of such checks and `enum` of strings;
//! what pipelinewise and the Meltano SDK taps add: `minimum`, `maximum`,
//! `exclusiveMinimum`/`exclusiveMaximum` (draft 4 booleans or draft 6
//! numbers) and `multipleOf`, checked exactly on the number's text by the
//! validator's own check, `minLength`/`maxLength` (in characters), and
//! nested objects' `properties`, `required` and
//! `additionalProperties: false`; at the top level `properties`,
//! `required` and `additionalProperties: false`. A schema using any other
//! keyword gets no
//! fast path. When the fast path passes a record, the full validator would
//! too; when it does not (or is unsure, e.g. `1.0` for an integer), the
//! caller (the target driver) validates the record with
//! [`crate::Validator`], which decides and describes the error. So the fast
//! path only ever saves time. It lives beside the validator so that this
//! invariant is kept in one crate, by the generated-values test below.

use crate::compile::{NumberCheck, number_keyword};
use crate::{ValidationConfig, decimal_text_fits, format_text_matches};

use serde_json::{Map, Value};

/// Keywords that never change what a value may be.
const ANNOTATIONS: [&str; 9] = [
    "title",
    "description",
    "default",
    "examples",
    "$comment",
    "readOnly",
    "writeOnly",
    "deprecated",
    "inclusion",
];

const NULL: u8 = 1;
const BOOLEAN: u8 = 2;
const INTEGER: u8 = 4;
const NUMBER: u8 = 8;
const STRING: u8 = 16;
const OBJECT: u8 = 32;
const ARRAY: u8 = 64;
const ANY: u8 = 127;

/// A compiled property check of the fast path.
#[derive(Debug, Clone)]
pub struct Check {
    types: u8,
    format: Option<Format>,
    decimal: Option<(Option<u64>, Option<u64>)>,
    items: Option<Box<Check>>,
    /// `anyOf`: at least one must pass (besides this check's own keywords).
    any_of: Option<Vec<Check>>,
    /// `enum` of strings, as the JSON texts they serialize to: a value
    /// passes if its raw text is one of them (an escaped spelling of the
    /// same string is left to the validator).
    one_of_texts: Option<Vec<String>>,
    /// `minimum`/`maximum`/`exclusive*`/`multipleOf`: the validator's own
    /// exact check, on the number's text.
    number: Option<NumberCheck>,
    /// `minLength`/`maxLength`, in characters.
    length: Option<(Option<u64>, Option<u64>)>,
    /// `properties` (with `required`, `additionalProperties: false`) of a
    /// nested object.
    object: Option<Box<ObjectCheck>>,
}

/// The fast path of a nested object's `properties`.
#[derive(Debug, Clone)]
struct ObjectCheck {
    properties: Vec<(String, Check)>,
    required: Vec<String>,
    closed: bool,
}

impl ObjectCheck {
    const fn empty() -> Self {
        Self {
            properties: Vec::new(),
            required: Vec::new(),
            closed: false,
        }
    }

    /// Whether the object text `text` certainly passes.
    fn passes(&self, text: &str) -> bool {
        // Names with escapes, and a name given twice (the validator sees
        // the last value only), are left to the validator.
        let mut seen: Vec<&str> = Vec::with_capacity(self.properties.len());
        singer_protocol::all_object_members(text, |name, value| {
            if seen.contains(&name) {
                return false;
            }
            seen.push(name);
            match self.properties.iter().find(|(n, _)| n == name) {
                Some((_, check)) => check.passes(value),
                None => !self.closed,
            }
        }) && self
            .required
            .iter()
            .all(|name| seen.contains(&name.as_str()))
    }
}

#[derive(Debug, Clone, Copy)]
enum Format {
    DateTime,
    Date,
    Time,
}

/// The validation fast path of one stream's schema: checks on each
/// top-level value's raw JSON text that pass only what the full
/// [`crate::Validator`] passes.
///
/// ```
/// use serde_json::json;
/// use singer_schema::{FastSchema, ValidationConfig};
///
/// let schema = json!({"type": "object", "properties": {
///     "id": {"type": "integer"},
///     "at": {"type": ["null", "string"], "format": "date-time"},
/// }});
/// let fast = FastSchema::compile(&schema, &ValidationConfig::new()).ok_or("covered")?;
/// let at = fast.check(1).ok_or("column 1")?;
/// assert!(at.passes("\"2024-05-01 12:00:00+00\""));
/// assert!(!at.passes("\"yesterday\""));
/// assert!(!fast.is_closed() && fast.required().is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct FastSchema {
    /// One check per column index (data columns only).
    checks: Vec<Check>,
    /// Column indexes that must be present.
    required: Vec<usize>,
    /// Whether properties outside the schema fail (`additionalProperties: false`).
    closed: bool,
}

impl FastSchema {
    /// The check of the property at column `index` (properties in schema
    /// order), if there is one.
    #[must_use]
    #[inline]
    pub fn check(&self, index: usize) -> Option<&Check> {
        self.checks.get(index)
    }

    /// Column indexes of the properties that must be present.
    #[must_use]
    #[inline]
    pub fn required(&self) -> &[usize] {
        &self.required
    }

    /// Whether properties outside the schema fail (`additionalProperties:
    /// false`).
    #[must_use]
    #[inline]
    pub const fn is_closed(&self) -> bool {
        self.closed
    }

    /// Compiles `schema` (whose properties are the first columns, in
    /// order), or `None` when it uses anything the fast path does not cover.
    #[must_use]
    pub fn compile(schema: &Value, config: &ValidationConfig) -> Option<Self> {
        let map = schema.as_object()?;
        let mut required = Vec::new();
        let mut closed = false;
        let properties = map.get("properties")?.as_object()?;
        for (key, value) in map {
            match key.as_str() {
                "properties" | "definitions" | "$defs" => {}
                "type" => {
                    if types(value)? & OBJECT == 0 {
                        return None;
                    }
                }
                "required" => {
                    for name in value.as_array()? {
                        let name = name.as_str()?;
                        required.push(properties.keys().position(|k| k == name)?);
                    }
                }
                "additionalProperties" => closed = !value.as_bool()?,
                other if ANNOTATIONS.contains(&other) => {}
                _ => return None,
            }
        }
        let checks = properties
            .values()
            .map(|p| Check::compile(p, config, 0))
            .collect::<Option<Vec<_>>>()?;
        Some(Self {
            checks,
            required,
            closed,
        })
    }
}

fn types(value: &Value) -> Option<u8> {
    let one = |name: &str| -> Option<u8> {
        Some(match name {
            "null" => NULL,
            "boolean" => BOOLEAN,
            "integer" => INTEGER,
            "number" => NUMBER | INTEGER,
            "string" => STRING,
            "object" => OBJECT,
            "array" => ARRAY,
            _ => return None,
        })
    };
    match value {
        Value::String(name) => one(name),
        Value::Array(names) => names
            .iter()
            .try_fold(0, |acc, n| Some(acc | one(n.as_str()?)?)),
        _ => None,
    }
}

impl Check {
    fn compile(schema: &Value, config: &ValidationConfig, depth: usize) -> Option<Self> {
        if depth > 8 {
            return None;
        }
        let map: &Map<String, Value> = schema.as_object()?;
        let mut check = Self {
            types: ANY,
            format: None,
            decimal: None,
            items: None,
            any_of: None,
            one_of_texts: None,
            number: None,
            length: None,
            object: None,
        };
        let mut precision = None;
        let mut scale = None;
        let mut decimal = false;
        let mut numeric: [Option<Value>; 5] = Default::default();
        let (mut min_length, mut max_length) = (None, None);
        let mut object: Option<ObjectCheck> = None;
        for (key, value) in map {
            match key.as_str() {
                "type" => check.types = types(value)?,
                "format" => match value.as_str()? {
                    "x-singer.decimal" | "singer.decimal" => decimal = true,
                    "date-time" if config.check_formats => check.format = Some(Format::DateTime),
                    "date" if config.check_formats => check.format = Some(Format::Date),
                    "time" if config.check_formats => check.format = Some(Format::Time),
                    // Other formats are not asserted by the validator.
                    _ => {}
                },
                "precision" => precision = Some(value.as_u64()?),
                "scale" => scale = Some(value.as_u64()?),
                "items" => check.items = Some(Box::new(Self::compile(value, config, depth + 1)?)),
                // What tap-postgres emits for floats (`number` or the
                // strings NaN/Infinity) and multi-dimensional arrays.
                "anyOf" => {
                    let branches = value.as_array()?;
                    if branches.is_empty() {
                        return None;
                    }
                    check.any_of = Some(
                        branches
                            .iter()
                            .map(|b| Self::compile(b, config, depth + 1))
                            .collect::<Option<Vec<_>>>()?,
                    );
                }
                "enum" => {
                    check.one_of_texts = Some(
                        value
                            .as_array()?
                            .iter()
                            .map(|v| v.as_str().and_then(|s| serde_json::to_string(s).ok()))
                            .collect::<Option<Vec<_>>>()?,
                    );
                }
                // The validator's exact numeric keywords (draft 4's boolean
                // `exclusive*` included).
                keyword @ ("minimum" | "maximum" | "exclusiveMinimum" | "exclusiveMaximum"
                | "multipleOf") => {
                    let slot = match keyword {
                        "minimum" => 0,
                        "maximum" => 1,
                        "exclusiveMinimum" => 2,
                        "exclusiveMaximum" => 3,
                        _ => 4,
                    };
                    let valid = value.is_number()
                        || (value.is_boolean() && keyword.starts_with("exclusive"));
                    if !valid {
                        return None;
                    }
                    *numeric.get_mut(slot)? = Some(value.clone());
                }
                "minLength" => min_length = Some(value.as_u64()?),
                "maxLength" => max_length = Some(value.as_u64()?),
                "properties" => {
                    let properties = value
                        .as_object()?
                        .iter()
                        .map(|(name, p)| Some((name.clone(), Self::compile(p, config, depth + 1)?)))
                        .collect::<Option<Vec<_>>>()?;
                    object.get_or_insert_with(ObjectCheck::empty).properties = properties;
                }
                "required" => {
                    let names = value
                        .as_array()?
                        .iter()
                        .map(|n| n.as_str().map(str::to_owned))
                        .collect::<Option<Vec<_>>>()?;
                    object.get_or_insert_with(ObjectCheck::empty).required = names;
                }
                "additionalProperties" => {
                    object.get_or_insert_with(ObjectCheck::empty).closed = !value.as_bool()?;
                }
                other if ANNOTATIONS.contains(&other) => {}
                _ => return None,
            }
        }
        let [
            minimum,
            maximum,
            exclusive_minimum,
            exclusive_maximum,
            multiple_of,
        ] = numeric;
        if let Some(keyword) = number_keyword(
            minimum,
            maximum,
            exclusive_minimum,
            exclusive_maximum,
            multiple_of,
        )
        .ok()?
        {
            check.number = Some(NumberCheck::from_value(&keyword)?);
        }
        if min_length.is_some() || max_length.is_some() {
            check.length = Some((min_length, max_length));
        }
        check.object = object.map(Box::new);
        if decimal {
            // The validator accepts a decimal as a string or a number.
            if check.types & STRING != 0 {
                check.types |= NUMBER | INTEGER;
            }
            if config.check_decimals {
                check.decimal = Some((precision, scale));
            }
        }
        Some(check)
    }

    /// Whether `raw` (one JSON value's text, well-formed) certainly passes
    /// (`false`: fails or unsure).
    #[must_use]
    #[inline]
    pub fn passes(&self, raw: &str) -> bool {
        self.own_keywords_pass(raw)
            && self
                .one_of_texts
                .as_ref()
                .is_none_or(|texts| texts.iter().any(|t| t == raw))
            && self
                .any_of
                .as_ref()
                .is_none_or(|branches| branches.iter().any(|b| b.passes(raw)))
    }

    fn own_keywords_pass(&self, text: &str) -> bool {
        match text.as_bytes().first() {
            Some(b'n') => self.types & NULL != 0,
            Some(b't' | b'f') => self.types & BOOLEAN != 0,
            Some(b'"') => {
                if self.types & STRING == 0 {
                    return false;
                }
                // Only a maximum length, met by the raw text's length: a
                // character takes at least one byte, and escapes shorten.
                let within_raw_length = self.length.is_none_or(|(min, max)| {
                    min.is_none_or(|min| min == 0)
                        && max.is_some_and(|max| {
                            u64::try_from(text.len().saturating_sub(2)).is_ok_and(|n| n <= max)
                        })
                });
                if self.format.is_none() && self.decimal.is_none() && within_raw_length {
                    return true;
                }
                let Ok(content) = singer_protocol::json_string_content(text) else {
                    return false;
                };
                let format_ok = match self.format {
                    None => true,
                    Some(Format::DateTime) => format_text_matches("date-time", &content),
                    Some(Format::Date) => format_text_matches("date", &content),
                    Some(Format::Time) => format_text_matches("time", &content),
                };
                let length_ok = self.length.is_none_or(|(min, max)| {
                    let chars = u64::try_from(content.chars().count()).unwrap_or(u64::MAX);
                    min.is_none_or(|min| chars >= min) && max.is_none_or(|max| chars <= max)
                });
                format_ok
                    && length_ok
                    && self
                        .decimal
                        .is_none_or(|(p, s)| decimal_text_fits(&content, true, p, s))
            }
            Some(b'-' | b'0'..=b'9') => {
                let integer = text.bytes().skip(1).all(|b| b.is_ascii_digit())
                    && text
                        .bytes()
                        .next()
                        .is_some_and(|b| b == b'-' || b.is_ascii_digit());
                let typed = if integer {
                    self.types & INTEGER != 0
                } else {
                    self.types & NUMBER != 0
                };
                typed
                    && self
                        .decimal
                        .is_none_or(|(p, s)| decimal_text_fits(text, false, p, s))
                    && self
                        .number
                        .as_ref()
                        .is_none_or(|n| n.failure_text(text).is_none())
            }
            Some(b'{') => {
                self.types & OBJECT != 0 && self.object.as_ref().is_none_or(|o| o.passes(text))
            }
            Some(b'[') => {
                if self.types & ARRAY == 0 {
                    return false;
                }
                match &self.items {
                    None => true,
                    Some(items) => singer_protocol::all_array_elements(text, |e| items.passes(e)),
                }
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Validator;
    use serde_json::json;

    /// The fast path never passes what the validator rejects.
    #[test]
    fn never_more_permissive_than_the_validator() {
        let schema = json!({"type": "object", "properties": {
            "i": {"type": "integer"},
            "n": {"type": ["null", "number"]},
            "s": {"type": ["null", "string"], "description": "x"},
            "d": {"type": ["null", "string"], "format": "x-singer.decimal", "precision": 6, "scale": 2},
            "t": {"type": "string", "format": "date-time"},
            "day": {"type": ["null", "string"], "format": "date"},
            "b": {"type": "boolean"},
            "a": {"type": ["null", "array"], "items": {"type": "string"}},
            "o": {"type": ["null", "object"]},
            "any": {},
            "f": {"anyOf": [{"type": ["number", "null"]}, {"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]}]},
            "e": {"type": "string", "enum": ["x", "a\"b"]},
            "m": {"type": ["array", "null"], "items": {"anyOf": [{"type": ["string", "null"]}, {"type": "array"}]}},
            // What pipelinewise and the Meltano SDK taps emit: numerics as
            // numbers with multipleOf and bounds, varchar lengths, nested
            // objects.
            "pw": {"type": ["null", "number"], "multipleOf": 0.01, "minimum": -1000, "maximum": 1000, "exclusiveMaximum": true},
            "mo": {"type": ["null", "integer"], "multipleOf": 2, "exclusiveMinimum": -2},
            "len": {"type": ["null", "string"], "maxLength": 3, "minLength": 1},
            "obj": {"type": ["null", "object"], "properties": {
                "id": {"type": "integer", "minimum": 0},
                "at": {"type": ["null", "string"], "format": "date-time"},
            }, "required": ["id"], "additionalProperties": false},
        }, "required": ["i"]});
        let config = ValidationConfig::default();
        let fast = FastSchema::compile(&schema, &config).expect("covered");
        assert_eq!(fast.required, [0]);
        let validator = Validator::new("s", &schema, &config).expect("compiles");
        let values = [
            "null",
            "true",
            "false",
            "0",
            "-1",
            "1.0",
            "1e400",
            "12345678901234567890123",
            "1234.56",
            "12345.6",
            "1234.567",
            "\"\"",
            "\"x\"",
            "\"NaN\"",
            "\"2024-05-01T12:00:00Z\"",
            "\"2024-05-01\"",
            "\"2024-02-30\"",
            "\"12.50\"",
            "[]",
            "[\"a\"]",
            "[1]",
            "{}",
            "{\"a\":1}",
            "\"a\\\"b\"",
            "\"Infinity\"",
            "\"-Infinity\"",
            "\"\\u004EaN\"",
            "[[\"a\"],[null]]",
            "[\"a\",null]",
            "1000",
            "999.99",
            "-1000",
            "-1000.01",
            "0.015",
            "4",
            "-2",
            "\"abcd\"",
            "\"ab\"",
            "\"ééé\"",
            "\"éééé\"",
            "\"\\u00e9\\u00e9\\u00e9\"",
            "{\"id\":1}",
            "{\"id\":-1}",
            "{\"id\":1,\"at\":\"2024-05-01T12:00:00Z\"}",
            "{\"id\":1,\"at\":\"2024-13-01T12:00:00Z\"}",
            "{\"id\":1,\"extra\":true}",
            "{\"at\":null}",
            "{\"\\u0069d\":1}",
            "{\"id\":1,\"id\":\"x\"}",
            "{\"id\":\"x\",\"id\":1}",
            "{ \"id\" : 2 , \"at\" : null }",
        ];
        let names: Vec<&str> = fast_names(&schema);
        let mut passed = 0;
        for (index, name) in names.iter().enumerate() {
            for text in values {
                let raw: Box<serde_json::value::RawValue> =
                    serde_json::from_str(text).expect("json");
                let mut record = serde_json::Map::new();
                record.insert("i".to_owned(), json!(1));
                record.insert(
                    (*name).to_owned(),
                    serde_json::from_str(text).expect("json"),
                );
                let full = validator.is_valid(&Value::Object(record));
                let quick = fast.checks[index].passes(raw.get());
                assert!(
                    !quick || full,
                    "{name} = {text}: fast path passed what the validator rejects"
                );
                passed += usize::from(quick);
            }
        }
        // anyOf and string enums are covered: floats with their special
        // strings, multi-dimensional arrays.
        let index = |n: &str| names.iter().position(|x| *x == n).expect("property");
        let raw = |t: &'static str| -> &'static str {
            let _: Box<serde_json::value::RawValue> = serde_json::from_str(t).expect("json");
            t
        };
        assert!(fast.checks[index("f")].passes(raw("1.25")));
        assert!(fast.checks[index("f")].passes(raw("\"NaN\"")));
        assert!(!fast.checks[index("f")].passes(raw("\"nan\"")));
        assert!(fast.checks[index("m")].passes(raw("[[\"a\"],[null]]")));
        assert!(!fast.checks[index("e")].passes(raw("\"y\"")));
        // The numeric keywords, lengths and nested objects are covered.
        assert!(fast.checks[index("pw")].passes(raw("999.99")));
        assert!(!fast.checks[index("pw")].passes(raw("1000")));
        assert!(!fast.checks[index("pw")].passes(raw("0.015")));
        assert!(fast.checks[index("mo")].passes(raw("4")));
        assert!(!fast.checks[index("mo")].passes(raw("-2")));
        assert!(fast.checks[index("len")].passes(raw("\"ééé\"")));
        assert!(fast.checks[index("len")].passes(raw("\"\\u00e9\\u00e9\\u00e9\"")));
        assert!(!fast.checks[index("len")].passes(raw("\"abcd\"")));
        assert!(
            fast.checks[index("obj")].passes(raw("{\"id\":1,\"at\":\"2024-05-01T12:00:00Z\"}"))
        );
        assert!(!fast.checks[index("obj")].passes(raw("{\"id\":1,\"extra\":true}")));
        assert!(!fast.checks[index("obj")].passes(raw("{\"at\":null}")));
        assert!(
            passed > 60,
            "the fast path should pass most valid values, passed {passed}"
        );
        // Keywords it does not cover turn it off.
        assert!(
            FastSchema::compile(&json!({"properties": {"a": {"pattern": "^a"}}}), &config)
                .is_none()
        );
        assert!(
            FastSchema::compile(&json!({"properties": {"a": {"anyOf": []}}}), &config).is_none()
        );
        assert!(
            FastSchema::compile(&json!({"properties": {"a": {"enum": [1]}}}), &config).is_none()
        );
        assert!(
            FastSchema::compile(&json!({"properties": {"a": {"$ref": "#/x"}}}), &config).is_none()
        );
        // A multipleOf the validator refuses, or an object schema as
        // additionalProperties, turn it off too.
        assert!(
            FastSchema::compile(&json!({"properties": {"a": {"multipleOf": 0}}}), &config)
                .is_none()
        );
        assert!(
            FastSchema::compile(
                &json!({"properties": {"a": {"properties": {}, "additionalProperties": {"type": "string"}}}}),
                &config
            )
            .is_none()
        );
        assert!(FastSchema::compile(&json!({"$schema": "x", "properties": {}}), &config).is_none());
    }

    /// Generated values (scalars, special strings, nested arrays) against
    /// the schemas tap-postgres emits: whatever the fast path passes, the
    /// validator accepts.
    #[test]
    fn generated_values_never_pass_the_fast_path_alone() {
        let schema = json!({"type": "object", "properties": {
            "f": {"anyOf": [{"type": ["number", "null"]}, {"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]}]},
            "m": {"type": ["array", "null"], "items": {"anyOf": [{"type": ["integer", "null"]}, {"type": "array"}]}},
            "d": {"anyOf": [{"type": "string", "format": "date"}, {"type": "string", "enum": ["infinity"]}]},
            "x": {"anyOf": [{"type": ["string", "null"], "format": "x-singer.decimal", "precision": 5, "scale": 2}, {"type": "boolean"}]},
            "pw": {"type": ["null", "number"], "multipleOf": 0.5, "minimum": -7, "maximum": 1000},
            "len": {"type": ["null", "string", "array"], "maxLength": 4, "items": {"type": "integer", "exclusiveMinimum": 0}},
            "obj": {"type": ["null", "object", "array"], "properties": {"a": {"type": "array", "items": {"type": ["integer", "null"]}}}, "required": ["a"]},
        }});
        let config = ValidationConfig::default();
        let fast = FastSchema::compile(&schema, &config).expect("covered");
        let validator = Validator::new("s", &schema, &config).expect("compiles");
        let atoms = [
            "null",
            "true",
            "false",
            "0",
            "-7",
            "1.5",
            "1e3",
            "-0.0",
            "123.45",
            "1234.5",
            "99999999999999999999",
            "\"NaN\"",
            "\"nan\"",
            "\"Infinity\"",
            "\"-Infinity\"",
            "\"\\u004EaN\"",
            "\"infinity\"",
            "\"2024-02-29\"",
            "\"2023-02-29\"",
            "\"-0044-03-15\"",
            "\"12.5\"",
            "\"123.456\"",
            "\"\"",
            "{}",
            "{\"a\":[1]}",
        ];
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = |bound: usize| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            usize::try_from(state >> 33).expect("fits") % bound
        };
        let names = fast_names(&schema);
        let mut passed = 0;
        for _ in 0..4_000 {
            let text = nested(0, &mut next, &atoms);
            let raw: Box<serde_json::value::RawValue> = serde_json::from_str(&text).expect("json");
            for (index, name) in names.iter().enumerate() {
                let mut record = serde_json::Map::new();
                record.insert(
                    (*name).to_owned(),
                    serde_json::from_str(&text).expect("json"),
                );
                let quick = fast.checks[index].passes(raw.get());
                assert!(
                    !quick || validator.is_valid(&Value::Object(record)),
                    "{name} = {text}: fast path passed what the validator rejects"
                );
                passed += usize::from(quick);
            }
        }
        assert!(passed > 2_000, "the fast path passed only {passed}");
    }

    /// A JSON text: one of `atoms`, or (sometimes, up to depth 3) an array
    /// of such texts.
    fn nested(depth: usize, next: &mut dyn FnMut(usize) -> usize, atoms: &[&str]) -> String {
        if depth < 3 && next(4) == 0 {
            let len = next(4);
            let items: Vec<String> = (0..len).map(|_| nested(depth + 1, next, atoms)).collect();
            format!("[{}]", items.join(","))
        } else {
            atoms[next(atoms.len())].to_owned()
        }
    }

    fn fast_names(schema: &Value) -> Vec<&str> {
        schema["properties"]
            .as_object()
            .map(|p| p.keys().map(String::as_str).collect())
            .unwrap_or_default()
    }
}
