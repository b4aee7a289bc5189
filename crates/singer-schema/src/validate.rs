//! Compiled per-stream record validation.

use std::fmt;

use jsonschema::{Draft, error::ValidationErrorKind};
use serde::Deserialize;
use serde_json::Value;

use crate::compile::{self, Rewrite, kind_of};
use crate::error::{Error, Result, display_pointer};

/// What happens to a record that fails its schema.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ValidationPolicy {
    /// Stop the run with the error (stream, line, field). The default.
    #[default]
    Fail,
    /// Drop the record; the driver counts it and logs at `warn`.
    Skip,
    /// Keep the record; the driver logs at `warn`.
    Log,
}

impl ValidationPolicy {
    /// Applies the policy to a validation result.
    ///
    /// # Errors
    ///
    /// Returns the validation error under [`ValidationPolicy::Fail`].
    pub fn apply(
        self,
        result: Result<(), Box<ValidationError>>,
    ) -> Result<Outcome, Box<ValidationError>> {
        match (result, self) {
            (Ok(()), _) => Ok(Outcome::Valid),
            (Err(error), Self::Fail) => Err(error),
            (Err(error), Self::Skip) => Ok(Outcome::Skip(error)),
            (Err(error), Self::Log) => Ok(Outcome::Keep(error)),
        }
    }
}

/// What to do with one record, once its policy has been applied.
#[derive(Debug)]
#[must_use]
pub enum Outcome {
    /// The record is valid: load it.
    Valid,
    /// Invalid under [`ValidationPolicy::Skip`]: drop it, count it, log the
    /// error at `warn`.
    Skip(Box<ValidationError>),
    /// Invalid under [`ValidationPolicy::Log`]: log the error at `warn` and
    /// load the record anyway.
    Keep(Box<ValidationError>),
}

impl Outcome {
    /// Whether the record is loaded.
    #[must_use]
    pub const fn loads(&self) -> bool {
        !matches!(self, Self::Skip(_))
    }

    /// The validation error, for an invalid record.
    #[must_use]
    pub fn error(&self) -> Option<&ValidationError> {
        match self {
            Self::Valid => None,
            Self::Skip(error) | Self::Keep(error) => Some(error),
        }
    }
}

/// Settings for [`Validator::new`] (`validation` in a target's config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ValidationConfig {
    /// What happens to an invalid record (default `fail`).
    pub policy: ValidationPolicy,
    /// Check `format: date-time | date | time` strings (default `true`).
    /// Other formats are never asserted.
    pub check_formats: bool,
    /// Check `format: x-singer.decimal` values as exact decimals within
    /// their `precision`/`scale` (default `true`).
    pub check_decimals: bool,
    /// Deepest schema nesting accepted (default 64); deeper is a typed
    /// error rather than unbounded recursion.
    pub max_schema_depth: usize,
}

impl ValidationConfig {
    /// The defaults: fail on invalid records, check formats and decimals.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            policy: ValidationPolicy::Fail,
            check_formats: true,
            check_decimals: true,
            max_schema_depth: 64,
        }
    }

    /// Sets [`ValidationConfig::policy`].
    #[must_use]
    pub const fn with_policy(mut self, policy: ValidationPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Sets [`ValidationConfig::check_formats`].
    #[must_use]
    pub const fn with_check_formats(mut self, yes: bool) -> Self {
        self.check_formats = yes;
        self
    }

    /// Sets [`ValidationConfig::check_decimals`].
    #[must_use]
    pub const fn with_check_decimals(mut self, yes: bool) -> Self {
        self.check_decimals = yes;
        self
    }
}

impl Default for ValidationConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// A record that does not match its stream's schema.
///
/// It names the stream, the input line, the JSON pointer of the offending
/// value and what was expected. Its `Display` never includes record
/// contents (STYLE §6: no record contents above `debug`); the offending
/// value, shortened, is in [`ValidationError::value`] for `debug` logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
#[error("stream {stream:?}, line {line}: record fails its schema at {location}: expected {expected}, found {found}", location = display_pointer(pointer))]
pub struct ValidationError {
    /// The stream.
    pub stream: String,
    /// The input line of the RECORD message.
    pub line: u64,
    /// JSON pointer of the offending value inside the record (`""` is the
    /// record itself), e.g. `/c_num` or `/labels/3`.
    pub pointer: String,
    /// The schema keyword that failed (`type`, `anyOf`, `required`, …; our
    /// exact checks report `minimum`/`multipleOf` style names).
    pub keyword: String,
    /// What was expected, in words.
    pub expected: String,
    /// What was found, without its contents: `a string of 3 characters`.
    pub found: String,
    /// The offending value as JSON, cut to 80 characters.
    pub value: String,
}

/// A stream's schema, compiled once, checking records.
///
/// Build one per SCHEMA message; a new SCHEMA for the stream replaces it.
pub struct Validator {
    stream: String,
    inner: jsonschema::Validator,
    policy: ValidationPolicy,
    draft: Draft,
}

