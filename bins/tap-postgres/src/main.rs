//! `tap-postgres`: the Singer tap for PostgreSQL.
//!
//! Glue only: parses arguments, loads configuration, sets up logging on
//! stderr, and calls [`singer_tap_postgres::discover_catalog`],
//! [`singer_tap_postgres::sync`] (catalog mode) or
//! [`singer_tap_postgres::manifest::sync_manifest`] (manifest mode). Exit
//! codes: 0 success, 1 runtime failure, 2 usage or configuration error.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use singer_cli::{Exit, Stdout, init_logging_with_progress};
use singer_protocol::Progress;
use singer_protocol::{Catalog, TapArgs, load_config};
use singer_protocol::{Flag, flag_value as value, lexopt};
use singer_state::State;
use singer_tap_postgres::manifest::{
    LoadType, Manifest, ManifestOptions, StreamNaming, connection_info_for, parse_timestamp,
    sync_manifest,
};
use singer_tap_postgres::{ABOUT, Connector, SyncOptions, TapConfig, discover_catalog, sync};
use tracing::{info, warn};

/// mimalloc: see the workspace manifest for why.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USAGE: &str = "\
Usage: tap-postgres --config CONFIG.json [--config MORE.json ...] --discover
       tap-postgres --config CONFIG.json --catalog CATALOG.json [--state STATE.json]
       tap-postgres --config CONFIG.json --test
       tap-postgres --manifest MANIFEST.yaml [--connection-info FILE --database-type main]
                    --load-type incremental|full|load-by-id|backfill|deletes [--table KEY ...]
                    [--state STATE.json] [--execution-date TS] [--config CONFIG.json]
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

Manifest mode (GitLab postgres_pipeline manifests, unchanged):
  --manifest FILE        The manifest (YAML); its connection_info values name environment variables.
  --connection-info FILE A connection-info file with one block per database type
                         (postgres_source_connection_<type>); wins over the manifest's block.
  --database-type TYPE   The block to use (default main).
  --load-type TYPE       incremental: time windows (and load_by_id tables); full (or scd): a complete
                         copy stamped with _uploaded_at; load-by-id: rows after the highest id loaded;
                         backfill: reload tables that are new or select new columns, as a new version;
                         deletes: every table's primary keys as its key set (<stream>__keys) so a
                         target marks rows deleted at the source (tables with deletes_exempt skipped).
  --table KEY            Only this table (repeatable); an unknown key is an error listing the valid ones.
  --execution-date TS    END of incremental windows (default: EXECUTION_DATE, else now); RFC 3339 or
                         `YYYY-MM-DD[ HH:MM:SS]` in UTC.
  --stream-naming N      upstream (UPPER(import_db_export_table), default), export-table or key.
  --step N               Ids per key range (default 5000000).
  --parallel N           Up to N tables load at once, one connection each; a run of one table
                         (--table) reads its full copy or backfill in key ranges with N connections
                         inside one shared snapshot (the `parallelism` setting; also in catalog mode).
  --max-replica-lag-hours N  Fail early when the source's last replayed transaction is older than N hours.
  --cap-end-at-replay    Cap incremental END at the replica's pg_last_xact_replay_timestamp().
  --internal-projects FILE, --internal-namespaces FILE
                         Allow-list CSVs for the {INTERNAL_*} tokens (or the internal_projects_file /
                         internal_namespaces_file settings).
  Environment: EXECUTION_DATE, HOURS (or DAYS) = window length (default 96 h), TASK_INSTANCE.
  Connection settings other than connection_info (sslmode, timeouts...) come from --config.

stdout carries Singer messages only; logs go to stderr.
";

/// Manifest-mode flags.
#[derive(Debug, Default)]
struct ManifestArgs {
    manifest: Option<PathBuf>,
    connection_info: Option<PathBuf>,
    database_type: Option<String>,
    load_type: Option<String>,
    tables: Vec<String>,
    execution_date: Option<String>,
    stream_naming: Option<String>,
    step: Option<String>,
    parallel: Option<String>,
    max_replica_lag_hours: Option<String>,
    cap_end_at_replay: bool,
    internal_projects: Option<PathBuf>,
    internal_namespaces: Option<PathBuf>,
}

