//! Integration tests of the CSV loader through its `Loader` interface.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "test helpers abort loudly on a broken fixture"
)]

mod commit;
