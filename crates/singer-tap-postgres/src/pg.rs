//! A blocking PostgreSQL client over tokio-postgres, the rust-postgres way
//! (a current-thread runtime and `block_on`), with one addition the
//! `postgres` crate cannot offer: [`RowIter::try_for_each`] takes up to
//! [`ROWS_PER_WAIT`] rows per `block_on` and hands them to its callback
//! outside the runtime.
//!
//! The `postgres` crate enters its runtime once per row (`RowIter::next`
//! is a `block_on`): on the 1M-row bench table that entry (the runtime's
//! context, its random seed, its clock, the waker) was about 15% of the
//! tap's CPU. Everything else here mirrors the `postgres` crate's methods
//! of the same names, so the code that queries reads the same.

use std::pin::Pin;

use futures_util::{FutureExt as _, StreamExt as _};
use postgres::types::{BorrowToSql, ToSql};
use postgres::{Error, IsolationLevel, Row, Statement};
use tokio::runtime::Runtime;
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres::{Config, RowStream, Socket, ToStatement};

/// Rows taken from the connection per entry into the runtime in
/// [`RowIter::try_for_each`] (at most: fewer when fewer have arrived).
const ROWS_PER_WAIT: usize = 256;

/// A connection: a tokio-postgres client and the runtime its connection
/// task runs on (only while a call waits on the server).
pub(crate) struct Client {
    runtime: Runtime,
    client: tokio_postgres::Client,
    /// The connection task (it ends after the client's Terminate).
    connection: Option<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").finish_non_exhaustive()
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        // What the `postgres` crate does: a Terminate message, then the
        // connection task runs until the server has it.
        self.client.__private_api_close();
        if let Some(connection) = self.connection.take() {
            // The timer is made inside the runtime (it needs its clock).
            let _ = self.runtime.block_on(async {
                tokio::time::timeout(std::time::Duration::from_secs(5), connection).await
            });
        }
    }
}

impl Client {
    /// Connects with `config` over `tls`.
    ///
    /// # Errors
    ///
    /// [`ConnectError::Postgres`] for the server's or the network's error,
    /// [`ConnectError::Runtime`] when the runtime does not start.
    pub(crate) fn connect<T>(config: &Config, tls: T) -> Result<Self, ConnectError>
    where
        T: MakeTlsConnect<Socket> + 'static + Send,
        T::TlsConnect: Send,
        T::Stream: Send,
        <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
    {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(ConnectError::Runtime)?;
        let (client, connection) = runtime
            .block_on(config.connect(tls))
            .map_err(ConnectError::Postgres)?;
        let connection = runtime.spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(error = %error, "The PostgreSQL connection ended with an error.");
            }
        });
        Ok(Self {
            runtime,
            client,
            connection: Some(connection),
        })
    }

    /// Connects to a libpq connection string without TLS (tests).
    #[cfg(test)]
    pub(crate) fn connect_str(params: &str) -> Result<Self, ConnectError> {
        let config: Config = params.parse().map_err(ConnectError::Postgres)?;
        Self::connect(&config, tokio_postgres::NoTls)
    }

    /// Runs `query` and collects its rows (tests).
    #[cfg(test)]
    pub(crate) fn query<T>(
        &mut self,
        query: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, Error>
    where
        T: ?Sized + ToStatement,
    {
        self.runtime.block_on(self.client.query(query, params))
    }

    /// The whole output of a `COPY ... TO STDOUT` (tests).
    #[cfg(test)]
    pub(crate) fn copy_out_all(&mut self, query: &str) -> Result<Vec<u8>, Error> {
        self.runtime.block_on(async {
            let stream = self.client.copy_out(query).await?;
            let mut stream = std::pin::pin!(stream);
            let mut data = Vec::new();
            while let Some(chunk) = stream.next().await {
                data.extend_from_slice(&chunk?);
            }
            Ok(data)
        })
    }

    /// Runs `query`, which answers exactly one row.
    pub(crate) fn query_one<T>(
        &mut self,
        query: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, Error>
    where
        T: ?Sized + ToStatement,
    {
        self.runtime.block_on(self.client.query_one(query, params))
    }

    /// Runs `query`, which answers at most one row.
    pub(crate) fn query_opt<T>(
        &mut self,
        query: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, Error>
    where
        T: ?Sized + ToStatement,
    {
        self.runtime.block_on(self.client.query_opt(query, params))
    }

    /// Runs statements separated by `;` (simple query protocol).
    pub(crate) fn batch_execute(&mut self, query: &str) -> Result<(), Error> {
        self.runtime.block_on(self.client.batch_execute(query))
    }

    /// Prepares `query`.
    pub(crate) fn prepare(&mut self, query: &str) -> Result<Statement, Error> {
        self.runtime.block_on(self.client.prepare(query))
    }

    /// Starts a transaction (read committed, read write); its `BEGIN` goes
    /// out with its first statement.
    pub(crate) fn transaction(&mut self) -> Transaction<'_> {
        Transaction::new(&self.runtime, &self.client, "BEGIN".to_owned())
    }

    /// A transaction with settings.
    pub(crate) fn build_transaction(&mut self) -> TransactionBuilder<'_> {
        TransactionBuilder {
            runtime: &self.runtime,
            client: &self.client,
            isolation: None,
            read_only: false,
        }
    }
}

