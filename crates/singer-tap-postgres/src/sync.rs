//! Catalog-mode sync: FULL_TABLE (resumable by primary key, ACTIVATE_VERSION)
//! and INCREMENTAL (ordered by the replication key, `>=` the bookmark).
//!
//! Rows are streamed in binary format as the server sends them (the socket
//! is the backpressure, so reading overlaps the server's work as `COPY`
//! does), inside one `REPEATABLE READ READ ONLY` transaction
//! per stream (one consistent snapshot), and each row is rendered straight
//! into the record line by the columns' codecs: no row is held past its
//! batch, and nothing goes through an intermediate `Value`.
//!
//! Rules where the Singer spec is silent (documented in the README too):
//!
//! * A stream's replication method comes from the catalog (metadata, then
//!   Meltano's top-level key), else `default_replication_method`, else
//!   FULL_TABLE.
//! * INCREMENTAL rows whose replication key is NULL are never emitted (they
//!   cannot be ordered or bookmarked); the first run reads
//!   `WHERE key IS NOT NULL ORDER BY key`, later runs `WHERE key >= bookmark`.
//! * FULL_TABLE on a table with a primary key orders by it and records the
//!   last key emitted (`last_pk_fetched`) with every STATE; a rerun after an
//!   interruption continues after it with the same table version. Without a
//!   primary key a rerun starts over with a new version, which the target's
//!   ACTIVATE_VERSION handling makes safe.
//! * A dropped connection or SQLSTATE 40001 (e.g. a hot standby's recovery
//!   conflict) reconnects and resumes the stream from the last row emitted,
//!   up to `max_retries` times.

use std::io::Write;
use std::time::Instant;

use postgres::fallible_iterator::FallibleIterator;
use postgres::types::{FromSql, Type};
use postgres::{Client, IsolationLevel};
use serde_json::{Map, Value};
use singer_protocol::{
    ActivateVersionMessage, Catalog, CatalogEntry, Message, ReplicationMethod, SchemaMessage,
    StateMessage, Writer,
};
use singer_state::State;
use tracing::{info, warn};

use crate::connect::Connector;
use crate::discovery::{DiscoveryFilter, TableInfo, discover};
use crate::error::{Error, Result};
use crate::types::{Codec, EncodeStats, ValuePolicy};

/// How a sync runs.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// Emit STATE every this many records within a stream.
    pub state_interval: u64,
    /// pipelinewise's rows-per-fetch setting, accepted for compatibility:
    /// rows are streamed, so memory is bounded without it.
    pub itersize: u32,
    /// Reconnects per stream after transient failures.
    pub max_retries: u32,
    /// Method for selected streams whose catalog names none.
    pub default_method: Option<ReplicationMethod>,
    /// What to do with values a target cannot hold as such.
    pub policy: ValuePolicy,
}

impl Default for SyncOptions {
    fn default() -> Self {
        Self {
            state_interval: 10_000,
            itersize: 20_000,
            max_retries: 3,
            default_method: None,
            policy: ValuePolicy::default(),
        }
    }
}

/// What one stream's sync did.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamSummary {
    /// The tap_stream_id.
    pub tap_stream_id: String,
    /// The method used.
    pub method: ReplicationMethod,
    /// Records emitted.
    pub records: u64,
    /// Reconnects after transient failures.
    pub retries: u32,
    /// Wall time in seconds.
    pub seconds: f64,
}

/// Syncs the selected streams of `catalog`, starting from `state`, writing
/// SCHEMA, RECORD, ACTIVATE_VERSION and STATE messages to `out`.
///
/// # Errors
///
/// Any [`Error`]; STATE already written covers only records written before
/// it, so a rerun from the last STATE loses nothing.
pub fn sync<W: Write>(
    connector: &Connector,
    catalog: &Catalog,
    mut state: State,
    options: &SyncOptions,
    out: &mut Writer<W>,
) -> Result<Vec<StreamSummary>> {
    let mut selected: Vec<&CatalogEntry> = catalog.selected().collect();
    // An interrupted run resumes its unfinished stream first.
    if let Some(current) = state.currently_syncing.clone()
        && let Some(index) = selected.iter().position(|e| e.tap_stream_id == current)
    {
        let entry = selected.remove(index);
        selected.insert(0, entry);
    }
    if selected.is_empty() {
        warn!("No stream is selected in the catalog: nothing to sync.");
        return Ok(Vec::new());
    }
    let mut client = connector.connect()?;
    let mut schemas: Vec<String> = selected.iter().map(|e| table_ref(e).0).collect();
    schemas.sort();
    schemas.dedup();
    let filter = DiscoveryFilter {
        schemas,
        include: Vec::new(),
        exclude: Vec::new(),
    };
    let tables = discover(&mut client, &filter, options.policy)
        .map_err(|source| Error::Discovery { source })?;
    let mut summaries = Vec::new();
    for entry in selected {
        let plan = StreamPlan::new(entry, &tables, options)?;
        let summary = plan.run(connector, &mut client, &mut state, options, out)?;
        summaries.push(summary);
    }
    state.set_currently_syncing(None);
    write_state(out, &state)?;
    Ok(summaries)
}

