//! `crash-resume`: the long crash/resume run, for hand runs
//! (`benches/crash-resume.sh` builds it in release mode and calls it).
//!
//! ```text
//! crash-resume [--rows N] [--kills N] [--seed N] [--state-interval N]
//!              [--batch-rows N] [--changes N] [--work-dir DIR]
//!              [--target csv|snowflake]
//! ```
//!
//! Starts a throwaway PostgreSQL, fills two tables of `--rows` rows, runs
//! `tap-postgres | target-csv` (or, with `--target snowflake`,
//! `tap-postgres | target-snowflake` upserting into the Snowflake double,
//! which needs the venv of `scripts/setup`) with `--kills` SIGKILLs at random stages
//! (see `singer_e2e::crash`), and prints the report. Exit code 0 when the
//! destination matches the source, 1 when it does not or the run failed,
//! 2 on a usage error.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a report for a human, not a Singer binary"
)]

use std::path::PathBuf;
use std::process::ExitCode;

use singer_e2e::binaries::binary;
use singer_e2e::crash::{
    self, CsvDestination, Destination, Scenario, SnowflakeDestination, Source,
};

fn main() -> ExitCode {
    let mut scenario =
        Scenario::ci(std::env::temp_dir().join(format!("crash-resume-{}", std::process::id())));
    scenario.rows = 300_000;
    scenario.kills = 40;
    scenario.seed = 1;
    scenario.state_interval = 10_000;
    scenario.batch_rows = 20_000;
    scenario.changes_per_attempt = 200;
    let mut snowflake = false;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let Some(value) = args.next() else {
            eprintln!("{flag} needs a value");
            return ExitCode::from(2);
        };
        let number = || {
            value.parse::<u64>().map_err(|_| {
                eprintln!("{flag}: not a number: {value:?}");
                ExitCode::from(2)
            })
        };
        let parsed = match flag.as_str() {
            "--rows" => number().map(|n| scenario.rows = n),
            "--kills" => {
                number().map(|n| scenario.kills = usize::try_from(n).unwrap_or(usize::MAX))
            }
            "--seed" => number().map(|n| scenario.seed = n),
            "--state-interval" => number().map(|n| scenario.state_interval = n),
            "--batch-rows" => number().map(|n| scenario.batch_rows = n),
            "--changes" => number().map(|n| scenario.changes_per_attempt = n),
            "--target" => match value.as_str() {
                "csv" => {
                    snowflake = false;
                    Ok(())
                }
                "snowflake" => {
                    snowflake = true;
                    Ok(())
                }
                _ => {
                    eprintln!("--target: csv or snowflake, not {value:?}");
                    Err(ExitCode::from(2))
                }
            },
            "--work-dir" => {
                scenario.work_dir = PathBuf::from(&value);
                Ok(())
            }
            _ => {
                eprintln!(
                    "unknown flag {flag}; usage: crash-resume [--rows N] [--kills N] [--seed N] [--state-interval N] [--batch-rows N] [--changes N] [--work-dir DIR] [--target csv|snowflake]"
                );
                Err(ExitCode::from(2))
            }
        };
        if let Err(code) = parsed {
            return code;
        }
    }
    match run(&scenario, snowflake) {
        Ok(report) => {
            println!("{}", report.to_text());
            println!(
                "work directory (configs, states, logs, CSV files if any): {}",
                scenario.work_dir.display()
            );
            if report.failures().is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(error) => {
            eprintln!(
                "crash-resume failed: {}",
                singer_protocol::ErrorChain(error.as_ref())
            );
            ExitCode::FAILURE
        }
    }
}

fn run(scenario: &Scenario, snowflake: bool) -> Result<crash::Report, Box<dyn std::error::Error>> {
    let tap = binary("tap-postgres")?;
    if scenario.work_dir.exists() {
        std::fs::remove_dir_all(&scenario.work_dir)?;
    }
    std::fs::create_dir_all(&scenario.work_dir)?;
    let cluster = singer_testkit::postgres()?;
    println!("seeding 2 × {} rows ...", scenario.rows);
    let (source, mut client) = Source::seeded(cluster, "crash", scenario.rows)?;
    let destination: Box<dyn Destination> = if snowflake {
        let double = singer_testkit::snowflake_double()?;
        Box::new(SnowflakeDestination::new(
            binary("target-snowflake")?,
            &scenario.work_dir,
            &double.url(),
            &double.isolated_database("crash-resume"),
            scenario.batch_rows,
        )?)
    } else {
        Box::new(CsvDestination::new(
            binary("target-csv")?,
            &scenario.work_dir,
            scenario.batch_rows,
        )?)
    };
    Ok(crash::run(
        scenario,
        &tap,
        &source,
        &mut client,
        destination.as_ref(),
    )?)
}
