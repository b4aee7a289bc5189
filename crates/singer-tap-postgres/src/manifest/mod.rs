//! Manifest mode: GitLab postgres_pipeline manifests, unchanged.
//!
//! A manifest lists tables with an `import_query` template, the target
//! name's parts, a primary key and options (see [`TableSpec`]).
//! [`Manifest::parse`] reads it (unknown keys are warnings; a missing or
//! mistyped key is an error naming the table and the key), the known
//! tokens are filled without rewriting the SQL, and [`sync_manifest`]
//! loads the tables as ordinary Singer messages:
//!
//! * **incremental** (the query has `{BEGIN_TIMESTAMP}` or
//!   `{EXECUTION_DATE}`): the window from the stored high-water mark minus
//!   the overlap to the execution date (at most `HOURS` long, capped at the
//!   replica's replay time on request); the new mark is stored at the end of
//!   the table;
//! * **full (SCD)**: a complete copy every run in primary-key ranges
//!   `[a, a+step-1]`, resumable from the last finished range;
//! * **load-by-id** (`incremental_type: load_by_id`): keys after the
//!   highest one already extracted;
//! * **backfill**: tables new to the state or whose query selects new
//!   columns are reloaded by key ranges as a new table version, ending in
//!   ACTIVATE_VERSION.
//!
//! Every record carries `_uploaded_at` (epoch seconds, one value per run)
//! and, with `advanced_metadata`, `_task_instance`.
//!
//! ```
//! use singer_tap_postgres::manifest::{Manifest, TableKind};
//!
//! let manifest = Manifest::parse(
//!     "tables:\n  issues:\n    import_db: GITLAB_DB\n    export_table: issues\n    \
//!      export_table_primary_key: id\n    import_query: >-\n      SELECT id FROM issues\n      \
//!      WHERE updated_at BETWEEN '{BEGIN_TIMESTAMP}' AND '{END_TIMESTAMP}'\n",
//! )?;
//! let issues = manifest.table_by_key("issues")?;
//! assert_eq!(issues.kind(), TableKind::Incremental);
//! assert_eq!(issues.upstream_name(), "GITLAB_DB_ISSUES");
//! # Ok::<(), singer_tap_postgres::manifest::ManifestError>(())
//! ```

mod allowlist;
mod bookmark;
mod connection;
mod options;
mod parse;
mod plan;
mod replica;
mod run;
mod template;
mod window;

pub use allowlist::{AllowList, AllowListError, AllowLists};
pub use connection::{ConnectionInfo, ResolvedConnection, connection_info_for};
pub use options::{LoadType, ManifestOptions, OptionError, StreamNaming, parse_timestamp};
pub use parse::{IncrementalType, Manifest, ManifestError, TableKind, TableSpec};
pub use plan::TableAction;
pub use replica::{ReplicaStatus, check_replica};
pub use run::{TASK_INSTANCE, TableSummary, UPLOADED_AT, sync_manifest};
pub use window::{Window, incremental_window};
