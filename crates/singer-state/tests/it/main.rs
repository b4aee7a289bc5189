//! Integration tests of singer-state against a real, throwaway PostgreSQL
//! (started by singer-testkit from the machine's binaries).

// `allow-expect-in-tests` covers `#[test]` functions only; the helpers here
// must fail loudly too.
#![allow(clippy::expect_used, reason = "test helpers fail the test loudly")]

mod pg_store;

/// A fresh database on the shared throwaway cluster, and a way to connect
/// to it.
pub struct TestDb {
    cluster: &'static singer_testkit::Cluster,
    name: String,
}

impl TestDb {
    /// Creates a database named after `prefix`; fails the test (with the
    /// install hint) if PostgreSQL cannot start.
    pub fn new(prefix: &str) -> Self {
        let cluster = singer_testkit::postgres()
            .expect("the throwaway PostgreSQL must start (see the message for how to install it)");
        let name = cluster
            .create_database(prefix)
            .expect("create a test database");
        Self { cluster, name }
    }

    /// A new connection to the database.
    pub fn connect(&self) -> postgres::Client {
        self.cluster.connect(&self.name).expect("connect")
    }
}
