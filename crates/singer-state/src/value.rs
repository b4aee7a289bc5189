//! Bookmark values and their exact ordering.

use std::cmp::Ordering;
use std::fmt;

use chrono::{NaiveDate, NaiveDateTime};
use serde_json::Value;

use crate::error::{Error, Result, render_value};
use crate::temporal::{parse_date, parse_date_time};
use singer_protocol::Decimal;

/// JSON Schema keys read by [`BookmarkKind::from_schema`].
const SCHEMA_TYPE: &str = "type";
const SCHEMA_FORMAT: &str = "format";
const SCHEMA_ANY_OF: &str = "anyOf";
const SCHEMA_ONE_OF: &str = "oneOf";
const FORMAT_DATE_TIME: &str = "date-time";
const FORMAT_DATE: &str = "date";
const FORMAT_SINGER_DECIMAL: &str = "x-singer.decimal";

/// What a replication key holds, which decides how its values are ordered.
///
/// Values of different kinds never compare: see [`Error::KindMismatch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BookmarkKind {
    /// Integers and decimals of any size, compared exactly on their decimal
    /// text (`1e3 == 1000`, `-0 == 0`).
    Number,
    /// RFC 3339 date-times with an offset, compared as instants (so
    /// `10:00:00+02:00 == 08:00:00Z`), to the nanosecond and beyond.
    Timestamp,
    /// Date-times without an offset, compared as wall-clock times.
    NaiveTimestamp,
    /// Calendar dates (`YYYY-MM-DD`).
    Date,
    /// Any other string, compared byte by byte (like `COLLATE "C"`).
    String,
}

impl BookmarkKind {
    /// The kind of a replication key from its JSON Schema.
    ///
    /// `integer` or `number` (or a string with format `x-singer.decimal`)
    /// → [`Number`](Self::Number); a string with format `date-time` →
    /// [`Timestamp`](Self::Timestamp) (which
    /// [`BookmarkValue::from_json`] turns into
    /// [`NaiveTimestamp`](Self::NaiveTimestamp) for values without an
    /// offset); format `date` → [`Date`](Self::Date); anything else →
    /// [`String`](Self::String). `null` in a type list is ignored, and for a
    /// schema with only `anyOf`/`oneOf`, the first branch with a type wins.
    #[must_use]
    pub fn from_schema(schema: &Value) -> Self {
        let types: Vec<&str> = match schema.get(SCHEMA_TYPE) {
            Some(Value::String(single)) => vec![single.as_str()],
            Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let types: Vec<&str> = types.into_iter().filter(|ty| *ty != "null").collect();
        if types.is_empty() {
            return [SCHEMA_ANY_OF, SCHEMA_ONE_OF]
                .iter()
                .filter_map(|key| schema.get(key).and_then(Value::as_array))
                .flatten()
                .find(|branch| {
                    branch.get(SCHEMA_TYPE).is_some_and(|ty| match ty {
                        Value::String(single) => single != "null",
                        Value::Array(many) => many.iter().any(|ty| ty.as_str() != Some("null")),
                        _ => false,
                    })
                })
                .map_or(Self::String, Self::from_schema);
        }
        if types.iter().all(|ty| matches!(*ty, "integer" | "number")) {
            return Self::Number;
        }
        if types.contains(&"string") {
            return match schema.get(SCHEMA_FORMAT).and_then(Value::as_str) {
                Some(FORMAT_DATE_TIME) => Self::Timestamp,
                Some(FORMAT_DATE) => Self::Date,
                Some(FORMAT_SINGER_DECIMAL) => Self::Number,
                _ => Self::String,
            };
        }
        Self::String
    }

    /// A lower-case name for messages: `number`, `timestamp`,
    /// `naive timestamp`, `date`, `string`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Number => "number",
            Self::Timestamp => "timestamp",
            Self::NaiveTimestamp => "naive timestamp",
            Self::Date => "date",
            Self::String => "string",
        }
    }
}

