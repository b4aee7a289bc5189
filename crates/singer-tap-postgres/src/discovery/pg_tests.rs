//! Discovery (issue #4 part 3) against the real PostgreSQL: relation kinds,
//! column order, key order, filters, odd names, type resolution, row
//! estimates, privileges, and 1,000 tables.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers: a failure must abort the test loudly"
)]

use crate::discovery::{DiscoveryFilter, TableInfo, TableKind, discover};
use crate::pg::Client;
use crate::types::ValuePolicy;
use serde_json::{Value, json};

fn database(prefix: &str, setup: &str) -> (Client, String) {
    let cluster = singer_testkit::postgres().expect("a throwaway PostgreSQL (see singer-testkit)");
    let db = cluster.create_database(prefix).expect("create database");
    let mut client =
        crate::pg::Client::connect_str(&cluster.connection_string(&db)).expect("connect");
    client.batch_execute(setup).expect("setup");
    (client, db)
}

fn all(client: &mut Client) -> Vec<TableInfo> {
    discover(client, &DiscoveryFilter::default(), ValuePolicy::default()).expect("discover")
}

fn names(tables: &[TableInfo]) -> Vec<String> {
    tables.iter().map(TableInfo::tap_stream_id).collect()
}

fn table<'a>(tables: &'a [TableInfo], id: &str) -> &'a TableInfo {
    tables
        .iter()
        .find(|t| t.tap_stream_id() == id)
        .unwrap_or_else(|| panic!("{id} not in {:?}", names(tables)))
}

const KINDS: &str = r"
CREATE SCHEMA s;
CREATE TABLE s.orders (
    region text NOT NULL,
    note text,
    id bigint NOT NULL,
    amount numeric(12,2),
    updated_at timestamptz,
    tags text[],
    PRIMARY KEY (id, region)
);
ALTER TABLE s.orders DROP COLUMN note;
CREATE VIEW s.order_view AS SELECT id, amount FROM s.orders;
CREATE MATERIALIZED VIEW s.order_totals AS SELECT region, sum(amount) AS total FROM s.orders GROUP BY region;
CREATE TABLE s.events (id int NOT NULL, at date NOT NULL, payload jsonb, PRIMARY KEY (at, id)) PARTITION BY RANGE (at);
CREATE TABLE s.events_2024 PARTITION OF s.events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE s.events_2025 PARTITION OF s.events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE public.nokey (a int);
CREATE TEMPORARY TABLE temp_table (a int);
";

