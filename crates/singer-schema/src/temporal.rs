//! The `date`, `time` and `date-time` format checks.
//!
//! Stricter than "looks like a date" (the calendar is checked: no
//! 2023-02-29, no 25:00) but accepting every spelling real taps emit:
//!
//! - RFC 3339 (`2024-01-01T00:00:00.123456+00:00`, `...Z`), as the Singer
//!   SDK and pipelinewise emit;
//! - PostgreSQL's text output: a space instead of `T`
//!   (`2024-01-01 00:00:00.123456+00`), short offsets (`+05`, `+0530`,
//!   `+05:30`), no offset at all (`timestamp without time zone`), any number
//!   of fraction digits, years past 9999 (`10000-01-01`), and `24:00:00`;
//! - `time` with or without an offset (`23:59:59.999999`, `12:00:00+05:30`).
//!
//! - the spellings tap-postgres's default `keep` policy gives values outside
//!   RFC 3339: `infinity` and `-infinity` (dates and timestamps), and ISO 8601
//!   expanded years with a sign (`+10000-01-01T00:00:00+00:00`, and BC dates
//!   as astronomical years, `-0043-03-15`). They are well-formed values of
//!   the column's type; whether a warehouse can hold them is the loader's
//!   decision, under its documented unrepresentable-value policy (error by
//!   default), where the message can name the table and column.
//!
//! Not accepted: PostgreSQL's `BC` suffix, year 0 without a sign, and
//! anything else.

/// Whether `text` is a calendar date `YYYY-MM-DD` (four or more year digits,
/// or a signed expanded year), or `infinity`/`-infinity`.
pub(crate) fn is_date(text: &str) -> bool {
    is_infinity(text) || parse_date(text.as_bytes()).is_some_and(<[u8]>::is_empty)
}

/// PostgreSQL's infinite dates and timestamps.
fn is_infinity(text: &str) -> bool {
    text == "infinity" || text == "-infinity"
}

/// Whether `text` is a time of day with an optional offset.
pub(crate) fn is_time(text: &str) -> bool {
    parse_time(text.as_bytes()).is_some_and(|rest| parse_offset(rest).is_some_and(<[u8]>::is_empty))
}

/// Whether `text` is a date, `T`/`t`/space, a time, and an optional offset.
pub(crate) fn is_date_time(text: &str) -> bool {
    if is_infinity(text) {
        return true;
    }
    let Some(rest) = parse_date(text.as_bytes()) else {
        return false;
    };
    let Some((sep, rest)) = rest.split_first() else {
        return false;
    };
    if !matches!(sep, b'T' | b't' | b' ') {
        return false;
    }
    is_time_bytes(rest)
}

