//! Batch rows → the JSON array bound to one staging statement, and the SQL
//! that reads it back typed.
//!
//! Each row becomes an object `{"c0": .., "c3": ..}` (keys are column
//! positions, so no column name reaches the JSON; NULL and absent cells are
//! left out, which reads back as SQL NULL). Numbers travel as strings of
//! their exact decimal text and are cast with `::VARCHAR::NUMBER(p,s)`, so
//! no digit goes through a float; timestamps are converted to UTC text
//! here; binary values become hex.

use std::fmt::Write as _;

use base64::Engine as _;
use chrono::{DateTime, Datelike as _, NaiveDate, NaiveTime, Utc};
use singer_protocol::temporal::{self, DateParts};
use singer_protocol::{Decimal, push_json_string};
use singer_target::Row;

use crate::config::{SpecialValues, TimestampType};
use crate::error::{Error, Result};
use crate::types::SqlType;

/// How a binary column's strings are encoded on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinaryEncoding {
    /// base64 (`contentEncoding: base64`, the default).
    Base64,
    /// hex (`contentEncoding: base16`/`hex`).
    Hex,
}

/// One column of the stage: where its cell is and how it is cast.
#[derive(Debug, Clone)]
pub(crate) struct ColumnPlan {
    /// The property name (for errors).
    pub(crate) property: String,
    /// The cell index in batch rows; `None` for a loader-filled column.
    pub(crate) cell: Option<usize>,
    /// The column's SQL type.
    pub(crate) sql_type: SqlType,
    /// `''` loads as NULL.
    pub(crate) empty_string_is_null: bool,
    /// Binary encoding.
    pub(crate) binary: BinaryEncoding,
}

/// What a special value became (for counting).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct EncodeCounts {
    /// Values loaded as NULL under `special_values: null`.
    pub(crate) nulled: u64,
}

/// Settings of the encoder.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EncodeOptions {
    pub(crate) special: SpecialValues,
}

/// The SQL expression reading column `index` of a staged JSON row `source`
/// (`f.value` of a bound array's FLATTEN, `V` of a file's landing table).
pub(crate) fn stage_expression(source: &str, index: usize, sql_type: SqlType) -> String {
    let v = format!("{source}:c{index}");
    match sql_type {
        SqlType::Variant => v,
        SqlType::Boolean => format!("{v}::BOOLEAN"),
        SqlType::Binary => format!("TO_BINARY({v}::VARCHAR, 'HEX')"),
        SqlType::Varchar(_) => format!("{v}::VARCHAR"),
        other => format!("{v}::VARCHAR::{other}"),
    }
}

/// Appends row `row` (1-based `position` in its batch) as a JSON object to
/// `out`.
pub(crate) fn encode_row(
    out: &mut String,
    stream: &str,
    row: &Row<'_>,
    position: usize,
    plans: &[ColumnPlan],
    options: EncodeOptions,
    counts: &mut EncodeCounts,
) -> Result<()> {
    out.push('{');
    let mut first = true;
    for (index, plan) in plans.iter().enumerate() {
        let Some(cell) = plan.cell.and_then(|c| row.get(c)) else {
            continue;
        };
        let mark = out.len();
        if !first {
            out.push(',');
        }
        out.push_str("\"c");
        out.push_str(itoa::Buffer::new().format(index));
        out.push_str("\":");
        let wrote = match encode_cell(out, cell, plan) {
            Ok(wrote) => wrote,
            Err(Problem::Special { reason }) => match options.special {
                SpecialValues::Null => {
                    counts.nulled += 1;
                    tracing::warn!(stream, column = %plan.property, row = position, value = %preview(cell), reason, "Value no Snowflake type holds; loaded as NULL.");
                    false
                }
                SpecialValues::Error => {
                    return Err(Error::SpecialValue {
                        stream: stream.to_owned(),
                        column: plan.property.clone(),
                        row: position,
                        value: preview(cell),
                        sql_type: plan.sql_type.to_string(),
                        reason,
                    });
                }
            },
            Err(Problem::Bad(reason)) => {
                return Err(Error::BadValue {
                    stream: stream.to_owned(),
                    column: plan.property.clone(),
                    row: position,
                    reason,
                });
            }
        };
        if wrote {
            first = false;
        } else {
            out.truncate(mark);
        }
    }
    out.push('}');
    Ok(())
}

