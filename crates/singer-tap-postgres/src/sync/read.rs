//! Reading a catalog-mode stream: FULL_TABLE (resumable by primary key,
//! ACTIVATE_VERSION) or INCREMENTAL (`>=` the bookmark), inside one
//! read-only REPEATABLE READ transaction, resuming from the last row
//! emitted after a reconnect, with STATE every `state_interval` records.

use std::io::Write;
use std::time::Instant;

use crate::pg::Client;
use serde_json::{Map, Value};
use singer_protocol::{ActivateVersionMessage, Message, ReplicationMethod, Writer};
use singer_state::State;
use tracing::info;

use super::plan::StreamPlan;
use super::{StreamSummary, SyncOptions};
use crate::error::{Error, Result};
use crate::ident::quote_ident;
use crate::session::{RetryBudget, Session, Subject};
use crate::stream::{
    PlanColumn, RecordCounter, RecordLayout, finish_stream, json_to_text, new_version, query_text,
    stream_records, write_message, write_state,
};
use crate::types::EncodeStats;

/// Where a stream's read has got to (in memory; the last STATE holds the
/// durable copy).
#[derive(Default, Clone)]
pub(super) struct Position {
    /// Rendered JSON of the last row's key columns (replication key, or the
    /// primary key columns in order).
    pub(super) last_key: Vec<Vec<u8>>,
    pub(super) records: u64,
    pub(super) since_state: u64,
}

/// Which rows of the table one read covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Slice {
    /// The whole table (ordered by the position columns, resumable).
    All,
    /// Rows whose (single, integer) primary key is in `lo..=hi`, in key
    /// order, resumable.
    Keys {
        /// The smallest key.
        lo: i64,
        /// The largest key.
        hi: i64,
    },
    /// Rows stored in heap blocks `from..to` (`to` open-ended when `None`),
    /// unordered, not resumable within the range.
    Blocks {
        /// The first block.
        from: u64,
        /// The block after the last, if bounded.
        to: Option<u64>,
    },
}

/// The bookmark key of the last primary key emitted by an unfinished
/// FULL_TABLE sync (pipelinewise's name).
pub(super) const LAST_PK_FETCHED: &str = "last_pk_fetched";

/// What a read calls after each record: the position, the output, and
/// whether a checkpoint is due.
pub(super) type AfterRow<'a, W> = dyn FnMut(&Position, &mut Writer<W>, bool) -> Result<()> + 'a;

/// What one read is: the table version its records carry, the rows it
/// covers and the snapshot it reads in (its own when `None`).
pub(super) struct ReadSpec<'a> {
    pub(super) version: Option<u64>,
    pub(super) slice: Slice,
    pub(super) snapshot: Option<&'a str>,
}

impl StreamPlan {
    pub(super) fn run<W: Write>(
        &self,
        session: &mut Session<'_>,
        state: &mut State,
        options: &SyncOptions,
        out: &mut Writer<W>,
    ) -> Result<StreamSummary> {
        let started = Instant::now();
        let key_name = self
            .replication_key
            .and_then(|i| self.columns.get(i))
            .map(|c| c.name.as_str());
        if state.reconcile(&self.tap_stream_id, self.method.as_str(), key_name) {
            info!(stream = %self.tap_stream_id, method = %self.method, "Replication method or key changed: the stream starts over.");
        }
        write_message(out, &Message::Schema(self.schema_message()))?;
        state.set_currently_syncing(Some(&self.tap_stream_id));
        write_state(out, state)?;

        let mut position = Position::default();
        let mut version = None;
        match self.method {
            ReplicationMethod::Incremental => {
                position = self.incremental_start(state);
            }
            _ => {
                if let Some((resumed, stored)) = self.resume_after_last_pk(state) {
                    position = resumed;
                    version = Some(stored);
                }
                let version = *version.get_or_insert_with(new_version);
                state.bookmark_mut(&self.tap_stream_id).version = Some(version);
            }
        }

        let mut stats = EncodeStats::default();
        let counter = RecordCounter::new(&self.tap_stream_id, options.metrics_interval)
            .with_progress(options.progress.as_ref(), self.progress_estimate());
        let mut budget = RetryBudget::new();
        let mut first_attempt = true;
        session.with_retry(
            Subject::Stream(&self.tap_stream_id),
            &mut budget,
            |client| {
                if !first_attempt && self.is_copy() && self.primary_key.is_empty() {
                    // Not resumable: start over under a new version; the
                    // target's ACTIVATE_VERSION drops the partial copy.
                    let fresh = new_version();
                    version = Some(fresh);
                    state.bookmark_mut(&self.tap_stream_id).version = Some(fresh);
                    position = Position::default();
                }
                first_attempt = false;
                self.read(
                    client,
                    &mut position,
                    &ReadSpec {
                        version,
                        slice: Slice::All,
                        snapshot: None,
                    },
                    options,
                    &mut stats,
                    &counter,
                    out,
                    &mut |position, out, due| {
                        if due {
                            self.checkpoint(state, position);
                            write_state(out, state)?;
                        }
                        Ok(())
                    },
                )?;
                self.checkpoint(state, &position);
                Ok(())
            },
        )?;
        let retries = budget.retries;

        if self.is_copy() {
            let bookmark = state.bookmark_mut(&self.tap_stream_id);
            bookmark.extra.shift_remove(LAST_PK_FETCHED);
            if let Some(version) = version {
                write_message(
                    out,
                    &Message::ActivateVersion(ActivateVersionMessage {
                        stream: self.stream.clone(),
                        version,
                    }),
                )?;
            }
        }
        let seconds = finish_stream(
            out,
            state,
            &stats,
            &counter,
            Subject::Stream(&self.tap_stream_id),
            started,
        )?;
        #[allow(clippy::cast_precision_loss, reason = "a rate for the log")]
        let rate = position.records as f64 / seconds.max(1e-9);
        info!(stream = %self.tap_stream_id, method = %self.method, records = position.records, retries, seconds, rows_per_second = rate.round(), "Stream synced.");
        Ok(StreamSummary {
            tap_stream_id: self.tap_stream_id.clone(),
            method: self.method,
            records: position.records,
            retries,
            seconds,
        })
    }

