//! The crate's error type.

use crate::validate::ValidationError;

/// Everything that can go wrong in this crate.
///
/// Schema problems are reported when a SCHEMA message arrives
/// ([`Error::InvalidSchema`], [`Error::SchemaTooDeep`]); a record that does
/// not match its schema is [`Error::Validation`] (see
/// [`Error::is_schema_violation`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A stream's schema is not an object, uses a keyword with a value of
    /// the wrong kind, or cannot be compiled.
    #[error("stream {stream:?}: invalid schema at {location}: {reason}", location = display_pointer(pointer))]
    InvalidSchema {
        /// The stream whose SCHEMA message carried the schema.
        stream: String,
        /// JSON pointer into the schema (`""` for the schema itself).
        pointer: String,
        /// What is wrong, in words.
        reason: String,
    },
    /// The schema nests deeper than the configured bound.
    #[error("stream {stream:?}: schema nested deeper than {max_depth} levels at {pointer}")]
    SchemaTooDeep {
        /// The stream whose schema is too deep.
        stream: String,
        /// JSON pointer of the first subschema past the bound.
        pointer: String,
        /// The bound.
        max_depth: usize,
    },
    /// A property's schema cannot be mapped to a column type.
    #[error("property {property:?}: {reason}")]
    UnsupportedProperty {
        /// The property (a flattened name if flattening is on).
        property: String,
        /// What is wrong, in words.
        reason: String,
    },
    /// A `$ref` that does not point into the same schema.
    #[error(
        "property {property:?}: cannot resolve $ref {reference:?} (only local references such as \"#/definitions/x\" are supported)"
    )]
    UnresolvedRef {
        /// The property whose schema holds the reference.
        property: String,
        /// The reference as written.
        reference: String,
    },
    /// Two properties flatten to the same column name.
    #[error("flattening: {first:?} and {second:?} both become the column {name:?}")]
    FlattenCollision {
        /// The flattened name both produce.
        name: String,
        /// The first property path (joined with `.`).
        first: String,
        /// The second property path (joined with `.`).
        second: String,
    },
    /// A record failed validation under the `fail` policy.
    #[error(transparent)]
    Validation(Box<ValidationError>),
}

impl Error {
    /// Whether this error is a record that does not match its schema (as
    /// opposed to a problem with the schema itself).
    #[must_use]
    pub const fn is_schema_violation(&self) -> bool {
        matches!(self, Self::Validation(_))
    }
}

impl From<ValidationError> for Error {
    fn from(error: ValidationError) -> Self {
        Self::Validation(Box::new(error))
    }
}

impl From<Box<ValidationError>> for Error {
    fn from(error: Box<ValidationError>) -> Self {
        Self::Validation(error)
    }
}

/// `/a/b`, or `the root` for the empty pointer.
pub(crate) fn display_pointer(pointer: &str) -> &str {
    if pointer.is_empty() {
        "the root"
    } else {
        pointer
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
