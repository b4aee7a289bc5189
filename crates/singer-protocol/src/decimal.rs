//! Exact decimal numbers on their text: the one parser and the one
//! arithmetic the workspace uses for JSON numbers and decimal strings.
//!
//! serde_json is built with `arbitrary_precision`, so a JSON number keeps the
//! digits the tap wrote. Everything here works on that text and never goes
//! through `f64`: bounds, `multipleOf`, `precision`/`scale` (validation in
//! `singer-schema`) and the order of numeric bookmarks (`singer-state`) are
//! decided on the digits themselves.
//!
//! Two grammars, one implementation:
//!
//! | input | [`Decimal::parse`] (validation) | [`Decimal::parse_json`] (bookmarks) |
//! |---|---|---|
//! | JSON numbers: `-12.5e3`, `1E-38`, `0` | yes | yes |
//! | leading zeros: `007.50` | yes | yes |
//! | a `+` sign: `+12` | yes | no |
//! | no integer digits: `.5` | yes | no |
//! | no fraction digits: `5.` | yes | no |
//! | exponents past 18 digits: `1e99999999999999999999` | yes (clamped, every comparison already decided) | no (refused) |
//! | `NaN`, `Infinity`, blanks, `1,5`, `0x10` | no | no |
//!
//! Validation is lenient because decimal *strings* (`x-singer.decimal`)
//! come in the spellings databases print; a bookmark is refused unless it
//! is a JSON number's spelling, so two runs never order it differently.
//!
//! ```
//! use std::cmp::Ordering;
//! use singer_protocol::Decimal;
//!
//! let a = Decimal::parse("0.99999999999999999999999999999999999999").ok_or("a")?;
//! let b = Decimal::parse_json("1").map_err(|e| e.to_string())?;
//! assert_eq!(a.cmp_value(&b), Ordering::Less);
//! assert_eq!((a.integer_digits(), a.scale()), (0, 38));
//! assert!(Decimal::parse(".5").is_some());
//! assert!(Decimal::parse_json(".5").is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::cmp::Ordering;

/// Exponents are clamped to this magnitude. Beyond it every comparison is
/// already decided (no column holds 10^(10^18)); it is above the largest
/// exponent [`Decimal::parse_json`] accepts (18 digits), so those are exact,
/// and low enough that all arithmetic on `i64` is free of overflow.
const EXP_LIMIT: i64 = 4_000_000_000_000_000_000;

/// The longest exponent (in digits, leading zeros aside) that
/// [`Decimal::parse_json`] accepts.
const MAX_EXPONENT_DIGITS: usize = 18;

/// Divisors of `multipleOf` are kept in a `u128`; with at most this many
/// significant digits the running remainder `r * 10 + 9` cannot overflow.
pub const MAX_DIVISOR_DIGITS: usize = 37;

/// Why [`Decimal::parse_json`] refused a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecimalSyntaxError {
    /// `1.`: no digit after the point.
    #[error("{}", self.reason())]
    EmptyFraction,
    /// `.5`, `-`: no digit where the number starts.
    #[error("{}", self.reason())]
    NoLeadingDigit,
    /// Anything else that is not a number: `abc`, `+1`, `1.2.3`, ` 1`.
    #[error("{}", self.reason())]
    NotANumber,
    /// `1e`, `1e+`: an exponent without digits.
    #[error("{}", self.reason())]
    EmptyExponent,
    /// An exponent longer than 18 digits.
    #[error("{}", self.reason())]
    ExponentOutOfRange,
}

/// A finite decimal parsed from its text, borrowing the digits:
/// `(-1)^negative × D × 10^exp` where `D` is `digits` read as an integer with
/// no leading or trailing zeros (empty for zero).
#[derive(Debug, Clone, Copy)]
pub struct Decimal<'a> {
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
    /// The exponent as written (`1.5e3` → 3; clamped).
    written_exp: i64,
}

