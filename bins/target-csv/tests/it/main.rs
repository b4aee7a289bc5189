//! Integration tests of the `target-csv` binary, fed fixture files.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers abort loudly on a broken fixture"
)]

mod support;

mod corpus;
mod crash;
mod errors;
mod golden;
mod modes;
mod settings;
mod values;
