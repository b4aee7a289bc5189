//! Catalog-mode sync against the real throwaway PostgreSQL: FULL_TABLE
//! (versions, resume after an interruption), INCREMENTAL across runs, both
//! catalog spellings, state reset on method change, and a connection killed
//! mid-stream.

use std::io::Write;

use postgres::Client;
use serde_json::{Value, json};
use singer_protocol::{Catalog, Message, Reader, ReplicationMethod, Writer};
use singer_state::State;
use singer_tap_postgres::{Connector, SyncOptions, TapConfig, discover_catalog, sync};

/// A fresh database with a connector and a direct client.
pub(crate) struct Db {
    pub(crate) connector: Connector,
    pub(crate) config: TapConfig,
    pub(crate) client: Client,
}

pub(crate) fn db(prefix: &str) -> Db {
    let cluster = singer_testkit::postgres().expect("a throwaway PostgreSQL (see singer-testkit)");
    let name = cluster.create_database(prefix).expect("database");
    let config: TapConfig = serde_json::from_value(json!({
        "host": cluster.host(),
        "port": cluster.port(),
        "user": cluster.user(),
        "dbname": name,
        "sslmode": "disable",
        "application_name": format!("tap-test-{prefix}"),
    }))
    .expect("config");
    Db {
        connector: Connector::new(&config).expect("connector"),
        config,
        client: cluster.connect(&name).expect("connect"),
    }
}

/// The catalog with `stream` selected, configured the classic way (root
/// metadata) or Meltano's way (top-level keys).
pub(crate) fn catalog(
    db: &Db,
    stream: &str,
    method: ReplicationMethod,
    key: Option<&str>,
    meltano: bool,
) -> Catalog {
    let mut catalog = discover_catalog(&db.connector, &db.config).expect("discovery");
    catalog.streams.retain(|s| s.tap_stream_id == stream);
    assert_eq!(catalog.streams.len(), 1, "stream {stream} discovered");
    let entry = &mut catalog.streams[0];
    let root: [&str; 0] = [];
    entry.metadata.set(&root, "selected", json!(true));
    if meltano {
        entry
            .extra
            .insert("replication_method".into(), json!(method.as_str()));
        entry.extra.insert("replication_key".into(), json!(key));
    } else {
        entry
            .metadata
            .set(&root, "replication-method", json!(method.as_str()));
        if let Some(key) = key {
            entry.metadata.set(&root, "replication-key", json!(key));
        }
    }
    // Round-trip through JSON, as a catalog file would.
    Catalog::from_json(&serde_json::to_string(&catalog).expect("json")).expect("catalog")
}

fn options(state_interval: u64, itersize: u32) -> SyncOptions {
    SyncOptions {
        state_interval,
        itersize,
        ..SyncOptions::default()
    }
}

/// Runs a sync and decodes its output.
pub(crate) fn run(db: &Db, catalog: &Catalog, state: State, options: &SyncOptions) -> Vec<Message> {
    let mut out = Writer::new(Vec::new());
    sync(&db.connector, catalog, state, options, &mut out).expect("sync");
    decode(&out.into_inner())
}

pub(crate) fn decode(bytes: &[u8]) -> Vec<Message> {
    Reader::new(bytes)
        .map(|m| m.expect("valid Singer output").message)
        .collect()
}

fn records(messages: &[Message]) -> Vec<serde_json::Map<String, Value>> {
    messages
        .iter()
        .filter_map(|m| match m {
            Message::Record(r) => Some(r.to_map().expect("object")),
            _ => None,
        })
        .collect()
}

pub(crate) fn states(messages: &[Message]) -> Vec<Value> {
    messages
        .iter()
        .filter_map(|m| match m {
            Message::State(s) => Some(s.value.clone()),
            _ => None,
        })
        .collect()
}

fn ids(records: &[serde_json::Map<String, Value>]) -> Vec<i64> {
    records
        .iter()
        .map(|r| r["id"].as_i64().expect("integer id"))
        .collect()
}

