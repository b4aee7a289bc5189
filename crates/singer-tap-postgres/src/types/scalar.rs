//! Scalar codecs: one value of a scalar type in PostgreSQL's binary
//! format rendered as JSON text (numbers, text, dates and times, JSON,
//! hstore, network addresses, bytes).

use super::array::Reader;
use super::datetime::{self, Civil};
use super::special::float_special;
use super::{Codec, EncodeError, EncodeStats, Scalar, SpecialValue, inet, numeric, text};

impl Codec {
    pub(super) fn encode_scalar(
        &self,
        raw: &[u8],
        out: &mut Vec<u8>,
        stats: &mut EncodeStats,
    ) -> Result<(), EncodeError> {
        match self.scalar {
            Scalar::Bool => match raw {
                [0] => out.extend_from_slice(b"false"),
                [1] => out.extend_from_slice(b"true"),
                _ => return Err(self.malformed(raw, "boolean is not one byte 0 or 1")),
            },
            Scalar::Int2 => text::write_int(out, i16::from_be_bytes(self.fixed(raw)?)),
            Scalar::Int4 => text::write_int(out, i32::from_be_bytes(self.fixed(raw)?)),
            Scalar::Int8 => text::write_int(out, i64::from_be_bytes(self.fixed(raw)?)),
            Scalar::Oid => text::write_int(out, u32::from_be_bytes(self.fixed(raw)?)),
            Scalar::Float4 => {
                let value = f32::from_be_bytes(self.fixed(raw)?);
                if value.is_finite() {
                    out.extend_from_slice(zmij::Buffer::new().format_finite(value).as_bytes());
                } else {
                    self.number_special(float_special(value.is_nan(), value > 0.0), out, stats)?;
                }
            }
            Scalar::Float8 => {
                let value = f64::from_be_bytes(self.fixed(raw)?);
                if value.is_finite() {
                    out.extend_from_slice(zmij::Buffer::new().format_finite(value).as_bytes());
                } else {
                    self.number_special(float_special(value.is_nan(), value > 0.0), out, stats)?;
                }
            }
            Scalar::Numeric { .. } | Scalar::Money => {
                let start = out.len();
                out.push(b'"');
                match numeric::write_numeric(raw, out)
                    .map_err(|reason| self.malformed(raw, reason))?
                {
                    None => out.push(b'"'),
                    Some(special) => {
                        out.truncate(start);
                        self.number_special(special, out, stats)?;
                    }
                }
            }
            Scalar::Text { .. } | Scalar::Label | Scalar::TextCast => {
                text::write_utf8(out, raw).map_err(|source| self.invalid_utf8(source))?;
            }
            Scalar::Bytea => write_hex(out, raw),
            Scalar::Uuid => {
                let bytes: [u8; 16] = self.fixed(raw)?;
                out.push(b'"');
                for (i, b) in bytes.iter().enumerate() {
                    if matches!(i, 4 | 6 | 8 | 10) {
                        out.push(b'-');
                    }
                    push_hex_byte(out, *b);
                }
                out.push(b'"');
            }
            Scalar::Date => self.encode_temporal(
                Temporal::Date(i32::from_be_bytes(self.fixed(raw)?)),
                out,
                stats,
            )?,
            Scalar::Timestamp | Scalar::TimestampTz => {
                self.encode_temporal(
                    Temporal::Timestamp(i64::from_be_bytes(self.fixed(raw)?)),
                    out,
                    stats,
                )?;
            }
            Scalar::Time => {
                out.push(b'"');
                datetime::write_time(out, i64::from_be_bytes(self.fixed(raw)?));
                out.push(b'"');
            }
            Scalar::TimeTz => {
                let bytes: [u8; 12] = self.fixed(raw)?;
                let (time, zone) = bytes.split_at(8);
                let time = i64::from_be_bytes(time.try_into().unwrap_or_default());
                let zone = i32::from_be_bytes(zone.try_into().unwrap_or_default());
                out.push(b'"');
                datetime::write_time(out, time);
                datetime::write_offset(out, zone);
                out.push(b'"');
            }
            Scalar::Interval => {
                let bytes: [u8; 16] = self.fixed(raw)?;
                let (micros, rest) = bytes.split_at(8);
                let (days, months) = rest.split_at(4);
                out.push(b'"');
                datetime::write_interval(
                    out,
                    i64::from_be_bytes(micros.try_into().unwrap_or_default()),
                    i32::from_be_bytes(days.try_into().unwrap_or_default()),
                    i32::from_be_bytes(months.try_into().unwrap_or_default()),
                );
                out.push(b'"');
            }
            Scalar::Json => text::write_json_document(out, self.utf8(raw)?),
            Scalar::Jsonb => match raw.split_first() {
                Some((1, document)) => text::write_json_document(out, self.utf8(document)?),
                _ => return Err(self.malformed(raw, "jsonb without version byte 1")),
            },
            Scalar::Hstore => self.encode_hstore(raw, out)?,
            Scalar::Inet => {
                out.push(b'"');
                inet::write_inet(raw, out).map_err(|reason| self.malformed(raw, reason))?;
                out.push(b'"');
            }
        }
        Ok(())
    }

