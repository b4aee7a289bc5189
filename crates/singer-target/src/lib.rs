//! The driver every Singer target shares.
//!
//! Sits between `singer-protocol`/`singer-schema` and the loaders
//! (`singer-target-csv`, `singer-target-snowflake`): a [`Driver`] reads
//! Singer messages, routes them per stream, validates records
//! (`singer-schema`, on by default), batches them per stream and hands the
//! batches to a [`Loader`], which only has to write a batch and commit. Both
//! targets therefore behave identically wherever the protocol decides.
//!
//! # The STATE rule
//!
//! A STATE value is written (the bare value, one line, via
//! [`singer_protocol::Writer::write_state_value`]) only after every record
//! that came before it, in every stream, has been committed by the loader.
//! The driver keeps the latest STATE received; it commits
//! ([`Loader::commit`], after writing every open batch) at the first batch
//! write or STATE once [`DriverConfig::commit_interval`] has passed, at the
//! end of the input and on SIGINT/SIGTERM, and writes that STATE right
//! after the commit succeeds. A STATE that arrives when nothing is
//! uncommitted is written at once. A state that was not received is never
//! written (no `{}`). On any error nothing more is written: the last line
//! of stdout is the state of the last successful commit.
//!
//! Once a STATE has arrived, a commit also waits until no record has come
//! after the latest STATE (it happens at a STATE, or on a tick when the
//! input is idle right after one), so a commit publishes exactly the
//! records that the STATE it writes covers: a resume from that STATE never
//! sends a committed record again. For the same reason, when the input
//! ends with records of a table version (a FULL_TABLE copy in progress)
//! after the last STATE and no ACTIVATE_VERSION after it, the tap died
//! mid-copy: nothing past the last STATE written is committed and the run
//! fails with [`Error::EndedWithoutState`] (other trailing records are
//! committed as usual: at-least-once). Found and checked by the
//! crash/resume test of `e2e/` (SIGKILLs at random points).
//!
//! # Batches and memory
//!
//! Each stream has one open [`Batch`] of raw JSON cells, closed (written)
//! on the first of [`BatchConfig::max_records`], [`BatchConfig::max_bytes`]
//! and [`BatchConfig::max_age`]; memory is bounded by those limits per
//! stream plus a few chunks of input in flight, whatever the stream length.
//! A new SCHEMA for a stream writes its open batch first, then reconfigures
//! the loader with the evolution decisions of [`singer_schema::plan`] (an
//! incompatible change fails the run); an identical SCHEMA is ignored.
//!
//! # Example
//!
//! ```
//! use singer_protocol::Writer;
//! use singer_target::{Batch, Driver, DriverConfig, Loader, Retryable, StreamSchema};
//!
//! #[derive(Debug, thiserror::Error)]
//! #[error("never fails")]
//! struct Never;
//! impl Retryable for Never {
//!     fn is_retryable(&self) -> bool { false }
//! }
//!
//! #[derive(Default)]
//! struct Rows { staged: Vec<String>, committed: Vec<String> }
//! impl Loader for Rows {
//!     type Error = Never;
//!     fn configure_stream(&mut self, _: &StreamSchema) -> Result<(), Never> { Ok(()) }
//!     fn write_batch(&mut self, _: &str, batch: &Batch) -> Result<(), Never> {
//!         for row in batch.rows() {
//!             self.staged.push(row.cells().map(|c| c.unwrap_or("NULL")).collect::<Vec<_>>().join("|"));
//!         }
//!         Ok(())
//!     }
//!     fn commit(&mut self) -> Result<(), Never> {
//!         self.committed.append(&mut self.staged);
//!         Ok(())
//!     }
//!     fn activate_version(&mut self, _: &str, _: u64) -> Result<(), Never> { Ok(()) }
//! }
//!
//! let input = concat!(
//!     r#"{"type":"SCHEMA","stream":"users","schema":{"properties":{"id":{"type":"integer"},"balance":{"type":"number"}}},"key_properties":["id"]}"#, "\n",
//!     r#"{"type":"RECORD","stream":"users","record":{"id":1,"balance":12345678901234567890.10}}"#, "\n",
//!     r#"{"type":"STATE","value":{"bookmarks":{"users":{"id":1}}}}"#, "\n",
//! );
//! let mut out = Writer::new(Vec::new());
//! let mut driver = Driver::new(Rows::default(), DriverConfig::default());
//! let summary = driver.run(std::io::Cursor::new(input), &mut out)?;
//! assert_eq!(summary.records, 1);
//! assert_eq!(driver.loader().committed, ["1|12345678901234567890.10"]);
//! assert_eq!(String::from_utf8_lossy(out.get_ref()), "{\"bookmarks\":{\"users\":{\"id\":1}}}\n");
//! # Ok::<(), singer_target::Error>(())
//! ```
//!
//! The example `examples/target-jsonl` in the repository is a whole target
//! built on this crate: a [`Loader`] writing JSON lines (under 100 lines)
//! and a `main` that runs the [`Driver`] over stdin; its test pipes the
//! example tap `examples/tap-csv-file` into it.

#![warn(missing_docs)]

mod config;
mod driver;
mod error;
mod loader;
mod metadata;
mod naming;
mod signal;
mod stream;

pub use config::{BatchConfig, DriverConfig, DriverSettings};
pub use driver::{Driver, Summary};
pub use error::{BoxError, Error, Result};
pub use loader::{Batch, Loader, LoaderError, Row, StreamSchema};
pub use metadata::MetadataColumn;
pub use naming::safe_name;
pub use signal::register_signals;
pub use singer_protocol::{RetryPolicy, Retryable};
