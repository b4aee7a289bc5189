//! Checksums of chosen columns, computed the same way on every side.
//!
//! Each row's chosen values are rendered as **canonical text** (the text the
//! tap sends in its records; timestamps as microseconds since the epoch,
//! which both engines compute the same whatever their output formats),
//! joined by the unit separator (U+001F), NULL (and the empty string, which
//! CSV files cannot tell from NULL) as the record separator (U+001E). The row's hash is the first 15 hex
//! digits of the MD5 of that text, a 60-bit number; a range's checksum is
//! the sum of its rows' hashes, so it does not depend on row order and is
//! pushed down as `SUM(...)` in PostgreSQL and Snowflake (both have `MD5`;
//! the hex digits become a number by position arithmetic in Snowflake,
//! which has no hex cast) and computed while reading CSV files.
//!
//! The canonical text per column type:
//!
//! | kind | PostgreSQL | Snowflake | CSV cell |
//! |---|---|---|---|
//! | integer, decimal | `x::text` | `TO_VARCHAR(x)` | as written |
//! | text | `x` | `x` | as written |
//! | boolean | `true` / `false` | `true` / `false` | as written |
//! | date | `YYYY-MM-DD` | `YYYY-MM-DD` | as written |
//! | timestamp | `extract(epoch from x)` in µs | `DATE_PART(EPOCH_MICROSECOND, x)` | RFC 3339 read as µs |
//!
//! Other types (floats, JSON, arrays, ...) have no rendering both engines
//! agree on, and are refused with a usage error naming the column.

use std::borrow::Cow;
use std::fmt::Write as _;

use md5::{Digest, Md5};

/// How a column's values are rendered for the checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// `smallint`, `integer`, `bigint`.
    Integer,
    /// `numeric`/`decimal` (with or without precision).
    Decimal,
    /// `text`, `varchar`, `char`, `uuid`, enums...: compared as text.
    Text,
    /// `boolean`.
    Boolean,
    /// `date`.
    Date,
    /// `timestamp` with or without time zone.
    Timestamp {
        /// `timestamp with time zone`.
        zoned: bool,
    },
}

impl ValueKind {
    /// The kind of a column of PostgreSQL type `sql_type` (`format_type`'s
    /// spelling, the catalog's `sql-datatype`), if a checksum can hold it.
    #[must_use]
    pub fn from_sql_datatype(sql_type: &str) -> Option<Self> {
        let base = sql_type
            .split('(')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        Some(match base.as_str() {
            "smallint" | "integer" | "bigint" => Self::Integer,
            "numeric" | "decimal" => Self::Decimal,
            "text" | "character varying" | "character" | "uuid" | "citext" | "name" => Self::Text,
            "boolean" => Self::Boolean,
            "date" => Self::Date,
            "timestamp with time zone" => Self::Timestamp { zoned: true },
            "timestamp without time zone" | "timestamp" => Self::Timestamp { zoned: false },
            _ => return None,
        })
    }
}

/// One column in a checksum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChecksumColumn {
    /// The column (the property name).
    pub name: String,
    /// How its values render.
    pub kind: ValueKind,
}

/// The NULL marker in canonical text (U+001E, `chr(30)` in SQL).
const NULL: &str = "\u{1e}";
/// Between two values (`chr(31)` in SQL).
const SEPARATOR: char = '\u{1f}';

/// The canonical text of a row in SQL: each column's text as `value`
/// renders it (given its kind and quoted name), NULL and `''` as U+001E,
/// joined by U+001F (`CHR`, `COALESCE`, `NULLIF` and `||` mean the same in
/// PostgreSQL and Snowflake).
fn row_text(
    columns: &[ChecksumColumn],
    column: impl Fn(&str) -> String,
    value: fn(ValueKind, &str) -> String,
) -> String {
    let parts: Vec<String> = columns
        .iter()
        .map(|c| {
            format!(
                "COALESCE(NULLIF({}, ''), CHR({}))",
                value(c.kind, &column(&c.name)),
                NULL.chars().next().map_or(30, u32::from)
            )
        })
        .collect();
    parts.join(&format!(" || CHR({}) || ", u32::from(SEPARATOR)))
}

/// The canonical text of the row, as PostgreSQL computes it; `column`
/// quotes a column name.
pub(crate) fn postgres_row_text(
    columns: &[ChecksumColumn],
    column: impl Fn(&str) -> String,
) -> String {
    row_text(columns, column, |kind, x| match kind {
        ValueKind::Integer | ValueKind::Decimal | ValueKind::Text => format!("{x}::text"),
        ValueKind::Boolean => format!("CASE WHEN {x} THEN 'true' WHEN NOT {x} THEN 'false' END"),
        ValueKind::Date => format!("to_char({x}, 'YYYY-MM-DD')"),
        // `infinity` has no epoch: its text (no destination holds it).
        ValueKind::Timestamp { .. } => format!(
            "CASE WHEN isfinite({x}) THEN (extract(epoch from {x}) * 1000000)::int8::text ELSE {x}::text END"
        ),
    })
}

/// PostgreSQL's row hash of `row_text`: the first 15 hex digits of its
/// MD5 as a number.
pub(crate) fn postgres_hash(row_text: &str) -> String {
    format!("('x' || substr(md5({row_text}), 1, 15))::bit(60)::int8")
}

