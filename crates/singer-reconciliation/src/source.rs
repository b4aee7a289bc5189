//! Counting at the source: one aggregate query per stream, in PostgreSQL.

use postgres::Client;
use postgres::types::ToSql;

use crate::checksum::ChecksumColumn;
use crate::error::{Error, Result};
use crate::spec::{Bookmark, KeyKind, StreamSpec};

/// Ranges of an integer key: range `i` is `[min + i·width, min + (i+1)·width - 1]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ranges {
    /// The smallest key at the source.
    pub min: i64,
    /// Keys per range.
    pub width: i64,
    /// How many ranges.
    pub count: u64,
}

impl Ranges {
    /// Range `i`'s bounds.
    #[must_use]
    pub fn bounds(&self, i: u64) -> (i64, i64) {
        let i = i64::try_from(i).unwrap_or(i64::MAX);
        let lo = self.min.saturating_add(i.saturating_mul(self.width));
        (lo, lo.saturating_add(self.width - 1))
    }

    /// The range of `key`, `None` when outside every range.
    #[must_use]
    pub fn of(&self, key: i64) -> Option<u64> {
        let offset = i128::from(key) - i128::from(self.min);
        if offset < 0 {
            return None;
        }
        let index = u64::try_from(offset / i128::from(self.width.max(1))).ok()?;
        (index < self.count).then_some(index)
    }
}

/// The source's counts: per range (one range when the key is not an
/// integer), in order.
#[derive(Debug, Clone)]
pub(crate) struct SourceCounts {
    pub(crate) ranges: Option<Ranges>,
    pub(crate) counts: Vec<u64>,
    /// Per range, the checksum of the chosen columns (empty: none asked).
    pub(crate) checksums: Vec<u128>,
}

/// `, sum(<row hash>)::text` for the chosen columns, or nothing.
fn checksum_select(checksum: &[ChecksumColumn]) -> String {
    if checksum.is_empty() {
        return String::new();
    }
    let text = crate::checksum::postgres_row_text(checksum, quote_ident);
    format!(
        ", coalesce(sum({}), 0)::text",
        crate::checksum::postgres_hash(&text)
    )
}

/// A checksum cell (`None` when no checksum was asked).
fn checksum_cell(
    row: &postgres::Row,
    index: usize,
) -> std::result::Result<Option<u128>, postgres::Error> {
    let text: Option<String> = match row.columns().get(index) {
        Some(_) => row.try_get(index)?,
        None => return Ok(None),
    };
    Ok(text.and_then(|t| t.parse::<u128>().ok()))
}

pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Counts `spec`'s rows at the source.
pub(crate) fn count(
    client: &mut Client,
    spec: &StreamSpec,
    ranges: u64,
    checksum: &[ChecksumColumn],
) -> Result<SourceCounts> {
    let error = |e: postgres::Error| Error::Source {
        stream: spec.tap_stream_id.clone(),
        reason: singer_protocol::ErrorChain(&e).to_string(),
    };
    // Both statements see one snapshot: the ranges the first finds hold
    // every row the second counts.
    let mut tx = client
        .build_transaction()
        .isolation_level(postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .map_err(error)?;
    let counts = count_in(&mut tx, spec, ranges, checksum)?;
    tx.commit().map_err(error)?;
    Ok(counts)
}

/// A type name as `format_type` prints it (letters, digits, spaces,
/// `_`, `(`, `)`, `,`, `[`, `]`, `"`, `.`): anything else is not put into
/// SQL.
fn safe_type(ty: &str) -> bool {
    !ty.is_empty()
        && ty
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || " _(),[].\"".contains(c))
        && !ty.contains("--")
}

