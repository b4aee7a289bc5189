//! PostgreSQL values → JSON: one [`Codec`] per column turns the raw bytes of
//! a value in PostgreSQL's *binary* wire format (as `COPY … (FORMAT binary)`
//! and binary portals send it) straight into JSON text, and says which JSON
//! schema describes what it emits.
//!
//! # The mapping
//!
//! | PostgreSQL | JSON value | JSON schema (plus `"null"` when nullable) |
//! |---|---|---|
//! | `smallint`, `integer`, `bigint`, `oid` | number (`42`) | `{"type":"integer"}` |
//! | `numeric(p,s)` | string with every digit and the scale's trailing zeros (`"1.50"`) | `{"type":"string","format":"x-singer.decimal","precision":p,"scale":s}` |
//! | `numeric` (unconstrained) | same | same without `precision`/`scale` (unknown, so not made up) |
//! | `money` | read as `numeric` (`col::numeric`): `"1234.56"` | `{"type":"string","format":"x-singer.decimal"}` |
//! | `real`, `double precision` | shortest round-trip number (`0.1`, `1e-7`) | `{"type":"number"}`, see *special values* |
//! | `text`, `varchar(n)`, `char(n)`, `name`, `citext`, enums | string (`char(n)` keeps its padding) | `{"type":"string"}`, `maxLength` n for `varchar(n)`/`char(n)` |
//! | `boolean` | `true`/`false` | `{"type":"boolean"}` |
//! | `date` | `"2024-01-31"` | `{"type":"string","format":"date"}` |
//! | `timestamp with time zone` | UTC, microseconds: `"2024-01-01T00:00:00.123456+00:00"` | `{"type":"string","format":"date-time"}` |
//! | `timestamp without time zone` | the wall-clock value labelled `+00:00` (as pipelinewise does; `sql-datatype` tells a target to pick TIMESTAMP_NTZ) | same |
//! | `time` | `"12:34:56.789000"` (`24:00:00` kept) | `{"type":"string","format":"time"}` |
//! | `time with time zone` | `"12:34:56.789000+05:30"` | same |
//! | `interval` | ISO 8601 duration as PostgreSQL's `iso_8601` style prints it: `"P1Y2M3DT4H5M6.5S"`, `"P-1Y-2M3DT-4H-5M-6S"` | `{"type":"string"}` |
//! | `json`, `jsonb` | the document itself (object, array or scalar; numbers keep their text; line breaks become spaces) | `{"type":["object","array","string","number","boolean","null"]}` |
//! | `hstore` | object of strings (`NULL` values → `null`) | `{"type":"object","additionalProperties":{"type":["string","null"]}}` |
//! | `inet`, `cidr` | `"10.0.0.1"`, `"192.168.0.0/24"` (as PostgreSQL prints them) | `{"type":"string"}` |
//! | `uuid` | `"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"` | `{"type":"string","format":"uuid"}` |
//! | `bytea` | lowercase hex without `\x` | `{"type":"string","contentEncoding":"base16"}` |
//! | arrays of any of these | nested arrays per dimension, `null` elements kept, lower bounds dropped | `{"type":["array","null"],"items":{"anyOf":[<element schema admitting null>,{"type":"array"}]}}` |
//! | domains | as their base type (resolved by discovery) | as the base type |
//! | everything else (`macaddr`, `macaddr8`, `bit`, `varbit`, `xml`, `tsvector`, ranges, geometric, composite, `"char"`, unknown extension types) | read as `col::text` (arrays as `col::text[]`): PostgreSQL's own text | `{"type":"string"}` |
//!
//! # Special values
//!
//! JSON numbers cannot hold `NaN`/`±Infinity`, and RFC 3339 cannot hold
//! `infinity`, BC dates or years past 9999. Each is handled by the
//! configurable [`ValuePolicy`] (default: keep it as a string that says what
//! it is; the alternatives are `null`, `clamp` for dates and timestamps, and
//! `error`), and every hit is counted in [`EncodeStats`] for the sync to
//! log. Nothing is clamped or dropped silently.
//!
//! ```
//! use singer_tap_postgres::types::{Codec, EncodeStats, PgType, ValuePolicy};
//!
//! let numeric = PgType { oid: 1700, name: "numeric".into(), is_enum: false, typmod: ((12 << 16) | 2) + 4 };
//! let codec = Codec::new("numeric(12,2)", &numeric, false, ValuePolicy::default());
//! // 1.50 in the binary format: 2 digits, weight 0, positive, dscale 2, [1, 5000].
//! let raw = [0, 2, 0, 0, 0, 0, 0, 2, 0, 1, 0x13, 0x88];
//! let mut out = Vec::new();
//! codec.encode(Some(&raw), &mut out, &mut EncodeStats::new())?;
//! assert_eq!(out, br#""1.50""#);
//! assert_eq!(
//!     codec.json_schema(true).to_string(),
//!     r#"{"type":["string","null"],"format":"x-singer.decimal","precision":12,"scale":2}"#
//! );
//! # Ok::<(), singer_tap_postgres::types::EncodeError>(())
//! ```

