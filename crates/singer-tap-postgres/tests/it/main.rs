//! Integration tests of singer-tap-postgres against the real, throwaway
//! PostgreSQL that `singer-testkit` starts.

#![allow(
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers: a failed expectation is the test failing"
)]

mod log_based;
mod manifest;
mod parallel;
mod sync;
mod tls;
