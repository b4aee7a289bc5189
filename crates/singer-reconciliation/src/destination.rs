//! Counting at the destination: a Snowflake table (one aggregate query) or
//! a stream's CSV files (read once).

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufReader, Read};

use singer_target_csv::{Compression, CsvConfig};
use singer_target_snowflake::{SnowflakeConfig, SnowflakeLoader, fold, quote, table_for_stream};

use crate::checksum::{ChecksumColumn, ValueKind, csv_value, row_hash};
use crate::error::{Error, Result};
use crate::source::Ranges;
use crate::spec::{Bookmark, KeyKind, StreamSpec};

/// The metadata column of deleted rows.
const DELETED_AT: &str = "_sdc_deleted_at";

/// A destination's counts: `(rows, distinct keys)` per range (one range
/// without an integer key), and for rows whose key is outside every
/// range.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DestinationCounts {
    /// Per range, in order.
    pub per_range: Vec<(u64, u64)>,
    /// Outside the source's key ranges.
    pub outside: (u64, u64),
    /// Per range, the checksum of the chosen columns over one row per key
    /// (empty: no checksum asked; `None`: not comparable, the range has
    /// duplicates the destination cannot tell apart).
    pub checksums: Vec<Option<u128>>,
}

/// Where a pipe loaded the streams.
pub trait Destination {
    /// Counts `spec`'s live rows (up to its bookmark) per range of
    /// `ranges`.
    ///
    /// # Errors
    ///
    /// [`Error::Destination`] when the destination cannot be read.
    fn count(
        &mut self,
        spec: &StreamSpec,
        ranges: &Option<Ranges>,
        checksum: &[ChecksumColumn],
    ) -> Result<DestinationCounts>;
}

fn slots(ranges: &Option<Ranges>) -> usize {
    ranges.map_or(1, |r| usize::try_from(r.count).unwrap_or(1))
}

/// A Snowflake account, through target-snowflake's configuration (the
/// same table and column names the loader uses).
pub struct SnowflakeDestination {
    loader: SnowflakeLoader,
    config: SnowflakeConfig,
}

impl SnowflakeDestination {
    /// A destination for `config` (it logs in at the first count).
    ///
    /// # Errors
    ///
    /// [`Error::Usage`] for a configuration the loader refuses.
    pub fn new(config: &SnowflakeConfig) -> Result<Self> {
        let loader = SnowflakeLoader::new(config).map_err(|e| Error::Usage {
            reason: singer_protocol::ErrorChain(&e).to_string(),
        })?;
        Ok(Self {
            loader,
            config: config.clone(),
        })
    }

    fn column(&self, name: &str) -> String {
        quote(&fold(name, self.config.identifier_case))
    }
}

