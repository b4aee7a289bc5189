//! The tap's configuration: what pipelinewise-tap-postgres and
//! MeltanoLabs tap-postgres users already write, plus what this tap adds.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use singer_protocol::{About, ReplicationMethod, SecretString};

/// `--about` and the settings list (names as pipelinewise and Meltano users
/// know them; `dbname` and `database` are the same setting).
pub const ABOUT: About = About {
    name: "tap-postgres",
    version: env!("CARGO_PKG_VERSION"),
    description: "Singer tap for PostgreSQL: discovery from pg_catalog, FULL_TABLE (resumable, ACTIVATE_VERSION), \
                  INCREMENTAL and LOG_BASED (pgoutput) sync with exact values, deletes detection, and GitLab \
                  postgres_pipeline manifests.",
    capabilities: &[
        "catalog",
        "discover",
        "properties",
        "state",
        "log-based",
        "about",
        "test",
    ],
    settings: TapConfig::ALL_SETTINGS,
};

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

singer_protocol::settings! {
    /// The tap's configuration, as read by [`singer_protocol::load_config`]
    /// with [`ABOUT`]: every setting declared here once (names as
    /// pipelinewise and Meltano users know them; `dbname` and `database`
    /// are the same setting). `host`, `port` and `sslmode` stay absent
    /// unless given: their documented defaults apply after a `url` had its
    /// say.
    #[derive(Debug, Clone)]
    pub struct TapConfig {
        host: Option<String> = String(
            "Server host name or address."
        )
        .default_value("\"localhost\"")
        .default_resolved_later(),
        port: Option<u16> = Integer("Server port.").default_value("5432").default_resolved_later(),
        user: Option<String> = String("User name.").aliases(&["username"]),
        password: Option<SecretString> = String("Password.").secret(),
        dbname: Option<String> = String("Database name.").aliases(&["database"]),
        url: Option<SecretString> = String(
            "A connection URL (postgresql://user:password@host:port/dbname?sslmode=require); \
             settings given separately win over its parts."
        )
        .aliases(&["sqlalchemy_url"])
        .secret(),
        sslmode: Option<String> = String(
            "disable, prefer, require, verify-ca or verify-full, as libpq means them."
        )
        .aliases(&["ssl_mode"])
        .default_value("\"prefer\"")
        .default_resolved_later(),
        ssl: Option<bool> = Boolean("pipelinewise's switch: true means sslmode=require."),
        sslrootcert: Option<PathBuf> = String(
            "File of CA certificates (PEM) to verify the server with."
        )
        .aliases(&["ssl_root_cert", "ssl_certificate_authority"]),
        sslcert: Option<PathBuf> = String(
            "Client certificate file (PEM)."
        )
        .aliases(&["ssl_client_certificate"]),
        sslkey: Option<PathBuf> = String(
            "Client private key file (PEM)."
        )
        .aliases(&["ssl_client_private_key"])
        .secret(),
        connect_timeout: u64 = Integer("Seconds to wait for a connection.").default_value("30"),
        statement_timeout: u64 = Integer(
            "Milliseconds a statement may run (0: no limit)."
        )
        .default_value("0"),
        application_name: String = String(
            "Shown in pg_stat_activity."
        )
        .default_value("\"tap-postgres\""),
        filter_schemas: Vec<String> = Array(
            "Schemas to discover (list, or comma-separated text); empty: every non-system schema."
        ),
        include_tables: Vec<String> = Array(
            "Glob patterns (`*`, `?`) on `schema.table`; when set, only matching tables are discovered."
        ),
        exclude_tables: Vec<String> = Array(
            "Glob patterns (`*`, `?`) on `schema.table` never discovered."
        ),
        default_replication_method: Option<String> = String(
            "FULL_TABLE or INCREMENTAL, for selected streams whose catalog entry names none."
        ),
        state_interval: u64 = Integer(
            "Emit STATE every this many records within a stream (and at its end)."
        )
        .default_value("10000"),
        itersize: u32 = Integer(
            "Rows fetched from the server per round trip."
        )
        .default_value("20000"),
        max_retries: u32 = Integer(
            "Times a stream is resumed after a dropped connection or a recovery conflict (SQLSTATE 40001)."
        )
        .default_value("3"),
        metrics_interval_seconds: singer_protocol::AtLeastOne = Integer(
            "Seconds between Singer METRIC record_count lines per stream (on stderr, as the targets \
             and the Meltano SDK log them), so a long read shows progress; at least 1."
        )
        .default_value("60"),
        parallelism: singer_protocol::AtLeastOne = Integer(
            "PostgreSQL connections reading at once: selected streams (manifest mode: tables) sync \
             concurrently, and FULL_TABLE streams of at least parallel_min_rows rows (manifest mode: the \
             full copy or backfill of a one-table run) are split into key or block ranges read inside one \
             shared snapshot (plus one idle connection holding that snapshot). 1: one stream after the \
             other. Manifest mode: --parallel N."
        )
        .default_value("1"),
        parallel_min_rows: u64 = Integer(
            "FULL_TABLE streams whose row estimate (pg_class.reltuples) is below this are not split \
             for parallel readers; a table never analysed is split. max_rows_per_statement splits \
             any table estimated above it."
        )
        .default_value("100000"),
        max_rows_per_statement: Option<u64> = Integer(
            "Split FULL_TABLE copies into ranges of about this many rows (estimated), read in one \
             shared snapshot, so that no statement runs for hours (statement_timeout, a replica's \
             recovery conflicts); also with parallelism 1."
        ),
        replication_slot_name: Option<String> = String(
            "LOG_BASED: the logical replication slot (pgoutput), created when missing; default \
             pipelinewise_<dbname>[_<tap_id>]."
        ),
        publication_name: Option<String> = String(
            "LOG_BASED: the publication of the selected tables, created (or extended) when missing, \
             before the slot; default as the slot's name."
        ),
        tap_id: Option<String> = String(
            "pipelinewise's tap id: part of the default slot and publication names."
        ),
        internal_projects_file: Option<PathBuf> = String(
            "Manifest mode: CSV file (project_path,project_id) behind {INTERNAL_PROJECT_IDS}, \
             {INTERNAL_PROJECT_PATHS} and {INTERNAL_PATHS}."
        ),
        internal_namespaces_file: Option<PathBuf> = String(
            "Manifest mode: CSV file (namespace_path,namespace_id) behind {INTERNAL_NAMESPACE_IDS}, \
             {INTERNAL_NAMESPACE_PATHS} and {INTERNAL_PATHS}."
        ),
        special_values: crate::types::ValuePolicy = Object(
            "Policy for values a target cannot hold as such: {\"temporal_infinity\", \"temporal_out_of_range\": \
             keep|null|clamp|error, \"number_special\": keep|null|error}; keep (the default) emits a string that \
             says what the value is."
        ),
    }
}