#[test]
fn tables_views_matviews_and_partitioned_tables() {
    let (mut client, db) = database("disc_kinds", KINDS);
    let tables = all(&mut client);
    assert_eq!(
        names(&tables),
        [
            "public-nokey",
            "s-events",
            "s-order_totals",
            "s-order_view",
            "s-orders"
        ],
        "partitions and temporary tables are not listed"
    );
    let kinds: Vec<TableKind> = tables.iter().map(|t| t.kind).collect();
    assert_eq!(
        kinds,
        [
            TableKind::Table,
            TableKind::PartitionedTable,
            TableKind::MaterializedView,
            TableKind::View,
            TableKind::Table
        ]
    );

    let orders = table(&tables, "s-orders");
    let columns: Vec<(&str, bool, &str)> = orders
        .columns
        .iter()
        .map(|c| (c.name.as_str(), c.nullable, c.codec.sql_datatype()))
        .collect();
    assert_eq!(
        columns,
        [
            ("region", false, "text"),
            ("id", false, "bigint"),
            ("amount", true, "numeric(12,2)"),
            ("updated_at", true, "timestamp with time zone"),
            ("tags", true, "text[]"),
        ],
        "table order, dropped column gone"
    );
    assert_eq!(
        orders.primary_key,
        ["id", "region"],
        "key order, not column order"
    );
    assert_eq!(table(&tables, "s-events").primary_key, ["at", "id"]);
    assert!(table(&tables, "s-order_view").primary_key.is_empty());

    let entry = orders.catalog_entry(&db);
    let entry = serde_json::to_value(&entry).expect("serialize");
    assert_eq!(
        entry,
        json!({
            "tap_stream_id": "s-orders",
            "stream": "s-orders",
            "schema": {
                "type": "object",
                "properties": {
                    "region": {"type": "string"},
                    "id": {"type": "integer"},
                    "amount": {"type": ["string", "null"], "format": "x-singer.decimal", "precision": 12, "scale": 2},
                    "updated_at": {"type": ["string", "null"], "format": "date-time"},
                    "tags": {"type": ["array", "null"], "items": {"anyOf": [{"type": ["string", "null"]}, {"type": "array"}]}}
                }
            },
            "metadata": [
                {"breadcrumb": [], "metadata": {
                    "selected-by-default": false,
                    "inclusion": "available",
                    "table-key-properties": ["id", "region"],
                    "valid-replication-keys": ["region", "id", "amount", "updated_at"],
                    "is-view": false,
                    "database-name": db,
                    "schema-name": "s"
                }},
                {"breadcrumb": ["properties", "region"], "metadata": {"inclusion": "automatic", "selected-by-default": true, "sql-datatype": "text"}},
                {"breadcrumb": ["properties", "id"], "metadata": {"inclusion": "automatic", "selected-by-default": true, "sql-datatype": "bigint"}},
                {"breadcrumb": ["properties", "amount"], "metadata": {"inclusion": "available", "selected-by-default": true, "sql-datatype": "numeric(12,2)"}},
                {"breadcrumb": ["properties", "updated_at"], "metadata": {"inclusion": "available", "selected-by-default": true, "sql-datatype": "timestamp with time zone"}},
                {"breadcrumb": ["properties", "tags"], "metadata": {"inclusion": "available", "selected-by-default": true, "sql-datatype": "text[]"}}
            ],
            "table_name": "orders",
            "key_properties": ["id", "region"]
        })
    );
    // Property order follows the table.
    let properties: Vec<&String> = entry["schema"]["properties"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(properties, ["region", "id", "amount", "updated_at", "tags"]);

    // Views and materialized views are views; the catalog entry round-trips
    // through singer-protocol's reader.
    for id in ["s-order_view", "s-order_totals"] {
        let entry = table(&tables, id).catalog_entry(&db);
        assert_eq!(entry.metadata.root().unwrap()["is-view"], Value::Bool(true));
        assert!(!entry.is_selected(), "selected-by-default is false");
        assert!(entry.key_properties().unwrap().is_empty());
        let text = serde_json::to_string(&entry).unwrap();
        let back: singer_protocol::CatalogEntry = serde_json::from_str(&text).unwrap();
        assert_eq!(back, entry);
    }
}

const FILTERS: &str = r"
CREATE SCHEMA sales;
CREATE SCHEMA hr;
CREATE SCHEMA audit;
CREATE TABLE sales.orders (id int);
CREATE TABLE sales.order_lines (id int);
CREATE TABLE sales.orders_backup (id int);
CREATE TABLE hr.people (id int);
CREATE TABLE audit.log (id int);
CREATE TABLE public.t1 (id int);
";

#[test]
fn schema_and_glob_filters() {
    let (mut client, _db) = database("disc_filters", FILTERS);
    let mut run = |schemas: &[&str], include: &[&str], exclude: &[&str]| {
        let filter = DiscoveryFilter {
            schemas: schemas.iter().map(|s| (*s).to_owned()).collect(),
            include: include.iter().map(|s| (*s).to_owned()).collect(),
            exclude: exclude.iter().map(|s| (*s).to_owned()).collect(),
        };
        names(&discover(&mut client, &filter, ValuePolicy::default()).expect("discover"))
    };
    assert_eq!(
        run(&[], &[], &[]),
        [
            "audit-log",
            "hr-people",
            "public-t1",
            "sales-order_lines",
            "sales-orders",
            "sales-orders_backup"
        ]
    );
    assert_eq!(run(&["hr", "audit"], &[], &[]), ["audit-log", "hr-people"]);
    assert_eq!(run(&["nope"], &[], &[]), Vec::<String>::new());
    assert_eq!(
        run(&[], &["sales.*"], &["*_backup"]),
        ["sales-order_lines", "sales-orders"]
    );
    assert_eq!(run(&["sales"], &["*.order?"], &[]), ["sales-orders"]);
    assert_eq!(run(&[], &["*.t?", "hr.*"], &[]), ["hr-people", "public-t1"]);
    assert_eq!(
        run(&[], &[], &["sales.*", "*.log"]),
        ["hr-people", "public-t1"]
    );
    assert_eq!(
        run(&["pg_catalog"], &["*.pg_class"], &[]),
        ["pg_catalog-pg_class"]
    );
}

const ODD_NAMES: &str = r#"
CREATE SCHEMA "Odd Schema";
CREATE TABLE "Odd Schema"."Mixed Case" ("Id" int PRIMARY KEY, "a b" text, "we""ird" text, "ünï 😀" text, "select" int);
INSERT INTO "Odd Schema"."Mixed Case" VALUES (1, 'x', 'y', 'z', 2);
CREATE TABLE public."ta""ble.with dot" (x int);
"#;

#[test]
fn odd_names_are_kept_and_quoted() {
    let (mut client, db) = database("disc_odd", ODD_NAMES);
    let tables = all(&mut client);
    assert_eq!(
        names(&tables),
        ["Odd Schema-Mixed Case", "public-ta\"ble.with dot"]
    );
    let odd = &tables[0];
    let columns: Vec<&str> = odd.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(columns, ["Id", "a b", "we\"ird", "ünï 😀", "select"]);
    assert_eq!(odd.primary_key, ["Id"]);
    assert_eq!(odd.quoted_name(), r#""Odd Schema"."Mixed Case""#);
    let select: Vec<String> = odd
        .columns
        .iter()
        .map(crate::discovery::ColumnInfo::select_expr)
        .collect();
    let row = client
        .query_one(
            &format!("SELECT {} FROM {}", select.join(", "), odd.quoted_name()),
            &[],
        )
        .expect("the quoted names work in SQL");
    assert_eq!(row.get::<_, String>(3), "z");
    let entry = odd.catalog_entry(&db);
    assert_eq!(entry.extra["table_name"], json!("Mixed Case"));
    assert!(entry.metadata.property("we\"ird").is_some());
    client
        .query_one(
            &format!("SELECT count(*) FROM {}", tables[1].quoted_name()),
            &[],
        )
        .expect("quoted");
    let filter = DiscoveryFilter {
        include: vec!["Odd Schema.Mixed*".to_owned()],
        ..DiscoveryFilter::default()
    };
    let found = discover(&mut client, &filter, ValuePolicy::default()).expect("discover");
    assert_eq!(names(&found), ["Odd Schema-Mixed Case"]);
}

const RESOLUTION: &str = r"
CREATE TYPE mood AS ENUM ('sad', 'happy');
CREATE DOMAIN amount AS numeric(10,3);
CREATE DOMAIN positive_amount AS amount CHECK (VALUE > 0);
CREATE DOMAIN ids AS bigint[];
CREATE DOMAIN address AS inet;
CREATE DOMAIN short_text AS varchar(8);
CREATE TABLE r (
    m mood, ms mood[], a amount, pa positive_amount NOT NULL, pas positive_amount[],
    i ids, ad address, st short_text, st_arr short_text[], iv int2vector, ip inet[], mac macaddr[]
);
";

#[test]
fn domains_enums_and_arrays_resolve() {
    let (mut client, _db) = database("disc_resolve", RESOLUTION);
    let tables = all(&mut client);
    let r = table(&tables, "public-r");
    let schema = |name: &str| {
        let column = r.column(name).expect("column");
        (
            column.codec.sql_datatype().to_owned(),
            column.codec.json_schema(column.nullable).to_string(),
            column.select_expr(),
        )
    };
    let s = |a: &str, b: &str, c: &str| (a.to_owned(), b.to_owned(), c.to_owned());
    assert_eq!(
        schema("m"),
        s("mood", r#"{"type":["string","null"]}"#, r#""m""#)
    );
    assert_eq!(
        schema("ms"),
        s(
            "mood[]",
            r#"{"type":["array","null"],"items":{"anyOf":[{"type":["string","null"]},{"type":"array"}]}}"#,
            r#""ms""#
        )
    );
    assert_eq!(
        schema("a"),
        s(
            "amount",
            r#"{"type":["string","null"],"format":"x-singer.decimal","precision":10,"scale":3}"#,
            r#""a""#
        )
    );
    assert_eq!(
        schema("pa"),
        s(
            "positive_amount",
            r#"{"type":"string","format":"x-singer.decimal","precision":10,"scale":3}"#,
            r#""pa""#
        )
    );
    assert_eq!(
        schema("pas"),
        s(
            "positive_amount[]",
            r#"{"type":["array","null"],"items":{"anyOf":[{"type":["string","null"],"format":"x-singer.decimal","precision":10,"scale":3},{"type":"array"}]}}"#,
            r#""pas""#
        )
    );
    assert_eq!(
        schema("i"),
        s(
            "ids",
            r#"{"type":["array","null"],"items":{"anyOf":[{"type":["integer","null"]},{"type":"array"}]}}"#,
            r#""i""#
        )
    );
    assert_eq!(
        schema("ad"),
        s("address", r#"{"type":["string","null"]}"#, r#""ad""#)
    );
    assert_eq!(
        schema("st"),
        s(
            "short_text",
            r#"{"type":["string","null"],"maxLength":8}"#,
            r#""st""#
        )
    );
    assert_eq!(
        schema("st_arr"),
        s(
            "short_text[]",
            r#"{"type":["array","null"],"items":{"anyOf":[{"type":["string","null"],"maxLength":8},{"type":"array"}]}}"#,
            r#""st_arr""#
        )
    );
    assert_eq!(
        schema("iv"),
        s(
            "int2vector",
            r#"{"type":["array","null"],"items":{"anyOf":[{"type":["integer","null"]},{"type":"array"}]}}"#,
            r#""iv""#
        )
    );
    assert_eq!(
        schema("ip"),
        s(
            "inet[]",
            r#"{"type":["array","null"],"items":{"anyOf":[{"type":["string","null"]},{"type":"array"}]}}"#,
            r#""ip""#
        )
    );
    assert_eq!(
        schema("mac"),
        s(
            "macaddr[]",
            r#"{"type":["array","null"],"items":{"anyOf":[{"type":["string","null"]},{"type":"array"}]}}"#,
            r#""mac"::text[]"#
        )
    );
    let keys = r.catalog_entry("db").metadata.root().unwrap()["valid-replication-keys"].clone();
    assert_eq!(keys, json!(["a", "pa", "st"]), "not enums");
}

#[test]
fn row_estimates_after_analyze() {
    let (mut client, _db) = database(
        "disc_rows",
        "CREATE TABLE big (id int); INSERT INTO big SELECT generate_series(1, 5000);
         CREATE TABLE empty_analyzed (id int);
         CREATE TABLE never_analyzed (id int);
         CREATE VIEW v AS SELECT * FROM big;",
    );
    let before = all(&mut client);
    assert_eq!(
        table(&before, "public-big").row_estimate,
        None,
        "never analyzed: unknown"
    );
    client
        .batch_execute("ANALYZE big; ANALYZE empty_analyzed;")
        .expect("analyze");
    let after = all(&mut client);
    assert_eq!(table(&after, "public-big").row_estimate, Some(5000));
    assert_eq!(table(&after, "public-empty_analyzed").row_estimate, Some(0));
    assert_eq!(table(&after, "public-never_analyzed").row_estimate, None);
    assert_eq!(table(&after, "public-v").row_estimate, None);
    let root = table(&after, "public-big")
        .catalog_entry("d")
        .metadata
        .root()
        .cloned()
        .unwrap();
    assert_eq!(root["row-count"], json!(5000));
    let root = table(&after, "public-v")
        .catalog_entry("d")
        .metadata
        .root()
        .cloned()
        .unwrap();
    assert!(!root.contains_key("row-count"));
}

#[test]
fn only_readable_tables_and_columns_are_listed() {
    let (mut client, db) = database(
        "disc_privileges",
        "CREATE TABLE open_t (a int, b int);
         CREATE TABLE secret (a int);
         CREATE TABLE partly (visible int, hidden int);",
    );
    let role = format!("reader_{db}");
    client
        .batch_execute(&format!(
            "CREATE ROLE {role};
             GRANT SELECT ON open_t TO {role};
             GRANT SELECT (visible) ON partly TO {role};
             SET ROLE {role};"
        ))
        .expect("role");
    let tables = all(&mut client);
    assert_eq!(names(&tables), ["public-open_t", "public-partly"]);
    let partly: Vec<&str> = tables[1].columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(partly, ["visible"]);
    client
        .batch_execute(&format!(
            "RESET ROLE; DROP OWNED BY {role}; DROP ROLE {role};"
        ))
        .expect("cleanup");
}

#[test]
fn a_thousand_tables_in_a_fixed_number_of_queries() {
    let (mut client, db) = database(
        "disc_thousand",
        "CREATE SCHEMA many;
         DO $$ BEGIN
           FOR i IN 1..1000 LOOP
             EXECUTE format(
               'CREATE TABLE many.t%s (id bigint PRIMARY KEY, name text NOT NULL, amount numeric(18,4),
                  created_at timestamptz, updated_at timestamp, flag boolean, payload jsonb,
                  tags text[], ref uuid, note varchar(%s))', lpad(i::text, 4, '0'), i);
           END LOOP;
         END $$;",
    );
    let tables = all(&mut client);
    assert_eq!(tables.len(), 1000);
    for (i, t) in tables.iter().enumerate() {
        let n = i + 1;
        assert_eq!(t.schema, "many");
        assert_eq!(t.name, format!("t{n:04}"));
        assert_eq!(t.columns.len(), 10);
        assert_eq!(t.primary_key, ["id"]);
        assert_eq!(
            t.columns[9].codec.sql_datatype(),
            format!("character varying({n})")
        );
        assert_eq!(
            t.columns[9].codec.json_schema(true),
            json!({"type": ["string", "null"], "maxLength": n})
        );
    }
    let entry = tables[499].catalog_entry(&db);
    assert_eq!(entry.tap_stream_id, "many-t0500");
    assert_eq!(
        entry.metadata.root().unwrap()["valid-replication-keys"],
        json!([
            "id",
            "name",
            "amount",
            "created_at",
            "updated_at",
            "ref",
            "note"
        ])
    );
}
