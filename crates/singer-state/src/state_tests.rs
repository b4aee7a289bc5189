//! Tests of the `state` module.

use super::*;
use serde_json::json;

fn raw(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|error| panic!("{text}: {error}"))
}

#[test]
fn empty_inputs_are_the_empty_state() {
    for text in [
        "",
        "  \n",
        "null",
        "{}",
        "{\"bookmarks\": null}",
        "{\"bookmarks\": {}}",
    ] {
        let state = State::from_json(text).expect(text);
        assert!(state.is_empty(), "{text}");
    }
    assert_eq!(State::new().to_json(), r#"{"bookmarks":{}}"#);
}

#[test]
fn round_trip_preserves_unknown_keys_and_exact_numbers() {
    let text = r#"{
        "bookmarks": {
            "public-orders": {
                "replication_key": "id",
                "replication_key_value": 12345678901234567890.123456789012345678,
                "version": 1714550400000,
                "last_replication_method": "INCREMENTAL",
                "xmin": 123,
                "lsn": 2500000000,
                "last_pk_fetched": {"id": 42}
            },
            "public-events": {
                "replication_key": "updated_at",
                "replication_key_value": "2024-05-01T10:00:00.123456+02:00",
                "partitions": [{"context": {"tenant": 1}, "replication_key_value": 3}],
                "progress_markers": {"Note": "Progress is not resumable if interrupted.",
                                     "replication_key": "updated_at",
                                     "replication_key_value": "2030-01-01T00:00:00Z"}
            }
        },
        "currently_syncing": "public-orders",
        "singer_state_version": 1,
        "meltano": {"run_id": "abc"}
    }"#;
    let state = State::from_json(text).expect("parse");
    let orders = state.bookmark("public-orders").expect("orders");
    assert_eq!(orders.replication_key.as_deref(), Some("id"));
    assert_eq!(orders.version, Some(1_714_550_400_000));
    assert_eq!(
        orders.last_replication_method.as_deref(),
        Some("INCREMENTAL")
    );
    assert_eq!(
        orders.extra.get("last_pk_fetched"),
        Some(&json!({"id": 42}))
    );
    assert_eq!(state.currently_syncing.as_deref(), Some("public-orders"));
    assert_eq!(state.extra.get("meltano"), Some(&json!({"run_id": "abc"})));

    // Progress markers are kept but are not the bookmark value.
    let events = state.bookmark("public-events").expect("events");
    assert!(events.partitions().is_some());
    assert!(events.progress_markers().is_some());
    let value = state
        .bookmark_value("public-events", BookmarkKind::Timestamp)
        .expect("value")
        .expect("present");
    assert_eq!(value.as_json(), &json!("2024-05-01T10:00:00.123456+02:00"));

    let written = state.to_json();
    assert!(
        written.contains("12345678901234567890.123456789012345678"),
        "{written}"
    );
    assert_eq!(raw(&written), raw(text));
    let again = State::from_json(&written).expect("reparse");
    assert_eq!(again, state);
    assert_eq!(again.to_json(), written);

    // Through serde too.
    let via_serde: State = serde_json::from_str(text).expect("serde");
    assert_eq!(via_serde, state);
    assert_eq!(
        serde_json::to_string(&via_serde).expect("serialize"),
        written
    );
    assert_eq!(
        State::from_json(&state.to_json_pretty()).expect("pretty"),
        state
    );
}

#[test]
fn sdk_state_with_only_progress_markers_has_no_bookmark_value() {
    let mut state = State::from_json(
        r#"{"bookmarks": {"s": {"progress_markers": {"replication_key": "ts",
            "replication_key_value": "2030-01-01T00:00:00Z"}}}}"#,
    )
    .expect("parse");
    assert_eq!(
        state
            .bookmark_value("s", BookmarkKind::Timestamp)
            .expect("ok"),
        None
    );
    assert!(
        state
            .advance(
                "s",
                "ts",
                &json!("2024-01-01T00:00:00Z"),
                BookmarkKind::Timestamp
            )
            .expect("advance")
    );
    let bookmark = state.bookmark("s").expect("bookmark");
    assert_eq!(
        bookmark.replication_key_value,
        Some(json!("2024-01-01T00:00:00Z"))
    );
    assert!(bookmark.progress_markers().is_some());
}