impl TapConfig {
    /// The effective `sslmode`: `sslmode` if given, else `require` when
    /// pipelinewise's `ssl` is true, else `prefer` (libpq's default).
    ///
    /// # Errors
    ///
    /// [`SettingError::SslMode`] naming the bad value.
    pub fn ssl_mode(&self) -> Result<SslMode, SettingError> {
        match (&self.sslmode, self.ssl) {
            (Some(text), _) => SslMode::parse(text).ok_or_else(|| SettingError::SslMode {
                value: text.clone(),
            }),
            (None, Some(true)) => Ok(SslMode::Require),
            (None, _) => Ok(SslMode::Prefer),
        }
    }

    /// The replication method for streams whose catalog entry names none.
    ///
    /// # Errors
    ///
    /// [`SettingError::ReplicationMethod`] naming the bad value.
    pub fn default_replication_method(&self) -> Result<Option<ReplicationMethod>, SettingError> {
        self.default_replication_method
            .as_deref()
            .map(|text| text.parse().map_err(SettingError::ReplicationMethod))
            .transpose()
    }

    /// The connect timeout.
    #[must_use]
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_secs(self.connect_timeout)
    }
}

/// A setting whose value the tap does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SettingError {
    /// `sslmode` is not one of libpq's modes.
    #[error("sslmode {value:?} is not one of disable, prefer, require, verify-ca, verify-full")]
    SslMode {
        /// The value given.
        value: String,
    },
    /// `default_replication_method` is not a Singer replication method.
    #[error(transparent)]
    ReplicationMethod(singer_protocol::UnknownReplicationMethod),
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use singer_protocol::{ConfigSource, load_config_with_env};

    use super::*;

    #[test]
    fn declared_defaults_decode_and_resolved_later_ones_stay_absent() {
        let config = TapConfig::from_defaults().expect("every declared default decodes");
        assert_eq!(
            (config.host, config.port, config.sslmode),
            (None, None, None)
        );
        assert_eq!(config.connect_timeout, 30);
        assert_eq!(config.statement_timeout, 0);
        assert_eq!(config.application_name, "tap-postgres");
        assert_eq!(
            (config.state_interval, config.itersize, config.max_retries),
            (10_000, 20_000, 3)
        );
        assert!(config.filter_schemas.is_empty());
    }

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
    fn counts_and_intervals_of_zero_are_refused_with_their_name_not_clamped() {
        for setting in ["PARALLELISM", "METRICS_INTERVAL_SECONDS"] {
            let key = format!("TAP_POSTGRES_{setting}");
            let error = load_config_with_env::<TapConfig>(&[ConfigSource::Env], &ABOUT, |k| {
                (k == key).then(|| "0".to_owned())
            })
            .expect_err("0 is refused");
            let message = format!("{:#}", singer_protocol::ErrorChain(&error));
            assert!(
                message.contains(&setting.to_ascii_lowercase()) && message.contains("at least 1"),
                "{message}"
            );
        }
        let config = load(&[
            ("TAP_POSTGRES_PARALLELISM", "3"),
            ("TAP_POSTGRES_METRICS_INTERVAL_SECONDS", "5"),
        ]);
        assert_eq!(
            (
                config.parallelism.get(),
                config.metrics_interval_seconds.get()
            ),
            (3, 5)
        );
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
            config.ssl_mode().map_err(|e| e.to_string()),
            Err("sslmode \"sometimes\" is not one of disable, prefer, require, verify-ca, verify-full".into())
        );
    }
}
