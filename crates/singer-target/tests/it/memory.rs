//! Memory bounded across streams, not only per stream: with many
//! interleaved streams, the open batches together stay under
//! `max_total_bytes` (the largest are written early), every record still
//! arrives once, and STATE still waits for the commit that covers it.

use singer_target::{BatchConfig, DriverConfig};

use crate::support::{Event, Recorder, run_with};

const STREAMS: usize = 200;
const ROUNDS: usize = 60;
const CAP: usize = 32 * 1024;

fn schema(stream: usize) -> String {
    format!(
        r#"{{"type":"SCHEMA","stream":"s{stream}","schema":{{"type":"object","properties":{{"id":{{"type":"integer"}},"text":{{"type":"string"}}}}}},"key_properties":["id"]}}"#
    )
}

fn record(stream: usize, id: usize) -> String {
    format!(
        r#"{{"type":"RECORD","stream":"s{stream}","record":{{"id":{id},"text":"{}"}}}}"#,
        "x".repeat(40)
    )
}

#[test]
fn two_hundred_interleaved_streams_stay_under_the_total_cap() {
    let mut input = String::new();
    for stream in 0..STREAMS {
        input.push_str(&schema(stream));
        input.push('\n');
    }
    for round in 0..ROUNDS {
        for stream in 0..STREAMS {
            input.push_str(&record(stream, round));
            input.push('\n');
        }
    }
    input.push_str(r#"{"type":"STATE","value":{"done":true}}"#);
    input.push('\n');
    let config = DriverConfig::default()
        .with_batch(BatchConfig {
            max_total_bytes: CAP,
            ..BatchConfig::default()
        })
        .with_commit_interval(None);
    let run = run_with(&input, Recorder::default(), config);
    let summary = run.result.as_ref().expect("loads");
    assert_eq!(summary.records, (STREAMS * ROUNDS) as u64);
    // Without the cap all 12,000 records (~700 KB of batches) would wait
    // for the end; with it the open batches never pass the cap by more than
    // one record's cells.
    assert!(
        summary.peak_buffered_bytes <= CAP + 256,
        "peak {} over the cap {CAP}",
        summary.peak_buffered_bytes
    );
    let writes = run.writes();
    assert!(
        writes.len() > STREAMS,
        "batches written early: {}",
        writes.len()
    );
    let rows: usize = writes.iter().map(|(_, rows)| rows.len()).sum();
    assert_eq!(rows, STREAMS * ROUNDS, "every record written once");
    // One commit at the end, and the STATE only after it.
    let commit = run
        .events
        .iter()
        .position(|e| *e == Event::Commit)
        .expect("a commit");
    let state = run
        .events
        .iter()
        .position(|e| matches!(e, Event::State(_)))
        .expect("the STATE");
    assert!(commit < state);
    assert_eq!(run.states().len(), 1);
}

#[test]
fn without_pressure_nothing_is_written_early() {
    let mut input = String::new();
    for stream in 0..3 {
        input.push_str(&schema(stream));
        input.push('\n');
    }
    for round in 0..10 {
        for stream in 0..3 {
            input.push_str(&record(stream, round));
            input.push('\n');
        }
    }
    let config = DriverConfig::default().with_commit_interval(None);
    let run = run_with(&input, Recorder::default(), config);
    let summary = run.result.as_ref().expect("loads");
    assert_eq!(run.writes().len(), 3, "one batch per stream, at the end");
    assert!(summary.peak_buffered_bytes > 0);
}
