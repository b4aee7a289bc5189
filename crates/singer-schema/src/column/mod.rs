//! The logical column-type model every target maps from.
//!
//! A property's JSON schema becomes a [`Column`]: a [`ColumnType`], whether
//! it holds NULL, and whether `''` loads as NULL. Targets map [`ColumnType`]
//! to their SQL (Snowflake, CSV); none re-derives it from JSON schema.
//!
//! # From JSON schema to a type
//!
//! | property schema | type |
//! |---|---|
//! | `integer` | [`ColumnType::Integer`] |
//! | `number` + `multipleOf: 10^-s` (+ pipelinewise's `minimum`/`maximum` bounds) | [`ColumnType::Decimal`] `(p, s)`, `p` = integer digits the bounds allow + `s` (38 + `s`… see below) |
//! | `number` + `multipleOf` that is an integer, no bounds | [`ColumnType::Integer`] |
//! | `number` (plain) | [`ColumnType::Float`], or a decimal by [`TypeOptions::plain_number`] |
//! | `string` + `format: x-singer.decimal`/`singer.decimal` + `precision`/`scale` | [`ColumnType::Decimal`] |
//! | `string` + `format: date-time` | [`ColumnType::Timestamp`] (`tz` from a `sql-datatype` hint, else [`TypeOptions::timestamp_tz`]) |
//! | `string` + `format: date` / `time` | [`ColumnType::Date`] / [`ColumnType::Time`] |
//! | `string` + `format: binary` or `contentEncoding: base64` | [`ColumnType::Binary`] |
//! | `string` (+ `maxLength`) | [`ColumnType::String`] |
//! | `boolean` | [`ColumnType::Boolean`] |
//! | `object`, `array`, `{}`, `true` | [`ColumnType::Json`] |
//! | `null` only | nullable [`ColumnType::String`] |
//!
//! Without bounds, a `multipleOf: 10^-s` number gets precision
//! `max(TypeOptions::default_decimal.precision, s)`. pipelinewise emits an
//! unconstrained `numeric` as bounds ±10^62 with `multipleOf: 1e-38`, which
//! reads back as `Decimal(100, 38)`: exactly what it means; a target with a
//! smaller maximum precision decides how to store it.
//!
//! # Unions: the widening lattice
//!
//! `anyOf`, `oneOf` and `type` lists are typed by joining their branches,
//! never by "first branch wins" and never by dropping the column:
//!
//! ```text
//!                         Json            (anything ⊔ object/array)
//!                          |
//!                       String            (any two different scalars)
//!          /        |           |       \
//!     Decimal     Float     Timestamp   Boolean, Time, Binary, String(n)
//!        |          |           |
//!     Integer    Integer       Date
//! ```
//!
//! - `Integer ⊔ Decimal(p,s)` = `Decimal(max(p−s, 19) + s, s)` (an integer
//!   is taken as 19 digits, an `int8`); `Decimal ⊔ Decimal` keeps the larger
//!   integer digits and the larger scale.
//! - `Integer ⊔ Float` = `Float`; `Decimal ⊔ Float` = `String`: the exact
//!   digits are kept rather than rounded to a float.
//! - `Date ⊔ Timestamp{tz}` = `Timestamp{tz}`; `Timestamp{a} ⊔ Timestamp{b}`
//!   = `Timestamp{a || b}`.
//! - `String(a) ⊔ String(b)` = `String(max(a, b))`, unbounded wins.
//! - `null` branches make the column nullable.
//! - The empty-string branch (`{"type": "string", "maxLength": 0}`, `""`
//!   as `const`/`enum`) joined with a non-text scalar type (numbers,
//!   booleans, dates and times) keeps that type and sets
//!   [`Column::empty_string_is_null`]: `''` loads as NULL. This is the
//!   GitLab `anyOf: [number, string maxLength 0]` case. With
//!   [`EmptyStringUnion::String`] the union becomes a string column instead.
//! - The special-value literals `"NaN"`, `"Infinity"` and `"-Infinity"`
//!   (`enum`/`const`) joined with `Float` or `Decimal` keep that type (an
//!   `Integer` becomes `Float`): tap-postgres admits a float's special values
//!   this way, and the loader decides whether its warehouse can hold them.
//! - `allOf` is read as one schema made of all its branches' keywords.
//! - `not`, `if`/`then`/`else` do not change the type.

