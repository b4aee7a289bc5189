//! Schema evolution decisions.

use serde_json::json;
use singer_schema::{Column, ColumnType as T, Decision, Evolution, TypeOptions, evolve, plan};

fn col(ty: T, nullable: bool) -> Column {
    Column::new(ty, nullable)
}

fn widen_to(existing: Column, new: Column) -> Column {
    match evolve(&existing, &new) {
        Evolution::Widen { from, to } => {
            assert_eq!(from, existing);
            to
        }
        other => panic!("{existing} → {new}: expected Widen, got {other:?}"),
    }
}

#[test]
fn same_when_the_column_already_holds_the_values() {
    let same = [
        (col(T::Integer, true), col(T::Integer, true)),
        (col(T::Integer, true), col(T::Integer, false)),
        (
            col(T::String { max_len: Some(64) }, true),
            col(T::String { max_len: Some(32) }, true),
        ),
        (
            col(T::String { max_len: None }, true),
            col(T::Integer, true),
        ),
        (
            col(
                T::Decimal {
                    precision: 38,
                    scale: 9,
                },
                true,
            ),
            col(T::Integer, true),
        ),
        (
            col(
                T::Decimal {
                    precision: 38,
                    scale: 9,
                },
                true,
            ),
            col(
                T::Decimal {
                    precision: 10,
                    scale: 2,
                },
                true,
            ),
        ),
        (col(T::Timestamp { tz: true }, true), col(T::Date, true)),
        (col(T::Json, true), col(T::Integer, false)),
        (col(T::Float, true), col(T::Integer, true)),
    ];
    for (existing, new) in same {
        assert_eq!(
            evolve(&existing, &new),
            Evolution::Same,
            "{existing} ← {new}"
        );
    }
}

#[test]
fn widenings() {
    let cases = [
        (
            col(T::String { max_len: Some(32) }, true),
            col(T::String { max_len: Some(64) }, true),
            col(T::String { max_len: Some(64) }, true),
        ),
        (
            col(T::String { max_len: Some(32) }, true),
            col(T::String { max_len: None }, true),
            col(T::String { max_len: None }, true),
        ),
        (
            col(
                T::Decimal {
                    precision: 10,
                    scale: 2,
                },
                true,
            ),
            col(
                T::Decimal {
                    precision: 8,
                    scale: 4,
                },
                true,
            ),
            col(
                T::Decimal {
                    precision: 12,
                    scale: 4,
                },
                true,
            ),
        ),
        (
            col(T::Integer, true),
            col(
                T::Decimal {
                    precision: 38,
                    scale: 9,
                },
                true,
            ),
            col(
                T::Decimal {
                    precision: 38,
                    scale: 9,
                },
                true,
            ),
        ),
        (
            col(T::Integer, true),
            col(T::Float, true),
            col(T::Float, true),
        ),
        (
            col(T::Date, true),
            col(T::Timestamp { tz: false }, true),
            col(T::Timestamp { tz: false }, true),
        ),
        (
            col(T::Timestamp { tz: false }, true),
            col(T::Timestamp { tz: true }, true),
            col(T::Timestamp { tz: true }, true),
        ),
        (
            col(T::Integer, true),
            col(T::String { max_len: Some(10) }, true),
            col(T::String { max_len: None }, true),
        ),
        (
            col(
                T::Decimal {
                    precision: 10,
                    scale: 2,
                },
                true,
            ),
            col(T::Float, true),
            col(T::String { max_len: None }, true),
        ),
        (
            col(T::Boolean, true),
            col(T::Integer, true),
            col(T::String { max_len: None }, true),
        ),
        // Nullability only relaxes.
        (
            col(T::Integer, false),
            col(T::Integer, true),
            col(T::Integer, true),
        ),
    ];
    for (existing, new, expected) in cases {
        assert_eq!(widen_to(existing, new), expected, "{existing} ← {new}");
    }
    // The empty-string marker travels with the new column.
    let new = Column {
        ty: T::Float,
        nullable: true,
        empty_string_is_null: true,
    };
    assert!(widen_to(col(T::Integer, true), new).empty_string_is_null);
}

#[test]
fn incompatible_names_both_types_and_what_to_do() {
    for existing in [
        col(T::Integer, true),
        col(T::String { max_len: None }, true),
        col(T::Timestamp { tz: true }, true),
    ] {
        match evolve(&existing, &col(T::Json, true)) {
            Evolution::Incompatible { from, to, message } => {
                assert_eq!(from, existing);
                assert_eq!(to.ty, T::Json);
                assert!(message.contains(&existing.ty.to_string()), "{message}");
                assert!(message.contains("rename or drop the column"), "{message}");
            }
            other => panic!("{existing} ← json: {other:?}"),
        }
    }
}

#[test]
fn plan_adds_widens_and_never_drops() {
    let existing = vec![
        ("ID".to_owned(), col(T::Integer, false)),
        (
            "title".to_owned(),
            col(T::String { max_len: Some(32) }, true),
        ),
        (
            "amount".to_owned(),
            col(
                T::Decimal {
                    precision: 10,
                    scale: 2,
                },
                true,
            ),
        ),
        ("payload".to_owned(), col(T::Integer, true)),
        ("removed".to_owned(), col(T::Boolean, true)),
    ];
    let schema = json!({"type": "object", "properties": {
        "id": {"type": "integer"},
        "title": {"type": ["null", "string"], "maxLength": 255},
        "amount": {"type": ["null", "string"], "format": "x-singer.decimal", "precision": 10, "scale": 2},
        "payload": {"type": ["null", "object"]},
        "new_col": {"type": ["null", "string"], "format": "date-time"},
    }});
    let plan = plan(&existing, &schema, &TypeOptions::default()).unwrap();
    let names: Vec<_> = plan.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["id", "title", "amount", "payload", "new_col"],
        "no decision for `removed`"
    );
    assert_eq!(plan[0].1, Decision::Same, "matched case-insensitively");
    assert_eq!(
        plan[1].1,
        Decision::Widen {
            from: col(T::String { max_len: Some(32) }, true),
            to: col(T::String { max_len: Some(255) }, true)
        }
    );
    assert_eq!(plan[2].1, Decision::Same);
    assert!(matches!(plan[3].1, Decision::Incompatible { .. }));
    assert_eq!(
        plan[4].1,
        Decision::AddColumn(col(T::Timestamp { tz: true }, true))
    );
}
