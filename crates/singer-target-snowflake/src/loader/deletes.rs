//! Deletes detection (see [`singer_protocol::key_set`]): when a key set's
//! `ACTIVATE_VERSION` arrives, the main table's live rows whose key is not
//! in the key set of that version are soft-deleted (`_SDC_DELETED_AT`
//! set to the activation time) or, with `hard_delete`, deleted, in the
//! same transaction as the key set's activation, behind a guard: a count
//! of the live rows and of those to go first, and more than
//! `max_delete_ratio` of them fails the commit (rolled back: nothing is
//! deleted).
//!
//! A row the source deletes and later inserts again comes back live
//! through its record: the MERGE of a record clears the loader's
//! `_SDC_DELETED_AT` (or inserts the row anew after a hard delete).
//!
//! The statements are pure functions of the table names and key columns;
//! the loader queues one [`Pending::DetectDeletes`](super::commit::Pending)
//! after the key set's activation.

use snowflake_connector_rs::DynamicRow;
use tracing::{debug, info};

use super::commit::Pending;
use super::{DELETED_AT, SnowflakeLoader, Statement, TABLE_VERSION};
use crate::connection::{Bind, cell_text};
use crate::error::{Error, Result};
use crate::naming::{TableName, quote};
use crate::types::SqlType;

/// The guard on one pass: its answer is `(live rows, rows to go)`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Guard {
    /// The main table, quoted.
    pub(super) table: String,
    /// The key-set stream.
    pub(super) key_set: String,
    /// The key set's version.
    pub(super) version: u64,
    /// `max_delete_ratio`.
    pub(super) max_ratio: f64,
}

impl Guard {
    /// Checks the guard statement's answer: the pass may go on when the
    /// rows to go are at most `max_ratio` of the live rows.
    ///
    /// # Errors
    ///
    /// [`Error::DeleteGuard`] when they are more; [`Error::Result`] when
    /// the answer is not two counts.
    pub(super) fn check(&self, rows: &[DynamicRow]) -> Result<(u64, u64)> {
        let cells: Vec<Option<String>> = rows
            .first()
            .map(|row| row.values().iter().map(cell_text).collect())
            .unwrap_or_default();
        let count = |index: usize| -> Result<u64> {
            cells
                .get(index)
                .cloned()
                .flatten()
                .and_then(|text| text.parse::<u64>().ok())
                .ok_or_else(|| Error::Result {
                    action: format!(
                        "counting the rows deletes detection would remove from {}",
                        self.table
                    ),
                    reason: format!("expected two counts, got {cells:?}"),
                })
        };
        let (live, missing) = (count(0)?, count(1)?);
        if exceeds(missing, live, self.max_ratio) {
            return Err(Error::DeleteGuard {
                table: self.table.clone(),
                key_set: self.key_set.clone(),
                version: self.version,
                missing,
                live,
                max_ratio: self.max_ratio,
            });
        }
        Ok((live, missing))
    }
}

/// Whether removing `missing` of `live` rows is more than `max_ratio` of
/// them (exactly, without floating-point rounding at the boundary: the
/// ratio is compared in millionths).
fn exceeds(missing: u64, live: u64, max_ratio: f64) -> bool {
    if missing == 0 {
        return false;
    }
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "a ratio in 0..=1, checked by the config, times one million"
    )]
    let millionths = (max_ratio.clamp(0.0, 1.0) * 1_000_000.0).round() as u128;
    u128::from(missing) * 1_000_000 > u128::from(live) * millionths
}