mod datetime;
mod inet;
mod numeric;
mod policy;
mod text;

use serde_json::{Map, Value, json};
use singer_state::BookmarkKind;

pub use policy::{EncodeStats, NumberSpecialPolicy, SpecialValue, SpecialValuePolicy, ValuePolicy};

use datetime::Civil;
use numeric::NumericSpecial;

/// Well-known type OIDs (`pg_type.oid`, fixed across PostgreSQL versions).
mod oid {
    pub(super) const BOOL: u32 = 16;
    pub(super) const BYTEA: u32 = 17;
    pub(super) const NAME: u32 = 19;
    pub(super) const INT8: u32 = 20;
    pub(super) const INT2: u32 = 21;
    pub(super) const INT4: u32 = 23;
    pub(super) const TEXT: u32 = 25;
    pub(super) const OID: u32 = 26;
    pub(super) const JSON: u32 = 114;
    pub(super) const CIDR: u32 = 650;
    pub(super) const INET: u32 = 869;
    pub(super) const FLOAT4: u32 = 700;
    pub(super) const FLOAT8: u32 = 701;
    pub(super) const MONEY: u32 = 790;
    pub(super) const BPCHAR: u32 = 1042;
    pub(super) const VARCHAR: u32 = 1043;
    pub(super) const DATE: u32 = 1082;
    pub(super) const TIME: u32 = 1083;
    pub(super) const TIMESTAMP: u32 = 1114;
    pub(super) const TIMESTAMPTZ: u32 = 1184;
    pub(super) const INTERVAL: u32 = 1186;
    pub(super) const TIMETZ: u32 = 1266;
    pub(super) const NUMERIC: u32 = 1700;
    pub(super) const UUID: u32 = 2950;
    pub(super) const JSONB: u32 = 3802;
}

/// The most dimensions a PostgreSQL array has (`MAXDIM`).
const MAX_ARRAY_DIMENSIONS: usize = 6;

/// A scalar PostgreSQL type as a [`Codec`] needs it: the type after domain
/// resolution (for an array column, its element type after resolution).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgType {
    /// `pg_type.oid` of the base type.
    pub oid: u32,
    /// `pg_type.typname` of the base type; recognises extension types whose
    /// OID differs per database (`citext`, `hstore`).
    pub name: String,
    /// Whether it is an enum (`typtype = 'e'`), sent as its label.
    pub is_enum: bool,
    /// The type modifier (`atttypmod`, or the domain's `typtypmod`): length of
    /// `varchar(n)`/`char(n)`, precision and scale of `numeric(p,s)`; -1 for none.
    pub typmod: i32,
}

