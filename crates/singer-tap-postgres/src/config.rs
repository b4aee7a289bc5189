//! The tap's configuration: what pipelinewise-tap-postgres and
//! MeltanoLabs tap-postgres users already write, plus what this tap adds.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use singer_protocol::{About, ReplicationMethod, SecretString, Setting, SettingKind};

/// `--about` and the settings list (names as pipelinewise and Meltano users
/// know them; `dbname` and `database` are the same setting).
pub const ABOUT: About = About {
    name: "tap-postgres",
    version: env!("CARGO_PKG_VERSION"),
    description: "Singer tap for PostgreSQL: discovery from pg_catalog, FULL_TABLE (resumable, ACTIVATE_VERSION) \
                  and INCREMENTAL sync with exact values, and GitLab postgres_pipeline manifests.",
    capabilities: &[
        "catalog",
        "discover",
        "properties",
        "state",
        "about",
        "test",
    ],
    settings: SETTINGS,
};

const SETTINGS: &[Setting] = &[
    Setting::new("host", SettingKind::String, "Server host name or address.").default_value("\"localhost\""),
    Setting::new("port", SettingKind::Integer, "Server port.").default_value("5432"),
    Setting::new("user", SettingKind::String, "User name.").aliases(&["username"]),
    Setting::new("password", SettingKind::String, "Password.").secret(),
    Setting::new("dbname", SettingKind::String, "Database name.").aliases(&["database"]),
    Setting::new(
        "url",
        SettingKind::String,
        "A connection URL (postgresql://user:password@host:port/dbname?sslmode=require); \
         settings given separately win over its parts.",
    )
    .aliases(&["sqlalchemy_url"])
    .secret(),
    Setting::new(
        "sslmode",
        SettingKind::String,
        "disable, prefer, require, verify-ca or verify-full, as libpq means them.",
    )
    .aliases(&["ssl_mode"])
    .default_value("\"prefer\""),
    Setting::new("ssl", SettingKind::Boolean, "pipelinewise's switch: true means sslmode=require."),
    Setting::new(
        "sslrootcert",
        SettingKind::String,
        "File of CA certificates (PEM) to verify the server with.",
    )
    .aliases(&["ssl_root_cert", "ssl_certificate_authority"]),
    Setting::new("sslcert", SettingKind::String, "Client certificate file (PEM).").aliases(&["ssl_client_certificate"]),
    Setting::new("sslkey", SettingKind::String, "Client private key file (PEM).")
        .aliases(&["ssl_client_private_key"])
        .secret(),
    Setting::new("connect_timeout", SettingKind::Integer, "Seconds to wait for a connection.").default_value("30"),
    Setting::new(
        "statement_timeout",
        SettingKind::Integer,
        "Milliseconds a statement may run (0: no limit).",
    )
    .default_value("0"),
    Setting::new("application_name", SettingKind::String, "Shown in pg_stat_activity.")
        .default_value("\"tap-postgres\""),
    Setting::new(
        "filter_schemas",
        SettingKind::Array,
        "Schemas to discover (list, or comma-separated text); empty: every non-system schema.",
    ),
    Setting::new(
        "include_tables",
        SettingKind::Array,
        "Glob patterns (`*`, `?`) on `schema.table`; when set, only matching tables are discovered.",
    ),
    Setting::new(
        "exclude_tables",
        SettingKind::Array,
        "Glob patterns (`*`, `?`) on `schema.table` never discovered.",
    ),
    Setting::new(
        "default_replication_method",
        SettingKind::String,
        "FULL_TABLE or INCREMENTAL, for selected streams whose catalog entry names none.",
    ),
    Setting::new(
        "state_interval",
        SettingKind::Integer,
        "Emit STATE every this many records within a stream (and at its end).",
    )
    .default_value("10000"),
    Setting::new("itersize", SettingKind::Integer, "Rows fetched from the server per round trip.").default_value("20000"),
    Setting::new(
        "max_retries",
        SettingKind::Integer,
        "Times a stream is resumed after a dropped connection or a recovery conflict (SQLSTATE 40001).",
    )
    .default_value("3"),
    Setting::new(
        "internal_projects_file",
        SettingKind::String,
        "Manifest mode: CSV file (project_path,project_id) behind {INTERNAL_PROJECT_IDS}, \
         {INTERNAL_PROJECT_PATHS} and {INTERNAL_PATHS}.",
    ),
    Setting::new(
        "internal_namespaces_file",
        SettingKind::String,
        "Manifest mode: CSV file (namespace_path,namespace_id) behind {INTERNAL_NAMESPACE_IDS}, \
         {INTERNAL_NAMESPACE_PATHS} and {INTERNAL_PATHS}.",
    ),
    Setting::new(
        "special_values",
        SettingKind::Object,
        "Policy for values a target cannot hold as such: {\"temporal_infinity\", \"temporal_out_of_range\": \
         keep|null|clamp|error, \"number_special\": keep|null|error}; keep (the default) emits a string that \
         says what the value is.",
    ),
];

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum SslMode {
    /// Never TLS.
    Disable,
    /// TLS if the server offers it, without verification.
    #[default]
    Prefer,
    /// TLS required; the certificate is verified only if `sslrootcert` is
    /// given (libpq's rule).
    Require,
    /// TLS required, certificate chain verified against `sslrootcert`.
    VerifyCa,
    /// As `verify-ca`, and the host name must match the certificate.
    VerifyFull,
}

