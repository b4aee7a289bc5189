//! `target-csv`: the Singer target writing CSV files.
//!
//! Glue only: [`singer_cli::run_target`] parses arguments, loads
//! configuration, sets up logging on stderr and signal handling, and runs
//! `singer_target::Driver` over [`singer_target_csv::CsvLoader`]. stdout carries
//! the STATE values only. Exit codes: 0 success, 1 runtime failure (bad
//! input, a failed write or statement, a signal), 2 usage or configuration
//! error.

use std::process::ExitCode;

use anyhow::Context as _;
use singer_cli::{TargetSpec, run_target};
use singer_target_csv::{ABOUT, CsvConfig, CsvLoader};
use tracing::info;

fn main() -> ExitCode {
    run_target(&TargetSpec {
        about: &ABOUT,
        loader: |config: &CsvConfig| CsvLoader::new(config).context("configuring the CSV loader"),
        driver_config: CsvConfig::driver_config,
        is_config_error: |cause| {
            cause
                .downcast_ref::<singer_target_csv::Error>()
                .is_some_and(singer_target_csv::Error::is_config)
        },
        finish: |loader: &CsvLoader, _summary| {
            for (stream, files) in loader.published() {
                info!(stream = %stream, files = files.len(), "Files written.");
            }
        },
    })
}
