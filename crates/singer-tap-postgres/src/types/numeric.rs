//! The binary `numeric` format, rendered as exact decimal text.
//!
//! `numeric_send` writes four big-endian 16-bit fields, `ndigits`, `weight`,
//! `sign` and `dscale`, then `ndigits` base-10000 digits. The value is
//! `sum(digit[i] * 10000^(weight - i))`; `dscale` is the number of decimal
//! digits after the point that the value displays (trailing zeros kept, so
//! `1.50` stays `1.50`). The text is the same as PostgreSQL's `numeric_out`.

/// `sign` of a positive number.
const POSITIVE: u16 = 0x0000;
/// `sign` of a negative number.
const NEGATIVE: u16 = 0x4000;
/// `sign` of `NaN`.
const NAN: u16 = 0xC000;
/// `sign` of `Infinity` (PostgreSQL 14+).
const PINF: u16 = 0xD000;
/// `sign` of `-Infinity` (PostgreSQL 14+).
const NINF: u16 = 0xF000;

/// A `numeric` that is not a finite number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NumericSpecial {
    NaN,
    Infinity,
    NegativeInfinity,
}

fn be16(raw: &[u8], at: usize) -> Option<u16> {
    let bytes = raw.get(at..at + 2)?;
    Some(u16::from_be_bytes([*bytes.first()?, *bytes.get(1)?]))
}

/// Appends the decimal text of the binary numeric `raw` to `out` (without
/// quotes), or returns the special value it is, writing nothing.
///
/// # Errors
///
/// A description of the problem when `raw` is not a well-formed numeric.
pub(crate) fn write_numeric(
    raw: &[u8],
    out: &mut Vec<u8>,
) -> Result<Option<NumericSpecial>, &'static str> {
    let (Some(ndigits), Some(weight), Some(sign), Some(dscale)) =
        (be16(raw, 0), be16(raw, 2), be16(raw, 4), be16(raw, 6))
    else {
        return Err("numeric shorter than its 8-byte header");
    };
    let weight = i64::from(i16::from_be_bytes(weight.to_be_bytes()));
    match sign {
        POSITIVE | NEGATIVE => {}
        NAN => return Ok(Some(NumericSpecial::NaN)),
        PINF => return Ok(Some(NumericSpecial::Infinity)),
        NINF => return Ok(Some(NumericSpecial::NegativeInfinity)),
        _ => return Err("numeric with an unknown sign"),
    }
    let ndigits = usize::from(ndigits);
    let digits = raw.get(8..).unwrap_or_default();
    if digits.len() != ndigits * 2 || dscale > 0x3FFF {
        return Err("numeric length does not match its digit count");
    }
    let digit = |index: i64| -> Result<u64, &'static str> {
        let Ok(index) = usize::try_from(index) else {
            return Ok(0);
        };
        if index >= ndigits {
            return Ok(0);
        }
        let value = be16(digits, index * 2).map_or(0, u64::from);
        if value > 9999 {
            return Err("numeric digit out of range");
        }
        Ok(value)
    };
    if sign == NEGATIVE {
        out.push(b'-');
    }
    // Integer part: positions weight..=0 of the digit array.
    if weight < 0 || ndigits == 0 {
        out.push(b'0');
    } else {
        let mut buffer = itoa::Buffer::new();
        out.extend_from_slice(buffer.format(digit(0)?).as_bytes());
        for index in 1..=weight {
            super::text::write_padded(out, digit(index)?, 4);
        }
    }
    // Fraction: exactly dscale digits, from the digit after position 0.
    let dscale = usize::from(dscale);
    if dscale > 0 {
        out.push(b'.');
        let start = out.len();
        let groups = dscale.div_ceil(4);
        for index in (weight + 1..).take(groups) {
            super::text::write_padded(out, digit(index)?, 4);
        }
        out.truncate(start + dscale);
    }
    Ok(None)
}

/// The precision and scale of a `numeric(p,s)` type modifier, or `None` for
/// an unconstrained `numeric` (typmod -1). PostgreSQL 15 allows a negative
/// scale (`numeric(2,-3)`): the low 11 bits are a signed scale.
pub(crate) fn precision_scale(typmod: i32) -> Option<(i32, i32)> {
    let value = typmod.checked_sub(4)?;
    if value < 0 {
        return None;
    }
    let precision = (value >> 16) & 0xFFFF;
    let scale = ((value & 0x7FF) ^ 1024) - 1024;
    Some((precision, scale))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(ndigits: i16, weight: i16, sign: u16, dscale: i16, digits: &[i16]) -> String {
        let mut raw = Vec::new();
        raw.extend_from_slice(&ndigits.to_be_bytes());
        raw.extend_from_slice(&weight.to_be_bytes());
        raw.extend_from_slice(&sign.to_be_bytes());
        raw.extend_from_slice(&dscale.to_be_bytes());
        for d in digits {
            raw.extend_from_slice(&d.to_be_bytes());
        }
        let mut out = Vec::new();
        assert_eq!(write_numeric(&raw, &mut out), Ok(None));
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn renders_like_numeric_out() {
        assert_eq!(encode(0, 0, POSITIVE, 0, &[]), "0");
        assert_eq!(encode(0, 0, POSITIVE, 3, &[]), "0.000");
        assert_eq!(encode(1, 0, POSITIVE, 2, &[1]), "1.00");
        assert_eq!(encode(2, 0, POSITIVE, 2, &[1, 5000]), "1.50");
        assert_eq!(encode(1, 1, POSITIVE, 0, &[1]), "10000");
        assert_eq!(encode(1, -1, POSITIVE, 4, &[1]), "0.0001");
        assert_eq!(encode(1, -1, NEGATIVE, 1, &[5000]), "-0.5");
        assert_eq!(encode(1, -5, POSITIVE, 20, &[1]), "0.00000000000000000001");
        assert_eq!(encode(3, 2, POSITIVE, 0, &[12, 3456, 7890]), "1234567890");
    }

    #[test]
    fn rejects_malformed_input() {
        let mut out = Vec::new();
        assert!(write_numeric(&[0, 1], &mut out).is_err());
        assert!(write_numeric(&[0, 2, 0, 0, 0, 0, 0, 0, 0, 1], &mut out).is_err());
        assert!(write_numeric(&[0, 1, 0, 0, 0, 0, 0, 0, 0x27, 0x10], &mut out).is_err());
        assert!(write_numeric(&[0, 0, 0, 0, 0x12, 0, 0, 0], &mut out).is_err());
    }

    #[test]
    fn typmods() {
        assert_eq!(precision_scale(-1), None);
        assert_eq!(precision_scale(((38 << 16) | 9) + 4), Some((38, 9)));
        assert_eq!(
            precision_scale(((2 << 16) | (-3i32 & 0x7FF)) + 4),
            Some((2, -3))
        );
    }
}
