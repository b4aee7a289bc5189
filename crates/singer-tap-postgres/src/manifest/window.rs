//! Incremental windows and the renderings of their times: BEGIN and END
//! from the high-water mark, the overlap, the window length and the
//! execution date, and the text the query tokens and the log show.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

/// `(BEGIN, END)` of a time window, UTC.
pub type Window = (DateTime<Utc>, DateTime<Utc>);

/// The incremental window `(BEGIN, END)`: END = min(execution date, cap,
/// BEGIN + window); BEGIN = high-water mark − overlap, or END − window
/// without one.
///
/// # Errors
///
/// `(BEGIN, END)` when BEGIN is after END.
pub fn incremental_window(
    high_water_mark: Option<DateTime<Utc>>,
    execution_date: DateTime<Utc>,
    window: TimeDelta,
    overlap: TimeDelta,
    cap: Option<DateTime<Utc>>,
) -> Result<Window, Window> {
    let limit = end_limit(execution_date, cap);
    let (begin, end) = match high_water_mark {
        Some(mark) => {
            let begin = mark - overlap;
            (begin, limit.min(begin + window))
        }
        None => (limit - window, limit),
    };
    if begin > end {
        return Err((begin, end));
    }
    Ok((begin, end))
}

/// The latest END: the execution date, capped at the replica's replay time.
pub(crate) fn end_limit(
    execution_date: DateTime<Utc>,
    cap: Option<DateTime<Utc>>,
) -> DateTime<Utc> {
    cap.map_or(execution_date, |c| c.min(execution_date))
}

/// The earliest BEGIN of a whole-history load (full copies and backfills of
/// incremental queries): before any GitLab data.
pub(crate) fn history_begin() -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(1900, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map_or(DateTime::<Utc>::MIN_UTC, |t| t.and_utc())
}

/// The END of a deletes load's window: after any data, so that every row
/// present at the source now is in the key set (a row updated after the
/// execution date is still there; leaving it out would mark it deleted).
pub(crate) fn history_end() -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(9999, 12, 31)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map_or(DateTime::<Utc>::MAX_UTC, |t| t.and_utc())
}

/// `2024-06-01T00:00:00.000000+00:00`.
pub(crate) fn timestamp_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, false)
}

/// Epoch seconds with microseconds, as JSON number text.
pub(crate) fn epoch_seconds(t: DateTime<Utc>) -> String {
    let micros = t.timestamp_micros();
    let (seconds, fraction) = (micros.div_euclid(1_000_000), micros.rem_euclid(1_000_000));
    format!("{seconds}.{fraction:06}")
}

/// A non-negative duration in `unit` microseconds, as a decimal with up to
/// six places, rounded up (so a window rendered through `{HOURS}` is never
/// narrower than the one computed).
pub(crate) fn decimal_units(duration: TimeDelta, unit: i64) -> String {
    let micros = duration.num_microseconds().unwrap_or(i64::MAX).max(0);
    let mut whole = micros / unit;
    let rest = micros % unit;
    // rest < unit ≤ 8.64e10, so rest × 1e6 < 8.64e16 fits an i64.
    let mut fraction = (rest * 1_000_000 + unit - 1) / unit;
    if fraction >= 1_000_000 {
        whole += 1;
        fraction = 0;
    }
    if fraction == 0 {
        return whole.to_string();
    }
    let text = format!("{whole}.{fraction:06}");
    text.trim_end_matches('0').to_owned()
}

/// A duration as `16h00m`, for messages.
pub(crate) fn human(d: TimeDelta) -> String {
    let minutes = d.num_minutes();
    format!("{}h{:02}m", minutes / 60, minutes % 60)
}

#[cfg(test)]
mod tests {
    use super::super::options::{LoadType, parse_timestamp};
    use super::*;

    fn t(text: &str) -> DateTime<Utc> {
        parse_timestamp(text).expect("timestamp")
    }

    #[test]
    fn windows_follow_upstream_rules() {
        let hours = TimeDelta::hours(96);
        let overlap = TimeDelta::minutes(30);
        // No state: END - HOURS .. END.
        assert_eq!(
            incremental_window(None, t("2024-06-05"), hours, overlap, None),
            Ok((t("2024-06-01"), t("2024-06-05")))
        );
        // Mark minus overlap; END is the execution date.
        assert_eq!(
            incremental_window(
                Some(t("2024-06-04 12:00:00")),
                t("2024-06-05"),
                hours,
                overlap,
                None
            ),
            Ok((t("2024-06-04 11:30:00"), t("2024-06-05")))
        );
        // A long gap: END = BEGIN + HOURS.
        assert_eq!(
            incremental_window(
                Some(t("2024-01-01")),
                t("2024-06-05"),
                hours,
                TimeDelta::zero(),
                None
            ),
            Ok((t("2024-01-01"), t("2024-01-05")))
        );
        // Capped at the replica's replay time.
        assert_eq!(
            incremental_window(
                Some(t("2024-06-04")),
                t("2024-06-05"),
                hours,
                overlap,
                Some(t("2024-06-04 06:00:00"))
            ),
            Ok((t("2024-06-03 23:30:00"), t("2024-06-04 06:00:00")))
        );
        // BEGIN after END.
        assert_eq!(
            incremental_window(Some(t("2024-06-05")), t("2024-06-01"), hours, overlap, None),
            Err((t("2024-06-04 23:30:00"), t("2024-06-01")))
        );
    }

    #[test]
    fn token_renderings() {
        assert_eq!(decimal_units(TimeDelta::hours(96), 3_600_000_000), "96");
        assert_eq!(decimal_units(TimeDelta::minutes(90), 3_600_000_000), "1.5");
        assert_eq!(
            decimal_units(TimeDelta::seconds(1), 3_600_000_000),
            "0.000278"
        );
        assert_eq!(decimal_units(TimeDelta::hours(36), 86_400_000_000), "1.5");
        assert_eq!(
            epoch_seconds(t("2024-06-01T00:00:00.25Z")),
            "1717200000.250000"
        );
        assert_eq!(t("2024-06-01T02:00:00+02:00"), t("2024-06-01 00:00:00"));
        assert!(parse_timestamp("yesterday").is_err());
        assert_eq!("SCD".parse::<LoadType>(), Ok(LoadType::Full));
        assert_eq!("load_by_id".parse::<LoadType>(), Ok(LoadType::LoadById));
    }
}
