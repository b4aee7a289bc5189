//! The README's first command (`scripts/demo`): runs the main job on an
//! embedded default and reports it for a human.
//!
//! 1. starts a throwaway PostgreSQL (removed when the demo exits) and fills
//!    it from `fixtures/postgres/gitlab.sql` (users, projects, 100,000
//!    issues, 10,000 merge requests, with the tricky types);
//! 2. runs tap-postgres in catalog mode: discovery, then a sync of every
//!    table (issues and merge requests INCREMENTAL on `updated_at`, the rest
//!    FULL_TABLE) into `.demo/out/run-1.jsonl`, with records per stream and
//!    rows/s;
//! 3. changes some rows and syncs again from the saved state: the
//!    incremental streams pick up only the changed rows;
//! 4. keeps the last STATE durably in a file store and in the PostgreSQL
//!    state store, and reads both back.
//!
//! Issue #8 puts target-csv at the end of the pipe once it exists.

#![allow(
    clippy::print_stdout,
    reason = "the demo is not a Singer binary: its stdout is a report for a human"
)]

use std::collections::BTreeMap;
use std::error::Error;
use std::io::{BufReader, BufWriter};
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use serde_json::json;
use singer_protocol::{Catalog, Message, Reader, ReplicationMethod, Writer};
use singer_state::{FileStateStore, PgStateStore, State, StateStore};
use singer_tap_postgres::{Connector, SyncOptions, TapConfig, discover_catalog, sync};

/// Issues generated into the demo database.
const ISSUES: u32 = 100_000;

type Result<T> = std::result::Result<T, Box<dyn Error>>;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            println!("demo failed: {error}");
            let mut source = error.source();
            while let Some(cause) = source {
                println!("  caused by: {cause}");
                source = cause.source();
            }
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()?;
    let out_dir = root.join(".demo");
    std::fs::create_dir_all(out_dir.join("out"))?;

    println!("== 1. A throwaway PostgreSQL with a GitLab-like schema");
    let cluster = singer_testkit::postgres()?;
    let db = cluster.create_database("gitlab")?;
    let mut client = cluster.connect(&db)?;
    let seed = std::fs::read_to_string(root.join("fixtures/postgres/gitlab.sql"))?;
    let started = Instant::now();
    client.batch_execute(&seed.replace(":issues", &ISSUES.to_string()))?;
    println!(
        "   PostgreSQL from {} on {}:{}, database {db}; seeded in {:.1} s",
        cluster.bin_dir().display(),
        cluster.host(),
        cluster.port(),
        started.elapsed().as_secs_f64()
    );

    println!("== 2. tap-postgres, catalog mode: discover, then sync every table");
    let config: TapConfig = serde_json::from_value(json!({
        "host": cluster.host(), "port": cluster.port(), "user": cluster.user(),
        "dbname": db, "sslmode": "disable", "application_name": "singer-demo",
    }))?;
    let connector = Connector::new(&config)?;
    let mut catalog = discover_catalog(&connector, &config)?;
    select_all(&mut catalog);
    for entry in &catalog.streams {
        println!(
            "   {:<24} {:<11} key {:?}",
            entry.tap_stream_id,
            entry
                .replication_method()?
                .map_or("?", ReplicationMethod::as_str),
            entry.replication_key()?.unwrap_or("-"),
        );
    }
    std::fs::write(
        out_dir.join("catalog.json"),
        serde_json::to_string_pretty(&catalog)?,
    )?;
    let state = run_sync(
        &connector,
        &catalog,
        State::new(),
        &out_dir.join("out/run-1.jsonl"),
    )?;

    println!("== 3. Change rows, sync again from the saved state");
    client.batch_execute(
        "UPDATE issues SET title = title || ' (edited)', updated_at = now() WHERE id IN (7, 70, 700);
         INSERT INTO merge_requests (id, target_project_id, author_id, iid, title, source_branch, target_branch, created_at, updated_at)
         VALUES (1000001, 1, 2, 1000001, 'A new MR', 'fix', 'main', now(), now());",
    )?;
    println!("   updated 3 issues, inserted 1 merge request");
    let state = run_sync(
        &connector,
        &catalog,
        state,
        &out_dir.join("out/run-2.jsonl"),
    )?;
    println!(
        "   (INCREMENTAL reads `>= bookmark`, so each stream's last row comes again: at-least-once by design)"
    );

    println!("== 4. The last STATE, kept durably");
    let state_file = out_dir.join("state.json");
    let mut file_store = FileStateStore::new(&state_file);
    file_store.save(&state)?;
    let from_file = file_store.load()?.ok_or("state file vanished")?;
    let mut pg_store = PgStateStore::new(cluster.connect(&db)?, "demo-job")?;
    pg_store.save(&state)?;
    let from_pg = pg_store.load()?.ok_or("state row vanished")?;
    if from_file != state || from_pg != state {
        return Err("a state store gave back a different state".into());
    }
    println!("   file store:       {}", state_file.display());
    println!("   PostgreSQL store: table singer_state, job \"demo-job\"");
    println!("   {}", from_pg.to_json());

    println!(
        "== Done. Singer output, catalog and state are under {}; PostgreSQL stops as the demo exits.",
        out_dir.display()
    );
    Ok(())
}

