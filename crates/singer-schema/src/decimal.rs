//! Exact decimal arithmetic on number text.
//!
//! serde_json is built with `arbitrary_precision`, so a JSON number keeps the
//! digits the tap wrote. Everything here works on that text and never goes
//! through `f64`: bounds, `multipleOf` and `precision`/`scale` are decided on
//! the digits themselves.

use std::cmp::Ordering;

/// Exponents are clamped to this magnitude. Beyond it every comparison this
/// crate makes is already decided (no column holds 10^(10^15)), and clamping
/// keeps all arithmetic on `i64` free of overflow.
const EXP_LIMIT: i64 = 1_000_000_000_000_000;

/// Divisors of `multipleOf` are kept in a `u128`; with at most this many
/// significant digits the running remainder `r * 10 + 9` cannot overflow.
pub(crate) const MAX_DIVISOR_DIGITS: usize = 37;

/// A finite decimal parsed from its text, borrowing the digits:
/// `(-1)^negative × D × 10^exp` where `D` is `digits` read as an integer with
/// no leading or trailing zeros (empty for zero).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Decimal<'a> {
    negative: bool,
    /// The text of the integer part followed by the fraction part, split
    /// in two so parsing does not allocate.
    int_part: &'a [u8],
    frac_part: &'a [u8],
    /// Index range of the significant digits within `int_part ++ frac_part`.
    first: usize,
    last: usize,
    /// Exponent of the last significant digit.
    exp: i64,
}

impl<'a> Decimal<'a> {
    /// Parses `[+-]? (digits [. digits?] | . digits) ([eE] [+-]? digits)?`.
    ///
    /// This accepts every JSON number and the usual decimal strings
    /// (`"007.50"`, `"+1."`, `".5"`, `"1E-38"`); `NaN`, `Infinity`, blanks
    /// and thousands separators are rejected (`None`).
    pub(crate) fn parse(text: &'a str) -> Option<Self> {
        let bytes = text.as_bytes();
        let (negative, rest) = match bytes.split_first() {
            Some((b'-', rest)) => (true, rest),
            Some((b'+', rest)) => (false, rest),
            _ => (false, bytes),
        };
        let int_len = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        let (int_part, rest) = rest.split_at_checked(int_len)?;
        let (frac_part, rest) = match rest.split_first() {
            Some((b'.', after)) => {
                let n = after.iter().take_while(|b| b.is_ascii_digit()).count();
                after.split_at_checked(n)?
            }
            _ => (&[][..], rest),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return None;
        }
        let exponent = match rest.split_first() {
            None => 0,
            Some((b'e' | b'E', exp)) => parse_exponent(exp)?,
            Some(_) => return None,
        };
        let total = int_part.len() + frac_part.len();
        let digit = |i: usize| -> u8 {
            if i < int_part.len() {
                int_part.get(i).copied().unwrap_or(b'0')
            } else {
                frac_part.get(i - int_part.len()).copied().unwrap_or(b'0')
            }
        };
        let first = (0..total).find(|&i| digit(i) != b'0');
        let Some(first) = first else {
            return Some(Self {
                negative,
                int_part,
                frac_part,
                first: 0,
                last: 0,
                exp: 0,
            });
        };
        let last = (first..total)
            .rev()
            .find(|&i| digit(i) != b'0')
            .unwrap_or(first);
        // The digit at `last` has exponent `exponent - frac_len + (total - 1 - last)`.
        let frac_len = i64::try_from(frac_part.len()).unwrap_or(EXP_LIMIT);
        let trailing = i64::try_from(total - 1 - last).unwrap_or(EXP_LIMIT);
        let exp = (exponent - frac_len + trailing).clamp(-EXP_LIMIT, EXP_LIMIT);
        Some(Self {
            negative,
            int_part,
            frac_part,
            first,
            last: last + 1,
            exp,
        })
    }

