//! Tests of the temporal parser: the validation set (from singer-schema,
//! kept whole) and the parts the bookmark side reads.

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

#[test]
fn offsets_up_to_23_59_59_are_read_by_both_sides() {
    // Reconciled: validation took at most ±15 hours, bookmarks ±23:59:59
    // (RFC 3339's time-numoffset allows 00-23 hours); both now read ±23.
    assert!(is_date_time("2024-01-01T00:00:00+23:59"));
    assert!(is_time("12:00:00-16:00"));
    assert!(!is_time("12:00:00+24:00"));
    let late = parse_date_time("9999-12-31T23:59:59-23:59").expect("late");
    assert_eq!(late.offset, Some(-(23 * 3600 + 59 * 60)));
}

#[test]
fn parts_are_what_was_written() {
    let dt = parse_date_time("2024-01-02T03:04:05.1234567891230Z").expect("parts");
    assert_eq!((dt.date.year, dt.date.month, dt.date.day), (2024, 1, 2));
    assert_eq!((dt.time.hour, dt.time.minute, dt.time.second), (3, 4, 5));
    assert_eq!(dt.time.fraction, "1234567891230");
    assert_eq!(dt.offset, Some(0));
    assert!(dt.date.is_four_digit_year());
    let naive = parse_date_time("2024-01-02 03:04:05").expect("naive");
    assert_eq!(naive.offset, None);
    let lmt = parse_date_time("1900-01-01 00:00:00+00:09:21").expect("LMT");
    assert_eq!(lmt.offset, Some(561));
    let bc = parse_date("-0043-03-15").expect("BC");
    assert_eq!((bc.year, bc.signed), (-43, true));
    assert!(!bc.is_four_digit_year());
    assert!(
        !parse_date("+10000-01-01")
            .expect("expanded")
            .is_four_digit_year()
    );
    assert!(
        !parse_date("10000-01-01")
            .expect("five digits")
            .is_four_digit_year()
    );
    let zero = parse_date("0000-01-01").expect("year 0 parses");
    assert_eq!(zero.year, 0);
    assert!(!is_date("0000-01-01"));
    assert!(
        parse_date_time("2024-01-01T24:00:00")
            .expect("end of day")
            .time
            .is_end_of_day()
    );
    assert_eq!(parse_date_time("2024-01-02T03:04:05.12é"), None);
}

#[cfg(feature = "chrono")]
#[test]
fn parts_become_chrono_values() {
    let dt = parse_date_time("2024-01-01T01:02:03.123456789123+02:00").expect("parts");
    let utc = dt.to_utc().expect("in range");
    assert_eq!(utc.to_rfc3339(), "2023-12-31T23:02:03.123456789+00:00");
    let leap = parse_date_time("2016-12-31T23:59:60Z").expect("leap");
    assert!(leap.to_utc().is_some());
    let end = parse_date_time("2024-01-01 24:00:00").expect("end of day");
    assert_eq!(end.to_naive(), None);
    let naive = parse_date_time("2024-01-02 03:04:05").expect("naive");
    assert_eq!(
        naive.to_utc().map(|t| t.to_rfc3339()).as_deref(),
        Some("2024-01-02T03:04:05+00:00")
    );
}

/// The one-pass shapes accept only what the full parser accepts.
#[test]
fn the_common_shapes_never_accept_more_than_the_parser() {
    let slow_date_time =
        |t: &str| is_infinity(t) || parse_date_time(t).is_some_and(|dt| valid_year(&dt.date));
    let slow_date = |t: &str| is_infinity(t) || parse_date(t).is_some_and(|d| valid_year(&d));
    let mut checked = 0;
    for year in [
        "0000", "0001", "1900", "1999", "2000", "2023", "2024", "9999", "20x4",
    ] {
        for month in ["00", "01", "02", "04", "06", "09", "11", "12", "13"] {
            for day in ["00", "01", "28", "29", "30", "31", "32"] {
                let date = format!("{year}-{month}-{day}");
                if common_date(date.as_bytes()) {
                    assert!(slow_date(&date), "{date}");
                    checked += 1;
                }
                for time in [
                    "00:00:00", "23:59:59", "24:00:00", "12:60:00", "12:00:60", "1a:00:00",
                ] {
                    for tail in [
                        ".000000+00:00",
                        ".123456+00:00",
                        ".12345+00:00",
                        ".123456+01:00",
                        ".12345x+00:00",
                    ] {
                        let text = format!("{date}T{time}{tail}");
                        if common_date_time(text.as_bytes()) {
                            assert!(slow_date_time(&text), "{text}");
                            checked += 1;
                        }
                    }
                }
            }
        }
    }
    assert!(checked > 100, "the shapes accepted {checked} values");
    // Every valid day of a month has the shape: none goes the slow way.
    for (date, valid) in [
        ("2024-02-29", true),
        ("2000-02-29", true),
        ("1900-02-29", false),
        ("2023-02-29", false),
        ("2024-04-30", true),
        ("2024-04-31", false),
        ("2024-12-31", true),
    ] {
        assert_eq!(common_date(date.as_bytes()), valid, "{date}");
    }
    assert!(is_date_time("2024-02-29T23:59:59.999999+00:00"));
    assert!(!is_date_time("2023-02-29T00:00:00.000000+00:00"));
    assert!(!is_date("0000-01-01"));
    assert!(is_date("2024-12-31"));
}
