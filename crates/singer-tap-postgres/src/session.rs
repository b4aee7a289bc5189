//! The connection a sync reads through, and the one reconnect-and-retry
//! loop both modes share: a transient failure (see
//! [`Error::is_retryable`]) waits the [`RetryPolicy`]'s backoff, reconnects
//! and runs the operation again, at most `max_retries` times per stream.

use std::time::Instant;

use postgres::IsolationLevel;

use crate::pg::{Client, Transaction};
use singer_protocol::RetryPolicy;
use tracing::warn;

use crate::connect::Connector;
use crate::error::{Error, Result};

/// What a retry is for, as named in the log.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Subject<'a> {
    /// A catalog-mode stream (its tap_stream_id).
    Stream(&'a str),
    /// A manifest table (its key in the manifest).
    Table(&'a str),
}

impl Subject<'_> {
    fn name(&self) -> &str {
        match self {
            Self::Stream(name) | Self::Table(name) => name,
        }
    }
}

/// The retries one stream (or manifest table) has used, and when its first
/// attempt started (for the policy's time budget).
#[derive(Debug)]
pub(crate) struct RetryBudget {
    /// Retries used so far.
    pub(crate) retries: u32,
    started: Instant,
}

impl RetryBudget {
    /// A fresh budget, starting now.
    pub(crate) fn new() -> Self {
        Self {
            retries: 0,
            started: Instant::now(),
        }
    }
}

/// A connection plus what is needed to replace it after a transient failure.
pub(crate) struct Session<'a> {
    connector: &'a Connector,
    client: Client,
    policy: RetryPolicy,
}

impl<'a> Session<'a> {
    /// Connects through `connector`; retries follow `policy`.
    pub(crate) fn connect(connector: &'a Connector, policy: RetryPolicy) -> Result<Self> {
        Ok(Self {
            connector,
            client: connector.open()?,
            policy,
        })
    }

    /// How it connects (for a parallel run's other connections).
    pub(crate) fn connector(&self) -> &'a Connector {
        self.connector
    }

    /// The current connection.
    pub(crate) fn client(&mut self) -> &mut Client {
        &mut self.client
    }

    /// Runs `op` on the connection; after a transient failure that the
    /// policy allows (counting the retries `budget` already used), waits
    /// the backoff, reconnects and runs `op` again. A failed reconnect ends
    /// the loop with its error.
    pub(crate) fn with_retry<T>(
        &mut self,
        subject: Subject<'_>,
        budget: &mut RetryBudget,
        mut op: impl FnMut(&mut Client) -> Result<T>,
    ) -> Result<T> {
        loop {
            match op(&mut self.client) {
                Ok(value) => return Ok(value),
                Err(error)
                    if self.policy.allows(
                        budget.retries.saturating_add(1),
                        budget.started,
                        &error,
                    ) =>
                {
                    budget.retries = budget.retries.saturating_add(1);
                    let wait = self.policy.wait_before(budget.retries);
                    let attempt = budget.retries;
                    let wait_ms = wait.as_millis();
                    match subject {
                        Subject::Stream(stream) => {
                            warn!(stream = %stream, error = %error, attempt, wait_ms, "Transient failure: reconnecting and resuming the stream.");
                        }
                        Subject::Table(table) => {
                            warn!(table = %table, error = %error, attempt, wait_ms, "Transient failure: reconnecting and resuming.");
                        }
                    }
                    std::thread::sleep(wait);
                    self.client = self.reconnect(subject)?;
                }
                Err(error) => return Err(error),
            }
        }
    }

    fn reconnect(&self, subject: Subject<'_>) -> Result<Client> {
        self.connector.open().map_err(|error: Error| {
            warn!(stream = %subject.name(), error = %error, "Reconnect failed.");
            error
        })
    }
}

/// Starts the read-only, repeatable-read transaction every table read (and
/// discovery) runs in: one consistent snapshot per statement sequence.
/// Its `START TRANSACTION` goes out with its first statement.
pub(crate) fn begin_snapshot(client: &mut Client) -> Transaction<'_> {
    client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
}
