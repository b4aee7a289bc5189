//! The column-type model and its widening lattice.

use serde_json::{Value, json};
use singer_schema::{
    Column, ColumnType as T, EmptyStringUnion, Error, NumberType, TypeOptions, column_type,
    columns, join,
};

fn n(text: &str) -> Value {
    serde_json::from_str(text).expect("a JSON number")
}

fn col(ty: T, nullable: bool) -> Column {
    Column::new(ty, nullable)
}

#[test]
fn property_schemas_map_to_types() {
    let o = TypeOptions::default();
    let cases: Vec<(Value, Column)> = vec![
        (json!({"type": "integer"}), col(T::Integer, false)),
        (
            json!({"type": ["null", "integer"], "minimum": -32768, "maximum": 32767}),
            col(T::Integer, true),
        ),
        (json!({"type": ["null", "number"]}), col(T::Float, true)),
        (json!({"type": "boolean"}), col(T::Boolean, false)),
        (
            json!({"type": "string"}),
            col(T::String { max_len: None }, false),
        ),
        (
            json!({"type": ["null", "string"], "maxLength": 32}),
            col(T::String { max_len: Some(32) }, true),
        ),
        (
            json!({"type": "string", "format": "date-time"}),
            col(T::Timestamp { tz: true }, false),
        ),
        (
            json!({"type": "string", "format": "date-time", "sql-datatype": "timestamp without time zone"}),
            col(T::Timestamp { tz: false }, false),
        ),
        (
            json!({"type": "string", "format": "date-time", "x-sql-datatype": "timestamp with time zone"}),
            col(T::Timestamp { tz: true }, false),
        ),
        (
            json!({"type": "string", "format": "date"}),
            col(T::Date, false),
        ),
        (
            json!({"type": "string", "format": "time"}),
            col(T::Time, false),
        ),
        (
            json!({"type": "string", "format": "binary"}),
            col(T::Binary, false),
        ),
        (
            json!({"type": "string", "contentEncoding": "base64"}),
            col(T::Binary, false),
        ),
        (
            json!({"type": "string", "format": "uuid"}),
            col(T::String { max_len: None }, false),
        ),
        (
            json!({"type": ["null", "string"], "format": "x-singer.decimal", "precision": 38, "scale": 9}),
            col(
                T::Decimal {
                    precision: 38,
                    scale: 9,
                },
                true,
            ),
        ),
        (
            json!({"type": "string", "format": "singer.decimal", "precision": 12}),
            col(
                T::Decimal {
                    precision: 12,
                    scale: 0,
                },
                false,
            ),
        ),
        (
            json!({"type": "string", "format": "x-singer.decimal"}),
            col(
                T::Decimal {
                    precision: 38,
                    scale: 9,
                },
                false,
            ),
        ),
        // pipelinewise-tap-postgres numeric(10,2), numeric(38,38), numeric.
        (
            json!({"type": ["null", "number"], "exclusiveMaximum": true, "maximum": 100000000,
                   "multipleOf": 0.01, "exclusiveMinimum": true, "minimum": -100000000}),
            col(
                T::Decimal {
                    precision: 10,
                    scale: 2,
                },
                true,
            ),
        ),
        (
            json!({"type": ["null", "number"], "exclusiveMaximum": true, "maximum": 1,
                   "multipleOf": n("1e-38"), "exclusiveMinimum": true, "minimum": -1}),
            col(
                T::Decimal {
                    precision: 38,
                    scale: 38,
                },
                true,
            ),
        ),
        (
            json!({"type": ["null", "number"], "exclusiveMaximum": true,
                   "maximum": n("100000000000000000000000000000000000000000000000000000000000000"),
                   "multipleOf": n("1e-38"), "exclusiveMinimum": true,
                   "minimum": n("-100000000000000000000000000000000000000000000000000000000000000")}),
            col(
                T::Decimal {
                    precision: 100,
                    scale: 38,
                },
                true,
            ),
        ),
        // Draft 6 bounds and inclusive bounds.
        (
            json!({"type": "number", "multipleOf": 0.001, "exclusiveMaximum": 1000, "exclusiveMinimum": -1000}),
            col(
                T::Decimal {
                    precision: 6,
                    scale: 3,
                },
                false,
            ),
        ),
        (
            json!({"type": "number", "multipleOf": 0.01, "maximum": 99999999.99, "minimum": -99999999.99}),
            col(
                T::Decimal {
                    precision: 10,
                    scale: 2,
                },
                false,
            ),
        ),
        (
            json!({"type": "number", "multipleOf": 0.25}),
            col(
                T::Decimal {
                    precision: 38,
                    scale: 2,
                },
                false,
            ),
        ),
        (
            json!({"type": "number", "multipleOf": 1}),
            col(T::Integer, false),
        ),
        (json!({"type": ["null", "object"]}), col(T::Json, true)),
        (
            json!({"type": "array", "items": {"type": "integer"}}),
            col(T::Json, false),
        ),
        (json!({}), col(T::Json, true)),
        (json!(true), col(T::Json, true)),
        (
            json!({"type": "null"}),
            col(T::String { max_len: None }, true),
        ),
        (
            json!({"enum": ["sad", "ok", null]}),
            col(T::String { max_len: None }, true),
        ),
        (json!({"enum": [1, 2, 3]}), col(T::Integer, false)),
        (json!({"const": true}), col(T::Boolean, false)),
        (
            json!({"type": "integer", "nullable": true}),
            col(T::Integer, true),
        ),
    ];
    for (schema, expected) in cases {
        assert_eq!(column_type(&schema, &o).unwrap(), expected, "{schema}");
    }
}