    /// A date or a timestamp: `±infinity` and values outside
    /// 0001-01-01..9999-12-31 go through the special-value policy (clamped
    /// to the bounds of their kind); the others render as ISO text.
    fn encode_temporal(
        &self,
        value: Temporal,
        out: &mut Vec<u8>,
        stats: &mut EncodeStats,
    ) -> Result<(), EncodeError> {
        let (min, max) = value.bounds();
        if let Some((kind, text)) = value.infinity() {
            let clamped = if kind == SpecialValue::TemporalInfinity {
                max
            } else {
                min
            };
            return self.temporal_special(kind, out, stats, |o| o.extend_from_slice(text), clamped);
        }
        let (date, time) = value.civil();
        let write = |o: &mut Vec<u8>| match time {
            None => datetime::write_date(o, date),
            Some(time) => datetime::write_timestamp(o, date, time),
        };
        match date.out_of_range() {
            None => {
                out.push(b'"');
                write(out);
                out.push(b'"');
                Ok(())
            }
            Some(kind) => self.temporal_special(
                kind,
                out,
                stats,
                write,
                if kind == SpecialValue::BeforeCommonEra {
                    min
                } else {
                    max
                },
            ),
        }
    }

    /// `hstore_send`: i32 pair count, then per pair an i32 key length and
    /// key, and an i32 value length (-1 for NULL) and value.
    fn encode_hstore(&self, raw: &[u8], out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let mut reader = Reader { raw, at: 0 };
        let bad = |_| self.malformed(raw, "truncated hstore");
        let count = reader.i32().map_err(bad)?;
        out.push(b'{');
        for i in 0..count {
            if i > 0 {
                out.push(b',');
            }
            let key = reader
                .field()
                .map_err(bad)?
                .ok_or_else(|| self.malformed(raw, "hstore key is NULL"))?;
            text::write_str(out, self.utf8(key)?);
            out.push(b':');
            match reader.field().map_err(bad)? {
                None => out.extend_from_slice(b"null"),
                Some(value) => text::write_str(out, self.utf8(value)?),
            }
        }
        out.push(b'}');
        if reader.at != raw.len() {
            return Err(self.malformed(raw, "trailing bytes after hstore"));
        }
        Ok(())
    }
}

/// A `date` (days since 2000-01-01) or a `timestamp`/`timestamptz`
/// (microseconds since 2000-01-01 00:00), as sent in the binary format.
#[derive(Debug, Clone, Copy)]
enum Temporal {
    Date(i32),
    Timestamp(i64),
}

impl Temporal {
    /// The clamp bounds `(min, max)` of the kind, as rendered.
    const fn bounds(self) -> (&'static str, &'static str) {
        match self {
            Self::Date(_) => ("0001-01-01", "9999-12-31"),
            Self::Timestamp(_) => (
                "0001-01-01T00:00:00.000000+00:00",
                "9999-12-31T23:59:59.999999+00:00",
            ),
        }
    }

    /// `infinity` or `-infinity` (PostgreSQL's largest and smallest values),
    /// with its text.
    fn infinity(self) -> Option<(SpecialValue, &'static [u8])> {
        match self {
            Self::Date(i32::MAX) | Self::Timestamp(i64::MAX) => {
                Some((SpecialValue::TemporalInfinity, b"infinity"))
            }
            Self::Date(i32::MIN) | Self::Timestamp(i64::MIN) => {
                Some((SpecialValue::TemporalNegativeInfinity, b"-infinity"))
            }
            Self::Date(_) | Self::Timestamp(_) => None,
        }
    }

    /// The civil date, and for a timestamp the time of day (microseconds).
    fn civil(self) -> (Civil, Option<i64>) {
        match self {
            Self::Date(days) => (datetime::civil_from_pg_days(i64::from(days)), None),
            Self::Timestamp(micros) => {
                let (date, time) = datetime::split_timestamp(micros);
                (date, Some(time))
            }
        }
    }
}

fn push_hex_byte(out: &mut Vec<u8>, b: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(HEX.get(usize::from(b >> 4)).copied().unwrap_or(b'0'));
    out.push(HEX.get(usize::from(b & 0xF)).copied().unwrap_or(b'0'));
}

fn write_hex(out: &mut Vec<u8>, raw: &[u8]) {
    out.reserve(raw.len() * 2 + 2);
    out.push(b'"');
    for b in raw {
        push_hex_byte(out, *b);
    }
    out.push(b'"');
}
