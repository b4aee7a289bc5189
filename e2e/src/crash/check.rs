//! The comparison of a destination stream with its source table.

use std::collections::HashMap;

use super::source::table_rows;
use super::{Destination, stream_of};
use crate::error::Result;

/// The comparison of one stream with its source table.
#[derive(Debug, Clone, Default)]
pub struct StreamCheck {
    /// The stream.
    pub stream: String,
    /// Whether the stream is FULL_TABLE (exactly once expected).
    pub full_table: bool,
    /// Source rows.
    pub source_rows: usize,
    /// Destination rows (with duplicates).
    pub destination_rows: usize,
    /// Destination rows whose key was already seen.
    pub duplicates: usize,
    /// The most duplicates that kills between a commit and its STATE line
    /// explain ([`Attempt::uncovered`](super::Attempt::uncovered) summed since the previous FULL_TABLE
    /// check). Fewer is fine: target-csv removes, at ACTIVATE_VERSION, a
    /// file renamed into place before its version was recorded.
    pub expected_duplicates: usize,
    /// Source rows (key and current value) missing from the destination.
    pub missing: usize,
    /// Destination keys not in the source.
    pub unknown: usize,
    /// A few missing keys, for the report.
    pub missing_sample: Vec<String>,
}

/// The comparison of the destination with the source after a clean run
/// (both tables) or after an attempt that completed a FULL_TABLE copy (that
/// table).
#[derive(Debug, Clone)]
pub struct Check {
    /// The clean attempt it followed.
    pub after_attempt: usize,
    /// Per stream.
    pub streams: Vec<StreamCheck>,
}

/// Compares a destination stream with its source table.
pub(super) fn compare(
    client: &mut postgres::Client,
    destination: &dyn Destination,
    table: &str,
    full_table: bool,
) -> Result<StreamCheck> {
    let source = table_rows(client, table)?;
    let stream = stream_of(table);
    let rows = destination.rows(&stream)?;
    let mut check = StreamCheck {
        stream,
        full_table,
        source_rows: source.len(),
        destination_rows: rows.len(),
        ..StreamCheck::default()
    };
    // Key → the values the destination holds for it.
    let mut seen: HashMap<&str, Vec<&str>> = HashMap::with_capacity(rows.len());
    for (key, value) in &rows {
        let values = seen.entry(key.as_str()).or_default();
        if !values.is_empty() {
            check.duplicates += 1;
        }
        values.push(value.as_str());
        if !source.contains_key(key) {
            check.unknown += 1;
        }
    }
    let mut missing: Vec<&String> = source
        .iter()
        .filter(|(key, value)| {
            !seen
                .get(key.as_str())
                .is_some_and(|values| values.contains(&value.as_str()))
        })
        .map(|(key, _)| key)
        .collect();
    missing.sort_by_key(|k| k.parse::<u64>().unwrap_or(u64::MAX));
    check.missing = missing.len();
    check.missing_sample = missing.into_iter().take(10).cloned().collect();
    Ok(check)
}

/// How many times each key occurs in `rows`.
pub(super) fn key_counts(rows: &[(String, String)]) -> HashMap<String, usize> {
    let mut counts = HashMap::with_capacity(rows.len());
    for (key, _) in rows {
        *counts.entry(key.clone()).or_insert(0) += 1;
    }
    counts
}
