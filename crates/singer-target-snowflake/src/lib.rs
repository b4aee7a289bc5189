//! The Snowflake loader behind `target-snowflake`: one
//! [`singer_target::Loader`] that creates and evolves tables from Singer
//! schemas, stages batches in the session and makes them durable in one
//! transaction per commit (the driver commits at STATE boundaries).
//!
//! Sits on top of `singer-target` (reading, validation, batching, retries,
//! the STATE rule) and below the `target-snowflake` binary; talks to
//! Snowflake over HTTP with `snowflake-connector-rs`.
//!
//! - **Tables** ([`table_for_stream`], [`column_names`]): identifiers are
//!   always quoted, folded to upper case by default (pipelinewise's habit);
//!   `<schema>-<table>` streams go to `default_target_schema` (or
//!   `schema_mapping`), manifest streams (`GITLAB_DB_ISSUES`) keep their
//!   name. Collisions are errors, never merges.
//! - **Types** ([`SqlType`]): from `singer-schema`'s logical types:
//!   `NUMBER(p,s)`, `NUMBER(38,0)`, `FLOAT`, `BOOLEAN`, `VARCHAR(n)`,
//!   `VARIANT`, `DATE`, `TIME`, `TIMESTAMP_NTZ`/`_TZ`, `BINARY`. A new
//!   SCHEMA (or an existing table from an earlier run) is reconciled by
//!   `singer-schema`'s evolution rules: columns are added, widened in place
//!   (`VARCHAR` length, `NUMBER` precision) or by copy (integer → decimal,
//!   date → timestamp, anything → `VARCHAR`); an incompatible change fails
//!   naming table, column, old and new type.
//! - **Loading**: each batch is staged into a session-local temporary
//!   table by binding JSON arrays (split under Snowflake's 16 MB bind
//!   limit) to `INSERT ... SELECT ... FROM TABLE(FLATTEN(INPUT =>
//!   PARSE_JSON(?)))`; nothing reaches the stream's table until the commit,
//!   which applies every staging table and queued ACTIVATE_VERSION in order
//!   in one transaction (DDL runs only between commits, so it never
//!   commits staged rows early): `upsert` MERGEs on the key properties
//!   keeping the last record per key (row numbers run across batches),
//!   `append-only` INSERTs, `overwrite` empties the table at the stream's
//!   first batch of the run. `hard_delete` deletes rows whose
//!   `_sdc_deleted_at` is set. ACTIVATE_VERSION leaves exactly the rows of
//!   the version (others deleted, or soft-deleted via `_sdc_deleted_at`).
//!   Values are bound, never spliced; decimals travel as text.
//! - **Failures**: transient ones (network, HTTP 5xx/429, an expired
//!   session) are retryable only while nothing is staged and uncommitted
//!   (the driver re-runs the batch on a new session); with rows staged
//!   they become [`Error::StagedRowsLost`] (the run fails, a rerun resumes
//!   from the last STATE); a failure during a commit is never retried.
//!   Others fail with Snowflake's error code and message.
//! - **Retries** (one [`singer_protocol::RetryPolicy`], never nested): with
//!   `max_retries` = N, each loader call is attempted at most N + 1 times
//!   in all, with capped, jittered backoff, by exactly one layer: the
//!   driver re-runs `write_batch` and `commit`, the loader re-runs
//!   `configure_stream`, `activate_version`, [`SnowflakeLoader::connect`]
//!   and its queries (which the driver does not retry); within one attempt
//!   each statement, and a login, is sent once. So no statement is sent
//!   more than N + 1 times for one call (default N = 4: 5 attempts).
//!
//! The `test-support` feature adds query helpers for test suites
//! (`SnowflakeLoader::query`, `query_text`); they are not part of the API.
//!
//! ```
//! use singer_target_snowflake::{ABOUT, LoadMethod, SnowflakeConfig, SqlType, TimestampType};
//! use singer_schema::ColumnType;
//!
//! assert!(ABOUT.setting("private_key_passphrase").is_some_and(|s| s.secret));
//! let config: SnowflakeConfig = serde_json::from_str(
//!     r#"{"account": "xy12345", "user": "LOADER", "password": "secret", "dbname": "RAW",
//!         "load_method": "append-only"}"#.replace("dbname", "database").as_str(),
//! ).map_err(|e| singer_target_snowflake::Error::Config { reason: e.to_string() })?;
//! assert_eq!(config.load_method, LoadMethod::AppendOnly);
//! assert!(!format!("{config:?}").contains("secret"));
//! let ty = SqlType::from_logical(ColumnType::Decimal { precision: 38, scale: 10 }, TimestampType::NTZ);
//! assert_eq!(ty.to_string(), "NUMBER(38,10)");
//! # Ok::<(), singer_target_snowflake::Error>(())
//! ```

#![warn(missing_docs)]

mod config;
mod connection;
mod encode;
mod error;
mod files;
mod loader;
mod naming;
mod stage;
mod types;

pub use config::{
    ABOUT, Credentials, IdentifierCase, LoadMethod, MAX_BIND_BYTES, SchemaMapping, SnowflakeConfig,
    SpecialValues, Staging, TimestampType, expand_query_tag,
};
pub use error::{Error, Result};
pub use files::FileStats;
pub use loader::{DELETED_AT, LoadStats, SnowflakeLoader, StreamStats, TABLE_VERSION};
pub use naming::{MAX_IDENTIFIER_CHARS, TableName, column_names, fold, quote, table_for_stream};
pub use types::{MAX_PRECISION, MAX_VARCHAR, SqlType};