use std::fmt;

use serde::Deserialize;

mod typer;

pub use typer::{column_type, columns};

/// The string spellings of a number's special values, admitted next to a
/// number type as `enum` literals without turning the column into text.
pub(crate) const NUMBER_SPECIALS: [&str; 3] = ["NaN", "Infinity", "-Infinity"];

/// Digits an integer is taken to need when joined with a decimal (`int8`).
pub const INTEGER_DIGITS: u32 = 19;

/// A logical column type; targets map it to their SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ColumnType {
    /// Whole numbers (`integer`).
    Integer,
    /// Exact decimals with `precision` digits, `scale` of them after the point.
    Decimal {
        /// Total significant digits.
        precision: u32,
        /// Digits after the decimal point.
        scale: u32,
    },
    /// Binary floating point (`number` without decimal hints).
    Float,
    /// `true`/`false`.
    Boolean,
    /// Text, with a maximum length in characters if the schema gives one.
    String {
        /// `maxLength`, if any.
        max_len: Option<u32>,
    },
    /// A point in time (`date-time`), with or without a time zone.
    Timestamp {
        /// Whether the column keeps the offset (`timestamp with time zone`).
        tz: bool,
    },
    /// A calendar date.
    Date,
    /// A time of day.
    Time,
    /// Semi-structured JSON (objects, arrays, untyped values).
    Json,
    /// Bytes (a base64 or hex string on the wire).
    Binary,
}

impl fmt::Display for ColumnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Integer => f.write_str("integer"),
            Self::Decimal { precision, scale } => write!(f, "decimal({precision},{scale})"),
            Self::Float => f.write_str("float"),
            Self::Boolean => f.write_str("boolean"),
            Self::String { max_len: Some(n) } => write!(f, "string({n})"),
            Self::String { max_len: None } => f.write_str("string"),
            Self::Timestamp { tz: true } => f.write_str("timestamp with time zone"),
            Self::Timestamp { tz: false } => f.write_str("timestamp without time zone"),
            Self::Date => f.write_str("date"),
            Self::Time => f.write_str("time"),
            Self::Json => f.write_str("json"),
            Self::Binary => f.write_str("binary"),
        }
    }
}

/// A column: its type, whether it holds NULL, and whether `''` loads as NULL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Column {
    /// The logical type.
    pub ty: ColumnType,
    /// Whether the schema allows `null` for this property.
    ///
    /// This is the schema's word only: a property missing from a record
    /// also loads as NULL, so targets usually create every non-key column
    /// nullable.
    pub nullable: bool,
    /// Whether loaders must store the empty string `''` as NULL: set for a
    /// typed (non-text) column whose schema also allows exactly `''` (the
    /// `anyOf: [number, string maxLength 0]` case).
    pub empty_string_is_null: bool,
}

impl Column {
    /// A column without the empty-string marker.
    #[must_use]
    pub const fn new(ty: ColumnType, nullable: bool) -> Self {
        Self {
            ty,
            nullable,
            empty_string_is_null: false,
        }
    }
}

impl fmt::Display for Column {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.ty)?;
        if !self.nullable {
            f.write_str(" not null")?;
        }
        if self.empty_string_is_null {
            f.write_str(" ('' as null)")?;
        }
        Ok(())
    }
}

/// How a plain `number` (no `multipleOf`, no decimal format) is typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum NumberType {
    /// [`ColumnType::Float`] (the default, what the JSON schema says).
    #[default]
    Float,
    /// [`ColumnType::Decimal`] with this precision and scale.
    Decimal {
        /// Total digits.
        precision: u32,
        /// Digits after the point.
        scale: u32,
    },
}