/// How one scalar (or array element) is read and rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scalar {
    Bool,
    Int2,
    Int4,
    Int8,
    Oid,
    Float4,
    Float8,
    Numeric {
        precision_scale: Option<(i32, i32)>,
    },
    /// Read as `numeric` through a cast.
    Money,
    /// Sent as text: `text`, `varchar`, `bpchar`, `name`.
    Text {
        max_length: Option<u32>,
    },
    /// Sent as text, not ordered like its text: enums, `citext`.
    Label,
    /// Anything without a decoder here: read through a `::text` cast.
    TextCast,
    Bytea,
    Uuid,
    Date,
    Time,
    TimeTz,
    Timestamp,
    TimestampTz,
    Interval,
    Json,
    Jsonb,
    Hstore,
    /// `inet` and `cidr`, rendered as `network_out` does.
    Inet,
}

impl Scalar {
    fn of(ty: &PgType) -> Self {
        match ty.oid {
            oid::BOOL => Self::Bool,
            oid::BYTEA => Self::Bytea,
            oid::NAME | oid::TEXT => Self::Text { max_length: None },
            oid::INT8 => Self::Int8,
            oid::INT2 => Self::Int2,
            oid::INT4 => Self::Int4,
            oid::OID => Self::Oid,
            oid::JSON => Self::Json,
            oid::FLOAT4 => Self::Float4,
            oid::FLOAT8 => Self::Float8,
            oid::MONEY => Self::Money,
            oid::BPCHAR | oid::VARCHAR => Self::Text {
                max_length: ty.typmod.checked_sub(4).and_then(|n| u32::try_from(n).ok()),
            },
            oid::DATE => Self::Date,
            oid::TIME => Self::Time,
            oid::TIMESTAMP => Self::Timestamp,
            oid::TIMESTAMPTZ => Self::TimestampTz,
            oid::INTERVAL => Self::Interval,
            oid::TIMETZ => Self::TimeTz,
            oid::NUMERIC => Self::Numeric {
                precision_scale: numeric::precision_scale(ty.typmod),
            },
            oid::UUID => Self::Uuid,
            oid::INET | oid::CIDR => Self::Inet,
            oid::JSONB => Self::Jsonb,
            // Sent as text, but ordered by enum position or case-insensitively:
            // their values do not compare like the column.
            _ if ty.is_enum || ty.name == "citext" => Self::Label,
            _ if ty.name == "hstore" => Self::Hstore,
            _ => Self::TextCast,
        }
    }

    /// The cast the SELECT list applies, if any.
    fn cast(self) -> Option<&'static str> {
        match self {
            Self::Money => Some("numeric"),
            Self::TextCast => Some("text"),
            _ => None,
        }
    }
}

/// Renders one column's values, given in PostgreSQL's binary format, as
/// JSON text, and describes them with a JSON schema. See the [module
/// docs](self) for the mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Codec {
    sql_datatype: String,
    scalar: Scalar,
    array: bool,
    policy: ValuePolicy,
}

/// Why a value could not be rendered. The caller adds the stream and column.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The bytes are not the binary format of the column's type (a protocol
    /// mismatch or a codec chosen for the wrong type).
    #[error("malformed binary {sql_datatype} value ({len} bytes): {reason}")]
    Malformed {
        /// The column's type.
        sql_datatype: String,
        /// The length of the value.
        len: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A text value is not UTF-8 (a database in `SQL_ASCII` holding other bytes).
    #[error("{sql_datatype} value is not valid UTF-8")]
    InvalidUtf8 {
        /// The column's type.
        sql_datatype: String,
        /// Where the bad bytes start.
        #[source]
        source: std::str::Utf8Error,
    },
    /// A special value met a policy of `error`.
    #[error("{sql_datatype} value {value} ({kind}) is refused by the value policy")]
    SpecialValue {
        /// The column's type.
        sql_datatype: String,
        /// What kind of special value.
        kind: SpecialValue,
        /// The value as PostgreSQL would print it (`infinity`, `NaN`, `10000-01-01`…).
        value: String,
    },
}

impl EncodeError {
    /// Whether the error comes from a [`ValuePolicy`] of `error` (the data is
    /// fine; the configuration refuses it).
    #[must_use]
    pub fn is_policy(&self) -> bool {
        matches!(self, Self::SpecialValue { .. })
    }
}