fn count_in(
    client: &mut postgres::Transaction<'_>,
    spec: &StreamSpec,
    ranges: u64,
    checksum: &[ChecksumColumn],
) -> Result<SourceCounts> {
    let error = |e: postgres::Error| Error::Source {
        stream: spec.tap_stream_id.clone(),
        reason: singer_protocol::ErrorChain(&e).to_string(),
    };
    let table = format!("{}.{}", quote_ident(&spec.schema), quote_ident(&spec.table));
    let (filter, params): (String, Vec<String>) = match (&spec.replication_key, &spec.bookmark) {
        (Some(rk), Some(bookmark)) => {
            let value = match bookmark {
                Bookmark::Number(n) | Bookmark::Text(n) => n.clone(),
            };
            let ty = spec
                .replication_key_type
                .clone()
                .filter(|t| safe_type(t))
                .unwrap_or_else(|| "text".to_owned());
            (
                format!(" WHERE {} <= $1::text::{ty}", quote_ident(rk)),
                vec![value],
            )
        }
        _ => (String::new(), Vec::new()),
    };
    let params: Vec<&(dyn ToSql + Sync)> =
        params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
    // A NULL key is no row of a key range (a primary key never is NULL).
    let filter = match (spec.key_kind, spec.key.first()) {
        (KeyKind::Integer | KeyKind::Other, Some(key)) => {
            let not_null = format!("{} IS NOT NULL", quote_ident(key));
            if filter.is_empty() {
                format!(" WHERE {not_null}")
            } else {
                format!("{filter} AND {not_null}")
            }
        }
        _ => filter,
    };
    match (spec.key_kind, spec.key.first()) {
        (KeyKind::Integer, Some(key)) => {
            let key = quote_ident(key);
            let row = client
                .query_one(
                    &format!("SELECT min({key})::int8, max({key})::int8 FROM {table}{filter}"),
                    &params,
                )
                .map_err(error)?;
            let min: Option<i64> = row.try_get(0).map_err(error)?;
            let max: Option<i64> = row.try_get(1).map_err(error)?;
            let (Some(min), Some(max)) = (min, max) else {
                return Ok(SourceCounts {
                    ranges: None,
                    counts: vec![0],
                    checksums: if checksum.is_empty() {
                        Vec::new()
                    } else {
                        vec![0]
                    },
                });
            };
            let span = i128::from(max) - i128::from(min) + 1;
            let pieces = i128::from(ranges.max(1)).min(span);
            let width = i64::try_from((span + pieces - 1) / pieces).unwrap_or(i64::MAX);
            let count =
                u64::try_from((span + i128::from(width) - 1) / i128::from(width)).unwrap_or(1);
            let ranges = Ranges { min, width, count };
            let slots = usize::try_from(count).unwrap_or(0);
            let mut counts = vec![0; slots];
            let mut checksums = if checksum.is_empty() {
                Vec::new()
            } else {
                vec![0_u128; slots]
            };
            // The bounds are numbers this process computed, not input.
            let sql = format!(
                "SELECT (({key}::int8 - {min}) / {width})::int8 AS r, count(*){} FROM {table}{filter} GROUP BY 1",
                checksum_select(checksum)
            );
            for row in client.query(&sql, &params).map_err(error)? {
                let index: i64 = row.try_get(0).map_err(error)?;
                let n: i64 = row.try_get(1).map_err(error)?;
                let Some(i) = usize::try_from(index).ok() else {
                    continue;
                };
                if let Some(slot) = counts.get_mut(i) {
                    *slot += u64::try_from(n).unwrap_or(0);
                }
                if let (Some(slot), Some(sum)) =
                    (checksums.get_mut(i), checksum_cell(&row, 2).map_err(error)?)
                {
                    *slot = slot.wrapping_add(sum);
                }
            }
            Ok(SourceCounts {
                ranges: Some(ranges),
                counts,
                checksums,
            })
        }
        _ => {
            let row = client
                .query_one(
                    &format!(
                        "SELECT count(*){} FROM {table}{filter}",
                        checksum_select(checksum)
                    ),
                    &params,
                )
                .map_err(error)?;
            let n: i64 = row.try_get(0).map_err(error)?;
            Ok(SourceCounts {
                ranges: None,
                counts: vec![u64::try_from(n).unwrap_or(0)],
                checksums: checksum_cell(&row, 1).map_err(error)?.into_iter().collect(),
            })
        }
    }
}
