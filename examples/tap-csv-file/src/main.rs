//! `tap-csv-file`: an example of a Singer tap built on this workspace's
//! crates, as another Rust tool would build one.
//!
//! It reads one CSV file (header on the first line) as one stream, every
//! column a nullable string plus `_row`, the 1-based data row number, and
//! syncs it incrementally:
//!
//! - with `replication_key` (an RFC 3339 timestamp column) it emits the rows
//!   at or after the bookmark (`>=`, so at least once) and one STATE at the
//!   end, since a file need not be sorted;
//! - without it the bookmark is the row number: it emits the rows after the
//!   last one emitted (for append-only files) and a STATE every
//!   `state_interval` rows.
//!
//! What it takes from the crates: `singer_protocol` — the CLI flags
//! ([`TapArgs`]), `--config` files plus `TAP_CSV_FILE_*` environment
//! variables ([`load_config`] with an [`About`]), `--about`, the catalog
//! (`--discover` writes one, `--catalog` selects the stream and its
//! columns) and the [`Writer`] that owns stdout; `singer_state` — the
//! [`State`] document, [`State::reconcile`] (a changed replication key
//! resets the bookmark), [`State::advance`] with exact comparisons, and the
//! `--state` file read through [`FileStateStore`].
//!
//! ```sh
//! tap-csv-file --config '{"path": "people.csv", ...}' --state state.json | target-jsonl --config target.json
//! ```
//!
//! Exit codes: 0 success, 1 runtime failure, 2 usage or configuration error.

use std::io::BufWriter;
use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::{Map, Value, json};
use singer_protocol::{
    About, Catalog, CatalogEntry, Message, RecordMessage, ReplicationMethod, SchemaMessage,
    StateMessage, TapArgs, Writer, load_config,
};
use singer_state::{BookmarkKind, BookmarkValue, FileStateStore, State, StateStore};

/// The row-number column.
const ROW: &str = "_row";

const ABOUT: About = About {
    name: "tap-csv-file",
    version: env!("CARGO_PKG_VERSION"),
    description: "Example tap: one CSV file as one stream, synced incrementally.",
    capabilities: &["discover", "catalog", "state", "about"],
    settings: Config::ALL_SETTINGS,
};

singer_protocol::settings! {
    /// The settings, declared once: the struct, its defaults, `--about` and
    /// the environment variables (`TAP_CSV_FILE_PATH`) all come from here.
    #[derive(Debug)]
    struct Config {
        path: PathBuf = String("The CSV file.").required(),
        stream: String = String("The stream name.").default_value("\"csv\""),
        key_properties: Vec<String> = Array("Key columns (default _row)."),
        replication_key: Option<String> = String("RFC 3339 column to bookmark on."),
        state_interval: u64 = Integer("Rows between STATEs (row mode).").default_value("1000"),
    }
}

type AnyError = Box<dyn std::error::Error>;

fn main() -> ExitCode {
    match TapArgs::parse_from(std::env::args_os().skip(1))
        .map_err(AnyError::from)
        .and_then(|args| run(&args))
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let usage = error
                .downcast_ref::<singer_protocol::Error>()
                .is_some_and(singer_protocol::Error::is_usage);
            report(&error);
            ExitCode::from(if usage { 2 } else { 1 })
        }
    }
}

#[expect(
    clippy::print_stderr,
    reason = "the example logs its one error line without tracing"
)]
fn report(error: &AnyError) {
    eprintln!("tap-csv-file: {error}");
}