impl Codec {
    /// A codec for a column of type `ty` (for an array column, `ty` is the
    /// element type and `array` is true). `sql_datatype` is the column's
    /// declared type as `format_type` prints it (a domain keeps its own name
    /// here); the policy decides special values.
    #[must_use]
    pub fn new(
        sql_datatype: impl Into<String>,
        ty: &PgType,
        array: bool,
        policy: ValuePolicy,
    ) -> Self {
        Self {
            sql_datatype: sql_datatype.into(),
            scalar: Scalar::of(ty),
            array,
            policy,
        }
    }

    /// A codec for a result column whose type rust-postgres resolved (a
    /// manifest query's columns): domains and arrays are resolved through
    /// [`postgres::types::Kind`]; `sql_datatype` is the type's name
    /// (`int4`, `int4[]`, `mood`): a result column carries no `format_type`.
    #[must_use]
    pub fn from_postgres_type(
        ty: &postgres::types::Type,
        typmod: i32,
        policy: ValuePolicy,
    ) -> Self {
        use postgres::types::Kind;
        let name = match ty.kind() {
            Kind::Array(element) => format!("{}[]", element.name()),
            _ => ty.name().to_owned(),
        };
        let mut base = ty;
        let mut array = false;
        // Domains nest at most a few levels; the bound only guards against a cycle.
        for _ in 0..16 {
            match base.kind() {
                Kind::Domain(inner) => base = inner,
                Kind::Array(element) if !array => {
                    array = true;
                    base = element;
                }
                _ => break,
            }
        }
        let pg = PgType {
            oid: base.oid(),
            name: base.name().to_owned(),
            is_enum: matches!(base.kind(), Kind::Enum(_)),
            typmod,
        };
        Self::new(name, &pg, array, policy)
    }

    /// The column's declared type, as `format_type` prints it
    /// (`numeric(38,9)`, `timestamp with time zone`, `integer[]`, a domain's name).
    #[must_use]
    pub fn sql_datatype(&self) -> &str {
        &self.sql_datatype
    }

    /// Whether the column is an array.
    #[must_use]
    pub fn is_array(&self) -> bool {
        self.array
    }

    /// The expression that reads the column in a `SELECT` list, given the
    /// column's quoted name: the name itself, or a cast for types read as
    /// text or numeric (`"col"::text`, `"col"::text[]`, `"col"::numeric`).
    #[must_use]
    pub fn select_expr(&self, quoted_column: &str) -> String {
        match (self.scalar.cast(), self.array) {
            (None, _) => quoted_column.to_owned(),
            (Some(cast), false) => format!("{quoted_column}::{cast}"),
            (Some(cast), true) => format!("{quoted_column}::{cast}[]"),
        }
    }

    /// Whether a column of this type can be an INCREMENTAL replication key:
    /// orderable scalars whose JSON values compare like the column
    /// (integers, `numeric`, dates, timestamps, `text`/`varchar`/`char`/`name`,
    /// `uuid`). Not enums (ordered by position) nor `citext` (ordered without
    /// case), whose bookmarks would compare differently from `ORDER BY`.
    /// Text keys compare byte by byte in `singer-state`, so the sync should
    /// order them `COLLATE "C"`.
    #[must_use]
    pub fn can_be_replication_key(&self) -> bool {
        self.bookmark_kind().is_some()
    }

    /// How `singer-state` compares bookmark values of this column, or `None`
    /// when it cannot be a replication key.
    #[must_use]
    pub fn bookmark_kind(&self) -> Option<BookmarkKind> {
        if self.array {
            return None;
        }
        match self.scalar {
            Scalar::Int2 | Scalar::Int4 | Scalar::Int8 | Scalar::Oid | Scalar::Numeric { .. } => {
                Some(BookmarkKind::Number)
            }
            // Both render with an offset (+00:00), so both compare as instants.
            Scalar::Timestamp | Scalar::TimestampTz => Some(BookmarkKind::Timestamp),
            Scalar::Date => Some(BookmarkKind::Date),
            Scalar::Text { .. } | Scalar::Uuid => Some(BookmarkKind::String),
            _ => None,
        }
    }

