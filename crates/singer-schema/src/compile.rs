//! Turns a SCHEMA message's schema into the copy the `jsonschema` crate
//! compiles, with the keywords we check ourselves rewritten into custom
//! keywords.
//!
//! Why rewrite instead of trusting the crate's own keywords:
//!
//! - `minimum`/`maximum`/`exclusive*`/`multipleOf` are decided on the
//!   number's decimal text ([`crate::decimal`]); the crate compares against
//!   the schema's limit as an `f64`, so `multipleOf: 1e-38` and a
//!   `maximum: 1e62` bound (both emitted by pipelinewise-tap-postgres) are
//!   not exact there. One custom keyword also accepts draft 4's boolean
//!   `exclusiveMaximum: true` next to draft 6+'s numeric form, so the
//!   pipelinewise schemas (draft 4 idioms, no `$schema`) compile under the
//!   default draft 7.
//! - `format: date-time | date | time` are checked by [`crate::temporal`],
//!   which accepts PostgreSQL's spellings; every other `format` stays an
//!   annotation (taps emit `uri`, `email`, … loosely, and no target column
//!   depends on them).
//! - `format: x-singer.decimal | singer.decimal` gets an exact precision and
//!   scale check, and the property's `type` accepts a JSON number next to
//!   the string: our tap writes numerics as exact JSON numbers, the SDK as
//!   strings, and both mean the same decimal.

use jsonschema::{Draft, Keyword, ValidationError as JsError, paths::Location};
use serde_json::{Map, Value, json};

use crate::error::{Error, Result};
use singer_protocol::temporal;
use singer_protocol::{Decimal, MAX_DIVISOR_DIGITS};

/// Custom keyword: exact numeric bounds and `multipleOf`.
pub(crate) const NUMBER_KEYWORD: &str = "x-singer-schema-number";
/// Custom keyword: an exact decimal with optional precision and scale.
pub(crate) const DECIMAL_KEYWORD: &str = "x-singer-schema-decimal";
/// Custom keyword: a `date`, `time` or `date-time` string.
pub(crate) const FORMAT_KEYWORD: &str = "x-singer-schema-format";

/// The `format` values that mean an exact decimal string.
pub(crate) const DECIMAL_FORMATS: [&str; 2] = ["x-singer.decimal", "singer.decimal"];

/// Keywords whose value is a map of name → subschema.
const MAP_KEYWORDS: [&str; 5] = [
    "properties",
    "patternProperties",
    "definitions",
    "$defs",
    "dependentSchemas",
];
/// Keywords whose value is one subschema.
const SINGLE_KEYWORDS: [&str; 11] = [
    "additionalProperties",
    "additionalItems",
    "contains",
    "propertyNames",
    "not",
    "if",
    "then",
    "else",
    "unevaluatedItems",
    "unevaluatedProperties",
    "contentSchema",
];
/// Keywords whose value is an array of subschemas.
const ARRAY_KEYWORDS: [&str; 4] = ["anyOf", "oneOf", "allOf", "prefixItems"];

/// What the rewrite needs to know.
pub(crate) struct Rewrite<'a> {
    pub(crate) stream: &'a str,
    pub(crate) draft: Draft,
    pub(crate) check_formats: bool,
    pub(crate) check_decimals: bool,
    pub(crate) max_depth: usize,
}

