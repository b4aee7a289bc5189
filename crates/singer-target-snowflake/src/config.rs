//! target-snowflake's settings: the Snowflake ones (pipelinewise and
//! MeltanoLabs names) and the driver's.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use singer_protocol::{About, SecretString};
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
    settings: SnowflakeConfig::ALL_SETTINGS,
};

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

/// How batches reach Snowflake.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Staging {
    /// Gzip NDJSON files PUT to a stage, loaded with `COPY INTO` at the
    /// commit (what every production peer does).
    #[default]
    Stage,
    /// Each batch bound as one JSON text to `INSERT ... SELECT ... FROM
    /// TABLE(FLATTEN(PARSE_JSON(?)))`.
    Bind,
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

singer_protocol::settings! {
    /// The configuration, as read by [`singer_protocol::load_config`] with
    /// [`ABOUT`] (aliases already mapped to these names): the Snowflake
    /// settings (pipelinewise and MeltanoLabs names) declared here once, and
    /// the driver's ([`DriverSettings`]).
    #[derive(Debug, Clone)]
    pub struct SnowflakeConfig {
        account: String = String(
            "Account identifier (`xy12345.eu-central-1`, `org-account`)."
        )
        .required(),
        user: String = String("User name.").aliases(&["username"]).required(),
        password: Option<SecretString> = String("Password (or use a key pair).").secret(),
        private_key: Option<SecretString> = String(
            "Key-pair authentication: the PKCS#8 private key in PEM (`-----BEGIN PRIVATE KEY-----` or \
             `-----BEGIN ENCRYPTED PRIVATE KEY-----`)."
        )
        .secret(),
        private_key_path: Option<PathBuf> = String(
            "Key-pair authentication: a file holding the PEM key."
        )
        .aliases(&["private_key_file"]),
        private_key_passphrase: Option<SecretString> = String(
            "Passphrase of an encrypted private key."
        )
        .secret(),
        role: Option<String> = String("Role to use."),
        warehouse: Option<String> = String("Warehouse to use."),
        database: String = String("Database to load into.").aliases(&["dbname"]).required(),
        default_target_schema: Option<String> = String(
            "Schema for streams whose name has no schema part (`GITLAB_DB_ISSUES`); `<schema>-<table>` streams go \
             here too unless schema_mapping maps their source schema. Unquoted-style: folded to upper case."
        )
        .aliases(&["schema"]),
        schema_mapping: BTreeMap<String, SchemaMapping> = Object(
            "pipelinewise's per-source-schema targets: {\"public\": {\"target_schema\": \"RAW\"}}."
        ),
        load_method: LoadMethod = String(
            "append-only (INSERT), upsert (MERGE on key_properties, the last record per key in a batch wins; \
             streams without keys are appended) or overwrite (the first batch of each stream in the run replaces \
             the table's rows)."
        )
        .default_value("\"upsert\""),
        hard_delete: bool = Boolean(
            "Delete rows whose _sdc_deleted_at is set, and rows of other table versions at ACTIVATE_VERSION \
             (off: those are soft-deleted by setting _sdc_deleted_at)."
        )
        .default_value("false"),
        max_delete_ratio: f64 = Number(
            "Deletes detection's guard: a complete key set (`<stream>__keys`) that would mark more than this \
             fraction of a table's live rows deleted fails the run and deletes nothing (0 to 1; 1 turns the \
             guard off)."
        )
        .default_value("0.5"),
        timestamp_type: TimestampType = String(
            "NTZ (TIMESTAMP_NTZ, UTC) or TZ (TIMESTAMP_TZ)."
        )
        .default_value("\"NTZ\""),
        query_tag: Option<String> = String(
            "QUERY_TAG of the run's sessions, for Snowflake's query history; {{run_id}} becomes this \
             run's id, {{database}} and {{schema}} the database and default_target_schema (as in \
             pipelinewise), {{table}} `*` (one session loads every table). Unset: no tag is sent, so a \
             user's or account's own QUERY_TAG stays."
        ),
        special_values: SpecialValues = String(
            "Values no Snowflake type holds (NaN/Infinity in a NUMBER, 'infinity' or years outside 1..9999 in a \
             date or timestamp): error (the run fails naming stream, column and value) or null (load NULL, \
             counted and logged at warn)."
        )
        .default_value("\"error\""),
        identifier_case: IdentifierCase = String(
            "upper (names folded to upper case, pipelinewise's habit; two names that fold alike fail) or \
             preserve (names kept exactly as the tap wrote them). Identifiers are always quoted."
        )
        .default_value("\"upper\""),
        endpoint: Option<String> = String(
            "Base URL overriding https://<account>.snowflakecomputing.com (a proxy, a private link, the test double)."
        )
        .aliases(&["url", "host_url"]),
        session_parameters: BTreeMap<String, Value> = Object(
            "Extra session parameters sent at login ({\"TIMEZONE\": \"UTC\"})."
        ),
        staging: Staging = String(
            "How batches reach Snowflake: stage (gzip NDJSON files PUT to a stage, then COPY INTO at the \
             commit; files stay until the commit that loads them succeeds, so a failed commit is retried from \
             them) or bind (each batch bound as JSON text to an INSERT; the fallback for roles that cannot \
             use a stage)."
        )
        .default_value("\"stage\""),
        stage: Option<String> = String(
            "The named stage for staged files, unquoted as pipelinewise takes it (`RAW.MY_STAGE`). Default: \
             `<schema>.SINGER_RS_FILES` in each target schema, created when missing (needs CREATE STAGE on \
             the schema; a given stage needs READ and WRITE)."
        ),
        upload_parallelism: singer_protocol::AtLeastOne = Integer(
            "Staged files uploaded at once (staging: stage); at least 1."
        )
        .default_value("4"),
        max_bind_bytes: usize = Integer(
            "Largest JSON bind value per staging statement (Snowflake's limit is 16 MB); a batch is split into \
             as many statements as needed."
        )
        .default_value("8388608"),
        max_retries: u32 = Integer(
            "Retries of each loader call (batch, commit, table DDL, login) after a transient failure: at \
             most max_retries + 1 attempts, each retried by one layer only."
        )
        .default_value("4"),
        query_timeout_seconds: u64 = Integer(
            "Client-side limit on waiting for one statement."
        )
        .default_value("3600"),
    }
    include {
        /// The driver's settings.
        driver: DriverSettings,
    }
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
            database: database.to_owned(),
            ..Self::default()
        }
    }

    /// The driver's settings: every batch is its own transaction, so the
    /// driver commits (and lets STATE out) after every batch write.
    #[must_use]
    pub fn driver_config(&self) -> DriverConfig {
        self.driver
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
        if !(0.0..=1.0).contains(&self.max_delete_ratio) {
            return Err(Error::Config {
                reason: format!(
                    "max_delete_ratio must be between 0 and 1, not {}",
                    self.max_delete_ratio
                ),
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

/// `query_tag` with its tokens replaced: `{{run_id}}` by `run`,
/// `{{database}}` and `{{schema}}` (pipelinewise's) by `database` and
/// `schema` (empty without one), and `{{table}}` by `*`: one session loads
/// every table of the run, so a tag cannot name one.
///
/// ```
/// use singer_target_snowflake::expand_query_tag;
///
/// assert_eq!(
///     expand_query_tag("singer {{database}}.{{schema}}.{{table}} {{run_id}}", "r1", "DB", Some("RAW")),
///     "singer DB.RAW.* r1"
/// );
/// assert_eq!(expand_query_tag("nightly", "r1", "DB", None), "nightly");
/// // Values are not expanded again; unknown `{{...}}` stays.
/// assert_eq!(
///     expand_query_tag("{{database}} {{other}}", "r1", "{{schema}}", Some("RAW")),
///     "{{schema}} {{other}}"
/// );
/// ```
#[must_use]
pub fn expand_query_tag(template: &str, run: &str, database: &str, schema: Option<&str>) -> String {
    let tokens = [
        ("{{run_id}}", run),
        ("{{database}}", database),
        ("{{schema}}", schema.unwrap_or_default()),
        ("{{table}}", "*"),
    ];
    // One pass: a value that holds a token stays as it is.
    let mut tag = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(at) = rest.find("{{") {
        let (before, from) = rest.split_at(at);
        tag.push_str(before);
        match tokens.iter().find(|(token, _)| from.starts_with(token)) {
            Some((token, value)) => {
                tag.push_str(value);
                rest = from.get(token.len()..).unwrap_or_default();
            }
            None => {
                tag.push_str("{{");
                rest = from.get(2..).unwrap_or_default();
            }
        }
    }
    tag.push_str(rest);
    tag
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_defaults_decode_to_the_documented_values() {
        let config = SnowflakeConfig::from_defaults().expect("every declared default decodes");
        assert_eq!(config.load_method, LoadMethod::Upsert);
        assert!(!config.hard_delete);
        assert!((config.max_delete_ratio - 0.5).abs() < f64::EPSILON);
        assert_eq!(config.timestamp_type, TimestampType::NTZ);
        assert_eq!(config.special_values, SpecialValues::Error);
        assert_eq!(config.identifier_case, IdentifierCase::Upper);
        assert_eq!(config.max_bind_bytes, 8 * 1024 * 1024);
        assert_eq!(config.max_retries, 4);
        assert_eq!(config.query_timeout_seconds, 3600);
        assert_eq!(config.driver, DriverSettings::default());
        let new = SnowflakeConfig::new("a", "u", "d");
        assert_eq!(
            (new.account.as_str(), new.max_bind_bytes),
            ("a", config.max_bind_bytes)
        );
        let missing = serde_json::from_value::<SnowflakeConfig>(
            serde_json::json!({"user": "u", "database": "d"}),
        )
        .expect_err("account is required");
        assert_eq!(missing.to_string(), "missing field `account`");
    }

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
