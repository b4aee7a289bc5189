//! The JSON schema of a column's values, and how its bookmark values
//! compare when it is a replication key.

use serde_json::{Map, Value, json};
use singer_state::BookmarkKind;

use super::{Codec, NumberSpecialPolicy, Scalar, SpecialValuePolicy};

impl Codec {
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
}

fn type_with_null(name: &str, nullable: bool) -> Value {
    if nullable {
        json!([name, "null"])
    } else {
        json!(name)
    }
}