/// `(schema, table)` of a catalog entry: `schema-name` metadata and
/// `table_name`, else the `<schema>-<table>` tap_stream_id.
fn table_ref(entry: &CatalogEntry) -> (String, String) {
    let schema = entry
        .metadata
        .root()
        .and_then(|m| m.get("schema-name"))
        .and_then(Value::as_str);
    let table = entry.extra.get("table_name").and_then(Value::as_str);
    match (schema, table) {
        (Some(schema), Some(table)) => (schema.to_owned(), table.to_owned()),
        _ => match entry.tap_stream_id.split_once('-') {
            Some((schema, table)) => (schema.to_owned(), table.to_owned()),
            None => ("public".to_owned(), entry.tap_stream_id.clone()),
        },
    }
}

/// One selected column.
pub(crate) struct PlanColumn {
    /// The column's name.
    pub(crate) name: String,
    /// `"name":`, rendered once.
    pub(crate) key_json: Vec<u8>,
    /// How its values render.
    pub(crate) codec: Codec,
}

impl PlanColumn {
    /// A column named `name` rendered by `codec`.
    pub(crate) fn new(name: &str, codec: Codec) -> Self {
        let mut key_json = serde_json::to_vec(name).unwrap_or_default();
        key_json.push(b':');
        Self {
            name: name.to_owned(),
            key_json,
            codec,
        }
    }
}

/// Everything needed to read one stream.
struct StreamPlan {
    tap_stream_id: String,
    stream: String,
    qualified_table: String,
    columns: Vec<PlanColumn>,
    key_properties: Vec<String>,
    method: ReplicationMethod,
    /// Index into `columns` of the replication key (INCREMENTAL).
    replication_key: Option<usize>,
    /// Indices into `columns` of the primary key (FULL_TABLE resume).
    primary_key: Vec<usize>,
}

/// Where a stream's read has got to (in memory; the last STATE holds the
/// durable copy).
#[derive(Default)]
struct Position {
    /// Rendered JSON of the last row's key columns (replication key, or the
    /// primary key columns in order).
    last_key: Vec<Vec<u8>>,
    records: u64,
    since_state: u64,
}

impl StreamPlan {
    fn new(entry: &CatalogEntry, tables: &[TableInfo], options: &SyncOptions) -> Result<Self> {
        let stream_error = |reason: String| Error::Stream {
            stream: entry.tap_stream_id.clone(),
            reason,
        };
        let (schema, table) = table_ref(entry);
        let info = tables
            .iter()
            .find(|t| t.schema == schema && t.name == table)
            .ok_or_else(|| {
                stream_error(format!(
                    "table {schema}.{table} does not exist or cannot be read"
                ))
            })?;
        let method = entry
            .replication_method()
            .map_err(|e| Error::Catalog(Box::new(e)))?
            .or(options.default_method)
            .unwrap_or(ReplicationMethod::FullTable);
        if method == ReplicationMethod::LogBased {
            return Err(stream_error(
                "LOG_BASED replication is not supported yet".to_owned(),
            ));
        }
        let replication_key = entry
            .replication_key()
            .map_err(|e| Error::Catalog(Box::new(e)))?
            .map(str::to_owned);
        let mut key_properties = entry
            .key_properties()
            .map_err(|e| Error::Catalog(Box::new(e)))?;
        if key_properties.is_empty() {
            key_properties.clone_from(&info.primary_key);
        }
        let catalog_properties = entry.schema.get("properties").and_then(Value::as_object);
        let mut columns = Vec::new();
        for column in &info.columns {
            let automatic = info.primary_key.contains(&column.name)
                || key_properties.contains(&column.name)
                || replication_key.as_deref() == Some(column.name.as_str());
            let in_catalog = catalog_properties.is_none_or(|p| p.contains_key(&column.name));
            if automatic || (in_catalog && entry.is_property_selected(&column.name)) {
                columns.push(PlanColumn::new(&column.name, column.codec.clone()));
            }
        }
        if let Some(properties) = catalog_properties {
            for name in properties.keys() {
                if entry.is_property_selected(name) && !info.columns.iter().any(|c| &c.name == name)
                {
                    warn!(stream = %entry.tap_stream_id, column = %name, "Selected column no longer exists in the table; skipping it.");
                }
            }
        }
        let position_of = |name: &str| columns.iter().position(|c| c.name == name);
        let replication_key = match method {
            ReplicationMethod::Incremental => {
                let key = replication_key.ok_or_else(|| {
                    stream_error("INCREMENTAL replication needs a replication key".to_owned())
                })?;
                let index = position_of(&key).ok_or_else(|| {
                    stream_error(format!(
                        "replication key {key:?} is not a column of the table"
                    ))
                })?;
                if !columns
                    .get(index)
                    .is_some_and(|c| c.codec.can_be_replication_key())
                {
                    return Err(stream_error(format!(
                        "replication key {key:?} has a type that cannot be ordered and bookmarked"
                    )));
                }
                Some(index)
            }
            _ => None,
        };
        let primary_key = info
            .primary_key
            .iter()
            .map(|name| position_of(name))
            .collect::<Option<Vec<_>>>()
            .unwrap_or_default();
        Ok(Self {
            tap_stream_id: entry.tap_stream_id.clone(),
            stream: entry.stream.clone(),
            qualified_table: format!("{}.{}", quote_ident(&info.schema), quote_ident(&info.name)),
            columns,
            key_properties,
            method,
            replication_key,
            primary_key,
        })
    }

