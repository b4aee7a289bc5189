//! Connecting to PostgreSQL: host/port/user/password/dbname or a URL, libpq
//! `sslmode` semantics over OpenSSL (the TLS stack libpq itself uses),
//! timeouts and the session settings value rendering relies on.

use std::str::FromStr;

use openssl::ssl::{SslConnector, SslFiletype, SslMethod, SslVerifyMode};
use postgres::{Client, NoTls};
use postgres_openssl::MakeTlsConnector;
use tokio_postgres::Config;
use tokio_postgres::config::SslMode as PgSslMode;

use crate::config::{SslMode, TapConfig};
use crate::error::{Error, Result};
use crate::pg;

/// Session settings every connection gets: UTC and ISO formats, so that
/// values cast to text (exotic types) render the same whatever the server's
/// defaults are.
const SESSION_OPTIONS: &str = "-c TimeZone=UTC -c DateStyle=ISO,YMD -c IntervalStyle=iso_8601 -c extra_float_digits=3 -c bytea_output=hex";

/// A recipe for connections: resolved once from the configuration, used for
/// the first connection and for every reconnect after a transient failure.
#[derive(Clone)]
pub struct Connector {
    config: Config,
    mode: SslMode,
    tls: Option<MakeTlsConnector>,
    described: String,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("server", &self.described)
            .field("sslmode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl Connector {
    /// Resolves the connection settings of `config`.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a bad URL, [`Error::Setting`] for a bad `sslmode`, [`Error::Tls`] when the
    /// certificate files cannot be loaded.
    pub fn new(config: &TapConfig) -> Result<Self> {
        let mut pg = match &config.url {
            Some(url) => parse_url(url.expose())?,
            None => Config::new(),
        };
        if let Some(host) = &config.host {
            pg.host(host);
        }
        if pg.get_hosts().is_empty() {
            pg.host("localhost");
        }
        if let Some(port) = config.port {
            pg.port(port);
        }
        if let Some(user) = &config.user {
            pg.user(user);
        }
        if let Some(password) = &config.password {
            pg.password(password.expose());
        }
        if let Some(dbname) = &config.dbname {
            pg.dbname(dbname);
        }
        if pg.get_user().is_none() {
            return Err(Error::Config {
                reason: "no user: set `user` (or TAP_POSTGRES_USER) or put it in `url`".to_owned(),
            });
        }
        pg.connect_timeout(config.connect_timeout());
        pg.application_name(&config.application_name);
        let mut options = SESSION_OPTIONS.to_owned();
        if config.statement_timeout > 0 {
            options.push_str(&format!(
                " -c statement_timeout={}",
                config.statement_timeout
            ));
        }
        pg.options(&options);
        let mode = config
            .ssl_mode()
            .map_err(|source| Error::Setting { source })?;
        pg.ssl_mode(match mode {
            SslMode::Disable => PgSslMode::Disable,
            SslMode::Prefer => PgSslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => PgSslMode::Require,
        });
        let tls = match mode {
            SslMode::Disable => None,
            _ => Some(tls_connector(config, mode)?),
        };
        let described = describe(&pg);
        Ok(Self {
            config: pg,
            mode,
            tls,
            described,
        })
    }

    /// Opens a connection.
    ///
    /// # Errors
    ///
    /// [`Error::Connect`] naming the server (never the password).
    pub fn connect(&self) -> Result<Client> {
        let config = postgres::Config::from(self.config.clone());
        let result = match &self.tls {
            Some(tls) => config.connect(tls.clone()),
            None => config.connect(NoTls),
        };
        result.map_err(|source| Error::Connect {
            server: self.described.clone(),
            source,
        })
    }

    /// A connection for the tap's own reads ([`pg::Client`]: whole results
    /// read inside one wait on the server).
    pub(crate) fn open(&self) -> Result<pg::Client> {
        let result = match &self.tls {
            Some(tls) => pg::Client::connect(&self.config, tls.clone()),
            None => pg::Client::connect(&self.config, NoTls),
        };
        result.map_err(|error| match error {
            pg::ConnectError::Postgres(source) => Error::Connect {
                server: self.described.clone(),
                source,
            },
            pg::ConnectError::Runtime(source) => Error::ConnectionRuntime { source },
        })
    }
    /// `host:port/dbname` as a user would name the server (for logs).
    #[must_use]
    pub fn server(&self) -> &str {
        &self.described
    }

    /// The database name, if configured.
    #[must_use]
    pub fn dbname(&self) -> Option<&str> {
        self.config.get_dbname()
    }
}

/// Parses a `postgresql://` URL (or a libpq key=value string); SQLAlchemy
/// spellings such as `postgresql+psycopg2://` are accepted.
fn parse_url(url: &str) -> Result<Config> {
    let url = url.trim();
    let normalised = match url.split_once("://") {
        Some((scheme, rest)) if scheme.starts_with("postgres") => format!("postgresql://{rest}"),
        _ => url.to_owned(),
    };
    Config::from_str(&normalised).map_err(|e| Error::Config {
        // The parser's message does not echo the URL, so no password leaks.
        reason: format!("url is not a valid PostgreSQL connection URL: {e}"),
    })
}

fn describe(config: &Config) -> String {
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        Some(tokio_postgres::config::Host::Unix(path)) => path.display().to_string(),
        None => "localhost".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!("{host}:{port}/{}", config.get_dbname().unwrap_or(""))
}

/// An OpenSSL connector with libpq's `sslmode` semantics:
/// `prefer`/`require` encrypt without verifying (unless `sslrootcert` is
/// given with `require`, which libpq treats as `verify-ca`); `verify-ca`
/// checks the chain; `verify-full` also the host name. Without `sslrootcert`
/// the verifying modes use the system's CA store (libpq would look for
/// `~/.postgresql/root.crt`; the system store is what managed databases need).
fn tls_connector(config: &TapConfig, mode: SslMode) -> Result<MakeTlsConnector> {
    let tls = |source| Error::Tls { source };
    let mut builder = SslConnector::builder(SslMethod::tls_client()).map_err(tls)?;
    let verify = match mode {
        SslMode::VerifyCa | SslMode::VerifyFull => true,
        SslMode::Require => config.sslrootcert.is_some(),
        SslMode::Prefer | SslMode::Disable => false,
    };
    if verify {
        match &config.sslrootcert {
            Some(path) => builder.set_ca_file(path).map_err(|source| Error::TlsFile {
                what: "sslrootcert",
                path: path.clone(),
                source,
            })?,
            None => builder.set_default_verify_paths().map_err(tls)?,
        }
        builder.set_verify(SslVerifyMode::PEER);
    } else {
        builder.set_verify(SslVerifyMode::NONE);
    }
    if let Some(cert) = &config.sslcert {
        builder
            .set_certificate_chain_file(cert)
            .map_err(|source| Error::TlsFile {
                what: "sslcert",
                path: cert.clone(),
                source,
            })?;
    }
    if let Some(key) = &config.sslkey {
        builder
            .set_private_key_file(key, SslFiletype::PEM)
            .map_err(|source| Error::TlsFile {
                what: "sslkey",
                path: key.clone(),
                source,
            })?;
    }
    let mut connector = MakeTlsConnector::new(builder.build());
    if mode != SslMode::VerifyFull {
        connector.set_callback(|connect, _domain| {
            connect.set_verify_hostname(false);
            Ok(())
        });
    }
    Ok(connector)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_and_fields_combine_fields_win() {
        let config: TapConfig = serde_json::from_value(serde_json::json!({
            "url": "postgresql+psycopg2://u:secret@db.example:6543/gitlab?sslmode=disable",
            "dbname": "other",
            "sslmode": "disable"
        }))
        .expect("valid");
        let connector = Connector::new(&config).expect("valid");
        assert_eq!(connector.server(), "db.example:6543/other");
        assert!(!format!("{connector:?}").contains("secret"));
    }

    #[test]
    fn missing_user_and_bad_url_are_config_errors() {
        let config: TapConfig =
            serde_json::from_value(serde_json::json!({"host": "h"})).expect("valid");
        assert_eq!(
            Connector::new(&config).expect_err("no user").to_string(),
            "configuration: no user: set `user` (or TAP_POSTGRES_USER) or put it in `url`"
        );
        let config: TapConfig = serde_json::from_value(
            serde_json::json!({"url": "postgresql://u:hunter2@h:notaport/db"}),
        )
        .expect("valid");
        let error = Connector::new(&config).expect_err("bad url").to_string();
        assert!(!error.contains("hunter2"), "{error}");
    }
}