impl Rewrite<'_> {
    fn invalid(&self, pointer: &str, reason: impl Into<String>) -> Error {
        Error::InvalidSchema {
            stream: self.stream.to_owned(),
            pointer: pointer.to_owned(),
            reason: reason.into(),
        }
    }

    /// Rewrites `node` (at `pointer`, `depth` levels down) in place.
    pub(crate) fn walk(&self, node: &mut Value, pointer: &str, depth: usize) -> Result<()> {
        let Value::Object(map) = node else {
            return Ok(());
        };
        if depth > self.max_depth {
            return Err(Error::SchemaTooDeep {
                stream: self.stream.to_owned(),
                pointer: pointer.to_owned(),
                max_depth: self.max_depth,
            });
        }
        // Up to draft 7 a `$ref` makes its siblings inert; keep them inert.
        let siblings_inert = matches!(self.draft, Draft::Draft4 | Draft::Draft6 | Draft::Draft7)
            && map.contains_key("$ref");
        if !siblings_inert {
            self.rewrite_numbers(map, pointer)?;
            self.rewrite_format(map, pointer)?;
        }
        for keyword in MAP_KEYWORDS {
            if let Some(Value::Object(children)) = map.get_mut(keyword) {
                for (name, child) in children.iter_mut() {
                    let child_pointer = format!("{pointer}/{keyword}/{}", escape(name));
                    self.walk(child, &child_pointer, depth + 1)?;
                }
            }
        }
        if let Some(Value::Object(children)) = map.get_mut("dependencies") {
            for (name, child) in children.iter_mut() {
                let child_pointer = format!("{pointer}/dependencies/{}", escape(name));
                self.walk(child, &child_pointer, depth + 1)?;
            }
        }
        for keyword in SINGLE_KEYWORDS {
            if let Some(child) = map.get_mut(keyword) {
                self.walk(child, &format!("{pointer}/{keyword}"), depth + 1)?;
            }
        }
        for keyword in ARRAY_KEYWORDS {
            if let Some(Value::Array(children)) = map.get_mut(keyword) {
                for (i, child) in children.iter_mut().enumerate() {
                    self.walk(child, &format!("{pointer}/{keyword}/{i}"), depth + 1)?;
                }
            }
        }
        match map.get_mut("items") {
            Some(Value::Array(children)) => {
                for (i, child) in children.iter_mut().enumerate() {
                    self.walk(child, &format!("{pointer}/items/{i}"), depth + 1)?;
                }
            }
            Some(child) => self.walk(child, &format!("{pointer}/items"), depth + 1)?,
            None => {}
        }
        Ok(())
    }

    fn rewrite_numbers(&self, map: &mut Map<String, Value>, pointer: &str) -> Result<()> {
        let number = |map: &mut Map<String, Value>, keyword: &str| -> Result<Option<Value>> {
            match map.remove(keyword) {
                None => Ok(None),
                Some(Value::Number(n)) => Ok(Some(Value::Number(n))),
                Some(Value::Bool(b)) if keyword.starts_with("exclusive") => {
                    Ok(Some(Value::Bool(b)))
                }
                Some(other) => Err(self.invalid(
                    &format!("{pointer}/{keyword}"),
                    format!("{keyword} must be a number, found {}", kind_of(&other)),
                )),
            }
        };
        let minimum = number(map, "minimum")?;
        let maximum = number(map, "maximum")?;
        let exclusive_minimum = number(map, "exclusiveMinimum")?;
        let exclusive_maximum = number(map, "exclusiveMaximum")?;
        let multiple_of = number(map, "multipleOf")?;
        let keyword = number_keyword(
            minimum,
            maximum,
            exclusive_minimum,
            exclusive_maximum,
            multiple_of,
        )
        .map_err(|reason| self.invalid(&format!("{pointer}/multipleOf"), reason))?;
        if let Some(keyword) = keyword {
            map.insert(NUMBER_KEYWORD.to_owned(), keyword);
        }
        Ok(())
    }

    fn rewrite_format(&self, map: &mut Map<String, Value>, pointer: &str) -> Result<()> {
        let Some(Value::String(format)) = map.get("format") else {
            return Ok(());
        };
        if DECIMAL_FORMATS.contains(&format.as_str()) {
            let precision = non_negative(map, "precision")
                .map_err(|reason| self.invalid(&format!("{pointer}/precision"), reason))?;
            let scale = non_negative(map, "scale")
                .map_err(|reason| self.invalid(&format!("{pointer}/scale"), reason))?;
            if let (Some(p), Some(s)) = (precision, scale)
                && s > p
            {
                return Err(
                    self.invalid(pointer, format!("scale {s} is larger than precision {p}"))
                );
            }
            // A decimal may arrive as a string (SDK taps) or as an exact
            // JSON number (our tap): accept both wherever a string is.
            match map.get_mut("type") {
                Some(Value::String(t)) if t == "string" => {
                    map.insert("type".to_owned(), json!(["string", "number"]));
                }
                Some(Value::Array(types))
                    if types.iter().any(|t| t == "string")
                        && !types.iter().any(|t| t == "number") =>
                {
                    types.push(json!("number"));
                }
                _ => {}
            }
            if self.check_decimals {
                map.insert(
                    DECIMAL_KEYWORD.to_owned(),
                    json!({"precision": precision, "scale": scale}),
                );
            }
        } else if self.check_formats && matches!(format.as_str(), "date-time" | "date" | "time") {
            let format = format.clone();
            map.insert(FORMAT_KEYWORD.to_owned(), Value::String(format));
        }
        Ok(())
    }
}