impl Destination for SnowflakeDestination {
    fn count(
        &mut self,
        spec: &StreamSpec,
        ranges: &Option<Ranges>,
        checksum: &[ChecksumColumn],
    ) -> Result<DestinationCounts> {
        let error = |reason: String| Error::Destination {
            stream: spec.tap_stream_id.clone(),
            reason,
        };
        let table = table_for_stream(&spec.stream, &self.config)
            .map_err(|e| error(singer_protocol::ErrorChain(&e).to_string()))?
            .sql();
        let mut filters = Vec::new();
        if let (Some(rk), Some(bookmark)) = (&spec.replication_key, &spec.bookmark) {
            let literal = match bookmark {
                Bookmark::Number(n)
                    if n.bytes()
                        .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b)) =>
                {
                    n.clone()
                }
                // Snowflake reads `\` in a string literal as an escape.
                Bookmark::Number(n) | Bookmark::Text(n) => {
                    format!("'{}'", n.replace('\\', "\\\\").replace('\'', "''"))
                }
            };
            filters.push(format!("{} <= {literal}", self.column(rk)));
        }
        let key = spec.key.first().map(|k| self.column(k));
        if let (KeyKind::Integer | KeyKind::Other, Some(key)) = (spec.key_kind, &key) {
            // A NULL key is no row of the source's key ranges.
            filters.push(format!("{key} IS NOT NULL"));
        }
        let sum = if checksum.is_empty() {
            String::new()
        } else {
            let text = crate::checksum::snowflake_row_text(checksum, |c| self.column(c));
            // An exact NUMBER sum (the double would sum integers as floats).
            format!(
                ", SUM(CAST({} AS NUMBER(38, 0)))",
                crate::checksum::snowflake_hash(&text)
            )
        };
        let (select, group) = match (spec.key_kind, &key, ranges) {
            (KeyKind::Integer, Some(key), Some(r)) => (
                format!(
                    "FLOOR(({key} - {}) / {}) AS R, COUNT(*), COUNT(DISTINCT {key}){sum}",
                    r.min, r.width
                ),
                " GROUP BY 1",
            ),
            (KeyKind::Integer | KeyKind::Other, Some(key), _) => {
                (format!("0 AS R, COUNT(*), COUNT(DISTINCT {key}){sum}"), "")
            }
            _ => (format!("0 AS R, COUNT(*), COUNT(*){sum}"), ""),
        };
        let query = |filters: &[String]| {
            let filter = if filters.is_empty() {
                String::new()
            } else {
                format!(" WHERE {}", filters.join(" AND "))
            };
            format!("SELECT {select} FROM {table}{filter}{group}")
        };
        // Live rows only where the table tracks deletes.
        let mut live = filters.clone();
        live.push(format!("{} IS NULL", self.column(DELETED_AT)));
        let table_name = table_for_stream(&spec.stream, &self.config)
            .map(|t| t.table)
            .unwrap_or_default();
        let missing_table = |text: &str| {
            text.contains("does not exist")
                && text.contains(table_name.as_str())
                && !text
                    .to_ascii_uppercase()
                    .contains(&DELETED_AT.to_ascii_uppercase())
        };
        let rows = match self.loader.query_text(&query(&live)) {
            Ok(rows) => rows,
            Err(e) => {
                let text = singer_protocol::ErrorChain(&e).to_string();
                if missing_table(&text) {
                    // Never loaded: nothing there.
                    Vec::new()
                } else if text
                    .to_ascii_uppercase()
                    .contains(&DELETED_AT.to_ascii_uppercase())
                {
                    // No deletes tracked: every row is live.
                    self.loader
                        .query_text(&query(&filters))
                        .map_err(|e| error(singer_protocol::ErrorChain(&e).to_string()))?
                } else {
                    return Err(error(text));
                }
            }
        };
        let mut counts = DestinationCounts {
            per_range: vec![(0, 0); slots(ranges)],
            outside: (0, 0),
            checksums: if checksum.is_empty() {
                Vec::new()
            } else {
                vec![Some(0); slots(ranges)]
            },
        };
        let number = |cell: Option<&Option<String>>| -> f64 {
            cell.and_then(Option::as_deref)
                .and_then(|t| t.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        for row in rows {
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "counts and a range index the query computed"
            )]
            let (index, n, distinct) = (
                number(row.first()) as i64,
                number(row.get(1)) as u64,
                number(row.get(2)) as u64,
            );
            let in_range = ranges.map_or(Some(0), |r| {
                u64::try_from(index).ok().filter(|i| *i < r.count)
            });
            let index = in_range.and_then(|i| usize::try_from(i).ok());
            let slot = match index {
                Some(i) => counts.per_range.get_mut(i),
                None => Some(&mut counts.outside),
            };
            if let Some(slot) = slot {
                slot.0 += n;
                slot.1 += distinct;
            }
            if let Some(sum) = index.and_then(|i| counts.checksums.get_mut(i)) {
                let cell = row.get(3).and_then(Option::as_deref).unwrap_or("0");
                let value = cell.split('.').next().and_then(|d| d.parse::<u128>().ok());
                // Duplicates are summed too: not comparable.
                *sum = match (*sum, value) {
                    (Some(a), Some(b)) if n == distinct => Some(a.wrapping_add(b)),
                    _ => None,
                };
            }
        }
        Ok(counts)
    }
}

/// A target-csv destination: the stream's current files under
/// `destination_path` (no `.partial` file; older table versions are
/// already gone).
pub struct CsvDestination {
    config: CsvConfig,
}

impl CsvDestination {
    /// A destination for target-csv's `config`.
    #[must_use]
    pub fn new(config: CsvConfig) -> Self {
        Self { config }
    }
}

