//! The DDL and evolution SQL, exactly, without the double.

use super::*;

fn table() -> TableName {
    TableName {
        schema: "RAW".to_owned(),
        table: "THINGS".to_owned(),
    }
}

const INT: SqlType = SqlType::Number {
    precision: 38,
    scale: 0,
};

fn sql(statements: &[Statement]) -> Vec<&str> {
    statements.iter().map(|s| s.sql.as_str()).collect()
}

#[test]
fn schemas_and_tables_are_created_if_missing() {
    let schema = create_schema("RAW");
    assert_eq!(schema.sql, r#"CREATE SCHEMA IF NOT EXISTS "RAW""#);
    assert_eq!(schema.action, r#"creating schema "RAW""#);
    let created = create_table(
        &table(),
        &[
            ("ID", INT),
            ("NAME", SqlType::Varchar(Some(8))),
            ("at", SqlType::Timestamp(TimestampType::NTZ)),
        ],
    );
    assert_eq!(
        created.sql,
        r#"CREATE TABLE IF NOT EXISTS "RAW"."THINGS" ("ID" NUMBER(38,0), "NAME" VARCHAR(8), "at" TIMESTAMP_NTZ)"#
    );
    assert_eq!(created.action, r#"creating table "RAW"."THINGS""#);
}

#[test]
fn columns_are_read_with_bound_names() {
    let query = read_columns(&table());
    assert_eq!(
        query.sql,
        "SELECT column_name, data_type, character_maximum_length, numeric_precision, \
         numeric_scale FROM information_schema.columns WHERE table_schema = ? AND table_name = ? \
         ORDER BY ordinal_position"
    );
    assert_eq!(
        query.binds,
        [
            Bind::Text("RAW".to_owned()),
            Bind::Text("THINGS".to_owned())
        ]
    );
}

#[test]
fn a_new_column_is_added_if_missing() {
    let added = add_column(&table(), "EXTRA", SqlType::Float);
    assert_eq!(
        added.sql,
        r#"ALTER TABLE "RAW"."THINGS" ADD COLUMN IF NOT EXISTS "EXTRA" FLOAT"#
    );
    assert_eq!(added.action, r#"adding column "EXTRA" to "RAW"."THINGS""#);
}

#[test]
fn varchar_and_number_precision_widen_in_place() {
    let (to, statements) = evolve_column(
        &table(),
        "NAME",
        SqlType::Varchar(Some(3)),
        SqlType::Varchar(Some(8)),
        TimestampType::NTZ,
    )
    .expect("a widening")
    .expect("a change");
    assert_eq!(to, SqlType::Varchar(Some(8)));
    assert_eq!(
        sql(&statements),
        [r#"ALTER TABLE "RAW"."THINGS" ALTER COLUMN "NAME" SET DATA TYPE VARCHAR(8)"#]
    );
    // The same type, or a narrower one, changes nothing.
    for new in [SqlType::Varchar(Some(8)), SqlType::Varchar(Some(2))] {
        assert_eq!(
            evolve_column(
                &table(),
                "NAME",
                SqlType::Varchar(Some(8)),
                new,
                TimestampType::NTZ
            )
            .expect("no error"),
            None
        );
    }
}

#[test]
fn integer_to_decimal_widens_by_copy() {
    let (to, statements) = evolve_column(
        &table(),
        "AMOUNT",
        INT,
        SqlType::Number {
            precision: 20,
            scale: 2,
        },
        TimestampType::NTZ,
    )
    .expect("a widening")
    .expect("a change");
    assert_eq!(to.to_string(), "NUMBER(21,2)");
    assert_eq!(
        sql(&statements),
        [
            format!(
                r#"ALTER TABLE "RAW"."THINGS" ADD COLUMN IF NOT EXISTS "AMOUNT__SINGER_WIDEN" {to}"#
            ),
            format!(r#"UPDATE "RAW"."THINGS" SET "AMOUNT__SINGER_WIDEN" = "AMOUNT"::{to}"#),
            r#"ALTER TABLE "RAW"."THINGS" DROP COLUMN "AMOUNT""#.to_owned(),
            r#"ALTER TABLE "RAW"."THINGS" RENAME COLUMN "AMOUNT__SINGER_WIDEN" TO "AMOUNT""#
                .to_owned(),
        ]
    );
    assert_eq!(
        statements.first().map(|s| s.action.as_str()),
        Some(
            format!(r#"widening "RAW"."THINGS"."AMOUNT" from NUMBER(38,0) to {to} (copy)"#)
                .as_str()
        )
    );
}

#[test]
fn an_incompatible_change_names_table_column_and_types() {
    let error = evolve_column(
        &table(),
        "PAYLOAD",
        INT,
        SqlType::Variant,
        TimestampType::NTZ,
    )
    .expect_err("incompatible");
    assert!(
        matches!(
            &error,
            Error::IncompatibleColumn { table, column, old, new, .. }
                if table == r#""RAW"."THINGS""# && column == r#""PAYLOAD""#
                    && old == "NUMBER(38,0)" && new == "VARIANT"
        ),
        "{error}"
    );
}

#[test]
fn unfinished_widenings_are_finished_or_redone() {
    let mut existing: Columns = vec![
        ("ID".to_owned(), Some(INT)),
        // The copy was interrupted before the old column was dropped: redo.
        ("A".to_owned(), Some(INT)),
        ("A__SINGER_WIDEN".to_owned(), Some(SqlType::Float)),
        // Interrupted after the drop: finish with the rename.
        ("B__SINGER_WIDEN".to_owned(), Some(SqlType::Varchar(None))),
    ];
    let statements = recover_widenings(&table(), &mut existing);
    assert_eq!(
        sql(&statements),
        [
            r#"ALTER TABLE "RAW"."THINGS" DROP COLUMN "A__SINGER_WIDEN""#,
            r#"ALTER TABLE "RAW"."THINGS" RENAME COLUMN "B__SINGER_WIDEN" TO "B""#,
        ]
    );
    assert_eq!(
        existing,
        [
            ("ID".to_owned(), Some(INT)),
            ("A".to_owned(), Some(INT)),
            ("B".to_owned(), Some(SqlType::Varchar(None))),
        ]
    );
    let mut clean: Columns = vec![("ID".to_owned(), Some(INT))];
    assert!(recover_widenings(&table(), &mut clean).is_empty());
}
