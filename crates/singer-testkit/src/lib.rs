//! Test support for the Singer workspace: a throwaway PostgreSQL cluster,
//! and the walk of the bad-input corpus ([`corpus`]).
//!
//! [`postgres()`] starts one PostgreSQL cluster per test binary from the
//! server binaries installed on the machine (see [`bin_dir()`]), in a fresh
//! temporary directory, listening on `127.0.0.1` on a free port with `trust`
//! authentication and durability off. Every test of the binary shares it and
//! isolates itself with its own database from
//! [`Cluster::create_database`]. When the test process exits, however it
//! exits, a small reaper process stops the server and deletes the directory.
//!
//! When the tests run as root, `initdb` and `pg_ctl` run as the `postgres`
//! system user (PostgreSQL refuses to run as root).
//!
//! Tests must not skip when PostgreSQL is missing: call `.expect()` on
//! [`postgres()`], and the failure says how to install it.
//!
//! ```
//! let cluster = singer_testkit::postgres()?;
//! let db = cluster.create_database("orders")?;
//! let mut client = cluster.connect(&db)?;
//! let row = client.query_one("SELECT 1::int4", &[])?;
//! assert_eq!(row.try_get::<_, i32>(0)?, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`snowflake_double()`] starts, once per test binary, fakesnow (Snowflake
//! emulated on DuckDB, from the venv `scripts/setup` creates under
//! `target/fakesnow/venv`, see [`venv_dir()`]) behind our wrapper server
//! [`wrapper_path()`], which fixes what `snowflake-connector-rs` cannot read
//! from fakesnow. It listens on a free port of `127.0.0.1` and exits when
//! the test process does. Each test isolates itself with
//! [`SnowflakeDouble::isolated_database`] (the `FAKESNOW_DB_PATH` login
//! session parameter). A missing venv is an error saying how to create it.
#![warn(missing_docs)]

pub mod bench;
mod bindir;
mod cluster;
pub mod corpus;
mod error;
mod moto;
mod settings_doc;
mod snowflake;
mod user;

pub use bindir::{BINDIR_ENV, bin_dir};
pub use cluster::{Cluster, postgres};
pub use error::Error;
pub use moto::{Fetched, MOTO_BUCKET, MOTO_REGION, Moto};
pub use settings_doc::{binary_settings_drift, render_drift, settings_drift};
pub use snowflake::{
    FAKESNOW_REQUIREMENTS, FAKESNOW_VENV_ENV, SnowflakeDouble, isolated_database_name,
    snowflake_double, venv_dir, wrapper_path,
};