/// Why a connection could not be made.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    /// The server's (or the network's) error.
    #[error(transparent)]
    Postgres(Error),
    /// The runtime did not start.
    #[error("starting the connection's runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

/// Settings of a transaction to start.
pub(crate) struct TransactionBuilder<'a> {
    runtime: &'a Runtime,
    client: &'a tokio_postgres::Client,
    isolation: Option<IsolationLevel>,
    read_only: bool,
}

impl<'a> TransactionBuilder<'a> {
    /// The isolation level.
    pub(crate) fn isolation_level(mut self, level: IsolationLevel) -> Self {
        self.isolation = Some(level);
        self
    }

    /// Read only or not.
    pub(crate) fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// Starts it: its `START TRANSACTION` goes out with its first
    /// statement, in the same round trip.
    pub(crate) fn start(self) -> Transaction<'a> {
        let mut begin = "START TRANSACTION".to_owned();
        let mut settings = Vec::new();
        if let Some(level) = self.isolation {
            settings.push(match level {
                IsolationLevel::ReadUncommitted => "ISOLATION LEVEL READ UNCOMMITTED",
                IsolationLevel::RepeatableRead => "ISOLATION LEVEL REPEATABLE READ",
                IsolationLevel::Serializable => "ISOLATION LEVEL SERIALIZABLE",
                _ => "ISOLATION LEVEL READ COMMITTED",
            });
        }
        if self.read_only {
            settings.push("READ ONLY");
        }
        if !settings.is_empty() {
            begin.push(' ');
            begin.push_str(&settings.join(", "));
        }
        Transaction::new(self.runtime, self.client, begin)
    }
}

/// An open transaction; dropped without [`Transaction::commit`], it rolls
/// back.
///
/// Its `BEGIN` is not sent on its own: it goes out with the transaction's
/// first statement (in one simple query, or pipelined ahead of an extended
/// query), so a read costs one round trip less (with many small tables,
/// one per table). An error of the `BEGIN` is that statement's error.
pub(crate) struct Transaction<'a> {
    runtime: &'a Runtime,
    client: &'a tokio_postgres::Client,
    /// The `BEGIN` not sent yet.
    begin: Option<String>,
    /// Whether COMMIT (or nothing, when nothing was sent) ended it.
    done: bool,
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if self.done || self.begin.is_some() {
            return;
        }
        // What tokio-postgres' own transaction does: the ROLLBACK is queued
        // (the first poll sends the request) and goes out with the
        // connection's next work; its answer is not awaited.
        let _ = self.client.batch_execute("ROLLBACK").now_or_never();
    }
}