/// `map[key]` as a non-negative integer, if present.
fn non_negative(map: &Map<String, Value>, key: &str) -> std::result::Result<Option<u32>, String> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|v| u32::try_from(v).ok())
            .map(Some)
            .ok_or_else(|| format!("{key} must be a non-negative integer, found {n}")),
        Some(other) => Err(format!(
            "{key} must be a non-negative integer, found {}",
            kind_of(other)
        )),
    }
}

/// RFC 6901 escaping of one pointer segment.
pub(crate) fn escape(segment: &str) -> std::borrow::Cow<'_, str> {
    if segment.contains(['~', '/']) {
        segment.replace('~', "~0").replace('/', "~1").into()
    } else {
        segment.into()
    }
}

/// "a string", "an object", … for messages that must not echo values.
pub(crate) fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The value of [`NUMBER_KEYWORD`] for a schema's `minimum`, `maximum`,
/// `exclusiveMinimum`, `exclusiveMaximum` (a number, or a draft-4 boolean)
/// and `multipleOf`, as taken from it; `None` when there are none. The
/// validator's rewrite and the fast path both build their check from this.
///
/// # Errors
///
/// Why `multipleOf` is not a usable divisor.
pub(crate) fn number_keyword(
    minimum: Option<Value>,
    maximum: Option<Value>,
    exclusive_minimum: Option<Value>,
    exclusive_maximum: Option<Value>,
    multiple_of: Option<Value>,
) -> std::result::Result<Option<Value>, String> {
    let mut bounds = Vec::new();
    for (limit, exclusive, is_max) in [
        (minimum, &exclusive_minimum, false),
        (maximum, &exclusive_maximum, true),
    ] {
        if let Some(limit) = limit {
            // Draft 4: a boolean `exclusive*` modifies its bound.
            let exclusive = matches!(exclusive, Some(Value::Bool(true)));
            bounds.push(json!([limit, is_max, exclusive]));
        }
    }
    for (exclusive, is_max) in [(exclusive_minimum, false), (exclusive_maximum, true)] {
        // Draft 6+: a numeric `exclusive*` is a bound of its own.
        if let Some(limit @ Value::Number(_)) = exclusive {
            bounds.push(json!([limit, is_max, true]));
        }
    }
    if let Some(Value::Number(n)) = &multiple_of {
        let valid = Decimal::parse(n.as_str())
            .is_some_and(|d| !d.is_negative() && !d.is_zero() && d.coefficient().is_some());
        if !valid {
            return Err(format!(
                "multipleOf must be a positive number with at most {MAX_DIVISOR_DIGITS} significant digits, found {n}"
            ));
        }
    }
    if bounds.is_empty() && multiple_of.is_none() {
        return Ok(None);
    }
    let multiple_of = multiple_of.unwrap_or(Value::Null);
    Ok(Some(json!({"bounds": bounds, "multipleOf": multiple_of})))
}

/// One numeric bound, on the limit's exact text.
#[derive(Debug, Clone)]
struct Bound {
    limit: String,
    is_max: bool,
    exclusive: bool,
    /// The limit as an integer, when it is one (most bounds are: a
    /// column type's range), for [`NumberCheck::quick_pass`].
    int_limit: Option<i128>,
}

impl Bound {
    fn holds(&self, value: &Decimal<'_>) -> bool {
        let Some(limit) = Decimal::parse(&self.limit) else {
            return false;
        };
        self.allows(value.cmp_value(&limit))
    }

    /// Whether a value that compares `ord` to the limit is within it.
    const fn allows(&self, ord: std::cmp::Ordering) -> bool {
        match (self.is_max, self.exclusive) {
            (true, true) => ord.is_lt(),
            (true, false) => ord.is_le(),
            (false, true) => ord.is_gt(),
            (false, false) => ord.is_ge(),
        }
    }

    fn describe(&self) -> String {
        let op = match (self.is_max, self.exclusive) {
            (true, true) => "<",
            (true, false) => "<=",
            (false, true) => ">",
            (false, false) => ">=",
        };
        format!("a number {op} {}", self.limit)
    }
}

/// [`NUMBER_KEYWORD`]: exact bounds and `multipleOf`.
#[derive(Debug, Clone)]
pub(crate) struct NumberCheck {
    bounds: Vec<Bound>,
    multiple_of: Option<String>,
    /// `k` when `multipleOf` is `10^k` (`1e-9`, `0.01`, `1`), for
    /// [`NumberCheck::quick_pass`].
    multiple_power: Option<i64>,
}

