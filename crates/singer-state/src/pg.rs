//! A state table in PostgreSQL, one row per job.

use std::fmt;
use std::str::FromStr;

use postgres::Client;
use postgres::error::SqlState;

use crate::error::{Error, Result};
use crate::{State, StateStore};

/// PostgreSQL's identifier length limit in bytes (longer names are
/// truncated by the server, which would silently name another table).
const MAX_IDENTIFIER_BYTES: usize = 63;

/// A possibly schema-qualified table name, always quoted when used in SQL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TableName {
    schema: Option<String>,
    name: String,
}

impl TableName {
    /// An unqualified table name, found through the `search_path`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidTableName`] if the name is empty, longer than 63
    /// bytes or holds a NUL character.
    pub fn new(name: &str) -> Result<Self> {
        Ok(Self {
            schema: None,
            name: identifier(name, name)?,
        })
    }

    /// A table `name` in `schema`. Either part may hold any character,
    /// dots included.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidTableName`] if a part is empty, longer than 63 bytes or
    /// holds a NUL character.
    pub fn qualified(schema: &str, name: &str) -> Result<Self> {
        let whole = format!("{schema}.{name}");
        Ok(Self {
            schema: Some(identifier(schema, &whole)?),
            name: identifier(name, &whole)?,
        })
    }

    /// Parses `table` or `schema.table` (parts are taken literally, not
    /// unquoted; use [`TableName::qualified`] for names containing dots).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidTableName`] if there is more than one dot or a part
    /// is invalid.
    pub fn parse(text: &str) -> Result<Self> {
        let mut parts = text.split('.');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(name), None, None) => Self::new(name),
            (Some(schema), Some(name), None) => Self::qualified(schema, name),
            _ => Err(Error::InvalidTableName {
                name: text.to_owned(),
                reason: "use `table` or `schema.table` (with exactly one dot)",
            }),
        }
    }

    /// The schema, if the name is qualified.
    #[must_use]
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// The table name without its schema.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The name as SQL: each part double-quoted, inner quotes doubled.
    #[must_use]
    pub fn quoted(&self) -> String {
        match &self.schema {
            Some(schema) => format!("{}.{}", quote_ident(schema), quote_ident(&self.name)),
            None => quote_ident(&self.name),
        }
    }
}

impl Default for TableName {
    /// `singer_state`.
    fn default() -> Self {
        Self {
            schema: None,
            name: PgStateStore::DEFAULT_TABLE.to_owned(),
        }
    }
}

impl FromStr for TableName {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        Self::parse(text)
    }
}

impl fmt::Display for TableName {
    /// The quoted SQL form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.quoted())
    }
}

fn identifier(part: &str, whole: &str) -> Result<String> {
    let reason = if part.is_empty() {
        "a name part is empty"
    } else if part.len() > MAX_IDENTIFIER_BYTES {
        "a name part is longer than 63 bytes"
    } else if part.contains('\0') {
        "a name holds a NUL character"
    } else {
        return Ok(part.to_owned());
    };
    Err(Error::InvalidTableName {
        name: whole.to_owned(),
        reason,
    })
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Job states in a PostgreSQL table, one row per job id:
///
/// ```sql
/// CREATE TABLE IF NOT EXISTS singer_state (
///     job_id     text PRIMARY KEY,
///     state      jsonb NOT NULL,
///     updated_at timestamptz NOT NULL DEFAULT now()
/// )
/// ```
///
/// The store holds a session-level advisory lock for its job
/// (`pg_try_advisory_lock(LOCK_NAMESPACE, hashtext(job_id))`) for as long as
/// it lives, so a second concurrent run of the same job is refused with
/// [`Error::JobAlreadyRunning`]; runs of different jobs work side by side.
/// The lock is released when the store is dropped, and in any case when its
/// connection closes. (Two job ids with the same 32-bit `hashtext` would
/// exclude each other; that is the price of the two-integer lock form.)
///
/// The state goes to the server as text and comes back as text
/// (`$2::text::jsonb`, `state::text`), never through floating point, so
/// numbers keep every digit (`jsonb` keeps the digits of a `numeric`; it
/// writes an exponent form such as `1e3` as `1000`, which is the same
/// number). [`save`](StateStore::save) is one autocommit upsert: durable
/// when it returns, as far as the server's `synchronous_commit` makes it.
///
/// ```no_run
/// use singer_state::{PgStateStore, State, StateStore};
///
/// let client = postgres::Client::connect("host=localhost user=etl dbname=etl", postgres::NoTls)?;
/// let mut store = PgStateStore::new(client, "gitlab-db-users")?;
/// let mut state = store.load()?.unwrap_or_default();
/// state.set_currently_syncing(Some("public-users"));
/// store.save(&state)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct PgStateStore {
    client: Client,
    job_id: String,
    table: TableName,
    locked: bool,
}

