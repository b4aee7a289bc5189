//! Catalog mode with `parallelism` > 1 against the real throwaway
//! PostgreSQL: several streams at once, big FULL_TABLE copies split into
//! key or block ranges inside one shared snapshot (checked with a
//! concurrent writer that keeps a sum invariant), resume from a mid-run
//! STATE, and a failing worker.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Value, json};
use singer_protocol::{Catalog, Message, ReplicationMethod, Writer};
use singer_state::State;
use singer_tap_postgres::{SyncOptions, discover_catalog, sync};

use crate::sync::{Db, db, decode, states};

/// The catalog with `streams` selected: `(tap_stream_id, method, key)`.
fn select(db: &Db, streams: &[(&str, ReplicationMethod, Option<&str>)]) -> Catalog {
    let mut catalog = discover_catalog(&db.connector, &db.config).expect("discovery");
    catalog
        .streams
        .retain(|s| streams.iter().any(|(id, ..)| *id == s.tap_stream_id));
    assert_eq!(catalog.streams.len(), streams.len(), "streams discovered");
    let root: [&str; 0] = [];
    for entry in &mut catalog.streams {
        let (_, method, key) = streams
            .iter()
            .find(|(id, ..)| *id == entry.tap_stream_id)
            .expect("asked for");
        entry.metadata.set(&root, "selected", json!(true));
        entry
            .metadata
            .set(&root, "replication-method", json!(method.as_str()));
        if let Some(key) = key {
            entry.metadata.set(&root, "replication-key", json!(key));
        }
    }
    catalog
}

fn parallel(parallelism: usize, state_interval: u64) -> SyncOptions {
    SyncOptions {
        parallelism,
        state_interval,
        parallel_min_rows: 0,
        ..SyncOptions::default()
    }
}

fn run_raw(db: &Db, catalog: &Catalog, state: State, options: &SyncOptions) -> Vec<Message> {
    let mut out = Writer::new(Vec::new());
    sync(&db.connector, catalog, state, options, &mut out).expect("sync");
    decode(&out.into_inner())
}

/// Each stream's records' `field` values, in output order.
fn by_stream(messages: &[Message], field: &str) -> BTreeMap<String, Vec<i64>> {
    let mut streams: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for message in messages {
        if let Message::Record(r) = message {
            let map = r.to_map().expect("object");
            streams
                .entry(r.stream.clone())
                .or_default()
                .push(map[field].as_i64().expect("integer"));
        }
    }
    streams
}

