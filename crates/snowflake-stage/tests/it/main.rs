//! Integration tests of snowflake-stage against local doubles.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "test helpers abort loudly on a broken fixture"
)]

mod fakesnow;
mod moto;
