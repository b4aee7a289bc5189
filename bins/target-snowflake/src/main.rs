//! `target-snowflake`: the Singer target loading Snowflake.
//!
//! Glue only: parses arguments, loads configuration, sets up logging on
//! stderr and signal handling, and runs [`singer_target::Driver`] over
//! [`singer_target_snowflake::SnowflakeLoader`]. stdout carries the STATE values only.
//! Exit codes: 0 success, 1 runtime failure (bad input, a failed statement or login, a
//! signal), 2 usage or configuration error.

use std::io::{BufWriter, StdoutLock};
use std::process::ExitCode;

use anyhow::Context as _;
use singer_protocol::{TargetArgs, Writer, load_config};
use singer_target::{Driver, register_signals};
use singer_target_snowflake::{ABOUT, SnowflakeConfig, SnowflakeLoader};
use tracing::{error, info, warn};

const USAGE: &str = "\
Usage: target-snowflake --config CONFIG.json [--config MORE.json ...] [--input FILE] < messages.jsonl > state.jsonl
       target-snowflake --about [--format json|markdown] | --version | --help

Options:
  --config FILE      Configuration (repeatable; later files win; `ENV` for environment only).
                     Every setting can also be set as TARGET_SNOWFLAKE_<SETTING>, which wins.
  --input FILE       Read Singer messages from FILE instead of stdin.
  --about            Name, version, capabilities and settings (--format json|markdown).
  --log-level LEVEL  error, warn, info (default), debug, trace, or a RUST_LOG filter.

stdout carries the STATE values only (the last line is the state to save); logs go to stderr.
";

fn main() -> ExitCode {
    let args = match TargetArgs::parse_from(std::env::args_os().skip(1)) {
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
                .downcast_ref::<singer_target::Error>()
                .is_some_and(singer_target::Error::is_broken_pipe)
            {
                info!("The reader of stdout went away; stopping.");
                return ExitCode::FAILURE;
            }
            error!(error = %report(&error), "target-snowflake failed.");
            let usage = error.chain().any(|cause| {
                cause
                    .downcast_ref::<singer_protocol::Error>()
                    .is_some_and(singer_protocol::Error::is_usage)
                    || cause
                        .downcast_ref::<singer_target_snowflake::Error>()
                        .is_some_and(singer_target_snowflake::Error::is_config)
            });
            ExitCode::from(if usage { 2 } else { 1 })
        }
    }
}

fn run(args: &TargetArgs, out: &mut Writer<BufWriter<StdoutLock<'_>>>) -> anyhow::Result<()> {
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
        load_config::<SnowflakeConfig>(&common.config, &ABOUT).context("loading configuration")?;
    for key in &loaded.unknown_keys {
        warn!(key = %key, "Unknown configuration key ignored.");
    }
    let config = loaded.config;
    config.check().context("checking the configuration")?;
    let loader = SnowflakeLoader::new(&config).context("configuring the Snowflake loader")?;
    let interrupt = register_signals().context("installing signal handlers")?;
    let mut driver = Driver::new(loader, config.driver_config()).with_interrupt(interrupt);
    let summary = match &args.input {
        Some(path) => {
            let file = std::fs::File::open(path)
                .with_context(|| format!("opening input {}", path.display()))?;
            driver.run(file, out)
        }
        None => {
            #[expect(
                clippy::disallowed_methods,
                reason = "the one place that takes stdin: the driver reads it on its reader thread"
            )]
            let stdin = std::io::stdin();
            driver.run(stdin, out)
        }
    }?;
    let stats = driver.loader().stats();
    for (table, rows) in &stats.tables {
        info!(table = %table, rows, "Rows loaded.");
    }
    info!(
        records = summary.records,
        batches = stats.batches,
        special_values_nulled = stats.special_values_nulled,
        "target-snowflake done."
    );
    out.flush()?;
    Ok(())
}

/// The error and its causes, `: `-separated, each cause once: several
/// error types repeat their source in their own message, which `{:#}`
/// would print twice.
fn report(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let cause = cause.to_string();
        if text.contains(&cause) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&cause);
    }
    text
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
