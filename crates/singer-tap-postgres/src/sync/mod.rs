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

mod log_based;
mod parallel;
mod plan;
mod read;

use std::io::Write;
use std::time::Duration;

use serde_json::Value;
use singer_protocol::{Catalog, CatalogEntry, ReplicationMethod, RetryPolicy, Writer};
use singer_state::State;
use tracing::warn;

use self::plan::StreamPlan;
use crate::connect::Connector;
use crate::discovery::{DiscoveryFilter, discover};
use crate::error::{Error, Result};
use crate::session::Session;
use crate::stream::write_state;
use crate::types::ValuePolicy;

/// How a sync runs.
///
/// Retries: a transient failure (a dropped connection, an I/O error,
/// SQLSTATE 40001, 40P01, 57P01 or 08xxx; see [`Error::is_retryable`])
/// reconnects and resumes the stream after a capped exponential backoff
/// with full jitter (up to 1 s before the first retry, doubling to at most
/// 30 s). A stream (or manifest table) makes at most `max_retries + 1`
/// attempts in all: the first and `max_retries` retries, counted over the
/// whole stream, never per statement.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// Emit STATE every this many records within a stream.
    pub state_interval: u64,
    /// pipelinewise's rows-per-fetch setting, accepted for compatibility:
    /// rows are streamed, so memory is bounded without it.
    pub itersize: u32,
    /// Retries (each after a reconnect) per stream after transient
    /// failures, after the first attempt: at most `max_retries + 1`
    /// attempts per stream.
    pub max_retries: u32,
    /// Method for selected streams whose catalog names none.
    pub default_method: Option<ReplicationMethod>,
    /// What to do with values a target cannot hold as such.
    pub policy: ValuePolicy,
    /// Interval between Singer `METRIC` `record_count` lines per stream
    /// (logged on stderr while a stream reads, and at its end).
    pub metrics_interval: Duration,
    /// Live progress (records per stream, of the table's row estimate for
    /// FULL_TABLE), a few times a second; `None`: none.
    pub progress: Option<singer_protocol::Progress>,
    /// Connections reading at once (streams concurrently, big FULL_TABLE
    /// copies in ranges inside one shared snapshot); 1: one stream after
    /// the other, each in one statement.
    pub parallelism: usize,
    /// FULL_TABLE streams whose row estimate is below this are not split
    /// into ranges for parallel readers (`max_rows_per_statement` still
    /// splits any table estimated above it).
    pub parallel_min_rows: u64,
    /// When set, a FULL_TABLE copy is split into ranges of about this many
    /// rows (estimated), so that no statement reads more (also with
    /// `parallelism` 1).
    pub max_rows_per_statement: Option<u64>,
    /// LOG_BASED's slot and publication.
    pub logical: LogicalOptions,
}

/// The names LOG_BASED uses (pipelinewise's defaults when unset).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogicalOptions {
    /// The replication slot (`replication_slot_name`); default
    /// `pipelinewise_<dbname>[_<tap_id>]`.
    pub slot: Option<String>,
    /// The publication (`publication_name`); default as the slot's.
    pub publication: Option<String>,
    /// pipelinewise's `tap_id`, part of the default names.
    pub tap_id: Option<String>,
}

impl Default for SyncOptions {
    fn default() -> Self {
        Self {
            state_interval: 10_000,
            itersize: 20_000,
            max_retries: 3,
            default_method: None,
            policy: ValuePolicy::default(),
            metrics_interval: Duration::from_secs(60),
            progress: None,
            parallelism: 1,
            parallel_min_rows: 100_000,
            max_rows_per_statement: None,
            logical: LogicalOptions::default(),
        }
    }
}

impl SyncOptions {
    /// The retry policy of a stream's reads: `max_retries` retries after the
    /// first attempt, backoff up to 1 s doubling to at most 30 s.
    pub(crate) fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy::new()
            .with_retries(self.max_retries)
            .with_backoff(Duration::from_secs(1), Duration::from_secs(30))
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
    let mut session = Session::connect(connector, options.retry_policy())?;
    let mut schemas: Vec<String> = selected.iter().map(|e| table_ref(e).0).collect();
    schemas.sort();
    schemas.dedup();
    let filter = DiscoveryFilter {
        schemas,
        include: Vec::new(),
        exclude: Vec::new(),
    };
    let tables = discover(session.client(), &filter, options.policy)
        .map_err(|source| Error::Discovery { source })?;
    let mut plans = Vec::new();
    let mut log_streams = Vec::new();
    for entry in selected {
        let plan = StreamPlan::new(entry, &tables, options)?;
        if plan.method == ReplicationMethod::LogBased {
            log_streams.push(log_based::LogStream { entry, plan });
        } else {
            plans.push(plan);
        }
    }
    let resuming_split = plans.iter().any(|plan| {
        state
            .bookmark(&plan.tap_stream_id)
            .is_some_and(|b| b.extra.contains_key(parallel::PENDING_RANGES))
    });
    let parallel =
        options.parallelism > 1 || options.max_rows_per_statement.is_some() || resuming_split;
    // The parallel path gives the connection up; key sets connect again
    // only if there are any.
    let mut kept = None;
    let mut summaries = if plans.is_empty() {
        kept = Some(session);
        Vec::new()
    } else if parallel {
        drop(session);
        parallel::sync_parallel(connector, &plans, &mut state, options, out)?
    } else {
        let mut summaries = Vec::new();
        for plan in &plans {
            let summary = plan.run(&mut session, &mut state, options, out)?;
            summaries.push(summary);
        }
        state.set_currently_syncing(None);
        write_state(out, &state)?;
        kept = Some(session);
        summaries
    };
    if !log_streams.is_empty() {
        summaries.extend(log_based::sync_log_based(
            connector,
            &mut log_streams,
            &mut state,
            options,
            out,
        )?);
        state.set_currently_syncing(None);
        write_state(out, &state)?;
    }
    // Deletes detection: each key set is read after every stream's rows
    // (any snapshot after a stream's read holds all its live keys).
    let all_plans = plans.iter().chain(log_streams.iter().map(|s| &s.plan));
    for read in all_plans.filter_map(|plan| plan.key_set(options)) {
        let session = match &mut kept {
            Some(session) => session,
            None => kept.insert(Session::connect(connector, options.retry_policy())?),
        };
        read.run(session, &state, out)?;
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The reconnect backoff (formerly `Connector::backoff`): up to 1 s
    /// before the first retry, doubling, capped at 30 s; `max_retries`
    /// retries after the first attempt.
    #[test]
    fn backoff_is_capped() {
        let options = SyncOptions {
            max_retries: 5,
            ..SyncOptions::default()
        };
        let policy = options.retry_policy();
        assert_eq!(policy.max_attempts, 6);
        assert_eq!(policy.retries(), 5);
        for seed in 0..50 {
            assert!(policy.backoff(1, seed) <= Duration::from_secs(1));
            assert!(policy.backoff(3, seed) <= Duration::from_secs(4));
            assert!(policy.backoff(40, seed) <= Duration::from_secs(30));
        }
        assert_eq!(policy.initial_backoff, Duration::from_secs(1));
        assert_eq!(policy.max_backoff, Duration::from_secs(30));
    }
}