    /// The JSON schema of the column's values; `nullable` adds `"null"` to
    /// the type. A policy that can turn a value into `null` adds it too.
    #[must_use]
    pub fn json_schema(&self, nullable: bool) -> Value {
        let nulls_special = match self.scalar {
            Scalar::Float4 | Scalar::Float8 | Scalar::Numeric { .. } => {
                self.policy.number_special == NumberSpecialPolicy::Null
            }
            Scalar::Date | Scalar::Timestamp | Scalar::TimestampTz => {
                self.policy.temporal_infinity == SpecialValuePolicy::Null
                    || self.policy.temporal_out_of_range == SpecialValuePolicy::Null
            }
            _ => false,
        };
        if self.array {
            // PostgreSQL arrays of any dimension share one type: an element
            // is a value of the element type, or (multi-dimensional) an array.
            let items = json!({ "anyOf": [self.scalar_schema(true), { "type": "array" }] });
            let mut schema = Map::new();
            schema.insert("type".to_owned(), type_with_null("array", nullable));
            schema.insert("items".to_owned(), items);
            return Value::Object(schema);
        }
        self.scalar_schema(nullable || nulls_special)
    }

    fn scalar_schema(&self, nullable: bool) -> Value {
        let string = |nullable: bool, extra: &[(&str, Value)]| {
            let mut schema = Map::new();
            schema.insert("type".to_owned(), type_with_null("string", nullable));
            for (key, value) in extra {
                schema.insert((*key).to_owned(), value.clone());
            }
            Value::Object(schema)
        };
        match self.scalar {
            Scalar::Bool => json!({ "type": type_with_null("boolean", nullable) }),
            Scalar::Int2 | Scalar::Int4 | Scalar::Int8 | Scalar::Oid => {
                json!({ "type": type_with_null("integer", nullable) })
            }
            Scalar::Float4 | Scalar::Float8 => {
                let number = json!({ "type": type_with_null("number", nullable) });
                if self.policy.number_special == NumberSpecialPolicy::Keep {
                    json!({ "anyOf": [number, { "type": "string", "enum": ["NaN", "Infinity", "-Infinity"] }] })
                } else {
                    number
                }
            }
            Scalar::Numeric { precision_scale } => {
                let decimal = ("format", json!("x-singer.decimal"));
                match precision_scale {
                    Some((p, s)) => string(
                        nullable,
                        &[decimal, ("precision", json!(p)), ("scale", json!(s))],
                    ),
                    None => string(nullable, &[decimal]),
                }
            }
            Scalar::Money => string(nullable, &[("format", json!("x-singer.decimal"))]),
            Scalar::Text { max_length } => match max_length {
                Some(n) => string(nullable, &[("maxLength", json!(n))]),
                None => string(nullable, &[]),
            },
            Scalar::Label | Scalar::TextCast | Scalar::Interval | Scalar::Inet => {
                string(nullable, &[])
            }
            Scalar::Bytea => string(nullable, &[("contentEncoding", json!("base16"))]),
            Scalar::Uuid => string(nullable, &[("format", json!("uuid"))]),
            Scalar::Date => string(nullable, &[("format", json!("date"))]),
            Scalar::Time | Scalar::TimeTz => string(nullable, &[("format", json!("time"))]),
            Scalar::Timestamp | Scalar::TimestampTz => {
                string(nullable, &[("format", json!("date-time"))])
            }
            Scalar::Json | Scalar::Jsonb => {
                json!({ "type": ["object", "array", "string", "number", "boolean", "null"] })
            }
            Scalar::Hstore => json!({
                "type": type_with_null("object", nullable),
                "additionalProperties": { "type": ["string", "null"] }
            }),
        }
    }

