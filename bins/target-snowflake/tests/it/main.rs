//! The target-snowflake binary: CLI conventions, and `tap-postgres |
//! target-snowflake` end to end against the throwaway PostgreSQL and the
//! Snowflake double.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::needless_pass_by_value,
    reason = "test helpers abort loudly on a broken fixture"
)]

mod cli;
mod corpus;
mod pipeline;
mod settings;
mod support;