impl<'a> Decimal<'a> {
    /// Parses `[+-]? (digits [. digits?] | . digits) ([eE] [+-]? digits)?`.
    ///
    /// This accepts every JSON number and the usual decimal strings
    /// (`"007.50"`, `"+1."`, `".5"`, `"1E-38"`); `NaN`, `Infinity`, blanks
    /// and thousands separators are rejected (`None`).
    pub fn parse(text: &'a str) -> Option<Self> {
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
                written_exp: exponent,
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
            written_exp: exponent,
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
    pub fn is_zero(&self) -> bool {
        self.len() == 0
    }

    /// Whether the value is negative (and not zero).
    pub fn is_negative(&self) -> bool {
        self.negative && !self.is_zero()
    }

    /// The exponent of the leading digit plus one (`123.4` → 3, `0.05` → -1);
    /// meaningless for zero.
    fn magnitude(&self) -> i64 {
        self.exp + i64::try_from(self.len()).unwrap_or(EXP_LIMIT)
    }

    /// Digits before the decimal point, leading zeros not counted
    /// (`123.45` → 3, `0.5` → 0, `1e3` → 4).
    pub fn integer_digits(&self) -> u64 {
        if self.is_zero() {
            return 0;
        }
        u64::try_from(self.magnitude()).unwrap_or(0)
    }

    /// Digits after the decimal point, trailing zeros not counted
    /// (`1.50` → 1, `1e-38` → 38, `100` → 0).
    pub fn scale(&self) -> u64 {
        u64::try_from(-self.exp).unwrap_or(0)
    }

    /// Exact comparison of the two values.
    pub fn cmp_value(&self, other: &Decimal<'_>) -> Ordering {
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
    pub fn is_multiple_of(&self, divisor: &Decimal<'_>) -> bool {
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
    pub fn coefficient(&self) -> Option<u128> {
        if self.len() > MAX_DIVISOR_DIGITS {
            return None;
        }
        Some(self.digits().fold(0u128, |acc, d| acc * 10 + u128::from(d)))
    }

    /// `k` if the absolute value is `10^k`.
    pub fn abs_power_of_ten(&self) -> Option<i64> {
        (self.len() == 1 && self.digits().next() == Some(1)).then_some(self.exp)
    }

    /// The number without an exponent, its digits as written (`12.50`
    /// stays `12.50`, `1.5e3` is `1500`, `-2E-2` is `-0.02`, `.5` is
    /// `0.5`, `+7` is `7`); `None` when the written exponent's magnitude is
    /// over `max_exponent` (the text would be that long).
    #[must_use]
    pub fn to_plain(&self, max_exponent: u64) -> Option<String> {
        if self.written_exp.unsigned_abs() > max_exponent {
            return None;
        }
        let mut plain = String::with_capacity(self.int_part.len() + self.frac_part.len() + 2);
        if self.negative {
            plain.push('-');
        }
        let digits = || {
            self.int_part
                .iter()
                .chain(self.frac_part)
                .map(|&b| char::from(b))
        };
        let total = self.int_part.len() + self.frac_part.len();
        if self.written_exp == 0 {
            if self.int_part.is_empty() {
                plain.push('0');
            }
            plain.extend(self.int_part.iter().map(|&b| char::from(b)));
            if !self.frac_part.is_empty() {
                plain.push('.');
                plain.extend(self.frac_part.iter().map(|&b| char::from(b)));
            }
            return Some(plain);
        }
        let point = i64::try_from(self.int_part.len()).ok()? + self.written_exp;
        if point <= 0 {
            plain.push_str("0.");
            plain.extend(std::iter::repeat_n('0', usize::try_from(-point).ok()?));
            plain.extend(digits());
        } else {
            let point = usize::try_from(point).ok()?;
            if point >= total {
                plain.extend(digits());
                plain.extend(std::iter::repeat_n('0', point - total));
            } else {
                plain.extend(digits().take(point));
                plain.push('.');
                plain.extend(digits().skip(point));
            }
        }
        Some(plain)
    }

    /// Whether the value has no fractional part.
    pub fn is_integer(&self) -> bool {
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

impl DecimalSyntaxError {
    /// The message, as a static string (what callers that keep
    /// `&'static str` reasons want).
    #[must_use]
    pub const fn reason(self) -> &'static str {
        match self {
            Self::EmptyFraction => "a decimal point must be followed by digits",
            Self::NoLeadingDigit => "a number must start with a digit",
            Self::NotANumber => "not a decimal number",
            Self::EmptyExponent => "an exponent must have digits",
            Self::ExponentOutOfRange => "exponent out of range",
        }
    }
}

impl<'a> Decimal<'a> {
    /// Parses the JSON number grammar `-?digits(.digits)?([eE][+-]?digits)?`
    /// (leading zeros in the integer part tolerated: they come from strings
    /// holding decimals), with an exponent of at most 18 digits.
    ///
    /// # Errors
    ///
    /// [`DecimalSyntaxError`] saying what is wrong.
    pub fn parse_json(text: &'a str) -> Result<Self, DecimalSyntaxError> {
        let bytes = text.as_bytes();
        let unsigned = bytes.strip_prefix(b"-").unwrap_or(bytes);
        let mantissa_len = unsigned
            .iter()
            .position(|b| matches!(b, b'e' | b'E'))
            .unwrap_or(unsigned.len());
        let (mantissa, exponent) = unsigned.split_at(mantissa_len);
        let (int_part, frac_part) = match mantissa.iter().position(|b| *b == b'.') {
            Some(at) => {
                let (int_part, frac_part) = mantissa.split_at(at);
                let frac_part = frac_part.get(1..).unwrap_or_default();
                if frac_part.is_empty() {
                    return Err(DecimalSyntaxError::EmptyFraction);
                }
                (int_part, frac_part)
            }
            None => (mantissa, &[][..]),
        };
        if int_part.is_empty() {
            return Err(DecimalSyntaxError::NoLeadingDigit);
        }
        if !int_part.iter().chain(frac_part).all(u8::is_ascii_digit) {
            return Err(DecimalSyntaxError::NotANumber);
        }
        if let Some(exp) = exponent.get(1..) {
            let digits = exp
                .strip_prefix(b"-")
                .or_else(|| exp.strip_prefix(b"+"))
                .unwrap_or(exp);
            if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
                return Err(DecimalSyntaxError::EmptyExponent);
            }
            let significant = digits.iter().skip_while(|d| **d == b'0').count();
            if significant > MAX_EXPONENT_DIGITS {
                return Err(DecimalSyntaxError::ExponentOutOfRange);
            }
        }
        Self::parse(text).ok_or(DecimalSyntaxError::NotANumber)
    }
}

impl PartialEq for Decimal<'_> {
    /// Equal values (`1.50` equals `1.5e0`), whatever the spelling.
    fn eq(&self, other: &Self) -> bool {
        self.cmp_value(other) == Ordering::Equal
    }
}

impl Eq for Decimal<'_> {}

impl PartialOrd for Decimal<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Decimal<'_> {
    /// The exact order of the values ([`Decimal::cmp_value`]).
    fn cmp(&self, other: &Self) -> Ordering {
        self.cmp_value(other)
    }
}

#[cfg(test)]
#[path = "decimal_tests.rs"]
mod tests;
