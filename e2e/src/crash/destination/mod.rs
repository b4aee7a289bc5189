//! The targets under test: where the loaded rows go, and how the harness
//! starts the target and watches it load.

mod target_csv;
mod target_snowflake;

use std::path::PathBuf;
use std::process::Command;

use crate::error::Result;

pub use target_csv::CsvDestination;
pub use target_snowflake::{SNOWFLAKE_SCHEMA, SnowflakeDestination};

/// Where the loaded rows go: the target under test.
///
/// Implement it for another target and hand it to [`run`](super::run):
/// [`CsvDestination`] reads files, [`SnowflakeDestination`] runs
/// `target-snowflake --config ...`, queries the table and upserts.
pub trait Destination {
    /// A short name for reports.
    fn name(&self) -> &str;
    /// The target's command line; the harness sets stdin (the tap's
    /// stdout), stdout (a file it reads the state from) and stderr.
    fn command(&self) -> Command;
    /// Bytes written so far, committed or not (for "kill after N bytes").
    fn progress(&self) -> u64;
    /// Commits published so far (for "kill right after a commit").
    fn commits(&self) -> u64;
    /// The committed rows of `stream` as (key, value) text pairs.
    ///
    /// # Errors
    ///
    /// When the destination cannot be read.
    fn rows(&self, stream: &str) -> Result<Vec<(String, String)>>;
    /// Whether the destination upserts on the key (no key twice).
    fn upserts(&self) -> bool;
}

/// A target binary and the config file the harness wrote for it: the
/// command line of every [`Destination`] here, `BINARY --config CONFIG`.
#[derive(Debug, Clone)]
struct Target {
    binary: PathBuf,
    config: PathBuf,
}

impl Target {
    /// `binary --config config`.
    fn command(&self) -> Command {
        let mut command = Command::new(&self.binary);
        command.arg("--config").arg(&self.config);
        command
    }
}
