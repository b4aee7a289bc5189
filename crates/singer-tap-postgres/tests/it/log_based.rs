//! LOG_BASED against the throwaway PostgreSQL (started with
//! `wal_level = logical`): bootstrap by the initial copy, inserts,
//! updates and deletes replayed with `_sdc_lsn` and `_sdc_deleted_at`,
//! positions confirmed from the state handed in, unchanged TOASTed values,
//! two tables on one slot, an idle table, a change of shape, and the
//! preflight's refusals.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use singer_protocol::{Catalog, Message, ReplicationMethod};
use singer_state::State;
use singer_tap_postgres::{SyncOptions, sync};

use crate::sync::{Db, catalog, db, run};

fn log_catalog(db: &Db, streams: &[&str]) -> Catalog {
    let mut merged: Option<Catalog> = None;
    for stream in streams {
        let one = catalog(db, stream, ReplicationMethod::LogBased, None, false);
        match &mut merged {
            Some(all) => all.streams.extend(one.streams),
            None => merged = Some(one),
        }
    }
    merged.expect("streams")
}

fn options() -> SyncOptions {
    SyncOptions {
        state_interval: 100,
        ..SyncOptions::default()
    }
}

fn records(messages: &[Message], stream: &str) -> Vec<Map<String, Value>> {
    messages
        .iter()
        .filter_map(|m| match m {
            Message::Record(r) if r.stream == stream => Some(r.to_map().expect("object")),
            _ => None,
        })
        .collect()
}

fn last_state(messages: &[Message]) -> State {
    let value = messages
        .iter()
        .rev()
        .find_map(|m| match m {
            Message::State(s) => Some(s.value.clone()),
            _ => None,
        })
        .expect("a STATE");
    State::from_value(value).expect("state")
}

fn lsn(state: &State, stream: &str) -> u64 {
    state.bookmark(stream).expect("bookmark").extra["lsn"]
        .as_u64()
        .expect("lsn")
}

fn confirmed_flush(db: &mut Db, slot: &str) -> u64 {
    let text: String = db
        .client
        .query_one(
            "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1",
            &[&slot],
        )
        .expect("slot")
        .get(0);
    let (high, low) = text.split_once('/').expect("lsn");
    (u64::from_str_radix(high, 16).expect("hex") << 32) | u64::from_str_radix(low, 16).expect("hex")
}

/// Replays `rows` (copy then changes) as a target would: last per key,
/// deletes applied.
fn apply(rows: &[Map<String, Value>]) -> BTreeMap<i64, Map<String, Value>> {
    let mut table = BTreeMap::new();
    for row in rows {
        let id = row["id"].as_i64().expect("id");
        if row.get("_sdc_deleted_at").is_some_and(|d| !d.is_null()) {
            table.remove(&id);
        } else {
            let mut row = row.clone();
            row.remove("_sdc_lsn");
            row.remove("_sdc_deleted_at");
            table.insert(id, row);
        }
    }
    table
}

