//! Flattening, as the Meltano SDK does it.

use serde_json::{Value, json};
use singer_schema::{
    ColumnType as T, Error, Flattener, FlatteningConfig, TypeOptions, ValidationConfig, Validator,
    columns, flatten_schema,
};

fn schema() -> Value {
    json!({"type": "object", "properties": {
        "id": {"type": "integer"},
        "author": {"type": ["null", "object"], "properties": {
            "id": {"type": "integer"},
            "profile": {"type": "object", "properties": {"bio": {"type": "string"}}},
            "tags": {"type": "array", "items": {"type": "string"}},
        }},
        "meta": {"type": ["null", "object"]},
        "updated_at": {"type": "string", "format": "date-time"},
    }})
}

#[test]
fn schema_flattens_to_max_depth_in_order() {
    let flat = flatten_schema(&schema(), 1).unwrap();
    let names: Vec<_> = flat["properties"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(
        names,
        [
            "id",
            "author__id",
            "author__profile",
            "author__tags",
            "meta",
            "updated_at"
        ]
    );
    let cols = columns(&flat, &TypeOptions::default()).unwrap();
    assert_eq!(cols[1].1.ty, T::Integer);
    assert_eq!(cols[2].1.ty, T::Json, "deeper objects stay JSON");
    assert_eq!(cols[3].1.ty, T::Json, "arrays stay JSON");

    let flat = flatten_schema(&schema(), 2).unwrap();
    assert!(flat["properties"].get("author__profile__bio").is_some());
    // Depth 0 (or disabled) is the identity.
    assert_eq!(flatten_schema(&schema(), 0).unwrap(), schema());
    let config: FlatteningConfig =
        serde_json::from_value(json!({"flattening_enabled": false, "flattening_max_depth": 3}))
            .unwrap();
    assert_eq!(config.depth(), 0);
}

#[test]
fn records_flatten_with_json_text_leaves() {
    let flattener = Flattener::new(&schema(), 1).unwrap();
    // Parsed from text so 1.50 keeps its digits in the JSON text column.
    let record: Value = serde_json::from_str(
        r#"{"id": 1, "author": {"id": 7, "profile": {"bio": "hi"}, "tags": ["a", "b"]},
            "meta": {"x": 1.50}, "updated_at": "2024-01-01T00:00:00Z"}"#,
    )
    .unwrap();
    // Validate the original record first, then flatten.
    let v = Validator::new("s", &schema(), &ValidationConfig::default()).unwrap();
    v.validate(&record, 1).unwrap();
    let flat = flattener
        .flatten_record(record.as_object().unwrap())
        .unwrap();
    assert_eq!(
        Value::Object(flat),
        json!({"id": 1, "author__id": 7, "author__profile": "{\"bio\":\"hi\"}",
               "author__tags": "[\"a\",\"b\"]", "meta": "{\"x\":1.50}",
               "updated_at": "2024-01-01T00:00:00Z"})
    );
    // A null parent stays one null column.
    let flat = flattener
        .flatten_record(json!({"id": 2, "author": null}).as_object().unwrap())
        .unwrap();
    assert_eq!(Value::Object(flat), json!({"id": 2, "author": null}));
}

#[test]
fn collisions_name_both_properties() {
    let colliding = json!({"type": "object", "properties": {
        "a__b": {"type": "integer"},
        "a": {"type": "object", "properties": {"b": {"type": "string"}}},
    }});
    match flatten_schema(&colliding, 1) {
        Err(Error::FlattenCollision {
            name,
            first,
            second,
        }) => {
            assert_eq!(
                (name.as_str(), first.as_str(), second.as_str()),
                ("a__b", "a__b", "a.b")
            );
        }
        other => panic!("{other:?}"),
    }
    let err = flatten_schema(&colliding, 1).unwrap_err();
    assert_eq!(
        err.to_string(),
        "flattening: \"a__b\" and \"a.b\" both become the column \"a__b\""
    );
    // Records too (schema without properties for `a`).
    let loose = json!({"type": "object", "properties": {"a__b": {"type": "integer"}, "a": {"type": "object"}}});
    let flattener = Flattener::new(&loose, 1).unwrap();
    let ok = flattener.flatten_record(json!({"a__b": 1, "a": {"b": 2}}).as_object().unwrap());
    assert!(ok.is_ok(), "`a` is a leaf in the flattened schema: {ok:?}");
    let no_schema = Flattener::new(&json!({"type": "object"}), 1).unwrap();
    match no_schema.flatten_record(json!({"a__b": 1, "a": {"b": 2}}).as_object().unwrap()) {
        Err(Error::FlattenCollision {
            name,
            first,
            second,
        }) => {
            assert_eq!(
                (name.as_str(), first.as_str(), second.as_str()),
                ("a__b", "a__b", "a.b")
            );
        }
        other => panic!("{other:?}"),
    }
}