    fn schema_message(&self) -> SchemaMessage {
        let mut properties = Map::new();
        for column in &self.columns {
            let nullable = !self.key_properties.contains(&column.name);
            properties.insert(column.name.clone(), column.codec.json_schema(nullable));
        }
        let mut schema = Map::new();
        schema.insert("type".to_owned(), Value::String("object".to_owned()));
        schema.insert("properties".to_owned(), Value::Object(properties));
        SchemaMessage {
            stream: self.stream.clone(),
            schema: Value::Object(schema),
            key_properties: self.key_properties.clone(),
            bookmark_properties: self
                .replication_key
                .and_then(|i| self.columns.get(i))
                .map(|c| vec![c.name.clone()]),
        }
    }

    /// Indices of the columns whose values make up the position.
    fn position_columns(&self) -> Vec<usize> {
        match self.replication_key {
            Some(index) => vec![index],
            None => self.primary_key.clone(),
        }
    }

    fn run<W: Write>(
        &self,
        connector: &Connector,
        client: &mut Client,
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
                if let Some(value) = state
                    .bookmark(&self.tap_stream_id)
                    .and_then(|b| b.replication_key_value.as_ref())
                {
                    position.last_key = vec![serde_json::to_vec(value).unwrap_or_default()];
                }
            }
            _ => {
                let bookmark = state.bookmark(&self.tap_stream_id);
                let resume = bookmark
                    .and_then(|b| b.extra.get(LAST_PK_FETCHED))
                    .and_then(Value::as_object);
                let stored_version = bookmark.and_then(|b| b.version);
                if let (Some(resume), Some(stored)) = (resume, stored_version)
                    && !self.primary_key.is_empty()
                {
                    let keys: Option<Vec<Vec<u8>>> = self
                        .primary_key
                        .iter()
                        .filter_map(|&i| self.columns.get(i))
                        .map(|c| {
                            resume
                                .get(&c.name)
                                .map(|v| serde_json::to_vec(v).unwrap_or_default())
                        })
                        .collect();
                    if let Some(keys) = keys {
                        info!(stream = %self.tap_stream_id, version = stored, "Resuming an interrupted FULL_TABLE sync after the last key emitted.");
                        position.last_key = keys;
                        version = Some(stored);
                    }
                }
                let version = *version.get_or_insert_with(new_version);
                state.bookmark_mut(&self.tap_stream_id).version = Some(version);
            }
        }

        let mut stats = EncodeStats::default();
        let mut retries = 0;
        let mut fresh_client = None;
        loop {
            let client: &mut Client = match fresh_client.as_mut() {
                Some(c) => c,
                None => &mut *client,
            };
            match self.read(
                client,
                state,
                &mut position,
                version,
                options,
                &mut stats,
                out,
            ) {
                Ok(()) => break,
                Err(error) if error.is_retryable() && retries < options.max_retries => {
                    retries += 1;
                    let wait = Connector::backoff(retries);
                    warn!(stream = %self.tap_stream_id, error = %error, attempt = retries, wait_ms = wait.as_millis(), "Transient failure: reconnecting and resuming the stream.");
                    std::thread::sleep(wait);
                    if self.method == ReplicationMethod::FullTable && self.primary_key.is_empty() {
                        // Not resumable: start over under a new version; the
                        // target's ACTIVATE_VERSION drops the partial copy.
                        let fresh = new_version();
                        version = Some(fresh);
                        state.bookmark_mut(&self.tap_stream_id).version = Some(fresh);
                        position = Position::default();
                    }
                    fresh_client = Some(reconnect(connector, &self.tap_stream_id)?);
                }
                Err(error) => return Err(error),
            }
        }
        if let Some(client_after_retry) = fresh_client {
            *client = client_after_retry;
        }

        if self.method == ReplicationMethod::FullTable {
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
        write_state(out, state)?;
        for (kind, count) in stats.iter() {
            warn!(stream = %self.tap_stream_id, kind = kind.as_str(), count, "Values met the special-value policy (see `special_values`).");
        }
        let seconds = started.elapsed().as_secs_f64();
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

    /// The SELECT for the current position and its text parameters.
    fn query(&self, position: &Position) -> (String, Vec<String>) {
        let select: Vec<String> = self
            .columns
            .iter()
            .map(|c| c.codec.select_expr(&quote_ident(&c.name)))
            .collect();
        let mut sql = format!("SELECT {} FROM {}", select.join(", "), self.qualified_table);
        let key_columns: Vec<&PlanColumn> = self
            .position_columns()
            .iter()
            .filter_map(|&i| self.columns.get(i))
            .collect();
        let names: Vec<String> = key_columns.iter().map(|c| quote_ident(&c.name)).collect();
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
            sql.push_str(&format!(
                " WHERE ({}) {op} ({})",
                names.join(", "),
                placeholders.join(", ")
            ));
            params = position
                .last_key
                .iter()
                .map(|raw| json_to_text(raw))
                .collect();
        } else if self.method == ReplicationMethod::Incremental {
            sql.push_str(&format!(" WHERE {} IS NOT NULL", names.join(", ")));
        }
        if !names.is_empty() {
            sql.push_str(&format!(" ORDER BY {}", names.join(", ")));
        }
        (sql, params)
    }

    #[allow(
        clippy::too_many_arguments,
        reason = "one call site; a struct would only rename them"
    )]
    fn read<W: Write>(
        &self,
        client: &mut Client,
        state: &mut State,
        position: &mut Position,
        version: Option<u64>,
        options: &SyncOptions,
        stats: &mut EncodeStats,
        out: &mut Writer<W>,
    ) -> Result<()> {
        let query_error = |action, source| Error::Query {
            stream: Some(self.tap_stream_id.clone()),
            action,
            source,
        };
        let (sql, params) = self.query(position);
        tracing::debug!(stream = %self.tap_stream_id, sql = %sql, "Reading.");
        let mut tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .map_err(|e| query_error("starting a read-only transaction", e))?;
        let param_refs: Vec<&(dyn postgres::types::ToSql + Sync)> = params
            .iter()
            .map(|p| p as &(dyn postgres::types::ToSql + Sync))
            .collect();
        let mut rows = tx
            .query_raw(sql.as_str(), param_refs.iter().copied())
            .map_err(|e| query_error("starting the table read", e))?;
        let key_columns = self.position_columns();
        let layout = RecordLayout {
            tap_stream_id: &self.tap_stream_id,
            stream: &self.stream,
            columns: &self.columns,
            key_columns: &key_columns,
            suffix: b"",
            version,
        };
        stream_records(&mut rows, &layout, stats, out, |record, key_ranges, out| {
            position.last_key.resize_with(key_ranges.len(), Vec::new);
            for (last, range) in position.last_key.iter_mut().zip(key_ranges) {
                last.clear();
                last.extend_from_slice(record.get(range.clone()).unwrap_or_default());
            }
            position.records += 1;
            position.since_state += 1;
            if position.since_state >= options.state_interval {
                self.checkpoint(state, position)?;
                write_state(out, state)?;
                position.since_state = 0;
            }
            Ok(())
        })?;
        drop(rows);
        tx.commit()
            .map_err(|e| query_error("ending the read-only transaction", e))?;
        self.checkpoint(state, position)?;
        Ok(())
    }

    /// Writes the position into the stream's bookmark.
    fn checkpoint(&self, state: &mut State, position: &Position) -> Result<()> {
        if position.last_key.is_empty() {
            return Ok(());
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
        Ok(())
    }
}

