//! Schema evolution: what a target does with the columns it already has
//! when a new SCHEMA arrives. Both targets use this; neither re-implements
//! it.
//!
//! Rules (the join is the lattice of [`crate::join`]):
//!
//! - The new column fits the existing one (their join *is* the existing
//!   type, and nullability does not relax): [`Evolution::Same`]. So a
//!   `string` column stays for a property that is now an integer (integers
//!   load as text), a `decimal(38,9)` column stays for an integer.
//! - Otherwise the join is a widening of the existing type:
//!   [`Evolution::Widen`] to the join. Widenings: a longer or unbounded
//!   `string`; `decimal` precision/scale up (integer digits and scale both
//!   kept: `decimal(10,2)` ⊔ `decimal(8,4)` = `decimal(12,4)`);
//!   `integer` → `decimal`/`float`; `date` → `timestamp`; `timestamp
//!   without time zone` → `with time zone` (existing values read as UTC,
//!   the zone every tap renders in); any scalar → unbounded `string`
//!   (number → string is a widen: text keeps every digit; a warehouse that
//!   cannot alter the column in place copies it); nullability relaxes
//!   (NOT NULL → NULL), it never tightens.
//! - A typed column whose property now allows objects or arrays (the join
//!   is `json`) is [`Evolution::Incompatible`]: no scalar column can hold
//!   JSON, and silently stringifying it would change what users query.
//!   The message says how to resolve it.
//! - Properties that are gone from the new schema keep their columns:
//!   [`plan`] makes no decision for them (no drops).
//! - [`Column::empty_string_is_null`] is a load-time hint, not part of the
//!   column: it never causes a change.

use serde_json::Value;

use crate::column::{Column, ColumnType, TypeOptions, columns, join};
use crate::error::Result;

/// How an existing column relates to a property's new type.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Evolution {
    /// The existing column holds the new values as it is.
    Same,
    /// The column must be widened (altered, or copied where the warehouse
    /// cannot alter in place) to `to`.
    Widen {
        /// The existing column.
        from: Column,
        /// The column it becomes.
        to: Column,
    },
    /// The column cannot hold the new values; a user must act.
    Incompatible {
        /// The existing column.
        from: Column,
        /// The column the new schema asks for.
        to: Column,
        /// What is wrong and what to do, in words.
        message: String,
    },
}

/// What to do with one property's column.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Decision {
    /// Keep the column as it is.
    Same,
    /// The property is new: add this column.
    AddColumn(Column),
    /// Widen the column (see [`Evolution::Widen`]).
    Widen {
        /// The existing column.
        from: Column,
        /// The column it becomes.
        to: Column,
    },
    /// The column cannot hold the new values (see
    /// [`Evolution::Incompatible`]).
    Incompatible {
        /// The existing column.
        from: Column,
        /// The column the new schema asks for.
        to: Column,
        /// What is wrong and what to do, in words.
        message: String,
    },
}

impl From<Evolution> for Decision {
    fn from(evolution: Evolution) -> Self {
        match evolution {
            Evolution::Same => Self::Same,
            Evolution::Widen { from, to } => Self::Widen { from, to },
            Evolution::Incompatible { from, to, message } => {
                Self::Incompatible { from, to, message }
            }
        }
    }
}

/// Whether moving a column from `from` to the join `to` is a widening.
fn widens(from: ColumnType, to: ColumnType) -> bool {
    use ColumnType as T;
    match (from, to) {
        (T::Json, _) | (_, T::Json) => false,
        (T::String { .. }, T::String { .. })
        | (T::Decimal { .. }, T::Decimal { .. })
        | (T::Integer, T::Decimal { .. } | T::Float)
        | (T::Date | T::Timestamp { .. }, T::Timestamp { .. })
        | (_, T::String { max_len: None }) => true,
        _ => false,
    }
}

/// How `existing` must change to hold the values of `new`.
///
/// # Example
///
/// ```
/// use singer_schema::{Column, ColumnType, Evolution, evolve};
///
/// let existing = Column::new(ColumnType::String { max_len: Some(32) }, true);
/// let new = Column::new(ColumnType::String { max_len: Some(64) }, true);
/// assert!(matches!(evolve(&existing, &new), Evolution::Widen { to, .. }
///     if to.ty == ColumnType::String { max_len: Some(64) }));
/// ```
#[must_use]
pub fn evolve(existing: &Column, new: &Column) -> Evolution {
    let ty = join(existing.ty, new.ty);
    let nullable = existing.nullable || new.nullable;
    if ty == existing.ty && nullable == existing.nullable {
        return Evolution::Same;
    }
    if ty == existing.ty || widens(existing.ty, ty) {
        return Evolution::Widen {
            from: *existing,
            to: Column {
                ty,
                nullable,
                empty_string_is_null: new.empty_string_is_null,
            },
        };
    }
    let message = if ty == ColumnType::Json {
        format!(
            "the column is {} but the schema now allows objects or arrays ({}); a {} column cannot hold JSON: rename or drop the column so it is re-created as JSON, or change the tap's schema back",
            existing.ty, new.ty, existing.ty
        )
    } else {
        format!(
            "the column is {} and the schema now asks for {}, which is not a widening of it: rename or drop the column so it is re-created, or change the tap's schema back",
            existing.ty, new.ty
        )
    };
    Evolution::Incompatible {
        from: *existing,
        to: *new,
        message,
    }
}

/// The decisions for a stream whose target already has `existing` columns
/// and whose new SCHEMA's schema is `new_schema`: one per property, in the
/// schema's order.
///
/// Names match exactly first, then ASCII case-insensitively (warehouses
/// such as Snowflake fold unquoted names to upper case). Existing columns
/// without a property get no decision: they are kept.
///
/// # Errors
///
/// As [`columns`] for a property whose schema cannot be typed.
pub fn plan(
    existing: &[(String, Column)],
    new_schema: &Value,
    options: &TypeOptions,
) -> Result<Vec<(String, Decision)>> {
    Ok(columns(new_schema, options)?
        .into_iter()
        .map(|(name, column)| {
            let found = existing
                .iter()
                .find(|(n, _)| *n == name)
                .or_else(|| existing.iter().find(|(n, _)| n.eq_ignore_ascii_case(&name)));
            let decision = match found {
                None => Decision::AddColumn(column),
                Some((_, current)) => evolve(current, &column).into(),
            };
            (name, decision)
        })
        .collect())
}
