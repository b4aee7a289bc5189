//! The exact checks of [`crate::Validator`] on one value's text, for
//! callers that check records without building a `serde_json::Value`
//! (the target driver's fast path). Same rules, same code.

use crate::compile::DecimalCheck;
use singer_protocol::temporal;

/// Whether a string passes `format` as [`crate::Validator`] asserts it:
/// `date-time`, `date` and `time` are checked (PostgreSQL spellings
/// accepted); every other format is not asserted (`true`).
///
/// ```
/// use singer_schema::format_text_matches;
///
/// assert!(format_text_matches("date-time", "2024-05-01T12:00:00.123456+00:00"));
/// assert!(!format_text_matches("date", "2024-13-01"));
/// assert!(format_text_matches("email", "not checked"));
/// ```
#[must_use]
pub fn format_text_matches(format: &str, text: &str) -> bool {
    match format {
        "date-time" => temporal::is_date_time(text),
        "date" => temporal::is_date(text),
        "time" => temporal::is_time(text),
        _ => true,
    }
}

/// Whether a value passes the exact `x-singer.decimal` check of
/// [`crate::Validator`] with this `precision` and `scale`: `text` is a
/// string's content (`is_string`, where `NaN`/`Infinity`/`-Infinity` are
/// accepted) or a JSON number's text.
///
/// ```
/// use singer_schema::decimal_text_fits;
///
/// assert!(decimal_text_fits("12345.123456789", false, Some(38), Some(9)));
/// assert!(!decimal_text_fits("0.1234567891", true, Some(38), Some(9)));
/// assert!(decimal_text_fits("NaN", true, Some(10), Some(2)));
/// assert!(!decimal_text_fits("abc", true, None, None));
/// ```
#[must_use]
pub fn decimal_text_fits(
    text: &str,
    is_string: bool,
    precision: Option<u64>,
    scale: Option<u64>,
) -> bool {
    DecimalCheck { precision, scale }
        .failure_text(text, is_string)
        .is_none()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ValidationConfig, Validator};
    use serde_json::json;

    #[test]
    fn agrees_with_the_validator() {
        let schema = json!({"properties": {
            "d": {"type": ["null", "string"], "format": "x-singer.decimal", "precision": 5, "scale": 2},
            "t": {"type": "string", "format": "date-time"},
        }});
        let validator =
            Validator::new("s", &schema, &ValidationConfig::default()).expect("compiles");
        for (text, is_string) in [
            ("123.45", false),
            ("1234.5", false),
            ("123.456", true),
            ("-0.01", true),
            ("Infinity", true),
            ("1e2", false),
        ] {
            let value = if is_string {
                json!({"d": text})
            } else {
                json!({"d": serde_json::from_str::<serde_json::Value>(text).expect("number")})
            };
            assert_eq!(
                validator.is_valid(&value),
                decimal_text_fits(text, is_string, Some(5), Some(2)),
                "{text}"
            );
        }
        for text in [
            "2024-05-01T12:00:00Z",
            "2024-05-01 12:00:00+00",
            "infinity",
            "2024-02-30T00:00:00Z",
            "x",
        ] {
            assert_eq!(
                validator.is_valid(&json!({"t": text})),
                format_text_matches("date-time", text),
                "{text}"
            );
        }
    }
}