/// How the rows of one read become RECORD lines.
pub(crate) struct RecordLayout<'a> {
    /// The stream named in errors.
    pub(crate) tap_stream_id: &'a str,
    /// The stream named in the RECORD messages.
    pub(crate) stream: &'a str,
    /// The result columns, in order.
    pub(crate) columns: &'a [PlanColumn],
    /// Indices into `columns` whose rendered values `after_row` receives.
    pub(crate) key_columns: &'a [usize],
    /// JSON members appended after the columns (`,"_uploaded_at":…`), or empty.
    pub(crate) suffix: &'a [u8],
    /// The table version the records carry.
    pub(crate) version: Option<u64>,
}

/// Streams `rows` as RECORD messages, rendering each row straight into its
/// line through the columns' codecs (the one row loop of both modes). After
/// each record is written, `after_row` gets the record's JSON and the byte
/// ranges in it of the `key_columns` values, in order.
pub(crate) fn stream_records<W, F>(
    rows: &mut postgres::RowIter<'_>,
    layout: &RecordLayout<'_>,
    stats: &mut EncodeStats,
    out: &mut Writer<W>,
    mut after_row: F,
) -> Result<()>
where
    W: Write,
    F: FnMut(&[u8], &[std::ops::Range<usize>], &mut Writer<W>) -> Result<()>,
{
    let query_error = |action, source| Error::Query {
        stream: Some(layout.tap_stream_id.to_owned()),
        action,
        source,
    };
    let time_extracted = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, false);
    let mut record = Vec::with_capacity(1024);
    let mut key_ranges = vec![0..0; layout.key_columns.len()];
    // Rows stream in as the server sends them (the socket is the
    // backpressure), so reading overlaps the server's work, as COPY does.
    while let Some(row) = rows.next().map_err(|e| query_error("reading rows", e))? {
        record.clear();
        record.push(b'{');
        for (i, column) in layout.columns.iter().enumerate() {
            if i > 0 {
                record.push(b',');
            }
            record.extend_from_slice(&column.key_json);
            let raw: Option<RawColumn<'_>> = row
                .try_get(i)
                .map_err(|e| query_error("decoding a row", e))?;
            let start = record.len();
            column
                .codec
                .encode(raw.map(|r| r.0), &mut record, stats)
                .map_err(|source| Error::Encode {
                    stream: layout.tap_stream_id.to_owned(),
                    column: column.name.clone(),
                    source,
                })?;
            if let Some(k) = layout.key_columns.iter().position(|&kc| kc == i)
                && let Some(range) = key_ranges.get_mut(k)
            {
                *range = start..record.len();
            }
        }
        record.extend_from_slice(layout.suffix);
        record.push(b'}');
        out.write_record_raw(
            layout.stream,
            &record,
            layout.version,
            Some(&time_extracted),
        )
        .map_err(|source| Error::Output { source })?;
        after_row(&record, &key_ranges, out)?;
    }
    Ok(())
}

