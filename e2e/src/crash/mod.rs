//! Crash and resume: `tap-postgres | <target>` killed with SIGKILL at
//! random points, resumed each time from the last state line the target
//! wrote (what Meltano or any orchestrator saves), then the destination is
//! compared with the source.
//!
//! The source holds two tables of [`Scenario::rows`] rows each:
//! `crash_full` (synced FULL_TABLE: primary-key order, `last_pk_fetched`
//! resume under the same table version, ACTIVATE_VERSION at the end) and
//! `crash_incr` (INCREMENTAL on `updated_at`, with ties, so the `>=`
//! boundary matters). Between attempts the incremental table gets new rows
//! and updated rows, so a resume must also pick up changes.
//!
//! Kill stages ([`Stage`]) are drawn from a seeded RNG, so a failing seed
//! replays. The target is anything implementing [`Destination`]
//! ([`CsvDestination`] for `target-csv`); an upserting destination adds one
//! check (no duplicate keys in either table).
//!
//! Checks ([`Report::failures`]), after every clean run (both tables) and
//! after every attempt whose last state says the FULL_TABLE copy finished
//! (that table; its version is activated then, whatever was killed later):
//! - every source row (key and current value) is in the destination
//!   (nothing lost);
//! - FULL_TABLE: the destination holds exactly the source rows, each once
//!   (the activated version only), except rows that a kill between a
//!   commit and its STATE line left committed past the last STATE written
//!   ([`Attempt::uncovered`]: the resume sends them again; at-least-once);
//!   an upserting destination must have no duplicate at all;
//! - INCREMENTAL: duplicates are allowed (at-least-once) unless the
//!   destination upserts.
//!
//! The modules follow the pipeline: the PostgreSQL side (`source`: seeding,
//! changes between attempts, the tap's discovery), the targets under test
//! (`destination`: the [`Destination`] trait, [`CsvDestination`],
//! [`SnowflakeDestination`]), the scenario and its attempts (`scenario`,
//! `attempt`, `state`: what the target's state lines say), and what was
//! found (`check`: one stream against its table; `report`).

mod attempt;
mod check;
mod destination;
mod report;
mod rng;
mod scenario;
mod source;
mod state;

use std::path::Path;

use serde_json::Value;

use crate::error::{Error, Result, io};

pub use attempt::Attempt;
pub use check::{Check, StreamCheck};
pub use destination::{CsvDestination, Destination, SNOWFLAKE_SCHEMA, SnowflakeDestination};
pub use report::Report;
pub use rng::Rng;
pub use scenario::{Scenario, Stage, run};
pub use source::{Source, seed_source};

/// The FULL_TABLE source table (and its stream `public-crash_full`).
pub const FULL_TABLE: &str = "crash_full";
/// The INCREMENTAL source table (and its stream `public-crash_incr`).
pub const INCREMENTAL_TABLE: &str = "crash_incr";
/// The key column of both tables.
pub const KEY: &str = "id";
/// The value column compared between source and destination.
pub const VALUE: &str = "payload";

/// The stream name tap-postgres gives a table of schema `public`.
#[must_use]
pub fn stream_of(table: &str) -> String {
    format!("public-{table}")
}

/// Writes `value` to `path` as pretty JSON (the configs the harness hands
/// to the binaries).
fn write_json(path: &Path, value: &Value) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|source| Error::Json {
        what: path.display().to_string(),
        source,
    })?;
    std::fs::write(path, text).map_err(io("writing", path))
}
