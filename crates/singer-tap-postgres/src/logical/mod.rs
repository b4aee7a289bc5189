//! LOG_BASED replication's server-facing parts: the pgoutput decoder
//! (`decode`, I/O-free) and the slot and publication (`slot`). The replay
//! into records lives with the other catalog-mode reads
//! (`sync::log_based`), on the same codecs as FULL_TABLE.
//!
//! The transport is pgoutput through `pg_logical_slot_peek_binary_changes`
//! on an ordinary connection (no replication protocol, no extension): a
//! peek never moves the slot; the slot moves only at the start of a run,
//! to the lowest position in the state handed in, which is the target's
//! (what it committed).

mod decode;
mod slot;

use serde_json::{Value, json};

pub use self::decode::DecodeError;
pub(crate) use self::decode::{Message, Relation, Tuple, Value as TupleValue, decode, lsn_text};
pub(crate) use self::slot::{
    Names, Published, advance, confirmed_flush, flush_lsn, prepare, wait_for_slot,
};

/// The bookmark key of a LOG_BASED stream's position: the end LSN of the
/// last commit fully emitted (pipelinewise's name; an integer).
pub(crate) const LSN: &str = "lsn";
/// Present (false) while a LOG_BASED stream's initial copy is unfinished.
pub(crate) const INITIAL_COPY_COMPLETE: &str = "initial_full_table_complete";
/// The commit LSN of a change (an integer, monotonic in output order).
pub(crate) const SDC_LSN: &str = "_sdc_lsn";
/// A deleted row's commit time.
pub(crate) const SDC_DELETED_AT: &str = "_sdc_deleted_at";

/// The properties every LOG_BASED stream's SCHEMA adds.
pub(crate) fn metadata_properties() -> [(&'static str, Value); 2] {
    [
        (SDC_LSN, json!({"type": ["null", "integer"]})),
        (
            SDC_DELETED_AT,
            json!({"type": ["null", "string"], "format": "date-time"}),
        ),
    ]
}
