//! Binary dates, times, timestamps and intervals, rendered as ISO 8601 text.
//!
//! PostgreSQL sends `date` as days (i32) and `timestamp`/`timestamptz` as
//! microseconds (i64) since 2000-01-01 (UTC for `timestamptz`), with the
//! extreme values meaning `-infinity`/`infinity`; `time` as microseconds
//! since midnight; `timetz` as that plus the zone in seconds *west* of UTC;
//! `interval` as microseconds (i64), days (i32) and months (i32). The
//! calendar arithmetic here is proleptic Gregorian over the whole range
//! PostgreSQL accepts (4713 BC to 5874897 AD), with no library limits.

use super::text::{put_pair, write_int, write_padded};

/// Days from 1970-01-01 to 2000-01-01.
const UNIX_TO_PG_DAYS: i64 = 10_957;
const USECS_PER_SEC: i64 = 1_000_000;
const USECS_PER_MINUTE: i64 = 60 * USECS_PER_SEC;
const USECS_PER_HOUR: i64 = 60 * USECS_PER_MINUTE;
const USECS_PER_DAY: i64 = 24 * USECS_PER_HOUR;
const USECS_PER_DAY_U64: u64 = USECS_PER_DAY.unsigned_abs();

/// A civil date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Civil {
    pub(crate) year: i64,
    pub(crate) month: i64,
    pub(crate) day: i64,
}

impl Civil {
    /// Whether the year is outside `1..=9999` (BC dates are year 0 and below).
    pub(crate) fn out_of_range(self) -> Option<super::SpecialValue> {
        if self.year < 1 {
            Some(super::SpecialValue::BeforeCommonEra)
        } else if self.year > 9999 {
            Some(super::SpecialValue::YearAfter9999)
        } else {
            None
        }
    }
}

/// The civil date of a day number counted from 2000-01-01 (Howard Hinnant's
/// `civil_from_days`).
pub(crate) fn civil_from_pg_days(days: i64) -> Civil {
    let z = days + UNIX_TO_PG_DAYS + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    Civil { year, month, day }
}

/// Appends `YYYY-MM-DD`: four digits for years 0..=9999, an ISO 8601
/// expanded year otherwise (`+10000`, `-0043`).
pub(crate) fn write_date(out: &mut Vec<u8>, date: Civil) {
    if let Some(date) = common_date(date) {
        out.extend_from_slice(&date);
        return;
    }
    write_date_general(out, date);
}

/// `YYYY-MM-DD` for the years 0 to 9999 (nearly every date), built in
/// place: one append instead of one per field.
#[inline]
fn common_date(date: Civil) -> Option<[u8; 10]> {
    let year = u64::try_from(date.year).ok().filter(|y| *y <= 9999)?;
    let month = u64::try_from(date.month)
        .ok()
        .filter(|m| (1..=12).contains(m))?;
    let day = u64::try_from(date.day)
        .ok()
        .filter(|d| (1..=31).contains(d))?;
    let mut text = *b"0000-00-00";
    put_pair(&mut text, 0, year / 100);
    put_pair(&mut text, 2, year % 100);
    put_pair(&mut text, 5, month);
    put_pair(&mut text, 8, day);
    Some(text)
}

/// [`write_date`] field by field (any year).
fn write_date_general(out: &mut Vec<u8>, date: Civil) {
    if date.year < 0 {
        out.push(b'-');
    } else if date.year > 9999 {
        out.push(b'+');
    }
    write_padded(out, date.year.unsigned_abs(), 4);
    out.push(b'-');
    write_padded(out, date.month.unsigned_abs(), 2);
    out.push(b'-');
    write_padded(out, date.day.unsigned_abs(), 2);
}

