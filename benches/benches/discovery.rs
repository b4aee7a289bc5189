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
use singer_tap_postgres::{Connector, TapConfig, discover_catalog};

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
    // Discovery is internal to the tap: the bench goes through its public
    // entry point (one connection per run, then the catalog queries).
    let config: TapConfig = serde_json::from_value(serde_json::json!({
        "url": cluster.connection_string(&db),
        "sslmode": "disable",
    }))
    .expect("config");
    let connector = Connector::new(&config).expect("connector");

    let mut group = c.benchmark_group("discovery");
    group.throughput(Throughput::Elements(TABLES));
    group.sample_size(20);
    group.bench_function("discover_1000_tables", |b| {
        b.iter(|| {
            let catalog = discover_catalog(&connector, &config).expect("discover");
            assert_eq!(catalog.streams.len() as u64, TABLES);
            black_box(catalog)
        });
    });
    group.bench_function("catalog_json_1000_tables", |b| {
        b.iter(|| {
            let catalog = discover_catalog(&connector, &config).expect("discover");
            let json = serde_json::to_string(&catalog).expect("serialize");
            black_box(json.len())
        });
    });
    group.finish();
}

criterion_group!(benches, discovery);
criterion_main!(benches);
