//! LOG_BASED streams: bootstrap by the resumable FULL_TABLE copy from the
//! slot's position, then replay of the change stream (pgoutput through
//! `pg_logical_slot_peek_binary_changes`) into RECORDs rendered by the
//! same codecs as FULL_TABLE.
//!
//! The rules (README, "LOG_BASED"):
//!
//! * **Confirm only what the target committed.** At the start of a run the
//!   slot advances to the lowest `lsn` of the LOG_BASED streams in the state
//!   handed in, which must be the target's. A peek never moves the slot.
//! * **Bootstrap without a race.** A stream without a position (or with an
//!   unfinished initial copy) takes the slot's confirmed position as its
//!   `lsn`, then copies the table; every change committed after that
//!   position is replayed afterwards, so changes made during the copy
//!   arrive (at least once) and none are lost.
//! * **Per-stream positions.** A change is emitted for a stream only when
//!   its commit is at or after the stream's `lsn`; after each commit every
//!   stream's `lsn` moves to the commit's end. At the end of a run that
//!   read everything up to the server's flush position, every stream's
//!   `lsn` moves there, so idle slots move forward without writes.
//! * **Records.** One per insert, update and delete, with `_sdc_lsn` (the
//!   commit LSN) and, for deletes, `_sdc_deleted_at` (the commit time);
//!   they carry the stream's table version. An unchanged TOASTed value
//!   comes from the old row (REPLICA IDENTITY FULL) or else is read by key
//!   on a second connection (the current value; a row gone since has the
//!   column left out and its delete follows). A delete under a key-only
//!   identity carries the key columns only.

use std::collections::HashMap;
use std::io::Write;
use std::time::Instant;

use crate::pg::Client;
use serde_json::Value;
use singer_protocol::{CatalogEntry, Message as SingerMessage, ReplicationMethod, Writer};
use singer_state::State;
use tracing::{debug, info, warn};

use super::plan::StreamPlan;
use super::{StreamSummary, SyncOptions};
use crate::connect::Connector;
use crate::discovery::{DiscoveryFilter, discover};
use crate::error::{Error, Result};
use crate::ident::quote_ident;
use crate::logical::{
    self, INITIAL_COPY_COMPLETE, LSN, Message, Names, Published, Relation, SDC_DELETED_AT, SDC_LSN,
    Tuple, TupleValue,
};
use crate::session::{RetryBudget, Session, Subject};
use crate::stream::{RawColumn, RecordCounter, json_to_text, write_message, write_state};
use crate::types::{Codec, EncodeStats};

/// A LOG_BASED stream: its catalog entry (to re-plan after a change of
/// shape) and its plan.
pub(super) struct LogStream<'c> {
    pub(super) entry: &'c CatalogEntry,
    pub(super) plan: StreamPlan,
}

/// The stream's stored position, if it has one.
fn position(state: &State, stream: &str) -> Option<u64> {
    state
        .bookmark(stream)?
        .extra
        .get(LSN)
        .and_then(Value::as_u64)
}

/// Whether the stream still needs (or is in the middle of) its copy.
fn needs_copy(state: &State, plan: &StreamPlan) -> bool {
    let Some(bookmark) = state.bookmark(&plan.tap_stream_id) else {
        return true;
    };
    let other_method = bookmark
        .last_replication_method
        .as_deref()
        .is_some_and(|m| !m.eq_ignore_ascii_case(ReplicationMethod::LogBased.as_str()));
    other_method
        || !bookmark.extra.contains_key(LSN)
        || bookmark.extra.contains_key(INITIAL_COPY_COMPLETE)
        || bookmark.version.is_none()
}