    /// The significant digits, most significant first (empty for zero).
    fn digits(&self) -> impl Iterator<Item = u8> + Clone + '_ {
        self.int_part
            .iter()
            .chain(self.frac_part)
            .skip(self.first)
            .take(self.last - self.first)
            .map(|b| b - b'0')
    }

    fn len(&self) -> usize {
        self.last - self.first
    }

    /// Whether the value is zero.
    pub(crate) fn is_zero(&self) -> bool {
        self.len() == 0
    }

    /// Whether the value is negative (and not zero).
    pub(crate) fn is_negative(&self) -> bool {
        self.negative && !self.is_zero()
    }

    /// The exponent of the leading digit plus one (`123.4` → 3, `0.05` → -1);
    /// meaningless for zero.
    fn magnitude(&self) -> i64 {
        self.exp + i64::try_from(self.len()).unwrap_or(EXP_LIMIT)
    }

    /// Digits before the decimal point, leading zeros not counted
    /// (`123.45` → 3, `0.5` → 0, `1e3` → 4).
    pub(crate) fn integer_digits(&self) -> u64 {
        if self.is_zero() {
            return 0;
        }
        u64::try_from(self.magnitude()).unwrap_or(0)
    }

    /// Digits after the decimal point, trailing zeros not counted
    /// (`1.50` → 1, `1e-38` → 38, `100` → 0).
    pub(crate) fn scale(&self) -> u64 {
        u64::try_from(-self.exp).unwrap_or(0)
    }

    /// Exact comparison of the two values.
    pub(crate) fn cmp_value(&self, other: &Decimal<'_>) -> Ordering {
        match (self.is_negative(), other.is_negative()) {
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            _ => {}
        }
        let magnitude = self.cmp_magnitude(other);
        if self.is_negative() {
            magnitude.reverse()
        } else {
            magnitude
        }
    }

    /// Compares absolute values.
    fn cmp_magnitude(&self, other: &Decimal<'_>) -> Ordering {
        match (self.is_zero(), other.is_zero()) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            (false, false) => {}
        }
        self.magnitude()
            .cmp(&other.magnitude())
            .then_with(|| self.digits().cmp(other.digits()))
    }

    /// Whether `self` is an integer multiple of `divisor` (exactly).
    ///
    /// `divisor` must be positive with at most [`MAX_DIVISOR_DIGITS`]
    /// significant digits; otherwise the answer is `false`.
    pub(crate) fn is_multiple_of(&self, divisor: &Decimal<'_>) -> bool {
        if self.is_zero() {
            return true;
        }
        let Some(b) = divisor.coefficient() else {
            return false;
        };
        if b == 0 {
            return false;
        }
        // self = A·10^ea, divisor = B·10^eb with A, B free of trailing zeros.
        // If ea < eb the quotient needs A divisible by 10, which it is not.
        let Some(shift) = self.exp.checked_sub(divisor.exp) else {
            return false;
        };
        if shift < 0 {
            return false;
        }
        // Powers of ten only add factors 2 and 5; B < 10^37 has fewer than
        // 4 × 37 of them, so more zeros than that cannot change the answer.
        let cap = i64::try_from(4 * divisor.len() + 4).unwrap_or(i64::MAX);
        let zeros = shift.min(cap);
        let mut rem: u128 = 0;
        for d in self.digits() {
            rem = (rem * 10 + u128::from(d)) % b;
        }
        for _ in 0..zeros {
            rem = (rem * 10) % b;
        }
        rem == 0
    }

    /// The significant digits as an integer, if they fit the divisor limit.
    pub(crate) fn coefficient(&self) -> Option<u128> {
        if self.len() > MAX_DIVISOR_DIGITS {
            return None;
        }
        Some(self.digits().fold(0u128, |acc, d| acc * 10 + u128::from(d)))
    }

    /// `k` if the absolute value is `10^k`.
    pub(crate) fn abs_power_of_ten(&self) -> Option<i64> {
        (self.len() == 1 && self.digits().next() == Some(1)).then_some(self.exp)
    }

    /// Whether the value has no fractional part.
    pub(crate) fn is_integer(&self) -> bool {
        self.is_zero() || self.exp >= 0
    }
}

fn parse_exponent(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let value = digits.iter().fold(0i64, |acc, d| {
        acc.saturating_mul(10)
            .saturating_add(i64::from(d - b'0'))
            .min(EXP_LIMIT)
    });
    Some(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
