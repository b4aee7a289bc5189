//! Dates, times and date-times in their text forms: the one parser the
//! workspace uses, for the `date`/`time`/`date-time` formats of validation
//! (`singer-schema`) and for the order of date and timestamp bookmarks
//! (`singer-state`).
//!
//! [`parse_date`], [`parse_time`] and [`parse_date_time`] split a text into
//! checked parts (the calendar is checked: no 2023-02-29, no 25:00; the
//! offset is at most ±23:59:59). Every spelling real taps emit is read:
//!
//! - RFC 3339 (`2024-01-01T00:00:00.123456+00:00`, `...Z`, `t`/`z` in lower
//!   case), as the Singer SDK and pipelinewise emit;
//! - PostgreSQL's text output: a space instead of `T`
//!   (`2024-01-01 00:00:00.123456+00`), short offsets (`+05`, `+0530`,
//!   `+05:30`, and `+05:53:28` for local mean time), no offset at all
//!   (`timestamp without time zone`), any number of fraction digits, years
//!   past 9999 (`10000-01-01`), `24:00:00` (the end of a day) and a leap
//!   second `:60`;
//! - ISO 8601 expanded years with a sign, which tap-postgres gives for
//!   values outside RFC 3339 (`+10000-01-01T00:00:00+00:00`, and BC dates as
//!   astronomical years, `-0043-03-15`).
//!
//! What each caller then accepts differs on purpose, and is decided on the
//! parts, never by a second parser:
//!
//! | input | validation ([`is_date`], [`is_time`], [`is_date_time`]) | bookmarks (`singer-state`) |
//! |---|---|---|
//! | RFC 3339, PostgreSQL spellings, 4-digit years | yes | yes |
//! | `infinity`, `-infinity` | yes | no (a plain string) |
//! | years past 9999, signed years (`+10000`, `-0043`) | yes | no (a plain string) |
//! | year `0000` without a sign | no (RFC 3339 has no year 0) | yes (a naive year 0) |
//! | `24:00:00` | yes | no (no such instant) |
//! | offsets up to ±23:59:59 | yes | yes |
//!
//! Not accepted anywhere: PostgreSQL's `BC` suffix, zone names (`UTC`),
//! missing seconds, a point without fraction digits.
//!
//! ```
//! use singer_protocol::temporal::{is_date_time, parse_date_time};
//!
//! assert!(is_date_time("2024-01-01 00:00:00.123456+05:30"));
//! assert!(!is_date_time("2023-02-29T00:00:00Z"));
//! let parts = parse_date_time("2024-01-02T03:04:05.5-08").ok_or("parts")?;
//! assert_eq!((parts.date.year, parts.time.hour, parts.time.fraction), (2024, 3, "5"));
//! assert_eq!(parts.offset, Some(-8 * 3600));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

/// A calendar date, checked against the proleptic Gregorian calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateParts {
    /// The astronomical year (year 0 is 1 BC, -1 is 2 BC).
    pub year: i32,
    /// 1 to 12.
    pub month: u32,
    /// 1 to the month's length.
    pub day: u32,
    /// Whether the year was written with a sign (`+10000`, `-0043`).
    pub signed: bool,
    /// How many year digits were written (4 to 6).
    pub year_digits: usize,
}

impl DateParts {
    /// Whether the year is written as RFC 3339 writes years: four digits,
    /// no sign.
    #[must_use]
    pub const fn is_four_digit_year(&self) -> bool {
        !self.signed && self.year_digits == 4
    }
}

/// A time of day as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeParts<'a> {
    /// 0 to 23, or 24 for `24:00:00` (the end of a day).
    pub hour: u32,
    /// 0 to 59.
    pub minute: u32,
    /// 0 to 60 (60 is a leap second).
    pub second: u32,
    /// The fraction digits after the point, as written (may be empty).
    pub fraction: &'a str,
}

impl TimeParts<'_> {
    /// Whether this is `24:00:00` (PostgreSQL's end of day).
    #[must_use]
    pub const fn is_end_of_day(&self) -> bool {
        self.hour == 24
    }
}

/// A date, a time and an optional offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTimeParts<'a> {
    /// The date.
    pub date: DateParts,
    /// The time of day.
    pub time: TimeParts<'a>,
    /// Seconds east of UTC (`Z` is `Some(0)`); `None` when no offset was
    /// written (`timestamp without time zone`).
    pub offset: Option<i32>,
}

