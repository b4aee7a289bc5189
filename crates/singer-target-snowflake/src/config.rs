//! target-snowflake's settings: the Snowflake ones (pipelinewise and
//! MeltanoLabs names) and the driver's.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use singer_protocol::{About, SecretString, Setting, SettingKind};
use singer_schema::ValidationPolicy;
use singer_target::{DriverConfig, DriverSettings, RetryPolicy};

use crate::error::{Error, Result};

/// `--about` and the settings list.
pub const ABOUT: About = About {
    name: "target-snowflake",
    version: env!("CARGO_PKG_VERSION"),
    description: "Singer target loading Snowflake: tables created and evolved from the SCHEMA, every batch \
                  staged and applied in one transaction (MERGE, INSERT or overwrite), exact values, STATE only \
                  after its rows are committed.",
    capabilities: &[
        "about",
        "schema-flattening",
        "validate-records",
        "activate-version",
        "hard-delete",
    ],
    settings: SETTINGS,
};

const SETTINGS: &[Setting] = &[
    Setting::new("account", SettingKind::String, "Account identifier (`xy12345.eu-central-1`, `org-account`).")
        .required(),
    Setting::new("user", SettingKind::String, "User name.").aliases(&["username"]).required(),
    Setting::new("password", SettingKind::String, "Password (or use a key pair).").secret(),
    Setting::new(
        "private_key",
        SettingKind::String,
        "Key-pair authentication: the PKCS#8 private key in PEM (`-----BEGIN PRIVATE KEY-----` or \
         `-----BEGIN ENCRYPTED PRIVATE KEY-----`).",
    )
    .secret(),
    Setting::new("private_key_path", SettingKind::String, "Key-pair authentication: a file holding the PEM key.")
        .aliases(&["private_key_file"]),
    Setting::new("private_key_passphrase", SettingKind::String, "Passphrase of an encrypted private key.")
        .secret(),
    Setting::new("role", SettingKind::String, "Role to use."),
    Setting::new("warehouse", SettingKind::String, "Warehouse to use."),
    Setting::new("database", SettingKind::String, "Database to load into.").aliases(&["dbname"]).required(),
    Setting::new(
        "default_target_schema",
        SettingKind::String,
        "Schema for streams whose name has no schema part (`GITLAB_DB_ISSUES`); `<schema>-<table>` streams go \
         here too unless schema_mapping maps their source schema. Unquoted-style: folded to upper case.",
    )
    .aliases(&["schema"]),
    Setting::new(
        "schema_mapping",
        SettingKind::Object,
        "pipelinewise's per-source-schema targets: {\"public\": {\"target_schema\": \"RAW\"}}.",
    ),
    Setting::new(
        "load_method",
        SettingKind::String,
        "append-only (INSERT), upsert (MERGE on key_properties, the last record per key in a batch wins; \
         streams without keys are appended) or overwrite (the first batch of each stream in the run replaces \
         the table's rows).",
    )
    .default_value("\"upsert\""),
    Setting::new(
        "hard_delete",
        SettingKind::Boolean,
        "Delete rows whose _sdc_deleted_at is set, and rows of other table versions at ACTIVATE_VERSION \
         (off: those are soft-deleted by setting _sdc_deleted_at).",
    )
    .default_value("false"),
    Setting::new("timestamp_type", SettingKind::String, "NTZ (TIMESTAMP_NTZ, UTC) or TZ (TIMESTAMP_TZ).")
        .default_value("\"NTZ\""),
    Setting::new("query_tag", SettingKind::String, "QUERY_TAG session parameter, for Snowflake's query history."),
    Setting::new(
        "special_values",
        SettingKind::String,
        "Values no Snowflake type holds (NaN/Infinity in a NUMBER, 'infinity' or years outside 1..9999 in a \
         date or timestamp): error (the run fails naming stream, column and value) or null (load NULL, \
         counted and logged at warn).",
    )
    .default_value("\"error\""),
    Setting::new(
        "identifier_case",
        SettingKind::String,
        "upper (names folded to upper case, pipelinewise's habit; two names that fold alike fail) or \
         preserve (names kept exactly as the tap wrote them). Identifiers are always quoted.",
    )
    .default_value("\"upper\""),
    Setting::new(
        "endpoint",
        SettingKind::String,
        "Base URL overriding https://<account>.snowflakecomputing.com (a proxy, a private link, the test double).",
    )
    .aliases(&["url", "host_url"]),
    Setting::new(
        "session_parameters",
        SettingKind::Object,
        "Extra session parameters sent at login ({\"TIMEZONE\": \"UTC\"}).",
    ),
    Setting::new(
        "max_bind_bytes",
        SettingKind::Integer,
        "Largest JSON bind value per staging statement (Snowflake's limit is 16 MB); a batch is split into \
         as many statements as needed.",
    )
    .default_value("8388608"),
    Setting::new("max_retries", SettingKind::Integer, "Retries of a batch after a transient failure.")
        .default_value("4"),
    Setting::new(
        "query_timeout_seconds",
        SettingKind::Integer,
        "Client-side limit on waiting for one statement.",
    )
    .default_value("3600"),
    Setting::new("validate_records", SettingKind::Boolean, "Validate records against their schema.")
        .default_value("true"),
    Setting::new("validation_policy", SettingKind::String, "fail, skip (count, warn, drop) or log (warn, keep).")
        .default_value("\"fail\""),
    Setting::new("add_record_metadata", SettingKind::Boolean, "Add the _sdc_* metadata columns.")
        .default_value("false"),
    Setting::new("flattening_enabled", SettingKind::Boolean, "Flatten nested objects into parent__child columns.")
        .default_value("false"),
    Setting::new("flattening_max_depth", SettingKind::Integer, "Levels to flatten.").default_value("0"),
    Setting::new("batch_size_rows", SettingKind::Integer, "Rows per batch (staged; committed at STATE).")
        .default_value("100000"),
    Setting::new("batch_max_bytes", SettingKind::Integer, "Bytes per batch (memory bound per stream).")
        .default_value("33554432"),
    Setting::new("batch_max_age_seconds", SettingKind::Integer, "Seconds before a batch is written.")
        .default_value("60"),
    Setting::new("metrics_interval_seconds", SettingKind::Integer, "Seconds between METRIC lines.")
        .default_value("60"),
    Setting::new(
        "max_line_bytes",
        SettingKind::Integer,
        "Longest input line accepted, in bytes; a longer one fails the run with its line number.",
    )
    .default_value("67108864"),
];

