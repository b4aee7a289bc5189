//! The PostgreSQL Singer extractor (tap-postgres), as a library.
//!
//! It sits between PostgreSQL and any Singer target: [`discover_catalog`]
//! builds a catalog from `pg_catalog` in a fixed number of queries, and
//! [`sync`] streams the selected tables as Singer messages (FULL_TABLE,
//! resumable and versioned; INCREMENTAL, ordered by the replication key),
//! rendering every value exactly from PostgreSQL's binary format. The
//! [`manifest::sync_manifest`] runs GitLab postgres_pipeline manifests
//! (manifest mode) through the same row rendering. The `tap-postgres`
//! binary is a thin wrapper around these calls.
//!
//! ```no_run
//! use singer_protocol::{Catalog, Writer, load_config, ConfigSource};
//! use singer_tap_postgres::{ABOUT, Connector, SyncOptions, TapConfig, discover_catalog, sync};
//!
//! let config = load_config::<TapConfig>(&[ConfigSource::File("config.json".into())], &ABOUT)?.config;
//! let connector = Connector::new(&config)?;
//! let mut catalog = discover_catalog(&connector, &config)?;
//! for entry in &mut catalog.streams {
//!     entry.metadata.set::<&str>(&[], "selected", true.into());
//! }
//! let mut out = Writer::new(std::io::sink());
//! let summaries = sync(&connector, &catalog, singer_state::State::new(), &SyncOptions::default(), &mut out)?;
//! assert_eq!(summaries.len(), catalog.streams.len());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

mod config;
mod connect;
mod discovery;
mod error;
mod ident;
mod keyset;
mod logical;
pub mod manifest;
mod parallel;
mod pg;
mod session;
mod stream;
mod sync;
mod types;

pub use config::{ABOUT, SettingError, SslMode, TapConfig};
pub use connect::Connector;
pub use discovery::DiscoveryError;
pub use error::{Error, Result};
pub use logical::DecodeError;
pub use sync::{LogicalOptions, StreamSummary, SyncOptions, sync};
pub use types::{EncodeError, NumberSpecialPolicy, SpecialValue, SpecialValuePolicy, ValuePolicy};

use singer_protocol::Catalog;

/// Discovers the tables, views and materialized views the configuration
/// allows, as a Singer catalog (nothing selected).
///
/// # Errors
///
/// [`Error::Connect`] or [`Error::Discovery`].
pub fn discover_catalog(connector: &Connector, config: &TapConfig) -> Result<Catalog> {
    let mut client = connector.open()?;
    let filter = discovery::DiscoveryFilter {
        schemas: config.filter_schemas.clone(),
        include: config.include_tables.clone(),
        exclude: config.exclude_tables.clone(),
    };
    let tables = discovery::discover(&mut client, &filter, config.special_values)
        .map_err(|source| Error::Discovery { source })?;
    let database = connector.dbname().unwrap_or_default();
    Ok(Catalog {
        streams: tables.iter().map(|t| t.catalog_entry(database)).collect(),
    })
}

impl SyncOptions {
    /// The sync options a configuration asks for.
    ///
    /// # Errors
    ///
    /// [`Error::Setting`] for a bad `default_replication_method`.
    pub fn from_config(config: &TapConfig) -> Result<Self> {
        Ok(Self {
            state_interval: config.state_interval.max(1),
            itersize: config.itersize.max(1),
            max_retries: config.max_retries,
            default_method: config
                .default_replication_method()
                .map_err(|source| Error::Setting { source })?,
            policy: config.special_values,
            metrics_interval: std::time::Duration::from_secs(config.metrics_interval_seconds.get()),
            progress: None,
            parallelism: usize::try_from(config.parallelism.get()).unwrap_or(1),
            parallel_min_rows: config.parallel_min_rows,
            max_rows_per_statement: config.max_rows_per_statement.filter(|n| *n > 0),
            logical: LogicalOptions {
                slot: config.replication_slot_name.clone(),
                publication: config.publication_name.clone(),
                tap_id: config.tap_id.clone(),
            },
        })
    }
}