    /// Where an INCREMENTAL read starts: at the bookmark (`>=`), or at the
    /// beginning without one.
    pub(super) fn incremental_start(&self, state: &State) -> Position {
        let mut position = Position::default();
        if let Some(value) = state
            .bookmark(&self.tap_stream_id)
            .and_then(|b| b.replication_key_value.as_ref())
        {
            position.last_key = vec![serde_json::to_vec(value).unwrap_or_default()];
        }
        position
    }

    /// Where a FULL_TABLE copy interrupted after `last_pk_fetched`
    /// continues, under its stored version; `None` when the state has no
    /// such copy (or the table no primary key).
    pub(super) fn resume_after_last_pk(&self, state: &State) -> Option<(Position, u64)> {
        let bookmark = state.bookmark(&self.tap_stream_id)?;
        let resume = bookmark.extra.get(LAST_PK_FETCHED)?.as_object()?;
        let stored = bookmark.version?;
        if self.primary_key.is_empty() {
            return None;
        }
        let keys: Vec<Vec<u8>> = self
            .primary_key
            .iter()
            .filter_map(|&i| self.columns.get(i))
            .map(|c| {
                resume
                    .get(&c.name)
                    .map(|v| serde_json::to_vec(v).unwrap_or_default())
            })
            .collect::<Option<_>>()?;
        info!(stream = %self.tap_stream_id, version = stored, "Resuming an interrupted FULL_TABLE sync after the last key emitted.");
        Some((
            Position {
                last_key: keys,
                ..Position::default()
            },
            stored,
        ))
    }