impl SslMode {
    /// Parses libpq's spelling (`verify-full`; `_` accepted for `-`).
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "disable" => Some(Self::Disable),
            "allow" | "prefer" => Some(Self::Prefer),
            "require" => Some(Self::Require),
            "verify-ca" => Some(Self::VerifyCa),
            "verify-full" => Some(Self::VerifyFull),
            _ => None,
        }
    }
}

/// The tap's configuration, as read by [`singer_protocol::load_config`] with
/// [`ABOUT`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TapConfig {
    /// Server host.
    #[serde(default)]
    pub host: Option<String>,
    /// Server port.
    #[serde(default)]
    pub port: Option<u16>,
    /// User name.
    #[serde(default)]
    pub user: Option<String>,
    /// Password.
    #[serde(default)]
    pub password: Option<SecretString>,
    /// Database name.
    #[serde(default)]
    pub dbname: Option<String>,
    /// Connection URL.
    #[serde(default)]
    pub url: Option<SecretString>,
    /// libpq `sslmode` text.
    #[serde(default)]
    pub sslmode: Option<String>,
    /// pipelinewise's `ssl: true`.
    #[serde(default)]
    pub ssl: Option<bool>,
    /// CA certificates file.
    #[serde(default)]
    pub sslrootcert: Option<PathBuf>,
    /// Client certificate file.
    #[serde(default)]
    pub sslcert: Option<PathBuf>,
    /// Client key file (the path is not secret, but treat it with care).
    #[serde(default)]
    pub sslkey: Option<PathBuf>,
    /// Connect timeout, seconds.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: u64,
    /// Statement timeout, milliseconds (0: none).
    #[serde(default)]
    pub statement_timeout: u64,
    /// `application_name`.
    #[serde(default = "default_application_name")]
    pub application_name: String,
    /// Schemas to discover.
    #[serde(default)]
    pub filter_schemas: Vec<String>,
    /// Glob patterns of tables to include.
    #[serde(default)]
    pub include_tables: Vec<String>,
    /// Glob patterns of tables to exclude.
    #[serde(default)]
    pub exclude_tables: Vec<String>,
    /// Replication method for streams whose catalog names none.
    #[serde(default)]
    pub default_replication_method: Option<String>,
    /// STATE every N records.
    #[serde(default = "default_state_interval")]
    pub state_interval: u64,
    /// Rows per fetch.
    #[serde(default = "default_itersize")]
    pub itersize: u32,
    /// Resumes after transient failures.
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
    /// Special-value policy (passed to the value codecs).
    #[serde(default)]
    pub special_values: crate::types::ValuePolicy,
    /// Manifest mode: the internal projects allow list (CSV).
    #[serde(default)]
    pub internal_projects_file: Option<PathBuf>,
    /// Manifest mode: the internal namespaces allow list (CSV).
    #[serde(default)]
    pub internal_namespaces_file: Option<PathBuf>,
}