/// PostgreSQL's infinite dates and timestamps.
#[must_use]
pub fn is_infinity(text: &str) -> bool {
    text == "infinity" || text == "-infinity"
}

/// `YYYY-MM-DD` (four to six year digits, optionally signed), nothing more.
#[must_use]
pub fn parse_date(text: &str) -> Option<DateParts> {
    match date_prefix(text.as_bytes())? {
        (date, []) => Some(date),
        _ => None,
    }
}

/// `HH:MM:SS[.fraction][offset]` and the offset in seconds east of UTC.
#[must_use]
pub fn parse_time(text: &str) -> Option<(TimeParts<'_>, Option<i32>)> {
    let (time, rest) = time_prefix(text)?;
    Some((time, offset(rest)?))
}

/// A date, `T`/`t`/space, a time, and an optional offset.
#[must_use]
pub fn parse_date_time(text: &str) -> Option<DateTimeParts<'_>> {
    let (date, rest) = date_prefix(text.as_bytes())?;
    let (sep, _) = rest.split_first()?;
    if !matches!(sep, b'T' | b't' | b' ') {
        return None;
    }
    // The date and its separator are ASCII, so this is a char boundary.
    let time_text = text.get(text.len() - rest.len() + 1..)?;
    let (time, offset) = parse_time(time_text)?;
    Some(DateTimeParts { date, time, offset })
}

/// The `date` format: a calendar date (four or more year digits, or a
/// signed expanded year, but not year 0 unsigned), or `infinity`.
#[must_use]
pub fn is_date(text: &str) -> bool {
    common_date(text.as_bytes())
        || is_infinity(text)
        || parse_date(text).is_some_and(|d| valid_year(&d))
}

/// The `time` format: a time of day with an optional offset.
#[must_use]
pub fn is_time(text: &str) -> bool {
    parse_time(text).is_some()
}

/// The `date-time` format: [`parse_date_time`] with a valid year, or
/// `infinity`.
#[must_use]
pub fn is_date_time(text: &str) -> bool {
    common_date_time(text.as_bytes())
        || is_infinity(text)
        || parse_date_time(text).is_some_and(|dt| valid_year(&dt.date))
}

/// The two digits at `at` as a number, if they are digits.
fn two_digits(bytes: &[u8], at: usize) -> Option<u32> {
    match bytes.get(at..at + 2)? {
        [a @ b'0'..=b'9', b @ b'0'..=b'9'] => Some(u32::from(a - b'0') * 10 + u32::from(b - b'0')),
        _ => None,
    }
}

/// Whether `text` is `YYYY-MM-DD`, a valid date with a four-digit year
/// from 0001 to 9999: the shape most dates have, checked in one pass.
/// `false` only means "not this shape" (see [`parse_date`] for the rest).
/// Such a text is already in the form every consumer writes, so a
/// converter may copy it as it is.
///
/// ```
/// use singer_protocol::temporal::is_common_date;
///
/// assert!(is_common_date("2024-02-29"));
/// assert!(!is_common_date("2023-02-29"));
/// assert!(!is_common_date("+12024-01-01"));
/// ```
#[must_use]
pub fn is_common_date(text: &str) -> bool {
    common_date(text.as_bytes())
}

/// Whether `text` is `YYYY-MM-DDTHH:MM:SS.ffffff+00:00` (what tap-postgres
/// writes: UTC, microseconds), a valid date-time with a four-digit year
/// from 0001 to 9999, checked in one pass. `false` only means "not this
/// shape" (see [`parse_date_time`] for the rest).
///
/// ```
/// use singer_protocol::temporal::is_common_date_time;
///
/// assert!(is_common_date_time("2024-01-31T23:59:59.000001+00:00"));
/// assert!(!is_common_date_time("2024-01-31T23:59:59+00:00"));
/// assert!(!is_common_date_time("2024-01-31T23:59:60.000000+00:00"));
/// ```
#[must_use]
pub fn is_common_date_time(text: &str) -> bool {
    common_date_time(text.as_bytes())
}

