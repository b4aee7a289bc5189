//! The server side of LOG_BASED: preflight checks with clear errors, the
//! publication and the slot (created when missing, publication first), and
//! the slot's positions.

use std::time::{Duration, Instant};

use crate::pg::Client;
use tracing::info;

use super::decode::{lsn_text, parse_lsn};
use crate::error::{Error, Result};
use crate::ident::quote_ident;

/// The oldest server LOG_BASED runs on (pgoutput's `binary` option).
const MIN_SERVER_VERSION: i32 = 140_000;

/// The slot and publication a LOG_BASED sync uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Names {
    /// The logical replication slot.
    pub(crate) slot: String,
    /// The publication.
    pub(crate) publication: String,
}

impl Names {
    /// The names from the settings, else pipelinewise's default:
    /// `pipelinewise_<dbname>[_<tap_id>]`, lower case, anything but
    /// letters, digits and `_` made `_`.
    pub(crate) fn new(
        slot: Option<&str>,
        publication: Option<&str>,
        dbname: &str,
        tap_id: Option<&str>,
    ) -> Self {
        let mut default = format!("pipelinewise_{dbname}");
        if let Some(id) = tap_id.filter(|id| !id.is_empty()) {
            default.push('_');
            default.push_str(id);
        }
        let default: String = default
            .to_lowercase()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        Self {
            slot: slot.map_or_else(|| default.clone(), str::to_owned),
            publication: publication.map_or(default, str::to_owned),
        }
    }
}

/// A table a LOG_BASED stream reads.
#[derive(Debug, Clone)]
pub(crate) struct Published<'a> {
    /// The stream (for errors).
    pub(crate) stream: &'a str,
    /// Schema.
    pub(crate) schema: &'a str,
    /// Table.
    pub(crate) table: &'a str,
    /// A partitioned table: published through its root
    /// (`publish_via_partition_root`), so its changes carry its own name.
    pub(crate) partitioned: bool,
}

impl Published<'_> {
    fn qualified(&self) -> String {
        format!("{}.{}", quote_ident(self.schema), quote_ident(self.table))
    }
}

fn refused(reason: String) -> Error {
    Error::LogBased { reason }
}

fn query_error(action: &'static str) -> impl Fn(postgres::Error) -> Error {
    move |source| Error::Query {
        stream: None,
        action,
        source,
    }
}