#[test]
fn full_table_emits_versioned_records_and_resumes_after_interruption() {
    let mut db = db("full");
    db.client
        .batch_execute(
            "CREATE TABLE items (id int PRIMARY KEY, name text, price numeric(12,2));
             INSERT INTO items SELECT i, 'item ' || i, i * 1.5 FROM generate_series(1, 25) i;",
        )
        .expect("seed");
    let catalog = catalog(
        &db,
        "public-items",
        ReplicationMethod::FullTable,
        None,
        false,
    );
    let messages = run(&db, &catalog, State::new(), &options(10, 7));

    assert!(
        matches!(&messages[0], Message::Schema(s) if s.stream == "public-items" && s.key_properties == ["id"])
    );
    let rows = records(&messages);
    assert_eq!(ids(&rows), (1..=25).collect::<Vec<_>>());
    assert_eq!(rows[2]["name"], "item 3");
    assert_eq!(
        rows[2]["price"], "4.50",
        "numeric keeps its scale, as a decimal string"
    );
    let versions: Vec<u64> = messages
        .iter()
        .filter_map(|m| match m {
            Message::Record(r) => r.version,
            _ => None,
        })
        .collect();
    assert_eq!(versions.len(), 25);
    let version = versions[0];
    assert!(versions.iter().all(|v| *v == version));
    let activate = messages
        .iter()
        .position(|m| matches!(m, Message::ActivateVersion(a) if a.version == version))
        .expect("ACTIVATE_VERSION");
    let last_record = messages
        .iter()
        .rposition(|m| matches!(m, Message::Record(_)))
        .expect("records");
    assert!(
        activate > last_record,
        "ACTIVATE_VERSION comes after the records"
    );

    // Mid-stream states name the last key emitted; the final one does not.
    let states = states(&messages);
    let mid = states
        .iter()
        .find(|s| {
            s["bookmarks"]["public-items"]
                .get("last_pk_fetched")
                .is_some()
        })
        .expect("a mid-stream STATE")
        .clone();
    assert_eq!(
        mid["bookmarks"]["public-items"]["last_pk_fetched"],
        json!({"id": 10})
    );
    assert_eq!(mid["currently_syncing"], "public-items");
    let last = states.last().expect("final STATE");
    assert!(
        last["bookmarks"]["public-items"]
            .get("last_pk_fetched")
            .is_none()
    );
    assert_eq!(last["bookmarks"]["public-items"]["version"], json!(version));
    assert!(last.get("currently_syncing").is_none_or(Value::is_null));

    // Resume from the mid-stream state: the rest, under the same version.
    let resumed = run(
        &db,
        &catalog,
        State::from_value(mid).expect("state"),
        &options(10, 7),
    );
    assert_eq!(ids(&records(&resumed)), (11..=25).collect::<Vec<_>>());
    assert!(
        resumed
            .iter()
            .any(|m| matches!(m, Message::ActivateVersion(a) if a.version == version))
    );

    // A completed state starts a new full copy under a new version.
    let again = run(
        &db,
        &catalog,
        State::from_value(last.clone()).expect("state"),
        &options(10, 7),
    );
    assert_eq!(ids(&records(&again)).len(), 25);
    let new_version = again
        .iter()
        .find_map(|m| match m {
            Message::ActivateVersion(a) => Some(a.version),
            _ => None,
        })
        .expect("ACTIVATE_VERSION");
    assert!(new_version >= version);
}

#[test]
fn incremental_across_three_runs_picks_up_inserts_and_updates() {
    let mut db = db("incr");
    db.client
        .batch_execute(
            "CREATE TABLE events (id int PRIMARY KEY, payload text, updated_at timestamptz);
             INSERT INTO events VALUES
               (1, 'a', '2024-01-01 00:00:00+00'), (2, 'b', '2024-01-03 00:00:00+00'),
               (3, 'c', '2024-01-02 00:00:00.123456+00'), (4, 'no key', NULL);",
        )
        .expect("seed");
    for meltano in [false, true] {
        let catalog = catalog(
            &db,
            "public-events",
            ReplicationMethod::Incremental,
            Some("updated_at"),
            meltano,
        );
        let first = run(&db, &catalog, State::new(), &options(2, 100));
        let rows = records(&first);
        // Ordered by the key from the first run on; NULL keys are not emitted.
        assert_eq!(ids(&rows), [1, 3, 2], "meltano spelling: {meltano}");
        assert_eq!(rows[1]["updated_at"], "2024-01-02T00:00:00.123456+00:00");
        let state = states(&first).pop().expect("state");
        assert_eq!(
            state["bookmarks"]["public-events"]["replication_key_value"],
            "2024-01-03T00:00:00.000000+00:00"
        );
        assert_eq!(
            state["bookmarks"]["public-events"]["replication_key"],
            "updated_at"
        );

        db.client
            .batch_execute(
                "INSERT INTO events VALUES (5, 'new', '2024-01-04 00:00:00+00');
                 UPDATE events SET payload = 'a2', updated_at = '2024-01-05 00:00:00+00' WHERE id = 1;",
            )
            .expect("changes");
        let second = run(
            &db,
            &catalog,
            State::from_value(state).expect("state"),
            &options(2, 100),
        );
        // `>=` the bookmark: the boundary row again (at-least-once), then the changes.
        assert_eq!(ids(&records(&second)), [2, 5, 1]);
        assert_eq!(records(&second)[2]["payload"], "a2");
        let state = states(&second).pop().expect("state");

        db.client
            .batch_execute("UPDATE events SET updated_at = '2024-01-06 00:00:00+00' WHERE id = 3;")
            .expect("change");
        let third = run(
            &db,
            &catalog,
            State::from_value(state).expect("state"),
            &options(2, 100),
        );
        assert_eq!(ids(&records(&third)), [1, 3]);
        // Put the table back for the other spelling.
        db.client
            .batch_execute(
                "DELETE FROM events;
                 INSERT INTO events VALUES
                   (1, 'a', '2024-01-01 00:00:00+00'), (2, 'b', '2024-01-03 00:00:00+00'),
                   (3, 'c', '2024-01-02 00:00:00.123456+00'), (4, 'no key', NULL);",
            )
            .expect("reset");
    }
}