/// How a union of a typed value and the empty string is typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmptyStringUnion {
    /// Keep the typed column and load `''` as NULL (the default).
    #[default]
    Null,
    /// Make it a string column.
    String,
}

/// A precision and scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecimalSize {
    /// Total digits.
    pub precision: u32,
    /// Digits after the point.
    pub scale: u32,
}

/// Settings for [`column_type`] and [`columns`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TypeOptions {
    /// How a plain `number` is typed (default [`NumberType::Float`]).
    pub plain_number: NumberType,
    /// How `typed | ''` unions are typed (default [`EmptyStringUnion::Null`]).
    pub empty_string: EmptyStringUnion,
    /// Precision and scale where a decimal's schema does not say (default
    /// 38, 9: `x-singer.decimal` without `precision`/`scale`, and the
    /// precision of `multipleOf: 10^-s` without bounds).
    pub default_decimal: DecimalSize,
    /// Whether a `date-time` without a `sql-datatype` hint keeps its zone
    /// (default `true`).
    pub timestamp_tz: bool,
    /// Deepest nesting followed (default 64).
    pub max_depth: usize,
}

impl TypeOptions {
    /// The defaults.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            plain_number: NumberType::Float,
            empty_string: EmptyStringUnion::Null,
            default_decimal: DecimalSize {
                precision: 38,
                scale: 9,
            },
            timestamp_tz: true,
            max_depth: 64,
        }
    }

    /// Sets [`TypeOptions::plain_number`].
    #[must_use]
    pub const fn with_plain_number(mut self, plain_number: NumberType) -> Self {
        self.plain_number = plain_number;
        self
    }

    /// Sets [`TypeOptions::empty_string`].
    #[must_use]
    pub const fn with_empty_string(mut self, empty_string: EmptyStringUnion) -> Self {
        self.empty_string = empty_string;
        self
    }

    /// Sets [`TypeOptions::timestamp_tz`].
    #[must_use]
    pub const fn with_timestamp_tz(mut self, tz: bool) -> Self {
        self.timestamp_tz = tz;
        self
    }
}

impl Default for TypeOptions {
    fn default() -> Self {
        Self::new()
    }
}

/// The least type holding values of both `a` and `b` (see the module docs).
#[must_use]
pub fn join(a: ColumnType, b: ColumnType) -> ColumnType {
    use ColumnType as T;
    if a == b {
        return a;
    }
    match (a, b) {
        (T::Json, _) | (_, T::Json) => T::Json,
        (T::String { max_len: x }, T::String { max_len: y }) => T::String {
            max_len: x.zip(y).map(|(x, y)| x.max(y)),
        },
        (T::Integer, T::Decimal { precision, scale })
        | (T::Decimal { precision, scale }, T::Integer) => {
            decimal(precision.saturating_sub(scale).max(INTEGER_DIGITS), scale)
        }
        (
            T::Decimal {
                precision: p1,
                scale: s1,
            },
            T::Decimal {
                precision: p2,
                scale: s2,
            },
        ) => decimal(p1.saturating_sub(s1).max(p2.saturating_sub(s2)), s1.max(s2)),
        (T::Integer, T::Float) | (T::Float, T::Integer) => T::Float,
        (T::Date, T::Timestamp { tz }) | (T::Timestamp { tz }, T::Date) => T::Timestamp { tz },
        (T::Timestamp { tz: x }, T::Timestamp { tz: y }) => T::Timestamp { tz: x || y },
        _ => T::String { max_len: None },
    }
}

fn decimal(integer_digits: u32, scale: u32) -> ColumnType {
    ColumnType::Decimal {
        precision: integer_digits.saturating_add(scale).max(1),
        scale,
    }
}

/// Whether `ty` is a typed (non-text, non-JSON) scalar, for which `''` can
/// only mean "no value".
const fn is_typed_scalar(ty: ColumnType) -> bool {
    !matches!(
        ty,
        ColumnType::String { .. } | ColumnType::Json | ColumnType::Binary
    )
}
