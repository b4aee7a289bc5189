//! The driver's settings.

use std::time::Duration;

use singer_protocol::RetryPolicy;
use singer_schema::{FlatteningConfig, ValidationConfig};

/// When a stream's open batch closes (is written to the loader): on the
/// first of `max_records`, `max_bytes` and `max_age` (the age of its first
/// record). Memory per stream is bounded by `max_bytes` plus one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchConfig {
    /// Rows per batch (default 100,000).
    pub max_records: usize,
    /// Estimated bytes per batch: the records' JSON text plus 8 bytes per
    /// cell (default 32 MiB).
    pub max_bytes: usize,
    /// Age of a batch's first record after which it closes (default 60 s).
    pub max_age: Duration,
}

impl BatchConfig {
    /// The defaults: 100,000 rows, 32 MiB, 60 s.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            max_records: 100_000,
            max_bytes: 32 * 1024 * 1024,
            max_age: Duration::from_secs(60),
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

/// The driver settings every target exposes under the same names
/// (`validate_records`, `validation_policy`, `add_record_metadata`,
/// `flattening_*`, `batch_*`, `metrics_interval_seconds`, `max_line_bytes`), as read from its
/// configuration, and the one mapping from them to a [`DriverConfig`].
///
/// Each target's config type keeps these as its own fields rather than
/// `#[serde(flatten)]`ing a shared struct: with serde_json's
/// `arbitrary_precision` (on in this workspace), flattened numeric fields
/// fail to decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DriverSettings {
    /// `validate_records`.
    pub validate_records: bool,
    /// `validation_policy`.
    pub validation_policy: singer_schema::ValidationPolicy,
    /// `add_record_metadata`.
    pub add_record_metadata: bool,
    /// `flattening_enabled`.
    pub flattening_enabled: bool,
    /// `flattening_max_depth`.
    pub flattening_max_depth: usize,
    /// `batch_size_rows`.
    pub batch_size_rows: usize,
    /// `batch_max_bytes`.
    pub batch_max_bytes: usize,
    /// `batch_max_age_seconds`.
    pub batch_max_age_seconds: u64,
    /// `metrics_interval_seconds` (at least 1).
    pub metrics_interval_seconds: u64,
    /// `max_line_bytes` (at least 1): the longest input line accepted.
    pub max_line_bytes: usize,
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
            })
            .with_validate(self.validate_records)
            .with_validation(ValidationConfig::new().with_policy(self.validation_policy))
            .with_record_metadata(self.add_record_metadata)
            .with_flattening(FlatteningConfig {
                flattening_enabled: self.flattening_enabled,
                flattening_max_depth: self.flattening_max_depth,
            })
            .with_metrics_interval(Duration::from_secs(self.metrics_interval_seconds.max(1)));
        config.max_line_bytes = self.max_line_bytes.max(1);
        config
    }
}