#[test]
fn changing_the_replication_method_resets_the_bookmark() {
    let mut db = db("reset");
    db.client
        .batch_execute(
            "CREATE TABLE t (id bigint PRIMARY KEY, v text);
             INSERT INTO t SELECT i, 'v' FROM generate_series(1, 5) i;",
        )
        .expect("seed");
    let incremental = catalog(
        &db,
        "public-t",
        ReplicationMethod::Incremental,
        Some("id"),
        false,
    );
    let first = run(&db, &incremental, State::new(), &options(100, 100));
    let state = states(&first).pop().expect("state");
    assert_eq!(
        state["bookmarks"]["public-t"]["replication_key_value"],
        json!(5)
    );
    assert_eq!(
        state["bookmarks"]["public-t"]["last_replication_method"],
        "INCREMENTAL"
    );

    // Same state, now FULL_TABLE: everything again, and the bookmark is reset.
    let full = catalog(&db, "public-t", ReplicationMethod::FullTable, None, true);
    let second = run(
        &db,
        &full,
        State::from_value(state.clone()).expect("state"),
        &options(100, 100),
    );
    assert_eq!(ids(&records(&second)), [1, 2, 3, 4, 5]);
    let after = states(&second).pop().expect("state");
    assert!(
        after["bookmarks"]["public-t"]
            .get("replication_key_value")
            .is_none()
    );
    assert_eq!(
        after["bookmarks"]["public-t"]["last_replication_method"],
        "FULL_TABLE"
    );

    // Back to INCREMENTAL from the FULL_TABLE state: a fresh start too.
    let third = run(
        &db,
        &incremental,
        State::from_value(after).expect("state"),
        &options(100, 100),
    );
    assert_eq!(ids(&records(&third)), [1, 2, 3, 4, 5]);
}

/// A writer that kills the tap's connection once `after` records went by.
struct KillAfter {
    bytes: Vec<u8>,
    records: usize,
    after: usize,
    killer: Option<Client>,
    application_name: String,
}