#[test]
fn streams_sync_concurrently_each_in_order_with_states_that_cover_only_what_was_written() {
    let mut db = db("par_streams");
    let mut sql = String::new();
    for t in 0..6 {
        sql.push_str(&format!(
            "CREATE TABLE t{t} (id int PRIMARY KEY, seq int NOT NULL);
             INSERT INTO t{t} SELECT i, i * 10 FROM generate_series(1, {n}) i;",
            n = 3_000 + t * 700
        ));
    }
    db.client.batch_execute(&sql).expect("seed");
    let mut wanted = Vec::new();
    for t in 0..6 {
        let method = if t % 2 == 0 {
            ReplicationMethod::Incremental
        } else {
            ReplicationMethod::FullTable
        };
        wanted.push((format!("public-t{t}"), method));
    }
    let streams: Vec<(&str, ReplicationMethod, Option<&str>)> = wanted
        .iter()
        .map(|(id, m)| {
            let key = (*m == ReplicationMethod::Incremental).then_some("seq");
            (id.as_str(), *m, key)
        })
        .collect();
    let catalog = select(&db, &streams);
    let messages = run_raw(&db, &catalog, State::new(), &parallel(3, 500));

    // Every stream complete; the incremental ones in key order, and the
    // small FULL_TABLE ones (below no threshold here, but one range per
    // reader) as one exact set.
    let rows = by_stream(&messages, "id");
    for t in 0..6 {
        let n = 3_000 + t * 700;
        let got = &rows[&format!("public-t{t}")];
        if t % 2 == 0 {
            assert_eq!(
                *got,
                (1..=n).map(i64::from).collect::<Vec<_>>(),
                "t{t} in key order"
            );
        } else {
            let set: BTreeSet<i64> = got.iter().copied().collect();
            assert_eq!(set.len(), got.len(), "t{t}: no row twice");
            assert_eq!(set, (1..=n).map(i64::from).collect(), "t{t}: every row");
        }
    }
    // Streams really run side by side: some stream's records have another
    // stream's records between its first and its last.
    let order: Vec<&str> = messages
        .iter()
        .filter_map(|m| match m {
            Message::Record(r) => Some(r.stream.as_str()),
            _ => None,
        })
        .collect();
    let interleaved = (0..6).any(|t| {
        let name = format!("public-t{t}");
        let first = order.iter().position(|s| *s == name);
        let last = order.iter().rposition(|s| *s == name);
        match (first, last) {
            (Some(first), Some(last)) => order[first..last].iter().any(|s| *s != name),
            _ => false,
        }
    });
    assert!(interleaved, "records of several streams interleave");

    // Every STATE covers only records written before it: an incremental
    // bookmark never runs ahead of the records, and currently_syncing names
    // an unfinished stream until the end.
    let mut max_seq: BTreeMap<String, i64> = BTreeMap::new();
    let mut activated = BTreeSet::new();
    for message in &messages {
        match message {
            Message::Record(r) => {
                let map = r.to_map().expect("object");
                let seq = map["seq"].as_i64().expect("seq");
                let entry = max_seq.entry(r.stream.clone()).or_insert(seq);
                *entry = (*entry).max(seq);
            }
            Message::ActivateVersion(a) => {
                activated.insert(a.stream.clone());
            }
            Message::State(s) => {
                for t in (0..6).step_by(2) {
                    let bookmark = &s.value["bookmarks"][format!("public-t{t}")];
                    if let Some(value) = bookmark["replication_key_value"].as_i64() {
                        assert!(
                            value
                                <= max_seq
                                    .get(&format!("public-t{t}"))
                                    .copied()
                                    .unwrap_or(i64::MIN),
                            "a bookmark ahead of the records: {}",
                            s.value
                        );
                    }
                }
            }
            _ => {}
        }
    }
    assert_eq!(activated.len(), 3, "each FULL_TABLE stream is activated");
    let last = states(&messages).pop().expect("final STATE");
    assert!(last.get("currently_syncing").is_none_or(Value::is_null));
    for t in (0..6).step_by(2) {
        assert_eq!(
            last["bookmarks"][format!("public-t{t}")]["replication_key_value"],
            json!((3_000 + t * 700) * 10)
        );
    }

    // The next run only sends what changed.
    db.client
        .batch_execute("INSERT INTO t2 VALUES (100000, 1000000);")
        .expect("insert");
    let again = run_raw(
        &db,
        &catalog,
        State::from_value(last).expect("state"),
        &parallel(3, 500),
    );
    let rows = by_stream(&again, "id");
    // `>=` the bookmark: the last row again, and the new one.
    assert_eq!(rows["public-t2"], vec![4_400, 100_000]);
}

