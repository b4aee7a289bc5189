//! The bench table every throughput bench reads: the GitLab-like `issues`
//! table of `fixtures/postgres/bench-issues.sql` (14 columns of mixed types,
//! ~10% NULLs, generated in SQL), with the catalog and manifest the benches
//! run it through.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// The bench table's SQL; `:rows` is its size.
const TABLE_SQL: &str = include_str!("../../../fixtures/postgres/bench-issues.sql");

/// The bench table's columns, in table order (what `COPY` and the manifest
/// select).
pub const BENCH_COLUMNS: &str = "id, project_id, author_id, title, description, state, weight, \
    time_estimate, confidential, labels, metadata, created_at, updated_at, due_date";

/// Creates and fills `issues` with `rows` rows.
///
/// # Errors
///
/// The statement's error.
pub fn load_bench_table(client: &mut postgres::Client, rows: u64) -> Result<(), postgres::Error> {
    client.batch_execute(&TABLE_SQL.replace(":rows", &rows.to_string()))
}

/// A GitLab postgres_pipeline manifest that reads the bench table whole
/// (`--load-type full`).
#[must_use]
pub fn bench_manifest() -> String {
    format!(
        "tables:\n  issues:\n    import_db: GITLAB_DB\n    export_schema: gitlab_com\n    \
         export_table: issues\n    export_table_primary_key: id\n    \
         import_query: SELECT {BENCH_COLUMNS} FROM issues\n"
    )
}

/// Selects every stream of a discovered catalog for FULL_TABLE (Meltano's
/// top-level spelling).
pub fn select_full_table(catalog: &mut Value) {
    let streams = catalog.get_mut("streams").and_then(Value::as_array_mut);
    for stream in streams.into_iter().flatten() {
        if let Some(root) = stream
            .pointer_mut("/metadata/0/metadata")
            .and_then(Value::as_object_mut)
        {
            root.insert("selected".into(), true.into());
        }
        if let Some(entry) = stream.as_object_mut() {
            entry.insert("replication_method".into(), "FULL_TABLE".into());
        }
    }
}

/// Runs `tap --config CONFIG --discover`, selects every stream for
/// FULL_TABLE ([`select_full_table`]) and writes the catalog to `catalog`.
///
/// # Errors
///
/// What failed: running the tap, its exit status with its stderr, its
/// output, or writing the file.
pub fn write_full_table_catalog(tap: &Path, config: &Path, catalog: &Path) -> Result<(), String> {
    let discovered = Command::new(tap)
        .arg("--config")
        .arg(config)
        .args(["--discover", "--log-level", "warn"])
        .output()
        .map_err(|e| format!("running {} --discover: {e}", tap.display()))?;
    if !discovered.status.success() {
        return Err(format!(
            "{} --discover failed: {}",
            tap.display(),
            String::from_utf8_lossy(&discovered.stderr)
        ));
    }
    let mut json: Value = serde_json::from_slice(&discovered.stdout)
        .map_err(|e| format!("the discovered catalog is not JSON: {e}"))?;
    select_full_table(&mut json);
    std::fs::write(catalog, json.to_string())
        .map_err(|e| format!("writing {}: {e}", catalog.display()))
}