impl<'a> Transaction<'a> {
    fn new(runtime: &'a Runtime, client: &'a tokio_postgres::Client, begin: String) -> Self {
        Self {
            runtime,
            client,
            begin: Some(begin),
            done: false,
        }
    }

    /// Runs `operation` with the pending `BEGIN` (if any) ahead of it on
    /// the connection, both sent before either answer is awaited.
    fn with_begin<T, F>(&mut self, operation: F) -> Result<T, Error>
    where
        F: std::future::Future<Output = Result<T, Error>>,
    {
        match self.begin.take() {
            None => self.runtime.block_on(operation),
            Some(begin) => {
                let client = self.client;
                self.runtime.block_on(async move {
                    // `join` polls the BEGIN first, so it is queued first.
                    let (began, result) =
                        futures_util::future::join(client.batch_execute(&begin), operation).await;
                    began?;
                    result
                })
            }
        }
    }

    /// Commits (nothing to do when no statement ran).
    pub(crate) fn commit(mut self) -> Result<(), Error> {
        self.done = true;
        if self.begin.is_some() {
            return Ok(());
        }
        self.runtime.block_on(self.client.batch_execute("COMMIT"))
    }

    /// Runs `query` and collects its rows.
    pub(crate) fn query<T>(
        &mut self,
        query: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, Error>
    where
        T: ?Sized + ToStatement,
    {
        let client = self.client;
        self.with_begin(client.query(query, params))
    }

    /// Starts `query`; its rows stream in.
    pub(crate) fn query_raw<T, P, I>(&mut self, query: &T, params: I) -> Result<RowIter<'_>, Error>
    where
        T: ?Sized + ToStatement,
        P: BorrowToSql,
        I: IntoIterator<Item = P>,
        I::IntoIter: ExactSizeIterator,
    {
        let client = self.client;
        let stream = self.with_begin(client.query_raw(query, params))?;
        Ok(RowIter {
            runtime: self.runtime,
            stream: Box::pin(stream),
        })
    }

    /// Runs statements separated by `;` (simple query protocol).
    pub(crate) fn batch_execute(&mut self, query: &str) -> Result<(), Error> {
        match self.begin.take() {
            Some(begin) => {
                let both = format!("{begin}; {query}");
                self.runtime.block_on(self.client.batch_execute(&both))
            }
            None => self.runtime.block_on(self.client.batch_execute(query)),
        }
    }
}

/// The rows of a query as they arrive.
pub(crate) struct RowIter<'a> {
    runtime: &'a Runtime,
    stream: Pin<Box<RowStream>>,
}

