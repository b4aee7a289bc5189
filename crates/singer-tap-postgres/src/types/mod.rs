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

mod array;
mod datetime;
mod identify;
mod inet;
mod numeric;
mod policy;
mod scalar;
mod schema;
mod special;
mod text;

pub use identify::PgType;
pub use policy::{EncodeStats, NumberSpecialPolicy, SpecialValue, SpecialValuePolicy, ValuePolicy};

use identify::Scalar;

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

    /// Whether the column is a (non-array) `smallint`, `integer` or
    /// `bigint`: a key that can be split into ranges of numbers.
    #[must_use]
    pub fn is_integer(&self) -> bool {
        !self.array && matches!(self.scalar, Scalar::Int2 | Scalar::Int4 | Scalar::Int8)
    }

    /// Whether the column is an array.
    #[cfg(test)]
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

    pub(super) fn malformed(&self, raw: &[u8], reason: &'static str) -> EncodeError {
        EncodeError::Malformed {
            sql_datatype: self.sql_datatype.clone(),
            len: raw.len(),
            reason,
        }
    }

    pub(super) fn utf8<'a>(&self, raw: &'a [u8]) -> Result<&'a str, EncodeError> {
        std::str::from_utf8(raw).map_err(|source| self.invalid_utf8(source))
    }

    pub(super) fn invalid_utf8(&self, source: std::str::Utf8Error) -> EncodeError {
        EncodeError::InvalidUtf8 {
            sql_datatype: self.sql_datatype.clone(),
            source,
        }
    }

    pub(super) fn fixed<const N: usize>(&self, raw: &[u8]) -> Result<[u8; N], EncodeError> {
        <[u8; N]>::try_from(raw).map_err(|_| self.malformed(raw, "wrong length for the type"))
    }
}

#[cfg(test)]
mod pg_tests;

#[cfg(test)]
mod tests;