#[test]
fn log_based_copies_then_replays_inserts_updates_and_deletes() {
    let mut db = db("log_basic");
    db.client
        .batch_execute(
            "CREATE TABLE items (id int PRIMARY KEY, body text, amount numeric(10,2), at timestamptz, tags text[]);
             INSERT INTO items SELECT i, 'row ' || i, i * 1.25, timestamptz '2024-01-01' + i * interval '1 hour', ARRAY['a', 'b' || i]
             FROM generate_series(1, 250) i;",
        )
        .expect("table");
    let catalog = log_catalog(&db, &["public-items"]);
    let first = run(&db, &catalog, State::new(), &options());
    // The initial copy: every row under a version, activated.
    let copy = records(&first, "public-items");
    assert_eq!(copy.len(), 250);
    let schema = first
        .iter()
        .find_map(|m| match m {
            Message::Schema(s) if s.stream == "public-items" => Some(s.clone()),
            _ => None,
        })
        .expect("SCHEMA");
    assert_eq!(
        schema.schema["properties"]["_sdc_lsn"]["type"],
        json!(["null", "integer"])
    );
    assert_eq!(
        schema.schema["properties"]["_sdc_deleted_at"]["format"],
        "date-time"
    );
    let version = first.iter().find_map(|m| match m {
        Message::ActivateVersion(a) => Some(a.version),
        _ => None,
    });
    assert!(version.is_some(), "ACTIVATE_VERSION after the copy");
    let state1 = last_state(&first);
    let bookmark = state1.bookmark("public-items").expect("bookmark");
    assert_eq!(
        bookmark.last_replication_method.as_deref(),
        Some("LOG_BASED")
    );
    assert_eq!(bookmark.version, version);
    assert!(!bookmark.extra.contains_key("initial_full_table_complete"));

    db.client
        .batch_execute(
            "INSERT INTO items VALUES (251, 'new', 9.99, '2025-01-01', NULL);
             UPDATE items SET body = 'changed', amount = 0.10 WHERE id = 7;
             DELETE FROM items WHERE id = 8;
             BEGIN; UPDATE items SET body = 'twice' WHERE id = 9; UPDATE items SET body = 'thrice' WHERE id = 9; COMMIT;",
        )
        .expect("changes");
    let second = run(&db, &catalog, state1.clone(), &options());
    let changes = records(&second, "public-items");
    let ids: Vec<i64> = changes
        .iter()
        .map(|r| r["id"].as_i64().expect("id"))
        .collect();
    assert_eq!(ids, [251, 7, 8, 9, 9]);
    // _sdc_lsn is the commit LSN: monotonic in output order, equal within
    // a transaction.
    let lsns: Vec<u64> = changes
        .iter()
        .map(|r| r["_sdc_lsn"].as_u64().expect("lsn"))
        .collect();
    assert!(lsns.windows(2).all(|w| w[0] <= w[1]), "{lsns:?}");
    assert_eq!(lsns[3], lsns[4]);
    assert!(
        changes[2]["_sdc_deleted_at"]
            .as_str()
            .is_some_and(|t| t.ends_with("+00:00"))
    );
    assert!(changes[1]["_sdc_deleted_at"].is_null());
    // A delete under the default identity carries the key only.
    assert_eq!(
        changes[2].keys().map(String::as_str).collect::<Vec<_>>(),
        ["id", "_sdc_lsn", "_sdc_deleted_at"]
    );
    // Every replayed record carries the stream's version.
    assert!(second.iter().all(|m| match m {
        Message::Record(r) => r.version == version,
        _ => true,
    }));
    // The same row rendered by FULL_TABLE and by LOG_BASED is the same.
    let full = run(&db, &catalog_full(&db), State::new(), &options());
    let full_row = records(&full, "public-items")
        .into_iter()
        .find(|r| r["id"] == 7)
        .expect("row 7");
    let mut replayed = changes[1].clone();
    replayed.remove("_sdc_lsn");
    replayed.remove("_sdc_deleted_at");
    assert_eq!(replayed, full_row);
    // Source and replay agree.
    let mut all = copy.clone();
    all.extend(changes.iter().cloned());
    let expected: Vec<i64> = (1..=251).filter(|i| *i != 8).collect();
    assert_eq!(apply(&all).keys().copied().collect::<Vec<_>>(), expected);
    assert_eq!(apply(&all)[&9]["body"], "thrice");

    // Run 2 again from run 1's state (the target did not commit run 2):
    // the same changes again, nothing lost.
    let again = run(&db, &catalog, state1, &options());
    assert_eq!(records(&again, "public-items"), changes);
    // From run 2's state: the slot moves to it, nothing is sent again.
    let state2 = last_state(&second);
    let third = run(&db, &catalog, state2.clone(), &options());
    assert!(records(&third, "public-items").is_empty());
    let slot = "pipelinewise_".to_owned() + &db.config.dbname.clone().expect("dbname");
    assert_eq!(
        confirmed_flush(&mut db, &slot),
        lsn(&state2, "public-items")
    );
    // Once the slot is confirmed past it, an older state is refused: the
    // changes in between are gone.
    let mut out = singer_protocol::Writer::new(Vec::new());
    let error = sync(
        &db.connector,
        &catalog,
        last_state(&first),
        &options(),
        &mut out,
    )
    .expect_err("behind the slot");
    let text = singer_protocol::ErrorChain(&error).to_string();
    assert!(
        text.contains("behind the slot's confirmed position"),
        "{text}"
    );
}

