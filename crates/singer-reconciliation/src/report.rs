//! Comparing the two sides' counts, and the report.

use std::fmt::Write as _;

use serde::Serialize;

use crate::Options;
use crate::checksum::ChecksumColumn;
use crate::destination::DestinationCounts;
use crate::source::SourceCounts;
use crate::spec::StreamSpec;

/// One key range's counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RangeCount {
    /// The range, `lo..=hi` of the key (`None`: the whole stream, or keys
    /// outside the source's ranges).
    pub range: Option<(i64, i64)>,
    /// Rows at the source.
    pub source_rows: u64,
    /// Distinct keys at the destination.
    pub destination_rows: u64,
    /// Destination rows beyond one per key.
    pub duplicates: u64,
    /// Whether the chosen columns' checksums agree (`None`: no checksum,
    /// or not comparable because of duplicates).
    pub checksum_matches: Option<bool>,
}

/// One stream's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StreamReport {
    /// The tap_stream_id.
    pub stream: String,
    /// The key compared by ranges (`None`: the whole stream).
    pub key: Option<String>,
    /// Rows at the source (up to the bookmark).
    pub source_rows: u64,
    /// Distinct keys (rows, without a key) at the destination.
    pub destination_rows: u64,
    /// `destination_rows - source_rows`.
    pub difference: i64,
    /// Destination rows beyond one per key.
    pub duplicates: u64,
    /// The first range that differs, if any.
    pub first_difference: Option<RangeCount>,
    /// The bookmark the comparison stopped at, if any.
    pub bookmark: Option<String>,
    /// The columns compared by checksum (empty: none).
    pub checksum: Vec<String>,
    /// Whether the stream matches.
    pub matches: bool,
}

fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(crate) fn compare(
    spec: &StreamSpec,
    source: &SourceCounts,
    dest: &DestinationCounts,
    checksum: &[ChecksumColumn],
    options: &Options,
) -> StreamReport {
    let mut ranges: Vec<RangeCount> = source
        .counts
        .iter()
        .enumerate()
        .map(|(i, &source_rows)| {
            let (rows, distinct) = dest.per_range.get(i).copied().unwrap_or((0, 0));
            let checksum_matches = match (source.checksums.get(i), dest.checksums.get(i)) {
                (Some(ours), Some(Some(theirs))) => Some(ours == theirs),
                _ => None,
            };
            RangeCount {
                range: source.ranges.map(|r| r.bounds(i as u64)),
                source_rows,
                destination_rows: distinct,
                duplicates: rows.saturating_sub(distinct),
                checksum_matches,
            }
        })
        .collect();
    if dest.outside.0 > 0 {
        ranges.push(RangeCount {
            range: None,
            source_rows: 0,
            destination_rows: dest.outside.1,
            duplicates: dest.outside.0.saturating_sub(dest.outside.1),
            checksum_matches: None,
        });
    }
    let differs = |r: &RangeCount| {
        r.source_rows != r.destination_rows
            || (!options.allow_duplicates && r.duplicates > 0)
            || r.checksum_matches == Some(false)
    };
    let source_rows: u64 = ranges.iter().map(|r| r.source_rows).sum();
    let destination_rows: u64 = ranges.iter().map(|r| r.destination_rows).sum();
    let duplicates: u64 = ranges.iter().map(|r| r.duplicates).sum();
    let first_difference = ranges.iter().find(|r| differs(r)).cloned();
    StreamReport {
        stream: spec.tap_stream_id.clone(),
        key: (source.ranges.is_some())
            .then(|| spec.key.first().cloned())
            .flatten(),
        source_rows,
        destination_rows,
        difference: signed(destination_rows) - signed(source_rows),
        duplicates,
        checksum: checksum.iter().map(|c| c.name.clone()).collect(),
        matches: first_difference.is_none(),
        first_difference,
        bookmark: spec.bookmark.as_ref().map(|b| match b {
            crate::spec::Bookmark::Number(n) | crate::spec::Bookmark::Text(n) => n.clone(),
        }),
    }
}

impl StreamReport {
    /// The reports as a text table, one line per stream.
    #[must_use]
    pub fn table(reports: &[Self]) -> String {
        let mut text = String::new();
        let width = reports
            .iter()
            .map(|r| r.stream.len())
            .max()
            .unwrap_or(6)
            .max(6);
        let _ = writeln!(
            text,
            "{:width$}  {:>12}  {:>16}  {:>10}  {:>10}  first differing key range",
            "stream", "source rows", "destination rows", "difference", "duplicates"
        );
        for r in reports {
            let first = match &r.first_difference {
                None => "-".to_owned(),
                Some(range) => {
                    let place = match (range.range, &r.key) {
                        (Some((lo, hi)), Some(key)) => format!("{key} {lo}..={hi}"),
                        (None, Some(key))
                            if r.first_difference.is_some() && range.source_rows == 0 =>
                        {
                            format!("{key} outside the source's keys")
                        }
                        _ => "whole stream".to_owned(),
                    };
                    format!(
                        "{place}: source {}, destination {}{}",
                        range.source_rows,
                        range.destination_rows,
                        if range.duplicates > 0 {
                            format!(" (+{} duplicates)", range.duplicates)
                        } else {
                            String::new()
                        },
                    ) + if range.checksum_matches == Some(false) {
                        ", checksum differs"
                    } else {
                        ""
                    }
                }
            };
            let _ = writeln!(
                text,
                "{:width$}  {:>12}  {:>16}  {:>10}  {:>10}  {first}",
                r.stream, r.source_rows, r.destination_rows, r.difference, r.duplicates
            );
        }
        text
    }
}
