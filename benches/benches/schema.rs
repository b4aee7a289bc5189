//! Validation throughput (issue #3): records/s validated against the
//! 15-property schema of `benches::issues_stream`, on one thread, both on
//! pre-parsed `Value`s (validate only) and from the raw RECORD text (parse +
//! validate). Targets aim at 250k records/s; validation must not cost them
//! more than a third, so the goal is ≥ 500k records/s validate-only.

#![allow(
    clippy::expect_used,
    reason = "a bench harness: bad input must abort the run loudly"
)]
#![allow(missing_docs, reason = "criterion_group! generates undocumented items")]

use std::hint::black_box;
use std::io::BufReader;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::Value;
use singer_protocol::{Message, Reader};
use singer_schema::{ValidationConfig, Validator};

/// Records per iteration.
const RECORDS: usize = 20_000;

fn validate(c: &mut Criterion) {
    let input = benches::issues_stream(RECORDS);
    let mut schema = None;
    let mut raw = Vec::with_capacity(RECORDS);
    for message in Reader::new(BufReader::new(input.as_slice())) {
        match message.expect("valid input").message {
            Message::Schema(s) => schema = Some(s),
            Message::Record(r) => raw.push(r.record),
            _ => {}
        }
    }
    let schema = schema.expect("a SCHEMA message");
    let validator = Validator::new(&schema.stream, &schema.schema, &ValidationConfig::default())
        .expect("the schema compiles");
    let parsed: Vec<Value> = raw
        .iter()
        .map(|r| serde_json::from_str(r.get()).expect("record JSON"))
        .collect();
    for (line, record) in (2u64..).zip(&parsed) {
        validator
            .validate(record, line)
            .expect("every record is valid");
    }

    let mut group = c.benchmark_group("schema");
    group.throughput(Throughput::Elements(RECORDS as u64));
    group.sample_size(20);
    group.bench_function("validate_issues", |b| {
        b.iter(|| {
            for (line, record) in (2u64..).zip(&parsed) {
                black_box(validator.validate(record, line)).expect("valid");
            }
        });
    });
    // The same without the format and decimal checks: their share of the cost.
    let unchecked = Validator::new(
        &schema.stream,
        &schema.schema,
        &ValidationConfig::default()
            .with_check_formats(false)
            .with_check_decimals(false),
    )
    .expect("the schema compiles");
    group.bench_function("validate_issues_no_format_checks", |b| {
        b.iter(|| {
            for (line, record) in (2u64..).zip(&parsed) {
                black_box(unchecked.validate(record, line)).expect("valid");
            }
        });
    });
    group.bench_function("parse_validate_issues", |b| {
        b.iter(|| {
            for (line, record) in (2u64..).zip(&raw) {
                let value: Value = serde_json::from_str(record.get()).expect("record JSON");
                black_box(validator.validate(&value, line)).expect("valid");
            }
        });
    });
    group.bench_function("parse_only_issues", |b| {
        b.iter(|| {
            for record in &raw {
                let value: Value = serde_json::from_str(record.get()).expect("record JSON");
                black_box(value);
            }
        });
    });
    group.finish();
}

criterion_group!(benches, validate);
criterion_main!(benches);
