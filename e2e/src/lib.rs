//! End-to-end harness for the workspace's binaries, as users run them.
//!
//! - [`binaries`]: finds (and builds) `tap-postgres`, `target-csv` and
//!   `target-snowflake` for tests of this package, which cannot use
//!   `CARGO_BIN_EXE_*`.
//! - [`crash`]: `tap-postgres | <target>` killed with SIGKILL at random
//!   points, resumed from the last state the target wrote, and the
//!   destination compared with the source. Generic over the target
//!   ([`crash::Destination`]); `target-csv` is [`crash::CsvDestination`],
//!   `target-snowflake` (upsert, against the Snowflake double) is
//!   [`crash::SnowflakeDestination`].
//!
//! The tests (`tests/it`) run the CI-sized crash scenario and Meltano with
//! `fixtures/meltano`; the binary `crash-resume` (and
//! `benches/crash-resume.sh`) runs longer scenarios by hand.
//!
//! ```
//! use singer_e2e::crash::Rng;
//!
//! let (mut a, mut b) = (Rng::new(7), Rng::new(7));
//! assert_eq!(a.between(1, 6), b.between(1, 6));
//! assert!((1..=6).contains(&a.between(1, 6)));
//! # Ok::<(), singer_e2e::Error>(())
//! ```
#![warn(missing_docs)]

pub mod binaries;
pub mod crash;
mod error;

pub use error::{Error, Result};