impl fmt::Debug for Validator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Validator")
            .field("stream", &self.stream)
            .field("policy", &self.policy)
            .field("draft", &self.draft)
            .finish_non_exhaustive()
    }
}

impl Validator {
    /// Compiles `schema`, the `schema` of `stream`'s SCHEMA message.
    ///
    /// The draft is the one `$schema` names, else draft 7 (Singer taps
    /// rarely say; draft 4's boolean `exclusiveMaximum` is accepted too).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSchema`] if the schema is not an object, names an
    /// unknown `$schema`, has a keyword of the wrong kind or otherwise
    /// cannot be compiled; [`Error::SchemaTooDeep`] past
    /// [`ValidationConfig::max_schema_depth`].
    pub fn new(stream: &str, schema: &Value, config: &ValidationConfig) -> Result<Self> {
        let invalid = |pointer: &str, reason: String| Error::InvalidSchema {
            stream: stream.to_owned(),
            pointer: pointer.to_owned(),
            reason,
        };
        let Value::Object(map) = schema else {
            return Err(invalid(
                "",
                format!("a schema must be an object, found {}", kind_of(schema)),
            ));
        };
        let draft = match map.get("$schema") {
            None => Draft::Draft7,
            Some(Value::String(uri)) => draft_of(uri)
                .ok_or_else(|| invalid("/$schema", format!("unknown $schema {uri:?}")))?,
            Some(other) => {
                return Err(invalid(
                    "/$schema",
                    format!("$schema must be a string, found {}", kind_of(other)),
                ));
            }
        };
        let mut compiled = schema.clone();
        Rewrite {
            stream,
            draft,
            check_formats: config.check_formats,
            check_decimals: config.check_decimals,
            max_depth: config.max_schema_depth,
        }
        .walk(&mut compiled, "", 0)?;
        let inner = compile::options(draft).build(&compiled).map_err(|error| {
            // The place in the stream's schema (the meta-schema validates it:
            // its instance path), not the meta-schema keyword that failed.
            let pointer = error.instance_path().as_str().to_owned();
            invalid(&pointer, error.masked_with("the schema").to_string())
        })?;
        Ok(Self {
            stream: stream.to_owned(),
            inner,
            policy: config.policy,
            draft,
        })
    }

    /// The stream this validator checks.
    #[must_use]
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// The policy from the config.
    #[must_use]
    pub const fn policy(&self) -> ValidationPolicy {
        self.policy
    }

    /// Whether `record` is valid, without building an error.
    #[must_use]
    pub fn is_valid(&self, record: &Value) -> bool {
        self.inner.is_valid(record)
    }

    /// Checks `record`, read from input line `line`.
    ///
    /// Valid records take a fast path that builds no error; only a failing
    /// record is validated a second time to describe the first problem.
    ///
    /// # Errors
    ///
    /// A [`ValidationError`] naming the stream, line, pointer and what was
    /// expected.
    pub fn validate(&self, record: &Value, line: u64) -> Result<(), Box<ValidationError>> {
        if self.inner.is_valid(record) {
            return Ok(());
        }
        Err(Box::new(match self.inner.validate(record) {
            Err(error) => self.convert(&error, line),
            // The slow path disagreeing would be a bug in the crate; still
            // report the record rather than pass it.
            Ok(()) => ValidationError {
                stream: self.stream.clone(),
                line,
                pointer: String::new(),
                keyword: String::new(),
                expected: "a record matching the schema".to_owned(),
                found: kind_of(record).to_owned(),
                value: snippet(record),
            },
        }))
    }

    /// Checks `record` and applies the configured policy.
    ///
    /// # Errors
    ///
    /// The [`ValidationError`] under [`ValidationPolicy::Fail`].
    pub fn check(&self, record: &Value, line: u64) -> Result<Outcome, Box<ValidationError>> {
        let result = self.validate(record, line);
        if let Err(error) = &result {
            tracing::debug!(stream = %self.stream, line, pointer = %error.pointer, error = %error, "Record failed schema validation.");
        }
        self.policy.apply(result)
    }

    fn convert(&self, error: &jsonschema::ValidationError<'_>, line: u64) -> ValidationError {
        let instance = error.instance();
        let (keyword, expected) = describe(error);
        ValidationError {
            stream: self.stream.clone(),
            line,
            pointer: error.instance_path().as_str().to_owned(),
            keyword,
            expected,
            found: found(instance),
            value: snippet(instance),
        }
    }
}

