//! Singer schemas: per-stream record validation and the column-type model
//! every target maps from.
//!
//! Sits between `singer-protocol` (which reads SCHEMA and RECORD messages)
//! and `singer-target` (the driver both targets share). It does no I/O.
//!
//! - [`Validator`]: a SCHEMA message's schema compiled once per stream
//!   (with the `jsonschema` crate) and checked against each record:
//!   `anyOf`/`oneOf`/`allOf`/`not`, `$ref` into `definitions`/`$defs`
//!   (pipelinewise's recursive array definitions too), `type` lists, `enum`,
//!   `const`, bounds, `maxLength`, `pattern`, `required`,
//!   `additionalProperties`; `date-time`/`date`/`time` formats (PostgreSQL
//!   spellings accepted, switchable off); `x-singer.decimal` values checked
//!   exactly against their `precision`/`scale`; `minimum`/`maximum`/
//!   `multipleOf` decided on the number's decimal text, never through
//!   `f64`. Errors name the stream, the input line, the JSON pointer and
//!   what was expected, and a [`ValidationPolicy`] (`fail`, `skip`, `log`)
//!   decides what happens.
//! - [`column_type`] / [`columns`]: the logical [`ColumnType`] of a
//!   property, with unions typed by a documented widening lattice
//!   ([`join`]), never by "first branch wins".
//! - [`evolve`] / [`plan`]: what a target does with the columns it already
//!   has when a new SCHEMA arrives.
//! - [`Flattener`] / [`flatten_schema`]: the Meltano SDK's opt-in
//!   flattening (`parent__child`).
//!
//! # Example
//!
//! ```
//! use serde_json::json;
//! use singer_schema::{ColumnType, TypeOptions, ValidationConfig, Validator, columns};
//!
//! // The union the GitLab team needed: a number, or '' for "no number".
//! let schema = json!({"type": "object", "properties": {
//!     "id": {"type": "integer"},
//!     "weight": {"anyOf": [{"type": "number"}, {"type": "string", "maxLength": 0}]},
//! }});
//! let validator = Validator::new("issues", &schema, &ValidationConfig::default())?;
//! validator.validate(&json!({"id": 1, "weight": 12.5}), 2)?;
//! validator.validate(&json!({"id": 2, "weight": ""}), 3)?;
//!
//! let error = validator.validate(&json!({"id": 3, "weight": "abc"}), 4).unwrap_err();
//! assert_eq!((error.line, error.pointer.as_str()), (4, "/weight"));
//!
//! // A numeric column where '' loads as NULL.
//! let cols = columns(&schema, &TypeOptions::default())?;
//! assert_eq!(cols[1].1.ty, ColumnType::Float);
//! assert!(cols[1].1.empty_string_is_null);
//! # Ok::<(), singer_schema::Error>(())
//! ```

#![warn(missing_docs)]

mod column;
mod compile;
mod error;
mod evolve;
mod fast;
mod flatten;
mod text;
mod validate;

pub use column::{
    Column, ColumnType, DecimalSize, EmptyStringUnion, INTEGER_DIGITS, NumberType, TypeOptions,
    column_type, columns, join,
};
pub use error::{Error, Result};
pub use evolve::{Decision, Evolution, evolve, plan};
pub use fast::{Check as FastCheck, FastSchema};
pub use flatten::{FLATTEN_SEPARATOR, Flattener, FlatteningConfig, flatten_schema};
pub use text::{decimal_text_fits, format_text_matches};
pub use validate::{Outcome, ValidationConfig, ValidationError, ValidationPolicy, Validator};
