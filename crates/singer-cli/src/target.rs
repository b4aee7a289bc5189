//! The whole `main` of a target over any [`singer_target::Loader`].

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use serde::de::DeserializeOwned;
use singer_protocol::{About, TargetArgs, load_config};
use singer_target::{Driver, DriverConfig, Loader, Summary, register_signals};
use tracing::{info, warn};

use crate::exit::{Exit, bad_arguments, finish};
use crate::logging::{Stdout, init_logging_with_progress, stdout};
use crate::progress::TerminalProgress;

/// What a target binary plugs into [`run_target`].
pub struct TargetSpec<'a, C, L> {
    /// `--about` (also the binary's name and settings).
    pub about: &'a About,
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
pub fn run_target<C: DeserializeOwned, L: Loader>(spec: &TargetSpec<'_, C, L>) -> ExitCode {
    let args = match TargetArgs::parse_from(std::env::args_os().skip(1)) {
        Ok(args) => args,
        Err(e) => return bad_arguments(&e),
    };
    let terminal = TerminalProgress::on_terminal();
    init_logging_with_progress(args.common.log_level.as_deref(), terminal.as_ref());
    let mut out = stdout();
    let result = target_main(spec, &args, terminal.as_ref(), &mut out);
    finish(spec.about.name, result, |cause| {
        if cause
            .downcast_ref::<singer_target::Error>()
            .is_some_and(singer_target::Error::is_broken_pipe)
        {
            Some(Exit::BrokenPipe)
        } else if (spec.is_config_error)(cause) {
            Some(Exit::Usage)
        } else {
            None
        }
    })
}

fn target_main<C: DeserializeOwned, L: Loader>(
    spec: &TargetSpec<'_, C, L>,
    args: &TargetArgs,
    terminal: Option<&TerminalProgress>,
    out: &mut Stdout,
) -> anyhow::Result<()> {
    let common = &args.common;
    if common.help {
        out.write_text(&spec.about.help(&usage(spec.about)))?;
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
    if let Some(terminal) = terminal {
        driver = driver.with_progress(terminal.progress());
    }
    let summary = match &args.input {
        Some(path) => driver.run(open(path)?, out),
        None => {
            #[expect(
                clippy::disallowed_methods,
                reason = "the one place that takes stdin: the driver reads it on its reader thread"
            )]
            let stdin = std::io::stdin();
            crate::widen_pipe(&stdin);
            driver.run(stdin, out)
        }
    }?;
    (spec.finish)(driver.loader(), &summary);
    info!(records = summary.records, "{} done.", spec.about.name);
    out.flush()?;
    Ok(())
}

/// `--help`'s usage lines, the same for every target (the settings follow,
/// from [`About::help`]).
fn usage(about: &About) -> String {
    let name = about.name;
    let prefix = about.env_prefix();
    format!(
        "\
Usage: {name} --config CONFIG.json [--config MORE.json ...] [--input FILE] < messages.jsonl > state.jsonl
       {name} --about [--format json|markdown] | --version | --help

Options:
  --config FILE      Configuration (repeatable; later files win; `ENV` for environment only).
                     Every setting can also be set as {prefix}_<SETTING>, which wins.
  --input FILE       Read Singer messages from FILE instead of stdin.
  --about            Name, version, capabilities and settings (--format json|markdown).
  --log-level LEVEL  error, warn, info (default), debug, trace, or a RUST_LOG filter.

stdout carries the STATE values only (the last line is the state to save); logs go to stderr.
"
    )
}

fn open(path: &Path) -> anyhow::Result<std::fs::File> {
    std::fs::File::open(path).with_context(|| format!("opening input {}", path.display()))
}
