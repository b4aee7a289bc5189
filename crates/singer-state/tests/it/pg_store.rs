//! `PgStateStore` against a real PostgreSQL.

use std::sync::{Arc, Barrier};
use std::thread;

use serde_json::{Value, json};
use singer_state::{BookmarkKind, Error, PgStateStore, State, StateStore, TableName};

use crate::TestDb;

const BIG_DECIMAL: &str = "12345678901234567890.123456789012345678";

fn raw(text: &str) -> Value {
    serde_json::from_str(text).expect("valid JSON")
}

fn counter_state(stream: &str, value: u64) -> State {
    let mut state = State::new();
    state.set_bookmark_value(stream, "id", json!(value));
    state.set_currently_syncing(Some(stream));
    state
}

#[test]
fn round_trip_keeps_a_big_decimal_bookmark_byte_identical() {
    let db = TestDb::new("state_roundtrip");
    let mut store = PgStateStore::new(db.connect(), "job-roundtrip").expect("store");
    assert_eq!(store.load().expect("load empty"), None);

    let mut state = State::from_json(
        r#"{"bookmarks": {"public-payments": {
              "replication_key": "amount",
              "last_replication_method": "INCREMENTAL",
              "partitions": [{"context": {"shard": 1}}],
              "progress_markers": {"replication_key_value": 1}}},
            "meltano": {"run_id": "r1"}}"#,
    )
    .expect("parse");
    assert!(
        state
            .advance(
                "public-payments",
                "amount",
                &raw(BIG_DECIMAL),
                BookmarkKind::Number
            )
            .expect("advance")
    );
    store.save(&state).expect("save");

    let loaded = store.load().expect("load").expect("a saved state");
    let value = loaded
        .bookmark("public-payments")
        .and_then(|bookmark| bookmark.replication_key_value.as_ref())
        .expect("bookmark value");
    assert_eq!(value.to_string(), BIG_DECIMAL);
    assert_eq!(loaded, state);
    assert_eq!(loaded.to_json(), state.to_json());

    // The server holds the exact number too.
    let mut client = db.connect();
    let row = client
        .query_one(
            "SELECT state #>> '{bookmarks,public-payments,replication_key_value}' \
             FROM singer_state WHERE job_id = $1",
            &[&"job-roundtrip"],
        )
        .expect("select");
    assert_eq!(row.get::<_, String>(0), BIG_DECIMAL);

    // A later, smaller value does not move it; a larger one does, exactly.
    let mut state = loaded;
    assert!(
        !state
            .advance(
                "public-payments",
                "amount",
                &raw("12345678901234567890.123456789012345677"),
                BookmarkKind::Number
            )
            .expect("advance smaller")
    );
    assert!(
        state
            .advance(
                "public-payments",
                "amount",
                &raw("12345678901234567890.123456789012345679"),
                BookmarkKind::Number
            )
            .expect("advance larger")
    );
    store.save(&state).expect("save again");
    assert_eq!(store.load().expect("load").expect("state"), state);
}