/// How rows reach the table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LoadMethod {
    /// INSERT every record.
    #[serde(alias = "append_only", alias = "append")]
    AppendOnly,
    /// MERGE on the key properties; the last record per key within a batch
    /// wins. Streams without key properties are appended.
    #[default]
    Upsert,
    /// The first batch of each stream in the run deletes the table's rows
    /// (in its own transaction), later batches append.
    Overwrite,
}

/// The Snowflake type of `date-time` columns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize)]
pub enum TimestampType {
    /// `TIMESTAMP_NTZ`, values converted to UTC (pipelinewise's default).
    #[default]
    #[serde(alias = "ntz", alias = "TIMESTAMP_NTZ")]
    NTZ,
    /// `TIMESTAMP_TZ`, values rendered in UTC.
    #[serde(alias = "tz", alias = "TIMESTAMP_TZ")]
    TZ,
}

impl TimestampType {
    /// The SQL type name.
    #[must_use]
    pub const fn sql(self) -> &'static str {
        match self {
            Self::NTZ => "TIMESTAMP_NTZ",
            Self::TZ => "TIMESTAMP_TZ",
        }
    }
}

/// What happens to a value no Snowflake type holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpecialValues {
    /// Fail the batch, naming stream, column and value (the default).
    #[default]
    Error,
    /// Load NULL; counted and logged at `warn`.
    Null,
}

/// How property and stream names become identifiers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdentifierCase {
    /// Fold to upper case (what an unquoted name means in Snowflake).
    #[default]
    Upper,
    /// Keep the name exactly.
    Preserve,
}

/// One `schema_mapping` entry (pipelinewise).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SchemaMapping {
    /// The target schema of streams from this source schema.
    pub target_schema: String,
}

