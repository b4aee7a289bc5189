//! Glue the Singer binaries share, so each `main.rs` stays a few lines:
//! logging on stderr, the error report printed once per cause, exit codes,
//! and [`run_target`], the whole `main` of a target over any
//! [`singer_target::Loader`].
//!
//! It lives beside the binaries (and may use `anyhow`, as binaries do):
//! libraries never install a subscriber or decide exit codes.
//!
//! Exit codes: 0 success, 1 runtime failure, 2 usage or configuration error.

#![warn(missing_docs)]

use std::io::{BufWriter, StdoutLock};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use serde::de::DeserializeOwned;
use singer_protocol::{About, TargetArgs, Writer, load_config};
use singer_target::{Driver, DriverConfig, Loader, Summary, register_signals};
use tracing::{error, info, warn};

/// The Singer writer over stdout, the one place a binary takes stdout.
pub type Stdout = Writer<BufWriter<StdoutLock<'static>>>;

/// Installs the tracing subscriber: stderr, no colours, `level` (a level or
/// a `RUST_LOG`-style filter), else `RUST_LOG`, else `info`.
pub fn init_logging(level: Option<&str>) {
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

/// The Singer writer over stdout (buffered; STATE lines are flushed).
#[must_use]
pub fn stdout() -> Stdout {
    #[expect(
        clippy::disallowed_methods,
        reason = "the one place that takes stdout: the Singer writer owns it"
    )]
    let stdout = std::io::stdout();
    Writer::new(BufWriter::with_capacity(1 << 16, stdout.lock()))
}

/// The error and its causes, `: `-separated, each cause once: several
/// error types repeat their source in their own message, which `{:#}`
/// would print twice.
#[must_use]
pub fn report(error: &anyhow::Error) -> String {
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

/// What a target binary plugs into [`run_target`].
pub struct TargetSpec<'a, C, L> {
    /// `--about` (also the binary's name and settings).
    pub about: &'a About,
    /// `--help` text.
    pub usage: &'a str,
    /// Builds the loader from the configuration.
    pub loader: fn(&C) -> anyhow::Result<L>,
    /// The driver configuration the loader's configuration asks for.
    pub driver_config: fn(&C) -> DriverConfig,
    /// Whether an error in the chain is a configuration error (exit 2).
    pub is_config_error: fn(&(dyn std::error::Error + 'static)) -> bool,
    /// Logs what the loader did at the end of a successful run.
    pub finish: fn(&L, &Summary),
}

/// The whole `main` of a target: arguments, `--help`/`--version`/`--about`,
/// configuration (files + environment), logging, signals, the driver over
/// stdin or `--input`, and the exit code.
pub fn run_target<C: DeserializeOwned, L: Loader>(spec: &TargetSpec<'_, C, L>) -> ExitCode
where
    L::Error: std::error::Error + Send + Sync + 'static,
{
    let args = match TargetArgs::parse_from(std::env::args_os().skip(1)) {
        Ok(args) => args,
        Err(e) => {
            init_logging(None);
            error!(error = %e, "Invalid arguments; see --help.");
            return ExitCode::from(2);
        }
    };
    init_logging(args.common.log_level.as_deref());
    let mut out = stdout();
    match target_main(spec, &args, &mut out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            if error
                .downcast_ref::<singer_target::Error>()
                .is_some_and(singer_target::Error::is_broken_pipe)
            {
                info!("The reader of stdout went away; stopping.");
                return ExitCode::FAILURE;
            }
            error!(error = %report(&error), "{} failed.", spec.about.name);
            let usage = error.chain().any(|cause| {
                cause
                    .downcast_ref::<singer_protocol::Error>()
                    .is_some_and(singer_protocol::Error::is_usage)
                    || (spec.is_config_error)(cause)
            });
            ExitCode::from(if usage { 2 } else { 1 })
        }
    }
}

fn target_main<C: DeserializeOwned, L: Loader>(
    spec: &TargetSpec<'_, C, L>,
    args: &TargetArgs,
    out: &mut Stdout,
) -> anyhow::Result<()>
where
    L::Error: std::error::Error + Send + Sync + 'static,
{
    let common = &args.common;
    if common.help {
        out.write_text(spec.usage)?;
        return Ok(());
    }
    if common.version {
        out.write_text(&format!("{} {}\n", spec.about.name, spec.about.version))?;
        return Ok(());
    }
    if common.about {
        out.write_text(&spec.about.render(common.format))?;
        return Ok(());
    }
    let loaded = load_config::<C>(&common.config, spec.about).context("loading configuration")?;
    for key in &loaded.unknown_keys {
        warn!(key = %key, "Unknown configuration key ignored.");
    }
    let config = loaded.config;
    let loader = (spec.loader)(&config)?;
    let interrupt = register_signals().context("installing signal handlers")?;
    let mut driver = Driver::new(loader, (spec.driver_config)(&config)).with_interrupt(interrupt);
    let summary = match &args.input {
        Some(path) => driver.run(open(path)?, out),
        None => {
            #[expect(
                clippy::disallowed_methods,
                reason = "the one place that takes stdin: the driver reads it on its reader thread"
            )]
            let stdin = std::io::stdin();
            driver.run(stdin, out)
        }
    }?;
    (spec.finish)(driver.loader(), &summary);
    info!(records = summary.records, "{} done.", spec.about.name);
    out.flush()?;
    Ok(())
}

fn open(path: &Path) -> anyhow::Result<std::fs::File> {
    std::fs::File::open(path).with_context(|| format!("opening input {}", path.display()))
}