    /// Appends one value as JSON text: `null` for `None`, else the rendering
    /// of `raw`, the value's bytes in PostgreSQL's binary format (for a
    /// column read through a cast, the cast's result type).
    ///
    /// # Errors
    ///
    /// [`EncodeError::Malformed`] when `raw` is not the binary format of the
    /// type, [`EncodeError::InvalidUtf8`] for text that is not UTF-8, and
    /// [`EncodeError::SpecialValue`] when a special value meets a policy of
    /// `error`. On error, `out` may hold part of the value.
    pub fn encode(
        &self,
        raw: Option<&[u8]>,
        out: &mut Vec<u8>,
        stats: &mut EncodeStats,
    ) -> Result<(), EncodeError> {
        match raw {
            None => {
                out.extend_from_slice(b"null");
                Ok(())
            }
            Some(raw) if self.array => self.encode_array(raw, out, stats),
            Some(raw) => self.encode_scalar(raw, out, stats),
        }
    }

    fn malformed(&self, raw: &[u8], reason: &'static str) -> EncodeError {
        EncodeError::Malformed {
            sql_datatype: self.sql_datatype.clone(),
            len: raw.len(),
            reason,
        }
    }

    fn utf8<'a>(&self, raw: &'a [u8]) -> Result<&'a str, EncodeError> {
        std::str::from_utf8(raw).map_err(|source| EncodeError::InvalidUtf8 {
            sql_datatype: self.sql_datatype.clone(),
            source,
        })
    }

    fn fixed<const N: usize>(&self, raw: &[u8]) -> Result<[u8; N], EncodeError> {
        <[u8; N]>::try_from(raw).map_err(|_| self.malformed(raw, "wrong length for the type"))
    }

    fn encode_scalar(
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
                text::write_str(out, self.utf8(raw)?);
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
            Scalar::Date => self.encode_date(i32::from_be_bytes(self.fixed(raw)?), out, stats)?,
            Scalar::Timestamp | Scalar::TimestampTz => {
                self.encode_timestamp(i64::from_be_bytes(self.fixed(raw)?), out, stats)?;
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

    fn number_special(
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

    fn refused(&self, kind: SpecialValue, value: String) -> EncodeError {
        EncodeError::SpecialValue {
            sql_datatype: self.sql_datatype.clone(),
            kind,
            value,
        }
    }

    /// Applies the temporal policy to a special value: `keep` writes the
    /// value as it is (quoted), `clamp` writes `clamped` (quoted).
    fn temporal_special(
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

    fn encode_date(
        &self,
        days: i32,
        out: &mut Vec<u8>,
        stats: &mut EncodeStats,
    ) -> Result<(), EncodeError> {
        const MIN: &str = "0001-01-01";
        const MAX: &str = "9999-12-31";
        match days {
            i32::MAX => self.temporal_special(
                SpecialValue::TemporalInfinity,
                out,
                stats,
                |o| o.extend_from_slice(b"infinity"),
                MAX,
            ),
            i32::MIN => self.temporal_special(
                SpecialValue::TemporalNegativeInfinity,
                out,
                stats,
                |o| o.extend_from_slice(b"-infinity"),
                MIN,
            ),
            _ => {
                let date = datetime::civil_from_pg_days(i64::from(days));
                match date.out_of_range() {
                    None => {
                        out.push(b'"');
                        datetime::write_date(out, date);
                        out.push(b'"');
                        Ok(())
                    }
                    Some(kind) => self.temporal_special(
                        kind,
                        out,
                        stats,
                        |o| datetime::write_date(o, date),
                        if kind == SpecialValue::BeforeCommonEra {
                            MIN
                        } else {
                            MAX
                        },
                    ),
                }
            }
        }
    }

    fn encode_timestamp(
        &self,
        micros: i64,
        out: &mut Vec<u8>,
        stats: &mut EncodeStats,
    ) -> Result<(), EncodeError> {
        const MIN: &str = "0001-01-01T00:00:00.000000+00:00";
        const MAX: &str = "9999-12-31T23:59:59.999999+00:00";
        match micros {
            i64::MAX => self.temporal_special(
                SpecialValue::TemporalInfinity,
                out,
                stats,
                |o| o.extend_from_slice(b"infinity"),
                MAX,
            ),
            i64::MIN => self.temporal_special(
                SpecialValue::TemporalNegativeInfinity,
                out,
                stats,
                |o| o.extend_from_slice(b"-infinity"),
                MIN,
            ),
            _ => {
                let (date, time): (Civil, i64) = datetime::split_timestamp(micros);
                match date.out_of_range() {
                    None => {
                        out.push(b'"');
                        datetime::write_timestamp(out, date, time);
                        out.push(b'"');
                        Ok(())
                    }
                    Some(kind) => self.temporal_special(
                        kind,
                        out,
                        stats,
                        |o| datetime::write_timestamp(o, date, time),
                        if kind == SpecialValue::BeforeCommonEra {
                            MIN
                        } else {
                            MAX
                        },
                    ),
                }
            }
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

    /// `array_send`: i32 dimensions, i32 has-nulls flag, u32 element OID,
    /// per dimension i32 length and i32 lower bound, then every element in
    /// row-major order as i32 length (-1 for NULL) and bytes.
    fn encode_array(
        &self,
        raw: &[u8],
        out: &mut Vec<u8>,
        stats: &mut EncodeStats,
    ) -> Result<(), EncodeError> {
        let mut reader = Reader { raw, at: 0 };
        let bad = |_| self.malformed(raw, "truncated array");
        let ndim = reader.i32().map_err(bad)?;
        let _has_nulls = reader.i32().map_err(bad)?;
        let _element_oid = reader.i32().map_err(bad)?;
        let ndim = usize::try_from(ndim)
            .ok()
            .filter(|n| *n <= MAX_ARRAY_DIMENSIONS)
            .ok_or_else(|| self.malformed(raw, "array dimension count out of range"))?;
        let mut dims = [0usize; MAX_ARRAY_DIMENSIONS];
        for dim in dims.iter_mut().take(ndim) {
            let len = reader.i32().map_err(bad)?;
            let _lower_bound = reader.i32().map_err(bad)?;
            *dim =
                usize::try_from(len).map_err(|_| self.malformed(raw, "negative array length"))?;
        }
        let dims = dims.get(..ndim).unwrap_or_default();
        if dims.is_empty() {
            out.extend_from_slice(b"[]");
        } else {
            self.encode_dimension(dims, &mut reader, out, stats)?;
        }
        if reader.at != raw.len() {
            return Err(self.malformed(raw, "trailing bytes after array"));
        }
        Ok(())
    }

    fn encode_dimension(
        &self,
        dims: &[usize],
        reader: &mut Reader<'_>,
        out: &mut Vec<u8>,
        stats: &mut EncodeStats,
    ) -> Result<(), EncodeError> {
        let Some((&len, inner)) = dims.split_first() else {
            return Ok(());
        };
        out.push(b'[');
        for i in 0..len {
            if i > 0 {
                out.push(b',');
            }
            if inner.is_empty() {
                let raw = reader.raw;
                match reader
                    .field()
                    .map_err(|_| self.malformed(raw, "truncated array element"))?
                {
                    None => out.extend_from_slice(b"null"),
                    Some(element) => self.encode_scalar(element, out, stats)?,
                }
            } else {
                self.encode_dimension(inner, reader, out, stats)?;
            }
        }
        out.push(b']');
        Ok(())
    }
}

/// A cursor over a binary value with length-prefixed fields.
struct Reader<'a> {
    raw: &'a [u8],
    at: usize,
}

/// The value ended early.
struct Truncated;

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Truncated> {
        let end = self.at.checked_add(n).ok_or(Truncated)?;
        let bytes = self.raw.get(self.at..end).ok_or(Truncated)?;
        self.at = end;
        Ok(bytes)
    }

    fn i32(&mut self) -> Result<i32, Truncated> {
        let bytes = self.take(4)?;
        Ok(i32::from_be_bytes(bytes.try_into().map_err(|_| Truncated)?))
    }

    /// A length-prefixed field; `None` for length -1 (NULL).
    fn field(&mut self) -> Result<Option<&'a [u8]>, Truncated> {
        let len = self.i32()?;
        if len == -1 {
            return Ok(None);
        }
        let len = usize::try_from(len).map_err(|_| Truncated)?;
        self.take(len).map(Some)
    }
}

fn float_special(nan: bool, positive: bool) -> NumericSpecial {
    if nan {
        NumericSpecial::NaN
    } else if positive {
        NumericSpecial::Infinity
    } else {
        NumericSpecial::NegativeInfinity
    }
}

fn type_with_null(name: &str, nullable: bool) -> Value {
    if nullable {
        json!([name, "null"])
    } else {
        json!(name)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn codec(oid: u32, name: &str, typmod: i32, array: bool, policy: ValuePolicy) -> Codec {
        let ty = PgType {
            oid,
            name: name.to_owned(),
            is_enum: false,
            typmod,
        };
        Codec::new(name, &ty, array, policy)
    }

    fn render(codec: &Codec, raw: &[u8]) -> Result<String, EncodeError> {
        let mut out = Vec::new();
        codec.encode(Some(raw), &mut out, &mut EncodeStats::new())?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn float_specials_follow_policy() {
        let keep = codec(
            oid::FLOAT8,
            "double precision",
            -1,
            false,
            ValuePolicy::default(),
        );
        let mut stats = EncodeStats::new();
        let mut out = Vec::new();
        keep.encode(Some(&f64::NAN.to_be_bytes()), &mut out, &mut stats)
            .unwrap();
        assert_eq!(out, b"\"NaN\"");
        assert_eq!(stats.count(SpecialValue::NaN), 1);
        let error = codec(
            oid::FLOAT8,
            "double precision",
            -1,
            false,
            ValuePolicy {
                number_special: NumberSpecialPolicy::Error,
                ..ValuePolicy::default()
            },
        );
        let err = render(&error, &f64::NEG_INFINITY.to_be_bytes()).unwrap_err();
        assert!(err.is_policy());
        assert_eq!(
            err.to_string(),
            "double precision value -Infinity (number_negative_infinity) is refused by the value policy"
        );
    }

    #[test]
    fn malformed_values_are_errors_not_panics() {
        let policy = ValuePolicy::default();
        for (oid, name) in [
            (oid::INT4, "integer"),
            (oid::NUMERIC, "numeric"),
            (oid::UUID, "uuid"),
            (oid::BOOL, "boolean"),
            (oid::TIMETZ, "timetz"),
            (oid::JSONB, "jsonb"),
            (oid::INTERVAL, "interval"),
            (0, "hstore"),
        ] {
            for raw in [&[][..], &[1, 2, 3][..], &[0xFF; 40][..]] {
                let codec = codec(oid, name, -1, false, policy);
                let _ = render(&codec, raw);
                let array = Codec {
                    array: true,
                    ..codec
                };
                assert!(render(&array, raw).is_err(), "{name} array {raw:?}");
            }
        }
        let text = codec(oid::TEXT, "text", -1, false, policy);
        assert!(matches!(
            render(&text, b"\xff"),
            Err(EncodeError::InvalidUtf8 { .. })
        ));
    }

    #[test]
    fn floats_render_shortest() {
        let f8 = codec(
            oid::FLOAT8,
            "double precision",
            -1,
            false,
            ValuePolicy::default(),
        );
        for (value, text) in [
            (0.1f64, "0.1"),
            (1.0, "1.0"),
            (1e20, "1e+20"),
            (-2.5e-7, "-2.5e-7"),
        ] {
            let rendered = render(&f8, &value.to_be_bytes()).unwrap();
            assert_eq!(rendered, text);
            assert_eq!(rendered.parse::<f64>().unwrap(), value);
        }
    }
}