fn is_time_bytes(bytes: &[u8]) -> bool {
    parse_time(bytes).is_some_and(|rest| parse_offset(rest).is_some_and(<[u8]>::is_empty))
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

fn parse_date(bytes: &[u8]) -> Option<&[u8]> {
    // ISO 8601 expanded years carry a sign: `+10000`, `-0043` (44 BC as an
    // astronomical year), `+0000` (1 BC).
    let (signed, negative, bytes) = match bytes.split_first() {
        Some((b'+', rest)) => (true, false, rest),
        Some((b'-', rest)) => (true, true, rest),
        _ => (false, false, bytes),
    };
    let year_len = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    // Four digits, or more for years past 9999 (PostgreSQL goes to 294276).
    if !(4..=6).contains(&year_len) {
        return None;
    }
    let (year, rest) = digits(bytes, year_len)?;
    if year == 0 && !signed {
        return None;
    }
    // Leap years of the proleptic Gregorian calendar, astronomical numbering
    // (year -1 is 2 BC, divisible by 4 from year 0 back: -4, -8, ...).
    let year = if negative { 400 - year % 400 } else { year };
    let rest = expect(rest, b'-')?;
    let (month, rest) = digits(rest, 2)?;
    let rest = expect(rest, b'-')?;
    let (day, rest) = digits(rest, 2)?;
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let max_day = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    (1..=max_day).contains(&day).then_some(rest)
}

/// `HH:MM:SS(.fraction)?`, and the rest.
fn parse_time(bytes: &[u8]) -> Option<&[u8]> {
    let (hour, rest) = digits(bytes, 2)?;
    let rest = expect(rest, b':')?;
    let (minute, rest) = digits(rest, 2)?;
    let rest = expect(rest, b':')?;
    let (second, mut rest) = digits(rest, 2)?;
    let mut fraction_nonzero = false;
    if let Some(after) = expect(rest, b'.') {
        let n = after.iter().take_while(|b| b.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        let (fraction, after) = after.split_at_checked(n)?;
        fraction_nonzero = fraction.iter().any(|&b| b != b'0');
        rest = after;
    }
    // 24:00:00 is PostgreSQL's end of day; 60 is a leap second (RFC 3339).
    let end_of_day = hour == 24 && minute == 0 && second == 0 && !fraction_nonzero;
    let valid = (hour < 24 && minute < 60 && second <= 60) || end_of_day;
    valid.then_some(rest)
}

/// Nothing, `Z`/`z`, or `±HH`, `±HHMM`, `±HH:MM`, `±HH:MM:SS`; and the rest.
fn parse_offset(bytes: &[u8]) -> Option<&[u8]> {
    match bytes.split_first() {
        None => Some(bytes),
        Some((b'Z' | b'z', rest)) => Some(rest),
        Some((b'+' | b'-', rest)) => {
            let (hours, rest) = digits(rest, 2)?;
            if hours > 15 {
                return None;
            }
            let rest = match rest.split_first() {
                None => rest,
                Some((b':', after)) => {
                    let (minutes, after) = digits(after, 2)?;
                    if minutes > 59 {
                        return None;
                    }
                    match after.split_first() {
                        Some((b':', secs)) => {
                            let (seconds, secs) = digits(secs, 2)?;
                            if seconds > 59 {
                                return None;
                            }
                            secs
                        }
                        _ => after,
                    }
                }
                Some(_) => {
                    let (minutes, after) = digits(rest, 2)?;
                    if minutes > 59 {
                        return None;
                    }
                    after
                }
            };
            Some(rest)
        }
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_time_accepts_what_taps_emit() {
        for ok in [
            "2024-01-01T00:00:00.123456+00:00",
            "2024-01-01T00:00:00Z",
            "2024-01-01t00:00:00z",
            "2024-01-01T00:00:00.000000+00:00",
            "2024-01-01 00:00:00.123456+00",
            "2024-01-01 00:00:00",
            "1999-12-31 23:59:59.999999-08",
            "2024-02-29T12:00:00+0530",
            "0001-01-01T00:00:00+00:00",
            "10000-01-01 00:00:00",
            "2024-01-01T24:00:00",
            "2016-12-31T23:59:60Z",
            "2024-01-01T00:00:00+05:53:28",
            "infinity",
            "-infinity",
            "+10000-01-01T00:00:00.000000+00:00",
            "-0043-03-15T00:00:00.000000+00:00",
            "+0000-02-29T00:00:00+00:00",
            "-0004-02-29T00:00:00+00:00",
        ] {
            assert!(is_date_time(ok), "{ok}");
        }
        for bad in [
            "",
            "2024-01-01",
            "2023-02-29T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-01-01T25:00:00Z",
            "2024-01-01T24:00:01Z",
            "2024-01-01T00:00:00.Z",
            "2024-01-01T00:00Z",
            "2024-01-01X00:00:00Z",
            "Infinity",
            "infinity ",
            "-0001-02-29T00:00:00+00:00",
            "2024-01-01 00:00:00 BC",
            "0000-01-01T00:00:00Z",
            "2024-01-01T00:00:00+5:00",
            "2024-01-01T00:00:00+00:00 ",
            "24-01-01T00:00:00Z",
        ] {
            assert!(!is_date_time(bad), "{bad}");
        }
    }

    #[test]
    fn date_and_time() {
        for ok in [
            "2024-01-01",
            "2000-02-29",
            "0001-01-01",
            "275760-09-13",
            "-0043-03-15",
            "+10000-01-01",
            "infinity",
            "-infinity",
        ] {
            assert!(is_date(ok), "{ok}");
        }
        for bad in [
            "1900-02-29",
            "-0001-02-29",
            "0000-01-01",
            "2024-1-01",
            "2024-01-32",
            "2024-01-01T00:00:00Z",
            "today",
        ] {
            assert!(!is_date(bad), "{bad}");
        }
        for ok in [
            "23:59:59.999999",
            "00:00:00",
            "12:00:00+05:30",
            "00:00:00-08",
            "24:00:00",
            "10:00:00Z",
        ] {
            assert!(is_time(ok), "{ok}");
        }
        for bad in ["24:00:00.5", "12:60:00", "12:00", "noon", "12:00:00+24:00"] {
            assert!(!is_time(bad), "{bad}");
        }
    }
}