fn preview(cell: &str) -> String {
    let mut text: String = cell.chars().take(64).collect();
    if text.len() < cell.len() {
        text.push('…');
    }
    text
}

enum Problem {
    Special { reason: &'static str },
    Bad(String),
}

fn bad(reason: impl Into<String>) -> Problem {
    Problem::Bad(reason.into())
}

/// Writes the JSON value for `cell` (raw JSON text); `Ok(false)`: NULL.
fn encode_cell(out: &mut String, cell: &str, plan: &ColumnPlan) -> Result<bool, Problem> {
    if cell == "null" {
        return Ok(false);
    }
    let is_string = cell.starts_with('"');
    // `""` is the only JSON text of an empty string.
    if is_string && cell.len() == 2 && plan.empty_string_is_null {
        return Ok(false);
    }
    // The text as the tap writes it is already what Snowflake reads: copy
    // it (no decoding, no allocation) when its shape says so.
    match plan.sql_type {
        SqlType::Variant => {
            out.push_str(cell);
            return Ok(true);
        }
        SqlType::Varchar(_) if is_string => {
            out.push_str(cell);
            return Ok(true);
        }
        _ => {}
    }
    if let Some(wrote) = encode_common(out, cell, is_string, plan.sql_type) {
        return Ok(wrote);
    }
    encode_general(out, cell, is_string, plan)
}

/// [`encode_cell`] for any value (a JSON text, not `null`).
fn encode_general(
    out: &mut String,
    cell: &str,
    is_string: bool,
    plan: &ColumnPlan,
) -> Result<bool, Problem> {
    let text: std::borrow::Cow<'_, str> = if is_string {
        singer_protocol::json_string_content(cell)
            .map_err(|e| bad(format!("not a JSON string: {e}")))?
    } else {
        cell.into()
    };
    if is_string && text.is_empty() && plan.empty_string_is_null {
        return Ok(false);
    }
    match plan.sql_type {
        SqlType::Variant => out.push_str(cell),
        SqlType::Varchar(_) => {
            if is_string {
                out.push_str(cell);
            } else {
                push_json_string(out, cell);
            }
        }
        SqlType::Boolean => match (is_string, text.as_ref()) {
            (false, "true" | "false") => out.push_str(cell),
            (true, "true" | "false") => out.push_str(&text),
            _ => return Err(bad(format!("{} is not a boolean", preview(cell)))),
        },
        SqlType::Float => {
            let token = match text.as_ref() {
                "NaN" | "nan" => "NaN",
                "Infinity" | "inf" | "+Infinity" => "inf",
                "-Infinity" | "-inf" => "-inf",
                number if is_number(number) => {
                    if !fits_double(number) {
                        return Err(Problem::Special {
                            reason: "more significant digits than FLOAT (a double) holds",
                        });
                    }
                    number
                }
                _ => return Err(bad(format!("{} is not a number", preview(cell)))),
            };
            push_json_string(out, token);
        }
        SqlType::Number { precision, scale } => {
            if matches!(
                text.as_ref(),
                "NaN" | "Infinity" | "-Infinity" | "inf" | "-inf" | "nan"
            ) {
                return Err(Problem::Special {
                    reason: "NUMBER has no NaN or infinity",
                });
            }
            let Some(plain) = plain_decimal(&text) else {
                return Err(bad(format!("{} is not a number", preview(cell))));
            };
            let integer_digits = plain
                .trim_start_matches('-')
                .split('.')
                .next()
                .unwrap_or_default()
                .trim_start_matches('0')
                .len();
            if integer_digits > precision.saturating_sub(scale) as usize {
                return Err(Problem::Special {
                    reason: "more integer digits than the NUMBER column holds",
                });
            }
            push_json_string(out, &plain);
        }
        SqlType::Date => {
            let date = parse_date(&text)?;
            out.push('"');
            push_date(out, date);
            out.push('"');
        }
        SqlType::Time => {
            let time = parse_time(&text).ok_or_else(|| {
                if text.starts_with("24:") {
                    Problem::Special {
                        reason: "TIME ends at 23:59:59.999999999",
                    }
                } else {
                    bad(format!("{} is not a time", preview(cell)))
                }
            })?;
            out.push('"');
            push_time(out, time);
            out.push('"');
        }
        SqlType::Timestamp(kind) => {
            let utc = parse_timestamp(&text)?.naive_utc();
            out.push('"');
            push_date(out, utc.date());
            out.push(match kind {
                TimestampType::NTZ => ' ',
                TimestampType::TZ => 'T',
            });
            push_time(out, utc.time());
            if kind == TimestampType::TZ {
                out.push_str("+00:00");
            }
            out.push('"');
        }
        SqlType::Binary => {
            let bytes = match plan.binary {
                BinaryEncoding::Base64 => base64::engine::general_purpose::STANDARD
                    .decode(text.as_bytes())
                    .map_err(|e| bad(format!("not base64: {e}")))?,
                BinaryEncoding::Hex => {
                    let hex = text.strip_prefix("\\x").unwrap_or(&text);
                    decode_hex(hex).ok_or_else(|| bad("not hex"))?
                }
            };
            let mut hex = String::with_capacity(bytes.len() * 2 + 2);
            for byte in bytes {
                let _ = write!(hex, "{byte:02X}");
            }
            push_json_string(out, &hex);
        }
    }
    Ok(true)
}

