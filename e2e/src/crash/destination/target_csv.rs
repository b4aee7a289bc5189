//! `target-csv` as a [`Destination`]: files under a directory.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;

use super::{Destination, Target};
use crate::crash::{KEY, VALUE, write_json};
use crate::error::{Error, Result, io};

/// `target-csv` writing `{stream}/{timestamp}-{run_id}-{part}.csv` files
/// under a directory, small batches, a commit after every batch.
#[derive(Debug, Clone)]
pub struct CsvDestination {
    target: Target,
    dir: PathBuf,
}

impl CsvDestination {
    /// Writes the target's config under `work_dir` (files go to
    /// `work_dir/csv`), with batches of `batch_rows` rows.
    ///
    /// # Errors
    ///
    /// When the config cannot be written.
    pub fn new(binary: PathBuf, work_dir: &Path, batch_rows: u64) -> Result<Self> {
        let dir = work_dir.join("csv");
        std::fs::create_dir_all(&dir).map_err(io("creating", &dir))?;
        let config = work_dir.join("target-csv.json");
        write_json(
            &config,
            &json!({
                "destination_path": dir,
                "file_naming_scheme": "{stream}/{timestamp}-{run_id}-{part}.csv",
                "batch_size_rows": batch_rows,
                "commit_interval_seconds": 0,
            }),
        )?;
        Ok(Self {
            target: Target { binary, config },
            dir,
        })
    }

    /// Every file under the destination (recursively) with its size.
    fn files(&self) -> Vec<(PathBuf, u64)> {
        let mut files = Vec::new();
        let mut dirs = vec![self.dir.clone()];
        while let Some(dir) = dirs.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let Ok(meta) = entry.metadata() else {
                    continue;
                };
                if meta.is_dir() {
                    dirs.push(entry.path());
                } else {
                    files.push((entry.path(), meta.len()));
                }
            }
        }
        files
    }
}

impl Destination for CsvDestination {
    fn name(&self) -> &str {
        "target-csv"
    }

    fn command(&self) -> Command {
        self.target.command()
    }

    fn progress(&self) -> u64 {
        self.files().iter().map(|(_, len)| len).sum()
    }

    fn commits(&self) -> u64 {
        let complete = self
            .files()
            .iter()
            .filter(|(path, _)| path.extension().is_some_and(|e| e == "csv"))
            .count();
        u64::try_from(complete).unwrap_or(u64::MAX)
    }

    fn rows(&self, stream: &str) -> Result<Vec<(String, String)>> {
        let dir = self.dir.join(stream);
        let mut rows = Vec::new();
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(rows);
        };
        let mut files: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "csv"))
            .collect();
        files.sort();
        for path in files {
            let csv_error = |source| Error::Csv {
                path: path.clone(),
                source,
            };
            let mut reader = csv::Reader::from_path(&path).map_err(csv_error)?;
            let headers = reader.headers().map_err(csv_error)?.clone();
            let column = |name: &str| {
                headers
                    .iter()
                    .position(|h| h == name)
                    .ok_or_else(|| Error::MissingColumn {
                        path: path.clone(),
                        column: name.to_owned(),
                    })
            };
            let (key, value) = (column(KEY)?, column(VALUE)?);
            for record in reader.records() {
                let record = record.map_err(csv_error)?;
                rows.push((
                    record.get(key).unwrap_or_default().to_owned(),
                    record.get(value).unwrap_or_default().to_owned(),
                ));
            }
        }
        Ok(rows)
    }

    fn upserts(&self) -> bool {
        false
    }
}
