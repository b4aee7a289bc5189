//! The driver's settings.

use std::time::Duration;

use singer_protocol::RetryPolicy;
use singer_schema::{FlatteningConfig, ValidationConfig};

/// When a stream's open batch closes (is written to the loader): on the
/// first of `max_records`, `max_bytes` and `max_age` (the age of its first
/// record). Memory per stream is bounded by `max_bytes` plus one record,
/// and across streams by `max_total_bytes`: past it, the largest open
/// batches are written (not committed: the STATE rule is unchanged) until
/// the total is under it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchConfig {
    /// Rows per batch (default 100,000).
    pub max_records: usize,
    /// Estimated bytes per batch: the records' JSON text plus 8 bytes per
    /// cell (default 32 MiB).
    pub max_bytes: usize,
    /// Age of a batch's first record after which it closes (default 60 s).
    pub max_age: Duration,
    /// Estimated bytes of all streams' open batches together (default
    /// 256 MiB): many interleaved streams (a manifest run of 120 tables)
    /// stay within it.
    pub max_total_bytes: usize,
}

impl BatchConfig {
    /// The defaults: 100,000 rows, 32 MiB, 60 s.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            max_records: 100_000,
            max_bytes: 32 * 1024 * 1024,
            max_age: Duration::from_secs(60),
            max_total_bytes: 256 * 1024 * 1024,
        }
    }
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// Everything the driver is told; binaries build it from their config.
///
/// ```
/// use std::time::Duration;
/// use singer_target::DriverConfig;
///
/// let config = DriverConfig::default().with_commit_interval(Some(Duration::ZERO));
/// assert!(config.validate);
/// assert_eq!(config.commit_interval, Some(Duration::ZERO));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DriverConfig {
    /// Batch limits.
    pub batch: BatchConfig,
    /// How often the driver commits (and so how often STATE is written):
    /// `Some(d)`: at the first batch write or STATE after `d` has passed
    /// since the last commit (`Some(ZERO)`: after every batch write);
    /// `None`: only at the end of the input (and on a signal). Default 60 s.
    pub commit_interval: Option<Duration>,
    /// Whether records are validated against their stream's schema
    /// (default on).
    pub validate: bool,
    /// Validation settings, the policy among them.
    pub validation: ValidationConfig,
    /// Add the `_sdc_*` metadata columns (default off).
    pub add_record_metadata: bool,
    /// Flattening of nested objects (default off).
    pub flattening: FlatteningConfig,
    /// Interval between Singer `METRIC` lines (default 60 s).
    pub metrics_interval: Duration,
    /// Retries of [`crate::Loader::write_batch`] and [`crate::Loader::commit`]
    /// for errors the loader calls retryable (default: 3 attempts in all).
    pub retry: RetryPolicy,
    /// Longest input line accepted, in bytes.
    pub max_line_bytes: usize,
}

impl DriverConfig {
    /// The defaults (see each field).
    #[must_use]
    pub const fn new() -> Self {
        Self {
            batch: BatchConfig::new(),
            commit_interval: Some(Duration::from_secs(60)),
            validate: true,
            validation: ValidationConfig::new(),
            add_record_metadata: false,
            flattening: FlatteningConfig {
                flattening_enabled: false,
                flattening_max_depth: 0,
            },
            metrics_interval: Duration::from_secs(60),
            retry: RetryPolicy::new(),
            max_line_bytes: singer_protocol::DEFAULT_MAX_LINE_BYTES,
        }
    }

    /// Sets [`DriverConfig::batch`].
    #[must_use]
    pub const fn with_batch(mut self, batch: BatchConfig) -> Self {
        self.batch = batch;
        self
    }

    /// Sets [`DriverConfig::commit_interval`].
    #[must_use]
    pub const fn with_commit_interval(mut self, interval: Option<Duration>) -> Self {
        self.commit_interval = interval;
        self
    }

    /// Sets [`DriverConfig::validate`].
    #[must_use]
    pub const fn with_validate(mut self, validate: bool) -> Self {
        self.validate = validate;
        self
    }

    /// Sets [`DriverConfig::validation`].
    #[must_use]
    pub const fn with_validation(mut self, validation: ValidationConfig) -> Self {
        self.validation = validation;
        self
    }

    /// Sets [`DriverConfig::add_record_metadata`].
    #[must_use]
    pub const fn with_record_metadata(mut self, yes: bool) -> Self {
        self.add_record_metadata = yes;
        self
    }

    /// Sets [`DriverConfig::flattening`].
    #[must_use]
    pub const fn with_flattening(mut self, flattening: FlatteningConfig) -> Self {
        self.flattening = flattening;
        self
    }

