//! Integration tests of the Snowflake loader, through the real client and
//! HTTP, against the local Snowflake double (fakesnow behind
//! `singer-testkit`'s wrapper); the same tests run against a real account
//! with the `singer-target-snowflake-live-tests` feature.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::needless_pass_by_value,
    reason = "test helpers abort loudly on a broken fixture"
)]

mod evolution;
mod loading;
mod login;
// Faults are injected by the double only.
#[cfg(not(feature = "singer-target-snowflake-live-tests"))]
mod retries;
mod state;
// Faults are injected by the double only.
#[cfg(not(feature = "singer-target-snowflake-live-tests"))]
mod staging;
mod support;
mod types;