/// The shape most values have, `YYYY-MM-DD` with a four-digit year from
/// 0001, checked in one pass: `true` means valid; `false` only means "not
/// this shape" (the full parser decides then).
fn common_date(bytes: &[u8]) -> bool {
    let [_, _, _, _, b'-', _, _, b'-', _, _] = bytes else {
        return false;
    };
    let (Some(high), Some(low), Some(month), Some(day)) = (
        two_digits(bytes, 0),
        two_digits(bytes, 2),
        two_digits(bytes, 5),
        two_digits(bytes, 8),
    ) else {
        return false;
    };
    let year = high * 100 + low;
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    year > 0 && (1..=days).contains(&day)
}

/// `YYYY-MM-DDTHH:MM:SS.ffffff+00:00`, what tap-postgres writes, checked in
/// one pass like [`common_date`]; anything else is left to the full parser.
fn common_date_time(bytes: &[u8]) -> bool {
    let Some((date, rest)) = bytes.split_at_checked(10) else {
        return false;
    };
    let [
        b'T',
        _,
        _,
        b':',
        _,
        _,
        b':',
        _,
        _,
        b'.',
        f1,
        f2,
        f3,
        f4,
        f5,
        f6,
        b'+',
        b'0',
        b'0',
        b':',
        b'0',
        b'0',
    ] = rest
    else {
        return false;
    };
    common_date(date)
        && [f1, f2, f3, f4, f5, f6].iter().all(|d| d.is_ascii_digit())
        && two_digits(rest, 1).is_some_and(|h| h < 24)
        && two_digits(rest, 4).is_some_and(|m| m < 60)
        && two_digits(rest, 7).is_some_and(|s| s < 60)
}

/// RFC 3339 and ISO 8601 have no unsigned year 0 (`+0000` is 1 BC).
const fn valid_year(date: &DateParts) -> bool {
    date.year != 0 || date.signed
}

/// Exactly `n` ASCII digits as a number, and the rest.
fn digits(bytes: &[u8], n: usize) -> Option<(u32, &[u8])> {
    let (head, rest) = bytes.split_at_checked(n)?;
    if !head.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let value = head.iter().fold(0u32, |acc, d| {
        acc.saturating_mul(10).saturating_add(u32::from(d - b'0'))
    });
    Some((value, rest))
}

fn expect(bytes: &[u8], byte: u8) -> Option<&[u8]> {
    match bytes.split_first() {
        Some((b, rest)) if *b == byte => Some(rest),
        _ => None,
    }
}

fn date_prefix(bytes: &[u8]) -> Option<(DateParts, &[u8])> {
    // ISO 8601 expanded years carry a sign: `+10000`, `-0043` (44 BC as an
    // astronomical year), `+0000` (1 BC).
    let (signed, negative, bytes) = match bytes.split_first() {
        Some((b'+', rest)) => (true, false, rest),
        Some((b'-', rest)) => (true, true, rest),
        _ => (false, false, bytes),
    };
    let year_digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    // Four digits, or more for years past 9999 (PostgreSQL goes to 294276).
    if !(4..=6).contains(&year_digits) {
        return None;
    }
    let (year, rest) = digits(bytes, year_digits)?;
    let rest = expect(rest, b'-')?;
    let (month, rest) = digits(rest, 2)?;
    let rest = expect(rest, b'-')?;
    let (day, rest) = digits(rest, 2)?;
    // Leap years of the proleptic Gregorian calendar, astronomical numbering
    // (year -1 is 2 BC, divisible by 4 from year 0 back: -4, -8, ...).
    let cycle = if negative { 400 - year % 400 } else { year };
    let leap = cycle % 4 == 0 && (cycle % 100 != 0 || cycle % 400 == 0);
    let max_day = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if !(1..=max_day).contains(&day) {
        return None;
    }
    let year = i32::try_from(year).ok()?;
    let date = DateParts {
        year: if negative { -year } else { year },
        month,
        day,
        signed,
        year_digits,
    };
    Some((date, rest))
}