impl fmt::Display for BookmarkKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A replication key value: the JSON value exactly as received, plus what
/// it means, for ordering.
///
/// Ordering ([`PartialOrd`]) is exact within a kind and undefined across
/// kinds (`partial_cmp` returns `None`; [`BookmarkValue::compare`] returns
/// [`Error::KindMismatch`]). Equality follows the ordering: `1e3 == 1000`,
/// and two timestamps are equal when they are the same instant.
///
/// ```
/// use serde_json::json;
/// use singer_state::{BookmarkKind, BookmarkValue};
///
/// let stored = BookmarkValue::from_json(&json!("2024-05-01T10:00:00+02:00"), BookmarkKind::Timestamp)?;
/// let new = BookmarkValue::infer(&json!("2024-05-01T08:00:00.000001Z"))?;
/// assert!(new > stored);
/// // Rendering gives back the value exactly as it was received.
/// assert_eq!(stored.to_json(), json!("2024-05-01T10:00:00+02:00"));
/// # Ok::<(), singer_state::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct BookmarkValue {
    json: Value,
    parsed: Parsed,
}

#[derive(Debug, Clone)]
enum Parsed {
    /// The number's text, checked by [`Decimal::parse_json`].
    Number(String),
    Timestamp {
        utc: NaiveDateTime,
        sub_nanos: String,
    },
    NaiveTimestamp {
        local: NaiveDateTime,
        sub_nanos: String,
    },
    Date(NaiveDate),
    String,
}

impl BookmarkValue {
    /// Reads `value` as a value of `kind`, the kind of the replication key
    /// (usually from [`BookmarkKind::from_schema`]).
    ///
    /// - [`Number`](BookmarkKind::Number): a JSON number, or a string holding
    ///   one (as `x-singer.decimal` columns are sent).
    /// - [`Timestamp`](BookmarkKind::Timestamp) and
    ///   [`NaiveTimestamp`](BookmarkKind::NaiveTimestamp): a string
    ///   `YYYY-MM-DD[T ]HH:MM:SS[.f][offset]`; the value's kind is
    ///   `Timestamp` if it has an offset and `NaiveTimestamp` if not, whichever
    ///   of the two was asked for.
    /// - [`Date`](BookmarkKind::Date): a string `YYYY-MM-DD`.
    /// - [`String`](BookmarkKind::String): any string.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidValue`] if the value does not fit the kind (for
    /// instance a date past year 9999, which is refused rather than clamped).
    pub fn from_json(value: &Value, kind: BookmarkKind) -> Result<Self> {
        parse_as(value, kind).map_err(|reason| Error::InvalidValue {
            kind: Some(kind),
            value: render_value(value),
            reason,
        })
    }

    /// Reads `value` guessing its kind from the value alone, for bookmarks
    /// whose schema is unknown: a number is a
    /// [`Number`](BookmarkKind::Number); a string is a
    /// [`Timestamp`](BookmarkKind::Timestamp) if it is an RFC 3339 date-time
    /// with an offset, a [`NaiveTimestamp`](BookmarkKind::NaiveTimestamp) if
    /// it is one without, a [`Date`](BookmarkKind::Date) if it is
    /// `YYYY-MM-DD`, and a [`String`](BookmarkKind::String) otherwise (so
    /// `"infinity"` or a year past 9999 stays a string).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidValue`] if the value is not a number or a string.
    pub fn infer(value: &Value) -> Result<Self> {
        let kind = match value {
            Value::Number(_) => BookmarkKind::Number,
            Value::String(text) => match parse_date_time(text) {
                Some(date_time) if date_time.offset.is_some() => BookmarkKind::Timestamp,
                Some(_) => BookmarkKind::NaiveTimestamp,
                None if parse_date(text).is_some() => BookmarkKind::Date,
                None => BookmarkKind::String,
            },
            _ => {
                return Err(Error::InvalidValue {
                    kind: None,
                    value: render_value(value),
                    reason: "a bookmark value must be a number or a string",
                });
            }
        };
        parse_as(value, kind).map_err(|reason| Error::InvalidValue {
            kind: None,
            value: render_value(value),
            reason,
        })
    }

    /// The kind of this value.
    #[must_use]
    pub const fn kind(&self) -> BookmarkKind {
        match self.parsed {
            Parsed::Number(_) => BookmarkKind::Number,
            Parsed::Timestamp { .. } => BookmarkKind::Timestamp,
            Parsed::NaiveTimestamp { .. } => BookmarkKind::NaiveTimestamp,
            Parsed::Date(_) => BookmarkKind::Date,
            Parsed::String => BookmarkKind::String,
        }
    }

    /// The value exactly as it was received (numbers keep their text).
    #[must_use]
    pub const fn as_json(&self) -> &Value {
        &self.json
    }

    /// A copy of the value exactly as it was received.
    #[must_use]
    pub fn to_json(&self) -> Value {
        self.json.clone()
    }

    /// The value exactly as it was received.
    #[must_use]
    pub fn into_json(self) -> Value {
        self.json
    }

