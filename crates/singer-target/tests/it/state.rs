//! The STATE rule: written only after every record before it is committed.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use singer_target::{BatchConfig, Driver, DriverConfig, Error, RetryPolicy};

use crate::support::{Event, Recorder, USERS, lines, record, run, run_driver, run_with, state};

fn every_batch(max_records: usize) -> DriverConfig {
    DriverConfig::default()
        .with_batch(BatchConfig {
            max_records,
            ..BatchConfig::default()
        })
        .with_commit_interval(Some(Duration::ZERO))
}

/// Every STATE line must come after a commit that follows the write of
/// every record received before the STATE message.
fn assert_states_follow_commits(events: &[Event]) {
    let mut uncommitted_write = false;
    for event in events {
        match event {
            Event::Write { .. } => uncommitted_write = true,
            Event::Commit => uncommitted_write = false,
            Event::State(s) => assert!(
                !uncommitted_write,
                "STATE {s} before its commit: {events:#?}"
            ),
            _ => {}
        }
    }
}

#[test]
fn a_failed_second_commit_writes_no_later_state() {
    let input = lines(&[
        USERS,
        &record(1),
        &record(2),
        &state(2),
        &record(3),
        &record(4),
        &state(4),
        &record(5),
        &state(5),
    ]);
    let loader = Recorder {
        fail_commits: vec![2],
        ..Recorder::default()
    };
    let run = run_with(&input, loader, every_batch(2));
    // The second commit waits for the STATE of line 7 (a commit never
    // publishes records after the latest STATE).
    assert_eq!(
        run.error(),
        "line 7: commit failed: test loader: commit failed"
    );
    // Only the state covered by the first commit is out.
    assert_eq!(run.states(), [r#"{"bookmarks":{"users":{"id":2}}}"#]);
    assert_states_follow_commits(&run.events);
    assert!(matches!(
        run.result,
        Err(Error::Loader {
            retryable: false,
            ..
        })
    ));
}

#[test]
fn states_are_written_after_each_commit_covering_them() {
    let input = lines(&[
        USERS,
        &record(1),
        &state(1),
        &record(2),
        &state(2),
        &record(3),
        &state(3),
    ]);
    let run = run_with(&input, Recorder::default(), every_batch(1));
    run.result.as_ref().expect("run succeeds");
    assert_eq!(
        run.states(),
        [
            r#"{"bookmarks":{"users":{"id":1}}}"#,
            r#"{"bookmarks":{"users":{"id":2}}}"#,
            r#"{"bookmarks":{"users":{"id":3}}}"#
        ]
    );
    assert_states_follow_commits(&run.events);
}

#[test]
fn end_of_input_commits_then_writes_the_latest_state() {
    let input = lines(&[
        USERS,
        &record(1),
        &state(1),
        &record(2),
        &state(2),
        &record(3),
    ]);
    let run = run(&input);
    let summary = run.result.as_ref().expect("run succeeds");
    assert_eq!(
        (summary.records, summary.commits, summary.states),
        (3, 1, 1)
    );
    assert_eq!(run.states(), [r#"{"bookmarks":{"users":{"id":2}}}"#]);
    assert_eq!(
        run.events.last(),
        Some(&Event::State(
            r#"{"bookmarks":{"users":{"id":2}}}"#.to_owned()
        ))
    );
    assert_states_follow_commits(&run.events);
}

#[test]
fn no_state_is_written_when_none_came() {
    let run = run(&lines(&[USERS, &record(1), &record(2)]));
    run.result.as_ref().expect("run succeeds");
    assert!(run.states().is_empty(), "{:?}", run.events);
    assert!(run.events.contains(&Event::Commit));
    // Nothing at all: no commit, no state.
    let run = crate::support::run("");
    assert_eq!(run.events, []);
}

#[test]
fn a_state_with_nothing_uncommitted_is_written_at_once() {
    let run = run(&lines(&[&state(7), USERS, &state(8)]));
    run.result.as_ref().expect("run succeeds");
    // The SCHEMA configured the loader (uncommitted work), so the second
    // state waits for the final commit.
    assert_eq!(
        run.events.first(),
        Some(&Event::State(
            r#"{"bookmarks":{"users":{"id":7}}}"#.to_owned()
        ))
    );
    assert_eq!(run.states().len(), 2);
    assert_states_follow_commits(&run.events);
}

#[test]
fn a_failing_input_line_writes_no_state_past_the_last_commit() {
    let input = lines(&[
        USERS,
        &record(1),
        &state(1),
        &record(2),
        "{not json",
        &state(2),
    ]);
    let run = run_with(&input, Recorder::default(), every_batch(1));
    assert_eq!(
        run.error(),
        "line 5, column 2: malformed JSON: key must be a string"
    );
    assert_eq!(run.states(), [r#"{"bookmarks":{"users":{"id":1}}}"#]);
}

#[test]
fn retryable_commit_failures_are_retried() {
    let loader = Recorder {
        fail_commits: vec![1],
        retryable: true,
        ..Recorder::default()
    };
    let config = DriverConfig::default().with_retry(RetryPolicy {
        max_attempts: 2,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(1),
        budget: None,
    });
    let run = run_with(&lines(&[USERS, &record(1), &state(1)]), loader, config);
    let summary = run.result.as_ref().expect("second attempt succeeds");
    assert_eq!(summary.commits, 1);
    assert_eq!(run.states().len(), 1);
}

#[test]
fn a_signal_commits_what_was_read_and_writes_its_state() {
    let flag = Arc::new(AtomicBool::new(false));
    let loader = Recorder {
        interrupt_on: Some(("2".to_owned(), Arc::clone(&flag))),
        ..Recorder::default()
    };
    let log = Arc::clone(&loader.log);
    let config = every_batch(1).with_commit_interval(None);
    let driver = Driver::new(loader, config).with_interrupt(flag);
    let input = lines(&[
        USERS,
        &record(1),
        &state(1),
        &record(2),
        &state(2),
        &record(3),
        &state(3),
    ]);
    let run = run_driver(&input, driver, &log);
    assert_eq!(
        run.error(),
        "interrupted by a signal after line 4: committed what was read; STATE written up to there"
    );
    assert_eq!(run.states(), [r#"{"bookmarks":{"users":{"id":1}}}"#]);
    let written: usize = run.writes().iter().map(|(_, rows)| rows.len()).sum();
    assert_eq!(written, 2, "record 3 was never loaded");
    assert_states_follow_commits(&run.events);
}

#[test]
fn batches_close_on_records_and_bytes() {
    let input = lines(&[
        USERS,
        &record(1),
        &record(2),
        &record(3),
        &record(4),
        &record(5),
    ]);
    let config = DriverConfig::default().with_batch(BatchConfig {
        max_records: 2,
        ..BatchConfig::default()
    });
    let run = run_with(&input, Recorder::default(), config);
    let sizes: Vec<usize> = run.writes().iter().map(|(_, r)| r.len()).collect();
    assert_eq!(sizes, [2, 2, 1]);
    let config = DriverConfig::default().with_batch(BatchConfig {
        max_bytes: 1,
        ..BatchConfig::default()
    });
    let run = run_with(&input, Recorder::default(), config);
    let sizes: Vec<usize> = run.writes().iter().map(|(_, r)| r.len()).collect();
    assert_eq!(sizes, [1, 1, 1, 1, 1]);
    // One commit at the end: batches are writes, commits follow the interval.
    assert_eq!(
        run.events.iter().filter(|e| **e == Event::Commit).count(),
        1
    );
}

#[test]
fn batches_close_on_age() {
    let input = lines(&[USERS, &record(1)]);
    let config = DriverConfig::default().with_batch(BatchConfig {
        max_age: Duration::ZERO,
        ..BatchConfig::default()
    });
    let run = run_with(&input, Recorder::default(), config);
    run.result.as_ref().expect("run succeeds");
    assert_eq!(run.writes().len(), 1);
}

#[test]
fn streams_interleave_and_state_waits_for_all_of_them() {
    let other = r#"{"type":"SCHEMA","stream":"other","schema":{"properties":{"k":{"type":"string"}}},"key_properties":[]}"#;
    let other_record = r#"{"type":"RECORD","stream":"other","record":{"k":"x"}}"#;
    let input = lines(&[
        USERS,
        other,
        other_record,
        &record(1),
        &record(2),
        &state(2),
    ]);
    let run = run_with(&input, Recorder::default(), every_batch(2));
    run.result.as_ref().expect("run succeeds");
    // users' full batch triggers a checkpoint that writes other's open batch too.
    let writes = run.writes();
    assert_eq!(writes[0].0, "users");
    assert_eq!(writes[1].0, "other");
    assert_states_follow_commits(&run.events);
    assert_eq!(run.states().len(), 1);
}

#[test]
fn activate_version_reaches_the_loader_after_the_streams_rows() {
    let activate = r#"{"type":"ACTIVATE_VERSION","stream":"users","version":42}"#;
    let run = run(&lines(&[USERS, &record(1), activate, &record(2)]));
    run.result.as_ref().expect("run succeeds");
    let position =
        |wanted: &dyn Fn(&Event) -> bool| run.events.iter().position(wanted).expect("event");
    let first_write = position(&|e| matches!(e, Event::Write { .. }));
    let activated = position(&|e| matches!(e, Event::Activate { version: 42, .. }));
    assert!(first_write < activated);
    assert_eq!(run.writes().len(), 2);
}

#[test]
fn skip_policy_drops_and_counts_invalid_records() {
    let input = lines(&[
        USERS,
        &record(1),
        r#"{"type":"RECORD","stream":"users","record":{"id":"x"}}"#,
        &record(3),
    ]);
    let config = DriverConfig::default().with_validation(
        singer_schema::ValidationConfig::new().with_policy(singer_schema::ValidationPolicy::Skip),
    );
    let run = run_with(&input, Recorder::default(), config);
    let summary = run.result.as_ref().expect("run succeeds");
    assert_eq!((summary.records, summary.skipped), (2, 1));
    // With validation off, the record loads as is.
    let run = run_with(
        &input,
        Recorder::default(),
        DriverConfig::default().with_validate(false),
    );
    assert_eq!(run.result.as_ref().expect("ok").records, 3);
}

#[test]
fn metadata_columns_are_added_and_filled() {
    let input = lines(&[
        USERS,
        r#"{"type":"RECORD","stream":"users","record":{"id":1,"name":null},"version":7,"time_extracted":"2024-01-01T00:00:00Z"}"#,
        &record(2),
    ]);
    let run = run_with(
        &input,
        Recorder::default(),
        DriverConfig::default().with_record_metadata(true),
    );
    run.result.as_ref().expect("run succeeds");
    let Event::Configure { columns, .. } = &run.events[0] else {
        panic!()
    };
    assert_eq!(
        columns,
        &[
            "id",
            "name",
            "_sdc_extracted_at",
            "_sdc_received_at",
            "_sdc_batched_at",
            "_sdc_deleted_at",
            "_sdc_sequence",
            "_sdc_table_version"
        ]
    );
    // The two records carry different table versions: two batches.
    let writes = run.writes();
    assert_eq!(writes.len(), 2, "a new table version closes the open batch");
    let rows: Vec<Vec<Option<String>>> = writes.into_iter().flat_map(|(_, rows)| rows).collect();
    let first = &rows[0];
    assert_eq!(first[2].as_deref(), Some("\"2024-01-01T00:00:00Z\""));
    assert!(first[3].as_deref().is_some_and(|t| t.ends_with("Z\"")));
    assert!(first[4].as_deref().is_some_and(|t| t.ends_with("Z\"")));
    assert_eq!(first[5].as_deref(), Some("null"));
    assert_eq!(first[7].as_deref(), Some("7"));
    assert_eq!(rows[1][7].as_deref(), Some("null"));
    let seq = |r: &Vec<Option<String>>| r[6].as_deref().unwrap().parse::<u64>().unwrap();
    assert!(seq(&rows[1]) > seq(first));
}

#[test]
fn flattening_makes_parent_child_columns() {
    let schema = r#"{"type":"SCHEMA","stream":"users","schema":{"properties":{"id":{"type":"integer"},"author":{"type":"object","properties":{"id":{"type":"integer"},"tags":{"type":"array"}}}}},"key_properties":["id"]}"#;
    let input = lines(&[
        schema,
        r#"{"type":"RECORD","stream":"users","record":{"id":1,"author":{"id":12345678901234567890,"tags":["a"]}}}"#,
    ]);
    let config = DriverConfig::default().with_flattening(singer_schema::FlatteningConfig {
        flattening_enabled: true,
        flattening_max_depth: 1,
    });
    let run = run_with(&input, Recorder::default(), config);
    run.result.as_ref().expect("run succeeds");
    let Event::Configure { columns, .. } = &run.events[0] else {
        panic!()
    };
    assert_eq!(columns, &["id", "author__id", "author__tags"]);
    assert_eq!(
        run.writes()[0].1[0],
        [
            Some("1".to_owned()),
            Some("12345678901234567890".to_owned()),
            Some(r#""[\"a\"]""#.to_owned())
        ]
    );
}

/// Regression (found by the crash/resume test, e2e/tests/it/crash.rs): a
/// commit due at a full batch published records after the latest STATE; a
/// kill before the next STATE made the resumed FULL_TABLE copy send them
/// again, so the activated version held them twice.
#[test]
fn a_commit_never_publishes_records_after_the_latest_state() {
    let input = lines(&[
        USERS,
        &state(0),
        &record(1),
        &record(2),
        &record(3),
        &record(4),
        &state(4),
        &record(5),
        &record(6),
    ]);
    let run = run_with(&input, Recorder::default(), every_batch(2));
    assert!(run.result.is_ok(), "{:?}", run.result);
    assert_eq!(
        run.states(),
        [
            r#"{"bookmarks":{"users":{"id":0}}}"#,
            r#"{"bookmarks":{"users":{"id":4}}}"#
        ]
    );
    // Batches of 2 are written as they fill, but the commit after state 0
    // waits for state 4; the end of input then commits 5 and 6 (no table
    // version: at-least-once, nothing to duplicate).
    let position = |n: &str| {
        run.events
            .iter()
            .position(|e| matches!(e, Event::State(s) if s.contains(n)))
            .unwrap()
    };
    let (state_0, state_4) = (position(":0"), position(":4"));
    let commits: Vec<usize> = run
        .events
        .iter()
        .enumerate()
        .filter(|(i, e)| matches!(e, Event::Commit) && (state_0..state_4).contains(i))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(commits, [state_4 - 1], "{:#?}", run.events);
    assert!(
        matches!(run.events.last(), Some(Event::Commit)),
        "{:#?}",
        run.events
    );
    assert_states_follow_commits(&run.events);
}

/// Regression (crash/resume test): when the tap died in the middle of a
/// FULL_TABLE copy, the end of input committed the records after its last
/// STATE; the resumed copy (same version, from that STATE) sent them again.
#[test]
fn input_ending_with_versioned_records_after_the_last_state_commits_nothing_past_it() {
    let versioned = |id: u32| {
        format!(
            r#"{{"type":"RECORD","stream":"users","record":{{"id":{id},"name":"n{id}"}},"version":7}}"#
        )
    };
    let input = lines(&[
        USERS,
        &versioned(1),
        &versioned(2),
        &state(2),
        &versioned(3),
        &versioned(4),
        &versioned(5),
    ]);
    let run = run_with(&input, Recorder::default(), every_batch(2));
    assert!(
        matches!(
            run.result,
            Err(Error::EndedWithoutState {
                records: 3,
                version: 7,
                ..
            })
        ),
        "{:?}",
        run.result
    );
    assert_eq!(
        run.error(),
        "input ended at line 7 with 3 records after the last STATE, of stream \"users\" table version 7: the tap stopped mid-stream; not committing them (a resume from the last STATE written sends them again)"
    );
    assert_eq!(run.states(), [r#"{"bookmarks":{"users":{"id":2}}}"#]);
    // The last commit is the one before state 2.
    let last_commit = run.events.iter().rposition(|e| matches!(e, Event::Commit));
    let state_2 = run.events.iter().position(|e| matches!(e, Event::State(_)));
    assert_eq!(last_commit.map(|c| c + 1), state_2, "{:#?}", run.events);
}

#[test]
fn input_ending_after_an_activate_version_commits_the_copy() {
    let versioned = |id: u32| {
        format!(
            r#"{{"type":"RECORD","stream":"users","record":{{"id":{id},"name":"n{id}"}},"version":7}}"#
        )
    };
    // A tap that writes no STATE after the last records of a finished copy.
    let input = lines(&[
        USERS,
        &state(0),
        &versioned(1),
        &versioned(2),
        r#"{"type":"ACTIVATE_VERSION","stream":"users","version":7}"#,
    ]);
    let run = run_with(&input, Recorder::default(), every_batch(2));
    assert!(run.result.is_ok(), "{:?}", run.result);
    assert!(
        matches!(run.events.last(), Some(Event::Commit)),
        "{:#?}",
        run.events
    );
}
