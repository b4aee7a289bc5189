//! Integration tests of the driver with a recording test loader.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers abort loudly on a broken fixture"
)]

mod support;

mod errors;
mod memory;
mod progress;
mod schema_changes;
mod state;