impl Write for KillAfter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if buf.starts_with(b"{\"type\":\"RECORD\"") {
            self.records += 1;
            if self.records == self.after
                && let Some(mut killer) = self.killer.take()
            {
                let killed: i64 = killer
                    .query_one(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
                        &[&self.application_name],
                    )
                    .expect("terminate")
                    .get(0);
                assert_eq!(killed, 1, "exactly the tap's connection is killed");
            }
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_connection_killed_mid_stream_is_resumed_without_loss_or_duplicates() {
    let mut db = db("kill");
    db.client
        .batch_execute(
            "CREATE TABLE big (id int PRIMARY KEY, filler text);
             INSERT INTO big SELECT i, repeat('x', 50) FROM generate_series(1, 20000) i;",
        )
        .expect("seed");
    let catalog = catalog(&db, "public-big", ReplicationMethod::FullTable, None, false);
    let cluster = singer_testkit::postgres().expect("cluster");
    let dbname = db.config.dbname.clone().expect("dbname");
    let mut out = Writer::new(KillAfter {
        bytes: Vec::new(),
        records: 0,
        after: 5_000,
        killer: Some(cluster.connect(&dbname).expect("killer connection")),
        application_name: "tap-test-kill".to_owned(),
    });
    let summaries = sync(
        &db.connector,
        &catalog,
        State::new(),
        &options(1_000, 1_000),
        &mut out,
    )
    .expect("sync");
    assert_eq!(summaries[0].retries, 1, "one reconnect");
    let messages = decode(&out.into_inner().bytes);
    let got = ids(&records(&messages));
    assert_eq!(
        got,
        (1..=20000).collect::<Vec<_>>(),
        "every row once, in order"
    );
}

#[test]
fn emitted_schema_and_records_validate_with_singer_schema() {
    let mut db = db("validate");
    db.client
        .batch_execute(
            "CREATE TYPE mood AS ENUM ('sad', 'happy');
             CREATE DOMAIN price AS numeric(10, 2);
             CREATE TABLE mixed (
               id bigint PRIMARY KEY, small smallint, n numeric(38, 18), n_free numeric, p price,
               r real, d double precision, b boolean, t text, vc varchar(5), ch char(3),
               dt date, ts timestamp, tstz timestamptz, tm time, tmtz timetz, iv interval,
               j json, jb jsonb, u uuid, by bytea, ia int[], ta text[][], m mood, ip inet,
               money_col money, bits bit(4), rng int4range, pt point, x xml);
             INSERT INTO mixed VALUES
               (1, 1, 12345678901234567890.123456789012345678, 1e-20, 12.5, 1.5, 2.25, true, 'é🚀', 'abc', 'ab',
                '2024-02-29', '2024-01-01 12:00:00.123456', '2024-01-01 12:00:00.123456+02', '23:59:59.999999',
                '12:00:00+05:30', '-1 year 2 months 3 days 04:05:06.5', '{\"a\": [1, 2.50]}', '{\"b\": null}',
                'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '\\xdeadbeef', '{1,NULL,3}', '{{a,b},{c,NULL}}', 'happy',
                '10.0.0.1', 12.34, B'1010', '[1,10)', '(1,2)', '<a/>'),
               (2, NULL, 'NaN', NULL, NULL, 'NaN', '-Infinity', NULL, '', NULL, NULL,
                'infinity', '-infinity', 'infinity', NULL, NULL, NULL, 'null', '[]', NULL, '\\x', '{}', NULL, NULL,
                NULL, NULL, NULL, 'empty', NULL, NULL),
               (3, -32768, -0.5, 0, 0, 0, 0, false, 'x', 'x', 'x',
                '0044-03-15 BC', '10000-01-01 00:00:00', '0001-01-01 00:00:00+00', '00:00:00', '00:00:00-08',
                '0', '1', '\"s\"', '00000000-0000-0000-0000-000000000000', '\\x00', '{{1,2},{3,4}}', '{}', 'sad',
                '::1', -1, B'0000', '(,)', '(0,0)', NULL);",
        )
        .expect("seed");
    let catalog = catalog(
        &db,
        "public-mixed",
        ReplicationMethod::FullTable,
        None,
        false,
    );
    let messages = run(&db, &catalog, State::new(), &options(100, 100));
    let schema = messages
        .iter()
        .find_map(|m| match m {
            Message::Schema(s) => Some(s),
            _ => None,
        })
        .expect("SCHEMA");
    let validator = singer_schema::Validator::new(
        &schema.stream,
        &schema.schema,
        &singer_schema::ValidationConfig::default(),
    )
    .expect("the emitted schema compiles");
    let rows = records(&messages);
    assert_eq!(rows.len(), 3);
    for (line, row) in rows.iter().enumerate() {
        let line = u64::try_from(line).expect("small") + 1;
        if let Err(error) = validator.validate(&Value::Object(row.clone()), line) {
            panic!(
                "record {line} fails its own schema: {error}\nschema: {:#}",
                schema.schema
            );
        }
    }
    // Every column got a type a target can map (no property dropped).
    let columns = singer_schema::columns(&schema.schema, &singer_schema::TypeOptions::default())
        .expect("columns");
    assert_eq!(columns.len(), 30);
}

#[test]
fn an_interrupted_run_resumes_its_unfinished_stream_first() {
    let mut db = db("order");
    db.client
        .batch_execute(
            "CREATE TABLE a (id int PRIMARY KEY); INSERT INTO a VALUES (1), (2);
             CREATE TABLE b (id int PRIMARY KEY); INSERT INTO b VALUES (1), (2), (3);",
        )
        .expect("seed");
    let mut catalog = discover_catalog(&db.connector, &db.config).expect("discovery");
    let root: [&str; 0] = [];
    for entry in &mut catalog.streams {
        entry.metadata.set(&root, "selected", json!(true));
    }
    let streams_in_order = |messages: &[Message]| -> Vec<String> {
        messages
            .iter()
            .filter_map(|m| match m {
                Message::Schema(s) => Some(s.stream.clone()),
                _ => None,
            })
            .collect()
    };
    let fresh = run(&db, &catalog, State::new(), &options(1, 100));
    assert_eq!(streams_in_order(&fresh), ["public-a", "public-b"]);
    // The state a run killed while syncing `b` (after its first row) left.
    let interrupted = states(&fresh)
        .into_iter()
        .find(|s| {
            s["currently_syncing"] == "public-b"
                && s["bookmarks"]["public-b"].get("last_pk_fetched").is_some()
        })
        .expect("a STATE inside stream b");
    let resumed = run(
        &db,
        &catalog,
        State::from_value(interrupted).expect("state"),
        &options(1, 100),
    );
    assert_eq!(streams_in_order(&resumed), ["public-b", "public-a"]);
    let b_ids: Vec<i64> = resumed
        .iter()
        .filter_map(|m| match m {
            Message::Record(r) if r.stream == "public-b" => {
                r.to_map().expect("object")["id"].as_i64()
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        b_ids,
        [2, 3],
        "stream b continues after its last emitted key"
    );
}

#[test]
fn detect_deletes_sends_the_key_set_after_the_rows_in_both_read_paths() {
    let mut db = db("detect_deletes");
    db.client
        .batch_execute(
            "CREATE TABLE pairs (a int, b text, v text, updated_at timestamptz NOT NULL, PRIMARY KEY (a, b));
             INSERT INTO pairs SELECT i / 3, 'k' || (i % 3), 'v' || i, timestamptz '2024-01-01' + i * interval '1 minute'
             FROM generate_series(0, 299) i;
             DELETE FROM pairs WHERE a = 7;
             CREATE TABLE nokey (x int);",
        )
        .expect("tables");
    let mut catalog = catalog(
        &db,
        "public-pairs",
        ReplicationMethod::Incremental,
        Some("updated_at"),
        false,
    );
    let root: [&str; 0] = [];
    catalog.streams[0]
        .metadata
        .set(&root, "detect-deletes", json!(true));
    for parallelism in [1, 2] {
        let options = SyncOptions {
            parallelism,
            max_rows_per_statement: Some(100),
            ..options(120, 1000)
        };
        let messages = run(&db, &catalog, State::new(), &options);
        let rows = messages
            .iter()
            .filter(|m| matches!(m, Message::Record(r) if r.stream == "public-pairs"))
            .count();
        assert_eq!(rows, 297);
        let keys: Vec<(i64, String)> = messages
            .iter()
            .filter_map(|m| match m {
                Message::Record(r) if r.stream == "public-pairs__keys" => {
                    let record = r.to_map().expect("object");
                    assert_eq!(record.len(), 2, "a key set record holds the key only");
                    Some((
                        record["a"].as_i64().expect("a"),
                        record["b"].as_str().expect("b").to_owned(),
                    ))
                }
                _ => None,
            })
            .collect();
        let mut expected: Vec<(i64, String)> = (0..300)
            .map(|i| (i / 3, format!("k{}", i % 3)))
            .filter(|(a, _)| *a != 7)
            .collect();
        expected.sort();
        assert_eq!(
            keys, expected,
            "every key once, in key order (parallelism {parallelism})"
        );
        let last_row = messages
            .iter()
            .rposition(|m| matches!(m, Message::Record(r) if r.stream == "public-pairs"))
            .expect("rows");
        let schema = messages
            .iter()
            .position(|m| matches!(m, Message::Schema(s) if s.stream == "public-pairs__keys"))
            .expect("key set SCHEMA");
        assert!(last_row < schema, "the key set comes after the rows");
        let Message::Schema(key_schema) = &messages[schema] else {
            unreachable!()
        };
        assert_eq!(key_schema.key_properties, ["a", "b"]);
        assert_eq!(
            singer_protocol::key_set::key_set_of(&key_schema.schema),
            Some("public-pairs")
        );
        let activate = messages.iter().rposition(
            |m| matches!(m, Message::ActivateVersion(a) if a.stream == "public-pairs__keys"),
        );
        assert!(activate.expect("ACTIVATE_VERSION") > schema);
        assert!(
            matches!(messages.last(), Some(Message::State(_))),
            "STATE after the key set"
        );
    }

    // A stream without key properties cannot detect deletes.
    let mut nokey = self::catalog(
        &db,
        "public-nokey",
        ReplicationMethod::FullTable,
        None,
        false,
    );
    nokey.streams[0]
        .metadata
        .set(&root, "detect-deletes", json!(true));
    let mut out = Writer::new(Vec::new());
    let error = sync(
        &db.connector,
        &nokey,
        State::new(),
        &options(100, 100),
        &mut out,
    )
    .expect_err("no key");
    assert!(
        error
            .to_string()
            .contains("detect-deletes needs key properties"),
        "{error}"
    );
}