fn catalog_full(db: &Db) -> Catalog {
    catalog(
        db,
        "public-items",
        ReplicationMethod::FullTable,
        None,
        false,
    )
}

#[test]
fn bootstrap_under_concurrent_writes_loses_nothing() {
    let mut db = db("log_bootstrap");
    db.client
        .batch_execute(
            "CREATE TABLE hot (id bigint PRIMARY KEY, v int NOT NULL);
             INSERT INTO hot SELECT i, 0 FROM generate_series(1, 20000) i;",
        )
        .expect("table");
    let catalog = log_catalog(&db, &["public-hot"]);
    let connect = db.config.clone();
    let writer = std::thread::spawn(move || {
        let connector = singer_tap_postgres::Connector::new(&connect).expect("connector");
        let mut client = connector.connect().expect("writer");
        for round in 0..200_i64 {
            client
                .batch_execute(&format!(
                    "INSERT INTO hot VALUES ({}, {round}); UPDATE hot SET v = {round} WHERE id = {}; DELETE FROM hot WHERE id = {};",
                    100_000 + round,
                    1 + round * 50,
                    2 + round * 50
                ))
                .expect("write");
        }
    });
    let first = run(
        &db,
        &catalog,
        State::new(),
        &SyncOptions {
            state_interval: 1000,
            ..SyncOptions::default()
        },
    );
    writer.join().expect("writer");
    let second = run(&db, &catalog, last_state(&first), &options());
    let mut all = records(&first, "public-hot");
    all.extend(records(&second, "public-hot"));
    let replayed = apply(&all);
    let source: BTreeMap<i64, i64> = db
        .client
        .query("SELECT id, v FROM hot", &[])
        .expect("rows")
        .iter()
        .map(|r| (r.get(0), i64::from(r.get::<_, i32>(1))))
        .collect();
    let target: BTreeMap<i64, i64> = replayed
        .iter()
        .map(|(id, row)| (*id, row["v"].as_i64().expect("v")))
        .collect();
    assert_eq!(target, source);
}

#[test]
fn unchanged_toast_values_come_back_whole() {
    let mut db = db("log_toast");
    db.client
        .batch_execute(
            "CREATE TABLE docs (id int PRIMARY KEY, title text, body text);
             ALTER TABLE docs ALTER COLUMN body SET STORAGE EXTERNAL;
             CREATE TABLE docs_full (id int PRIMARY KEY, title text, body text);
             ALTER TABLE docs_full ALTER COLUMN body SET STORAGE EXTERNAL;
             ALTER TABLE docs_full REPLICA IDENTITY FULL;
             INSERT INTO docs SELECT i, 't', repeat(md5(i::text), 400) FROM generate_series(1, 3) i;
             INSERT INTO docs_full SELECT * FROM docs;",
        )
        .expect("tables");
    let catalog = log_catalog(&db, &["public-docs", "public-docs_full"]);
    let first = run(&db, &catalog, State::new(), &options());
    db.client
        .batch_execute(
            "UPDATE docs SET title = 'new' WHERE id = 2;
             UPDATE docs_full SET title = 'new' WHERE id = 2;",
        )
        .expect("updates");
    let second = run(&db, &catalog, last_state(&first), &options());
    let expected = "c81e728d9d4c2f636f067f89cc14862c".repeat(400);
    for stream in ["public-docs", "public-docs_full"] {
        let rows = records(&second, stream);
        assert_eq!(rows.len(), 1, "{stream}");
        assert_eq!(rows[0]["title"], "new");
        assert_eq!(
            rows[0]["body"],
            expected.as_str(),
            "{stream}: the TOASTed value"
        );
    }
}

