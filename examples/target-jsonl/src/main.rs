//! `target-jsonl`: an example of a Singer target built on `singer-target`:
//! one `<stream>.jsonl` file per stream in `destination_path`, one record
//! per line.
//!
//! All it writes is a [`Loader`]: append a batch's rows, fsync on commit.
//! The [`Driver`] does the rest, as for target-csv and target-snowflake:
//! reading and routing messages, validating records against their SCHEMA,
//! batching (`batch_size_rows`), and the STATE rule — a STATE goes to
//! stdout only after the loader committed every record before it, so the
//! last line of stdout is always a state the files cover. Rows written
//! after the last commit by a run that then fails are not covered by any
//! STATE, and the rerun from that STATE writes them again (at least once).
//! `ACTIVATE_VERSION` is ignored: the files are append-only.
//!
//! Exit codes: 0 success, 1 runtime failure, 2 usage or configuration error.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use singer_protocol::{About, TargetArgs, Writer, load_config};
use singer_target::{Batch, BatchConfig, Driver, DriverConfig, Loader, Retryable, StreamSchema};

/// A file that could not be opened, written or synced.
#[derive(Debug, thiserror::Error)]
#[error("{action} {}: {source}", path.display())]
struct JsonlError {
    action: &'static str,
    path: PathBuf,
    #[source]
    source: std::io::Error,
}

impl Retryable for JsonlError {
    fn is_retryable(&self) -> bool {
        false // a local disk: trying again will not help
    }
}

/// One open file per stream, and the columns of its rows.
struct JsonlLoader {
    dir: PathBuf,
    streams: HashMap<String, (Vec<String>, BufWriter<File>, PathBuf)>,
}

impl Loader for JsonlLoader {
    type Error = JsonlError;

    fn configure_stream(&mut self, schema: &StreamSchema) -> Result<(), JsonlError> {
        if let Some((columns, ..)) = self.streams.get_mut(&schema.stream) {
            columns.clone_from(&schema.columns); // a new SCHEMA: later rows have these columns
            return Ok(());
        }
        // Stream names come from the input: keep them inside the directory.
        let safe: String = schema
            .stream
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let path = self.dir.join(format!("{safe}.jsonl"));
        let file = OpenOptions::new().create(true).append(true).open(&path);
        let file = file.map_err(|source| JsonlError {
            action: "opening",
            path: path.clone(),
            source,
        })?;
        let entry = (schema.columns.clone(), BufWriter::new(file), path);
        self.streams.insert(schema.stream.clone(), entry);
        Ok(())
    }

    fn write_batch(&mut self, stream: &str, batch: &Batch) -> Result<(), JsonlError> {
        let Some((columns, file, path)) = self.streams.get_mut(stream) else {
            return Ok(()); // the driver configures every stream before its rows
        };
        let mut line = String::new();
        for row in batch.rows() {
            line.clear();
            // Cells are the records' raw JSON text: numbers keep every digit.
            for (column, cell) in columns.iter().zip(row.cells()) {
                if let Some(cell) = cell {
                    line.push(if line.is_empty() { '{' } else { ',' });
                    line.push_str(&serde_json::Value::from(column.as_str()).to_string());
                    line.push(':');
                    line.push_str(cell);
                }
            }
            line.push_str(if line.is_empty() { "{}\n" } else { "}\n" });
            let written = file.write_all(line.as_bytes());
            written.map_err(|source| JsonlError {
                action: "writing",
                path: path.clone(),
                source,
            })?;
        }
        Ok(())
    }

    fn commit(&mut self) -> Result<(), JsonlError> {
        for (_, file, path) in self.streams.values_mut() {
            let synced = file.flush().and_then(|()| file.get_ref().sync_data());
            synced.map_err(|source| JsonlError {
                action: "syncing",
                path: path.clone(),
                source,
            })?;
        }
        Ok(())
    }

    fn activate_version(&mut self, _stream: &str, _version: u64) -> Result<(), JsonlError> {
        Ok(())
    }
}

const ABOUT: About = About {
    name: "target-jsonl",
    version: env!("CARGO_PKG_VERSION"),
    description: "Example target: one JSON-lines file per stream.",
    capabilities: &["about", "validate-records"],
    settings: Config::ALL_SETTINGS,
};

singer_protocol::settings! {
    /// The settings, declared once (struct, defaults, `--about`).
    struct Config {
        destination_path: PathBuf = String("Directory of the files.").required(),
        batch_size_rows: usize = Integer("Rows per batch.").default_value("10000"),
        commit_interval_seconds: u64 = Integer("Seconds between commits.").default_value("60"),
    }
}

fn main() -> ExitCode {
    let result = TargetArgs::parse_from(std::env::args_os().skip(1))
        .map_err(Into::into)
        .and_then(|args| run(&args));
    let Err(error) = result else {
        return ExitCode::SUCCESS;
    };
    let usage = error
        .downcast_ref::<singer_protocol::Error>()
        .is_some_and(singer_protocol::Error::is_usage);
    #[expect(
        clippy::print_stderr,
        reason = "the example reports its one error line without tracing"
    )]
    {
        eprintln!("target-jsonl: {error}");
    }
    ExitCode::from(if usage { 2 } else { 1 })
}

fn run(args: &TargetArgs) -> Result<(), Box<dyn std::error::Error>> {
    #[expect(clippy::disallowed_methods, reason = "the Singer writer owns stdout")]
    let mut out = Writer::new(BufWriter::new(std::io::stdout().lock()));
    if args.common.about {
        return Ok(out.write_text(&ABOUT.render(args.common.format))?);
    }
    let config: Config = load_config(&args.common.config, &ABOUT)?.config;
    std::fs::create_dir_all(&config.destination_path)?;
    let loader = JsonlLoader {
        dir: config.destination_path,
        streams: HashMap::new(),
    };
    let batch = BatchConfig {
        max_records: config.batch_size_rows,
        ..BatchConfig::default()
    };
    let interval = Duration::from_secs(config.commit_interval_seconds);
    let driver_config = DriverConfig::default()
        .with_batch(batch)
        .with_commit_interval(Some(interval));
    #[expect(
        clippy::disallowed_methods,
        reason = "the driver reads stdin on its reader thread"
    )]
    let stdin = std::io::stdin();
    Driver::new(loader, driver_config).run(stdin, &mut out)?;
    Ok(out.flush()?)
}
