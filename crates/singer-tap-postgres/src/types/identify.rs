//! Type identification: which [`Scalar`] rendering a PostgreSQL type gets,
//! from its OID (fixed across versions), its name (extension types) and
//! whether it is an enum.

use super::numeric;

/// Well-known type OIDs (`pg_type.oid`, fixed across PostgreSQL versions).
pub(super) mod oid {
    pub(in crate::types) const BOOL: u32 = 16;
    pub(in crate::types) const BYTEA: u32 = 17;
    pub(in crate::types) const NAME: u32 = 19;
    pub(in crate::types) const INT8: u32 = 20;
    pub(in crate::types) const INT2: u32 = 21;
    pub(in crate::types) const INT4: u32 = 23;
    pub(in crate::types) const TEXT: u32 = 25;
    pub(in crate::types) const OID: u32 = 26;
    pub(in crate::types) const JSON: u32 = 114;
    pub(in crate::types) const CIDR: u32 = 650;
    pub(in crate::types) const INET: u32 = 869;
    pub(in crate::types) const FLOAT4: u32 = 700;
    pub(in crate::types) const FLOAT8: u32 = 701;
    pub(in crate::types) const MONEY: u32 = 790;
    pub(in crate::types) const BPCHAR: u32 = 1042;
    pub(in crate::types) const VARCHAR: u32 = 1043;
    pub(in crate::types) const DATE: u32 = 1082;
    pub(in crate::types) const TIME: u32 = 1083;
    pub(in crate::types) const TIMESTAMP: u32 = 1114;
    pub(in crate::types) const TIMESTAMPTZ: u32 = 1184;
    pub(in crate::types) const INTERVAL: u32 = 1186;
    pub(in crate::types) const TIMETZ: u32 = 1266;
    pub(in crate::types) const NUMERIC: u32 = 1700;
    pub(in crate::types) const UUID: u32 = 2950;
    pub(in crate::types) const JSONB: u32 = 3802;
}

/// The most dimensions a PostgreSQL array has (`MAXDIM`).
pub(super) const MAX_ARRAY_DIMENSIONS: usize = 6;

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
pub(super) enum Scalar {
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
    pub(super) fn of(ty: &PgType) -> Self {
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
    pub(super) fn cast(self) -> Option<&'static str> {
        match self {
            Self::Money => Some("numeric"),
            Self::TextCast => Some("text"),
            _ => None,
        }
    }
}