impl fmt::Debug for PgStateStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStateStore")
            .field("job_id", &self.job_id)
            .field("table", &self.table)
            .field("locked", &self.locked)
            .finish_non_exhaustive()
    }
}

impl PgStateStore {
    /// The default state table.
    pub const DEFAULT_TABLE: &'static str = "singer_state";

    /// The first key of the job's advisory lock (`'SGST'`), so that these
    /// locks do not collide with other users of two-integer advisory locks.
    pub const LOCK_NAMESPACE: i32 = 0x5347_5354;

    /// A store for `job_id` in the default table [`DEFAULT_TABLE`], created
    /// if missing.
    ///
    /// [`DEFAULT_TABLE`]: Self::DEFAULT_TABLE
    ///
    /// # Errors
    ///
    /// See [`PgStateStore::with_table`].
    pub fn new(client: Client, job_id: impl Into<String>) -> Result<Self> {
        Self::with_table(client, job_id, TableName::default())
    }

    /// A store for `job_id` in `table`, created if missing (its schema must
    /// exist).
    ///
    /// # Errors
    ///
    /// [`Error::JobAlreadyRunning`] if another session holds the job's lock;
    /// [`Error::Postgres`] if taking the lock or creating the table fails.
    pub fn with_table(
        mut client: Client,
        job_id: impl Into<String>,
        table: TableName,
    ) -> Result<Self> {
        let job_id = job_id.into();
        let postgres_error = |action: &'static str, source: postgres::Error| Error::Postgres {
            action,
            table: table.quoted(),
            job_id: job_id.clone(),
            source,
        };
        let locked: bool = client
            .query_one(
                "SELECT pg_try_advisory_lock($1::int4, hashtext($2::text))",
                &[&Self::LOCK_NAMESPACE, &job_id],
            )
            .and_then(|row| row.try_get(0))
            .map_err(|source| postgres_error("take the job lock", source))?;
        if !locked {
            return Err(Error::JobAlreadyRunning { job_id });
        }
        // From here on, dropping `store` releases the lock.
        let mut store = Self {
            client,
            job_id,
            table,
            locked,
        };
        store.create_table()?;
        Ok(store)
    }

    /// The job this store keeps the state of.
    #[must_use]
    pub fn job_id(&self) -> &str {
        &self.job_id
    }

    /// The state table.
    #[must_use]
    pub const fn table(&self) -> &TableName {
        &self.table
    }

    /// `CREATE TABLE IF NOT EXISTS`, retried once: two sessions creating the
    /// table at the same time can make one fail with `unique_violation` (on
    /// the catalog), `duplicate_table` or `duplicate_object` (its row type),
    /// and by then the other session's table is committed, so the retry
    /// finds it.
    fn create_table(&mut self) -> Result<()> {
        let statement = format!(
            "CREATE TABLE IF NOT EXISTS {} (\
             job_id text PRIMARY KEY, \
             state jsonb NOT NULL, \
             updated_at timestamptz NOT NULL DEFAULT now())",
            self.table.quoted()
        );
        match self.client.batch_execute(&statement) {
            Err(error)
                if error.code().is_some_and(|code| {
                    [
                        SqlState::UNIQUE_VIOLATION,
                        SqlState::DUPLICATE_TABLE,
                        SqlState::DUPLICATE_OBJECT,
                    ]
                    .contains(code)
                }) =>
            {
                self.client.batch_execute(&statement)
            }
            other => other,
        }
        .map_err(|source| self.postgres_error("create the state table", source))
    }

    fn postgres_error(&self, action: &'static str, source: postgres::Error) -> Error {
        Error::Postgres {
            action,
            table: self.table.quoted(),
            job_id: self.job_id.clone(),
            source,
        }
    }
}