#[test]
fn two_tables_on_one_slot_move_independently_and_an_idle_one_moves_too() {
    let mut db = db("log_two");
    db.client
        .batch_execute(
            "CREATE TABLE busy (id int PRIMARY KEY, v int);
             CREATE TABLE idle (id int PRIMARY KEY, v int);
             CREATE TABLE other (id int PRIMARY KEY);
             INSERT INTO busy VALUES (1, 1); INSERT INTO idle VALUES (1, 1);",
        )
        .expect("tables");
    let catalog = log_catalog(&db, &["public-busy", "public-idle"]);
    let first = run(&db, &catalog, State::new(), &options());
    let state1 = last_state(&first);
    db.client
        .batch_execute("INSERT INTO busy VALUES (2, 2); INSERT INTO other VALUES (1);")
        .expect("writes");
    let second = run(&db, &catalog, state1.clone(), &options());
    assert_eq!(records(&second, "public-busy").len(), 1);
    assert!(records(&second, "public-idle").is_empty());
    let state2 = last_state(&second);
    // Both positions moved to the flush position the run read up to.
    assert!(lsn(&state2, "public-idle") > lsn(&state1, "public-idle"));
    assert_eq!(lsn(&state2, "public-idle"), lsn(&state2, "public-busy"));
    // Only unpublished writes: the positions (and then the slot) still move.
    db.client
        .batch_execute("INSERT INTO other VALUES (2); INSERT INTO other VALUES (3);")
        .expect("writes");
    let third = run(&db, &catalog, state2.clone(), &options());
    let state3 = last_state(&third);
    assert!(lsn(&state3, "public-busy") > lsn(&state2, "public-busy"));
    let _ = run(&db, &catalog, state3.clone(), &options());
    let slot = "pipelinewise_".to_owned() + &db.config.dbname.clone().expect("dbname");
    assert_eq!(confirmed_flush(&mut db, &slot), lsn(&state3, "public-busy"));

    // A table added to the selection later: its own copy, then its changes,
    // while the others continue.
    db.client
        .batch_execute(
            "CREATE TABLE later (id int PRIMARY KEY); INSERT INTO later VALUES (1), (2);",
        )
        .expect("later");
    let mut wider = log_catalog(&db, &["public-busy", "public-idle", "public-later"]);
    wider
        .streams
        .sort_by(|a, b| a.tap_stream_id.cmp(&b.tap_stream_id));
    let fourth = run(&db, &wider, state3, &options());
    assert_eq!(records(&fourth, "public-later").len(), 2);
    assert!(records(&fourth, "public-busy").is_empty());
    db.client
        .batch_execute("INSERT INTO later VALUES (3); INSERT INTO busy VALUES (3, 3);")
        .expect("writes");
    let fifth = run(&db, &wider, last_state(&fourth), &options());
    assert_eq!(records(&fifth, "public-later").len(), 1);
    assert_eq!(records(&fifth, "public-busy").len(), 1);
}

#[test]
fn a_changed_table_shape_sends_a_new_schema_before_its_next_record() {
    let mut db = db("log_ddl");
    db.client
        .batch_execute(
            "CREATE TABLE shape (id int PRIMARY KEY, a text); INSERT INTO shape VALUES (1, 'x');",
        )
        .expect("table");
    let catalog = log_catalog(&db, &["public-shape"]);
    let first = run(&db, &catalog, State::new(), &options());
    db.client
        .batch_execute(
            "INSERT INTO shape VALUES (2, 'y');
             ALTER TABLE shape ADD COLUMN b int;
             INSERT INTO shape VALUES (3, 'z', 33);",
        )
        .expect("ddl");
    let second = run(&db, &catalog, last_state(&first), &options());
    let position =
        |wanted: &dyn Fn(&Message) -> bool| second.iter().position(wanted).expect("message");
    let row3 =
        position(&|m| matches!(m, Message::Record(r) if r.to_map().expect("object")["id"] == 3));
    let new_schema = second
        .iter()
        .enumerate()
        .filter(
            |(_, m)| matches!(m, Message::Schema(s) if s.schema["properties"].get("b").is_some()),
        )
        .map(|(i, _)| i)
        .next()
        .expect("a SCHEMA with the new column");
    assert!(new_schema < row3);
    assert_eq!(records(&second, "public-shape")[1]["b"], 33);
}

