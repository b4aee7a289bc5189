//! The commit's SQL, exactly, without the double.

use super::*;

fn table() -> TableName {
    TableName {
        schema: "RAW".to_owned(),
        table: "ITEMS".to_owned(),
    }
}

fn idents(names: &[&str]) -> Vec<String> {
    names.iter().map(|&n| n.to_owned()).collect()
}

#[test]
fn overwrite_empties_the_table() {
    let statement = overwrite(&table());
    assert_eq!(statement.sql, r#"DELETE FROM "RAW"."ITEMS""#);
    assert_eq!(statement.action, r#"emptying "RAW"."ITEMS" (overwrite)"#);
    assert!(statement.binds.is_empty() && statement.schema.is_none());
}

#[test]
fn merge_keeps_the_last_staged_row_per_key() {
    let statement = merge(
        &table(),
        r#""_SINGER_RS_STAGE_1""#,
        &idents(&["ID", "V", "W"]),
        &[0],
        None,
    );
    assert_eq!(
        statement.sql,
        r#"MERGE INTO "RAW"."ITEMS" t USING (SELECT * FROM "_SINGER_RS_STAGE_1" QUALIFY ROW_NUMBER() OVER (PARTITION BY "C0" ORDER BY "_SINGER_RS_ROW" DESC) = 1) s ON t."ID" = s."C0" WHEN MATCHED THEN UPDATE SET "V" = s."C1", "W" = s."C2" WHEN NOT MATCHED THEN INSERT ("ID", "V", "W") VALUES (s."C0", s."C1", s."C2")"#
    );
    assert_eq!(statement.action, r#"merging into "RAW"."ITEMS""#);
    // It names the staging table unqualified: the table's schema first.
    assert_eq!(statement.schema.as_deref(), Some("RAW"));
    assert!(statement.binds.is_empty());
}

#[test]
fn merge_on_a_compound_key_revives_soft_deleted_rows() {
    let statement = merge(
        &table(),
        r#""_SINGER_RS_STAGE_2""#,
        &idents(&["A", "B", "V"]),
        &[1, 0],
        Some("_SDC_DELETED_AT"),
    );
    assert_eq!(
        statement.sql,
        r#"MERGE INTO "RAW"."ITEMS" t USING (SELECT * FROM "_SINGER_RS_STAGE_2" QUALIFY ROW_NUMBER() OVER (PARTITION BY "C1", "C0" ORDER BY "_SINGER_RS_ROW" DESC) = 1) s ON t."B" = s."C1" AND t."A" = s."C0" WHEN MATCHED THEN UPDATE SET "V" = s."C2", "_SDC_DELETED_AT" = NULL WHEN NOT MATCHED THEN INSERT ("A", "B", "V") VALUES (s."C0", s."C1", s."C2")"#
    );
}

#[test]
fn merge_of_keys_only_has_no_update() {
    let statement = merge(&table(), r#""S""#, &idents(&["ID"]), &[0], None);
    assert_eq!(
        statement.sql,
        r#"MERGE INTO "RAW"."ITEMS" t USING (SELECT * FROM "S" QUALIFY ROW_NUMBER() OVER (PARTITION BY "C0" ORDER BY "_SINGER_RS_ROW" DESC) = 1) s ON t."ID" = s."C0" WHEN NOT MATCHED THEN INSERT ("ID") VALUES (s."C0")"#
    );
}

#[test]
fn insert_appends_in_staging_order_with_quoted_names() {
    let statement = insert(
        &table(),
        r#""_SINGER_RS_STAGE_3""#,
        &idents(&["ID", "say \"hi\""]),
    );
    assert_eq!(
        statement.sql,
        r#"INSERT INTO "RAW"."ITEMS" ("ID", "say ""hi""") SELECT "C0", "C1" FROM "_SINGER_RS_STAGE_3" ORDER BY "_SINGER_RS_ROW""#
    );
    assert_eq!(statement.action, r#"inserting into "RAW"."ITEMS""#);
    assert_eq!(statement.schema.as_deref(), Some("RAW"));
}

#[test]
fn hard_delete_removes_rows_marked_deleted() {
    let statement = hard_delete(&table(), "_SDC_DELETED_AT");
    assert_eq!(
        statement.sql,
        r#"DELETE FROM "RAW"."ITEMS" WHERE "_SDC_DELETED_AT" IS NOT NULL"#
    );
    assert_eq!(
        statement.action,
        r#"hard-deleting rows of "RAW"."ITEMS" with "_SDC_DELETED_AT" set"#
    );
}

#[test]
fn activate_version_deletes_or_soft_deletes_other_versions() {
    let hard = activate(&table(), "_SDC_TABLE_VERSION", 7, Removal::Hard);
    assert_eq!(
        hard.sql,
        r#"DELETE FROM "RAW"."ITEMS" WHERE ("_SDC_TABLE_VERSION" IS NULL OR "_SDC_TABLE_VERSION" <> 7)"#
    );
    assert_eq!(
        hard.action,
        r#"deleting rows of other versions than 7 from "RAW"."ITEMS""#
    );
    assert!(hard.binds.is_empty());

    let soft = activate(
        &table(),
        "_SDC_TABLE_VERSION",
        7,
        Removal::Soft {
            column: "_SDC_DELETED_AT",
            timestamps: TimestampType::TZ,
            now: "2024-01-02 03:04:05.000006",
        },
    );
    assert_eq!(
        soft.sql,
        r#"UPDATE "RAW"."ITEMS" SET "_SDC_DELETED_AT" = CAST(? AS TIMESTAMP_TZ) WHERE "_SDC_DELETED_AT" IS NULL AND ("_SDC_TABLE_VERSION" IS NULL OR "_SDC_TABLE_VERSION" <> 7)"#
    );
    assert_eq!(
        soft.binds,
        [Bind::Text("2024-01-02 03:04:05.000006".to_owned())]
    );
    assert!(soft.schema.is_none());
}

#[test]
fn the_soft_delete_time_has_microseconds() {
    let now = now_literal();
    assert_eq!(now.len(), "2024-01-02 03:04:05.000006".len(), "{now}");
}
