//! `singer-reconcile`: compares PostgreSQL with what a Singer pipe loaded
//! into Snowflake or CSV files. Glue only: arguments, logging, exit codes;
//! the work is in the `singer-reconciliation` crate.

use std::path::PathBuf;
use std::process::ExitCode;

use lexopt::prelude::*;
use singer_protocol::{Catalog, ConfigSource, load_config};
use singer_reconciliation::{
    CsvDestination, Destination, Options, SnowflakeDestination, StreamReport, reconcile, specs,
};
use singer_state::State;
use tracing::error;

const USAGE: &str = "\
singer-reconcile: compare PostgreSQL with what a Singer pipe loaded.

Usage: singer-reconcile --source-config TAP.json --catalog CATALOG.json
                        --target snowflake|csv --target-config TARGET.json
                        [--state STATE.json] [--format text|json] [--ranges N] [--allow-duplicates]
                        [--checksum COLUMN[,COLUMN...]]

For each stream the catalog selects, counts the source table's rows and the destination's
rows per range of the stream's integer key (N ranges, default 10, at most 10,000; one range for
other keys),
pushed down to PostgreSQL and Snowflake (GROUP BY, no rows transferred), and prints a table:
stream, source rows, destination rows (distinct keys), difference, duplicates, and the first
key range that differs. Incremental streams are compared up to their bookmark in --state (the
state the target wrote). Rows with _sdc_deleted_at set are not counted. Destination rows beyond
one per key are a difference unless --allow-duplicates (an append-only destination).

--checksum also compares the values of these columns (repeatable; in every stream that has
them): per range, the sum of each row's MD5-based hash of the values' canonical text, pushed down
too (one row per key at the destination). Integers, decimals, text, booleans, dates and
timestamps; another type is a usage error.

Exit codes: 0 every stream matches; 1 a difference (or a side could not be counted);
2 usage or configuration error.
";

#[derive(Default)]
struct Args {
    source_config: Option<PathBuf>,
    catalog: Option<PathBuf>,
    target: Option<String>,
    target_config: Option<PathBuf>,
    state: Option<PathBuf>,
    format: Option<String>,
    ranges: Option<u64>,
    allow_duplicates: bool,
    checksum: Vec<String>,
    log_level: Option<String>,
    help: bool,
}

fn parse() -> Result<Args, lexopt::Error> {
    let mut args = Args::default();
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("source-config") => args.source_config = Some(parser.value()?.into()),
            Long("catalog") | Long("properties") => args.catalog = Some(parser.value()?.into()),
            Long("target") => args.target = Some(parser.value()?.string()?),
            Long("target-config") => args.target_config = Some(parser.value()?.into()),
            Long("state") => args.state = Some(parser.value()?.into()),
            Long("format") => args.format = Some(parser.value()?.string()?),
            Long("ranges") => args.ranges = Some(parser.value()?.parse()?),
            Long("allow-duplicates") => args.allow_duplicates = true,
            Long("checksum") => args.checksum.extend(
                parser
                    .value()?
                    .string()?
                    .split(',')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(str::to_owned),
            ),
            Long("log-level") => args.log_level = Some(parser.value()?.string()?),
            Long("help") | Short('h') => args.help = true,
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(args) => args,
        Err(e) => return singer_cli::bad_arguments(&e),
    };
    singer_cli::init_logging(args.log_level.as_deref());
    let mut out = singer_cli::stdout();
    if args.help {
        let _ = out.write_text(USAGE);
        return ExitCode::SUCCESS;
    }
    match run(&args) {
        Ok(reports) => {
            let text = if args.format.as_deref() == Some("json") {
                serde_json::to_string_pretty(&reports).unwrap_or_default() + "\n"
            } else {
                StreamReport::table(&reports)
            };
            let _ = out.write_text(&text);
            if reports.iter().all(|r| r.matches) {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err((code, message)) => {
            error!(error = %message, "Reconciliation failed.");
            ExitCode::from(code)
        }
    }
}

/// Loads everything and reconciles; an error carries its exit code.
fn run(args: &Args) -> Result<Vec<StreamReport>, (u8, String)> {
    let usage = |reason: String| (2, reason);
    let (Some(source_config), Some(catalog), Some(target), Some(target_config)) = (
        &args.source_config,
        &args.catalog,
        &args.target,
        &args.target_config,
    ) else {
        return Err(usage(
            "--source-config, --catalog, --target and --target-config are required (see --help)"
                .to_owned(),
        ));
    };
    if let Some(format) = &args.format
        && format != "text"
        && format != "json"
    {
        return Err(usage(format!("--format {format:?}: text or json")));
    }
    let chain = |e: &(dyn std::error::Error + 'static)| singer_protocol::ErrorChain(e).to_string();
    let tap: singer_tap_postgres::TapConfig = load_config(
        &[ConfigSource::File(source_config.clone())],
        &singer_tap_postgres::ABOUT,
    )
    .map_err(|e| usage(chain(&e)))?
    .config;
    let connector = singer_tap_postgres::Connector::new(&tap).map_err(|e| usage(chain(&e)))?;
    let catalog = Catalog::from_file(catalog).map_err(|e| usage(chain(&e)))?;
    let state = match &args.state {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| usage(format!("reading {}: {e}", path.display())))?;
            let text = text
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("{}");
            Some(State::from_json(text).map_err(|e| usage(chain(&e)))?)
        }
        None => None,
    };
    let specs = specs(&catalog, state.as_ref()).map_err(|e| usage(chain(&e)))?;
    let mut destination: Box<dyn Destination> = match target.as_str() {
        "snowflake" => {
            let config: singer_target_snowflake::SnowflakeConfig = load_config(
                &[ConfigSource::File(target_config.clone())],
                &singer_target_snowflake::ABOUT,
            )
            .map_err(|e| usage(chain(&e)))?
            .config;
            Box::new(SnowflakeDestination::new(&config).map_err(|e| usage(chain(&e)))?)
        }
        "csv" => {
            let config: singer_target_csv::CsvConfig = load_config(
                &[ConfigSource::File(target_config.clone())],
                &singer_target_csv::ABOUT,
            )
            .map_err(|e| usage(chain(&e)))?
            .config;
            Box::new(CsvDestination::new(config))
        }
        other => return Err(usage(format!("--target {other:?}: snowflake or csv"))),
    };
    let options = Options {
        ranges: args.ranges.unwrap_or(10).clamp(1, 10_000),
        allow_duplicates: args.allow_duplicates,
        checksum: args.checksum.clone(),
    };
    reconcile(&connector, &specs, destination.as_mut(), &options).map_err(|e| {
        let code = if e.is_usage() { 2 } else { 1 };
        (code, chain(&e))
    })
}
