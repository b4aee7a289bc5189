//! Integration tests of singer-protocol: golden fixtures, error fixtures and
//! exact-number properties.

#![allow(
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers: a failed expectation is the test failing"
)]

mod fixtures;
mod numbers;