/// The fast path of [`encode_cell`] for the shapes tap-postgres writes:
/// plain decimals for NUMBER, `YYYY-MM-DD` for DATE and
/// `YYYY-MM-DDTHH:MM:SS.ffffff+00:00` for timestamps, written exactly as
/// the general path writes them (a test compares the two). `None`: not
/// such a value, the general path decides.
fn encode_common(out: &mut String, cell: &str, is_string: bool, sql_type: SqlType) -> Option<bool> {
    let content = if is_string {
        cell.get(1..cell.len().checked_sub(1)?)?
    } else {
        cell
    };
    match sql_type {
        SqlType::Float if !is_string => {
            simple_decimal(content)?;
            if !surely_fits_double(content) {
                return None;
            }
            out.push('"');
            out.push_str(content);
            out.push('"');
        }
        SqlType::Number { precision, scale } => {
            let integer_digits = simple_decimal(content)?;
            if integer_digits > precision.saturating_sub(scale) as usize {
                // Let the general path name the problem.
                return None;
            }
            out.push('"');
            out.push_str(content);
            out.push('"');
        }
        SqlType::Date if is_string => {
            let date = if temporal::is_common_date(content) {
                content
            } else if temporal::is_common_date_time(content) {
                content.get(..10)?
            } else {
                return None;
            };
            out.push('"');
            out.push_str(date);
            out.push('"');
        }
        SqlType::Timestamp(kind) if is_string => {
            let (date, time, fraction) = if temporal::is_common_date_time(content) {
                (
                    content.get(..10)?,
                    content.get(11..19)?,
                    content.get(20..26)?,
                )
            } else if temporal::is_common_date(content) {
                (content, "00:00:00", "000000")
            } else {
                return None;
            };
            out.push('"');
            out.push_str(date);
            out.push(match kind {
                TimestampType::NTZ => ' ',
                TimestampType::TZ => 'T',
            });
            out.push_str(time);
            // chrono's `%.f`, as `push_time` writes it: none, 3 or 6 digits.
            match fraction {
                "000000" => {}
                _ if fraction.ends_with("000") => {
                    out.push('.');
                    out.push_str(fraction.get(..3)?);
                }
                _ => {
                    out.push('.');
                    out.push_str(fraction);
                }
            }
            if kind == TimestampType::TZ {
                out.push_str("+00:00");
            }
            out.push('"');
        }
        _ => return None,
    }
    Some(true)
}

/// For `-?(0|[1-9][0-9]*)(\.[0-9]+)?` (a number [`plain_decimal`] leaves
/// as it is), its integer digits without leading zeros; `None` for any
/// other text.
fn simple_decimal(text: &str) -> Option<usize> {
    let digits = text.strip_prefix('-').unwrap_or(text).as_bytes();
    let int_len = digits.iter().take_while(|b| b.is_ascii_digit()).count();
    let (int, rest) = digits.split_at_checked(int_len)?;
    match int {
        [] => return None,
        [b'0', _, ..] => return None,
        _ => {}
    }
    match rest {
        [] => {}
        [b'.', fraction @ ..]
            if !fraction.is_empty() && fraction.iter().all(u8::is_ascii_digit) => {}
        _ => return None,
    }
    Some(if int == b"0" { 0 } else { int.len() })
}