impl StateStore for PgStateStore {
    /// The job's row, read back as text; `None` if there is none.
    fn load(&mut self) -> Result<Option<State>> {
        let statement = format!(
            "SELECT state::text FROM {} WHERE job_id = $1",
            self.table.quoted()
        );
        let text: Option<String> = self
            .client
            .query_opt(&statement, &[&self.job_id])
            .and_then(|row| row.map(|row| row.try_get(0)).transpose())
            .map_err(|source| self.postgres_error("load the state", source))?;
        let Some(text) = text else {
            return Ok(None);
        };
        State::from_json(&text)
            .map(Some)
            .map_err(|source| Error::StoredState {
                table: self.table.quoted(),
                job_id: self.job_id.clone(),
                source: Box::new(source),
            })
    }

    /// Upserts the job's row in one autocommit statement.
    fn save(&mut self, state: &State) -> Result<()> {
        let statement = format!(
            "INSERT INTO {} (job_id, state, updated_at) VALUES ($1, $2::text::jsonb, now()) \
             ON CONFLICT (job_id) DO UPDATE SET state = EXCLUDED.state, updated_at = EXCLUDED.updated_at",
            self.table.quoted()
        );
        let text = state.to_json();
        self.client
            .execute(&statement, &[&self.job_id, &text])
            .map(drop)
            .map_err(|source| self.postgres_error("save the state", source))
    }
}

impl Drop for PgStateStore {
    /// Releases the job lock (best effort: closing the connection, which
    /// follows, releases it anyway).
    fn drop(&mut self) {
        if self.locked && !self.client.is_closed() {
            let released = self.client.execute(
                "SELECT pg_advisory_unlock($1::int4, hashtext($2::text))",
                &[&Self::LOCK_NAMESPACE, &self.job_id],
            );
            if let Err(error) = released {
                tracing::debug!(job_id = %self.job_id, error = %error, "Could not release the job lock; closing the connection releases it.");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_are_quoted_and_validated() {
        assert_eq!(TableName::default().quoted(), "\"singer_state\"");
        assert_eq!(
            TableName::parse("etl.singer_state")
                .expect("qualified")
                .quoted(),
            "\"etl\".\"singer_state\""
        );
        assert_eq!(
            TableName::qualified("my.schema", "Odd \"name\"")
                .expect("odd")
                .quoted(),
            "\"my.schema\".\"Odd \"\"name\"\"\""
        );
        let robert = TableName::new("x\"; DROP TABLE students; --").expect("hostile");
        assert_eq!(robert.quoted(), "\"x\"\"; DROP TABLE students; --\"");
        assert_eq!(robert.schema(), None);

        for bad in ["", "a.b.c", ".t", "s.", "nul\0byte", &"x".repeat(64)] {
            let error = TableName::parse(bad).expect_err(bad);
            assert!(matches!(error, Error::InvalidTableName { .. }), "{bad:?}");
        }
        assert!(TableName::parse(&"x".repeat(63)).is_ok());
        let parsed: TableName = "s.t".parse().expect("FromStr");
        assert_eq!((parsed.schema(), parsed.name()), (Some("s"), "t"));
        assert_eq!(parsed.to_string(), "\"s\".\"t\"");
    }
}
