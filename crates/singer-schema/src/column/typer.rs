//! From a property's JSON schema to its [`Column`]: the typer that walks
//! `type`, `format`, `anyOf`/`oneOf`/`allOf` and `$ref`s and joins the
//! branches on the lattice of [`super`].

use serde_json::{Map, Value};
use singer_protocol::Decimal;

use super::{
    Column, ColumnType, EmptyStringUnion, NUMBER_SPECIALS, NumberType, TypeOptions, decimal,
    is_typed_scalar, join,
};
use crate::compile::{DECIMAL_FORMATS, kind_of};
use crate::error::{Error, Result};

/// The column for one property's schema.
///
/// `$ref`s cannot be followed from a lone property schema: use [`columns`]
/// for a stream's whole schema.
///
/// # Errors
///
/// [`Error::UnsupportedProperty`] for a schema that is not a schema (a
/// number, an unknown `type` name, a bad `precision`),
/// [`Error::UnresolvedRef`] for a `$ref`.
///
/// # Example
///
/// ```
/// use serde_json::json;
/// use singer_schema::{ColumnType, TypeOptions, column_type};
///
/// let column = column_type(
///     &json!({"anyOf": [{"type": "number"}, {"type": "string", "maxLength": 0}]}),
///     &TypeOptions::default(),
/// )?;
/// assert_eq!(column.ty, ColumnType::Float);
/// assert!(column.empty_string_is_null && column.nullable);
/// # Ok::<(), singer_schema::Error>(())
/// ```
pub fn column_type(property: &Value, options: &TypeOptions) -> Result<Column> {
    Typer {
        root: None,
        options,
        property: "",
    }
    .column(property)
}

/// The columns for a stream's schema, in property order, with `$ref`s
/// resolved against the schema itself.
///
/// # Errors
///
/// As [`column_type`], for the first property that fails; also
/// [`Error::UnsupportedProperty`] if `schema` has no `properties` object.
pub fn columns(schema: &Value, options: &TypeOptions) -> Result<Vec<(String, Column)>> {
    let Some(properties) = schema.get("properties") else {
        return Ok(Vec::new());
    };
    let Value::Object(properties) = properties else {
        return Err(Error::UnsupportedProperty {
            property: String::new(),
            reason: format!(
                "`properties` must be an object, found {}",
                kind_of(properties)
            ),
        });
    };
    properties
        .iter()
        .map(|(name, property)| {
            let column = Typer {
                root: Some(schema),
                options,
                property: name,
            }
            .column(property)?;
            Ok((name.clone(), column))
        })
        .collect()
}

/// Whether a string schema admits nothing but the number special values
/// (`{"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]}`).
fn only_number_specials(map: &Map<String, Value>) -> bool {
    let literals: Vec<&Value> = match (map.get("enum"), map.get("const")) {
        (Some(Value::Array(values)), _) => values.iter().collect(),
        (None, Some(value)) => vec![value],
        _ => return false,
    };
    !literals.is_empty()
        && literals
            .iter()
            .all(|v| v.as_str().is_some_and(|s| NUMBER_SPECIALS.contains(&s)))
}

/// What a schema's branches add up to.
#[derive(Debug, Default)]
struct Acc {
    ty: Option<ColumnType>,
    nullable: bool,
    empty_string: bool,
    /// A literal `"NaN"`, `"Infinity"` or `"-Infinity"` (how tap-postgres
    /// admits a float's or numeric's special values).
    number_special: bool,
}

impl Acc {
    fn add(&mut self, ty: ColumnType) {
        self.ty = Some(self.ty.map_or(ty, |t| join(t, ty)));
    }

    fn merge(&mut self, other: &Self) {
        if let Some(ty) = other.ty {
            self.add(ty);
        }
        self.nullable |= other.nullable;
        self.empty_string |= other.empty_string;
        self.number_special |= other.number_special;
    }
}

struct Typer<'a> {
    root: Option<&'a Value>,
    options: &'a TypeOptions,
    property: &'a str,
}

