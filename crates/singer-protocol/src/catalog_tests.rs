//! Tests of the `catalog` module.

use serde_json::json;

use super::*;

fn entry(metadata: Value, extra: Value) -> CatalogEntry {
    let Value::Object(mut map) = extra else {
        panic!("extra must be an object")
    };
    map.insert("tap_stream_id".into(), json!("public-users"));
    map.insert(
        "schema".into(),
        json!({"type": "object", "properties": {"id": {}, "name": {}, "secret": {}}}),
    );
    map.insert("metadata".into(), metadata);
    CatalogEntry::try_from(map).expect("valid entry")
}

#[test]
fn selection_rules() {
    // (root metadata, property "name" metadata, stream selected, name selected)
    let cases = [
        (json!({}), json!({}), false, false),
        (json!({"selected": true}), json!({}), true, true),
        (
            json!({"selected": true}),
            json!({"selected": false}),
            true,
            false,
        ),
        (
            json!({"selected": false}),
            json!({"selected": true}),
            false,
            false,
        ),
        (
            json!({"selected": false}),
            json!({"inclusion": "automatic"}),
            false,
            false,
        ),
        (
            json!({"selected": true}),
            json!({"inclusion": "automatic", "selected": false}),
            true,
            true,
        ),
        (
            json!({"selected": true}),
            json!({"inclusion": "unsupported", "selected": true}),
            true,
            false,
        ),
        (
            json!({"selected-by-default": true}),
            json!({"selected-by-default": false}),
            true,
            false,
        ),
        (
            json!({"selected-by-default": true, "selected": false}),
            json!({}),
            false,
            false,
        ),
        (
            json!({"inclusion": "unsupported", "selected": true}),
            json!({}),
            false,
            false,
        ),
        (json!({"inclusion": "automatic"}), json!({}), true, true),
        (
            json!({"selected": true}),
            json!({"selected-by-default": true, "selected": false}),
            true,
            false,
        ),
    ];
    for (root, name, stream_selected, name_selected) in cases {
        let metadata = json!([
            {"breadcrumb": [], "metadata": root},
            {"breadcrumb": ["properties", "name"], "metadata": name},
        ]);
        let e = entry(metadata, json!({}));
        assert_eq!(e.is_selected(), stream_selected, "stream: {root} / {name}");
        assert_eq!(
            e.is_property_selected("name"),
            name_selected,
            "property: {root} / {name}"
        );
    }
}

#[test]
fn nested_property_follows_deselected_parent() {
    let metadata = Metadata(vec![
        MetadataEntry {
            breadcrumb: vec![],
            metadata: json!({"selected": true})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        },
        MetadataEntry {
            breadcrumb: vec!["properties".into(), "a".into()],
            metadata: json!({"selected": false})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        },
        MetadataEntry {
            breadcrumb: vec![
                "properties".into(),
                "a".into(),
                "properties".into(),
                "b".into(),
            ],
            metadata: json!({"selected": true})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        },
    ]);
    assert!(!metadata.is_selected(&["properties", "a", "properties", "b"]));
    assert!(metadata.is_selected(&["properties", "c"]));
}

#[test]
fn legacy_top_level_selected() {
    let e = entry(json!([]), json!({"selected": true}));
    assert!(e.is_selected());
    let e = entry(
        json!([{"breadcrumb": [], "metadata": {"selected": false}}]),
        json!({"selected": true}),
    );
    assert!(!e.is_selected());
}