/// Syncs the LOG_BASED streams: preflight, confirm, bootstrap, replay.
pub(super) fn sync_log_based<W: Write>(
    connector: &Connector,
    streams: &mut [LogStream<'_>],
    state: &mut State,
    options: &SyncOptions,
    out: &mut Writer<W>,
) -> Result<Vec<StreamSummary>> {
    let names = Names::new(
        options.logical.slot.as_deref(),
        options.logical.publication.as_deref(),
        connector.dbname().unwrap_or_default(),
        options.logical.tap_id.as_deref(),
    );
    let mut session = Session::connect(connector, options.retry_policy())?;
    let published: Vec<Published<'_>> = streams
        .iter()
        .map(|s| Published {
            stream: &s.plan.tap_stream_id,
            schema: &s.plan.schema_name,
            table: &s.plan.table_name,
            partitioned: s.plan.partitioned,
        })
        .collect();
    logical::prepare(session.client(), &names, &published)?;
    logical::wait_for_slot(session.client(), &names.slot)?;
    // The state handed in is the target's: what it committed may go.
    let committed = streams
        .iter()
        .filter(|s| !needs_copy(state, &s.plan))
        .filter_map(|s| position(state, &s.plan.tap_stream_id))
        .min();
    if let Some(lsn) = committed {
        logical::advance(session.client(), &names.slot, lsn)?;
    }
    let start = logical::confirmed_flush(session.client(), &names.slot)?;
    if let Some(behind) = streams.iter().find(|s| {
        !needs_copy(state, &s.plan)
            && position(state, &s.plan.tap_stream_id).is_some_and(|lsn| lsn < start)
    }) {
        let lsn = position(state, &behind.plan.tap_stream_id).unwrap_or_default();
        return Err(Error::LogBased {
            reason: format!(
                "stream {}: its position {} is behind the slot's confirmed position {}: the changes \
                 in between are gone from slot {:?} (a state older than one the slot was confirmed \
                 with, or another tap using the same slot). Start the stream over (remove its \
                 bookmark from the state) or give this tap a slot of its own (replication_slot_name)",
                behind.plan.tap_stream_id,
                logical::lsn_text(lsn),
                logical::lsn_text(start),
                names.slot
            ),
        });
    }
    let mut summaries = Vec::new();
    for stream in streams.iter() {
        let plan = &stream.plan;
        if !needs_copy(state, plan) {
            continue;
        }
        state.reconcile(&plan.tap_stream_id, plan.method.as_str(), None);
        let behind = position(state, &plan.tap_stream_id).is_some_and(|lsn| lsn < start);
        let bookmark = state.bookmark_mut(&plan.tap_stream_id);
        if behind {
            // The slot moved past where this unfinished copy started: the
            // changes to rows it copied in between are gone. Copy again.
            warn!(stream = %plan.tap_stream_id, "LOG_BASED: the slot moved past this stream's unfinished initial copy; copying the table again.");
            bookmark.extra.shift_remove(super::read::LAST_PK_FETCHED);
            bookmark.version = None;
            bookmark.extra.shift_remove(LSN);
        }
        if !bookmark.extra.contains_key(LSN) {
            bookmark.extra.insert(LSN.to_owned(), Value::from(start));
        }
        bookmark
            .extra
            .insert(INITIAL_COPY_COMPLETE.to_owned(), Value::Bool(false));
        info!(stream = %plan.tap_stream_id, lsn = %logical::lsn_text(position(state, &plan.tap_stream_id).unwrap_or(start)), "LOG_BASED: initial copy, then the changes from the slot's position.");
        summaries.push(plan.run(&mut session, state, options, out)?);
        state
            .bookmark_mut(&plan.tap_stream_id)
            .extra
            .shift_remove(INITIAL_COPY_COMPLETE);
        write_state(out, state)?;
    }
    let started = Instant::now();
    let mut replay = Replay::new(connector, streams, state, options);
    replay.run(&mut session, &names, state, out)?;
    let seconds = started.elapsed().as_secs_f64();
    for (stream, records) in replay.streams.iter().zip(&replay.records) {
        info!(stream = %stream.plan.tap_stream_id, records, seconds, "LOG_BASED stream replayed.");
        summaries.push(StreamSummary {
            tap_stream_id: stream.plan.tap_stream_id.clone(),
            method: ReplicationMethod::LogBased,
            records: *records,
            retries: 0,
            seconds,
        });
    }
    Ok(summaries)
}

/// A relation as the change stream describes it, mapped to its stream.
struct Mapped {
    /// Index into the streams.
    stream: usize,
    /// The relation's columns (to notice a change of shape).
    relation: Relation,
    /// For each plan column, its position in the relation's tuples.
    columns: Vec<Option<usize>>,
    /// For each plan column whose type in this relation description
    /// differs from the table's now (changes made before an `ALTER COLUMN
    /// ... TYPE`), the codec of the type the changes carry.
    codecs: Vec<Option<Codec>>,
}

/// The plan columns whose type differs in `relation` (by name).
fn type_differences(plan: &StreamPlan, relation: &Relation) -> Vec<usize> {
    plan.columns
        .iter()
        .zip(&plan.column_types)
        .enumerate()
        .filter(|(_, (column, (oid, typmod)))| {
            relation
                .columns
                .iter()
                .find(|r| r.name == column.name)
                .is_some_and(|r| r.type_oid != *oid || r.typmod != *typmod)
        })
        .map(|(i, _)| i)
        .collect()
}

/// The transaction being replayed.
struct Transaction {
    commit_lsn: u64,
    /// `"2024-01-01T00:00:00.000000+00:00"` (quoted JSON).
    commit_time: String,
}

/// The replay of one run.
struct Replay<'s, 'c, 'k> {
    connector: &'k Connector,
    streams: &'s mut [LogStream<'c>],
    options: &'s SyncOptions,
    /// Each stream's position (end LSN of its last emitted commit).
    positions: Vec<u64>,
    /// Each stream's table version.
    versions: Vec<Option<u64>>,
    records: Vec<u64>,
    counters: Vec<RecordCounter>,
    relations: HashMap<u32, Mapped>,
    /// Relations that are not selected streams (their changes are skipped).
    ignored: HashMap<u32, ()>,
    transaction: Option<Transaction>,
    since_state: u64,
    commits_since_state: u64,
    /// A second connection, for unchanged TOASTed values and re-planning.
    lookup: Option<Client>,
    stats: EncodeStats,
    line: Vec<u8>,
    time_extracted: String,
}