impl Destination for CsvDestination {
    fn count(
        &mut self,
        spec: &StreamSpec,
        ranges: &Option<Ranges>,
        checksum: &[ChecksumColumn],
    ) -> Result<DestinationCounts> {
        let error = |reason: String| Error::Destination {
            stream: spec.tap_stream_id.clone(),
            reason,
        };
        let (delimiter, quote, _) = self.config.dialect().map_err(|e| error(e.to_string()))?;
        let files = singer_target_csv::stream_files(&self.config, &spec.stream)
            .map_err(|e| error(singer_protocol::ErrorChain(&e).to_string()))?;
        let null = self.config.null_value.as_str();
        let slots = slots(ranges);
        let mut rows = vec![0_u64; slots];
        let mut outside_rows = 0;
        // Each key's row hash (the last row of a key wins, as files are
        // read in the order they were written); 0 without a checksum.
        let mut int_keys: Vec<HashMap<i64, u64>> = vec![HashMap::new(); slots];
        let mut outside_keys: HashSet<String> = HashSet::new();
        let mut text_keys: HashMap<String, u64> = HashMap::new();
        let mut keyless_sum = 0_u128;
        let mut buffer = String::new();
        for path in files {
            let file = File::open(&path).map_err(|e| error(format!("{}: {e}", path.display())))?;
            let reader: Box<dyn Read> = if self.config.compression == Compression::Gzip {
                Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(file)))
            } else {
                Box::new(BufReader::new(file))
            };
            let mut csv = csv::ReaderBuilder::new()
                .delimiter(delimiter)
                .quote(quote)
                .from_reader(reader);
            let header = csv
                .headers()
                .map_err(|e| error(format!("{}: {e}", path.display())))?
                .clone();
            let position = |name: &str| header.iter().position(|h| h == name);
            let key = spec.key.first().and_then(|k| position(k));
            let deleted = position(DELETED_AT);
            let rk = spec.replication_key.as_deref().and_then(position);
            let sums: Vec<(Option<usize>, ValueKind)> = checksum
                .iter()
                .map(|c| (position(&c.name), c.kind))
                .collect();
            for record in csv.records() {
                let record = record.map_err(|e| error(format!("{}: {e}", path.display())))?;
                let present = |i: Option<usize>| {
                    i.and_then(|i| record.get(i))
                        .filter(|v| !v.is_empty() && *v != null)
                };
                if present(deleted).is_some() {
                    continue;
                }
                if let Some(bookmark) = &spec.bookmark {
                    let Some(value) = present(rk) else {
                        continue;
                    };
                    if !at_or_before(value, bookmark) {
                        continue;
                    }
                }
                let hash = if sums.is_empty() {
                    0
                } else {
                    row_hash(
                        sums.iter()
                            .map(|&(i, kind)| csv_value(kind, i.and_then(|i| record.get(i)), null)),
                        &mut buffer,
                    )
                };
                match (spec.key_kind, present(key)) {
                    (KeyKind::Integer, Some(text)) => {
                        let parsed = text.parse::<i64>().ok();
                        match (parsed, ranges) {
                            (Some(k), Some(r)) => {
                                match r.of(k).and_then(|i| usize::try_from(i).ok()) {
                                    Some(i) => {
                                        if let Some(n) = rows.get_mut(i) {
                                            *n += 1;
                                        }
                                        if let Some(set) = int_keys.get_mut(i) {
                                            set.insert(k, hash);
                                        }
                                    }
                                    None => {
                                        outside_rows += 1;
                                        outside_keys.insert(text.to_owned());
                                    }
                                }
                            }
                            _ => {
                                outside_rows += 1;
                                outside_keys.insert(text.to_owned());
                            }
                        }
                    }
                    // A NULL key is no row of a key range.
                    (KeyKind::Integer | KeyKind::Other, None) => {}
                    (KeyKind::Other, Some(text)) => {
                        if let Some(n) = rows.first_mut() {
                            *n += 1;
                        }
                        text_keys.insert(text.to_owned(), hash);
                    }
                    _ => {
                        if let Some(n) = rows.first_mut() {
                            *n += 1;
                        }
                        keyless_sum = keyless_sum.wrapping_add(u128::from(hash));
                    }
                }
            }
        }
        let per_range = rows
            .iter()
            .zip(&int_keys)
            .enumerate()
            .map(|(i, (&n, keys))| {
                let distinct = match spec.key_kind {
                    KeyKind::Integer if ranges.is_some() => keys.len() as u64,
                    KeyKind::Integer | KeyKind::Other if i == 0 => text_keys.len() as u64,
                    _ => n,
                };
                (n, distinct)
            })
            .collect();
        let sum = |hashes: &mut dyn Iterator<Item = u64>| -> u128 {
            hashes.map(u128::from).fold(0, u128::wrapping_add)
        };
        let checksums = if checksum.is_empty() {
            Vec::new()
        } else {
            (0..slots)
                .map(|i| {
                    Some(match spec.key_kind {
                        KeyKind::Integer if ranges.is_some() => int_keys
                            .get(i)
                            .map_or(0, |keys| sum(&mut keys.values().copied())),
                        KeyKind::Integer | KeyKind::Other => sum(&mut text_keys.values().copied()),
                        KeyKind::None => keyless_sum,
                    })
                })
                .collect()
        };
        Ok(DestinationCounts {
            per_range,
            outside: (outside_rows, outside_keys.len() as u64),
            checksums,
        })
    }
}

/// Whether a file's replication-key value is at or before the bookmark:
/// numbers as numbers, text as text (our timestamps are fixed-width UTC,
/// so text order is time order).
fn at_or_before(value: &str, bookmark: &Bookmark) -> bool {
    match bookmark {
        Bookmark::Number(b) => match (value.parse::<i128>(), b.parse::<i128>()) {
            (Ok(v), Ok(b)) => v <= b,
            _ => match (value.parse::<f64>(), b.parse::<f64>()) {
                (Ok(v), Ok(b)) => v <= b,
                _ => false,
            },
        },
        Bookmark::Text(b) => value <= b.as_str(),
    }
}