/// Selects every stream: tables with `updated_at` INCREMENTAL on it, the
/// rest FULL_TABLE (written in both catalog spellings).
fn select_all(catalog: &mut Catalog) {
    let root: [&str; 0] = [];
    for entry in &mut catalog.streams {
        entry.metadata.set(&root, "selected", json!(true));
        let keys = entry.key_properties().unwrap_or_default();
        let incremental = matches!(
            entry.stream.as_str(),
            "public-issues" | "public-merge_requests"
        );
        if incremental {
            entry.set_replication(
                Some(ReplicationMethod::Incremental),
                Some("updated_at"),
                &keys,
            );
        } else {
            entry.set_replication(Some(ReplicationMethod::FullTable), None, &keys);
        }
    }
}

/// Syncs into `out`, prints records per stream and rows/s, and returns the
/// final state.
fn run_sync(connector: &Connector, catalog: &Catalog, state: State, out: &Path) -> Result<State> {
    let started = Instant::now();
    let mut writer = Writer::new(BufWriter::with_capacity(
        1 << 16,
        std::fs::File::create(out)?,
    ));
    let summaries = sync(
        connector,
        catalog,
        state,
        &SyncOptions::default(),
        &mut writer,
    )?;
    writer.flush()?;
    let seconds = started.elapsed().as_secs_f64();
    let total: u64 = summaries.iter().map(|s| s.records).sum();
    for summary in &summaries {
        println!(
            "   {:<24} {:>8} records  ({})",
            summary.tap_stream_id, summary.records, summary.method
        );
    }
    #[allow(clippy::cast_precision_loss, reason = "a rate for display")]
    let rate = total as f64 / seconds;
    println!(
        "   {total} records in {seconds:.2} s ({rate:.0} records/s) -> {}",
        out.display()
    );
    // Read the output back: it is valid Singer, and its last STATE is the
    // state to resume from.
    let mut last_state = None;
    let mut per_stream: BTreeMap<String, u64> = BTreeMap::new();
    for message in Reader::new(BufReader::new(std::fs::File::open(out)?)) {
        match message?.message {
            Message::Record(r) => *per_stream.entry(r.stream).or_default() += 1,
            Message::State(s) => last_state = Some(s.value),
            _ => {}
        }
    }
    if per_stream.values().sum::<u64>() != total {
        return Err("the output does not hold the records the sync reported".into());
    }
    Ok(State::from_value(
        last_state.ok_or("no STATE in the output")?,
    )?)
}
