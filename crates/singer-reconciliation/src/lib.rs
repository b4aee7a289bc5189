//! Reconciliation: does the destination hold what the source holds?
//!
//! For each selected stream of a catalog, [`reconcile`] counts the source
//! table's rows in PostgreSQL and the destination's rows (Snowflake table
//! or CSV files) per range of the stream's integer key, and reports the
//! ranges that differ. Counting is pushed down to each side where it can
//! be (PostgreSQL and Snowflake aggregate with `GROUP BY`; no row crosses
//! the network); CSV files are read, as any consumer of them would.
//!
//! Rules (see the README, "Reconcile"):
//!
//! * **Ranges.** A stream whose key is one integer column is cut into
//!   `ranges` equal ranges of the source's `[min, max]`; destination keys
//!   outside it are one more range. Other keys are compared in one range.
//! * **Incremental streams** with a bookmark in the state (`--state`) are
//!   compared up to it on both sides (`key <= bookmark`): rows the next
//!   run will bring are not missing. A row updated at the source after the
//!   bookmark counts on the destination side only, so reconcile right
//!   after a load, or on a quiet source.
//! * **Live rows.** Where the destination tracks deletes (a
//!   `_sdc_deleted_at` column), rows with a deletion time are not counted.
//! * **Checksums** (optional) of chosen columns per range, over one row
//!   per key: see [`ValueKind`] and the `checksum` module's docs.
//! * **Duplicates.** The destination's count is of distinct keys; rows
//!   beyond that are duplicates and a difference too, unless
//!   `allow_duplicates` (an append-only destination keeps every version of
//!   a row).

#![warn(missing_docs)]

mod checksum;
mod destination;
mod error;
mod report;
mod source;
mod spec;

pub use checksum::{ChecksumColumn, ValueKind};
pub use destination::{CsvDestination, Destination, DestinationCounts, SnowflakeDestination};
pub use error::{Error, Result};
pub use report::{RangeCount, StreamReport};
pub use source::Ranges;
pub use spec::{Bookmark, KeyKind, StreamSpec, specs};

use singer_tap_postgres::Connector;

/// Options of a reconciliation.
#[derive(Debug, Clone)]
pub struct Options {
    /// Key ranges per stream (integer keys).
    pub ranges: u64,
    /// Whether destination duplicates are tolerated (not a difference).
    pub allow_duplicates: bool,
    /// Columns whose values are compared by checksum per range, in every
    /// stream that has them (see [`ValueKind`] for the types it holds).
    pub checksum: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            ranges: 10,
            allow_duplicates: false,
            checksum: Vec::new(),
        }
    }
}

/// Reconciles every stream of `specs` between the source and
/// `destination`.
///
/// # Errors
///
/// A query or file error on either side.
pub fn reconcile(
    connector: &Connector,
    specs: &[StreamSpec],
    destination: &mut dyn Destination,
    options: &Options,
) -> Result<Vec<StreamReport>> {
    let mut client = connector.connect().map_err(|e| Error::Source {
        stream: String::new(),
        reason: singer_protocol::ErrorChain(&e).to_string(),
    })?;
    if let Some(unknown) = options
        .checksum
        .iter()
        .find(|name| !specs.iter().any(|s| s.column_types.contains_key(*name)))
    {
        return Err(Error::Usage {
            reason: format!("--checksum {unknown:?}: no selected stream has that column"),
        });
    }
    let mut reports = Vec::new();
    for spec in specs {
        let checksum = spec.checksum_columns(&options.checksum)?;
        let source = source::count(&mut client, spec, options.ranges, &checksum)?;
        let dest = destination.count(spec, &source.ranges, &checksum)?;
        reports.push(report::compare(spec, &source, &dest, &checksum, options));
    }
    Ok(reports)
}