/// Checks what LOG_BASED needs and sets up what is missing: the server
/// version, `wal_level`, the role's REPLICATION right, a replica identity
/// on every table; then the publication (created, or extended with the
/// tables it lacks) and the slot (created after it), which must not be
/// `lost`.
///
/// # Errors
///
/// [`Error::LogBased`] naming what is wrong and how to fix it; query
/// errors.
pub(crate) fn prepare(client: &mut Client, names: &Names, tables: &[Published<'_>]) -> Result<()> {
    let row = client
        .query_one(
            "SELECT current_setting('server_version_num')::int, current_setting('wal_level'), \
             (SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user), \
             current_database()",
            &[],
        )
        .map_err(query_error("checking the server for LOG_BASED"))?;
    let version: i32 = row.get(0);
    let wal_level: String = row.get(1);
    let replication: Option<bool> = row.get(2);
    let database: String = row.get(3);
    check_server(version, &wal_level, replication.unwrap_or(false))?;
    for table in tables {
        let row = client
            .query_opt(
                "SELECT c.relreplident::text, \
                 EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary) \
                 FROM pg_class c WHERE c.oid = $1::text::regclass",
                &[&table.qualified()],
            )
            .map_err(query_error("reading a table's replica identity"))?
            .ok_or_else(|| refused(format!("table {} does not exist", table.qualified())))?;
        let identity: String = row.get(0);
        let primary_key: bool = row.get(1);
        check_identity(table, &identity, primary_key)?;
    }
    ensure_publication(client, names, tables)?;
    ensure_slot(client, names, &database)
}

/// The server-wide checks, as a pure function.
fn check_server(version: i32, wal_level: &str, replication: bool) -> Result<()> {
    if version < MIN_SERVER_VERSION {
        return Err(refused(format!(
            "LOG_BASED needs PostgreSQL 14 or later (pgoutput's binary mode); this server is {}.{}",
            version / 10_000,
            version % 10_000
        )));
    }
    if wal_level != "logical" {
        return Err(refused(format!(
            "LOG_BASED needs wal_level = logical (the server has {wal_level}): set it in \
             postgresql.conf (or ALTER SYSTEM SET wal_level = logical) and restart the server"
        )));
    }
    if !replication {
        return Err(refused(
            "LOG_BASED needs a role with the REPLICATION attribute (ALTER ROLE ... REPLICATION) \
             to use a replication slot"
                .to_owned(),
        ));
    }
    Ok(())
}

/// A table without a usable replica identity would break its UPDATEs and
/// DELETEs at the source once published: refused, never added.
fn check_identity(table: &Published<'_>, identity: &str, primary_key: bool) -> Result<()> {
    match (identity, primary_key) {
        ("f" | "i", _) | ("d", true) => Ok(()),
        _ => Err(refused(format!(
            "stream {}: table {} has no primary key or replica identity; publishing it would make \
             UPDATE and DELETE fail at the source. Add a primary key, or ALTER TABLE ... REPLICA \
             IDENTITY FULL (or USING INDEX), or replicate it with FULL_TABLE or INCREMENTAL",
            table.stream,
            table.qualified()
        ))),
    }
}

fn ensure_publication(client: &mut Client, names: &Names, tables: &[Published<'_>]) -> Result<()> {
    let publication = quote_ident(&names.publication);
    let existing: Option<(bool, bool)> = client
        .query_opt(
            "SELECT puballtables, pubviaroot FROM pg_publication WHERE pubname = $1",
            &[&names.publication],
        )
        .map_err(query_error("reading the publication"))?
        .map(|row| (row.get(0), row.get(1)));
    let partitioned = tables.iter().find(|t| t.partitioned);
    if let (Some((_, false)), Some(table)) = (existing, partitioned) {
        return Err(refused(format!(
            "stream {}: {} is partitioned and publication {publication} does not publish through \
             partition roots (its changes would carry the partitions' names); ALTER PUBLICATION \
             {publication} SET (publish_via_partition_root = true)",
            table.stream,
            table.qualified()
        )));
    }
    let all = existing.map(|(all, _)| all);
    let list = |tables: &[&Published<'_>]| {
        tables
            .iter()
            .map(|t| t.qualified())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match all {
        Some(true) => Ok(()),
        Some(false) => {
            let mut missing = Vec::new();
            for table in tables {
                let published: bool = client
                    .query_one(
                        "SELECT EXISTS (SELECT 1 FROM pg_publication_tables WHERE pubname = $1 \
                         AND schemaname = $2 AND tablename = $3)",
                        &[&names.publication, &table.schema, &table.table],
                    )
                    .map_err(query_error("reading the publication's tables"))?
                    .get(0);
                if !published {
                    missing.push(table);
                }
            }
            if missing.is_empty() {
                return Ok(());
            }
            let tables = list(&missing);
            info!(publication = %names.publication, tables = %tables, "Adding tables to the publication.");
            client
                .batch_execute(&format!("ALTER PUBLICATION {publication} ADD TABLE {tables}"))
                .map_err(|e| {
                    refused(format!(
                        "adding {tables} to publication {publication} failed (the role must own the \
                         tables, or an administrator runs ALTER PUBLICATION ... ADD TABLE): {e}"
                    ))
                })
        }
        None => {
            let all: Vec<&Published<'_>> = tables.iter().collect();
            let tables = list(&all);
            let with = if partitioned.is_some() {
                " WITH (publish_via_partition_root = true)"
            } else {
                ""
            };
            info!(publication = %names.publication, tables = %tables, "Creating the publication.");
            client
                .batch_execute(&format!(
                    "CREATE PUBLICATION {publication} FOR TABLE {tables}{with}"
                ))
                .map_err(|e| {
                    refused(format!(
                        "creating publication {publication} failed (the role needs CREATE on the \
                         database and must own the tables, or an administrator runs CREATE \
                         PUBLICATION {publication} FOR TABLE {tables}): {e}"
                    ))
                })
        }
    }
}

fn ensure_slot(client: &mut Client, names: &Names, database: &str) -> Result<()> {
    let row = client
        .query_opt(
            "SELECT plugin, database, wal_status FROM pg_replication_slots WHERE slot_name = $1",
            &[&names.slot],
        )
        .map_err(query_error("reading the replication slot"))?;
    match row {
        Some(row) => {
            let plugin: Option<String> = row.get(0);
            let slot_database: Option<String> = row.get(1);
            let wal_status: Option<String> = row.get(2);
            check_slot(
                &names.slot,
                plugin.as_deref(),
                slot_database.as_deref(),
                database,
                wal_status.as_deref(),
            )
        }
        None => {
            info!(slot = %names.slot, publication = %names.publication, "Creating the logical replication slot (pgoutput).");
            client
                .query_one(
                    "SELECT pg_create_logical_replication_slot($1, 'pgoutput')::text",
                    &[&names.slot],
                )
                .map_err(|e| {
                    refused(format!(
                        "creating replication slot {:?} failed: {e}",
                        names.slot
                    ))
                })?;
            Ok(())
        }
    }
}

/// An existing slot must be ours to use: pgoutput, this database, not lost.
fn check_slot(
    slot: &str,
    plugin: Option<&str>,
    slot_database: Option<&str>,
    database: &str,
    wal_status: Option<&str>,
) -> Result<()> {
    if plugin != Some("pgoutput") {
        return Err(refused(format!(
            "replication slot {slot:?} uses the {} plugin; LOG_BASED needs a pgoutput slot (set \
             replication_slot_name to another name, or drop the slot)",
            plugin.unwrap_or("(physical)")
        )));
    }
    if slot_database != Some(database) {
        return Err(refused(format!(
            "replication slot {slot:?} belongs to database {:?}, not {database:?}",
            slot_database.unwrap_or_default()
        )));
    }
    if wal_status == Some("lost") {
        return Err(refused(format!(
            "replication slot {slot:?} is lost (wal_status = lost: the server removed WAL it still \
             needed, max_slot_wal_keep_size); drop it (SELECT pg_drop_replication_slot('{slot}')) \
             and start the LOG_BASED streams over from an empty state"
        )));
    }
    Ok(())
}

/// How long a run waits for a slot another session holds.
const SLOT_WAIT: Duration = Duration::from_secs(300);

/// Waits while another session holds the slot: a run killed in the middle
/// of its read leaves the server finishing that statement (a peek decodes
/// everything before it sends a row) with the slot in use; a slot used by
/// a process that does not let go within five minutes is an error naming
/// it.
///
/// # Errors
///
/// [`Error::LogBased`] when the slot stays in use; query errors.
pub(crate) fn wait_for_slot(client: &mut Client, slot: &str) -> Result<()> {
    let started = Instant::now();
    let mut logged = false;
    loop {
        let pid: Option<i32> = client
            .query_opt(
                "SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1 \
                 AND active_pid IS DISTINCT FROM pg_backend_pid()",
                &[&slot],
            )
            .map_err(query_error("reading the replication slot"))?
            .and_then(|row| row.get(0));
        let Some(pid) = pid else {
            return Ok(());
        };
        if started.elapsed() >= SLOT_WAIT {
            return Err(refused(format!(
                "replication slot {slot:?} is in use by process {pid} (another run of the tap, or a \
                 statement of a run that was killed and that the server is still finishing); try \
                 again later, or end it with SELECT pg_terminate_backend({pid})"
            )));
        }
        if !logged {
            info!(
                slot,
                pid, "The replication slot is in use by another session; waiting for it."
            );
            logged = true;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The slot's confirmed position.
pub(crate) fn confirmed_flush(client: &mut Client, slot: &str) -> Result<u64> {
    let text: Option<String> = client
        .query_one(
            "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1",
            &[&slot],
        )
        .map_err(query_error("reading the slot's position"))?
        .get(0);
    text.as_deref().and_then(parse_lsn).ok_or_else(|| {
        refused(format!(
            "replication slot {slot:?} has no confirmed position"
        ))
    })
}

/// Moves the slot forward to `lsn` (what the target committed), when it is
/// behind; never backward.
pub(crate) fn advance(client: &mut Client, slot: &str, lsn: u64) -> Result<()> {
    let current = confirmed_flush(client, slot)?;
    if lsn <= current {
        return Ok(());
    }
    client
        .query_one(
            "SELECT pg_replication_slot_advance($1, $2::text::pg_lsn)::text",
            &[&slot, &lsn_text(lsn)],
        )
        .map_err(query_error("advancing the replication slot"))?;
    info!(slot, from = %lsn_text(current), to = %lsn_text(lsn), "Replication slot advanced to the target's committed position.");
    Ok(())
}

/// The server's WAL flush position (what decoding can reach).
pub(crate) fn flush_lsn(client: &mut Client) -> Result<u64> {
    let text: String = client
        .query_one("SELECT pg_current_wal_flush_lsn()::text", &[])
        .map_err(query_error("reading the WAL flush position"))?
        .get(0);
    parse_lsn(&text).ok_or_else(|| refused(format!("unreadable WAL position {text:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_default_to_pipelinewise_s() {
        let names = Names::new(None, None, "GitLab-DB", Some("el.1"));
        assert_eq!(names.slot, "pipelinewise_gitlab_db_el_1");
        assert_eq!(names.publication, "pipelinewise_gitlab_db_el_1");
        let names = Names::new(Some("s"), Some("p"), "db", None);
        assert_eq!(
            (names.slot.as_str(), names.publication.as_str()),
            ("s", "p")
        );
    }

    #[test]
    fn preflight_errors_say_what_to_do() {
        let message = |r: Result<()>| r.expect_err("refused").to_string();
        assert!(message(check_server(130_000, "logical", true)).contains("PostgreSQL 14"));
        assert!(message(check_server(150_000, "replica", true)).contains("wal_level = logical"));
        assert!(message(check_server(150_000, "logical", false)).contains("REPLICATION"));
        assert!(check_server(150_000, "logical", true).is_ok());
        let table = Published {
            stream: "public-t",
            schema: "public",
            table: "t",
            partitioned: false,
        };
        assert!(
            message(check_identity(&table, "d", false))
                .contains("no primary key or replica identity")
        );
        assert!(message(check_identity(&table, "n", true)).contains("REPLICA IDENTITY FULL"));
        assert!(check_identity(&table, "f", false).is_ok());
        assert!(check_identity(&table, "d", true).is_ok());
        assert!(
            message(check_slot("s", Some("wal2json"), Some("db"), "db", None)).contains("pgoutput")
        );
        assert!(
            message(check_slot(
                "s",
                Some("pgoutput"),
                Some("db"),
                "db",
                Some("lost")
            ))
            .contains("lost")
        );
        assert!(
            message(check_slot("s", Some("pgoutput"), Some("x"), "db", None))
                .contains("belongs to")
        );
        assert!(check_slot("s", Some("pgoutput"), Some("db"), "db", Some("reserved")).is_ok());
    }
}
