//! Tests of [`super::Decimal`]: the validation test set (lenient grammar,
//! measures, `multipleOf`) and the bookmark test set (JSON grammar, exact
//! order), kept whole from the two modules they came from.

use super::*;

// The validation set (from singer-schema).

fn d(text: &str) -> Decimal<'_> {
    Decimal::parse(text).unwrap_or_else(|| panic!("{text} parses"))
}

#[test]
fn parses_and_measures() {
    for (text, int_digits, scale) in [
        ("0", 0, 0),
        ("-0.000", 0, 0),
        ("123.4500", 3, 2),
        ("0.05", 0, 2),
        ("1e3", 4, 0),
        ("1E-38", 0, 38),
        ("-1.5e2", 3, 0),
        ("99999999.99", 8, 2),
        ("0.99999999999999999999999999999999999999", 0, 38),
        ("007.5", 1, 1),
        (".5", 0, 1),
        ("5.", 1, 0),
        ("+12", 2, 0),
    ] {
        let v = d(text);
        assert_eq!(
            (v.integer_digits(), v.scale()),
            (int_digits, scale),
            "{text}"
        );
    }
    for bad in [
        "", "-", ".", "1e", "e5", "NaN", "Infinity", "1,5", " 1", "1 ", "1.2.3", "--1",
    ] {
        assert!(Decimal::parse(bad).is_none(), "{bad:?}");
    }
}

#[test]
fn compares_exactly() {
    let cases = [
        ("1", "1.0", Ordering::Equal),
        (
            "0.99999999999999999999999999999999999999",
            "1",
            Ordering::Less,
        ),
        (
            "99999999999999999999999999999999999999.99",
            "1e38",
            Ordering::Less,
        ),
        ("-1E-38", "-1", Ordering::Greater),
        ("-2", "-10", Ordering::Greater),
        ("0", "-0.0", Ordering::Equal),
        ("1e-400", "0", Ordering::Greater),
        ("123.45", "123.5", Ordering::Less),
    ];
    for (a, b, expected) in cases {
        assert_eq!(d(a).cmp_value(&d(b)), expected, "{a} vs {b}");
        assert_eq!(d(b).cmp_value(&d(a)), expected.reverse(), "{b} vs {a}");
    }
}

#[test]
fn multiple_of_is_exact() {
    let cases = [
        ("0.3", "0.1", true),
        ("3", "2", false),
        ("4", "2", true),
        ("0.99999999999999999999999999999999999999", "1e-38", true),
        ("-1E-38", "1e-38", true),
        ("1e-39", "1e-38", false),
        ("12.5", "0.01", true),
        ("12.505", "0.01", false),
        ("0", "7", true),
        ("1e30", "3", false),
        ("3e30", "3", true),
        ("1e100", "8", true),
        ("1.5", "0.5", true),
        ("1.25", "0.5", false),
        (
            "12345678901234567890.123456789012345678901234567890",
            "1e-38",
            true,
        ),
    ];
    for (value, divisor, expected) in cases {
        assert_eq!(
            d(value).is_multiple_of(&d(divisor)),
            expected,
            "{value} % {divisor}"
        );
    }
}

// The bookmark set (from singer-state).

fn dec(text: &str) -> Decimal<'_> {
    Decimal::parse_json(text).unwrap_or_else(|reason| panic!("{text}: {reason}"))
}

#[test]
fn orders_exactly() {
    use Ordering::{Equal, Greater, Less};
    let cases = [
        ("0", "0", Equal),
        ("-0", "0", Equal),
        ("0.000", "-0e7", Equal),
        ("1", "2", Less),
        ("10", "9", Greater),
        ("-10", "-9", Less),
        ("-1", "0", Less),
        ("1e3", "1000", Equal),
        ("1E+3", "1000.0", Equal),
        ("1000e-3", "1", Equal),
        ("0.1", "0.10", Equal),
        ("0.1", "0.09", Greater),
        ("0.001", "1e-3", Equal),
        ("007", "7", Equal),
        ("9007199254740993", "9007199254740992", Greater),
        (
            "12345678901234567890.123456789012345678",
            "12345678901234567890.123456789012345679",
            Less,
        ),
        (
            "-12345678901234567890.123456789012345678",
            "-12345678901234567890.123456789012345679",
            Greater,
        ),
        ("99999999999999999999999999", "1e26", Less),
        ("1e-400", "0", Greater),
        ("-1e-400", "0", Less),
        ("1e400", "9e399", Greater),
        ("123.456", "123.4559999999999999999", Greater),
        ("1.5", "15e-1", Equal),
    ];
    for (left, right, expected) in cases {
        assert_eq!(dec(left).cmp(&dec(right)), expected, "{left} vs {right}");
        assert_eq!(
            dec(right).cmp(&dec(left)),
            expected.reverse(),
            "{right} vs {left}"
        );
    }
}

#[test]
fn refuses_what_is_not_a_number() {
    for text in [
        "",
        "-",
        ".5",
        "1.",
        "1e",
        "1e+",
        "abc",
        "1.2.3",
        "1 ",
        " 1",
        "NaN",
        "Infinity",
        "0x10",
        "+1",
        "1e99999999999999999999",
        "--1",
    ] {
        assert!(
            Decimal::parse_json(text).is_err(),
            "{text:?} must be refused"
        );
    }
}

#[test]
fn huge_exponents_within_range_do_not_overflow() {
    assert!(Decimal::parse_json("1e999999999999999999").is_ok());
    assert!(Decimal::parse_json("-1e-999999999999999999").is_ok());
    assert_eq!(
        dec("1e999999999999999999").cmp(&dec("1e999999999999999998")),
        Ordering::Greater
    );
}

#[test]
fn both_grammars_agree_on_json_numbers() {
    for text in [
        "0",
        "-0",
        "12.5",
        "-1e-38",
        "007",
        "1E+3",
        "9007199254740993",
    ] {
        let lenient = Decimal::parse(text).unwrap_or_else(|| panic!("{text}"));
        let strict = Decimal::parse_json(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(lenient.cmp_value(&strict), Ordering::Equal, "{text}");
    }
    for (text, error) in [
        ("1.", DecimalSyntaxError::EmptyFraction),
        (".5", DecimalSyntaxError::NoLeadingDigit),
        ("+1", DecimalSyntaxError::NotANumber),
        ("1e+", DecimalSyntaxError::EmptyExponent),
        (
            "1e99999999999999999999",
            DecimalSyntaxError::ExponentOutOfRange,
        ),
    ] {
        assert_eq!(Decimal::parse_json(text), Err(error), "{text}");
    }
}

#[test]
fn plain_text_keeps_the_written_digits_and_expands_exponents() {
    let plain = |text: &str| Decimal::parse(text).and_then(|d| d.to_plain(400));
    assert_eq!(plain("12.50").as_deref(), Some("12.50"));
    assert_eq!(plain("1.5e3").as_deref(), Some("1500"));
    assert_eq!(plain("-2E-2").as_deref(), Some("-0.02"));
    assert_eq!(plain("1e401"), None);
    assert_eq!(plain("1e2").as_deref(), Some("100"));
    assert_eq!(plain(".5").as_deref(), Some("0.5"));
    assert_eq!(plain("+7").as_deref(), Some("7"));
    assert_eq!(plain("12.345e1").as_deref(), Some("123.45"));
    assert_eq!(plain("abc"), None);
    assert_eq!(
        plain("12345678901234567890123456.789012345678").as_deref(),
        Some("12345678901234567890123456.789012345678")
    );
}
