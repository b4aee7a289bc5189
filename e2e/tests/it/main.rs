//! End-to-end tests: Meltano with our binaries as custom plugins
//! (`meltano`), and crash/resume of `tap-postgres | target-csv` (`crash`)
//! and of `tap-postgres | target-snowflake` (upsert) against the Snowflake
//! double (`crash_snowflake`).
//!
//! The binaries are built by the harness (`singer_e2e::binaries`): it runs
//! `cargo build -p tap-postgres -p target-csv -p target-snowflake` in this
//! test's profile
//! first, so `cargo test -p singer-e2e` alone tests fresh binaries.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stderr,
    reason = "test helpers abort loudly and print what they ran"
)]

mod airflow;
mod crash;
mod crash_snowflake;
mod deletes;
mod log_based;
mod meltano;
mod peers;
mod pipe;
mod reconcile;
mod singer_run;
mod venv;
mod wheels;
