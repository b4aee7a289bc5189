//! The connection a manifest names: `connection_info` blocks (connection
//! keys mapped to environment variable names, in a manifest or in a
//! separate connection-info file) and their resolution from the
//! environment.

use serde_json::Value;
use tracing::warn;

use super::parse::{ManifestError, kind_of, parse_yaml};

/// `connection_info`: connection keys (`database`, `host`, `pass`, `port`,
/// `user`) mapped to the names of the environment variables holding them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// `(key, environment variable)` in file order.
    pub vars: Vec<(String, String)>,
}

/// A connection resolved from the environment (the password redacted in
/// `Debug`).
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResolvedConnection {
    /// Host.
    pub host: Option<String>,
    /// Port.
    pub port: Option<u16>,
    /// User.
    pub user: Option<String>,
    /// Password.
    pub password: Option<String>,
    /// Database.
    pub dbname: Option<String>,
}

impl std::fmt::Debug for ResolvedConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResolvedConnection")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("dbname", &self.dbname)
            .finish()
    }
}

impl ResolvedConnection {
    /// Puts the resolved values into `config` (they win over its own).
    pub fn apply_to(&self, config: &mut crate::TapConfig) {
        if let Some(host) = &self.host {
            config.host = Some(host.clone());
        }
        if let Some(port) = self.port {
            config.port = Some(port);
        }
        if let Some(user) = &self.user {
            config.user = Some(user.clone());
        }
        if let Some(password) = &self.password {
            config.password = Some(singer_protocol::SecretString::new(password.clone()));
        }
        if let Some(dbname) = &self.dbname {
            config.dbname = Some(dbname.clone());
        }
    }
}

impl ConnectionInfo {
    pub(super) fn from_value(value: &Value, what: &str) -> Result<Self, ManifestError> {
        let map = value.as_object().ok_or_else(|| ManifestError::Shape {
            reason: format!("`{what}` must be a mapping of connection keys to environment variable names, not {}", kind_of(value)),
        })?;
        let mut vars = Vec::new();
        for (key, var) in map {
            let Some(var) = var.as_str() else {
                return Err(ManifestError::WrongType {
                    table: what.to_owned(),
                    key: key.clone(),
                    expected: "the name of an environment variable (a string)",
                    found: kind_of(var),
                });
            };
            if !CONNECTION_KEYS.iter().any(|(k, _)| k == key) {
                warn!(key = %key, block = %what, "Unknown connection_info key ignored.");
            }
            vars.push((key.clone(), var.to_owned()));
        }
        Ok(Self { vars })
    }

    /// Reads the named variables through `env`.
    ///
    /// # Errors
    ///
    /// [`ManifestError::MissingEnv`] for a variable that is not set,
    /// [`ManifestError::BadConnectionValue`] for a port that is not a number.
    pub fn resolve(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<ResolvedConnection, ManifestError> {
        let mut resolved = ResolvedConnection::default();
        for (key, var) in &self.vars {
            let Some(field) = CONNECTION_KEYS
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, f)| *f)
            else {
                continue;
            };
            let value = env(var).ok_or_else(|| ManifestError::MissingEnv {
                key: key.clone(),
                var: var.clone(),
            })?;
            match field {
                Field::Host => resolved.host = Some(value),
                Field::Port => {
                    resolved.port = Some(value.trim().parse().map_err(|_| {
                        ManifestError::BadConnectionValue {
                            key: key.clone(),
                            var: var.clone(),
                            reason: "not a port number",
                        }
                    })?);
                }
                Field::User => resolved.user = Some(value),
                Field::Password => resolved.password = Some(value),
                Field::Dbname => resolved.dbname = Some(value),
            }
        }
        Ok(resolved)
    }
}

#[derive(Clone, Copy)]
enum Field {
    Host,
    Port,
    User,
    Password,
    Dbname,
}

/// Upstream's keys (and the obvious spellings of the same settings).
const CONNECTION_KEYS: &[(&str, Field)] = &[
    ("host", Field::Host),
    ("port", Field::Port),
    ("user", Field::User),
    ("pass", Field::Password),
    ("password", Field::Password),
    ("database", Field::Dbname),
    ("dbname", Field::Dbname),
];

/// Parses a connection-info file (one block per database type, named
/// `postgres_source_connection_<type>` upstream) and returns the block for
/// `database_type`.
///
/// # Errors
///
/// [`ManifestError`] for bad YAML, a block of the wrong shape or no block
/// for the type.
pub fn connection_info_for(
    text: &str,
    database_type: &str,
) -> Result<ConnectionInfo, ManifestError> {
    let root = parse_yaml(text)?;
    let root = root.as_object().ok_or_else(|| ManifestError::Shape {
        reason: format!(
            "a connection-info file must be a mapping of blocks, not {}",
            kind_of(&root)
        ),
    })?;
    let upstream = format!("postgres_source_connection_{database_type}");
    for name in [upstream.as_str(), database_type] {
        if let Some(block) = root.get(name) {
            // A block may hold the variables directly or under `connection_info`.
            let inner = block.get("connection_info").unwrap_or(block);
            return ConnectionInfo::from_value(inner, name);
        }
    }
    Err(ManifestError::UnknownDatabaseType {
        database_type: database_type.to_owned(),
        available: root
            .keys()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(", "),
    })
}
