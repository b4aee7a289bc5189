//! Date and timestamp bookmarks as chrono values, read with the workspace's
//! one temporal parser ([`singer_protocol::temporal`]).
//!
//! Accepted: `YYYY-MM-DD`, and `YYYY-MM-DD[T ]HH:MM:SS[.fraction][offset]`
//! where the offset is `Z`, `±HH`, `±HHMM`, `±HH:MM` or `±HH:MM:SS` (the last
//! two forms are what PostgreSQL prints). Years have exactly four digits:
//! anything else (years past 9999, BC dates, `infinity`) is not a date here,
//! so it is refused or treated as a plain string, never clamped; nor is
//! `24:00:00`, which names no instant. (The table in
//! [`singer_protocol::temporal`] sets these rules beside validation's.)
//!
//! Fractions keep nanoseconds in the chrono value; digits past the ninth are
//! kept as text so that even those compare exactly.

use chrono::{FixedOffset, NaiveDate, NaiveDateTime};
use singer_protocol::temporal;

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

/// `YYYY-MM-DD` with a four-digit year, nothing more.
pub(crate) fn parse_date(text: &str) -> Option<NaiveDate> {
    let parts = temporal::parse_date(text)?;
    naive_date(&parts)
}

fn naive_date(parts: &temporal::DateParts) -> Option<NaiveDate> {
    if !parts.is_four_digit_year() {
        return None;
    }
    parts.to_naive()
}

/// `YYYY-MM-DD[T ]HH:MM:SS[.fraction][offset]` with a four-digit year.
pub(crate) fn parse_date_time(text: &str) -> Option<DateTimeText> {
    let parts = temporal::parse_date_time(text)?;
    let date = naive_date(&parts.date)?;
    // `24:00:00` is no instant: chrono refuses hour 24.
    let time = parts.time.to_naive()?;
    let offset = match parts.offset {
        Some(seconds) => Some(FixedOffset::east_opt(seconds)?),
        None => None,
    };
    let extra = parts.time.fraction.get(NANO_DIGITS..).unwrap_or_default();
    Some(DateTimeText {
        local: date.and_time(time),
        offset,
        sub_nanos: extra.trim_end_matches('0').to_owned(),
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