/// `text`'s value as an integer, if it is one that fits `i128`.
fn integer_value(text: &str) -> Option<i128> {
    let value = Decimal::parse(text)?;
    if value.scale() != 0 {
        return None;
    }
    value.to_plain(38)?.parse().ok()
}

impl NumberCheck {
    pub(crate) fn from_value(value: &Value) -> Option<Self> {
        let bounds = value
            .get("bounds")?
            .as_array()?
            .iter()
            .map(|b| {
                let limit = b.get(0)?.as_number()?.as_str().to_owned();
                Some(Bound {
                    int_limit: integer_value(&limit),
                    limit,
                    is_max: b.get(1)?.as_bool()?,
                    exclusive: b.get(2)?.as_bool()?,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        let multiple_of = value
            .get("multipleOf")
            .and_then(Value::as_number)
            .map(|n| n.as_str().to_owned());
        let multiple_power = multiple_of
            .as_deref()
            .and_then(Decimal::parse)
            .filter(|m| !m.is_negative())
            .and_then(|m| m.abs_power_of_ten());
        Some(Self {
            bounds,
            multiple_of,
            multiple_power,
        })
    }

    /// `Some(true)` when `text` passes, decided without [`Decimal`]: for a
    /// plain number (`-?digits(.digits)?`, at most 38 integer digits)
    /// against integer bounds and a power-of-ten `multipleOf` (what column
    /// types and pipelinewise's numerics declare); `Some(false)` when it
    /// fails there; `None` when the exact path must decide.
    fn quick_pass(&self, text: &str) -> Option<bool> {
        use std::cmp::Ordering;
        let bytes = text.as_bytes();
        let (negative, rest) = match bytes.split_first() {
            Some((b'-', rest)) => (true, rest),
            _ => (false, bytes),
        };
        let int_len = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if int_len == 0 || int_len > 38 {
            return None;
        }
        let (int_digits, rest) = rest.split_at_checked(int_len)?;
        let fraction: &[u8] = match rest.split_first() {
            None => &[],
            Some((b'.', digits)) if !digits.is_empty() && digits.iter().all(u8::is_ascii_digit) => {
                digits
            }
            _ => return None,
        };
        // 19 digits fit a u64 (cheaper to build); 38 stay below i128::MAX
        // (about 1.7e38).
        let magnitude = if int_len <= 19 {
            i128::from(
                int_digits
                    .iter()
                    .fold(0_u64, |acc, d| acc * 10 + u64::from(d - b'0')),
            )
        } else {
            int_digits
                .iter()
                .fold(0_i128, |acc, d| acc * 10 + i128::from(d - b'0'))
        };
        let whole = if negative { -magnitude } else { magnitude };
        let fraction_digits =
            fraction.len() - fraction.iter().rev().take_while(|d| **d == b'0').count();
        for bound in &self.bounds {
            let limit = bound.int_limit?;
            // With a fraction the value lies strictly between two
            // integers: `whole` and the next one away from zero.
            let ord = if fraction_digits == 0 {
                whole.cmp(&limit)
            } else if negative {
                if whole <= limit {
                    Ordering::Less
                } else {
                    Ordering::Greater
                }
            } else if whole >= limit {
                Ordering::Greater
            } else {
                Ordering::Less
            };
            if !bound.allows(ord) {
                return Some(false);
            }
        }
        match (&self.multiple_of, self.multiple_power) {
            (None, _) => Some(true),
            (Some(_), None) => None,
            // value = D·10^e with D free of trailing zeros: a multiple of
            // 10^k exactly when it is zero or e >= k.
            (Some(_), Some(k)) if fraction_digits > 0 => {
                Some(i64::try_from(fraction_digits).is_ok_and(|digits| -digits >= k))
            }
            (Some(_), Some(k)) if k <= 0 => Some(true),
            (Some(_), Some(k)) => {
                let power = 10_i128.checked_pow(u32::try_from(k).ok()?)?;
                Some(magnitude % power == 0)
            }
        }
    }

    /// `None` if `instance` passes, else what was expected.
    fn failure(&self, instance: &Value) -> Option<String> {
        let Value::Number(n) = instance else {
            return None;
        };
        self.failure_text(n.as_str())
    }

    /// As [`NumberCheck::failure`], on a JSON number's text.
    pub(crate) fn failure_text(&self, text: &str) -> Option<String> {
        if self.quick_pass(text) == Some(true) {
            return None;
        }
        self.exact_failure_text(text)
    }

    /// [`NumberCheck::failure_text`] on the exact decimal path only.
    fn exact_failure_text(&self, text: &str) -> Option<String> {
        let Some(value) = Decimal::parse(text) else {
            return Some("a finite number".to_owned());
        };
        if let Some(bound) = self.bounds.iter().find(|b| !b.holds(&value)) {
            return Some(bound.describe());
        }
        if let Some(multiple) = &self.multiple_of {
            let ok = Decimal::parse(multiple).is_some_and(|m| value.is_multiple_of(&m));
            if !ok {
                return Some(format!("a multiple of {multiple}"));
            }
        }
        None
    }
}

impl<'i> Keyword<'i> for NumberCheck {
    fn validate(&self, instance: &'i Value) -> std::result::Result<(), JsError<'i>> {
        self.failure(instance)
            .map_or(Ok(()), |expected| Err(JsError::custom(expected)))
    }

    fn is_valid(&self, instance: &'i Value) -> bool {
        self.failure(instance).is_none()
    }
}

/// [`DECIMAL_KEYWORD`]: an exact decimal string or number within
/// `precision`/`scale`.
pub(crate) struct DecimalCheck {
    pub(crate) precision: Option<u64>,
    pub(crate) scale: Option<u64>,
}

impl DecimalCheck {
    fn failure(&self, instance: &Value) -> Option<String> {
        match instance {
            Value::String(s) => self.failure_text(s, true),
            Value::Number(n) => self.failure_text(n.as_str(), false),
            _ => None,
        }
    }

    /// As [`DecimalCheck::failure`], on a string's content (`is_string`) or
    /// a number's text.
    pub(crate) fn failure_text(&self, text: &str, is_string: bool) -> Option<String> {
        // PostgreSQL's numeric has NaN and ±Infinity: well-formed values of
        // the type, which the loader accepts or refuses by its own policy.
        if is_string && crate::column::NUMBER_SPECIALS.contains(&text) {
            return None;
        }
        let Some(value) = Decimal::parse(text) else {
            return Some(
                "a decimal number or NaN/Infinity/-Infinity (x-singer.decimal)".to_owned(),
            );
        };
        let scale = self.scale.unwrap_or(0);
        if self.scale.is_some() && value.scale() > scale {
            return Some(format!(
                "a decimal with at most {scale} digits after the point (scale {scale})"
            ));
        }
        if let Some(precision) = self.precision {
            let integer_digits = precision.saturating_sub(scale);
            if value.integer_digits() > integer_digits {
                return Some(format!(
                    "a decimal with at most {integer_digits} digits before the point (precision {precision}, scale {scale})"
                ));
            }
            if self.scale.is_none() && value.scale() + value.integer_digits() > precision {
                return Some(format!("a decimal with at most {precision} digits"));
            }
        }
        None
    }
}

impl<'i> Keyword<'i> for DecimalCheck {
    fn validate(&self, instance: &'i Value) -> std::result::Result<(), JsError<'i>> {
        self.failure(instance)
            .map_or(Ok(()), |expected| Err(JsError::custom(expected)))
    }

    fn is_valid(&self, instance: &'i Value) -> bool {
        self.failure(instance).is_none()
    }
}

/// [`FORMAT_KEYWORD`]: `date`, `time` or `date-time` strings.
struct FormatCheck {
    check: fn(&str) -> bool,
    name: &'static str,
}

impl<'i> Keyword<'i> for FormatCheck {
    fn validate(&self, instance: &'i Value) -> std::result::Result<(), JsError<'i>> {
        if self.is_valid(instance) {
            Ok(())
        } else {
            Err(JsError::custom(format!("a {} string", self.name)))
        }
    }

    fn is_valid(&self, instance: &'i Value) -> bool {
        match instance {
            Value::String(s) => (self.check)(s),
            _ => true,
        }
    }
}

/// The `jsonschema` options with our three keywords registered.
pub(crate) fn options(draft: Draft) -> jsonschema::ValidationOptions<'static> {
    jsonschema::options()
        .with_draft(draft)
        // Formats other than ours are annotations (see the module docs).
        .should_validate_formats(false)
        .with_keyword(
            NUMBER_KEYWORD,
            |_: &Map<String, Value>, value: &Value, _: Location| {
                NumberCheck::from_value(value)
                    .map(|check| Box::new(check) as Box<dyn for<'i> Keyword<'i>>)
                    .ok_or_else(|| JsError::custom("malformed internal number keyword"))
            },
        )
        .with_keyword(
            DECIMAL_KEYWORD,
            |_: &Map<String, Value>, value: &Value, _: Location| {
                let check = DecimalCheck {
                    precision: value.get("precision").and_then(Value::as_u64),
                    scale: value.get("scale").and_then(Value::as_u64),
                };
                Ok(Box::new(check) as Box<dyn for<'i> Keyword<'i>>)
            },
        )
        .with_keyword(
            FORMAT_KEYWORD,
            |_: &Map<String, Value>, value: &Value, _: Location| {
                let check = match value.as_str() {
                    Some("date") => FormatCheck {
                        check: temporal::is_date,
                        name: "date",
                    },
                    Some("time") => FormatCheck {
                        check: temporal::is_time,
                        name: "time",
                    },
                    Some("date-time") => FormatCheck {
                        check: temporal::is_date_time,
                        name: "date-time",
                    },
                    _ => return Err(JsError::custom("malformed internal format keyword")),
                };
                Ok(Box::new(check) as Box<dyn for<'i> Keyword<'i>>)
            },
        )
}

#[cfg(test)]
mod tests {
    use super::NumberCheck;

    /// The quick path decides only where it is exact: wherever it answers,
    /// the decimal path answers the same, over bounds and multiples of
    /// every kind and values around them.
    #[test]
    fn the_quick_number_check_agrees_with_the_exact_one_and_covers_plain_numbers() {
        let checks: Vec<serde_json::Value> = [
            r#"{"bounds": [[-9223372036854775808, false, false], [9223372036854775807, true, false]], "multipleOf": null}"#,
            r#"{"bounds": [[-1e29, false, true], [1e29, true, true]], "multipleOf": 1e-9}"#,
            r#"{"bounds": [[0, false, true], [10, true, false]], "multipleOf": 0.01}"#,
            r#"{"bounds": [[-5, false, false]], "multipleOf": 100}"#,
            r#"{"bounds": [[2.5, true, false]], "multipleOf": 0.5}"#,
            r#"{"bounds": [], "multipleOf": 1}"#,
            r#"{"bounds": [[-1, false, true], [1, true, true]], "multipleOf": null}"#,
        ]
        .iter()
        .map(|text| serde_json::from_str(text).expect("JSON"))
        .collect();
        let values = [
            "0",
            "-0",
            "1",
            "-1",
            "0.5",
            "-0.5",
            "2.5",
            "2.50",
            "2.51",
            "10",
            "10.0",
            "10.000001",
            "-5",
            "-5.0",
            "-5.1",
            "-4.9",
            "100",
            "-100",
            "200",
            "250",
            "1.25",
            "0.001",
            "0.010",
            "1.0000000001",
            "1.000000001",
            "99999999999999999999999999999",
            "100000000000000000000000000000",
            "-100000000000000000000000000000",
            "-99999999999999999999999999999.5",
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775808",
            "-9223372036854775809",
            "12345678901234567890123456789012345678",
            "123456789012345678901234567890123456789",
            "1e5",
            "1E-3",
            "-0.999",
            "0.999",
            "1.5e1",
            "00012",
            "3.14159",
            "-3.14159",
            "7",
            "0.25",
            "0.75",
        ];
        for check in &checks {
            let number = NumberCheck::from_value(check).expect("a number check");
            for value in values {
                let exact = number.exact_failure_text(value).is_none();
                if let Some(quick) = number.quick_pass(value) {
                    assert_eq!(quick, exact, "{value} against {check}");
                }
                assert_eq!(
                    number.failure_text(value).is_none(),
                    exact,
                    "{value} against {check}"
                );
            }
        }
        // Plain numbers against integer bounds and powers of ten are
        // decided quickly (the point of it).
        let sdk = NumberCheck::from_value(&checks[1]).expect("check");
        for value in ["0.589", "-12.5", "1", "0", "99999999999999999999999999999"] {
            assert_eq!(sdk.quick_pass(value), Some(true), "{value}");
        }
        assert_eq!(sdk.quick_pass("1.0000000001"), Some(false));
        assert_eq!(sdk.quick_pass("1e3"), None, "exponents take the exact path");
    }
}
