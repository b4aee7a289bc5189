//! `singer-run`: runs a Singer tap and target as one job with a durable
//! state store. Glue only: arguments, logging, exit codes; the work is in
//! the `singer-runner` crate.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use lexopt::prelude::*;
use singer_runner::{Backend, CommandLine, Job, JobFile, run};
use tracing::{error, info};

const USAGE: &str = "\
singer-run: run a Singer tap and target as one job, with the job's state in a store.

Usage: singer-run --job ID --tap 'TAP COMMAND' --target 'TARGET COMMAND'
                  [--state-backend file:PATH|postgresql://...] [--state-table TABLE]
       singer-run --config JOB.yaml [flags that override it]

Options:
  --job ID               The job id: the key of its state and its lock.
  --tap CMD              The tap's command line (split as a POSIX shell would, no expansion).
                         It gets `--state FILE` with the job's saved state, when there is one.
  --target CMD           The target's command line. Every line it writes on stdout is a state
                         it committed, saved to the store before the next is read.
  --state-backend B      file:PATH (written atomically, locked through PATH.lock) or a
                         postgresql:// URL (one row per job in --state-table, default
                         singer_state, locked with an advisory lock). Default:
                         file:.singer-run/state/<job>.json
  --state-table TABLE    The PostgreSQL store's table (optionally schema.table).
  --config FILE          A job file (YAML or JSON) with job, tap, target, state_backend,
                         state_table; flags win over it.
  --log-level LEVEL      error, warn, info (default), debug, trace, or a RUST_LOG filter.
  --help, --version

A second run of a job while one holds its lock is refused (exit 1). SIGTERM or SIGINT is passed
to both sides; the last state the target confirmed is already saved.

Exit codes: 0 both sides succeeded; else the target's exit code if it failed, else the tap's
(128 + N for a side killed by signal N); 1 a runner failure (lock held, store unreachable);
2 usage or job file error.

The end summary (records per stream, seconds, CPU of each side, how long the relay waited on
each, and the bottleneck) is printed on stdout; logs go to stderr.
";

#[derive(Debug, Default)]
struct Args {
    job: Option<String>,
    tap: Option<String>,
    target: Option<String>,
    state_backend: Option<String>,
    state_table: Option<String>,
    config: Option<PathBuf>,
    log_level: Option<String>,
    help: bool,
    version: bool,
}

fn parse() -> Result<Args, lexopt::Error> {
    let mut args = Args::default();
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        let text = |parser: &mut lexopt::Parser| -> Result<String, lexopt::Error> {
            parser.value()?.string()
        };
        match arg {
            Long("job") => args.job = Some(text(&mut parser)?),
            Long("tap") => args.tap = Some(text(&mut parser)?),
            Long("target") => args.target = Some(text(&mut parser)?),
            Long("state-backend") => args.state_backend = Some(text(&mut parser)?),
            Long("state-table") => args.state_table = Some(text(&mut parser)?),
            Long("config") => args.config = Some(parser.value()?.into()),
            Long("log-level") => args.log_level = Some(text(&mut parser)?),
            Long("help") | Short('h') => args.help = true,
            Long("version") | Short('V') => args.version = true,
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
    if args.help || args.version {
        let text = if args.help {
            USAGE.to_owned()
        } else {
            format!("singer-run {}\n", env!("CARGO_PKG_VERSION"))
        };
        let mut out = singer_cli::stdout();
        return match out.write_text(&text) {
            Ok(()) => ExitCode::SUCCESS,
            Err(_) => ExitCode::FAILURE,
        };
    }
    match job(&args) {
        Err(e) => {
            error!(error = %format!("{e:#}"), "Invalid job; see --help.");
            ExitCode::from(2)
        }
        Ok(job) => match run(&job) {
            Ok(summary) => {
                // The summary is the command's output (stdout); the log
                // (stderr) says the job ended.
                info!(job = %summary.job, exit_code = summary.exit_code(), seconds = summary.seconds, "Job done.");
                let mut out = singer_cli::stdout();
                let _ = out.write_text(&summary.to_text());
                ExitCode::from(u8::try_from(summary.exit_code()).unwrap_or(1))
            }
            Err(e) => {
                let code = if e.is_usage() { 2 } else { 1 };
                error!(error = %singer_protocol::ErrorChain(&e), "The job could not run.");
                ExitCode::from(code)
            }
        },
    }
}

/// The job from the job file (if any) and the flags, which win.
fn job(args: &Args) -> anyhow::Result<Job> {
    let file = match &args.config {
        Some(path) => Some(JobFile::read(path)?),
        None => None,
    };
    let from_file = |pick: fn(&JobFile) -> Option<String>| file.as_ref().and_then(pick);
    let id = args
        .job
        .clone()
        .or_else(|| from_file(|f| f.job.clone()))
        .context("--job (or `job` in the job file) is required")?;
    let tap = command(
        args.tap.as_deref(),
        file.as_ref().and_then(|f| f.tap.as_ref()),
        "tap",
    )?;
    let target = command(
        args.target.as_deref(),
        file.as_ref().and_then(|f| f.target.as_ref()),
        "target",
    )?;
    let backend_text = args
        .state_backend
        .clone()
        .or_else(|| from_file(|f| f.state_backend.clone()))
        .unwrap_or_else(|| format!("file:.singer-run/state/{}.json", file_safe(&id)));
    let table = args
        .state_table
        .clone()
        .or_else(|| from_file(|f| f.state_table.clone()));
    let backend = Backend::parse(&backend_text)?.with_table(table);
    Ok(Job::from_parts(&id, tap, target, backend)?)
}

/// A side's command: the flag (split as a shell would), else the job file's.
fn command(
    flag: Option<&str>,
    file: Option<&CommandLine>,
    side: &str,
) -> anyhow::Result<Vec<String>> {
    match (flag, file) {
        (Some(line), _) => Ok(CommandLine::Line(line.to_owned()).words(side)?),
        (None, Some(command)) => Ok(command.words(side)?),
        (None, None) => anyhow::bail!("--{side} (or `{side}` in the job file) is required"),
    }
}

/// The job id as a file name: letters, digits, `-`, `_` and `.` kept.
fn file_safe(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}