/// Appends `HH:MM:SS.ffffff` for microseconds since midnight (`24:00:00` is
/// a valid PostgreSQL `time` and is kept).
pub(crate) fn write_time(out: &mut Vec<u8>, micros: i64) {
    let micros = micros.unsigned_abs();
    let usecs_per_hour = USECS_PER_HOUR.unsigned_abs();
    let usecs_per_minute = USECS_PER_MINUTE.unsigned_abs();
    let usecs_per_sec = USECS_PER_SEC.unsigned_abs();
    write_padded(out, micros / usecs_per_hour, 2);
    out.push(b':');
    write_padded(out, micros % usecs_per_hour / usecs_per_minute, 2);
    out.push(b':');
    write_padded(out, micros % usecs_per_minute / usecs_per_sec, 2);
    out.push(b'.');
    write_padded(out, micros % usecs_per_sec, 6);
}

/// Splits microseconds since 2000-01-01 into a civil date and microseconds
/// into that day.
pub(crate) fn split_timestamp(micros: i64) -> (Civil, i64) {
    let days = micros.div_euclid(USECS_PER_DAY);
    let time = micros.rem_euclid(USECS_PER_DAY);
    (civil_from_pg_days(days), time)
}

/// Appends `YYYY-MM-DDTHH:MM:SS.ffffff+00:00`.
pub(crate) fn write_timestamp(out: &mut Vec<u8>, date: Civil, time: i64) {
    if let (Some(day), Ok(micros @ 0..USECS_PER_DAY_U64)) = (common_date(date), u64::try_from(time))
    {
        // Built in place, one append (a timestamp is seven fields).
        let mut text = *b"0000-00-00T00:00:00.000000+00:00";
        if let Some(start) = text.get_mut(..10) {
            start.copy_from_slice(&day);
        }
        let seconds = micros / 1_000_000;
        let fraction = micros % 1_000_000;
        put_pair(&mut text, 11, seconds / 3600);
        put_pair(&mut text, 14, seconds / 60 % 60);
        put_pair(&mut text, 17, seconds % 60);
        put_pair(&mut text, 20, fraction / 10_000);
        put_pair(&mut text, 22, fraction / 100 % 100);
        put_pair(&mut text, 24, fraction % 100);
        out.extend_from_slice(&text);
        return;
    }
    write_timestamp_general(out, date, time);
}

/// [`write_timestamp`] field by field (any year).
fn write_timestamp_general(out: &mut Vec<u8>, date: Civil, time: i64) {
    write_date_general(out, date);
    out.push(b'T');
    write_time(out, time);
    out.extend_from_slice(b"+00:00");
}

/// Appends a UTC offset for a zone given in seconds *west* of UTC, the way
/// PostgreSQL stores it: `+05:30`, `-08:00`, `+00:00`, with `:SS` only when
/// the offset has seconds.
pub(crate) fn write_offset(out: &mut Vec<u8>, seconds_west: i32) {
    let east = -i64::from(seconds_west);
    out.push(if east < 0 { b'-' } else { b'+' });
    let east = east.unsigned_abs();
    write_padded(out, east / 3600, 2);
    out.push(b':');
    write_padded(out, east % 3600 / 60, 2);
    if east % 60 != 0 {
        out.push(b':');
        write_padded(out, east % 60, 2);
    }
}