impl Typer<'_> {
    fn unsupported(&self, reason: String) -> Error {
        Error::UnsupportedProperty {
            property: self.property.to_owned(),
            reason,
        }
    }

    fn column(&self, property: &Value) -> Result<Column> {
        let mut acc = self.analyze(property, 0)?;
        if acc.number_special {
            match acc.ty {
                // The special values of a number column stay in it; the
                // loader decides whether the warehouse can hold them.
                Some(ColumnType::Float | ColumnType::Decimal { .. }) => {}
                Some(ColumnType::Integer) => acc.ty = Some(ColumnType::Float),
                _ => acc.add(ColumnType::String { max_len: None }),
            }
        }
        let mut column = Column::new(
            acc.ty.unwrap_or(ColumnType::String { max_len: None }),
            acc.nullable,
        );
        if acc.empty_string {
            match acc.ty {
                Some(ty)
                    if is_typed_scalar(ty)
                        && self.options.empty_string == EmptyStringUnion::Null =>
                {
                    column.empty_string_is_null = true;
                    column.nullable = true;
                }
                Some(ty) => column.ty = join(ty, ColumnType::String { max_len: Some(0) }),
                None => column.ty = ColumnType::String { max_len: Some(0) },
            }
        }
        Ok(column)
    }

    fn analyze(&self, schema: &Value, depth: usize) -> Result<Acc> {
        if depth > self.options.max_depth {
            return Err(self.unsupported(format!(
                "schema nested deeper than {} levels (or a $ref cycle)",
                self.options.max_depth
            )));
        }
        let map = match schema {
            Value::Bool(true) => {
                return Ok(Acc {
                    ty: Some(ColumnType::Json),
                    nullable: true,
                    ..Acc::default()
                });
            }
            Value::Bool(false) => return Ok(Acc::default()),
            Value::Object(map) => map,
            other => {
                return Err(self.unsupported(format!(
                    "a property schema must be an object, found {}",
                    kind_of(other)
                )));
            }
        };
        if let Some(reference) = map.get("$ref") {
            let target = self.resolve(reference)?;
            return self.analyze(target, depth + 1);
        }
        if let Some(Value::Array(branches)) = map.get("allOf") {
            let mut merged = map.clone();
            merged.remove("allOf");
            for branch in branches {
                let branch = match branch {
                    Value::Object(b) if b.contains_key("$ref") => {
                        let target = self.resolve(b.get("$ref").unwrap_or(&Value::Null))?;
                        target.as_object().cloned().unwrap_or_default()
                    }
                    Value::Object(b) => b.clone(),
                    _ => continue,
                };
                for (k, v) in branch {
                    merged.insert(k, v);
                }
            }
            return self.analyze(&Value::Object(merged), depth + 1);
        }
        let mut acc = Acc::default();
        let mut union = false;
        for keyword in ["anyOf", "oneOf"] {
            if let Some(Value::Array(branches)) = map.get(keyword) {
                union = true;
                for branch in branches {
                    acc.merge(&self.analyze(branch, depth + 1)?);
                }
            }
        }
        if map.get("nullable") == Some(&Value::Bool(true)) {
            acc.nullable = true;
        }
        match map.get("type") {
            Some(Value::String(name)) => self.add_type(&mut acc, name, map, union)?,
            Some(Value::Array(names)) => {
                for name in names {
                    let Value::String(name) = name else {
                        return Err(self.unsupported(format!(
                            "`type` entries must be strings, found {}",
                            kind_of(name)
                        )));
                    };
                    self.add_type(&mut acc, name, map, union)?;
                }
            }
            Some(other) => {
                return Err(self.unsupported(format!(
                    "`type` must be a string or an array, found {}",
                    kind_of(other)
                )));
            }
            None if union => {}
            None => {
                if let Some(values) = map.get("enum").and_then(Value::as_array) {
                    for value in values {
                        self.add_literal(&mut acc, value);
                    }
                } else if let Some(value) = map.get("const") {
                    self.add_literal(&mut acc, value);
                } else if map.contains_key("format") {
                    self.add_string(&mut acc, map)?;
                } else {
                    // `{}` (also with only `properties`/`items`): any JSON.
                    acc.add(ColumnType::Json);
                    acc.nullable = true;
                }
            }
        }
        Ok(acc)
    }

    fn resolve(&self, reference: &Value) -> Result<&Value> {
        let unresolved = || Error::UnresolvedRef {
            property: self.property.to_owned(),
            reference: reference.as_str().unwrap_or_default().to_owned(),
        };
        let pointer = reference
            .as_str()
            .and_then(|r| r.strip_prefix('#'))
            .ok_or_else(unresolved)?;
        self.root
            .and_then(|root| root.pointer(pointer))
            .ok_or_else(unresolved)
    }

    fn add_type(
        &self,
        acc: &mut Acc,
        name: &str,
        map: &Map<String, Value>,
        union: bool,
    ) -> Result<()> {
        match name {
            "null" => acc.nullable = true,
            // With anyOf/oneOf present, the branches carry the types; an
            // outer `type` only adds "null" (and object/array below).
            _ if union && !matches!(name, "object" | "array") => {}
            "integer" => acc.add(ColumnType::Integer),
            "number" => acc.add(self.number(map)?),
            "string" if only_number_specials(map) => acc.number_special = true,
            "string" => self.add_string(acc, map)?,
            "boolean" => acc.add(ColumnType::Boolean),
            "object" | "array" => acc.add(ColumnType::Json),
            other => return Err(self.unsupported(format!("unknown type {other:?}"))),
        }
        Ok(())
    }

    fn add_literal(&self, acc: &mut Acc, value: &Value) {
        match value {
            Value::Null => acc.nullable = true,
            Value::Bool(_) => acc.add(ColumnType::Boolean),
            Value::Number(n) => {
                let integer = Decimal::parse(n.as_str()).is_some_and(|d| d.is_integer());
                acc.add(if integer {
                    ColumnType::Integer
                } else {
                    self.plain_number()
                });
            }
            Value::String(s) if s.is_empty() => acc.empty_string = true,
            Value::String(s) if NUMBER_SPECIALS.contains(&s.as_str()) => acc.number_special = true,
            Value::String(_) => acc.add(ColumnType::String { max_len: None }),
            Value::Array(_) | Value::Object(_) => acc.add(ColumnType::Json),
        }
    }

    fn plain_number(&self) -> ColumnType {
        match self.options.plain_number {
            NumberType::Float => ColumnType::Float,
            NumberType::Decimal { precision, scale } => ColumnType::Decimal { precision, scale },
        }
    }

    fn decimal_format(&self, map: &Map<String, Value>) -> Result<Option<ColumnType>> {
        let is_decimal = map
            .get("format")
            .and_then(Value::as_str)
            .is_some_and(|f| DECIMAL_FORMATS.contains(&f));
        if !is_decimal {
            return Ok(None);
        }
        let precision = self.small_int(map, "precision")?;
        let scale = self.small_int(map, "scale")?;
        let default = self.options.default_decimal;
        let (precision, scale) = match (precision, scale) {
            (Some(p), Some(s)) => (p, s),
            (Some(p), None) => (p, 0),
            (None, Some(s)) => (default.precision.max(s), s),
            (None, None) => (default.precision, default.scale),
        };
        if scale > precision {
            return Err(self.unsupported(format!(
                "scale {scale} is larger than precision {precision}"
            )));
        }
        Ok(Some(ColumnType::Decimal { precision, scale }))
    }

    fn small_int(&self, map: &Map<String, Value>, key: &str) -> Result<Option<u32>> {
        match map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n
                .as_u64()
                .and_then(|v| u32::try_from(v).ok())
                .map(Some)
                .ok_or_else(|| {
                    self.unsupported(format!("`{key}` must be a non-negative integer, found {n}"))
                }),
            Some(other) => Err(self.unsupported(format!(
                "`{key}` must be a non-negative integer, found {}",
                kind_of(other)
            ))),
        }
    }

    fn number(&self, map: &Map<String, Value>) -> Result<ColumnType> {
        if let Some(decimal) = self.decimal_format(map)? {
            return Ok(decimal);
        }
        let Some(Value::Number(multiple)) = map.get("multipleOf") else {
            return Ok(self.plain_number());
        };
        let Some(multiple) = Decimal::parse(multiple.as_str()) else {
            return Ok(self.plain_number());
        };
        let scale = u32::try_from(multiple.scale()).map_err(|_| {
            self.unsupported("`multipleOf` has more fraction digits than a column can hold".into())
        })?;
        match self.integer_digits(map) {
            Some(digits) => Ok(decimal(digits, scale)),
            None if scale == 0 => Ok(ColumnType::Integer),
            None => Ok(ColumnType::Decimal {
                precision: self.options.default_decimal.precision.max(scale),
                scale,
            }),
        }
    }

    /// Integer digits the `minimum`/`maximum` bounds allow, if bounded.
    fn integer_digits(&self, map: &Map<String, Value>) -> Option<u32> {
        let mut digits: Option<u64> = None;
        for (bound, exclusive_key) in [
            ("minimum", "exclusiveMinimum"),
            ("maximum", "exclusiveMaximum"),
        ] {
            let exclusive_flag = map.get(exclusive_key) == Some(&Value::Bool(true));
            let mut limits = Vec::new();
            if let Some(Value::Number(n)) = map.get(bound) {
                limits.push((n.as_str(), exclusive_flag));
            }
            if let Some(Value::Number(n)) = map.get(exclusive_key) {
                limits.push((n.as_str(), true));
            }
            for (text, exclusive) in limits {
                let Some(limit) = Decimal::parse(text) else {
                    continue;
                };
                // Strictly inside ±10^k needs k digits; otherwise the
                // digits of the bound itself.
                let needed = match limit.abs_power_of_ten() {
                    Some(k) if exclusive => u64::try_from(k).unwrap_or(0),
                    _ => limit.integer_digits(),
                };
                digits = Some(digits.map_or(needed, |d| d.max(needed)));
            }
        }
        digits.and_then(|d| u32::try_from(d).ok())
    }

    fn add_string(&self, acc: &mut Acc, map: &Map<String, Value>) -> Result<()> {
        if let Some(decimal) = self.decimal_format(map)? {
            acc.add(decimal);
            return Ok(());
        }
        let format = map.get("format").and_then(Value::as_str);
        let ty = match format {
            Some("date-time") => ColumnType::Timestamp {
                tz: self.timestamp_tz(map),
            },
            Some("date") => ColumnType::Date,
            Some("time") => ColumnType::Time,
            Some("binary" | "byte") => ColumnType::Binary,
            _ if map.get("contentEncoding").and_then(Value::as_str) == Some("base64") => {
                ColumnType::Binary
            }
            _ => {
                let max_len = match map.get("maxLength") {
                    Some(Value::Number(n)) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
                    _ => None,
                };
                if max_len == Some(0) {
                    acc.empty_string = true;
                    return Ok(());
                }
                ColumnType::String { max_len }
            }
        };
        acc.add(ty);
        Ok(())
    }

    /// A `sql-datatype` (catalog metadata spelling) or `x-sql-datatype` hint
    /// in the property schema decides; else the option.
    fn timestamp_tz(&self, map: &Map<String, Value>) -> bool {
        let hint = ["sql-datatype", "x-sql-datatype"]
            .iter()
            .find_map(|k| map.get(*k).and_then(Value::as_str));
        match hint.map(str::to_ascii_lowercase).as_deref() {
            Some(h) if h.contains("without time zone") || h == "timestamp" || h == "datetime" => {
                false
            }
            Some(h) if h.contains("with time zone") || h == "timestamptz" => true,
            _ => self.options.timestamp_tz,
        }
    }
}