#[test]
fn preflight_refuses_a_table_without_replica_identity() {
    let mut db = db("log_nopk");
    db.client
        .batch_execute("CREATE TABLE nopk (x int); INSERT INTO nopk VALUES (1);")
        .expect("table");
    let mut catalog = catalog(&db, "public-nopk", ReplicationMethod::LogBased, None, false);
    catalog.streams[0]
        .metadata
        .set(&[] as &[&str; 0], "table-key-properties", json!([]));
    let mut out = singer_protocol::Writer::new(Vec::new());
    let error =
        sync(&db.connector, &catalog, State::new(), &options(), &mut out).expect_err("refused");
    let text = singer_protocol::ErrorChain(&error).to_string();
    assert!(
        text.contains("no primary key or replica identity"),
        "{text}"
    );
    // Nothing was published: the table's updates still work.
    db.client
        .batch_execute("UPDATE nopk SET x = 2")
        .expect("updates at the source still work");
}

#[test]
fn replayed_rows_equal_full_table_rows_for_every_type() {
    let mut db = db("log_types");
    db.client
        .batch_execute(
            "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
             CREATE DOMAIN positive AS int CHECK (VALUE > 0);
             CREATE TABLE typed (
                 id bigint PRIMARY KEY, b boolean, s smallint, i int, f4 real, f8 double precision,
                 n numeric(20,6), nn numeric, d date, t time, ts timestamp, tz timestamptz,
                 iv interval, u uuid, j json, jb jsonb, by bytea, ip inet, arr text[], iarr int[],
                 m mood, p positive, vc varchar(10), c char(3), tt timetz, big numeric
             );",
        )
        .expect("table");
    let catalog = log_catalog(&db, &["public-typed"]);
    let first = run(&db, &catalog, State::new(), &options());
    db.client
        .batch_execute(
            "INSERT INTO typed VALUES
               (1, true, -3, 42, 1.5, 2.25e300, 1234.567891, 3.14159265358979323846264338327950288,
                '2024-02-29', '23:59:59.999999', '2024-01-01 12:00:00.5', '2024-01-01 12:00:00.123456+02',
                '1 year 2 mons 3 days 04:05:06.7', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
                '{\"a\": [1, 2.50]}', '{\"b\": {\"c\": null}}', '\\xdeadbeef', '192.168.0.1/24',
                ARRAY['x', NULL, 'y \"q\"'], ARRAY[[1, 2], [3, 4]], 'happy', 7, 'varchar', 'ab',
                '10:00:00+05', 123456789012345678901234567890.000000000001),
               (2, NULL, NULL, NULL, 'NaN', '-Infinity', NULL, 'NaN', 'infinity', NULL, '-infinity',
                '0044-03-15 00:00:00+00 BC', NULL, NULL, 'null', '[]', '', NULL, '{}', NULL, NULL,
                NULL, '', NULL, NULL, NULL);",
        )
        .expect("rows");
    let second = run(&db, &catalog, last_state(&first), &options());
    let replayed = records(&second, "public-typed");
    assert_eq!(replayed.len(), 2);
    let full = run(
        &db,
        &catalog_of(&db, "public-typed", ReplicationMethod::FullTable),
        State::new(),
        &options(),
    );
    let copied = records(&full, "public-typed");
    for (mut row, copy) in replayed.into_iter().zip(copied) {
        row.remove("_sdc_lsn");
        row.remove("_sdc_deleted_at");
        assert_eq!(Value::Object(row), Value::Object(copy));
    }
}

#[test]
fn a_column_read_through_a_cast_is_refused_with_its_name() {
    let mut db = db("log_money");
    db.client
        .batch_execute("CREATE TABLE priced (id int PRIMARY KEY, price money);")
        .expect("table");
    let catalog = log_catalog(&db, &["public-priced"]);
    let mut out = singer_protocol::Writer::new(Vec::new());
    let error =
        sync(&db.connector, &catalog, State::new(), &options(), &mut out).expect_err("refused");
    let text = singer_protocol::ErrorChain(&error).to_string();
    assert!(
        text.contains("\"price\"") && text.contains("cannot be replicated LOG_BASED"),
        "{text}"
    );
}

fn catalog_of(db: &Db, stream: &str, method: ReplicationMethod) -> Catalog {
    catalog(db, stream, method, None, false)
}

