//! Snowflake column types: from singer-schema's logical [`ColumnType`],
//! from `information_schema.columns`, and how one widens into another.
//!
//! | logical type | Snowflake |
//! |---|---|
//! | integer | `NUMBER(38,0)` |
//! | decimal(p,s), p ≤ 38, s ≤ 37 | `NUMBER(p,s)` |
//! | decimal beyond that (pipelinewise's unconstrained `numeric` is decimal(100,38)) | `VARCHAR` (every digit kept as text) |
//! | float | `FLOAT` |
//! | boolean | `BOOLEAN` |
//! | string(n) / string | `VARCHAR(n)` / `VARCHAR` |
//! | json (objects, arrays, unions with them) | `VARIANT` |
//! | date / time | `DATE` / `TIME` |
//! | timestamp (with or without zone) | `TIMESTAMP_NTZ` or `TIMESTAMP_TZ` per `timestamp_type` |
//! | binary | `BINARY` |
//!
//! Every column is created nullable (a property missing from a record
//! loads as NULL; Snowflake does not enforce keys, so none are declared).

use std::fmt;

use singer_schema::{Column, ColumnType};

use crate::config::TimestampType;

/// Snowflake's largest NUMBER precision.
pub const MAX_PRECISION: u32 = 38;
/// Snowflake's largest VARCHAR length (16 MB).
pub const MAX_VARCHAR: u32 = 16_777_216;

/// A Snowflake column type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SqlType {
    /// `NUMBER(p,s)`.
    Number {
        /// Precision.
        precision: u32,
        /// Scale.
        scale: u32,
    },
    /// `FLOAT`.
    Float,
    /// `BOOLEAN`.
    Boolean,
    /// `VARCHAR(n)`; `None` = `VARCHAR` (16 MB).
    Varchar(Option<u32>),
    /// `VARIANT`.
    Variant,
    /// `DATE`.
    Date,
    /// `TIME`.
    Time,
    /// `TIMESTAMP_NTZ` / `TIMESTAMP_TZ`.
    Timestamp(TimestampType),
    /// `BINARY`.
    Binary,
}

impl fmt::Display for SqlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Number { precision, scale } => write!(f, "NUMBER({precision},{scale})"),
            Self::Float => f.write_str("FLOAT"),
            Self::Boolean => f.write_str("BOOLEAN"),
            Self::Varchar(Some(n)) => write!(f, "VARCHAR({n})"),
            Self::Varchar(None) => f.write_str("VARCHAR"),
            Self::Variant => f.write_str("VARIANT"),
            Self::Date => f.write_str("DATE"),
            Self::Time => f.write_str("TIME"),
            Self::Timestamp(t) => f.write_str(t.sql()),
            Self::Binary => f.write_str("BINARY"),
        }
    }
}

impl SqlType {
    /// The Snowflake type for a logical column.
    #[must_use]
    pub fn from_logical(ty: ColumnType, timestamps: TimestampType) -> Self {
        match ty {
            ColumnType::Integer => Self::Number {
                precision: MAX_PRECISION,
                scale: 0,
            },
            ColumnType::Decimal { precision, scale }
                if precision <= MAX_PRECISION && scale < MAX_PRECISION =>
            {
                Self::Number {
                    precision: precision.max(scale).max(1),
                    scale,
                }
            }
            ColumnType::Decimal { .. } => Self::Varchar(None),
            ColumnType::Float => Self::Float,
            ColumnType::Boolean => Self::Boolean,
            ColumnType::String { max_len } => {
                Self::Varchar(max_len.filter(|n| *n > 0 && *n < MAX_VARCHAR))
            }
            ColumnType::Timestamp { .. } => Self::Timestamp(timestamps),
            ColumnType::Date => Self::Date,
            ColumnType::Time => Self::Time,
            ColumnType::Binary => Self::Binary,
            // Json and any later variant: semi-structured holds anything.
            _ => Self::Variant,
        }
    }

    /// The logical type this column holds (for evolution decisions).
    #[must_use]
    pub const fn logical(self) -> ColumnType {
        match self {
            Self::Number {
                precision: MAX_PRECISION,
                scale: 0,
            } => ColumnType::Integer,
            Self::Number { precision, scale } => ColumnType::Decimal { precision, scale },
            Self::Float => ColumnType::Float,
            Self::Boolean => ColumnType::Boolean,
            Self::Varchar(max_len) => ColumnType::String { max_len },
            Self::Variant => ColumnType::Json,
            Self::Date => ColumnType::Date,
            Self::Time => ColumnType::Time,
            Self::Timestamp(TimestampType::NTZ) => ColumnType::Timestamp { tz: false },
            Self::Timestamp(TimestampType::TZ) => ColumnType::Timestamp { tz: true },
            Self::Binary => ColumnType::Binary,
        }
    }