impl RowIter<'_> {
    /// The next row; `Ok(None)` after the last.
    pub(crate) fn next(&mut self) -> Result<Option<Row>, Error> {
        self.runtime.block_on(self.stream.next()).transpose()
    }

    /// Calls `each` with every row left, in order; stops at the first
    /// error, `each`'s or the server's (turned into `E` by `error`).
    ///
    /// Rows are taken from the connection [`ROWS_PER_WAIT`] at a time
    /// (one wait for the first, then those already received), so the
    /// runtime is entered once per batch, not once per row; `each` runs
    /// outside the runtime (it may block, or use another connection).
    pub(crate) fn try_for_each<E>(
        &mut self,
        mut each: impl FnMut(&Row) -> Result<(), E>,
        error: impl Fn(Error) -> E,
    ) -> Result<(), E> {
        let mut rows = Vec::with_capacity(ROWS_PER_WAIT);
        loop {
            let stream = &mut self.stream;
            let end = self
                .runtime
                .block_on(async {
                    match stream.next().await {
                        None => return Ok(true),
                        Some(row) => rows.push(row?),
                    }
                    while rows.len() < ROWS_PER_WAIT {
                        match stream.next().now_or_never() {
                            Some(Some(row)) => rows.push(row?),
                            Some(None) => return Ok(true),
                            // Nothing more received yet.
                            None => break,
                        }
                    }
                    Ok(false)
                })
                .map_err(&error)?;
            for row in rows.drain(..) {
                each(&row)?;
            }
            if end {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::expect_used,
        clippy::panic,
        reason = "tests: a failure must abort the test loudly"
    )]

    use super::*;

    fn client(name: &str) -> Client {
        let cluster =
            singer_testkit::postgres().expect("a throwaway PostgreSQL (see singer-testkit)");
        let db = cluster.create_database(name).expect("create database");
        Client::connect_str(&cluster.connection_string(&db)).expect("connect")
    }

    fn count(client: &mut Client) -> i64 {
        client
            .query_one("SELECT count(*) FROM t", &[])
            .expect("count")
            .get(0)
    }

    /// The deferred BEGIN: the first statement runs inside the transaction
    /// with its settings, whichever way it is sent; COMMIT keeps the work,
    /// a drop without it rolls back, and the connection stays usable.
    #[test]
    fn a_deferred_begin_opens_the_transaction_its_first_statement_runs_in() {
        let mut client = client("deferred_begin");
        client
            .batch_execute("CREATE TABLE t (v int)")
            .expect("table");

        // Extended query first: pipelined behind the START TRANSACTION.
        let mut tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start();
        let rows = tx
            .query(
                "SELECT current_setting('transaction_isolation'), \
                 current_setting('transaction_read_only')",
                &[],
            )
            .expect("settings");
        let isolation: String = rows[0].get(0);
        let read_only: String = rows[0].get(1);
        assert_eq!(
            (isolation.as_str(), read_only.as_str()),
            ("repeatable read", "on")
        );
        // A later statement runs in the same transaction (which started
        // before it, not with it as a statement on its own would).
        let later = tx
            .query("SELECT now() = statement_timestamp()", &[])
            .expect("later");
        assert!(!later[0].get::<_, bool>(0), "not inside one transaction");
        let refused = tx.batch_execute("INSERT INTO t VALUES (1)");
        assert!(refused.is_err(), "a read-only transaction took a write");
        drop(tx);

        // Simple query first: sent as one string with the BEGIN.
        let mut tx = client.transaction();
        tx.batch_execute("INSERT INTO t VALUES (1)")
            .expect("insert");
        tx.commit().expect("commit");
        assert_eq!(count(&mut client), 1);

        // Dropped without COMMIT: rolled back.
        let mut tx = client.transaction();
        tx.batch_execute("INSERT INTO t VALUES (2)")
            .expect("insert");
        let rows = tx.query("SELECT count(*) FROM t", &[]).expect("inside");
        assert_eq!(rows[0].get::<_, i64>(0), 2);
        drop(tx);
        assert_eq!(count(&mut client), 1);

        // A transaction that ran nothing sends nothing, and commits.
        client.transaction().commit().expect("empty commit");
        drop(client.transaction());
        assert_eq!(count(&mut client), 1);
    }

    /// A failing first statement reports its error, and the transaction
    /// it was in is rolled back on drop.
    #[test]
    fn a_failing_first_statement_fails_and_rolls_back() {
        let mut client = client("deferred_begin_error");
        client
            .batch_execute("CREATE TABLE t (v int)")
            .expect("table");
        let mut tx = client.transaction();
        let error = tx
            .query("SELECT no_such_column FROM t", &[])
            .expect_err("a bad column");
        assert_eq!(
            error.code(),
            Some(&postgres::error::SqlState::UNDEFINED_COLUMN),
            "{error:?}"
        );
        drop(tx);
        // Not left in an aborted transaction.
        assert_eq!(count(&mut client), 0);
        let mut tx = client.transaction();
        tx.batch_execute("INSERT INTO t VALUES (3)")
            .expect("insert");
        tx.commit().expect("commit");
        assert_eq!(count(&mut client), 1);
    }
}