#[test]
fn a_split_copy_reads_one_snapshot_while_a_writer_moves_amounts_between_ranges() {
    let mut db = db("par_snapshot");
    db.client
        .batch_execute(
            "CREATE TABLE accounts (id bigint PRIMARY KEY, balance bigint NOT NULL, pad text);
             INSERT INTO accounts SELECT i, 1000, repeat('x', 200) FROM generate_series(1, 60000) i;",
        )
        .expect("seed");
    const TOTAL: i64 = 60_000 * 1000;
    let stop = Arc::new(AtomicBool::new(false));
    let cluster = singer_testkit::postgres().expect("cluster");
    let dbname = db.config.dbname.clone().expect("dbname");
    let mut writer_client = cluster.connect(&dbname).expect("connect");
    let writer = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut moves = 0_u64;
            let mut seed = 7_u64;
            while !stop.load(Ordering::Relaxed) {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                // From the low half to the high half of the keys, so that
                // the two rows are in different ranges.
                let from = 1 + i64::try_from((seed >> 33) % 30_000).expect("small");
                let to = 30_001 + i64::try_from((seed >> 17) % 30_000).expect("small");
                let mut tx = writer_client.transaction().expect("begin");
                tx.execute(
                    "UPDATE accounts SET balance = balance - 7 WHERE id = $1",
                    &[&from],
                )
                .expect("debit");
                tx.execute(
                    "UPDATE accounts SET balance = balance + 7 WHERE id = $1",
                    &[&to],
                )
                .expect("credit");
                tx.commit().expect("commit");
                moves += 1;
            }
            moves
        })
    };
    let catalog = select(
        &db,
        &[("public-accounts", ReplicationMethod::FullTable, None)],
    );
    // Let the writer get going, then copy in 4 readers, 16 ranges.
    std::thread::sleep(std::time::Duration::from_millis(200));
    let messages = run_raw(&db, &catalog, State::new(), &parallel(4, 2_000));
    stop.store(true, Ordering::Relaxed);
    let moves = writer.join().expect("writer");
    assert!(
        moves > 10,
        "the writer was busy during the copy ({moves} moves)"
    );

    let mut seen = BTreeSet::new();
    let mut sum = 0_i64;
    for message in &messages {
        if let Message::Record(r) = message {
            let map = r.to_map().expect("object");
            assert!(seen.insert(map["id"].as_i64().expect("id")), "a row twice");
            sum += map["balance"].as_i64().expect("balance");
        }
    }
    assert_eq!(seen.len(), 60_000, "every row");
    assert_eq!(sum, TOTAL, "the copy is one consistent picture");

    // Mid-run states list the unfinished key ranges; the final one none.
    let states = states(&messages);
    assert!(
        states
            .iter()
            .any(|s| s["bookmarks"]["public-accounts"]["pending_ranges"]
                .as_array()
                .is_some_and(|r| r.len() > 1)),
        "mid-run STATE lists pending ranges"
    );
    let last = states.last().expect("final");
    assert!(
        last["bookmarks"]["public-accounts"]
            .get("pending_ranges")
            .is_none()
    );
}

#[test]
fn an_interrupted_split_copy_resumes_its_unfinished_ranges_under_the_same_version() {
    let mut db = db("par_resume");
    db.client
        .batch_execute(
            "CREATE TABLE big (id int PRIMARY KEY, v text);
             INSERT INTO big SELECT i, md5(i::text) FROM generate_series(1, 20000) i;
             DELETE FROM big WHERE id BETWEEN 5000 AND 9000;",
        )
        .expect("seed");
    let catalog = select(&db, &[("public-big", ReplicationMethod::FullTable, None)]);
    let first = run_raw(&db, &catalog, State::new(), &parallel(2, 700));
    let version = first
        .iter()
        .find_map(|m| match m {
            Message::ActivateVersion(a) => Some(a.version),
            _ => None,
        })
        .expect("ACTIVATE_VERSION");
    // Cut the run at every few STATEs, as if the target had committed up to
    // there and the pipe died: what was written before it plus what a rerun
    // from it writes is every row exactly once, under the same version
    // (each chunk of lines carries its reader's position, so a STATE covers
    // every line written before it, whichever reader wrote it).
    let cuts: Vec<usize> = first
        .iter()
        .enumerate()
        .filter(|(_, m)| {
            matches!(m, Message::State(s) if s.value["bookmarks"]["public-big"].get("pending_ranges").is_some())
        })
        .map(|(i, _)| i)
        .collect();
    assert!(cuts.len() >= 4, "several mid-run states ({})", cuts.len());
    let expected: Vec<i64> = (1..5000).chain(9001..=20000).collect();
    for &cut in cuts.iter().step_by(3) {
        let Message::State(state) = &first[cut] else {
            unreachable!()
        };
        let pending: Vec<(i64, i64)> = state.value["bookmarks"]["public-big"]["pending_ranges"]
            .as_array()
            .expect("pending ranges")
            .iter()
            .map(|r| (r[0].as_i64().expect("from"), r[1].as_i64().expect("to")))
            .collect();
        let before: Vec<i64> = by_stream(&first[..cut], "id")
            .remove("public-big")
            .unwrap_or_default();
        for worker_count in [1, 3] {
            let resumed = run_raw(
                &db,
                &catalog,
                State::from_value(state.value.clone()).expect("state"),
                &parallel(worker_count, 700),
            );
            let again: Vec<i64> = by_stream(&resumed, "id")
                .remove("public-big")
                .unwrap_or_default();
            assert!(
                again
                    .iter()
                    .all(|id| pending.iter().any(|(from, to)| from <= id && id <= to)),
                "the rerun reads only the pending ranges"
            );
            let mut all = before.clone();
            all.extend(again);
            all.sort_unstable();
            assert_eq!(
                all, expected,
                "cut at message {cut}, {worker_count} reader(s): every row exactly once"
            );
            assert!(resumed.iter().all(|m| match m {
                Message::Record(r) => r.version == Some(version),
                Message::ActivateVersion(a) => a.version == version,
                _ => true,
            }));
            assert!(
                resumed
                    .iter()
                    .any(|m| matches!(m, Message::ActivateVersion(_))),
                "the resumed copy ends in ACTIVATE_VERSION"
            );
        }
    }
}

