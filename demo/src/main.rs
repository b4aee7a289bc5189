//! The README's first command (`scripts/demo`): runs what works end to end on
//! an embedded default, and reports it for a human.
//!
//! 1. starts a throwaway PostgreSQL (removed when the demo exits);
//! 2. streams the Singer fixture through the protocol reader and writer and
//!    checks the copy is byte-identical (exact numbers, escapes, unicode);
//! 3. streams a generated 200,000-record stream the same way and reports
//!    records/s and MB/s;
//! 4. keeps the last STATE durably in a file store and in the PostgreSQL
//!    state store, and reads both back.
//!
//! Later issues replace steps 2 and 3 with `tap-postgres | target-csv`.

#![allow(
    clippy::print_stdout,
    reason = "the demo is not a Singer binary: its stdout is a report for a human"
)]

use std::collections::BTreeMap;
use std::error::Error;
use std::io::BufReader;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use singer_protocol::{Message, Reader, Writer};
use singer_state::{FileStateStore, PgStateStore, State, StateStore};

/// Records in the generated throughput stream.
const GENERATED_RECORDS: usize = 200_000;

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

    println!("== 1. A throwaway PostgreSQL");
    let cluster = singer_testkit::postgres()?;
    println!(
        "   started PostgreSQL from {} on {}:{} (data in {})",
        cluster.bin_dir().display(),
        cluster.host(),
        cluster.port(),
        cluster.dir().display()
    );

    println!("== 2. The Singer fixture through the protocol reader and writer");
    let fixture = root.join("fixtures/singer/gitlab_issues.jsonl");
    let copy = out_dir.join("out/gitlab_issues.jsonl");
    let report = copy_stream(&std::fs::read(&fixture)?, &copy)?;
    let identical = std::fs::read(&fixture)? == std::fs::read(&copy)?;
    for (stream, count) in &report.records {
        println!("   {stream:<20} {count:>8} records");
    }
    println!(
        "   wrote {} ({}byte-identical to the input)",
        copy.display(),
        if identical { "" } else { "NOT " }
    );
    if !identical {
        return Err("the copy differs from the input".into());
    }

    println!("== 3. Throughput: {GENERATED_RECORDS} generated GitLab-like issue records");
    let input = benches::issues_stream(GENERATED_RECORDS);
    let generated = out_dir.join("out/generated_issues.jsonl");
    let started = Instant::now();
    let generated_report = copy_stream(&input, &generated)?;
    let seconds = started.elapsed().as_secs_f64();
    let records: usize = generated_report.records.values().sum();
    #[allow(clippy::cast_precision_loss, reason = "a rate for display")]
    let (rate, mb) = (records as f64 / seconds, input.len() as f64 / 1e6);
    println!(
        "   {records} records, {mb:.1} MB read and written in {seconds:.2} s: {rate:.0} records/s, {:.0} MB/s",
        mb / seconds
    );

    println!("== 4. The last STATE, kept durably");
    let state = report
        .last_state
        .ok_or("the fixture has no STATE message")?;
    let state = State::from_value(state)?;
    let state_file = out_dir.join("state.json");
    let mut file_store = FileStateStore::new(&state_file);
    file_store.save(&state)?;
    let from_file = file_store.load()?.ok_or("state file vanished")?;
    println!(
        "   file store:       {} -> {}",
        state_file.display(),
        from_file.to_json()
    );

    let db = cluster.create_database("demo")?;
    let mut pg_store = PgStateStore::new(cluster.connect(&db)?, "demo-job")?;
    pg_store.save(&state)?;
    let from_pg = pg_store.load()?.ok_or("state row vanished")?;
    println!(
        "   PostgreSQL store: table singer_state, job \"demo-job\" -> {}",
        from_pg.to_json()
    );
    if from_file != state || from_pg != state {
        return Err("a state store gave back a different state".into());
    }
    match PgStateStore::new(cluster.connect(&db)?, "demo-job") {
        Err(error) if error.is_job_already_running() => {
            println!("   a second run of the same job is refused: {error}");
        }
        Err(error) => return Err(error.into()),
        Ok(_) => return Err("a second concurrent run of the same job was allowed".into()),
    }

    println!(
        "== Done. Outputs are under {}; PostgreSQL stops as the demo exits.",
        out_dir.display()
    );
    Ok(())
}

/// What one pass over a stream saw.
struct Report {
    records: BTreeMap<String, usize>,
    last_state: Option<serde_json::Value>,
}

/// Reads a Singer stream and writes every message to `out`.
fn copy_stream(input: &[u8], out: &Path) -> Result<Report> {
    let file = std::io::BufWriter::with_capacity(1 << 16, std::fs::File::create(out)?);
    let mut writer = Writer::new(file);
    let mut report = Report {
        records: BTreeMap::new(),
        last_state: None,
    };
    for message in Reader::new(BufReader::with_capacity(1 << 16, input)) {
        let message = message?.message;
        match &message {
            Message::Record(record) => {
                *report.records.entry(record.stream.clone()).or_default() += 1;
                writer.write_record(record)?;
            }
            Message::State(state) => {
                report.last_state = Some(state.value.clone());
                writer.write(&message)?;
            }
            other => writer.write(other)?,
        }
    }
    writer.flush()?;
    Ok(report)
}