/// `YYYY-MM-DD` (chrono's `%Y-%m-%d` for the years 1 to 9999 the
/// encoder lets through).
fn push_date(out: &mut String, date: NaiveDate) {
    let year = date.year();
    if (0..=9999).contains(&year) {
        push_digits(out, u32::try_from(year).unwrap_or_default(), 4);
        out.push('-');
        push_digits(out, date.month(), 2);
        out.push('-');
        push_digits(out, date.day(), 2);
    } else {
        let _ = write!(out, "{}", date.format("%Y-%m-%d"));
    }
}

/// `HH:MM:SS` and chrono's `%.f`: no fraction when it is zero, else 3, 6
/// or 9 digits, as few as hold it.
fn push_time(out: &mut String, time: NaiveTime) {
    use chrono::Timelike as _;
    push_digits(out, time.hour(), 2);
    out.push(':');
    push_digits(out, time.minute(), 2);
    out.push(':');
    // A leap second is second 59 with 10^9 nanoseconds and more; chrono
    // writes it as second 60.
    let leap = time.nanosecond() >= 1_000_000_000;
    push_digits(out, time.second() + u32::from(leap), 2);
    let nanos = time.nanosecond() % 1_000_000_000;
    if nanos == 0 {
        return;
    }
    out.push('.');
    if nanos.is_multiple_of(1_000_000) {
        push_digits(out, nanos / 1_000_000, 3);
    } else if nanos.is_multiple_of(1_000) {
        push_digits(out, nanos / 1_000, 6);
    } else {
        push_digits(out, nanos, 9);
    }
}

/// `value` zero-padded to `width` digits.
fn push_digits(out: &mut String, value: u32, width: usize) {
    let mut buffer = itoa::Buffer::new();
    let digits = buffer.format(value);
    for _ in digits.len()..width {
        out.push('0');
    }
    out.push_str(digits);
}

fn is_number(text: &str) -> bool {
    plain_decimal(text).is_some()
}

/// Whether a number's text survives a double unchanged: its exact decimal
/// equals the decimal of the nearest double's shortest rendering (`0.1`,
/// `3.4028235e38` do; `12345678901234567890.5` does not). A FLOAT column
/// would round anything else.
fn fits_double(text: &str) -> bool {
    if surely_fits_double(text) {
        return true;
    }
    let Ok(double) = text.parse::<f64>() else {
        return false;
    };
    double.is_finite()
        && plain_decimal(text).map(|p| canonical_plain(&p))
            == plain_decimal(&format!("{double:e}")).map(|p| canonical_plain(&p))
}

/// A number (well-formed) with at most 15 significant digits and an
/// exponent well inside the normal range: every such decimal is its
/// nearest double's shortest rendering (15 = `f64::DIGITS`: two such
/// decimals never share a double), so [`fits_double`]'s check need not
/// run.
fn surely_fits_double(text: &str) -> bool {
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(at) => (
            text.get(..at).unwrap_or_default(),
            text.get(at + 1..).and_then(|e| e.parse::<i32>().ok()),
        ),
        None => (text, Some(0)),
    };
    let digits = mantissa
        .bytes()
        .filter(u8::is_ascii_digit)
        .skip_while(|&b| b == b'0')
        .count();
    exponent.is_some_and(|e| e.abs() <= 280) && digits <= 15 && mantissa.len() <= 40
}

/// A plain decimal without leading or trailing zeros (`-0` is `0`).
fn canonical_plain(plain: &str) -> String {
    let (negative, digits) = plain
        .strip_prefix('-')
        .map_or((false, plain), |rest| (true, rest));
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let int = int.trim_start_matches('0');
    let frac = frac.trim_end_matches('0');
    if int.is_empty() && frac.is_empty() {
        return "0".to_owned();
    }
    format!(
        "{}{}{}{frac}",
        if negative { "-" } else { "" },
        if int.is_empty() { "0" } else { int },
        if frac.is_empty() { "" } else { "." }
    )
}

/// A JSON number's text as a plain decimal (no exponent): `1.5e3` →
/// `1500`, `-2E-2` → `-0.02`. `None` if it is not a number (read by the
/// workspace's one decimal parser, [`singer_protocol::Decimal`]) or its
/// exponent is past 400.
pub(crate) fn plain_decimal(text: &str) -> Option<String> {
    Decimal::parse(text)?.to_plain(400)
}