    /// Orders `self` (the stored value) against `other` (the new value) of
    /// replication key `key` of stream `stream`.
    ///
    /// # Errors
    ///
    /// [`Error::KindMismatch`] when the two values are of different kinds.
    pub fn compare(&self, other: &Self, stream: &str, key: &str) -> Result<Ordering> {
        self.partial_cmp(other).ok_or_else(|| Error::KindMismatch {
            stream: stream.to_owned(),
            key: key.to_owned(),
            left_kind: self.kind(),
            right_kind: other.kind(),
        })
    }
}

impl PartialEq for BookmarkValue {
    fn eq(&self, other: &Self) -> bool {
        self.partial_cmp(other) == Some(Ordering::Equal)
    }
}

impl PartialOrd for BookmarkValue {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        match (&self.parsed, &other.parsed) {
            (Parsed::Number(left), Parsed::Number(right)) => {
                let left = Decimal::parse_json(left).ok()?;
                let right = Decimal::parse_json(right).ok()?;
                Some(left.cmp(&right))
            }
            (
                Parsed::Timestamp {
                    utc: left,
                    sub_nanos: left_sub,
                },
                Parsed::Timestamp {
                    utc: right,
                    sub_nanos: right_sub,
                },
            )
            | (
                Parsed::NaiveTimestamp {
                    local: left,
                    sub_nanos: left_sub,
                },
                Parsed::NaiveTimestamp {
                    local: right,
                    sub_nanos: right_sub,
                },
            ) => Some(left.cmp(right).then_with(|| left_sub.cmp(right_sub))),
            (Parsed::Date(left), Parsed::Date(right)) => Some(left.cmp(right)),
            (Parsed::String, Parsed::String) => {
                let left = self.json.as_str().unwrap_or_default();
                let right = other.json.as_str().unwrap_or_default();
                Some(left.as_bytes().cmp(right.as_bytes()))
            }
            _ => None,
        }
    }
}

impl fmt::Display for BookmarkValue {
    /// The value as JSON text, exactly as received.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.json, f)
    }
}

