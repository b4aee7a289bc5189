//! Strict parsing of the date and timestamp text forms bookmarks use.
//!
//! Accepted: `YYYY-MM-DD`, and `YYYY-MM-DD[T ]HH:MM:SS[.fraction][offset]`
//! where the offset is `Z`, `±HH`, `±HHMM`, `±HH:MM` or `±HH:MM:SS` (the last
//! two forms are what PostgreSQL prints). Years have exactly four digits:
//! anything else (years past 9999, BC dates, `infinity`) is not a date here,
//! so it is refused or treated as a plain string, never clamped.
//!
//! Fractions keep nanoseconds in the chrono value; digits past the ninth are
//! kept as text so that even those compare exactly.

use chrono::{FixedOffset, NaiveDate, NaiveDateTime, NaiveTime};

/// Nanoseconds in a second.
const NANOS_PER_SECOND: u32 = 1_000_000_000;
/// Digits chrono keeps in the fraction.
const NANO_DIGITS: usize = 9;

/// A parsed date-time with its offset, if it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DateTimeText {
    /// The wall-clock time as written.
    pub(crate) local: NaiveDateTime,
    /// The offset as written; `None` for a naive timestamp.
    pub(crate) offset: Option<FixedOffset>,
    /// Fraction digits past the ninth, trailing zeros removed.
    pub(crate) sub_nanos: String,
}

impl DateTimeText {
    /// The instant in UTC (for a naive timestamp: the wall-clock time).
    pub(crate) fn utc(&self) -> Option<NaiveDateTime> {
        match self.offset {
            Some(offset) => self.local.checked_sub_offset(offset),
            None => Some(self.local),
        }
    }
}

/// `YYYY-MM-DD`, nothing more.
pub(crate) fn parse_date(text: &str) -> Option<NaiveDate> {
    let bytes = text.as_bytes();
    if bytes.len() != 10 || bytes.get(4) != Some(&b'-') || bytes.get(7) != Some(&b'-') {
        return None;
    }
    let year = number(bytes, 0, 4)?;
    let month = number(bytes, 5, 2)?;
    let day = number(bytes, 8, 2)?;
    NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)
}

/// `YYYY-MM-DD[T ]HH:MM:SS[.fraction][offset]`.
pub(crate) fn parse_date_time(text: &str) -> Option<DateTimeText> {
    let bytes = text.as_bytes();
    let date = parse_date(text.get(..10)?)?;
    if !matches!(bytes.get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    if bytes.get(13) != Some(&b':') || bytes.get(16) != Some(&b':') {
        return None;
    }
    let hour = number(bytes, 11, 2)?;
    let minute = number(bytes, 14, 2)?;
    let second = number(bytes, 17, 2)?;

    let mut rest = text.get(19..)?;
    let mut nanos = 0;
    let mut sub_nanos = String::new();
    if let Some(fraction_and_more) = rest.strip_prefix('.') {
        let digits_len = fraction_and_more
            .bytes()
            .take_while(u8::is_ascii_digit)
            .count();
        if digits_len == 0 {
            return None;
        }
        let digits = fraction_and_more.get(..digits_len)?;
        let (nano_digits, extra) = digits.split_at(digits_len.min(NANO_DIGITS));
        let scale = 10_u32.pow(u32::try_from(NANO_DIGITS - nano_digits.len()).ok()?);
        nanos = nano_digits.parse::<u32>().ok()?.checked_mul(scale)?;
        extra.trim_end_matches('0').clone_into(&mut sub_nanos);
        rest = fraction_and_more.get(digits_len..)?;
    }

    // A leap second (`:60`) is the 59th second running over, as in chrono.
    let (second, nanos) = if second == 60 {
        (59, nanos.checked_add(NANOS_PER_SECOND)?)
    } else {
        (second, nanos)
    };
    let time = NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)?;
    let offset = if rest.is_empty() {
        None
    } else {
        Some(parse_offset(rest)?)
    };
    Some(DateTimeText {
        local: date.and_time(time),
        offset,
        sub_nanos,
    })
}