#[test]
fn preflight_refuses_a_role_without_replication() {
    let mut db = db("log_norep");
    let dbname = db.config.dbname.clone().expect("dbname");
    db.client
        .batch_execute(&format!(
            "CREATE TABLE t (id int PRIMARY KEY);
             DO $$ BEGIN CREATE ROLE norep LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
             GRANT SELECT ON t TO norep; GRANT CONNECT ON DATABASE \"{dbname}\" TO norep;"
        ))
        .expect("role");
    let catalog = log_catalog(&db, &["public-t"]);
    let cluster = singer_testkit::postgres().expect("cluster");
    let config: singer_tap_postgres::TapConfig = serde_json::from_value(json!({
        "host": cluster.host(), "port": cluster.port(), "user": "norep",
        "dbname": dbname, "sslmode": "disable",
    }))
    .expect("config");
    let connector = singer_tap_postgres::Connector::new(&config).expect("connector");
    let mut out = singer_protocol::Writer::new(Vec::new());
    let error =
        sync(&connector, &catalog, State::new(), &options(), &mut out).expect_err("refused");
    let text = singer_protocol::ErrorChain(&error).to_string();
    assert!(text.contains("REPLICATION attribute"), "{text}");
}

#[test]
fn key_changes_partitions_generated_columns_and_type_changes() {
    let mut db = db("log_edges");
    db.client
        .batch_execute(
            "CREATE TABLE moves (id int PRIMARY KEY, v text);
             INSERT INTO moves VALUES (1, 'a'), (2, 'b');
             CREATE TABLE parts (id int, region text, v int, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
             CREATE TABLE parts_eu PARTITION OF parts FOR VALUES IN ('eu');
             CREATE TABLE parts_us PARTITION OF parts FOR VALUES IN ('us');
             INSERT INTO parts VALUES (1, 'eu', 1), (2, 'us', 2);
             CREATE TABLE calc (id int PRIMARY KEY, a int, twice int GENERATED ALWAYS AS (a * 2) STORED);
             INSERT INTO calc (id, a) VALUES (1, 1);
             CREATE TABLE widen (id int PRIMARY KEY, n int);
             INSERT INTO widen VALUES (1, 1);",
        )
        .expect("tables");
    let catalog = log_catalog(
        &db,
        &[
            "public-moves",
            "public-parts",
            "public-calc",
            "public-widen",
        ],
    );
    let first = run(&db, &catalog, State::new(), &options());
    assert_eq!(
        records(&first, "public-parts").len(),
        2,
        "the copy reads every partition"
    );
    assert!(
        records(&first, "public-calc")[0].get("twice").is_none(),
        "a generated column is left out of a LOG_BASED stream"
    );
    db.client
        .batch_execute(
            "UPDATE moves SET id = 10 WHERE id = 1;
             INSERT INTO parts VALUES (3, 'eu', 3), (4, 'us', 4);
             UPDATE calc SET a = 5 WHERE id = 1;
             INSERT INTO widen VALUES (2, 2147483647);
             ALTER TABLE widen ALTER COLUMN n TYPE bigint;
             INSERT INTO widen VALUES (3, 9000000000);",
        )
        .expect("changes");
    let second = run(&db, &catalog, last_state(&first), &options());
    // A changed key: the old key deleted, then the row under its new key.
    let moves = records(&second, "public-moves");
    assert_eq!(moves.len(), 2, "{moves:?}");
    assert_eq!(
        (
            moves[0]["id"].clone(),
            moves[0]["_sdc_deleted_at"].is_string()
        ),
        (json!(1), true)
    );
    assert_eq!(
        (moves[1]["id"].clone(), moves[1]["v"].clone()),
        (json!(10), json!("a"))
    );
    // Partitions' changes arrive under the partitioned table's stream.
    let parts: Vec<i64> = records(&second, "public-parts")
        .iter()
        .map(|r| r["id"].as_i64().expect("id"))
        .collect();
    assert_eq!(parts, [3, 4]);
    let calc = records(&second, "public-calc");
    assert_eq!(calc.len(), 1);
    assert!(calc[0].get("twice").is_none());
    // Changes made before the type change render as their own type.
    let widen: Vec<Value> = records(&second, "public-widen")
        .iter()
        .map(|r| r["n"].clone())
        .collect();
    assert_eq!(widen, [json!(2_147_483_647), json!(9_000_000_000_i64)]);
}
