//! One Snowflake session, driven synchronously (a current-thread runtime
//! and `block_on`, the rust-postgres way), re-opened after a transient
//! failure. It sends each statement once and never retries: the loader's
//! caller does (see `crate::loader`), so no operation is retried by two
//! layers.

use std::time::Duration;

use serde_json::Value;
use snowflake_connector_rs::{
    AuthConfig, CellValue, Client, ClientConfig, DynamicRow, EndpointConfig, KeyPairConfig,
    QueryConfig, Session, SessionConfig, Statement,
};
use tracing::{debug, warn};

use crate::config::{Credentials, SnowflakeConfig};
use crate::error::{Error, Result, http_status, transient};

/// A bind value of a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Bind {
    /// Text (decimals and JSON documents travel as text).
    Text(String),
}

/// The session and how to re-open it.
pub(crate) struct Connection {
    runtime: tokio::runtime::Runtime,
    client: Client,
    user: String,
    session: Option<Session>,
    /// The schema `USE SCHEMA` last set.
    current_schema: Option<String>,
    /// Whether an explicit transaction (BEGIN) is open.
    in_transaction: bool,
    /// Counts logins: a session's temporary tables exist only while this
    /// is unchanged.
    session_id: u64,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("user", &self.user)
            .field("connected", &self.session.is_some())
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// A client for `config` (nothing is sent until the first statement).
    pub(crate) fn new(config: &SnowflakeConfig) -> Result<Self> {
        config.check()?;
        let auth = match config.credentials()? {
            Credentials::Password(password) => AuthConfig::password(password.expose()),
            Credentials::KeyPair { pem, passphrase } => AuthConfig::key_pair(match passphrase {
                Some(passphrase) => {
                    KeyPairConfig::from_encrypted_pem(pem.expose(), passphrase.expose().as_bytes())
                }
                None => KeyPairConfig::from_pem(pem.expose()),
            }),
        };
        let mut session = SessionConfig::new().with_database(config.database.clone());
        if let Some(warehouse) = &config.warehouse {
            session = session.with_warehouse(warehouse.clone());
        }
        if let Some(role) = &config.role {
            session = session.with_role(role.clone());
        }
        // At least one parameter is always sent (an empty set is omitted,
        // which some servers reject); UTC makes LTZ values unambiguous.
        session = session.with_session_parameter("TIMEZONE", Value::String("UTC".to_owned()));
        if let Some(tag) = &config.query_tag {
            session = session.with_session_parameter("QUERY_TAG", Value::String(tag.clone()));
        }
        for (name, value) in &config.session_parameters {
            session = session.with_session_parameter(name.clone(), value.clone());
        }
        let mut client_config = ClientConfig::new(&config.user, &config.account, auth)
            .with_session(session)
            .with_query(
                QueryConfig::new().with_query_response_timeout(Duration::from_secs(
                    config.query_timeout_seconds.max(1),
                )),
            );
        if let Some(endpoint) = &config.endpoint {
            let url = url::Url::parse(endpoint).map_err(|e| Error::Config {
                reason: format!("endpoint {endpoint:?} is not a URL: {e}"),
            })?;
            client_config = client_config.with_endpoint(EndpointConfig::custom_base_url(url));
        }
        let client = Client::new(client_config).map_err(|e| Error::Config {
            reason: format!("Snowflake client: {e}"),
        })?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(Error::Runtime)?;
        Ok(Self {
            runtime,
            client,
            user: config.user.clone(),
            session: None,
            current_schema: None,
            in_transaction: false,
            session_id: 0,
        })
    }

    /// Logs in unless a session is open.
    pub(crate) fn connect(&mut self) -> Result<()> {
        if self.session.is_some() {
            return Ok(());
        }
        debug!(user = %self.user, "Logging in to Snowflake.");
        let session = self
            .runtime
            .block_on(self.client.create_session())
            .map_err(|source| Error::Login {
                user: self.user.clone(),
                retryable: transient(&source),
                source,
            })?;
        self.session = Some(session);
        self.current_schema = None;
        self.session_id += 1;
        Ok(())
    }

    /// Which login the current session is (0: none yet). Temporary tables
    /// created under one id are gone once it changes.
    pub(crate) const fn session_id(&self) -> u64 {
        self.session_id
    }

    /// Forgets the session (after a transient failure: the next statement
    /// logs in again; temporary tables and open transactions are gone).
    pub(crate) fn reset(&mut self) {
        self.session = None;
        self.current_schema = None;
        self.in_transaction = false;
    }

