//! Special values: `NaN`/`±Infinity` in numbers, `±infinity` and dates
//! outside 0001-01-01..9999-12-31 in dates and timestamps, each decided by
//! the [`ValuePolicy`](super::ValuePolicy) and counted in [`EncodeStats`].

use super::numeric::NumericSpecial;
use super::{
    Codec, EncodeError, EncodeStats, NumberSpecialPolicy, SpecialValue, SpecialValuePolicy,
};

impl Codec {
    pub(super) fn number_special(
        &self,
        special: NumericSpecial,
        out: &mut Vec<u8>,
        stats: &mut EncodeStats,
    ) -> Result<(), EncodeError> {
        let (kind, text) = match special {
            NumericSpecial::NaN => (SpecialValue::NaN, "NaN"),
            NumericSpecial::Infinity => (SpecialValue::NumberInfinity, "Infinity"),
            NumericSpecial::NegativeInfinity => (SpecialValue::NumberNegativeInfinity, "-Infinity"),
        };
        stats.record(kind);
        match self.policy.number_special {
            NumberSpecialPolicy::Keep => {
                out.push(b'"');
                out.extend_from_slice(text.as_bytes());
                out.push(b'"');
            }
            NumberSpecialPolicy::Null => out.extend_from_slice(b"null"),
            NumberSpecialPolicy::Error => return Err(self.refused(kind, text.to_owned())),
        }
        Ok(())
    }

    pub(super) fn refused(&self, kind: SpecialValue, value: String) -> EncodeError {
        EncodeError::SpecialValue {
            sql_datatype: self.sql_datatype.clone(),
            kind,
            value,
        }
    }

    /// Applies the temporal policy to a special value: `keep` writes the
    /// value as it is (quoted), `clamp` writes `clamped` (quoted).
    pub(super) fn temporal_special(
        &self,
        kind: SpecialValue,
        out: &mut Vec<u8>,
        stats: &mut EncodeStats,
        keep: impl FnOnce(&mut Vec<u8>),
        clamped: &str,
    ) -> Result<(), EncodeError> {
        stats.record(kind);
        let policy = match kind {
            SpecialValue::TemporalInfinity | SpecialValue::TemporalNegativeInfinity => {
                self.policy.temporal_infinity
            }
            _ => self.policy.temporal_out_of_range,
        };
        match policy {
            SpecialValuePolicy::Keep => {
                out.push(b'"');
                keep(out);
                out.push(b'"');
            }
            SpecialValuePolicy::Null => out.extend_from_slice(b"null"),
            SpecialValuePolicy::Clamp => {
                out.push(b'"');
                out.extend_from_slice(clamped.as_bytes());
                out.push(b'"');
            }
            SpecialValuePolicy::Error => {
                let mut value = Vec::new();
                keep(&mut value);
                return Err(self.refused(kind, String::from_utf8_lossy(&value).into_owned()));
            }
        }
        Ok(())
    }
}

pub(super) fn float_special(nan: bool, positive: bool) -> NumericSpecial {
    if nan {
        NumericSpecial::NaN
    } else if positive {
        NumericSpecial::Infinity
    } else {
        NumericSpecial::NegativeInfinity
    }
}