    /// The SELECT for the current position within `slice`, and its text
    /// parameters.
    pub(super) fn query(&self, position: &Position, slice: Slice) -> (String, Vec<String>) {
        let select: Vec<String> = self
            .columns
            .iter()
            .map(|c| c.codec.select_expr(&quote_ident(&c.name)))
            .collect();
        let mut sql = format!("SELECT {} FROM {}", select.join(", "), self.qualified_table);
        let key_columns: Vec<&PlanColumn> = self
            .slice_position_columns(slice)
            .iter()
            .filter_map(|&i| self.columns.get(i))
            .collect();
        let names: Vec<String> = key_columns.iter().map(|c| quote_ident(&c.name)).collect();
        let mut conditions = Vec::new();
        let mut params = Vec::new();
        if !position.last_key.is_empty() && position.last_key.len() == key_columns.len() {
            let placeholders: Vec<String> = key_columns
                .iter()
                .enumerate()
                .map(|(i, c)| format!("${}::text::{}", i + 1, c.codec.sql_datatype()))
                .collect();
            let op = if self.method == ReplicationMethod::Incremental {
                ">="
            } else {
                ">"
            };
            conditions.push(format!(
                "({}) {op} ({})",
                names.join(", "),
                placeholders.join(", ")
            ));
            params = position
                .last_key
                .iter()
                .map(|raw| json_to_text(raw))
                .collect();
        } else if self.method == ReplicationMethod::Incremental {
            conditions.push(format!("{} IS NOT NULL", names.join(", ")));
        }
        match slice {
            Slice::All => {}
            Slice::Keys { lo, hi } => {
                // The bounds are numbers this process computed, not input.
                if let Some(key) = names.first() {
                    conditions.push(format!("{key} BETWEEN {lo} AND {hi}"));
                }
            }
            Slice::Blocks { from, to } => {
                conditions.push(format!("ctid >= '({from},0)'::tid"));
                if let Some(to) = to {
                    conditions.push(format!("ctid < '({to},0)'::tid"));
                }
            }
        }
        if !conditions.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&conditions.join(" AND "));
        }
        if !names.is_empty() {
            sql.push_str(&format!(" ORDER BY {}", names.join(", ")));
        }
        (sql, params)
    }

    /// The position columns of a read of `slice`: none for block ranges
    /// (read unordered, not resumable).
    pub(super) fn slice_position_columns(&self, slice: Slice) -> Vec<usize> {
        match slice {
            Slice::Blocks { .. } => Vec::new(),
            Slice::All | Slice::Keys { .. } => self.position_columns(),
        }
    }

    /// Reads `spec.slice` from `position` on, rendering RECORD lines into
    /// `out`. After each record, `after_row` gets the position and whether
    /// a checkpoint is due (every `state_interval` records).
    #[allow(
        clippy::too_many_arguments,
        reason = "two call sites; a struct would only rename them"
    )]
    pub(super) fn read<W: Write>(
        &self,
        client: &mut Client,
        position: &mut Position,
        spec: &ReadSpec<'_>,
        options: &SyncOptions,
        stats: &mut EncodeStats,
        counter: &RecordCounter,
        out: &mut Writer<W>,
        after_row: &mut AfterRow<'_, W>,
    ) -> Result<()> {
        let query_error = |action, source| Error::Query {
            stream: Some(self.tap_stream_id.clone()),
            action,
            source,
        };
        let (sql, params) = self.query(position, spec.slice);
        tracing::debug!(stream = %self.tap_stream_id, sql = %sql, "Reading.");
        let mut tx = crate::parallel::begin_read(client, spec.snapshot)
            .map_err(|e| query_error("starting a read-only transaction", e))?;
        let mut rows = query_text(&mut tx, &sql, &params)
            .map_err(|e| query_error("starting the table read", e))?;
        let key_columns = self.slice_position_columns(spec.slice);
        let layout = RecordLayout {
            tap_stream_id: &self.tap_stream_id,
            stream: &self.stream,
            columns: &self.columns,
            key_columns: &key_columns,
            suffix: b"",
            version: spec.version,
            counter,
        };
        stream_records(&mut rows, &layout, stats, out, |record, key_ranges, out| {
            position.last_key.resize_with(key_ranges.len(), Vec::new);
            for (last, range) in position.last_key.iter_mut().zip(key_ranges) {
                last.clear();
                last.extend_from_slice(record.get(range.clone()).unwrap_or_default());
            }
            position.records += 1;
            position.since_state += 1;
            let due = position.since_state >= options.state_interval;
            if due {
                position.since_state = 0;
            }
            after_row(position, out, due)
        })?;
        drop(rows);
        tx.commit()
            .map_err(|e| query_error("ending the read-only transaction", e))?;
        Ok(())
    }

    /// Writes the position into the stream's bookmark.
    pub(super) fn checkpoint(&self, state: &mut State, position: &Position) {
        if position.last_key.is_empty() {
            return;
        }
        let values: Vec<Value> = position
            .last_key
            .iter()
            .map(|raw| serde_json::from_slice(raw).unwrap_or(Value::Null))
            .collect();
        match (
            self.method,
            self.replication_key.and_then(|i| self.columns.get(i)),
        ) {
            (ReplicationMethod::Incremental, Some(key)) => {
                if let Some(value) = values.into_iter().next() {
                    // Rows arrive ordered by the key, so the last one is the
                    // maximum: set it (advance() would re-check the order).
                    state.set_bookmark_value(&self.tap_stream_id, &key.name, value);
                }
            }
            _ => {
                let mut last = Map::new();
                for (&i, value) in self.primary_key.iter().zip(values) {
                    if let Some(column) = self.columns.get(i) {
                        last.insert(column.name.clone(), value);
                    }
                }
                state
                    .bookmark_mut(&self.tap_stream_id)
                    .extra
                    .insert(LAST_PK_FETCHED.to_owned(), Value::Object(last));
            }
        }
    }
}