#[test]
fn reads_both_spellings_metadata_first() {
    let classic = entry(
        json!([{"breadcrumb": [], "metadata": {"replication-method": "INCREMENTAL", "replication-key": "updated_at", "table-key-properties": ["id"]}}]),
        json!({}),
    );
    let meltano = entry(
        json!([]),
        json!({"replication_method": "incremental", "replication_key": "updated_at", "key_properties": ["id"]}),
    );
    for e in [&classic, &meltano] {
        assert_eq!(
            e.replication_method().expect("valid"),
            Some(ReplicationMethod::Incremental)
        );
        assert_eq!(e.replication_key().expect("valid"), Some("updated_at"));
        assert_eq!(e.key_properties().expect("valid"), ["id"]);
    }
    let both = entry(
        json!([{"breadcrumb": [], "metadata": {"replication-method": "FULL_TABLE", "forced-replication-method": "LOG_BASED"}}]),
        json!({"replication_method": "INCREMENTAL", "replication_key": ""}),
    );
    assert_eq!(
        both.replication_method().expect("valid"),
        Some(ReplicationMethod::FullTable)
    );
    assert_eq!(both.replication_key().expect("valid"), None);
    let forced = entry(
        json!([{"breadcrumb": [], "metadata": {"forced-replication-method": "LOG_BASED"}}]),
        json!({}),
    );
    assert_eq!(
        forced.replication_method().expect("valid"),
        Some(ReplicationMethod::LogBased)
    );
    let bad = entry(json!([]), json!({"replication_method": "SOMETIMES"}));
    assert_eq!(
        bad.replication_method().expect_err("invalid").to_string(),
        "catalog (stream \"public-users\"): unknown replication method \"SOMETIMES\" (expected FULL_TABLE, INCREMENTAL or LOG_BASED)"
    );
}

#[test]
fn set_replication_writes_both_spellings_and_round_trips() {
    let mut e = entry(
        json!([{"breadcrumb": [], "metadata": {"selected": true}}]),
        json!({"table_name": "users", "row_count": 12345678901234567890u64}),
    );
    e.set_replication(
        Some(ReplicationMethod::Incremental),
        Some("updated_at"),
        &["id".to_owned()],
    );
    let text = serde_json::to_string(&Catalog {
        streams: vec![e.clone()],
    })
    .expect("serialises");
    let back = Catalog::from_json(&text).expect("parses");
    assert_eq!(back.streams, [e.clone()]);
    let value: Value = serde_json::from_str(&text).expect("json");
    let s = &value["streams"][0];
    assert_eq!(s["replication_method"], "INCREMENTAL");
    assert_eq!(s["replication_key"], "updated_at");
    assert_eq!(s["key_properties"], json!(["id"]));
    assert_eq!(s["row_count"].to_string(), "12345678901234567890");
    assert_eq!(
        s["metadata"][0]["metadata"]["replication-method"],
        "INCREMENTAL"
    );
    assert_eq!(
        s["metadata"][0]["metadata"]["table-key-properties"],
        json!(["id"])
    );
    assert_eq!(e.selected_properties(), ["id", "name", "secret"]);
}

#[test]
fn selected_that_is_not_a_boolean_is_refused() {
    let text = r#"{"streams":[{"tap_stream_id":"a","schema":{},"metadata":[{"breadcrumb":["properties","id"],"metadata":{"selected":"yes"}}]}]}"#;
    assert_eq!(
        Catalog::from_json(text).expect_err("refused").to_string(),
        r#"catalog (stream "a"): metadata at breadcrumb ["properties", "id"]: "selected" must be true or false, not "yes""#
    );
}

#[test]
fn malformed_catalogs_name_the_entry() {
    let cases = [
        ("[]", "catalog: a catalog must be a JSON object"),
        ("{}", "catalog: a catalog needs a \"streams\" list"),
        (
            "{\"streams\":[1]}",
            "catalog: stream entry 0 is not an object",
        ),
        (
            "{\"streams\":[{\"stream\":\"users\"}]}",
            "catalog (stream \"users\"): entry has no \"tap_stream_id\" string",
        ),
        (
            "{\"streams\":[{\"tap_stream_id\":\"a\"}]}",
            "catalog (stream \"a\"): entry has no \"schema\" object",
        ),
        (
            "{\"streams\":[{\"tap_stream_id\":\"a\",\"schema\":{},\"metadata\":{}}]}",
            "catalog (stream \"a\"): \"metadata\" must be a list of {breadcrumb, metadata} objects",
        ),
    ];
    for (input, expected) in cases {
        assert_eq!(
            Catalog::from_json(input).expect_err(input).to_string(),
            expected
        );
    }
}
