//! The CSV loader behind `target-csv`: one [`singer_target::Loader`] that
//! writes each stream to CSV files.
//!
//! Sits on top of `singer-target` (which owns reading, validation,
//! batching and the STATE rule) and below the `target-csv` binary.
//!
//! - One file per stream under `destination_path`, named by
//!   `file_naming_scheme` (`{stream}-{timestamp}.csv` by default); stream
//!   names are made safe for file systems (a hash is appended whenever a
//!   name had to change, so two streams never share a file).
//! - The header is the SCHEMA's properties in schema order; a SCHEMA that
//!   changes the columns starts a new file part with the new header.
//! - Values are exact: numbers with every digit they arrived with, nested
//!   objects and arrays as JSON text, strings quoted so that any CSV reader
//!   gets them back, NULL (the `null_value` token, unquoted) distinct from
//!   `''` (always written `""`).
//! - Commit = durable: rows go to `<name>.partial`, which is fsynced and
//!   renamed into place on commit, so a crash never leaves a file a reader
//!   would mistake for complete, and a rerun never touches earlier files
//!   (`append`) or replaces them atomically (`overwrite`).
//!
//! ```
//! use singer_target_csv::{ABOUT, CsvConfig, Mode};
//!
//! assert!(ABOUT.setting("output_path").is_some());
//! let config = CsvConfig { mode: Mode::Overwrite, ..CsvConfig::default() };
//! assert_eq!(config.naming_scheme(), "{stream}.csv");
//! assert_eq!(config.dialect()?, (b',', b'"', &b"\n"[..]));
//! # Ok::<(), singer_target_csv::Error>(())
//! ```

#![warn(missing_docs)]

mod config;
mod encode;
mod error;
mod loader;
mod naming;

pub use config::{ABOUT, Compression, CsvConfig, Mode};
pub use error::{Error, Result};
pub use loader::{CsvLoader, PARTIAL_SUFFIX, VERSIONS_FILE, stream_files};
