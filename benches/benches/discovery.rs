//! Discovery of 1,000 tables of 10 columns each (issue #4 part 3; goal:
//! under 2 s) in a fresh database on the throwaway PostgreSQL: the catalog
//! queries alone, and the whole of `--discover` after the connection
//! (queries, catalog entries, JSON text).

#![allow(
    clippy::expect_used,
    reason = "a bench harness: a failed setup must abort the run loudly"
)]
#![allow(missing_docs, reason = "criterion_group! generates undocumented items")]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use singer_tap_postgres::discovery::{DiscoveryFilter, discover};
use singer_tap_postgres::types::ValuePolicy;

/// Tables in the database.
const TABLES: u64 = 1_000;

/// Creates `TABLES` tables of 10 columns of mixed types, with primary keys.
const SETUP: &str = "
CREATE SCHEMA many;
DO $$ BEGIN
  FOR i IN 1..1000 LOOP
    EXECUTE format(
      'CREATE TABLE many.t%s (id bigint PRIMARY KEY, name text NOT NULL, amount numeric(18,4),
         created_at timestamptz, updated_at timestamp, flag boolean, payload jsonb,
         tags text[], ref uuid, note varchar(200))', i);
  END LOOP;
END $$;
ANALYZE;";

fn discovery(c: &mut Criterion) {
    let cluster = singer_testkit::postgres().expect("a throwaway PostgreSQL (see singer-testkit)");
    let db = cluster
        .create_database("bench_discovery")
        .expect("create database");
    let mut client = cluster.connect(&db).expect("connect");
    client.batch_execute(SETUP).expect("create the tables");
    let filter = DiscoveryFilter::default();
    let policy = ValuePolicy::default();

    let mut group = c.benchmark_group("discovery");
    group.throughput(Throughput::Elements(TABLES));
    group.sample_size(20);
    group.bench_function("discover_1000_tables", |b| {
        b.iter(|| {
            let tables = discover(&mut client, &filter, policy).expect("discover");
            assert_eq!(tables.len() as u64, TABLES);
            black_box(tables)
        });
    });
    group.bench_function("catalog_json_1000_tables", |b| {
        b.iter(|| {
            let tables = discover(&mut client, &filter, policy).expect("discover");
            let streams: Vec<_> = tables.iter().map(|t| t.catalog_entry(&db)).collect();
            let json = serde_json::to_string(&serde_json::json!({ "streams": streams }))
                .expect("serialize");
            black_box(json.len())
        });
    });
    group.finish();
}

criterion_group!(benches, discovery);
criterion_main!(benches);