const SPECIAL_TEMPORAL: Problem = Problem::Special {
    reason: "Snowflake holds years 1 to 9999, no infinity",
};

/// Whether a date is outside what Snowflake holds: years 1 to 9999 written
/// with four digits (no `+10000`, no BC `-0043`, no year 0).
const fn is_special_date(date: &DateParts) -> bool {
    !date.is_four_digit_year() || date.year == 0
}

/// A calendar date, read by the workspace's one temporal parser
/// ([`singer_protocol::temporal`]); a date-time gives its date.
fn parse_date(text: &str) -> Result<NaiveDate, Problem> {
    if temporal::is_infinity(text) {
        return Err(SPECIAL_TEMPORAL);
    }
    let parts = temporal::parse_date(text)
        .or_else(|| temporal::parse_date_time(text).map(|dt| dt.date))
        .ok_or_else(|| bad(format!("{} is not a date", preview(text))))?;
    if is_special_date(&parts) {
        return Err(SPECIAL_TEMPORAL);
    }
    let date = parts
        .to_naive()
        .ok_or_else(|| bad(format!("{} is not a date", preview(text))))?;
    in_range(date.year())?;
    Ok(date)
}

/// A time of day: `HH:MM:SS[.f]`, or with an offset (`12:00:00+05:30`,
/// `06:30:00Z`, `00:00:00-08`: what JSON Schema's `time` format means and
/// what `timetz` columns become), which is turned into UTC the way
/// timestamps are (wrapping around midnight): Snowflake's TIME has no zone.
fn parse_time(text: &str) -> Option<NaiveTime> {
    let (parts, offset) = temporal::parse_time(text)?;
    let time = parts.to_naive()?;
    let (utc, _) =
        time.overflowing_sub_signed(chrono::TimeDelta::seconds(i64::from(offset.unwrap_or(0))));
    Some(utc)
}

/// A timestamp in UTC (one without an offset is taken as UTC; a lone date
/// is its midnight).
fn parse_timestamp(text: &str) -> Result<DateTime<Utc>, Problem> {
    let not_a_timestamp = || bad(format!("{} is not a timestamp", preview(text)));
    if temporal::is_infinity(text) {
        return Err(SPECIAL_TEMPORAL);
    }
    let (date, time, offset) = match temporal::parse_date_time(text) {
        Some(dt) => (dt.date, Some(dt.time), dt.offset),
        None => (
            temporal::parse_date(text).ok_or_else(not_a_timestamp)?,
            None,
            None,
        ),
    };
    if is_special_date(&date) {
        return Err(SPECIAL_TEMPORAL);
    }
    let day = date.to_naive().ok_or_else(not_a_timestamp)?;
    let time = match time {
        Some(time) => time.to_naive().ok_or_else(not_a_timestamp)?,
        None => NaiveTime::MIN,
    };
    let utc = day
        .and_time(time)
        .checked_sub_signed(chrono::TimeDelta::seconds(i64::from(offset.unwrap_or(0))))
        .ok_or(SPECIAL_TEMPORAL)?
        .and_utc();
    in_range(utc.year())?;
    Ok(utc)
}

