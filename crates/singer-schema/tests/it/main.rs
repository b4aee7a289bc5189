//! Integration tests for singer-schema.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers abort loudly on broken fixtures"
)]

mod columns;
mod evolution;
mod flattening;
mod peers;
mod validation;