impl<'s, 'c, 'k> Replay<'s, 'c, 'k> {
    fn new(
        connector: &'k Connector,
        streams: &'s mut [LogStream<'c>],
        state: &State,
        options: &'s SyncOptions,
    ) -> Self {
        let positions = streams
            .iter()
            .map(|s| position(state, &s.plan.tap_stream_id).unwrap_or(0))
            .collect();
        let versions = streams
            .iter()
            .map(|s| {
                state
                    .bookmark(&s.plan.tap_stream_id)
                    .and_then(|b| b.version)
            })
            .collect();
        let counters = streams
            .iter()
            .map(|s| RecordCounter::new(&s.plan.tap_stream_id, options.metrics_interval))
            .collect();
        let count = streams.len();
        Self {
            connector,
            streams,
            options,
            positions,
            versions,
            records: vec![0; count],
            counters,
            relations: HashMap::new(),
            ignored: HashMap::new(),
            transaction: None,
            since_state: 0,
            commits_since_state: 0,
            lookup: None,
            stats: EncodeStats::default(),
            line: Vec::with_capacity(1024),
            time_extracted: chrono::Utc::now()
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, false),
        }
    }

    /// Peeks everything up to the server's flush position and emits it.
    fn run<W: Write>(
        &mut self,
        session: &mut Session<'_>,
        names: &Names,
        state: &mut State,
        out: &mut Writer<W>,
    ) -> Result<()> {
        for stream in self.streams.iter() {
            write_message(out, &SingerMessage::Schema(stream.plan.schema_message()))?;
        }
        // A transient failure reads again from the slot: commits already
        // sent are skipped by position; the changes of a commit cut short
        // are sent again (at least once).
        let mut budget = RetryBudget::new();
        session.with_retry(Subject::Stream("LOG_BASED"), &mut budget, |client| {
            self.transaction = None;
            self.lookup = None;
            self.peek(client, names, state, out)
        })
    }

    /// One read of the change stream up to the server's flush position.
    fn peek<W: Write>(
        &mut self,
        client: &mut Client,
        names: &Names,
        state: &mut State,
        out: &mut Writer<W>,
    ) -> Result<()> {
        logical::wait_for_slot(client, &names.slot)?;
        let end = logical::flush_lsn(client)?;
        let query_error = |action, source| Error::Query {
            stream: None,
            action,
            source,
        };
        let mut tx = client.transaction();
        tx.batch_execute("SET LOCAL statement_timeout = 0")
            .map_err(|e| query_error("starting the change stream read", e))?;
        let publication = quote_ident(&names.publication);
        let end_text = logical::lsn_text(end);
        let params: [&(dyn postgres::types::ToSql + Sync); 3] =
            [&names.slot, &end_text, &publication];
        let mut rows = tx
            .query_raw(
                "SELECT data FROM pg_logical_slot_peek_binary_changes($1, $2::text::pg_lsn, NULL, \
                 'proto_version', '1', 'publication_names', $3, 'binary', 'true')",
                params,
            )
            .map_err(|e| query_error("reading the change stream", e))?;
        let mut messages = 0_u64;
        while let Some(row) = rows
            .next()
            .map_err(|e| query_error("reading the change stream", e))?
        {
            let data: &[u8] = row
                .try_get(0)
                .map_err(|e| query_error("reading the change stream", e))?;
            let message = logical::decode(data).map_err(Error::Decode)?;
            self.message(message, state, out)?;
            messages += 1;
        }
        drop(rows);
        tx.commit()
            .map_err(|e| query_error("ending the change stream read", e))?;
        // Everything committed up to `end` was read: idle streams move too.
        for position in &mut self.positions {
            *position = (*position).max(end);
        }
        self.store_positions(state);
        write_state(out, state)?;
        for counter in &self.counters {
            counter.finish();
        }
        debug!(messages, end = %end_text, "Change stream read to the flush position.");
        Ok(())
    }

    fn store_positions(&self, state: &mut State) {
        for (stream, position) in self.streams.iter().zip(&self.positions) {
            state
                .bookmark_mut(&stream.plan.tap_stream_id)
                .extra
                .insert(LSN.to_owned(), Value::from(*position));
        }
    }

    fn message<W: Write>(
        &mut self,
        message: Message<'_>,
        state: &mut State,
        out: &mut Writer<W>,
    ) -> Result<()> {
        match message {
            Message::Begin {
                final_lsn,
                commit_time,
                ..
            } => {
                self.transaction = Some(Transaction {
                    commit_lsn: final_lsn,
                    commit_time: commit_time_json(commit_time),
                });
            }
            Message::Commit { end_lsn, .. } => {
                self.transaction = None;
                for position in &mut self.positions {
                    *position = (*position).max(end_lsn);
                }
                self.commits_since_state += 1;
                if self.since_state >= self.options.state_interval
                    || self.commits_since_state >= self.options.state_interval
                {
                    self.since_state = 0;
                    self.commits_since_state = 0;
                    self.store_positions(state);
                    write_state(out, state)?;
                }
            }
            Message::Relation(relation) => self.relation(relation, out)?,
            Message::Insert { relation, new } => self.change(relation, None, &new, false, out)?,
            Message::Update { relation, old, new } => {
                if let Some(old) = &old
                    && self.key_changed(relation, old, &new)
                {
                    // The row moved to another key: the old key is gone.
                    self.change(relation, Some(old), old, true, out)?;
                }
                self.change(relation, old.as_ref(), &new, false, out)?;
            }
            Message::Delete { relation, old } => {
                self.change(relation, Some(&old), &old, true, out)?;
            }
            Message::Truncate { relations } => {
                for id in relations {
                    if let Some(mapped) = self.relations.get(&id)
                        && let Some(stream) = self.streams.get(mapped.stream)
                    {
                        warn!(stream = %stream.plan.tap_stream_id, "LOG_BASED: the table was truncated at the source; TRUNCATE is not replayed (run a FULL_TABLE resync, or clear the stream's state, to drop the rows downstream).");
                    }
                }
            }
            Message::Other(_) => {}
        }
        Ok(())
    }

    /// A relation's shape: maps it to its stream; a changed shape
    /// re-plans the stream and sends its new SCHEMA first.
    fn relation<W: Write>(&mut self, relation: Relation, out: &mut Writer<W>) -> Result<()> {
        let Some(index) = self.streams.iter().position(|s| {
            s.plan.schema_name == relation.namespace && s.plan.table_name == relation.name
        }) else {
            self.ignored.insert(relation.id, ());
            return Ok(());
        };
        let changed = match self.relations.get(&relation.id) {
            Some(previous) => previous.relation.columns != relation.columns,
            None => {
                let plan = &self.streams.get(index).map(|s| &s.plan);
                plan.is_some_and(|plan| {
                    plan.columns.len() != relation.columns.len()
                        || plan
                            .columns
                            .iter()
                            .any(|c| !relation.columns.iter().any(|r| r.name == c.name))
                        || !type_differences(plan, &relation).is_empty()
                })
            }
        };
        if changed {
            self.replan(index, out)?;
        }
        let policy = self.options.policy;
        let Some(stream) = self.streams.get(index) else {
            return Ok(());
        };
        let plan = &stream.plan;
        let columns = plan
            .columns
            .iter()
            .map(|c| relation.columns.iter().position(|r| r.name == c.name))
            .collect();
        // Still different after reading the table again: these changes were
        // made before the column's type changed. Render them as their type.
        let mut codecs = vec![None; plan.columns.len()];
        for i in type_differences(plan, &relation) {
            let (Some(column), Some(described)) = (
                plan.columns.get(i),
                plan.columns
                    .get(i)
                    .and_then(|c| relation.columns.iter().find(|r| r.name == c.name)),
            ) else {
                continue;
            };
            let ty = postgres::types::Type::from_oid(described.type_oid).ok_or_else(|| {
                Error::LogBased {
                    reason: format!(
                        "stream {}: changes made before column {:?} changed type carry type OID {}, \
                         which cannot be rendered; start the stream over (remove its bookmark)",
                        plan.tap_stream_id, column.name, described.type_oid
                    ),
                }
            })?;
            if let Some(slot) = codecs.get_mut(i) {
                *slot = Some(Codec::from_postgres_type(&ty, described.typmod, policy));
            }
        }
        self.relations.insert(
            relation.id,
            Mapped {
                stream: index,
                relation,
                columns,
                codecs,
            },
        );
        Ok(())
    }

    /// Whether an update moved the row to another replica identity key.
    fn key_changed(&self, relation: u32, old: &Tuple<'_>, new: &Tuple<'_>) -> bool {
        let Some(mapped) = self.relations.get(&relation) else {
            return false;
        };
        // Under REPLICA IDENTITY FULL every column is flagged part of the
        // key: the stream's primary key says what the row's key is.
        let key_columns: Vec<usize> = if mapped.relation.replica_identity == b'f' {
            let Some(stream) = self.streams.get(mapped.stream) else {
                return false;
            };
            stream
                .plan
                .primary_key
                .iter()
                .filter_map(|&p| mapped.columns.get(p).copied().flatten())
                .collect()
        } else {
            (0..mapped.relation.columns.len())
                .filter(|&i| mapped.relation.columns.get(i).is_some_and(|c| c.key))
                .collect()
        };
        key_columns
            .into_iter()
            .any(|i| match (old.values.get(i), new.values.get(i)) {
                (Some(TupleValue::Unchanged), _) | (_, Some(TupleValue::Unchanged)) => false,
                (a, b) => a != b,
            })
    }

    fn lookup(&mut self) -> Result<&mut Client> {
        if self.lookup.is_none() {
            self.lookup = Some(self.connector.open()?);
        }
        self.lookup.as_mut().ok_or_else(|| Error::LogBased {
            reason: "no lookup connection".to_owned(),
        })
    }

    /// Re-discovers a stream's table and sends its new SCHEMA.
    fn replan<W: Write>(&mut self, index: usize, out: &mut Writer<W>) -> Result<()> {
        let options = self.options;
        let Some((schema, table)) = self
            .streams
            .get(index)
            .map(|s| (s.plan.schema_name.clone(), s.plan.table_name.clone()))
        else {
            return Ok(());
        };
        let filter = DiscoveryFilter {
            schemas: vec![schema.clone()],
            include: vec![format!("{schema}.{table}")],
            exclude: Vec::new(),
        };
        let tables = discover(self.lookup()?, &filter, options.policy)
            .map_err(|source| Error::Discovery { source })?;
        let Some(stream) = self.streams.get_mut(index) else {
            return Ok(());
        };
        stream.plan = StreamPlan::new(stream.entry, &tables, options)?;
        info!(stream = %stream.plan.tap_stream_id, columns = stream.plan.columns.len(), "LOG_BASED: the table's shape changed; new SCHEMA.");
        write_message(out, &SingerMessage::Schema(stream.plan.schema_message()))
    }

    /// One insert, update or delete.
    fn change<W: Write>(
        &mut self,
        relation: u32,
        old: Option<&Tuple<'_>>,
        new: &Tuple<'_>,
        delete: bool,
        out: &mut Writer<W>,
    ) -> Result<()> {
        if self.ignored.contains_key(&relation) {
            return Ok(());
        }
        let Some(mapped) = self.relations.get(&relation) else {
            return Err(Error::LogBased {
                reason: format!("a change of relation {relation} came before its description"),
            });
        };
        let index = mapped.stream;
        let Some(transaction) = &self.transaction else {
            return Err(Error::LogBased {
                reason: "a change came outside a transaction".to_owned(),
            });
        };
        if transaction.commit_lsn < self.positions.get(index).copied().unwrap_or(0) {
            // Emitted (and committed by the target) before.
            return Ok(());
        }
        let commit_lsn = transaction.commit_lsn;
        let key_only = delete && new.kind == b'K';
        // Unchanged TOASTed values not in the old row: read by key (rare:
        // nothing is copied or allocated for the other changes).
        let mut fetched: HashMap<usize, Option<Option<Vec<u8>>>> = HashMap::new();
        if new
            .values
            .iter()
            .any(|v| matches!(v, TupleValue::Unchanged))
        {
            let columns = mapped.columns.clone();
            for (plan_index, tuple_index) in columns.iter().enumerate() {
                let Some(i) = tuple_index else { continue };
                if matches!(new.values.get(*i), Some(TupleValue::Unchanged))
                    && !matches!(
                        old.filter(|o| o.kind == b'O')
                            .and_then(|o| o.values.get(*i)),
                        Some(TupleValue::Binary(_) | TupleValue::Text(_) | TupleValue::Null)
                    )
                {
                    let value = self.fetch_unchanged(index, plan_index, &columns, new)?;
                    fetched.insert(plan_index, value);
                }
            }
        }
        let (Some(stream), Some(mapped), Some(transaction)) = (
            self.streams.get(index),
            self.relations.get(&relation),
            &self.transaction,
        ) else {
            return Ok(());
        };
        let deleted_at = delete.then_some(transaction.commit_time.as_str());
        let columns = &mapped.columns;
        let plan = &stream.plan;
        let line = &mut self.line;
        line.clear();
        line.push(b'{');
        let mut first = true;
        for (plan_index, column) in plan.columns.iter().enumerate() {
            let Some(Some(i)) = columns.get(plan_index) else {
                continue;
            };
            // A key-only old tuple holds the replica identity's columns; the
            // others are not sent (not NULLs).
            if key_only && !mapped.relation.columns.get(*i).is_some_and(|c| c.key) {
                continue;
            }
            let value = match new.values.get(*i) {
                Some(TupleValue::Unchanged) => match old
                    .filter(|o| o.kind == b'O')
                    .and_then(|o| o.values.get(*i))
                {
                    Some(TupleValue::Binary(b)) => Some(Raw::Binary(b)),
                    Some(TupleValue::Text(t)) => Some(Raw::Text(t)),
                    Some(TupleValue::Null) => Some(Raw::Null),
                    // Read by key; a row gone since leaves the column out.
                    _ => match fetched.get(&plan_index) {
                        Some(Some(Some(bytes))) => Some(Raw::Binary(bytes)),
                        Some(Some(None)) => Some(Raw::Null),
                        Some(None) | None => None,
                    },
                },
                Some(TupleValue::Binary(b)) => Some(Raw::Binary(b)),
                Some(TupleValue::Text(t)) => Some(Raw::Text(t)),
                Some(TupleValue::Null) | None => Some(Raw::Null),
            };
            let Some(value) = value else { continue };
            if !first {
                line.push(b',');
            }
            first = false;
            line.extend_from_slice(&column.key_json);
            let codec = mapped
                .codecs
                .get(plan_index)
                .and_then(Option::as_ref)
                .unwrap_or(&column.codec);
            let encoded = match value {
                Raw::Binary(bytes) => codec.encode(Some(bytes), line, &mut self.stats),
                Raw::Null => codec.encode(None, line, &mut self.stats),
                Raw::Text(text) => {
                    // A type without a binary send function: its text.
                    match serde_json::to_vec(&*String::from_utf8_lossy(text)) {
                        Ok(json) => line.extend_from_slice(&json),
                        Err(_) => line.extend_from_slice(b"null"),
                    }
                    Ok(())
                }
            };
            encoded.map_err(|source| Error::Encode {
                stream: plan.tap_stream_id.clone(),
                column: column.name.clone(),
                source,
            })?;
        }
        if !first {
            line.push(b',');
        }
        line.push(b'"');
        line.extend_from_slice(SDC_LSN.as_bytes());
        line.extend_from_slice(b"\":");
        line.extend_from_slice(itoa::Buffer::new().format(commit_lsn).as_bytes());
        line.extend_from_slice(b",\"");
        line.extend_from_slice(SDC_DELETED_AT.as_bytes());
        line.extend_from_slice(b"\":");
        match deleted_at {
            Some(time) => line.extend_from_slice(time.as_bytes()),
            None => line.extend_from_slice(b"null"),
        }
        line.push(b'}');
        out.write_record_raw(
            &plan.stream,
            line,
            self.versions.get(index).copied().flatten(),
            Some(&self.time_extracted),
        )
        .map_err(|source| Error::Output { source })?;
        if let Some(counter) = self.counters.get(index) {
            counter.add_one();
        }
        if let Some(records) = self.records.get_mut(index) {
            *records += 1;
        }
        self.since_state += 1;
        Ok(())
    }

    /// The current value of an unchanged TOASTed column, read by the row's
    /// key: `Some(None)` is NULL, `None` a row gone since (or no key).
    fn fetch_unchanged(
        &mut self,
        index: usize,
        plan_index: usize,
        columns: &[Option<usize>],
        new: &Tuple<'_>,
    ) -> Result<Option<Option<Vec<u8>>>> {
        let Some(stream) = self.streams.get(index) else {
            return Ok(None);
        };
        let plan = &stream.plan;
        let Some(column) = plan.columns.get(plan_index) else {
            return Ok(None);
        };
        let mut conditions = Vec::new();
        let mut params = Vec::new();
        for (n, &key) in plan.primary_key.iter().enumerate() {
            let (Some(key_column), Some(Some(i))) = (plan.columns.get(key), columns.get(key))
            else {
                return Ok(None);
            };
            let mut rendered = Vec::new();
            if let Some(TupleValue::Binary(bytes)) = new.values.get(*i) {
                key_column
                    .codec
                    .encode(Some(bytes), &mut rendered, &mut self.stats)
                    .map_err(|source| Error::Encode {
                        stream: plan.tap_stream_id.clone(),
                        column: key_column.name.clone(),
                        source,
                    })?;
            }
            conditions.push(format!(
                "{} = ${}::text::{}",
                quote_ident(&key_column.name),
                n + 1,
                key_column.codec.sql_datatype()
            ));
            params.push(json_to_text(&rendered));
        }
        if conditions.is_empty() {
            return Ok(None);
        }
        let sql = format!(
            "SELECT {} FROM {} WHERE {}",
            column.codec.select_expr(&quote_ident(&column.name)),
            plan.qualified_table,
            conditions.join(" AND ")
        );
        let stream_name = plan.tap_stream_id.clone();
        let refs: Vec<&(dyn postgres::types::ToSql + Sync)> = params
            .iter()
            .map(|p| p as &(dyn postgres::types::ToSql + Sync))
            .collect();
        let row = self
            .lookup()?
            .query_opt(sql.as_str(), &refs)
            .map_err(|source| Error::Query {
                stream: Some(stream_name.clone()),
                action: "reading an unchanged TOASTed value by key",
                source,
            })?;
        let Some(row) = row else {
            debug!(stream = %stream_name, "An unchanged TOASTed value's row is gone; its delete follows.");
            return Ok(None);
        };
        let raw: Option<RawColumn<'_>> = row.try_get(0).map_err(|source| Error::Query {
            stream: Some(stream_name),
            action: "reading an unchanged TOASTed value by key",
            source,
        })?;
        Ok(Some(raw.map(|r| r.0.to_vec())))
    }
}

/// A value to render.
enum Raw<'a> {
    Binary(&'a [u8]),
    Text(&'a [u8]),
    Null,
}

/// A commit time (microseconds since the Unix epoch) as quoted RFC 3339.
fn commit_time_json(micros: i64) -> String {
    let time = chrono::DateTime::from_timestamp_micros(micros).unwrap_or_default();
    format!(
        "\"{}\"",
        time.to_rfc3339_opts(chrono::SecondsFormat::Micros, false)
    )
}
