//! `target-snowflake`: the Singer target loading Snowflake.
//!
//! Glue only: [`singer_cli::run_target`] parses arguments, loads
//! configuration, sets up logging on stderr and signal handling, and runs
//! `singer_target::Driver` over [`singer_target_snowflake::SnowflakeLoader`]. stdout carries
//! the STATE values only. Exit codes: 0 success, 1 runtime failure (bad
//! input, a failed write or statement, a signal), 2 usage or configuration
//! error.

use std::process::ExitCode;

use anyhow::Context as _;
use singer_cli::{TargetSpec, run_target};
use singer_target_snowflake::{ABOUT, SnowflakeConfig, SnowflakeLoader};
use tracing::info;

fn main() -> ExitCode {
    run_target(&TargetSpec {
        about: &ABOUT,
        loader: |config: &SnowflakeConfig| {
            config.check().context("checking the configuration")?;
            SnowflakeLoader::new(config).context("configuring the Snowflake loader")
        },
        driver_config: SnowflakeConfig::driver_config,
        is_config_error: |cause| {
            cause
                .downcast_ref::<singer_target_snowflake::Error>()
                .is_some_and(singer_target_snowflake::Error::is_config)
        },
        finish: |loader: &SnowflakeLoader, _summary| {
            let stats = loader.stats();
            for (table, rows) in &stats.tables {
                info!(table = %table, rows, "Rows loaded.");
            }
            for (stream, line) in &stats.streams {
                info!(
                    stream = %stream,
                    table = %line.table,
                    rows = line.rows,
                    batches = line.batches,
                    files = line.files,
                    bytes_uploaded = line.bytes,
                    puts = line.puts,
                    encode_s = millis(line.encode_seconds),
                    upload_s = millis(line.upload_seconds),
                    bind_s = millis(line.bind_seconds),
                    copy_s = millis(line.copy_seconds),
                    merge_s = millis(line.merge_seconds),
                    statements = line.statements,
                    "Stream statistics."
                );
            }
            info!(
                rows = stats.rows,
                batches = stats.batches,
                files = stats.files.files,
                bytes_uploaded = stats.files.bytes,
                puts = stats.files.puts,
                encode_s = millis(stats.files.encode_seconds),
                upload_s = millis(stats.files.upload_seconds),
                bind_s = millis(stats.bind_seconds),
                copy_s = millis(stats.copy_seconds),
                merge_s = millis(stats.merge_seconds),
                statements = stats.stage_statements + stats.commit_statements + stats.files.puts,
                special_values_nulled = stats.special_values_nulled,
                "Load statistics."
            );
        },
    })
}

/// Seconds rounded to the millisecond, for the summary (`0.449`, not
/// `0.44907422099999994`).
fn millis(seconds: f64) -> f64 {
    (seconds * 1000.0).round() / 1000.0
}