/// The bookmark key of the last primary key emitted by an unfinished
/// FULL_TABLE sync (pipelinewise's name).
const LAST_PK_FETCHED: &str = "last_pk_fetched";

pub(crate) fn reconnect(connector: &Connector, stream: &str) -> Result<Client> {
    connector.connect().map_err(|error| {
        warn!(stream = %stream, error = %error, "Reconnect failed.");
        error
    })
}

/// A new table version: milliseconds since the epoch (what pipelinewise and
/// the SDK use).
pub(crate) fn new_version() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or_default()
}

/// A rendered JSON value as the text PostgreSQL parses back into the
/// column's type: a string's content, or a number's digits.
fn json_to_text(raw: &[u8]) -> String {
    match serde_json::from_slice::<Value>(raw) {
        Ok(Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::from_utf8_lossy(raw).into_owned(),
    }
}

/// Quotes an SQL identifier.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

pub(crate) fn write_message<W: Write>(out: &mut Writer<W>, message: &Message) -> Result<()> {
    out.write(message)
        .map_err(|source| Error::Output { source })
}

pub(crate) fn write_state<W: Write>(out: &mut Writer<W>, state: &State) -> Result<()> {
    write_message(
        out,
        &Message::State(StateMessage {
            value: state.to_value(),
        }),
    )
}

/// The raw binary bytes of one column value, whatever its type.
struct RawColumn<'a>(&'a [u8]);

impl<'a> FromSql<'a> for RawColumn<'a> {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Self(raw))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident("Weird \"name\""), "\"Weird \"\"name\"\"\"");
    }

    #[test]
    fn json_values_become_parse_back_text() {
        assert_eq!(
            json_to_text(b"\"2024-01-01T00:00:00.000000+00:00\""),
            "2024-01-01T00:00:00.000000+00:00"
        );
        assert_eq!(
            json_to_text(b"12345678901234567890"),
            "12345678901234567890"
        );
        assert_eq!(json_to_text(b"\"12.50\""), "12.50");
    }
}
