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

/// The key columns' join condition between the main table (`t`: its
/// name, as an UPDATE or DELETE may not alias its target) and the key set
/// `k`.
fn key_match(t: &str, keys: &[String]) -> String {
    keys.iter()
        .map(|key| format!("k.{key} = {t}.{key}", key = quote(key)))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// The main table's live rows: `_SDC_DELETED_AT` unset, when it has one.
fn live(t: &str, deleted: Option<&str>) -> String {
    deleted.map_or_else(
        || "TRUE".to_owned(),
        |column| format!("{t}.{} IS NULL", quote(column)),
    )
}

/// The rows of key set `key_table` of `version`.
fn key_rows(key_table: &TableName, version_column: &str, version: u64) -> String {
    format!(
        "SELECT * FROM {key_table} WHERE {v} = {version}",
        v = quote(version_column)
    )
}

/// The guard's count: `(live rows, live rows whose key is not in the key
/// set of `version`)`.
fn count_statement(
    table: &TableName,
    key_table: &TableName,
    keys: &[String],
    version_column: &str,
    version: u64,
    deleted: Option<&str>,
) -> String {
    // Snowflake takes a correlated EXISTS only in a WHERE clause.
    format!(
        "SELECT (SELECT COUNT(*) FROM {table} t WHERE {live}), (SELECT COUNT(*) FROM {table} t WHERE {live} \
         AND NOT EXISTS (SELECT 1 FROM ({rows}) k WHERE {on}))",
        rows = key_rows(key_table, version_column, version),
        on = key_match("t", keys),
        live = live("t", deleted),
    )
}

/// The pass itself: soft (`deleted` set to `now`) or hard.
fn remove_statement(
    table: &TableName,
    key_table: &TableName,
    keys: &[String],
    version_column: &str,
    version: u64,
    soft: Option<(&str, SqlType, &str)>,
) -> Statement {
    let t = table.sql();
    let missing = format!(
        "NOT EXISTS (SELECT 1 FROM ({rows}) k WHERE {on})",
        rows = key_rows(key_table, version_column, version),
        on = key_match(&t, keys),
    );
    match soft {
        Some((deleted, timestamps, now)) => Statement {
            binds: vec![Bind::Text(now.to_owned())],
            ..Statement::new(
                format!(
                    "soft-deleting rows of {table} whose key is not in {key_table} (version {version})"
                ),
                format!(
                    "UPDATE {t} SET {d} = CAST(? AS {timestamps}) WHERE {live} AND {missing}",
                    d = quote(deleted),
                    live = live(&t, Some(deleted)),
                ),
            )
        },
        None => Statement::new(
            format!("deleting rows of {table} whose key is not in {key_table} (version {version})"),
            format!("DELETE FROM {t} WHERE {missing}"),
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
        let deleted = self
            .streams
            .get(stream)
            .filter(|s| s.table_columns.contains_key(&deleted_ident))
            .map(|_| deleted_ident.as_str());
        let guard = Statement {
            check: Some(Guard {
                table: table.sql(),
                key_set: key_set.to_owned(),
                version,
                max_ratio: self.config.max_delete_ratio,
            }),
            ..Statement::new(
                format!("counting the rows of {table} deletes detection would remove"),
                count_statement(&table, &key_table, keys, &version_column, version, deleted),
            )
        };
        let soft = (!self.config.hard_delete).then_some((
            deleted_ident.as_str(),
            SqlType::Timestamp(self.config.timestamp_type),
            now,
        ));
        let pass = remove_statement(&table, &key_table, keys, &version_column, version, soft);
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
    fn statements_join_on_every_key_column_of_the_version() {
        let keys = ["A".to_owned(), "B".to_owned()];
        let sql = count_statement(
            &table("T"),
            &table("T__KEYS"),
            &keys,
            "_SDC_TABLE_VERSION",
            7,
            Some("_SDC_DELETED_AT"),
        );
        assert_eq!(
            sql,
            "SELECT (SELECT COUNT(*) FROM \"RAW\".\"T\" t WHERE t.\"_SDC_DELETED_AT\" IS NULL), (SELECT COUNT(*) \
             FROM \"RAW\".\"T\" t WHERE t.\"_SDC_DELETED_AT\" IS NULL AND NOT EXISTS (SELECT 1 FROM (SELECT * FROM \
             \"RAW\".\"T__KEYS\" WHERE \"_SDC_TABLE_VERSION\" = 7) k WHERE k.\"A\" = t.\"A\" AND k.\"B\" = t.\"B\"))"
        );
        let hard = remove_statement(&table("T"), &table("T__KEYS"), &keys, "V", 7, None);
        assert_eq!(
            hard.sql,
            "DELETE FROM \"RAW\".\"T\" WHERE NOT EXISTS (SELECT 1 FROM (SELECT * FROM \"RAW\".\"T__KEYS\" WHERE \
             \"V\" = 7) k WHERE k.\"A\" = \"RAW\".\"T\".\"A\" AND k.\"B\" = \"RAW\".\"T\".\"B\")"
        );
        assert!(hard.binds.is_empty());
        let soft = remove_statement(
            &table("T"),
            &table("T__KEYS"),
            &keys,
            "V",
            7,
            Some((
                "D",
                SqlType::Timestamp(crate::config::TimestampType::NTZ),
                "2026-01-01 00:00:00",
            )),
        );
        assert!(soft.sql.starts_with(
            "UPDATE \"RAW\".\"T\" SET \"D\" = CAST(? AS TIMESTAMP_NTZ) WHERE \"RAW\".\"T\".\"D\" IS NULL AND NOT EXISTS"
        ));
        assert_eq!(soft.binds.len(), 1);
    }
}