/// Reads `value` as `kind`, or says why it cannot be.
fn parse_as(value: &Value, kind: BookmarkKind) -> std::result::Result<BookmarkValue, &'static str> {
    let parsed = match kind {
        BookmarkKind::Number => {
            let text = match value {
                Value::Number(number) => number.to_string(),
                Value::String(text) => text.clone(),
                _ => return Err("expected a number"),
            };
            Decimal::parse_json(&text).map_err(singer_protocol::DecimalSyntaxError::reason)?;
            Parsed::Number(text)
        }
        BookmarkKind::Timestamp | BookmarkKind::NaiveTimestamp => {
            let text = value.as_str().ok_or("expected a date-time string")?;
            let date_time = parse_date_time(text).ok_or(
                "expected `YYYY-MM-DD[T ]HH:MM:SS[.fraction][offset]` with a 4-digit year",
            )?;
            let sub_nanos = date_time.sub_nanos.clone();
            if date_time.offset.is_some() {
                let utc = date_time
                    .utc()
                    .ok_or("the date-time is out of the supported range")?;
                Parsed::Timestamp { utc, sub_nanos }
            } else {
                Parsed::NaiveTimestamp {
                    local: date_time.local,
                    sub_nanos,
                }
            }
        }
        BookmarkKind::Date => {
            let text = value.as_str().ok_or("expected a date string")?;
            Parsed::Date(parse_date(text).ok_or("expected `YYYY-MM-DD` with a 4-digit year")?)
        }
        BookmarkKind::String => {
            if !value.is_string() {
                return Err("expected a string");
            }
            Parsed::String
        }
    };
    Ok(BookmarkValue {
        json: value.clone(),
        parsed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::cmp::Ordering::{Equal, Greater, Less};

    /// A JSON value from its exact text (numbers keep every digit).
    fn raw(text: &str) -> Value {
        serde_json::from_str(text).unwrap_or_else(|error| panic!("{text}: {error}"))
    }

    fn value(text: &str, kind: BookmarkKind) -> BookmarkValue {
        BookmarkValue::from_json(&raw(text), kind).unwrap_or_else(|error| panic!("{text}: {error}"))
    }

    #[test]
    fn orders_values_of_each_kind_exactly() {
        use BookmarkKind::{Date, NaiveTimestamp, Number, String, Timestamp};
        let cases: &[(&str, &str, BookmarkKind, Ordering)] = &[
            // Integers.
            ("1", "2", Number, Less),
            ("-5", "3", Number, Less),
            (
                "9223372036854775807",
                "9223372036854775806",
                Number,
                Greater,
            ),
            (
                "18446744073709551616",
                "18446744073709551615",
                Number,
                Greater,
            ),
            // Huge decimals, exponents, signs.
            (
                "12345678901234567890.123456789012345678",
                "12345678901234567890.123456789012345679",
                Number,
                Less,
            ),
            ("1e3", "1000", Number, Equal),
            ("-0", "0", Number, Equal),
            ("-0.5", "-0.25", Number, Less),
            ("2.50", "2.5", Number, Equal),
            ("\"123.450\"", "123.45", Number, Equal),
            // Timestamps: same instant at different offsets, microseconds.
            (
                "\"2024-05-01T10:00:00+02:00\"",
                "\"2024-05-01T08:00:00Z\"",
                Timestamp,
                Equal,
            ),
            (
                "\"2024-05-01T08:00:00.000001Z\"",
                "\"2024-05-01T08:00:00Z\"",
                Timestamp,
                Greater,
            ),
            (
                "\"2024-05-01T08:00:00.123456Z\"",
                "\"2024-05-01T08:00:00.123457+00:00\"",
                Timestamp,
                Less,
            ),
            (
                "\"2024-05-01T23:30:00-05:00\"",
                "\"2024-05-02T03:00:00Z\"",
                Timestamp,
                Greater,
            ),
            (
                "\"2024-05-01 08:00:00.1234567891+00\"",
                "\"2024-05-01T08:00:00.1234567890Z\"",
                Timestamp,
                Greater,
            ),
            // Naive timestamps.
            (
                "\"2024-05-01T08:00:00\"",
                "\"2024-05-01 08:00:00.000000\"",
                NaiveTimestamp,
                Equal,
            ),
            (
                "\"2024-05-01 08:00:00.5\"",
                "\"2024-05-01T08:00:00.4999\"",
                NaiveTimestamp,
                Greater,
            ),
            // Dates.
            ("\"2024-02-29\"", "\"2024-03-01\"", Date, Less),
            ("\"0001-01-01\"", "\"9999-12-31\"", Date, Less),
            // Strings: byte order.
            ("\"a\"", "\"b\"", String, Less),
            ("\"B\"", "\"a\"", String, Less),
            ("\"abc\"", "\"ab\"", String, Greater),
            ("\"é\"", "\"z\"", String, Greater),
            ("\"10\"", "\"9\"", String, Less),
        ];
        for (left, right, kind, expected) in cases {
            let (l, r) = (value(left, *kind), value(right, *kind));
            assert_eq!(l.partial_cmp(&r), Some(*expected), "{left} vs {right}");
            assert_eq!(
                r.partial_cmp(&l),
                Some(expected.reverse()),
                "{right} vs {left}"
            );
            assert_eq!(l == r, *expected == Equal, "{left} == {right}");
        }
    }

    #[test]
    fn comparing_different_kinds_is_an_error_not_a_guess() {
        let cases = [
            ("1", "\"1\""),
            ("\"2024-05-01T08:00:00Z\"", "\"2024-05-01T08:00:00\""),
            ("\"2024-05-01\"", "\"2024-05-01T00:00:00\""),
            ("\"2024-05-01\"", "\"tomorrow\""),
            ("20240501", "\"2024-05-01\""),
        ];
        for (left, right) in cases {
            let l = BookmarkValue::infer(&raw(left)).expect(left);
            let r = BookmarkValue::infer(&raw(right)).expect(right);
            assert_eq!(l.partial_cmp(&r), None, "{left} vs {right}");
            assert_ne!(l, r);
            let error = l
                .compare(&r, "public-orders", "updated_at")
                .expect_err("mismatch");
            assert!(error.is_kind_mismatch(), "{error}");
            match error {
                Error::KindMismatch {
                    stream,
                    key,
                    left_kind,
                    right_kind,
                } => {
                    assert_eq!(stream, "public-orders");
                    assert_eq!(key, "updated_at");
                    assert_eq!(left_kind, l.kind());
                    assert_eq!(right_kind, r.kind());
                }
                other => panic!("unexpected {other}"),
            }
        }
    }

    #[test]
    fn infers_kinds_from_values() {
        let cases = [
            ("42", BookmarkKind::Number),
            ("-1.5e-7", BookmarkKind::Number),
            ("\"2024-05-01T08:00:00Z\"", BookmarkKind::Timestamp),
            (
                "\"2024-05-01 08:00:00.123456-07:00\"",
                BookmarkKind::Timestamp,
            ),
            (
                "\"2024-05-01T08:00:00.123456\"",
                BookmarkKind::NaiveTimestamp,
            ),
            ("\"2024-05-01\"", BookmarkKind::Date),
            ("\"42\"", BookmarkKind::String),
            ("\"infinity\"", BookmarkKind::String),
            ("\"10000-01-01T00:00:00Z\"", BookmarkKind::String),
            ("\"-0044-03-15\"", BookmarkKind::String),
            ("\"2024-13-01\"", BookmarkKind::String),
            ("\"\"", BookmarkKind::String),
        ];
        for (text, kind) in cases {
            assert_eq!(
                BookmarkValue::infer(&raw(text)).expect(text).kind(),
                kind,
                "{text}"
            );
        }
        for text in ["null", "true", "[1]", "{\"a\":1}"] {
            let error = BookmarkValue::infer(&raw(text)).expect_err(text);
            assert!(
                matches!(error, Error::InvalidValue { kind: None, .. }),
                "{text}"
            );
        }
    }

    #[test]
    fn explicit_kinds_refuse_values_that_do_not_fit() {
        let cases = [
            ("\"abc\"", BookmarkKind::Number),
            ("\"NaN\"", BookmarkKind::Number),
            ("true", BookmarkKind::Number),
            ("1", BookmarkKind::String),
            ("\"2024-05-01\"", BookmarkKind::Timestamp),
            ("\"10000-01-01T00:00:00Z\"", BookmarkKind::Timestamp),
            ("\"0044-03-15 BC\"", BookmarkKind::Date),
            ("\"+10000-01-01\"", BookmarkKind::Date),
            ("\"infinity\"", BookmarkKind::Timestamp),
            ("20240501", BookmarkKind::Date),
        ];
        for (text, kind) in cases {
            let error = BookmarkValue::from_json(&raw(text), kind).expect_err(text);
            assert!(
                matches!(error, Error::InvalidValue { kind: Some(k), .. } if k == kind),
                "{text}: {error}"
            );
        }
    }

    #[test]
    fn date_time_kinds_follow_the_offset() {
        let with_offset = value(
            "\"2024-05-01T08:00:00+01:00\"",
            BookmarkKind::NaiveTimestamp,
        );
        assert_eq!(with_offset.kind(), BookmarkKind::Timestamp);
        let without = value("\"2024-05-01T08:00:00\"", BookmarkKind::Timestamp);
        assert_eq!(without.kind(), BookmarkKind::NaiveTimestamp);
    }

    #[test]
    fn renders_the_value_exactly_as_received() {
        for text in [
            "12345678901234567890.123456789012345678",
            // serde_json itself writes an exponent's `E` as `e`; the rest of
            // the text is kept.
            "1e+3",
            "-0.000",
            "\"2024-05-01T10:00:00.000000+02:00\"",
        ] {
            let parsed = BookmarkValue::infer(&raw(text)).expect(text);
            assert_eq!(parsed.as_json().to_string(), text);
            assert_eq!(parsed.to_string(), text);
            assert_eq!(parsed.clone().into_json(), raw(text));
        }
    }

    #[test]
    fn kinds_come_from_json_schema() {
        let cases = [
            (json!({"type": "integer"}), BookmarkKind::Number),
            (json!({"type": ["null", "number"]}), BookmarkKind::Number),
            (json!({"type": ["integer", "number"]}), BookmarkKind::Number),
            (
                json!({"type": ["null", "string"], "format": "date-time"}),
                BookmarkKind::Timestamp,
            ),
            (
                json!({"type": "string", "format": "date"}),
                BookmarkKind::Date,
            ),
            (
                json!({"type": "string", "format": "x-singer.decimal", "precision": 38, "scale": 9}),
                BookmarkKind::Number,
            ),
            (json!({"type": "string"}), BookmarkKind::String),
            (json!({"type": ["string", "integer"]}), BookmarkKind::String),
            (
                json!({"anyOf": [{"type": "null"}, {"type": "string", "format": "date-time"}]}),
                BookmarkKind::Timestamp,
            ),
            (json!({}), BookmarkKind::String),
        ];
        for (schema, kind) in cases {
            assert_eq!(BookmarkKind::from_schema(&schema), kind, "{schema}");
        }
    }
}