fn run(args: &TapArgs) -> Result<(), AnyError> {
    #[expect(clippy::disallowed_methods, reason = "the Singer writer owns stdout")]
    let stdout = std::io::stdout();
    let mut out = Writer::new(BufWriter::new(stdout.lock()));
    if args.common.about {
        return Ok(out.write_text(&ABOUT.render(args.common.format))?);
    }
    let config: Config = load_config(&args.common.config, &ABOUT)?.config;
    let mut csv = csv::Reader::from_path(&config.path)?;
    let header: Vec<String> = csv.headers()?.iter().map(str::to_owned).collect();
    let (method, key, kind) = match &config.replication_key {
        Some(column) => (
            ReplicationMethod::Incremental,
            column.as_str(),
            BookmarkKind::Timestamp,
        ),
        None => (ReplicationMethod::Incremental, ROW, BookmarkKind::Number),
    };
    let keys = match config.key_properties.is_empty() {
        true => vec![ROW.to_owned()],
        false => config.key_properties.clone(),
    };
    let mut properties = Map::from_iter([(ROW.to_owned(), json!({"type": "integer"}))]);
    for column in &header {
        let schema = match Some(column) == config.replication_key.as_ref() {
            true => json!({"type": ["null", "string"], "format": "date-time"}),
            false => json!({"type": ["null", "string"]}),
        };
        properties.insert(column.clone(), schema);
    }
    let mut entry = CatalogEntry::new(
        &config.stream,
        &config.stream,
        json!({"type": "object", "properties": properties}),
    );
    entry.set_replication(Some(method), Some(key), &keys);
    if args.discover {
        out.write_json(&Catalog {
            streams: vec![entry],
        })?;
        return Ok(out.flush()?);
    }
    // Without a catalog every column; with one, the selected columns of the
    // stream if it is selected (the Singer selection rules).
    let mut columns: Vec<String> = properties.keys().cloned().collect();
    if let Some(path) = &args.catalog {
        let catalog = Catalog::from_file(path)?;
        let Some(selected) = catalog.get(&config.stream).filter(|e| e.is_selected()) else {
            return Ok(());
        };
        columns = selected
            .selected_properties()
            .into_iter()
            .map(str::to_owned)
            .collect();
    }
    let schema_properties: Map<String, Value> = columns
        .iter()
        .filter_map(|c| properties.get_key_value(c))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let stream = config.stream.as_str();
    let mut state = match &args.state {
        Some(path) => FileStateStore::new(path).load()?.unwrap_or_else(State::new),
        None => State::new(),
    };
    state.reconcile(stream, method.as_str(), Some(key));
    let start = state.bookmark_value(stream, kind)?;
    out.write(&Message::Schema(SchemaMessage {
        stream: stream.to_owned(),
        schema: json!({"type": "object", "properties": schema_properties}),
        key_properties: keys,
        bookmark_properties: Some(vec![key.to_owned()]),
    }))?;
    let mut emitted = 0u64;
    for (number, row) in (1u64..).zip(csv.records()) {
        let row = row?;
        let mut record = Map::from_iter([(ROW.to_owned(), json!(number))]);
        for (column, cell) in header.iter().zip(row.iter()) {
            record.insert(
                column.clone(),
                if cell.is_empty() {
                    Value::Null
                } else {
                    json!(cell)
                },
            );
        }
        let Some(position) = record.get(key).filter(|v| !v.is_null()).cloned() else {
            continue; // no bookmark value: never emitted incrementally
        };
        if let Some(start) = &start {
            let order = BookmarkValue::from_json(&position, kind)?.compare(start, stream, key)?;
            // Rows at the bookmark again for a column (>=), only later rows by row number.
            if order.is_lt() || (order.is_eq() && key == ROW) {
                continue;
            }
        }
        record.retain(|column, _| columns.contains(column));
        out.write(&Message::Record(RecordMessage::new(stream, &record)?))?;
        state.advance(stream, key, &position, kind)?;
        emitted += 1;
        if key == ROW && emitted.is_multiple_of(config.state_interval.max(1)) {
            out.write(&Message::State(StateMessage {
                value: state.to_value(),
            }))?;
        }
    }
    out.write(&Message::State(StateMessage {
        value: state.to_value(),
    }))?;
    Ok(out.flush()?)
}