/// The configuration, as read by [`singer_protocol::load_config`] with
/// [`ABOUT`] (aliases already mapped to these names).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnowflakeConfig {
    /// Account identifier.
    pub account: String,
    /// User.
    pub user: String,
    /// Password.
    #[serde(default)]
    pub password: Option<SecretString>,
    /// PEM private key.
    #[serde(default)]
    pub private_key: Option<SecretString>,
    /// File with the PEM private key.
    #[serde(default)]
    pub private_key_path: Option<PathBuf>,
    /// Passphrase of an encrypted key.
    #[serde(default)]
    pub private_key_passphrase: Option<SecretString>,
    /// Role.
    #[serde(default)]
    pub role: Option<String>,
    /// Warehouse.
    #[serde(default)]
    pub warehouse: Option<String>,
    /// Database.
    pub database: String,
    /// Default schema.
    #[serde(default)]
    pub default_target_schema: Option<String>,
    /// Per-source-schema targets.
    #[serde(default)]
    pub schema_mapping: BTreeMap<String, SchemaMapping>,
    /// Load method.
    #[serde(default)]
    pub load_method: LoadMethod,
    /// Hard deletes.
    #[serde(default)]
    pub hard_delete: bool,
    /// Timestamp type.
    #[serde(default)]
    pub timestamp_type: TimestampType,
    /// QUERY_TAG.
    #[serde(default)]
    pub query_tag: Option<String>,
    /// Special values policy.
    #[serde(default)]
    pub special_values: SpecialValues,
    /// Identifier case.
    #[serde(default)]
    pub identifier_case: IdentifierCase,
    /// Endpoint override.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Extra login session parameters.
    #[serde(default)]
    pub session_parameters: BTreeMap<String, Value>,
    /// Bind size limit per staging statement.
    #[serde(default = "default_max_bind_bytes")]
    pub max_bind_bytes: usize,
    /// Retries.
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
    /// Statement timeout.
    #[serde(default = "default_query_timeout")]
    pub query_timeout_seconds: u64,
    /// Validate records.
    #[serde(default = "yes")]
    pub validate_records: bool,
    /// What happens to invalid records.
    #[serde(default)]
    pub validation_policy: ValidationPolicy,
    /// `_sdc_*` columns.
    #[serde(default)]
    pub add_record_metadata: bool,
    /// Flattening switch.
    #[serde(default)]
    pub flattening_enabled: bool,
    /// Flattening depth.
    #[serde(default)]
    pub flattening_max_depth: usize,
    /// Rows per batch.
    #[serde(default = "default_batch_rows")]
    pub batch_size_rows: usize,
    /// Bytes per batch.
    #[serde(default = "default_batch_bytes")]
    pub batch_max_bytes: usize,
    /// Batch age.
    #[serde(default = "default_batch_age")]
    pub batch_max_age_seconds: u64,
    /// Seconds between METRIC lines.
    #[serde(default = "default_metrics_interval")]
    pub metrics_interval_seconds: u64,
    /// Longest input line accepted, in bytes.
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: usize,
}

const fn default_max_line_bytes() -> usize {
    singer_protocol::DEFAULT_MAX_LINE_BYTES
}

const fn default_max_bind_bytes() -> usize {
    8 * 1024 * 1024
}
const fn default_max_retries() -> u32 {
    4
}
const fn default_query_timeout() -> u64 {
    3600
}
const fn yes() -> bool {
    true
}
const fn default_batch_rows() -> usize {
    100_000
}
const fn default_batch_bytes() -> usize {
    32 * 1024 * 1024
}
const fn default_batch_age() -> u64 {
    60
}
const fn default_metrics_interval() -> u64 {
    60
}

/// Snowflake's limit on one bind value.
pub const MAX_BIND_BYTES: usize = 16 * 1024 * 1024;

/// How the loader logs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// User and password.
    Password(SecretString),
    /// Key-pair JWT: the PEM and its passphrase, if encrypted.
    KeyPair {
        /// PKCS#8 PEM.
        pem: SecretString,
        /// Passphrase of an encrypted PEM.
        passphrase: Option<SecretString>,
    },
}

impl SnowflakeConfig {
    /// A configuration with the required settings and every default (for
    /// tests and embedding).
    #[must_use]
    pub fn new(account: &str, user: &str, database: &str) -> Self {
        Self {
            account: account.to_owned(),
            user: user.to_owned(),
            password: None,
            private_key: None,
            private_key_path: None,
            private_key_passphrase: None,
            role: None,
            warehouse: None,
            database: database.to_owned(),
            default_target_schema: None,
            schema_mapping: BTreeMap::new(),
            load_method: LoadMethod::Upsert,
            hard_delete: false,
            timestamp_type: TimestampType::NTZ,
            query_tag: None,
            special_values: SpecialValues::Error,
            identifier_case: IdentifierCase::Upper,
            endpoint: None,
            session_parameters: BTreeMap::new(),
            max_bind_bytes: default_max_bind_bytes(),
            max_retries: default_max_retries(),
            query_timeout_seconds: default_query_timeout(),
            validate_records: true,
            validation_policy: ValidationPolicy::Fail,
            add_record_metadata: false,
            flattening_enabled: false,
            flattening_max_depth: 0,
            batch_size_rows: default_batch_rows(),
            batch_max_bytes: default_batch_bytes(),
            batch_max_age_seconds: default_batch_age(),
            metrics_interval_seconds: default_metrics_interval(),
            max_line_bytes: default_max_line_bytes(),
        }
    }

