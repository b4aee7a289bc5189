//! Deletes detection without CDC, shared by both modes: after a table's
//! rows, every primary key of the table goes out as its key set, the
//! companion stream `<stream>__keys` of [`singer_protocol::key_set`], and
//! its ACTIVATE_VERSION marks the set complete.
//!
//! The keys are read in key order, in chunks of at most `chunk_rows` keys
//! per statement (`WHERE (key) > (last) ORDER BY key LIMIT n`: an index
//! scan, index-only on a vacuumed table), all inside one read-only
//! REPEATABLE READ transaction. After a transient failure the read
//! reconnects and continues after the last key sent, under the same
//! version, in a new snapshot: still safe, because any snapshot taken after
//! the main stream's rows were read holds every key the target has that
//! still exists (a key missing from the set was deleted, or is not in the
//! target yet).

use std::io::Write;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use singer_protocol::{ActivateVersionMessage, Message, SchemaMessage, Writer, key_set};
use singer_state::State;
use tracing::info;

use crate::error::{Error, Result};
use crate::ident::quote_ident;
use crate::session::{RetryBudget, Session, Subject, begin_snapshot};
use crate::stream::{
    PlanColumn, RecordCounter, RecordLayout, json_to_text, new_version, query_text, stream_records,
    write_message, write_state,
};
use crate::types::EncodeStats;

/// Keys per statement unless `max_rows_per_statement` says otherwise.
pub(crate) const DEFAULT_CHUNK_ROWS: u64 = 1_000_000;

/// One table's key set to read.
pub(crate) struct KeySetRead<'a> {
    /// Who retries and errors are about.
    pub(crate) subject: Subject<'a>,
    /// The main stream's name (the companion is `<stream>__keys`).
    pub(crate) stream: &'a str,
    /// What the keys are selected from: a quoted table name or a
    /// parenthesised query; aliased `q`.
    pub(crate) source: String,
    /// The key columns, in key order.
    pub(crate) keys: Vec<PlanColumn>,
    /// Keys per statement, at most.
    pub(crate) chunk_rows: u64,
    /// STATE every this many keys (the key set moves no bookmark: the
    /// STATE is the one handed in, repeated, so a target may commit).
    pub(crate) state_interval: u64,
    /// Interval between `record_count` METRIC lines.
    pub(crate) metrics_interval: Duration,
}