#[test]
fn unions_follow_the_lattice_never_the_first_branch() {
    let o = TypeOptions::default();
    let cases: Vec<(Value, Column)> = vec![
        (
            json!({"type": ["integer", "string"]}),
            col(T::String { max_len: None }, false),
        ),
        (
            json!({"type": ["string", "integer"]}),
            col(T::String { max_len: None }, false),
        ),
        (
            json!({"anyOf": [{"type": "integer"}, {"type": "number"}]}),
            col(T::Float, false),
        ),
        (
            json!({"anyOf": [{"type": "integer"}, {"type": "string", "format": "x-singer.decimal", "precision": 10, "scale": 2}]}),
            col(
                T::Decimal {
                    precision: 21,
                    scale: 2,
                },
                false,
            ),
        ),
        (
            json!({"oneOf": [{"type": "string", "format": "x-singer.decimal", "precision": 10, "scale": 2},
                             {"type": "string", "format": "x-singer.decimal", "precision": 12, "scale": 6}]}),
            col(
                T::Decimal {
                    precision: 14,
                    scale: 6,
                },
                false,
            ),
        ),
        (
            json!({"anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}]}),
            col(T::Timestamp { tz: true }, false),
        ),
        (
            json!({"anyOf": [{"type": "string", "format": "time"}, {"type": "string", "format": "date"}]}),
            col(T::String { max_len: None }, false),
        ),
        (
            json!({"anyOf": [{"type": "string", "maxLength": 3}, {"type": "string", "maxLength": 9}]}),
            col(T::String { max_len: Some(9) }, false),
        ),
        (
            json!({"anyOf": [{"type": "string", "maxLength": 3}, {"type": "string"}]}),
            col(T::String { max_len: None }, false),
        ),
        (
            json!({"anyOf": [{"type": "integer"}, {"type": "object"}]}),
            col(T::Json, false),
        ),
        (
            json!({"anyOf": [{"type": "array"}, {"type": "string"}]}),
            col(T::Json, false),
        ),
        (
            json!({"anyOf": [{"type": "boolean"}, {"type": "integer"}]}),
            col(T::String { max_len: None }, false),
        ),
        (
            json!({"anyOf": [{"type": "number"}, {"type": "string", "format": "x-singer.decimal"}]}),
            col(T::String { max_len: None }, false),
        ),
        (
            json!({"anyOf": [{"type": "null"}, {"type": "integer"}]}),
            col(T::Integer, true),
        ),
        (
            json!({"type": ["null", "object"], "anyOf": [{"type": "integer"}]}),
            col(T::Json, true),
        ),
        (
            json!({"allOf": [{"type": "string"}, {"maxLength": 5}]}),
            col(T::String { max_len: Some(5) }, false),
        ),
        // meltanolabs-tap-postgres json/jsonb.
        (
            json!({"type": ["string", "number", "integer", "array", "object", "boolean", "null"]}),
            col(T::Json, true),
        ),
    ];
    for (schema, expected) in cases {
        assert_eq!(column_type(&schema, &o).unwrap(), expected, "{schema}");
    }
}

#[test]
fn number_or_empty_string_is_numeric_with_empty_as_null_and_switchable() {
    let schema = json!({"anyOf": [{"type": "number"}, {"type": "string", "maxLength": 0}]});
    let column = column_type(&schema, &TypeOptions::default()).unwrap();
    assert_eq!(
        column,
        Column {
            ty: T::Float,
            nullable: true,
            empty_string_is_null: true
        }
    );
    // The same with a decimal mapping for plain numbers.
    let decimal = TypeOptions::default().with_plain_number(NumberType::Decimal {
        precision: 38,
        scale: 9,
    });
    assert_eq!(
        column_type(&schema, &decimal).unwrap().ty,
        T::Decimal {
            precision: 38,
            scale: 9
        }
    );
    // `const: ""` and dates too.
    let column = column_type(
        &json!({"anyOf": [{"type": "string", "format": "date"}, {"const": ""}]}),
        &TypeOptions::default(),
    )
    .unwrap();
    assert_eq!((column.ty, column.empty_string_is_null), (T::Date, true));
    // Switched to a string column.
    let strings = TypeOptions::default().with_empty_string(EmptyStringUnion::String);
    assert_eq!(
        column_type(&schema, &strings).unwrap(),
        col(T::String { max_len: None }, false)
    );
    // '' joined with text stays text, with no marker.
    let column = column_type(
        &json!({"anyOf": [{"type": "string", "maxLength": 10}, {"type": "string", "maxLength": 0}]}),
        &TypeOptions::default(),
    )
    .unwrap();
    assert_eq!(column, col(T::String { max_len: Some(10) }, false));
}

#[test]
fn join_is_a_lattice() {
    let types = [
        T::Integer,
        T::Decimal {
            precision: 10,
            scale: 2,
        },
        T::Decimal {
            precision: 38,
            scale: 38,
        },
        T::Float,
        T::Boolean,
        T::String { max_len: Some(4) },
        T::String { max_len: None },
        T::Timestamp { tz: false },
        T::Timestamp { tz: true },
        T::Date,
        T::Time,
        T::Json,
        T::Binary,
    ];
    for a in types {
        assert_eq!(join(a, a), a, "idempotent");
        assert_eq!(join(a, T::Json), T::Json, "json is the top");
        for b in types {
            assert_eq!(join(a, b), join(b, a), "commutative {a} {b}");
            for c in types {
                assert_eq!(
                    join(join(a, b), c),
                    join(a, join(b, c)),
                    "associative {a} {b} {c}"
                );
            }
        }
    }
    assert_eq!(
        join(
            T::Integer,
            T::Decimal {
                precision: 38,
                scale: 38
            }
        ),
        T::Decimal {
            precision: 57,
            scale: 38
        }
    );
    assert_eq!(
        join(
            T::Decimal {
                precision: 5,
                scale: 0
            },
            T::Decimal {
                precision: 3,
                scale: 3
            }
        ),
        T::Decimal {
            precision: 8,
            scale: 3
        }
    );
}

#[test]
fn stream_columns_keep_order_and_resolve_refs() {
    let schema = json!({"type": "object", "properties": {
        "z": {"type": "integer"},
        "a": {"$ref": "#/definitions/amount"},
        "m": {"type": ["null", "array"], "items": {"$ref": "#/definitions/sdc_recursive_integer_array"}},
    }, "definitions": {
        "amount": {"type": ["null", "string"], "format": "x-singer.decimal", "precision": 12, "scale": 2},
        "sdc_recursive_integer_array": {"type": ["null", "integer", "array"], "items": {"$ref": "#/definitions/sdc_recursive_integer_array"}},
    }});
    let cols = columns(&schema, &TypeOptions::default()).unwrap();
    let names: Vec<_> = cols.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["z", "a", "m"]);
    assert_eq!(
        cols[1].1,
        col(
            T::Decimal {
                precision: 12,
                scale: 2
            },
            true
        )
    );
    assert_eq!(cols[2].1, col(T::Json, true));

    // A lone property cannot follow a $ref; a cycle is a typed error.
    assert!(matches!(
        column_type(&json!({"$ref": "#/definitions/x"}), &TypeOptions::default()),
        Err(Error::UnresolvedRef { .. })
    ));
    let cyclic = json!({"properties": {"a": {"$ref": "#/definitions/a"}}, "definitions": {"a": {"$ref": "#/definitions/a"}}});
    assert!(matches!(
        columns(&cyclic, &TypeOptions::default()),
        Err(Error::UnsupportedProperty { .. })
    ));
    assert!(matches!(
        column_type(&json!({"type": "decimal"}), &TypeOptions::default()),
        Err(Error::UnsupportedProperty { .. })
    ));
    let err = column_type(&json!(12), &TypeOptions::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "property \"\": a property schema must be an object, found a number"
    );
}

#[test]
fn number_special_literals_keep_number_columns() {
    let options = TypeOptions::default();
    let float = json!({"anyOf": [{"type": ["number", "null"]}, {"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]}]});
    assert_eq!(
        column_type(&float, &options).expect("typed"),
        Column::new(T::Float, true)
    );
    let decimal = json!({"anyOf": [
        {"type": ["string", "null"], "format": "x-singer.decimal", "precision": 10, "scale": 2},
        {"enum": ["NaN"]}
    ]});
    assert_eq!(
        column_type(&decimal, &options).expect("typed").ty,
        T::Decimal {
            precision: 10,
            scale: 2
        }
    );
    let text = json!({"anyOf": [{"type": "boolean"}, {"enum": ["NaN"]}]});
    assert_eq!(
        column_type(&text, &options).expect("typed").ty,
        T::String { max_len: None }
    );
}