    /// Sets [`DriverConfig::retry`].
    #[must_use]
    pub const fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Sets [`DriverConfig::metrics_interval`].
    #[must_use]
    pub const fn with_metrics_interval(mut self, interval: Duration) -> Self {
        self.metrics_interval = interval;
        self
    }
}

impl Default for DriverConfig {
    fn default() -> Self {
        Self::new()
    }
}

singer_protocol::settings! {
    /// The driver settings every target exposes under the same names, as
    /// read from its configuration (a target's config includes this group:
    /// `include { driver: DriverSettings }`), and the one mapping from them
    /// to a [`DriverConfig`]. Declared once here: the names, types,
    /// defaults and descriptions of `--about`, `--help`, the environment
    /// variables and the serde decoding all come from this list.
    ///
    /// ```
    /// use singer_target::DriverSettings;
    ///
    /// let settings = DriverSettings::default();
    /// assert!(settings.validate_records);
    /// assert_eq!(settings.driver_config().batch.max_records, 100_000);
    /// assert!(DriverSettings::SETTINGS.iter().any(|s| s.name == "max_line_bytes"));
    /// ```
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct DriverSettings {
        validate_records: bool = Boolean("Validate records against their schema.").default_value("true"),
        validation_policy: singer_schema::ValidationPolicy =
            String("fail, skip (count, warn, drop) or log (warn, keep).").default_value("\"fail\""),
        add_record_metadata: bool = Boolean("Add the _sdc_* metadata columns.").default_value("false"),
        flattening_enabled: bool =
            Boolean("Flatten nested objects into parent__child columns.").default_value("false"),
        flattening_max_depth: usize = Integer("Levels to flatten.").default_value("0"),
        batch_size_rows: usize = Integer("Rows per batch.").default_value("100000"),
        batch_max_bytes: usize =
            Integer("Bytes per batch (memory bound per stream).").default_value("33554432"),
        batch_max_age_seconds: u64 =
            Integer("Seconds before a batch is written.").default_value("60"),
        batch_max_total_bytes: usize = Integer(
            "Bytes of all streams' open batches together (the memory bound across streams); past \
             it the largest batches are written early."
        )
        .default_value("268435456"),
        metrics_interval_seconds: singer_protocol::AtLeastOne =
            Integer("Seconds between METRIC lines (at least 1).").default_value("60"),
        max_line_bytes: usize = Integer(
            "Longest input line accepted, in bytes; a longer one fails the run with its line number."
        )
        .default_value("67108864"),
    }
}

impl DriverSettings {
    /// The driver configuration these settings ask for (commit interval
    /// and retries stay at their defaults for the caller to set).
    #[must_use]
    pub fn driver_config(&self) -> DriverConfig {
        let mut config = DriverConfig::default()
            .with_batch(BatchConfig {
                max_records: self.batch_size_rows,
                max_bytes: self.batch_max_bytes,
                max_age: Duration::from_secs(self.batch_max_age_seconds),
                max_total_bytes: self.batch_max_total_bytes.max(1),
            })
            .with_validate(self.validate_records)
            .with_validation(ValidationConfig::new().with_policy(self.validation_policy))
            .with_record_metadata(self.add_record_metadata)
            .with_flattening(FlatteningConfig {
                flattening_enabled: self.flattening_enabled,
                flattening_max_depth: self.flattening_max_depth,
            })
            .with_metrics_interval(Duration::from_secs(self.metrics_interval_seconds.get()));
        config.max_line_bytes = self.max_line_bytes.max(1);
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_defaults_are_the_driver_defaults() {
        let settings = DriverSettings::from_defaults().expect("every default decodes");
        let config = settings.driver_config();
        let defaults = DriverConfig::default();
        assert_eq!(config.batch, defaults.batch);
        assert_eq!(config.batch.max_total_bytes, 256 * 1024 * 1024);
        assert_eq!(config.validate, defaults.validate);
        assert_eq!(config.add_record_metadata, defaults.add_record_metadata);
        assert_eq!(config.flattening, defaults.flattening);
        assert_eq!(config.metrics_interval, defaults.metrics_interval);
        assert_eq!(config.max_line_bytes, defaults.max_line_bytes);
        assert_eq!(config.validation, defaults.validation);
    }

    #[test]
    fn a_metrics_interval_of_zero_is_refused_not_clamped() {
        let decode = |value: serde_json::Value| {
            let mut map = serde_json::Map::new();
            map.insert("metrics_interval_seconds".into(), value);
            DriverSettings::__decode(map, true)
        };
        let error = decode(serde_json::json!(0)).expect_err("0 is refused");
        assert!(error.to_string().contains("at least 1"), "{error}");
        let settings = decode(serde_json::json!(5)).expect("5 is fine");
        assert_eq!(
            settings.driver_config().metrics_interval,
            Duration::from_secs(5)
        );
    }
}