#[test]
fn a_table_without_an_integer_key_is_split_by_blocks_and_read_once() {
    let mut db = db("par_blocks");
    db.client
        .batch_execute(
            "CREATE TABLE logs (code text, n int, pad text);
             INSERT INTO logs SELECT 'c' || i, i, repeat('y', 300) FROM generate_series(1, 30000) i;",
        )
        .expect("seed");
    let catalog = select(&db, &[("public-logs", ReplicationMethod::FullTable, None)]);
    let messages = run_raw(&db, &catalog, State::new(), &parallel(3, 1_000));
    let ns = by_stream(&messages, "n")
        .remove("public-logs")
        .expect("rows");
    let set: BTreeSet<i64> = ns.iter().copied().collect();
    assert_eq!(ns.len(), 30_000, "no row twice");
    assert_eq!(set, (1..=30_000).collect(), "every row");
    // Block ranges cannot resume: no state names ranges or keys.
    for state in states(&messages) {
        let bookmark = &state["bookmarks"]["public-logs"];
        assert!(bookmark.get("pending_ranges").is_none());
        assert!(bookmark.get("last_pk_fetched").is_none());
    }
}

#[test]
fn a_failing_worker_stops_the_run_with_nothing_past_the_last_state_that_covers_it() {
    let mut db = db("par_fail");
    db.client
        .batch_execute(
            "CREATE TABLE good (id int PRIMARY KEY, at timestamptz);
             INSERT INTO good SELECT i, '2024-01-01'::timestamptz + i * interval '1 minute'
               FROM generate_series(1, 20000) i;
             CREATE TABLE bad (id int PRIMARY KEY, at timestamptz);
             INSERT INTO bad SELECT i, '2024-01-01'::timestamptz FROM generate_series(1, 3000) i;
             UPDATE bad SET at = 'infinity' WHERE id = 2500;",
        )
        .expect("seed");
    let catalog = select(
        &db,
        &[
            ("public-good", ReplicationMethod::Incremental, Some("at")),
            ("public-bad", ReplicationMethod::FullTable, None),
        ],
    );
    let mut options = parallel(2, 1_000);
    options.policy = serde_json::from_value(json!({"temporal_infinity": "error"})).expect("policy");
    let mut out = Writer::new(Vec::new());
    let error = sync(&db.connector, &catalog, State::new(), &options, &mut out)
        .expect_err("the bad stream fails the run");
    assert_eq!(
        error.to_string(),
        "stream \"public-bad\", column \"at\"",
        "the first failure is the one reported"
    );
    let messages = decode(&out.into_inner());
    // The bad stream is never activated, and no STATE says it finished.
    assert!(
        !messages
            .iter()
            .any(|m| matches!(m, Message::ActivateVersion(a) if a.stream == "public-bad"))
    );
    // Every STATE's incremental bookmark is covered by records before it.
    let mut max_at = String::new();
    for message in &messages {
        match message {
            Message::Record(r) if r.stream == "public-good" => {
                let map = r.to_map().expect("object");
                let at = map["at"].as_str().expect("at").to_owned();
                max_at = max_at.max(at);
            }
            Message::State(s) => {
                if let Some(value) =
                    s.value["bookmarks"]["public-good"]["replication_key_value"].as_str()
                {
                    assert!(
                        value <= max_at.as_str(),
                        "bookmark {value} ahead of {max_at}"
                    );
                }
            }
            _ => {}
        }
    }
}