#[test]
fn invalid_states_name_the_key() {
    let cases = [
        ("[]", "(top level)"),
        ("\"x\"", "(top level)"),
        (r#"{"bookmarks": []}"#, "bookmarks"),
        (r#"{"bookmarks": {"s": 1}}"#, "bookmarks.s"),
        (
            r#"{"bookmarks": {"s": {"version": -1}}}"#,
            "bookmarks.s.version",
        ),
        (
            r#"{"bookmarks": {"s": {"version": 1.5}}}"#,
            "bookmarks.s.version",
        ),
        (
            r#"{"bookmarks": {"s": {"version": "1"}}}"#,
            "bookmarks.s.version",
        ),
        (
            r#"{"bookmarks": {"s": {"replication_key": 1}}}"#,
            "bookmarks.s.replication_key",
        ),
        (
            r#"{"bookmarks": {"s": {"last_replication_method": {}}}}"#,
            "bookmarks.s.last_replication_method",
        ),
        (r#"{"currently_syncing": 3}"#, "currently_syncing"),
    ];
    for (text, expected_path) in cases {
        match State::from_json(text) {
            Err(Error::InvalidState { path, .. }) => assert_eq!(path, expected_path, "{text}"),
            other => panic!("{text}: expected InvalidState, got {other:?}"),
        }
    }
    let error = State::from_json("{\"bookmarks\":").expect_err("truncated");
    assert!(matches!(error, Error::Json { .. }));
    assert!(error.is_invalid_input());
}

#[test]
fn advance_moves_only_forward() {
    let mut state = State::new();
    let kind = BookmarkKind::Number;
    let steps = [
        ("5", true),
        ("4", false),
        ("5.0", false),
        ("5e0", false),
        ("12345678901234567890.123456789012345678", true),
        ("12345678901234567890.123456789012345677", false),
        ("12345678901234567890.123456789012345679", true),
    ];
    for (text, moved) in steps {
        assert_eq!(
            state.advance("s", "id", &raw(text), kind).expect(text),
            moved,
            "{text}"
        );
    }
    let bookmark = state.bookmark("s").expect("bookmark");
    assert_eq!(bookmark.replication_key.as_deref(), Some("id"));
    assert_eq!(
        bookmark
            .replication_key_value
            .as_ref()
            .map(ToString::to_string)
            .as_deref(),
        Some("12345678901234567890.123456789012345679")
    );
}

#[test]
fn advance_compares_timestamps_as_instants() {
    let mut state = State::new();
    let kind = BookmarkKind::Timestamp;
    assert!(
        state
            .advance("s", "ts", &json!("2024-05-01T10:00:00+02:00"), kind)
            .expect("first")
    );
    // Same instant, other offset: not greater, the stored text stays.
    assert!(
        !state
            .advance("s", "ts", &json!("2024-05-01T08:00:00Z"), kind)
            .expect("same")
    );
    assert!(
        state
            .advance("s", "ts", &json!("2024-05-01T08:00:00.000001Z"), kind)
            .expect("later")
    );
    assert_eq!(
        state
            .bookmark("s")
            .and_then(|b| b.replication_key_value.clone()),
        Some(json!("2024-05-01T08:00:00.000001Z"))
    );
}

#[test]
fn advance_refuses_mismatches_and_leaves_state_unchanged() {
    let mut state = State::new();
    state
        .advance(
            "s",
            "ts",
            &json!("2024-05-01T10:00:00"),
            BookmarkKind::Timestamp,
        )
        .expect("naive");
    let before = state.clone();

    let error = state
        .advance(
            "s",
            "ts",
            &json!("2024-05-01T10:00:00Z"),
            BookmarkKind::Timestamp,
        )
        .expect_err("kind mismatch");
    assert!(error.is_kind_mismatch(), "{error}");
    assert_eq!(state, before);

    let error = state
        .advance(
            "s",
            "other",
            &json!("2024-05-01T10:00:00"),
            BookmarkKind::Timestamp,
        )
        .expect_err("key mismatch");
    assert!(
        matches!(error, Error::ReplicationKeyMismatch { .. }),
        "{error}"
    );
    assert_eq!(state, before);

    let error = state
        .advance("s", "ts", &json!(17), BookmarkKind::Timestamp)
        .expect_err("invalid new value");
    assert!(
        matches!(&error, Error::InvalidBookmarkValue { stream, key, origin: "new", .. }
            if stream == "s" && key == "ts"),
        "{error}"
    );
    let error = state
        .advance("s", "ts", &json!(17), BookmarkKind::Number)
        .expect_err("invalid stored value");
    assert!(
        matches!(
            &error,
            Error::InvalidBookmarkValue {
                origin: "stored",
                ..
            }
        ),
        "{error}"
    );
    assert_eq!(state, before);
}

#[test]
fn set_bookmark_value_is_unconditional() {
    let mut state = State::new();
    state.set_bookmark_value("s", "id", json!(10));
    state.set_bookmark_value("s", "id", json!(3));
    let bookmark = state.bookmark("s").expect("bookmark");
    assert_eq!(bookmark.replication_key_value, Some(json!(3)));
    state.set_currently_syncing(Some("s"));
    assert_eq!(state.currently_syncing.as_deref(), Some("s"));
    state.set_currently_syncing(None);
    assert_eq!(state.currently_syncing, None);
}

#[test]
fn reconcile_resets_on_method_or_key_change() {
    let stored = r#"{"bookmarks": {"s": {
        "last_replication_method": "INCREMENTAL",
        "replication_key": "updated_at",
        "replication_key_value": "2024-01-01T00:00:00Z",
        "version": 7,
        "xmin": 99
    }}}"#;
    // (method, key, reset?)
    let cases: &[(&str, Option<&str>, bool)] = &[
        ("INCREMENTAL", Some("updated_at"), false),
        ("incremental", Some("updated_at"), false),
        ("INCREMENTAL", Some("id"), true),
        ("FULL_TABLE", None, true),
        ("FULL_TABLE", Some("updated_at"), true),
        ("LOG_BASED", None, true),
        ("INCREMENTAL", None, true),
    ];
    for (method, key, expect_reset) in cases {
        let mut state = State::from_json(stored).expect("parse");
        let reset = state.reconcile("s", method, *key);
        assert_eq!(reset, *expect_reset, "{method} {key:?}");
        let bookmark = state.bookmark("s").expect("bookmark");
        assert_eq!(bookmark.last_replication_method.as_deref(), Some(*method));
        assert_eq!(bookmark.replication_key.as_deref(), *key);
        if *expect_reset {
            assert_eq!(bookmark.replication_key_value, None);
            assert_eq!(bookmark.version, None);
            assert!(bookmark.extra.is_empty());
        } else {
            assert_eq!(
                bookmark.replication_key_value,
                Some(json!("2024-01-01T00:00:00Z"))
            );
            assert_eq!(bookmark.version, Some(7));
            assert_eq!(bookmark.extra.get("xmin"), Some(&json!(99)));
        }
    }
}

#[test]
fn reconcile_keeps_bookmarks_without_a_recorded_method_or_key() {
    // A Meltano SDK state records neither the method nor always the key.
    let mut state = State::from_json(
        r#"{"bookmarks": {"s": {"replication_key_value": 10}, "t": {"replication_key": "id", "replication_key_value": 3}}}"#,
    )
    .expect("parse");
    assert!(!state.reconcile("s", "INCREMENTAL", Some("id")));
    assert_eq!(
        state
            .bookmark("s")
            .and_then(|b| b.replication_key_value.clone()),
        Some(json!(10))
    );
    assert!(!state.reconcile("t", "INCREMENTAL", Some("id")));
    // No bookmark yet: nothing to reset, and the bookmark records the method.
    assert!(!state.reconcile("new", "FULL_TABLE", None));
    assert_eq!(
        state
            .bookmark("new")
            .and_then(|b| b.last_replication_method.clone()),
        Some("FULL_TABLE".to_owned())
    );
}