const fn default_connect_timeout() -> u64 {
    30
}

fn default_application_name() -> String {
    "tap-postgres".to_owned()
}

const fn default_state_interval() -> u64 {
    10_000
}

const fn default_itersize() -> u32 {
    20_000
}

const fn default_max_retries() -> u32 {
    3
}

impl TapConfig {
    /// The effective `sslmode`: `sslmode` if given, else `require` when
    /// pipelinewise's `ssl` is true, else `prefer` (libpq's default).
    ///
    /// # Errors
    ///
    /// A message naming the bad value.
    pub fn ssl_mode(&self) -> Result<SslMode, String> {
        match (&self.sslmode, self.ssl) {
            (Some(text), _) => SslMode::parse(text).ok_or_else(|| {
                format!("sslmode {text:?} is not one of disable, prefer, require, verify-ca, verify-full")
            }),
            (None, Some(true)) => Ok(SslMode::Require),
            (None, _) => Ok(SslMode::Prefer),
        }
    }

    /// The replication method for streams whose catalog entry names none.
    ///
    /// # Errors
    ///
    /// A message naming the bad value.
    pub fn default_replication_method(&self) -> Result<Option<ReplicationMethod>, String> {
        self.default_replication_method
            .as_deref()
            .map(str::parse)
            .transpose()
    }

    /// The connect timeout.
    #[must_use]
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_secs(self.connect_timeout)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use singer_protocol::{ConfigSource, load_config_with_env};

    use super::*;

    fn load(env: &[(&str, &str)]) -> TapConfig {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        load_config_with_env::<TapConfig>(&[ConfigSource::Env], &ABOUT, |k| env.get(k).cloned())
            .expect("valid")
            .config
    }

    #[test]
    fn pipelinewise_style_config() {
        let config = load(&[
            ("TAP_POSTGRES_HOST", "db"),
            ("TAP_POSTGRES_PORT", "5433"),
            ("TAP_POSTGRES_DBNAME", "gitlab"),
            ("TAP_POSTGRES_SSL", "true"),
            ("TAP_POSTGRES_FILTER_SCHEMAS", "public,app"),
            ("TAP_POSTGRES_DEFAULT_REPLICATION_METHOD", "incremental"),
        ]);
        assert_eq!(config.port, Some(5433));
        assert_eq!(config.dbname.as_deref(), Some("gitlab"));
        assert_eq!(config.ssl_mode(), Ok(SslMode::Require));
        assert_eq!(config.filter_schemas, ["public", "app"]);
        assert_eq!(
            config.default_replication_method(),
            Ok(Some(ReplicationMethod::Incremental))
        );
        assert_eq!(config.state_interval, 10_000);
        assert_eq!(config.application_name, "tap-postgres");
    }

    #[test]
    fn sslmode_wins_over_ssl_and_bad_values_are_named() {
        let config = load(&[
            ("TAP_POSTGRES_SSL", "true"),
            ("TAP_POSTGRES_SSLMODE", "verify_full"),
        ]);
        assert_eq!(config.ssl_mode(), Ok(SslMode::VerifyFull));
        let config = load(&[("TAP_POSTGRES_SSLMODE", "sometimes")]);
        assert_eq!(
            config.ssl_mode(),
            Err("sslmode \"sometimes\" is not one of disable, prefer, require, verify-ca, verify-full".into())
        );
    }
}