/// The draft a `$schema` URI names.
fn draft_of(uri: &str) -> Option<Draft> {
    let uri = uri.trim_end_matches('#');
    let uri = uri
        .strip_prefix("https://")
        .or_else(|| uri.strip_prefix("http://"))?;
    match uri {
        "json-schema.org/draft-04/schema" => Some(Draft::Draft4),
        "json-schema.org/draft-06/schema" => Some(Draft::Draft6),
        "json-schema.org/draft-07/schema" => Some(Draft::Draft7),
        "json-schema.org/draft/2019-09/schema" => Some(Draft::Draft201909),
        "json-schema.org/draft/2020-12/schema" => Some(Draft::Draft202012),
        _ => None,
    }
}

const SNIPPET_CHARS: usize = 80;

fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", text.get(..cut).unwrap_or(text)),
        None => text.to_owned(),
    }
}

fn snippet(value: &Value) -> String {
    // Bounded work for a huge value: serialise containers only if small.
    match value {
        Value::Array(items) if items.len() > 16 => format!("[… {} items]", items.len()),
        Value::Object(map) if map.len() > 16 => format!("{{… {} properties}}", map.len()),
        _ => shorten(&value.to_string(), SNIPPET_CHARS),
    }
}

fn found(value: &Value) -> String {
    match value {
        Value::String(s) => match s.chars().count() {
            0 => "an empty string".to_owned(),
            1 => "a string of 1 character".to_owned(),
            n => format!("a string of {n} characters"),
        },
        Value::Array(items) => format!("an array of {} items", items.len()),
        Value::Object(map) => format!("an object with {} properties", map.len()),
        other => kind_of(other).to_owned(),
    }
}

fn list(values: impl Iterator<Item = String>) -> String {
    shorten(&values.collect::<Vec<_>>().join(", "), 120)
}

/// The failing keyword and what it expected, without the instance.
fn describe(error: &jsonschema::ValidationError<'_>) -> (String, String) {
    let kind = error.kind();
    let expected = match kind {
        ValidationErrorKind::Type { kind } => match kind {
            jsonschema::error::TypeKind::Single(t) => format!("a value of type {t}"),
            jsonschema::error::TypeKind::Multiple(set) => {
                let names: Vec<String> = set.iter().map(|t| t.to_string()).collect();
                format!("a value of type {}", names.join(" or "))
            }
        },
        ValidationErrorKind::Required { property } => format!("the required property {property}"),
        ValidationErrorKind::AdditionalProperties { unexpected } => format!(
            "no properties beyond the schema's (unexpected: {})",
            list(unexpected.iter().map(|p| format!("{p:?}")))
        ),
        ValidationErrorKind::Enum { options } => {
            format!("one of {}", shorten(&options.to_string(), 120))
        }
        ValidationErrorKind::Constant { expected_value } => {
            format!("the constant {}", shorten(&expected_value.to_string(), 120))
        }
        ValidationErrorKind::MaxLength { limit } => {
            format!("a string of at most {limit} characters")
        }
        ValidationErrorKind::MinLength { limit } => {
            format!("a string of at least {limit} characters")
        }
        ValidationErrorKind::Pattern { pattern } => format!("a string matching /{pattern}/"),
        ValidationErrorKind::Custom { message, .. } => message.clone(),
        ValidationErrorKind::Format { format } => format!("a {format} string"),
        ValidationErrorKind::AnyOf { context } => {
            format!(
                "any of: {}",
                branches(context, error.instance_path().as_str())
            )
        }
        ValidationErrorKind::OneOfNotValid { context } => {
            format!(
                "exactly one of: {}",
                branches(context, error.instance_path().as_str())
            )
        }
        ValidationErrorKind::OneOfMultipleValid { .. } => {
            "exactly one of the oneOf schemas to match, but several do".to_owned()
        }
        ValidationErrorKind::Not { schema } => {
            format!("a value not matching {}", shorten(&schema.to_string(), 120))
        }
        ValidationErrorKind::FalseSchema => "no value at all (the schema is `false`)".to_owned(),
        _ => error.masked_with("the value").to_string(),
    };
    let keyword = match kind {
        ValidationErrorKind::Custom { .. } => custom_keyword(&expected),
        other => other.keyword(),
    };
    (keyword.to_owned(), expected)
}

/// Our custom keywords report the standard keyword they stand for.
fn custom_keyword(expected: &str) -> &'static str {
    if expected.starts_with("a multiple of") {
        "multipleOf"
    } else if expected.starts_with("a number <") {
        "maximum"
    } else if expected.starts_with("a number >") {
        "minimum"
    } else if expected.contains("decimal") || expected.ends_with("string") {
        "format"
    } else {
        "number"
    }
}

/// `(a value of type number) | (a string of at most 0 characters)`.
fn branches(context: &[Vec<jsonschema::ValidationError<'static>>], parent: &str) -> String {
    let parts: Vec<String> = context
        .iter()
        .filter_map(|errors| errors.first())
        .map(|error| {
            let (_, expected) = describe(error);
            let at = error.instance_path().as_str();
            if at == parent {
                format!("({expected})")
            } else {
                format!("({expected} at {at})")
            }
        })
        .collect();
    shorten(&parts.join(" | "), 400)
}