impl KeySetRead<'_> {
    /// The companion stream's SCHEMA: the key columns, not nullable, as
    /// properties and key properties, and the key-set annotation.
    fn schema_message(&self) -> SchemaMessage {
        let mut properties = Map::new();
        for key in &self.keys {
            properties.insert(key.name.clone(), key.codec.json_schema(false));
        }
        SchemaMessage {
            stream: key_set::key_set_stream(self.stream),
            schema: key_set::schema(self.stream, Value::Object(properties)),
            key_properties: self.keys.iter().map(|k| k.name.clone()).collect(),
            bookmark_properties: None,
        }
    }

    /// The statement reading the next chunk after `after` (none: from the
    /// first key), and its text parameters.
    fn query(&self, after: &[Vec<u8>]) -> (String, Vec<String>) {
        let names: Vec<String> = self
            .keys
            .iter()
            .map(|k| format!("q.{}", quote_ident(&k.name)))
            .collect();
        let select: Vec<String> = self
            .keys
            .iter()
            .zip(&names)
            .map(|(k, name)| k.codec.select_expr(name))
            .collect();
        let mut sql = format!("SELECT {} FROM {} q", select.join(", "), self.source);
        let mut params = Vec::new();
        // A NULL in a key (a composite key from table-key-properties) is no
        // key: never sent, in any chunk.
        let not_null: Vec<String> = names.iter().map(|n| format!("{n} IS NOT NULL")).collect();
        sql.push_str(&format!(" WHERE {}", not_null.join(" AND ")));
        if after.len() == self.keys.len() && !after.is_empty() {
            let placeholders: Vec<String> = self
                .keys
                .iter()
                .enumerate()
                .map(|(i, k)| format!("${}::text::{}", i + 1, k.codec.sql_datatype()))
                .collect();
            sql.push_str(&format!(
                " AND ({}) > ({})",
                names.join(", "),
                placeholders.join(", ")
            ));
            params = after.iter().map(|raw| json_to_text(raw)).collect();
        }
        sql.push_str(&format!(
            " ORDER BY {} LIMIT {}",
            names.join(", "),
            self.chunk_rows.max(1)
        ));
        (sql, params)
    }

    /// Sends the key set: its SCHEMA, one RECORD per key under a new
    /// version (STATE every `state_interval` keys), its ACTIVATE_VERSION,
    /// then STATE. Returns the number of keys.
    ///
    /// # Errors
    ///
    /// Query and output errors; transient ones are retried per the
    /// session's policy, continuing after the last key sent.
    pub(crate) fn run<W: Write>(
        &self,
        session: &mut Session<'_>,
        state: &State,
        out: &mut Writer<W>,
    ) -> Result<u64> {
        let started = Instant::now();
        let schema = self.schema_message();
        let companion = schema.stream.clone();
        write_message(out, &Message::Schema(schema))?;
        let version = new_version();
        let counter = RecordCounter::new(&companion, self.metrics_interval);
        let key_columns: Vec<usize> = (0..self.keys.len()).collect();
        let layout = RecordLayout {
            tap_stream_id: &companion,
            stream: &companion,
            columns: &self.keys,
            key_columns: &key_columns,
            suffix: b"",
            version: Some(version),
            counter: &counter,
        };
        let mut stats = EncodeStats::default();
        let mut last: Vec<Vec<u8>> = Vec::new();
        let mut keys = 0_u64;
        let mut since_state = 0_u64;
        let mut budget = RetryBudget::new();
        session.with_retry(self.subject, &mut budget, |client| {
            let query_error = |action, source| Error::Query {
                stream: Some(companion.clone()),
                action,
                source,
            };
            let mut tx = begin_snapshot(client);
            loop {
                let (sql, params) = self.query(&last);
                tracing::debug!(stream = %companion, sql = %sql, "Reading keys.");
                let mut rows = query_text(&mut tx, &sql, &params)
                    .map_err(|e| query_error("reading keys", e))?;
                let mut in_chunk = 0_u64;
                stream_records(
                    &mut rows,
                    &layout,
                    &mut stats,
                    out,
                    |record, ranges, out| {
                        last.resize_with(ranges.len(), Vec::new);
                        for (key, range) in last.iter_mut().zip(ranges) {
                            key.clear();
                            key.extend_from_slice(record.get(range.clone()).unwrap_or_default());
                        }
                        in_chunk += 1;
                        keys += 1;
                        since_state += 1;
                        if since_state >= self.state_interval {
                            since_state = 0;
                            write_state(out, state)?;
                        }
                        Ok(())
                    },
                )?;
                drop(rows);
                if in_chunk < self.chunk_rows.max(1) {
                    break;
                }
            }
            tx.commit()
                .map_err(|e| query_error("ending the read-only transaction", e))
        })?;
        write_message(
            out,
            &Message::ActivateVersion(ActivateVersionMessage {
                stream: companion.clone(),
                version,
            }),
        )?;
        write_state(out, state)?;
        counter.finish();
        let seconds = started.elapsed().as_secs_f64();
        info!(stream = %companion, keys, version, retries = budget.retries, seconds, "Key set sent (deletes detection).");
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Codec, ValuePolicy};
    use postgres::types::Type;

    fn read(keys: &[&str]) -> KeySetRead<'static> {
        KeySetRead {
            subject: Subject::Stream("public-t"),
            stream: "public-t",
            source: "\"public\".\"t\"".to_owned(),
            keys: keys
                .iter()
                .map(|k| {
                    PlanColumn::new(
                        k,
                        Codec::from_postgres_type(&Type::INT8, -1, ValuePolicy::default()),
                    )
                })
                .collect(),
            chunk_rows: 500,
            state_interval: 10,
            metrics_interval: Duration::from_secs(60),
        }
    }

    #[test]
    fn chunks_continue_after_the_last_key_in_key_order() {
        let one = read(&["id"]);
        assert_eq!(
            one.query(&[]),
            (
                "SELECT q.\"id\" FROM \"public\".\"t\" q WHERE q.\"id\" IS NOT NULL ORDER BY q.\"id\" LIMIT 500"
                    .to_owned(),
                Vec::new()
            )
        );
        let two = read(&["a", "b"]);
        let (sql, params) = two.query(&[b"7".to_vec(), b"-2".to_vec()]);
        assert_eq!(
            sql,
            "SELECT q.\"a\", q.\"b\" FROM \"public\".\"t\" q WHERE q.\"a\" IS NOT NULL AND q.\"b\" IS NOT NULL AND (q.\"a\", q.\"b\") > ($1::text::int8, $2::text::int8) ORDER BY q.\"a\", q.\"b\" LIMIT 500"
        );
        assert_eq!(params, ["7", "-2"]);
    }

    #[test]
    fn the_companion_schema_names_its_stream_and_keys() {
        let message = read(&["a", "b"]).schema_message();
        assert_eq!(message.stream, "public-t__keys");
        assert_eq!(message.key_properties, ["a", "b"]);
        assert_eq!(key_set::key_set_of(&message.schema), Some("public-t"));
        assert_eq!(
            message.schema["properties"]["a"]["type"],
            serde_json::json!("integer")
        );
    }
}
