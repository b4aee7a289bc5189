//! `tap-postgres`: the Singer tap for PostgreSQL.
//!
//! Glue only: parses arguments, loads configuration, sets up logging on
//! stderr, and calls [`singer_tap_postgres::discover_catalog`] or
//! [`singer_tap_postgres::sync`]. Exit codes: 0 success, 1 runtime failure,
//! 2 usage or configuration error.

use std::io::{BufWriter, StdoutLock};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use singer_protocol::{Catalog, TapArgs, Writer, load_config};
use singer_state::State;
use singer_tap_postgres::{ABOUT, Connector, SyncOptions, TapConfig, discover_catalog, sync};
use tracing::{error, info, warn};

const USAGE: &str = "\
Usage: tap-postgres --config CONFIG.json [--config MORE.json ...] --discover
       tap-postgres --config CONFIG.json --catalog CATALOG.json [--state STATE.json]
       tap-postgres --config CONFIG.json --test
       tap-postgres --about [--format json|markdown] | --version | --help

Options:
  --config FILE      Configuration (repeatable; later files win; `ENV` for environment only).
                     Every setting can also be set as TAP_POSTGRES_<SETTING>, which wins.
  --discover         Print a catalog of the tables, views and materialized views.
  --catalog FILE     Sync the streams the catalog selects (--properties is an alias).
  --state FILE       Resume from this state.
  --test             Check the connection and exit.
  --about            Name, version, capabilities and settings (--format json|markdown).
  --log-level LEVEL  error, warn, info (default), debug, trace, or a RUST_LOG filter.

stdout carries Singer messages only; logs go to stderr.
";

fn main() -> ExitCode {
    let args = match TapArgs::parse_from(std::env::args_os().skip(1)) {
        Ok(args) => args,
        Err(e) => {
            init_logging(None);
            error!(error = %e, "Invalid arguments; see --help.");
            return ExitCode::from(2);
        }
    };
    init_logging(args.common.log_level.as_deref());
    #[expect(
        clippy::disallowed_methods,
        reason = "the one place that takes stdout: the Singer writer owns it"
    )]
    let stdout = std::io::stdout();
    let mut out = Writer::new(BufWriter::with_capacity(1 << 16, stdout.lock()));
    match run(&args, &mut out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            if error
                .downcast_ref::<singer_tap_postgres::Error>()
                .is_some_and(singer_tap_postgres::Error::is_broken_pipe)
            {
                info!("The reader of stdout went away; stopping.");
                return ExitCode::FAILURE;
            }
            error!(error = format!("{error:#}"), "tap-postgres failed.");
            let usage = error.chain().any(|cause| {
                cause
                    .downcast_ref::<singer_protocol::Error>()
                    .is_some_and(singer_protocol::Error::is_usage)
                    || cause
                        .downcast_ref::<singer_tap_postgres::Error>()
                        .is_some_and(singer_tap_postgres::Error::is_usage)
            });
            ExitCode::from(if usage { 2 } else { 1 })
        }
    }
}

fn run(args: &TapArgs, out: &mut Writer<BufWriter<StdoutLock<'_>>>) -> anyhow::Result<()> {
    let common = &args.common;
    if common.help {
        out.write_text(USAGE)?;
        return Ok(());
    }
    if common.version {
        out.write_text(&format!("{} {}\n", ABOUT.name, ABOUT.version))?;
        return Ok(());
    }
    if common.about {
        out.write_text(&ABOUT.render(common.format))?;
        return Ok(());
    }
    let loaded =
        load_config::<TapConfig>(&common.config, &ABOUT).context("loading configuration")?;
    for key in &loaded.unknown_keys {
        warn!(key = %key, "Unknown configuration key ignored.");
    }
    let config = loaded.config;
    let connector = Connector::new(&config).context("configuring the connection")?;
    if args.test {
        connector.connect().context("testing the connection")?;
        info!(server = %connector.server(), "Connection test succeeded.");
        return Ok(());
    }
    if args.discover {
        let catalog = discover_catalog(&connector, &config).context("discovering")?;
        info!(streams = catalog.streams.len(), server = %connector.server(), "Discovery done.");
        out.write_json(&catalog)?;
        return Ok(());
    }
    let Some(catalog_path) = &args.catalog else {
        anyhow::bail!(singer_protocol::Error::Usage {
            reason: "nothing to do: give --discover, --catalog FILE or --test (see --help)"
                .to_owned(),
        });
    };
    let catalog = Catalog::from_file(catalog_path)?;
    let state = match &args.state {
        Some(path) => read_state(path)?,
        None => State::new(),
    };
    let options = SyncOptions::from_config(&config)?;
    let summaries = sync(&connector, &catalog, state, &options, out)?;
    let records: u64 = summaries.iter().map(|s| s.records).sum();
    info!(streams = summaries.len(), records, "Sync done.");
    out.flush()?;
    Ok(())
}

/// Reads a state file; an empty file is an empty state.
fn read_state(path: &Path) -> anyhow::Result<State> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading state file {}", path.display()))?;
    if text.trim().is_empty() {
        return Ok(State::new());
    }
    State::from_json(&text).with_context(|| format!("parsing state file {}", path.display()))
}

fn init_logging(level: Option<&str>) {
    let filter = level
        .map(tracing_subscriber::EnvFilter::new)
        .or_else(|| tracing_subscriber::EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
}