/// `Z`, `±HH`, `±HHMM`, `±HH:MM` or `±HH:MM:SS`.
fn parse_offset(text: &str) -> Option<FixedOffset> {
    if text == "Z" || text == "z" {
        return FixedOffset::east_opt(0);
    }
    let bytes = text.as_bytes();
    let sign: i32 = match bytes.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (hours, minutes, seconds) = match bytes.len() {
        3 => (number(bytes, 1, 2)?, 0, 0),
        5 => (number(bytes, 1, 2)?, number(bytes, 3, 2)?, 0),
        6 if bytes.get(3) == Some(&b':') => (number(bytes, 1, 2)?, number(bytes, 4, 2)?, 0),
        9 if bytes.get(3) == Some(&b':') && bytes.get(6) == Some(&b':') => (
            number(bytes, 1, 2)?,
            number(bytes, 4, 2)?,
            number(bytes, 7, 2)?,
        ),
        _ => return None,
    };
    if hours > 23 || minutes > 59 || seconds > 59 {
        return None;
    }
    let total = i32::try_from(hours * 3600 + minutes * 60 + seconds).ok()?;
    FixedOffset::east_opt(sign * total)
}

/// The decimal number in `bytes[start..start + len]`, all ASCII digits.
fn number(bytes: &[u8], start: usize, len: usize) -> Option<u32> {
    bytes
        .get(start..start.checked_add(len)?)?
        .iter()
        .try_fold(0_u32, |acc, byte| {
            byte.is_ascii_digit()
                .then(|| acc * 10 + u32::from(byte - b'0'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dates_strictly() {
        assert_eq!(
            parse_date("2024-02-29"),
            NaiveDate::from_ymd_opt(2024, 2, 29)
        );
        for bad in [
            "2023-02-29",
            "2024-2-29",
            "12024-01-01",
            "-0001-01-01",
            "2024-01-01T00:00:00",
            "2024/01/01",
            "infinity",
            "",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn parses_date_times_with_and_without_offsets() {
        let with_z = parse_date_time("2024-01-02T03:04:05.123456Z").expect("Z");
        assert_eq!(with_z.offset, FixedOffset::east_opt(0));
        assert_eq!(with_z.local.and_utc().timestamp_subsec_micros(), 123_456);

        let naive = parse_date_time("2024-01-02 03:04:05").expect("naive");
        assert_eq!(naive.offset, None);

        for offset in ["+02", "+0200", "+02:00", "+02:00:00"] {
            let parsed = parse_date_time(&format!("2024-01-02T03:04:05{offset}")).expect(offset);
            assert_eq!(parsed.offset, FixedOffset::east_opt(7200), "{offset}");
        }
        let odd = parse_date_time("1900-01-01 00:00:00+00:09:21").expect("LMT offset");
        assert_eq!(odd.offset, FixedOffset::east_opt(561));

        let fine = parse_date_time("2024-01-02T03:04:05.1234567891230Z").expect("fine");
        assert_eq!(fine.sub_nanos, "123");
        let leap = parse_date_time("2016-12-31T23:59:60Z").expect("leap second");
        assert!(leap.utc().is_some());
    }

    #[test]
    fn refuses_malformed_date_times() {
        for bad in [
            "2024-01-02T03:04",
            "2024-01-02T03:04:05.",
            "2024-01-02T03:04:05.Z",
            "2024-01-02T03:04:05+2",
            "2024-01-02T03:04:05+24:00",
            "2024-01-02T03:04:05 UTC",
            "2024-01-02T25:04:05Z",
            "2024-01-02X03:04:05Z",
            "10000-01-02T03:04:05Z",
            "2024-01-02T03:04:05ZZ",
            "2024-01-02T03:04:05.12é",
        ] {
            assert_eq!(parse_date_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn extreme_offsets_at_the_edges_of_the_calendar_do_not_panic() {
        let late = parse_date_time("9999-12-31T23:59:59-23:59").expect("late");
        assert!(late.utc().is_some());
        let early = parse_date_time("0000-01-01T00:00:00+23:59").expect("early");
        assert!(early.utc().is_some());
    }
}