#[test]
fn two_jobs_write_concurrently_and_both_end_correct() {
    const ROUNDS: u64 = 200;
    let db = Arc::new(TestDb::new("state_concurrent"));
    let barrier = Arc::new(Barrier::new(2));
    let writers: Vec<_> = ["job-a", "job-b"]
        .into_iter()
        .map(|job| {
            let db = Arc::clone(&db);
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                // Both create the table at the same moment, too.
                barrier.wait();
                let mut store = PgStateStore::new(db.connect(), job).expect("store");
                for round in 1..=ROUNDS {
                    store.save(&counter_state(job, round)).expect("save");
                    let loaded = store.load().expect("load").expect("state");
                    assert_eq!(loaded, counter_state(job, round), "{job} round {round}");
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().expect("writer thread");
    }

    for job in ["job-a", "job-b"] {
        let mut store = PgStateStore::new(db.connect(), job).expect("store");
        assert_eq!(
            store.load().expect("load"),
            Some(counter_state(job, ROUNDS)),
            "{job}"
        );
    }
    let mut client = db.connect();
    let rows: i64 = client
        .query_one("SELECT count(*) FROM singer_state", &[])
        .expect("count")
        .get(0);
    assert_eq!(rows, 2, "one row per job");
}

#[test]
fn many_stores_racing_to_create_the_table_all_succeed() {
    const STORES: usize = 8;
    let db = Arc::new(TestDb::new("state_create_race"));
    let barrier = Arc::new(Barrier::new(STORES));
    let threads: Vec<_> = (0..STORES)
        .map(|index| {
            let db = Arc::clone(&db);
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                let client = db.connect();
                barrier.wait();
                let mut store =
                    PgStateStore::new(client, format!("job-{index}")).expect("store despite race");
                store
                    .save(&counter_state("s", u64::try_from(index).expect("small")))
                    .expect("save");
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("thread");
    }
}

#[test]
fn a_second_run_of_the_same_job_is_refused_until_the_first_ends() {
    let db = TestDb::new("state_lock");
    let mut first = PgStateStore::new(db.connect(), "job-locked").expect("first store");
    first.save(&counter_state("s", 1)).expect("save");

    let error = PgStateStore::new(db.connect(), "job-locked").expect_err("second run refused");
    assert!(error.is_job_already_running(), "{error}");
    assert!(
        matches!(&error, Error::JobAlreadyRunning { job_id } if job_id == "job-locked"),
        "{error}"
    );

    // Another job is not affected.
    let other = PgStateStore::new(db.connect(), "job-other").expect("other job runs");
    drop(other);

    drop(first);
    let mut second =
        PgStateStore::new(db.connect(), "job-locked").expect("allowed after the first");
    assert_eq!(second.load().expect("load"), Some(counter_state("s", 1)));
}

#[test]
fn a_lost_connection_releases_the_lock() {
    let db = TestDb::new("state_lock_conn");
    let store = PgStateStore::new(db.connect(), "job-crash").expect("first store");
    // Simulate a crashed run: its backend goes away without a clean Drop.
    let mut admin = db.connect();
    let terminated = admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_locks \
             WHERE locktype = 'advisory' AND granted \
               AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
               AND classid = $1::int4::oid AND objid = hashtext($2::text)::oid AND objsubid = 2",
            &[&PgStateStore::LOCK_NAMESPACE, &"job-crash"],
        )
        .expect("terminate the first run's backend");
    assert_eq!(
        terminated, 1,
        "exactly the first run's backend holds the lock"
    );
    drop(store);
    // The backend may take a moment to exit and release its locks.
    let mut attempts = 0;
    let store = loop {
        match PgStateStore::new(db.connect(), "job-crash") {
            Ok(store) => break store,
            Err(error) if error.is_job_already_running() && attempts < 50 => {
                attempts += 1;
                thread::sleep(std::time::Duration::from_millis(100));
            }
            Err(error) => panic!("lock never released: {error}"),
        }
    };
    assert_eq!(store.job_id(), "job-crash");
}

#[test]
fn schema_qualified_and_odd_table_names_are_quoted() {
    let db = TestDb::new("state_table_name");
    let mut client = db.connect();
    client
        .batch_execute("CREATE SCHEMA \"etl.meta\"")
        .expect("schema");
    let table = TableName::qualified("etl.meta", "State \"v1\"; DROP TABLE x").expect("name");
    let mut store =
        PgStateStore::with_table(db.connect(), "job'; --", table.clone()).expect("store");
    store.save(&counter_state("s", 7)).expect("save");
    assert_eq!(store.load().expect("load"), Some(counter_state("s", 7)));
    assert_eq!(store.table(), &table);

    let count: i64 = client
        .query_one(
            &format!("SELECT count(*) FROM {} WHERE job_id = $1", table.quoted()),
            &[&"job'; --"],
        )
        .expect("count")
        .get(0);
    assert_eq!(count, 1);
}

#[test]
fn an_invalid_stored_state_is_reported_with_job_and_table() {
    let db = TestDb::new("state_invalid");
    let mut store = PgStateStore::new(db.connect(), "job-bad").expect("store");
    let mut client = db.connect();
    client
        .execute(
            "INSERT INTO singer_state (job_id, state) VALUES ($1, '[1, 2]'::jsonb)",
            &[&"job-bad"],
        )
        .expect("insert");
    let error = store.load().expect_err("invalid state");
    assert!(
        matches!(&error, Error::StoredState { job_id, .. } if job_id == "job-bad"),
        "{error}"
    );
    assert!(error.is_invalid_input());
}