/// `HH:MM:SS(.fraction)?`, and the rest.
fn time_prefix(text: &str) -> Option<(TimeParts<'_>, &[u8])> {
    let bytes = text.as_bytes();
    let (hour, rest) = digits(bytes, 2)?;
    let rest = expect(rest, b':')?;
    let (minute, rest) = digits(rest, 2)?;
    let rest = expect(rest, b':')?;
    let (second, mut rest) = digits(rest, 2)?;
    let mut fraction = "";
    if let Some(after) = expect(rest, b'.') {
        let n = after.iter().take_while(|b| b.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        let start = bytes.len() - after.len();
        fraction = text.get(start..start + n)?;
        rest = after.get(n..)?;
    }
    let fraction_nonzero = fraction.bytes().any(|b| b != b'0');
    // 24:00:00 is PostgreSQL's end of day; 60 is a leap second (RFC 3339).
    let end_of_day = hour == 24 && minute == 0 && second == 0 && !fraction_nonzero;
    let valid = (hour < 24 && minute < 60 && second <= 60) || end_of_day;
    let time = TimeParts {
        hour,
        minute,
        second,
        fraction,
    };
    valid.then_some((time, rest))
}

/// Nothing, `Z`/`z`, or `±HH`, `±HHMM`, `±HH:MM`, `±HH:MM:SS`, and nothing
/// after it: the offset in seconds east of UTC.
fn offset(bytes: &[u8]) -> Option<Option<i32>> {
    let (sign, rest) = match bytes.split_first() {
        None => return Some(None),
        Some((b'Z' | b'z', [])) => return Some(Some(0)),
        Some((b'+', rest)) => (1, rest),
        Some((b'-', rest)) => (-1, rest),
        Some(_) => return None,
    };
    let (hours, rest) = digits(rest, 2)?;
    let (minutes, seconds, rest) = match rest.split_first() {
        None => (0, 0, rest),
        Some((b':', after)) => {
            let (minutes, after) = digits(after, 2)?;
            match after.split_first() {
                Some((b':', secs)) => {
                    let (seconds, secs) = digits(secs, 2)?;
                    (minutes, seconds, secs)
                }
                _ => (minutes, 0, after),
            }
        }
        Some(_) => {
            let (minutes, after) = digits(rest, 2)?;
            (minutes, 0, after)
        }
    };
    if !rest.is_empty() || hours > 23 || minutes > 59 || seconds > 59 {
        return None;
    }
    let total = i32::try_from(hours * 3600 + minutes * 60 + seconds).ok()?;
    Some(Some(sign * total))
}

/// The parts as chrono values (feature `chrono`), for callers that compute
/// with them: bookmarks, the Snowflake encoder, manifest dates.
#[cfg(feature = "chrono")]
mod to_chrono {
    use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Utc};

    use super::{DateParts, DateTimeParts, TimeParts};

    /// Digits chrono keeps in a fraction.
    const NANO_DIGITS: usize = 9;

    impl DateParts {
        /// The date, if chrono holds it (years −262,143 to 262,142).
        #[must_use]
        pub fn to_naive(&self) -> Option<NaiveDate> {
            NaiveDate::from_ymd_opt(self.year, self.month, self.day)
        }
    }

    impl TimeParts<'_> {
        /// The time of day, nanoseconds kept (digits past the ninth are
        /// dropped; [`TimeParts::fraction`] still has them); a leap second
        /// `:60` is the 59th second running over, as chrono has it; `None`
        /// for `24:00:00`, which chrono does not hold.
        #[must_use]
        pub fn to_naive(&self) -> Option<NaiveTime> {
            let digits = self.fraction.get(..self.fraction.len().min(NANO_DIGITS))?;
            let mut nanos = 0_u32;
            for (i, digit) in digits.bytes().enumerate() {
                let place = u32::try_from(NANO_DIGITS - 1 - i).ok()?;
                nanos =
                    nanos.checked_add(u32::from(digit - b'0').checked_mul(10_u32.pow(place))?)?;
            }
            let (second, nanos) = if self.second == 60 {
                (59, nanos.checked_add(1_000_000_000)?)
            } else {
                (self.second, nanos)
            };
            NaiveTime::from_hms_nano_opt(self.hour, self.minute, second, nanos)
        }
    }

    impl DateTimeParts<'_> {
        /// The wall-clock date and time as written (the offset ignored).
        #[must_use]
        pub fn to_naive(&self) -> Option<NaiveDateTime> {
            Some(self.date.to_naive()?.and_time(self.time.to_naive()?))
        }

        /// The instant in UTC; a date-time without an offset is taken as
        /// UTC.
        #[must_use]
        pub fn to_utc(&self) -> Option<DateTime<Utc>> {
            let offset = TimeDelta::seconds(i64::from(self.offset.unwrap_or(0)));
            Some(self.to_naive()?.checked_sub_signed(offset)?.and_utc())
        }
    }
}

#[cfg(test)]
#[path = "temporal_tests.rs"]
mod tests;
