//! Planning a manifest run: which tables `--load-type` and `--table` ask
//! for, in manifest order, and what load each gets.

use tracing::debug;

use super::options::{LoadType, ManifestOptions};
use super::parse::{Manifest, ManifestError, TableKind, TableSpec};
use crate::error::{Error, Result};

/// What a table's load did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableAction {
    /// An incremental time window.
    Incremental,
    /// Rows after the highest id loaded.
    LoadById,
    /// A full (SCD) copy.
    Full,
    /// A complete reload as a new table version.
    Backfill,
    /// The table's primary keys as its key set (deletes detection).
    Deletes,
}

impl TableAction {
    /// The spelling in logs.
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Self::Incremental => "incremental",
            Self::LoadById => "load-by-id",
            Self::Full => "full",
            Self::Backfill => "backfill",
            Self::Deletes => "deletes",
        }
    }
}

/// A table to load and how.
pub(crate) struct TablePlan<'m> {
    /// The manifest's entry.
    pub(crate) spec: &'m TableSpec,
    /// The stream it is loaded as.
    pub(crate) stream: String,
    /// The load.
    pub(crate) action: TableAction,
}

/// The tables `options` asks for, in manifest order.
pub(crate) fn plan_tables<'m>(
    manifest: &'m Manifest,
    options: &ManifestOptions,
) -> Result<Vec<TablePlan<'m>>> {
    let explicit = !options.tables.is_empty();
    let mut specs: Vec<&TableSpec> = Vec::new();
    if explicit {
        for key in &options.tables {
            let spec = manifest
                .table_by_key(key)
                .map_err(|source| Error::Manifest { path: None, source })?;
            if !specs.iter().any(|s| s.key == spec.key) {
                specs.push(spec);
            }
        }
        // Manifest order, whatever order the flags came in.
        specs.sort_by_key(|s| manifest.tables.iter().position(|t| t.key == s.key));
    } else {
        specs = manifest.tables.iter().collect();
    }
    let mut plans: Vec<TablePlan<'m>> = Vec::new();
    for spec in specs {
        let kind = spec.kind();
        let action = match (options.load_type, kind) {
            (LoadType::Incremental, TableKind::Incremental) => Some(TableAction::Incremental),
            (LoadType::Incremental | LoadType::LoadById, TableKind::LoadById) => {
                Some(TableAction::LoadById)
            }
            (LoadType::Full, TableKind::Full) => Some(TableAction::Full),
            (LoadType::Backfill, _) => Some(TableAction::Backfill),
            (LoadType::Deletes, _) if spec.deletes_exempt != Some(true) => {
                Some(TableAction::Deletes)
            }
            _ => None,
        };
        let Some(action) = action else {
            if explicit && options.load_type == LoadType::Deletes {
                return Err(Error::Table {
                    table: spec.key.clone(),
                    reason: "is deletes_exempt, which --load-type deletes does not load".to_owned(),
                });
            }
            if explicit {
                return Err(Error::Table {
                    table: spec.key.clone(),
                    reason: format!(
                        "is {} table, which --load-type {} does not load (a complete reload is --load-type backfill)",
                        match kind {
                            TableKind::Incremental => "an incremental",
                            TableKind::LoadById => "a load-by-id",
                            TableKind::Full => "a full (SCD)",
                        },
                        options.load_type.as_str()
                    ),
                });
            }
            debug!(table = %spec.key, kind = kind_name(kind), "Table skipped: not of this load type.");
            continue;
        };
        let stream = options.stream_naming.name(spec);
        if let Some(other) = plans.iter().find(|p| p.stream == stream) {
            return Err(Error::Manifest {
                path: None,
                source: ManifestError::DuplicateStream {
                    stream,
                    first: other.spec.key.clone(),
                    second: spec.key.clone(),
                },
            });
        }
        plans.push(TablePlan {
            spec,
            stream,
            action,
        });
    }
    Ok(plans)
}

const fn kind_name(kind: TableKind) -> &'static str {
    match kind {
        TableKind::Incremental => "incremental",
        TableKind::LoadById => "load-by-id",
        TableKind::Full => "full (SCD)",
    }
}
