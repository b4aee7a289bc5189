//! The PostgreSQL side: the two source tables (seeded, then changed between
//! attempts), the tap's connection settings and its discovered catalog, and
//! the source rows a destination is compared with.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;
use singer_protocol::{Catalog, ReplicationMethod};
use singer_testkit::Cluster;

use super::{FULL_TABLE, INCREMENTAL_TABLE, Rng, VALUE, stream_of};
use crate::error::{Error, Result, io};

/// The tap's connection settings.
#[derive(Debug, Clone)]
pub struct Source {
    /// Host.
    pub host: String,
    /// Port.
    pub port: u16,
    /// User.
    pub user: String,
    /// Database.
    pub dbname: String,
}

impl Source {
    /// The settings of database `dbname` of `cluster`.
    #[must_use]
    pub fn in_cluster(cluster: &Cluster, dbname: String) -> Self {
        Self {
            host: cluster.host().to_owned(),
            port: cluster.port(),
            user: cluster.user().to_owned(),
            dbname,
        }
    }

    /// Creates a new database (its name starts with `prefix`) in
    /// `cluster`, fills it with [`seed_source`] (two tables of `rows`
    /// rows), and returns its settings and a client connected to it.
    ///
    /// # Errors
    ///
    /// When the database cannot be created, connected to or filled.
    pub fn seeded(cluster: &Cluster, prefix: &str, rows: u64) -> Result<(Self, postgres::Client)> {
        let dbname = cluster.create_database(prefix)?;
        let mut client = cluster.connect(&dbname)?;
        seed_source(&mut client, rows)?;
        Ok((Self::in_cluster(cluster, dbname), client))
    }
}

/// Creates and fills the two source tables in database `db`.
///
/// # Errors
///
/// When a statement fails.
pub fn seed_source(client: &mut postgres::Client, rows: u64) -> Result<()> {
    let mut sql = String::new();
    for table in [FULL_TABLE, INCREMENTAL_TABLE] {
        // updated_at has ties (four rows per second), so an INCREMENTAL
        // resume from a bookmark in the middle of a tie must re-read it.
        let _ = write!(
            sql,
            "DROP TABLE IF EXISTS {table};
             CREATE TABLE {table} (
                 id bigint PRIMARY KEY,
                 updated_at timestamptz NOT NULL,
                 payload text NOT NULL,
                 note text
             );
             INSERT INTO {table}
             SELECT i, timestamptz '2024-01-01 00:00:00+00' + (i / 4) * interval '1 second',
                    md5(i::text), CASE WHEN i % 7 = 0 THEN NULL ELSE 'row, \"quoted\" ' || i END
             FROM generate_series(1, {rows}) AS i;
             ANALYZE {table};"
        );
    }
    execute(client, &sql)
}

fn execute(client: &mut postgres::Client, sql: &str) -> Result<()> {
    client.batch_execute(sql).map_err(|source| Error::Postgres {
        statement: sql.chars().take(120).collect(),
        source,
    })
}

/// Changes the incremental table between attempts: `n` new rows after the
/// last key, and `n` existing rows given a new value and a later
/// `updated_at` (so the next run must pick them up); with `deletes` (a
/// LOG_BASED stream), also `n / 2` rows deleted.
pub(super) fn change_incremental(
    client: &mut postgres::Client,
    rng: &mut Rng,
    n: u64,
    round: usize,
    deletes: bool,
) -> Result<()> {
    if n == 0 {
        return Ok(());
    }
    let pick = rng.next_u64();
    let sql = format!(
        "INSERT INTO {INCREMENTAL_TABLE}
         SELECT m + i, timestamptz '2030-01-01 00:00:00+00' + ({round} * interval '1 hour') + (i / 3) * interval '1 second',
                md5('new' || (m + i)::text), NULL
         FROM (SELECT max(id) AS m FROM {INCREMENTAL_TABLE}) AS t, generate_series(1, {n}) AS i;
         UPDATE {INCREMENTAL_TABLE}
         SET payload = md5(payload || '{round}'),
             updated_at = timestamptz '2030-01-01 00:00:00+00' + ({round} * interval '1 hour') + interval '30 minutes'
         WHERE id IN (SELECT id FROM {INCREMENTAL_TABLE} ORDER BY md5(id::text || '{pick}') LIMIT {n});"
    );
    execute(client, &sql)?;
    if deletes {
        let pick = rng.next_u64();
        let half = n / 2;
        execute(
            client,
            &format!(
                "DELETE FROM {INCREMENTAL_TABLE} WHERE id IN \
                 (SELECT id FROM {INCREMENTAL_TABLE} ORDER BY md5(id::text || 'd{pick}') LIMIT {half})"
            ),
        )?;
    }
    Ok(())
}

/// Discovers, selects both tables (FULL_TABLE, and INCREMENTAL on
/// `updated_at` or, with `log_based`, LOG_BASED) and writes the catalog.
pub(super) fn discover(tap: &Path, config: &Path, work: &Path, log_based: bool) -> Result<PathBuf> {
    let output = Command::new(tap)
        .arg("--config")
        .arg(config)
        .arg("--discover")
        .output()
        .map_err(io("running", tap))?;
    if !output.status.success() {
        return Err(Error::Failed {
            program: "tap-postgres --discover".to_owned(),
            status: output.status,
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    let mut catalog = Catalog::from_json(&String::from_utf8_lossy(&output.stdout))?;
    let root: [&str; 0] = [];
    for (table, method, key) in [
        (FULL_TABLE, ReplicationMethod::FullTable, None),
        if log_based {
            (INCREMENTAL_TABLE, ReplicationMethod::LogBased, None)
        } else {
            (
                INCREMENTAL_TABLE,
                ReplicationMethod::Incremental,
                Some("updated_at"),
            )
        },
    ] {
        let stream = stream_of(table);
        let entry = catalog
            .streams
            .iter_mut()
            .find(|e| e.tap_stream_id == stream)
            .ok_or(Error::MissingStream { stream })?;
        entry.metadata.set(&root, "selected", json!(true));
        let keys = entry.key_properties()?;
        entry.set_replication(Some(method), key, &keys);
    }
    let path = work.join("catalog.json");
    let text = serde_json::to_string_pretty(&catalog).map_err(|source| Error::Json {
        what: "the catalog".to_owned(),
        source,
    })?;
    std::fs::write(&path, text).map_err(io("writing", &path))?;
    Ok(path)
}

/// The rows of source table `table`: key → value, as text.
pub(super) fn table_rows(
    client: &mut postgres::Client,
    table: &str,
) -> Result<HashMap<String, String>> {
    let statement = format!("SELECT id::text, {VALUE} FROM {table}");
    let failed = |source| Error::Postgres {
        statement: statement.clone(),
        source,
    };
    let rows = client.query(statement.as_str(), &[]).map_err(failed)?;
    let mut source: HashMap<String, String> = HashMap::with_capacity(rows.len());
    for row in &rows {
        let key: String = row.try_get(0).map_err(failed)?;
        let value: String = row.try_get(1).map_err(failed)?;
        source.insert(key, value);
    }
    Ok(source)
}