impl ManifestArgs {
    /// Takes the manifest-mode flag `flag`, if it is one.
    fn take(&mut self, flag: &Flag, parser: &mut lexopt::Parser) -> singer_protocol::Result<bool> {
        let Flag::Long(name) = flag else {
            return Ok(false);
        };
        let text = |parser: &mut lexopt::Parser| -> singer_protocol::Result<String> {
            value(parser, &format!("--{name}"))?
                .into_string()
                .map_err(|_| singer_protocol::Error::Usage {
                    reason: format!("--{name} must be UTF-8"),
                })
        };
        match name.as_str() {
            "manifest" => self.manifest = Some(value(parser, "--manifest")?.into()),
            "connection-info" => {
                self.connection_info = Some(value(parser, "--connection-info")?.into());
            }
            "database-type" => self.database_type = Some(text(parser)?),
            "load-type" => self.load_type = Some(text(parser)?),
            "table" => self.tables.push(text(parser)?),
            "execution-date" => self.execution_date = Some(text(parser)?),
            "stream-naming" => self.stream_naming = Some(text(parser)?),
            "step" => self.step = Some(text(parser)?),
            "parallel" => self.parallel = Some(text(parser)?),
            "max-replica-lag-hours" => self.max_replica_lag_hours = Some(text(parser)?),
            "cap-end-at-replay" => self.cap_end_at_replay = true,
            "internal-projects" => {
                self.internal_projects = Some(value(parser, "--internal-projects")?.into());
            }
            "internal-namespaces" => {
                self.internal_namespaces = Some(value(parser, "--internal-namespaces")?.into());
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}

impl ManifestArgs {
    /// `--parallel N` (either mode) over the `parallelism` setting.
    fn apply_parallel(&self, options: &mut SyncOptions) -> singer_protocol::Result<()> {
        if let Some(text) = &self.parallel {
            options.parallelism = text.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                usage(format!(
                    "--parallel: {text:?} is not a positive whole number"
                ))
            })?;
        }
        Ok(())
    }
}

fn usage(reason: String) -> singer_protocol::Error {
    singer_protocol::Error::Usage { reason }
}

fn main() -> ExitCode {
    let mut manifest_args = ManifestArgs::default();
    let parsed = TapArgs::parse_with(std::env::args_os().skip(1), |flag, parser| {
        manifest_args.take(flag, parser)
    });
    let args = match parsed {
        Ok(args) => args,
        Err(e) => return singer_cli::bad_arguments(&e),
    };
    let terminal = singer_cli::TerminalProgress::for_tap();
    init_logging_with_progress(args.common.log_level.as_deref(), terminal.as_ref());
    let progress = terminal
        .as_ref()
        .map(singer_cli::TerminalProgress::progress);
    let mut out = singer_cli::stdout();
    let result = run(&args, &manifest_args, progress.as_ref(), &mut out);
    singer_cli::finish(ABOUT.name, result, |cause| {
        let error = cause.downcast_ref::<singer_tap_postgres::Error>()?;
        if error.is_broken_pipe() {
            Some(Exit::BrokenPipe)
        } else if error.is_usage() {
            Some(Exit::Usage)
        } else {
            None
        }
    })
}

fn run(
    args: &TapArgs,
    manifest_args: &ManifestArgs,
    progress: Option<&Progress>,
    out: &mut Stdout,
) -> anyhow::Result<()> {
    let common = &args.common;
    if common.help {
        out.write_text(&ABOUT.help(USAGE))?;
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
    if let Some(path) = &manifest_args.manifest {
        return run_manifest(args, manifest_args, path, progress, out);
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
    let mut options = SyncOptions::from_config(&config)?;
    options.progress = progress.cloned();
    manifest_args.apply_parallel(&mut options)?;
    let summaries = sync(&connector, &catalog, state, &options, out)?;
    let records: u64 = summaries.iter().map(|s| s.records).sum();
    info!(streams = summaries.len(), records, "Sync done.");
    out.flush()?;
    Ok(())
}

/// Manifest mode: loads the manifest, resolves the connection and options,
/// and calls `sync_manifest`.
fn run_manifest(
    args: &TapArgs,
    margs: &ManifestArgs,
    path: &Path,
    progress: Option<&Progress>,
    out: &mut Stdout,
) -> anyhow::Result<()> {
    // A file named on the command line that cannot be read is a usage
    // error (exit 2), as for --config and --catalog.
    let text = std::fs::read_to_string(path).map_err(|source| singer_protocol::Error::File {
        path: path.to_owned(),
        source,
    })?;
    let manifest =
        Manifest::parse(&text).map_err(|source| singer_tap_postgres::Error::Manifest {
            path: Some(path.to_owned()),
            source,
        })?;
    let Some(load_type) = &margs.load_type else {
        anyhow::bail!(usage(
            "manifest mode needs --load-type incremental|full|load-by-id|backfill|deletes"
                .to_owned()
        ));
    };
    let load_type: LoadType = load_type.parse().map_err(|e| usage(chain(&e)))?;
    let loaded =
        load_config::<TapConfig>(&args.common.config, &ABOUT).context("loading configuration")?;
    for key in &loaded.unknown_keys {
        warn!(key = %key, "Unknown configuration key ignored.");
    }
    let mut config = loaded.config;
    let env = |name: &str| std::env::var(name).ok();
    if let Some(file) = &margs.connection_info {
        let database_type = margs.database_type.as_deref().unwrap_or("main");
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("reading connection-info file {}", file.display()))?;
        let manifest_error = |source| singer_tap_postgres::Error::Manifest {
            path: Some(file.clone()),
            source,
        };
        connection_info_for(&text, database_type)
            .and_then(|info| info.resolve(env))
            .map_err(manifest_error)?
            .apply_to(&mut config);
    } else if let Some(info) = &manifest.connection_info {
        info.resolve(env)
            .map_err(|source| singer_tap_postgres::Error::Manifest {
                path: Some(path.to_owned()),
                source,
            })?
            .apply_to(&mut config);
    }
    if let Some(file) = &margs.internal_projects {
        config.internal_projects_file = Some(file.clone());
    }
    if let Some(file) = &margs.internal_namespaces {
        config.internal_namespaces_file = Some(file.clone());
    }
    let mut options = ManifestOptions::default();
    options.load_type = load_type;
    options.tables.clone_from(&margs.tables);
    options.sync = SyncOptions::from_config(&config)?;
    options.sync.progress = progress.cloned();
    margs.apply_parallel(&mut options.sync)?;
    options.apply_env(env).map_err(|e| usage(chain(&e)))?;
    if let Some(text) = &margs.execution_date {
        options.execution_date =
            parse_timestamp(text).map_err(|e| usage(format!("--execution-date: {e}")))?;
    }
    if let Some(text) = &margs.stream_naming {
        options.stream_naming = text.parse::<StreamNaming>().map_err(|e| usage(chain(&e)))?;
    }
    if let Some(text) = &margs.step {
        options.step = text
            .parse()
            .ok()
            .filter(|s| *s > 0)
            .ok_or_else(|| usage(format!("--step: {text:?} is not a positive whole number")))?;
    }
    if let Some(text) = &margs.max_replica_lag_hours {
        let hours: u32 = text.parse().map_err(|_| {
            usage(format!(
                "--max-replica-lag-hours: {text:?} is not a whole number"
            ))
        })?;
        options.set_max_replica_lag(Some(Duration::from_secs(u64::from(hours) * 3600)));
    }
    options.cap_end_at_replay = margs.cap_end_at_replay;
    options.load_allow_lists(&config)?;
    let connector = Connector::new(&config).context("configuring the connection")?;
    let state = match &args.state {
        Some(path) => read_state(path)?,
        None => State::new(),
    };
    let summaries = sync_manifest(&connector, &manifest, state, &options, out)?;
    let records: u64 = summaries.iter().map(|s| s.records).sum();
    info!(
        tables = summaries.len(),
        records,
        load_type = load_type.as_str(),
        "Manifest load done."
    );
    out.flush()?;
    Ok(())
}

/// An error and its causes, joined by `: `.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    singer_protocol::ErrorChain(error).to_string()
}

/// Reads a state file; an empty file is an empty state. A state file that
/// cannot be read or parsed is a usage error (exit 2), as a bad --config or
/// --catalog file is.
fn read_state(path: &Path) -> anyhow::Result<State> {
    let text = std::fs::read_to_string(path).map_err(|source| singer_protocol::Error::File {
        path: path.to_owned(),
        source,
    })?;
    if text.trim().is_empty() {
        return Ok(State::new());
    }
    State::from_json(&text).map_err(|e| {
        anyhow::Error::new(usage(format!(
            "state file {}: {}",
            path.display(),
            chain(&e)
        )))
    })
}