    /// Runs one statement and collects its rows. A transient failure resets
    /// the session. `commit` marks a COMMIT, whose failure is never
    /// retryable (it may have committed).
    pub(crate) fn run(
        &mut self,
        action: &str,
        sql: &str,
        binds: &[Bind],
        commit: bool,
    ) -> Result<Vec<DynamicRow>> {
        self.connect()?;
        let Some(session) = &self.session else {
            return Err(Error::Result {
                action: action.to_owned(),
                reason: "no session".to_owned(),
            });
        };
        let statement = if binds.is_empty() {
            None
        } else {
            let mut statement = Statement::new_positional(sql.to_owned());
            for bind in binds {
                let Bind::Text(text) = bind;
                statement = statement.bind(text.clone());
            }
            Some(statement)
        };
        debug!(action, sql = %truncate(sql, 400), binds = binds.len(), "Statement.");
        let result = self.runtime.block_on(async {
            let cursor = match statement {
                Some(statement) => session.query(statement).await?,
                None => session.query(sql.to_owned()).await?,
            };
            cursor.collect::<Vec<DynamicRow>>().await
        });
        match result {
            Ok(rows) => {
                match sql {
                    "BEGIN" => self.in_transaction = true,
                    "COMMIT" | "ROLLBACK" => self.in_transaction = false,
                    _ => {}
                }
                Ok(rows)
            }
            Err(source) => {
                let retryable = transient(&source) && !commit;
                if self.in_transaction && !commit {
                    // Give the transaction back now rather than leave it
                    // (and its locks) to the session's timeout.
                    self.in_transaction = false;
                    let rolled_back = self.run("rolling back", "ROLLBACK", &[], false);
                    if let Err(error) = rolled_back {
                        warn!(error = %error, "ROLLBACK after a failure failed; the session is dropped.");
                        self.reset();
                    }
                }
                self.in_transaction = false;
                if transient(&source) {
                    self.reset();
                }
                // The client's own description follows in the error chain.
                let message = source.snowflake_message().map_or_else(
                    || format!("the request failed ({:?})", source.kind()),
                    str::to_owned,
                );
                let code = source
                    .snowflake_code()
                    .map(str::to_owned)
                    .or_else(|| http_status(&source).map(|s| format!("HTTP {s}")));
                Err(Error::Statement {
                    action: action.to_owned(),
                    code,
                    message,
                    retryable,
                    source,
                })
            }
        }
    }

    /// `USE SCHEMA` unless it is the current one (once: inside a
    /// transaction a retry would be on a new session).
    pub(crate) fn use_schema(&mut self, schema: &str) -> Result<()> {
        if self.session.is_some() && self.current_schema.as_deref() == Some(schema) {
            return Ok(());
        }
        let sql = format!("USE SCHEMA {}", crate::naming::quote(schema));
        self.run(&format!("using schema {schema:?}"), &sql, &[], false)?;
        self.current_schema = Some(schema.to_owned());
        Ok(())
    }
}

fn truncate(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or(text)
}

/// A cell as text (`None` for NULL): what metadata queries need.
pub(crate) fn cell_text(value: &CellValue) -> Option<String> {
    Some(match value {
        CellValue::Null => return None,
        CellValue::Boolean(b) => b.to_string(),
        CellValue::Integer(i) => i.to_string(),
        CellValue::Float(f) => f.to_string(),
        CellValue::Decimal(d) => d.raw().to_owned(),
        CellValue::String(s) => s.clone(),
        CellValue::Json(v) => v.to_string(),
        CellValue::Date(d) => d.format("%Y-%m-%d").to_string(),
        CellValue::Time(t) => t.format("%H:%M:%S%.f").to_string(),
        CellValue::TimestampNtz(t) => t.format("%Y-%m-%d %H:%M:%S%.f").to_string(),
        CellValue::TimestampLtz(t) => t.format("%Y-%m-%d %H:%M:%S%.f%:z").to_string(),
        CellValue::TimestampTz(t) => t.format("%Y-%m-%d %H:%M:%S%.f%:z").to_string(),
        CellValue::Binary(b) => b.as_bytes().iter().fold(String::new(), |mut hex, byte| {
            let _ = std::fmt::Write::write_fmt(&mut hex, format_args!("{byte:02X}"));
            hex
        }),
        other => format!("{other:?}"),
    })
}

/// A cell as an integer (`None` for NULL or non-numbers).
pub(crate) fn cell_int(value: &CellValue) -> Option<i128> {
    match value {
        CellValue::Integer(i) => Some(*i),
        CellValue::Decimal(d) => d.raw().split('.').next()?.parse().ok(),
        CellValue::String(s) => s.parse().ok(),
        CellValue::Float(f) if f.is_finite() && f.fract() == 0.0 => format!("{f:.0}").parse().ok(),
        _ => None,
    }
}