    /// The driver's settings: every batch is its own transaction, so the
    /// driver commits (and lets STATE out) after every batch write.
    #[must_use]
    pub fn driver_config(&self) -> DriverConfig {
        DriverSettings {
            validate_records: self.validate_records,
            validation_policy: self.validation_policy,
            add_record_metadata: self.add_record_metadata,
            flattening_enabled: self.flattening_enabled,
            flattening_max_depth: self.flattening_max_depth,
            batch_size_rows: self.batch_size_rows,
            batch_max_bytes: self.batch_max_bytes,
            batch_max_age_seconds: self.batch_max_age_seconds,
            metrics_interval_seconds: self.metrics_interval_seconds,
            max_line_bytes: self.max_line_bytes,
        }
        .driver_config()
        .with_commit_interval(Some(Duration::ZERO))
        .with_retry(self.retry_policy())
    }

    /// The one retry policy of a run, `max_retries` retries after the first
    /// attempt: the driver's for `write_batch` and `commit`, the loader's
    /// for the calls the driver does not retry.
    pub(crate) const fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy::new().with_retries(self.max_retries)
    }

    /// The credentials: a key pair (`private_key`, else the file at
    /// `private_key_path`) wins over a password.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when there are neither, or the key file cannot be
    /// read (the message names the path, never the key).
    pub fn credentials(&self) -> Result<Credentials> {
        let pem = match (&self.private_key, &self.private_key_path) {
            (Some(pem), _) => Some(pem.clone()),
            (None, Some(path)) => Some(SecretString::new(std::fs::read_to_string(path).map_err(
                |e| Error::Config {
                    reason: format!("reading private_key_path {}: {e}", path.display()),
                },
            )?)),
            (None, None) => None,
        };
        match (pem, &self.password) {
            (Some(pem), _) => Ok(Credentials::KeyPair {
                pem,
                passphrase: self.private_key_passphrase.clone(),
            }),
            (None, Some(password)) => Ok(Credentials::Password(password.clone())),
            (None, None) => Err(Error::Config {
                reason:
                    "set password, or private_key / private_key_path for key-pair authentication"
                        .to_owned(),
            }),
        }
    }

    /// Checks the settings that can be checked without a connection.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the setting.
    pub fn check(&self) -> Result<()> {
        self.credentials()?;
        if self.max_bind_bytes == 0 || self.max_bind_bytes > MAX_BIND_BYTES {
            return Err(Error::Config {
                reason: format!("max_bind_bytes must be between 1 and {MAX_BIND_BYTES}"),
            });
        }
        if let Some(endpoint) = &self.endpoint {
            url::Url::parse(endpoint).map_err(|e| Error::Config {
                reason: format!("endpoint {endpoint:?} is not a URL: {e}"),
            })?;
        }
        for (name, text) in [
            ("account", &self.account),
            ("user", &self.user),
            ("database", &self.database),
        ] {
            if text.trim().is_empty() {
                return Err(Error::Config {
                    reason: format!("{name} must not be empty"),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_and_credentials_resolved() {
        let mut config = SnowflakeConfig::new("acc", "me", "DB");
        assert!(config.credentials().is_err());
        config.password = Some(SecretString::new("hunter2"));
        assert_eq!(
            config.credentials().expect("password"),
            Credentials::Password(SecretString::new("hunter2"))
        );
        config.private_key = Some(SecretString::new("-----BEGIN PRIVATE KEY-----"));
        config.private_key_passphrase = Some(SecretString::new("open sesame"));
        assert!(matches!(
            config.credentials(),
            Ok(Credentials::KeyPair { .. })
        ));
        let debug = format!("{config:?}");
        assert!(
            !debug.contains("hunter2") && !debug.contains("BEGIN") && !debug.contains("sesame")
        );
        assert_eq!(config.driver_config().commit_interval, Some(Duration::ZERO));
        config.private_key = None;
        config.private_key_path = Some(PathBuf::from("/no/such/key.p8"));
        let error = config.credentials().expect_err("missing file");
        assert!(error.to_string().contains("/no/such/key.p8"));
    }

    #[test]
    fn names_from_pipelinewise_and_meltano_configs() {
        let config: SnowflakeConfig = serde_json::from_value(serde_json::json!({
            "account": "a", "user": "u", "database": "d", "password": "p",
            "load_method": "append-only", "timestamp_type": "TZ",
            "schema_mapping": {"public": {"target_schema": "RAW"}},
        }))
        .expect("config");
        assert_eq!(config.load_method, LoadMethod::AppendOnly);
        assert_eq!(config.timestamp_type, TimestampType::TZ);
        assert_eq!(config.schema_mapping["public"].target_schema, "RAW");
        config.check().expect("valid");
    }
}
