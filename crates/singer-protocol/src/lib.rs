//! The Singer protocol: message types, a streaming reader and writer,
//! catalogs with the selection rules, and the command-line and configuration
//! conventions shared by taps and targets.
//!
//! This crate sits at the bottom of the workspace: it knows nothing of
//! databases, files or networks, and never touches stdin or stdout itself;
//! it works on [`std::io::BufRead`] and [`std::io::Write`] so that binaries
//! (and other Rust tools) hand it their own streams.
//!
//! Values are exact. A record is kept as the raw JSON text it arrived in, so
//! `12345678901234567890.123456789012345678` or `1e400` is written back byte
//! for byte; nothing goes through `f64` unless a caller asks for it.
//!
//! ```
//! use singer_protocol::{Message, Reader, Writer};
//!
//! let input = concat!(
//!     r#"{"type":"SCHEMA","stream":"accounts","schema":{"properties":{"balance":{"type":"string","format":"x-singer.decimal"}}},"key_properties":[]}"#, "\n",
//!     r#"{"type":"RECORD","stream":"accounts","record":{"balance":12345678901234567890.123456789012345678}}"#, "\n",
//!     r#"{"type":"STATE","value":{"bookmarks":{}}}"#, "\n",
//! );
//! let mut writer = Writer::new(Vec::new());
//! for message in Reader::new(input.as_bytes()) {
//!     let message = message?;
//!     writer.write(&message.message).map_err(|source| singer_protocol::Error::Read { line: message.line, source })?;
//! }
//! assert_eq!(String::from_utf8_lossy(writer.get_ref()), input);
//! # Ok::<(), singer_protocol::Error>(())
//! ```
//!
//! The wire format of every message type is documented in [`message`].
//!
//! For a whole tap built on this crate (flags, `--config` files and
//! environment variables, `--about`, `--discover`/`--catalog`, the
//! [`Writer`]), see the example `examples/tap-csv-file` in the repository;
//! `examples/target-jsonl` shows a target.

#![warn(missing_docs)]

mod about;
mod blocks;
mod catalog;
mod cli;
mod config;
mod decimal;
mod error;
mod json_text;
pub mod key_set;
pub mod message;
mod progress;
mod reader;
mod record_line;
mod retry;
pub mod settings;
pub mod temporal;
mod writer;

pub use about::{About, AboutFormat, Setting, SettingKind};
pub use blocks::{BlockReader, DEFAULT_BLOCK_BYTES, LineBlock};
pub use catalog::{
    Catalog, CatalogEntry, FORCED_REPLICATION_METHOD, INCLUSION, Inclusion, Metadata,
    MetadataEntry, REPLICATION_KEY, REPLICATION_METHOD, ReplicationMethod, SELECTED,
    SELECTED_BY_DEFAULT, TABLE_KEY_PROPERTIES, TOP_KEY_PROPERTIES, TOP_REPLICATION_KEY,
    TOP_REPLICATION_METHOD, UnknownReplicationMethod, VALID_REPLICATION_KEYS,
};
pub use cli::{CommonArgs, Flag, TapArgs, TargetArgs, lexopt, value as flag_value};
pub use config::{
    AtLeastOne, ConfigSource, LoadedConfig, SecretString, load_config, load_config_with_env,
};
pub use decimal::{Decimal, DecimalSyntaxError, MAX_DIVISOR_DIGITS};
pub use error::{Error, ErrorChain, Result};
pub use json_text::{json_string_content, push_json_string};
pub use message::{
    ActivateVersionMessage, BatchEncoding, BatchMessage, Message, RecordMessage, SchemaMessage,
    StateMessage,
};
pub use progress::{Progress, ProgressSink};
pub use reader::{DEFAULT_MAX_LINE_BYTES, LineMessage, LineReader, Reader, line_text};
pub use record_line::{PropertySpan, RecordLine, all_array_elements, all_object_members};
pub use retry::{RetryAttempt, RetryPolicy, Retryable};
pub use writer::{RecordFrame, Writer};

/// What [`settings!`] expands to needs; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use serde;
    pub use serde_json;
}