/// The key columns' join condition between `a` and `b`.
fn key_match(a: &str, b: &str, keys: &[String]) -> String {
    keys.iter()
        .map(|key| format!("{a}.{key} = {b}.{key}", key = quote(key)))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// The rows the pass considers (`m` aliases the main table): live ones,
/// `_SDC_DELETED_AT` unset, when deletes are soft; every row when hard.
fn live(deleted: Option<&str>) -> String {
    deleted.map_or_else(
        || "TRUE".to_owned(),
        |column| format!("m.{} IS NULL", quote(column)),
    )
}

/// The condition on the main table's rows (aliased `m`) that the pass
/// removes: considered ([`live`]) and with a key that is not in the key set
/// of `version`. The guard counts these rows and the pass MERGEs on their
/// keys, so both judge the same rows. Snowflake takes a correlated
/// `EXISTS` in a `WHERE` clause.
fn missing_where(
    key_table: &TableName,
    keys: &[String],
    version_column: &str,
    version: u64,
    deleted: Option<&str>,
) -> String {
    format!(
        "{live} AND NOT EXISTS (SELECT 1 FROM {key_table} k WHERE k.{v} = {version} AND {on})",
        live = live(deleted),
        v = quote(version_column),
        on = key_match("k", "m", keys),
    )
}

/// The keys to remove, one row per key (the MERGE's source).
fn missing_keys(table: &TableName, keys: &[String], missing: &str) -> String {
    let columns: Vec<String> = keys.iter().map(|k| format!("m.{}", quote(k))).collect();
    format!(
        "SELECT DISTINCT {} FROM {table} m WHERE {missing}",
        columns.join(", ")
    )
}

/// The guard's count: `(rows considered, rows to remove)`.
fn count_statement(table: &TableName, missing: &str, deleted: Option<&str>) -> String {
    format!(
        "SELECT (SELECT COUNT(*) FROM {table} m WHERE {live}), (SELECT COUNT(*) FROM {table} m WHERE {missing})",
        live = live(deleted),
    )
}

/// The pass itself, a MERGE on the missing keys: soft (`deleted` set to
/// `now` on live rows) or hard (deleted).
fn remove_statement(
    table: &TableName,
    missing: &str,
    keys: &[String],
    soft: Option<(&str, SqlType, &str)>,
) -> Statement {
    let on = key_match("t", "d", keys);
    match soft {
        Some((deleted, timestamps, now)) => Statement {
            binds: vec![Bind::Text(now.to_owned())],
            ..Statement::new(
                format!("soft-deleting rows of {table} whose key left the source"),
                format!(
                    "MERGE INTO {table} t USING ({missing}) d ON {on} WHEN MATCHED AND t.{d} IS NULL \
                     THEN UPDATE SET {d} = CAST(? AS {timestamps})",
                    d = quote(deleted),
                ),
            )
        },
        None => Statement::new(
            format!("deleting rows of {table} whose key left the source"),
            format!("MERGE INTO {table} t USING ({missing}) d ON {on} WHEN MATCHED THEN DELETE"),
        ),
    }
}

impl SnowflakeLoader {
    /// For a key set's activation: checks that its main stream can take
    /// it, adds the columns it needs (DDL, outside any transaction) and
    /// returns the pass to queue.
    pub(super) fn detect_deletes(
        &mut self,
        key_set: &str,
        parent: &str,
        version: u64,
        now: &str,
    ) -> Result<Pending> {
        let error = |reason: String| Error::KeySet {
            key_set: key_set.to_owned(),
            stream: parent.to_owned(),
            reason,
        };
        let Some(keys) = self.streams.get(key_set).map(|s| {
            s.keys
                .iter()
                .filter_map(|&i| s.idents.get(i).cloned())
                .collect::<Vec<String>>()
        }) else {
            return Err(Error::UnknownStream {
                stream: key_set.to_owned(),
            });
        };
        let Some(main) = self.streams.get(parent) else {
            return Err(error(
                "no SCHEMA for the stream arrived in this run, so its table is unknown".to_owned(),
            ));
        };
        if keys.is_empty() {
            return Err(error("the key set has no key column".to_owned()));
        }
        if let Some(absent) = keys.iter().find(|k| !main.table_columns.contains_key(*k)) {
            return Err(error(format!(
                "its key column {absent} is not a column of {}",
                main.table
            )));
        }
        if !self.config.hard_delete {
            let deleted = self.ident(DELETED_AT);
            let timestamps = SqlType::Timestamp(self.config.timestamp_type);
            self.ensure_column(parent, &deleted, timestamps)?;
        }
        debug!(
            key_set,
            stream = parent,
            version,
            "Deletes detection queued."
        );
        Ok(Pending::DetectDeletes {
            key_set: key_set.to_owned(),
            stream: parent.to_owned(),
            keys,
            version,
            now: now.to_owned(),
        })
    }

    /// The guard and the pass of one queued deletes detection.
    pub(super) fn detect_deletes_statements(
        &self,
        key_set: &str,
        stream: &str,
        keys: &[String],
        version: u64,
        now: &str,
    ) -> Result<[Statement; 2]> {
        let table_of = |name: &str| {
            self.streams
                .get(name)
                .map(|s| s.table.clone())
                .ok_or_else(|| Error::UnknownStream {
                    stream: name.to_owned(),
                })
        };
        let (table, key_table) = (table_of(stream)?, table_of(key_set)?);
        let version_column = self.ident(TABLE_VERSION);
        let deleted_ident = self.ident(DELETED_AT);
        // Soft: live rows are considered; hard: every row (the count and
        // the pass judge the same rows).
        let deleted = self
            .streams
            .get(stream)
            .filter(|s| !self.config.hard_delete && s.table_columns.contains_key(&deleted_ident))
            .map(|_| deleted_ident.as_str());
        let missing = missing_where(&key_table, keys, &version_column, version, deleted);
        let guard = Statement {
            check: Some(Guard {
                table: table.sql(),
                key_set: key_set.to_owned(),
                version,
                max_ratio: self.config.max_delete_ratio,
            }),
            ..Statement::new(
                format!("counting the rows of {table} deletes detection would remove"),
                count_statement(&table, &missing, deleted),
            )
        };
        let soft = (!self.config.hard_delete).then_some((
            deleted_ident.as_str(),
            SqlType::Timestamp(self.config.timestamp_type),
            now,
        ));
        let pass = remove_statement(&table, &missing_keys(&table, keys, &missing), keys, soft);
        Ok([guard, pass])
    }
}

/// Logs what a guard let through.
pub(super) fn log_pass(guard: &Guard, live: u64, missing: u64, hard: bool) {
    info!(table = %guard.table, key_set = %guard.key_set, version = guard.version, live, missing, hard_delete = hard, "Deletes detection: rows whose key left the source marked deleted.");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(name: &str) -> TableName {
        TableName {
            schema: "RAW".to_owned(),
            table: name.to_owned(),
        }
    }

    #[test]
    fn the_guard_compares_exactly_at_the_boundary() {
        assert!(!exceeds(0, 0, 0.0));
        assert!(!exceeds(50, 100, 0.5));
        assert!(exceeds(51, 100, 0.5));
        assert!(exceeds(1, 0, 1.0));
        assert!(!exceeds(100, 100, 1.0));
        assert!(exceeds(1, 1_000_000_000, 0.0));
        assert!(!exceeds(3, 10, 0.3));
    }

    #[test]
    fn the_guard_and_the_pass_judge_the_same_rows() {
        let keys = ["A".to_owned(), "B".to_owned()];
        let missing = missing_where(&table("T__KEYS"), &keys, "V", 7, Some("D"));
        assert_eq!(
            missing,
            "m.\"D\" IS NULL AND NOT EXISTS (SELECT 1 FROM \"RAW\".\"T__KEYS\" k WHERE k.\"V\" = 7 AND \
             k.\"A\" = m.\"A\" AND k.\"B\" = m.\"B\")"
        );
        assert_eq!(
            count_statement(&table("T"), &missing, Some("D")),
            format!(
                "SELECT (SELECT COUNT(*) FROM \"RAW\".\"T\" m WHERE m.\"D\" IS NULL), (SELECT COUNT(*) FROM \
                 \"RAW\".\"T\" m WHERE {missing})"
            )
        );
        let source = missing_keys(&table("T"), &keys, &missing);
        assert!(source.starts_with("SELECT DISTINCT m.\"A\", m.\"B\" FROM \"RAW\".\"T\" m WHERE "));
        let hard = remove_statement(&table("T"), &source, &keys, None);
        assert_eq!(
            hard.sql,
            format!(
                "MERGE INTO \"RAW\".\"T\" t USING ({source}) d ON t.\"A\" = d.\"A\" AND t.\"B\" = d.\"B\" \
                 WHEN MATCHED THEN DELETE"
            )
        );
        assert!(hard.binds.is_empty());
        let soft = remove_statement(
            &table("T"),
            &source,
            &keys,
            Some((
                "D",
                SqlType::Timestamp(crate::config::TimestampType::NTZ),
                "2026-01-01 00:00:00",
            )),
        );
        assert!(soft.sql.ends_with(
            "WHEN MATCHED AND t.\"D\" IS NULL THEN UPDATE SET \"D\" = CAST(? AS TIMESTAMP_NTZ)"
        ));
        assert_eq!(soft.binds.len(), 1);
        // Hard deletes consider every row.
        assert_eq!(live(None), "TRUE");
    }
}