/// Appends an interval as an ISO 8601 duration, exactly as PostgreSQL
/// prints it with `intervalstyle = iso_8601`: `P1Y2M3DT4H5M6.5S`,
/// `P-1Y-2M3DT-4H-5M-6S`, `PT0S` for zero. Years and months come from the
/// month count, hours, minutes and seconds from the microseconds; each part
/// carries its own sign.
pub(crate) fn write_interval(out: &mut Vec<u8>, micros: i64, days: i32, months: i32) {
    let years = months / 12;
    let months = months % 12;
    let hours = micros / USECS_PER_HOUR;
    let rest = micros % USECS_PER_HOUR;
    let minutes = rest / USECS_PER_MINUTE;
    let rest = rest % USECS_PER_MINUTE;
    let seconds = rest / USECS_PER_SEC;
    let fraction = rest % USECS_PER_SEC;
    if years == 0 && months == 0 && days == 0 && micros == 0 {
        out.extend_from_slice(b"PT0S");
        return;
    }
    out.push(b'P');
    let part = |out: &mut Vec<u8>, value: i64, unit: u8| {
        if value != 0 {
            write_int(out, value);
            out.push(unit);
        }
    };
    part(out, i64::from(years), b'Y');
    part(out, i64::from(months), b'M');
    part(out, i64::from(days), b'D');
    if micros != 0 {
        out.push(b'T');
    }
    part(out, hours, b'H');
    part(out, minutes, b'M');
    if seconds != 0 || fraction != 0 {
        if seconds < 0 || fraction < 0 {
            out.push(b'-');
        }
        write_int(out, seconds.unsigned_abs());
        if fraction != 0 {
            out.push(b'.');
            let start = out.len();
            write_padded(out, fraction.unsigned_abs(), 6);
            while out.len() > start && out.last() == Some(&b'0') {
                out.pop();
            }
        }
        out.push(b'S');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        f(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn civil_dates() {
        let date = |d| text(|o| write_date(o, civil_from_pg_days(d)));
        assert_eq!(date(0), "2000-01-01");
        assert_eq!(date(-1), "1999-12-31");
        assert_eq!(date(59), "2000-02-29");
        assert_eq!(date(-730_119), "0001-01-01");
        assert_eq!(date(-730_120), "0000-12-31");
        assert_eq!(date(2_921_940), "+10000-01-01");
    }

    /// The one-append forms write what the field-by-field forms write.
    #[test]
    fn dates_and_timestamps_built_in_place_equal_the_general_form() {
        let mut checked = 0;
        let mut day = -800_000_i64;
        while day < 3_000_000 {
            for time in [0, 1, 999_999, 45_296_789_012, USECS_PER_DAY - 1] {
                let date = civil_from_pg_days(day);
                let (mut fast, mut general) = (Vec::new(), Vec::new());
                write_timestamp(&mut fast, date, time);
                write_timestamp_general(&mut general, date, time);
                assert_eq!(fast, general, "day {day}, time {time}");
                let (mut fast, mut general) = (Vec::new(), Vec::new());
                write_date(&mut fast, date);
                write_date_general(&mut general, date);
                assert_eq!(fast, general, "day {day}");
                checked += usize::from(common_date(date).is_some());
            }
            day += 997;
        }
        assert!(checked > 10_000, "{checked}");
    }

    #[test]
    fn times_and_offsets() {
        assert_eq!(text(|o| write_time(o, 0)), "00:00:00.000000");
        assert_eq!(text(|o| write_time(o, USECS_PER_DAY)), "24:00:00.000000");
        assert_eq!(text(|o| write_time(o, 45_296_789_012)), "12:34:56.789012");
        assert_eq!(text(|o| write_offset(o, -19_800)), "+05:30");
        assert_eq!(text(|o| write_offset(o, 28_800)), "-08:00");
        assert_eq!(text(|o| write_offset(o, 0)), "+00:00");
        assert_eq!(text(|o| write_offset(o, -3_723)), "+01:02:03");
    }

    #[test]
    fn intervals() {
        let iv = |us, d, m| text(|o| write_interval(o, us, d, m));
        assert_eq!(iv(0, 0, 0), "PT0S");
        assert_eq!(
            iv(4 * USECS_PER_HOUR + 5 * USECS_PER_MINUTE + 6_500_000, 3, 14),
            "P1Y2M3DT4H5M6.5S"
        );
        assert_eq!(
            iv(
                -(4 * USECS_PER_HOUR + 5 * USECS_PER_MINUTE + 6_000_000),
                3,
                -14
            ),
            "P-1Y-2M3DT-4H-5M-6S"
        );
        assert_eq!(iv(-500_000, 0, 0), "PT-0.5S");
        assert_eq!(iv(0, -1, 0), "P-1D");
        assert_eq!(iv(1, 0, 0), "PT0.000001S");
    }
}