    /// As a nullable [`Column`].
    #[must_use]
    pub const fn column(self) -> Column {
        Column::new(self.logical(), true)
    }

    /// The type of an `information_schema.columns` row (`None` for types
    /// this loader never creates: `GEOGRAPHY`, `VECTOR`, ...).
    #[must_use]
    pub fn from_information_schema(
        data_type: &str,
        max_length: Option<i128>,
        precision: Option<i128>,
        scale: Option<i128>,
    ) -> Option<Self> {
        let u = |v: Option<i128>| v.and_then(|v| u32::try_from(v).ok());
        Some(match data_type.to_ascii_uppercase().as_str() {
            "NUMBER" | "DECIMAL" | "NUMERIC" | "INT" | "INTEGER" | "BIGINT" => Self::Number {
                precision: u(precision).unwrap_or(MAX_PRECISION),
                scale: u(scale).unwrap_or(0),
            },
            "FLOAT" | "DOUBLE" | "REAL" | "FLOAT8" | "DOUBLE PRECISION" => Self::Float,
            "BOOLEAN" => Self::Boolean,
            "TEXT" | "VARCHAR" | "STRING" | "CHAR" | "CHARACTER" => {
                Self::Varchar(u(max_length).filter(|n| *n < MAX_VARCHAR))
            }
            "VARIANT" | "OBJECT" | "ARRAY" => Self::Variant,
            "DATE" => Self::Date,
            "TIME" => Self::Time,
            "TIMESTAMP_NTZ" | "DATETIME" => Self::Timestamp(TimestampType::NTZ),
            "TIMESTAMP_TZ" | "TIMESTAMP_LTZ" => Self::Timestamp(TimestampType::TZ),
            "BINARY" | "VARBINARY" => Self::Binary,
            _ => return None,
        })
    }

    /// Whether `ALTER COLUMN ... SET DATA TYPE` turns `self` into `to` in
    /// place (Snowflake allows longer VARCHARs and more NUMBER precision at
    /// the same scale); other widenings copy the column.
    #[must_use]
    pub fn alters_in_place_to(self, to: Self) -> bool {
        match (self, to) {
            (Self::Varchar(Some(_)), Self::Varchar(None)) => true,
            (Self::Varchar(Some(a)), Self::Varchar(Some(b))) => b >= a,
            (
                Self::Number {
                    precision: p1,
                    scale: s1,
                },
                Self::Number {
                    precision: p2,
                    scale: s2,
                },
            ) => s1 == s2 && p2 >= p1,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logical_types_map_and_round_trip() {
        let ntz = TimestampType::NTZ;
        for (ty, sql) in [
            (ColumnType::Integer, "NUMBER(38,0)"),
            (
                ColumnType::Decimal {
                    precision: 38,
                    scale: 10,
                },
                "NUMBER(38,10)",
            ),
            (
                ColumnType::Decimal {
                    precision: 100,
                    scale: 38,
                },
                "VARCHAR",
            ),
            (ColumnType::Float, "FLOAT"),
            (ColumnType::String { max_len: Some(12) }, "VARCHAR(12)"),
            (ColumnType::Json, "VARIANT"),
            (ColumnType::Timestamp { tz: true }, "TIMESTAMP_NTZ"),
            (ColumnType::Binary, "BINARY"),
        ] {
            let sql_type = SqlType::from_logical(ty, ntz);
            assert_eq!(sql_type.to_string(), sql);
            assert_eq!(SqlType::from_logical(sql_type.logical(), ntz), sql_type);
        }
        assert_eq!(
            SqlType::from_information_schema("TEXT", Some(16_777_216), None, None),
            Some(SqlType::Varchar(None))
        );
        assert_eq!(
            SqlType::from_information_schema("NUMBER", None, Some(38), Some(0)),
            Some(SqlType::Number {
                precision: 38,
                scale: 0
            })
        );
        assert!(SqlType::Varchar(Some(5)).alters_in_place_to(SqlType::Varchar(Some(9))));
        assert!(
            !SqlType::Number {
                precision: 38,
                scale: 0
            }
            .alters_in_place_to(SqlType::Number {
                precision: 38,
                scale: 9
            })
        );
    }
}