/// The canonical text of the row, as Snowflake computes it; `column`
/// quotes a column name.
pub(crate) fn snowflake_row_text(
    columns: &[ChecksumColumn],
    column: impl Fn(&str) -> String,
) -> String {
    row_text(columns, column, |kind, x| match kind {
        ValueKind::Integer | ValueKind::Decimal | ValueKind::Text => format!("TO_VARCHAR({x})"),
        ValueKind::Boolean => format!("CASE WHEN {x} THEN 'true' WHEN NOT {x} THEN 'false' END"),
        ValueKind::Date => format!("TO_CHAR({x}, 'YYYY-MM-DD')"),
        // An instant: the same for TIMESTAMP_NTZ (UTC) and _TZ.
        ValueKind::Timestamp { .. } => format!("TO_VARCHAR(DATE_PART(EPOCH_MICROSECOND, {x}))"),
    })
}

/// Snowflake's row hash of `row_text`: the first 15 hex digits of its MD5
/// as a number, digit by digit (no hex cast there).
pub(crate) fn snowflake_hash(row_text: &str) -> String {
    let mut sql = String::from("(");
    for k in 1..=15_u32 {
        if k > 1 {
            sql.push_str(" + ");
        }
        let weight = 16_u64.pow(15 - k);
        let _ = write!(
            sql,
            "(POSITION(SUBSTR(MD5({row_text}), {k}, 1) IN '0123456789abcdef') - 1) * {weight}"
        );
    }
    sql.push(')');
    sql
}

/// The canonical text of one CSV cell of `kind` (`null`: the file's NULL
/// token).
pub(crate) fn csv_value<'a>(kind: ValueKind, cell: Option<&'a str>, null: &str) -> Cow<'a, str> {
    match cell {
        None => Cow::Borrowed(NULL),
        Some(text) if text.is_empty() || text == null => Cow::Borrowed(NULL),
        Some(text) => match kind {
            ValueKind::Timestamp { .. } => chrono::DateTime::parse_from_rfc3339(text)
                .map_or(Cow::Borrowed(text), |t| {
                    Cow::Owned(t.timestamp_micros().to_string())
                }),
            _ => Cow::Borrowed(text),
        },
    }
}

/// A row's hash from its canonical values (the CSV side; the SQL sides
/// compute the same).
pub(crate) fn row_hash<S: AsRef<str>>(
    values: impl IntoIterator<Item = S>,
    buffer: &mut String,
) -> u64 {
    buffer.clear();
    for (i, value) in values.into_iter().enumerate() {
        if i > 0 {
            buffer.push(SEPARATOR);
        }
        buffer.push_str(value.as_ref());
    }
    let digest = Md5::digest(buffer.as_bytes());
    let mut first = [0_u8; 8];
    if let Some(bytes) = digest.get(..8) {
        first.copy_from_slice(bytes);
    }
    // The first 15 hex digits: the first 60 bits.
    u64::from_be_bytes(first) >> 4
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_the_first_fifteen_hex_digits_of_the_md5() {
        let mut buffer = String::new();
        // md5("abc") = 900150983cd24fb0d6963f7d28e17f72
        assert_eq!(
            row_hash(["abc"], &mut buffer),
            u64::from_str_radix("900150983cd24fb", 16).unwrap()
        );
        assert_eq!(
            row_hash(["a", "b"], &mut buffer),
            row_hash(["a\u{1f}b"], &mut String::new())
        );
    }

    #[test]
    fn csv_cells_become_the_canonical_text() {
        let ts = ValueKind::Timestamp { zoned: true };
        assert_eq!(
            csv_value(ts, Some("2024-01-01T00:00:00.250000+00:00"), ""),
            "1704067200250000"
        );
        assert_eq!(csv_value(ts, Some("infinity"), ""), "infinity");
        assert_eq!(csv_value(ValueKind::Text, Some(""), ""), "\u{1e}");
        assert_eq!(csv_value(ValueKind::Text, Some("NULL"), "NULL"), "\u{1e}");
        assert_eq!(csv_value(ValueKind::Integer, None, ""), "\u{1e}");
        assert_eq!(csv_value(ValueKind::Decimal, Some("12.50"), ""), "12.50");
    }

    #[test]
    fn kinds_come_from_the_catalogs_sql_datatype() {
        assert_eq!(
            ValueKind::from_sql_datatype("numeric(12,2)"),
            Some(ValueKind::Decimal)
        );
        assert_eq!(
            ValueKind::from_sql_datatype("character varying(40)"),
            Some(ValueKind::Text)
        );
        assert_eq!(
            ValueKind::from_sql_datatype("timestamp with time zone"),
            Some(ValueKind::Timestamp { zoned: true })
        );
        assert_eq!(ValueKind::from_sql_datatype("double precision"), None);
        assert_eq!(ValueKind::from_sql_datatype("jsonb"), None);
    }

    #[test]
    fn the_snowflake_hash_weighs_each_hex_digit() {
        let sql = snowflake_hash("X");
        assert!(sql.starts_with(
            "((POSITION(SUBSTR(MD5(X), 1, 1) IN '0123456789abcdef') - 1) * 72057594037927936"
        ));
        assert!(sql.ends_with("(POSITION(SUBSTR(MD5(X), 15, 1) IN '0123456789abcdef') - 1) * 1)"));
    }
}