#[test]
fn a_split_copy_stopped_after_its_last_range_is_activated_by_the_rerun() {
    let mut db = db("par_empty_pending");
    db.client
        .batch_execute(
            "CREATE TABLE done (id int PRIMARY KEY, v text);
             INSERT INTO done SELECT i, 'v' FROM generate_series(1, 100) i;",
        )
        .expect("seed");
    let catalog = select(&db, &[("public-done", ReplicationMethod::FullTable, None)]);
    // Every range read, the run gone before ACTIVATE_VERSION.
    let state = State::from_value(json!({
        "currently_syncing": "public-done",
        "bookmarks": {"public-done": {"version": 42, "pending_ranges": []}}
    }))
    .expect("state");
    let messages = run_raw(&db, &catalog, state, &parallel(2, 10));
    assert!(
        !messages.iter().any(|m| matches!(m, Message::Record(_))),
        "nothing left to read"
    );
    assert!(
        messages
            .iter()
            .any(|m| matches!(m, Message::ActivateVersion(a) if a.version == 42)),
        "the copy is activated"
    );
    let last = states(&messages).pop().expect("state");
    assert!(
        last["bookmarks"]["public-done"]
            .get("pending_ranges")
            .is_none()
    );
    assert!(last.get("currently_syncing").is_none_or(Value::is_null));
}

#[test]
fn max_rows_per_statement_splits_a_table_below_parallel_min_rows_even_with_one_reader() {
    let mut db = db("par_budget_small");
    db.client
        .batch_execute(
            "CREATE TABLE small (id int PRIMARY KEY, v text);
             INSERT INTO small SELECT i, md5(i::text) FROM generate_series(1, 3000) i;
             ANALYZE small;",
        )
        .expect("seed");
    let catalog = select(&db, &[("public-small", ReplicationMethod::FullTable, None)]);
    let ranges_in = |messages: &[Message]| {
        states(messages)
            .iter()
            .filter_map(|s| s["bookmarks"]["public-small"]["pending_ranges"].as_array())
            .map(Vec::len)
            .max()
            .unwrap_or(0)
    };
    // The estimate (3,000 rows) is far below parallel_min_rows (100,000):
    // with the budget, every statement still reads at most about 500 keys.
    let budget = SyncOptions {
        max_rows_per_statement: Some(500),
        state_interval: 10_000,
        ..SyncOptions::default()
    };
    let messages = run_raw(&db, &catalog, State::new(), &budget);
    assert!(
        ranges_in(&messages) >= 6,
        "3,000 rows in ranges of about 500 ({} ranges)",
        ranges_in(&messages)
    );
    let ids = by_stream(&messages, "id");
    assert_eq!(ids["public-small"].len(), 3000, "every row");
    assert_eq!(
        ids["public-small"].iter().collect::<BTreeSet<_>>().len(),
        3000,
        "each once"
    );
    // A table no bigger than the budget is one statement; without a budget
    // a small table is not split either.
    for options in [
        SyncOptions {
            max_rows_per_statement: Some(5000),
            ..SyncOptions::default()
        },
        SyncOptions::default(),
    ] {
        let messages = run_raw(&db, &catalog, State::new(), &options);
        assert_eq!(ranges_in(&messages), 0, "read whole");
        assert_eq!(by_stream(&messages, "id")["public-small"].len(), 3000);
    }
}
