//! Exact comparison of decimal numbers written as text.
//!
//! Bookmark values can be any JSON number: 64-bit integers, `numeric`
//! columns with 38 significant digits, exponents. Going through `f64` would
//! make distinct values compare equal, so a number is kept as its normalised
//! significant digits and a decimal exponent, and compared on those.

use std::cmp::Ordering;

/// An exact decimal: `(-1)^negative × 0.d₁d₂d₃… × 10^exponent`, with no
/// leading or trailing zero in the digits (so `d₁ ≠ 0`), or zero.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Decimal {
    negative: bool,
    /// ASCII digits; empty for zero.
    digits: Vec<u8>,
    exponent: i64,
}

/// Exponents longer than this are refused rather than risk overflow; the
/// largest JSON number PostgreSQL's `numeric` accepts is far smaller.
const MAX_EXPONENT_DIGITS: usize = 18;

impl Decimal {
    /// Parses JSON number syntax: `-?digits(.digits)?([eE][+-]?digits)?`.
    /// Leading zeros in the integer part are tolerated (they can come from
    /// strings holding decimals).
    pub(crate) fn parse(text: &str) -> Result<Self, &'static str> {
        let (negative, unsigned) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (mantissa, exponent_text) = match unsigned.find(['e', 'E']) {
            Some(at) => (
                unsigned.get(..at).unwrap_or_default(),
                Some(unsigned.get(at + 1..).unwrap_or_default()),
            ),
            None => (unsigned, None),
        };
        let (int_part, frac_part) = match mantissa.split_once('.') {
            Some((int_part, frac_part)) => {
                if frac_part.is_empty() {
                    return Err("a decimal point must be followed by digits");
                }
                (int_part, frac_part)
            }
            None => (mantissa, ""),
        };
        if int_part.is_empty() {
            return Err("a number must start with a digit");
        }
        if !all_digits(int_part) || !all_digits(frac_part) {
            return Err("not a decimal number");
        }
        let exponent = match exponent_text {
            Some(text) => parse_exponent(text)?,
            None => 0,
        };

        let digits: Vec<u8> = int_part.bytes().chain(frac_part.bytes()).collect();
        let leading_zeros = digits.iter().take_while(|digit| **digit == b'0').count();
        let Some(significant) = digits.get(leading_zeros..) else {
            return Ok(Self::zero());
        };
        let trailing_zeros = significant
            .iter()
            .rev()
            .take_while(|digit| **digit == b'0')
            .count();
        let significant = significant
            .get(..significant.len() - trailing_zeros)
            .unwrap_or_default();
        if significant.is_empty() {
            return Ok(Self::zero());
        }
        // value = 0.<digits> × 10^(int_part.len()), then shifted left past the
        // leading zeros, then scaled by the written exponent.
        let point = i64::try_from(int_part.len()).map_err(|_| "number too long")?
            - i64::try_from(leading_zeros).map_err(|_| "number too long")?;
        let exponent = point.checked_add(exponent).ok_or("exponent out of range")?;
        Ok(Self {
            negative,
            digits: significant.to_vec(),
            exponent,
        })
    }

    const fn zero() -> Self {
        Self {
            negative: false,
            digits: Vec::new(),
            exponent: 0,
        }
    }

    fn signum(&self) -> i8 {
        match (self.digits.is_empty(), self.negative) {
            (true, _) => 0,
            (false, true) => -1,
            (false, false) => 1,
        }
    }
}

impl Ord for Decimal {
    fn cmp(&self, other: &Self) -> Ordering {
        let by_sign = self.signum().cmp(&other.signum());
        if by_sign != Ordering::Equal || self.signum() == 0 {
            return by_sign;
        }
        // Same sign, both non-zero: compare magnitudes. With normalised
        // digits, a larger exponent means a larger magnitude; with equal
        // exponents, the digit strings compare like the numbers (a proper
        // prefix is smaller because trailing zeros were stripped).
        let magnitude = self
            .exponent
            .cmp(&other.exponent)
            .then_with(|| self.digits.cmp(&other.digits));
        if self.negative {
            magnitude.reverse()
        } else {
            magnitude
        }
    }
}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

fn all_digits(text: &str) -> bool {
    text.bytes().all(|byte| byte.is_ascii_digit())
}

fn parse_exponent(text: &str) -> Result<i64, &'static str> {
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, text.get(1..).unwrap_or_default()),
        Some(b'+') => (false, text.get(1..).unwrap_or_default()),
        _ => (false, text),
    };
    if digits.is_empty() || !all_digits(digits) {
        return Err("an exponent must have digits");
    }
    let digits = digits.trim_start_matches('0');
    if digits.len() > MAX_EXPONENT_DIGITS {
        return Err("exponent out of range");
    }
    let magnitude: i64 = if digits.is_empty() {
        0
    } else {
        digits.parse().map_err(|_| "exponent out of range")?
    };
    Ok(if negative { -magnitude } else { magnitude })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(text: &str) -> Decimal {
        Decimal::parse(text).unwrap_or_else(|reason| panic!("{text}: {reason}"))
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
            assert!(Decimal::parse(text).is_err(), "{text:?} must be refused");
        }
    }

    #[test]
    fn huge_exponents_within_range_do_not_overflow() {
        assert!(Decimal::parse("1e999999999999999999").is_ok());
        assert!(Decimal::parse("-1e-999999999999999999").is_ok());
        assert_eq!(
            dec("1e999999999999999999").cmp(&dec("1e999999999999999998")),
            Ordering::Greater
        );
    }
}