fn in_range(year: i32) -> Result<(), Problem> {
    if (1..=9999).contains(&year) {
        Ok(())
    } else {
        Err(SPECIAL_TEMPORAL)
    }
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    let nibble = |b: u8| -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    };
    hex.as_bytes()
        .chunks_exact(2)
        .map(|pair| match pair {
            [hi, lo] => Some(nibble(*hi)? << 4 | nibble(*lo)?),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    /// The hand-written date and time writers equal chrono's `%Y-%m-%d`
    /// and `%H:%M:%S%.f`.
    #[test]
    fn dates_and_times_are_written_as_chrono_formats_them() {
        let mut checked = 0;
        for (y, m, d) in [
            (1, 1, 1),
            (999, 12, 31),
            (2024, 2, 29),
            (9999, 12, 31),
            (1970, 1, 1),
        ] {
            let date = NaiveDate::from_ymd_opt(y, m, d).expect("date");
            let mut out = String::new();
            super::push_date(&mut out, date);
            assert_eq!(out, date.format("%Y-%m-%d").to_string());
            checked += 1;
        }
        for nanos in [
            0,
            1,
            999,
            1_000,
            120_000,
            123_456_000,
            500_000_000,
            123_456_789,
            1_000_000_000,
            1_500_000_000,
        ] {
            for (h, m, s) in [(0, 0, 0), (23, 59, 59), (9, 5, 7)] {
                let Some(time) = NaiveTime::from_hms_nano_opt(h, m, s, nanos) else {
                    continue;
                };
                let mut out = String::new();
                super::push_time(&mut out, time);
                assert_eq!(out, time.format("%H:%M:%S%.f").to_string(), "{nanos}");
                checked += 1;
            }
        }
        assert!(checked > 30);
    }

    use super::*;

    #[test]
    fn floats_refuse_digits_a_double_would_round_away() {
        for fits in [
            "0.1",
            "-2.25",
            "3.4028235e+38",
            "1.7976931348623157e308",
            "-1E-38",
            "0",
            "-0.0",
            "1e22",
            "9007199254740992",
            "0.30000000000000004",
        ] {
            assert!(fits_double(fits), "{fits}");
        }
        for rounds in [
            "12345678901234567890.123456789012345678901234567890",
            "0.99999999999999999999999999999999999999",
            "9007199254740993",
            "123456789012345678",
            "1e400",
        ] {
            assert!(!fits_double(rounds), "{rounds}");
            assert!(
                matches!(
                    encode(rounds, SqlType::Float),
                    Err(message) if message.starts_with("special")
                ),
                "{rounds}"
            );
        }
    }

    #[test]
    fn times_with_an_offset_become_utc_times_of_day() {
        let time = |t: &str| parse_time(t).map(|t| t.format("%H:%M:%S%.f").to_string());
        assert_eq!(time("23:59:59.999999").as_deref(), Some("23:59:59.999999"));
        assert_eq!(time("12:00:00+05:30").as_deref(), Some("06:30:00"));
        assert_eq!(time("00:00:00-08:00").as_deref(), Some("08:00:00"));
        assert_eq!(time("20:00:00.5-08:00").as_deref(), Some("04:00:00.500"));
        assert_eq!(time("06:30:00Z").as_deref(), Some("06:30:00"));
        for bad in ["12:00:00+5:30", "12:00:00+25:00", "noon", "12:00:00+", ""] {
            assert_eq!(time(bad), None, "{bad}");
        }
    }

    #[test]
    fn decimals_lose_no_digit_and_exponents_expand() {
        assert_eq!(plain_decimal("12.50").as_deref(), Some("12.50"));
        assert_eq!(plain_decimal("1.5e3").as_deref(), Some("1500"));
        assert_eq!(plain_decimal("-2E-2").as_deref(), Some("-0.02"));
        assert_eq!(plain_decimal("1e401"), None);
        assert_eq!(plain_decimal("1e2").as_deref(), Some("100"));
        assert_eq!(plain_decimal("abc"), None);
        assert_eq!(
            plain_decimal("12345678901234567890123456.789012345678").as_deref(),
            Some("12345678901234567890123456.789012345678")
        );
    }

    fn plan(sql_type: SqlType) -> ColumnPlan {
        ColumnPlan {
            property: "p".to_owned(),
            cell: Some(0),
            sql_type,
            empty_string_is_null: true,
            binary: BinaryEncoding::Base64,
        }
    }

    fn encode(cell: &str, sql_type: SqlType) -> Result<Option<String>, String> {
        let mut out = String::new();
        match encode_cell(&mut out, cell, &plan(sql_type)) {
            Ok(true) => Ok(Some(out)),
            Ok(false) => Ok(None),
            Err(Problem::Special { reason }) => Err(format!("special: {reason}")),
            Err(Problem::Bad(reason)) => Err(reason),
        }
    }

    /// The fast path writes what the general path writes, for every value
    /// it takes, and leaves the rest to it.
    #[test]
    fn the_fast_path_writes_what_the_general_path_writes() {
        let number = |precision, scale| SqlType::Number { precision, scale };
        let types = [
            SqlType::Float,
            number(38, 0),
            number(12, 4),
            number(3, 1),
            SqlType::Date,
            SqlType::Timestamp(TimestampType::NTZ),
            SqlType::Timestamp(TimestampType::TZ),
        ];
        let values = [
            "0",
            "-0",
            "7",
            "-7",
            "123",
            "1234",
            "007",
            "0.5",
            "-0.50",
            "154.9380",
            "99.95",
            "1.",
            ".5",
            "1e3",
            "+1",
            "12345678901234567890",
            "141.25",
            "0.1",
            "-2.5e-3",
            "1234567890123456",
            "123456789012345",
            "\"154.9380\"",
            "\"-3\"",
            "\"0012\"",
            "\"1.5e2\"",
            "\"\"",
            "\"2024-02-29\"",
            "\"2023-02-29\"",
            "\"0001-01-01\"",
            "\"9999-12-31\"",
            "\"0000-01-01\"",
            "\"2024-01-31T23:59:59.000001+00:00\"",
            "\"2024-01-31T23:59:59.000000+00:00\"",
            "\"2024-01-31T23:59:59.120000+00:00\"",
            "\"2024-01-31T23:59:59.123400+00:00\"",
            "\"2024-01-31T23:59:59.123000+00:00\"",
            "\"2024-01-31T23:59:59.123456+01:00\"",
            "\"2024-01-31T23:59:59+00:00\"",
            "\"2024-01-31 23:59:59\"",
            "\"9999-12-31T23:59:59.999999+00:00\"",
            "\"infinity\"",
            "true",
            "\"x\"",
        ];
        let mut fast_taken = 0;
        for sql_type in types {
            for value in values {
                let mut fast = String::new();
                let Some(wrote) = encode_common(&mut fast, value, value.starts_with('"'), sql_type)
                else {
                    continue;
                };
                fast_taken += 1;
                let mut general = String::new();
                let expected =
                    encode_general(&mut general, value, value.starts_with('"'), &plan(sql_type));
                assert!(
                    matches!(expected, Ok(w) if w == wrote),
                    "{value} as {sql_type}: the general path did not accept it"
                );
                assert_eq!(fast, general, "{value} as {sql_type}");
            }
        }
        assert!(fast_taken > 40, "the fast path took {fast_taken} values");
    }

    #[test]
    fn cells_encode_per_type() {
        let num = SqlType::Number {
            precision: 38,
            scale: 10,
        };
        assert_eq!(encode("12.5", num), Ok(Some("\"12.5\"".to_owned())));
        assert_eq!(encode("\"\"", num), Ok(None));
        assert!(encode("\"NaN\"", num).is_err_and(|e| e.starts_with("special")));
        assert!(
            encode("1234567890123456789012345678901", num).is_err_and(|e| e.starts_with("special"))
        );
        assert_eq!(
            encode("\"-Infinity\"", SqlType::Float),
            Ok(Some("\"-inf\"".to_owned()))
        );
        assert_eq!(
            encode("42.10", SqlType::Varchar(None)),
            Ok(Some("\"42.10\"".to_owned()))
        );
        let ntz = SqlType::Timestamp(TimestampType::NTZ);
        assert_eq!(
            encode("\"2024-01-01T01:02:03.123456+02:00\"", ntz),
            Ok(Some("\"2023-12-31 23:02:03.123456\"".to_owned()))
        );
        assert_eq!(
            encode(
                "\"2024-01-01T01:02:03Z\"",
                SqlType::Timestamp(TimestampType::TZ)
            ),
            Ok(Some("\"2024-01-01T01:02:03+00:00\"".to_owned()))
        );
        for special in [
            "\"infinity\"",
            "\"+10000-01-01T00:00:00.000000+00:00\"",
            "\"-0043-03-15\"",
        ] {
            assert!(
                encode(special, ntz).is_err_and(|e| e.starts_with("special")),
                "{special}"
            );
            assert!(encode(special, SqlType::Date).is_err_and(|e| e.starts_with("special")));
        }
        assert_eq!(
            encode("\"aGk=\"", SqlType::Binary),
            Ok(Some("\"6869\"".to_owned()))
        );
        assert_eq!(encode("null", SqlType::Variant), Ok(None));
        assert_eq!(
            encode("{\"a\":[1,null]}", SqlType::Variant),
            Ok(Some("{\"a\":[1,null]}".to_owned()))
        );
        assert_eq!(
            encode("\"24:00:00\"", SqlType::Time).map_err(|e| e.starts_with("special")),
            Err(true)
        );
    }
}
