//! target-csv's settings: the CSV ones (singer-io and MeltanoLabs names
//! accepted) and the driver's.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use singer_protocol::{About, Setting, SettingKind};
use singer_schema::ValidationPolicy;
use singer_target::{DriverConfig, DriverSettings};

use crate::error::{Error, Result};

/// `--about` and the settings list.
pub const ABOUT: About = About {
    name: "target-csv",
    version: env!("CARGO_PKG_VERSION"),
    description: "Singer target writing one CSV file per stream: header from the SCHEMA, exact numbers, \
                  NULL distinct from '', files published only when complete (fsync + rename), STATE only \
                  after its rows are durable.",
    capabilities: &["about", "schema-flattening", "validate-records"],
    settings: SETTINGS,
};

const SETTINGS: &[Setting] = &[
    Setting::new("destination_path", SettingKind::String, "Directory the files go to (created if missing).")
        .aliases(&["output_path"])
        .default_value("\".\""),
    Setting::new(
        "file_naming_scheme",
        SettingKind::String,
        "File name template: {stream} (or {stream_name}), {timestamp} (run start, UTC, 20240501T120000), \
         {datestamp} (2024-05-01), {run_id}, {part}. Without {part}, later parts get -0002, -0003 before \
         the extension.",
    ),
    Setting::new("delimiter", SettingKind::String, "Field delimiter, one ASCII character.").default_value("\",\""),
    Setting::new("quotechar", SettingKind::String, "Quote character, one ASCII character.")
        .aliases(&["quote_character"])
        .default_value("\"\\\"\""),
    Setting::new("line_terminator", SettingKind::String, "\\n or \\r\\n.").default_value("\"\\n\""),
    Setting::new("compression", SettingKind::String, "none or gzip (adds .gz to the name).")
        .default_value("\"none\""),
    Setting::new(
        "null_value",
        SettingKind::String,
        "How NULL is written (unquoted). An empty string value is always written quoted (\"\") so it stays \
         distinct, and a string equal to the NULL token is quoted too.",
    )
    .default_value("\"\""),
    Setting::new(
        "mode",
        SettingKind::String,
        "append (new files every run) or overwrite (replace each stream's file at the end, atomically; \
         STATE is then written at the end only).",
    )
    .default_value("\"append\""),
    Setting::new("validate_records", SettingKind::Boolean, "Validate records against their schema.")
        .default_value("true"),
    Setting::new("validation_policy", SettingKind::String, "fail, skip (count, warn, drop) or log (warn, keep).")
        .default_value("\"fail\""),
    Setting::new("add_record_metadata", SettingKind::Boolean, "Add the _sdc_* metadata columns.")
        .default_value("false"),
    Setting::new("flattening_enabled", SettingKind::Boolean, "Flatten nested objects into parent__child columns.")
        .default_value("false"),
    Setting::new("flattening_max_depth", SettingKind::Integer, "Levels to flatten.").default_value("0"),
    Setting::new("batch_size_rows", SettingKind::Integer, "Rows per batch.").default_value("100000"),
    Setting::new("batch_max_bytes", SettingKind::Integer, "Bytes per batch (memory bound per stream).")
        .default_value("33554432"),
    Setting::new("batch_max_age_seconds", SettingKind::Integer, "Seconds before a batch is written.")
        .default_value("60"),
    Setting::new(
        "commit_interval_seconds",
        SettingKind::Integer,
        "Seconds between commits (each publishes a new file part per stream and lets STATE out); 0: every batch.",
    )
    .default_value("300"),
    Setting::new("metrics_interval_seconds", SettingKind::Integer, "Seconds between METRIC lines.")
        .default_value("60"),
    Setting::new(
        "max_line_bytes",
        SettingKind::Integer,
        "Longest input line accepted, in bytes; a longer one fails the run with its line number.",
    )
    .default_value("67108864"),
];

/// append or overwrite.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// New files each run; earlier files are never touched (unless an
    /// `ACTIVATE_VERSION` says the stream holds only the new version).
    #[default]
    Append,
    /// Each stream's file is replaced, atomically, at the end of the run.
    Overwrite,
}

/// none or gzip.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// Plain CSV.
    #[default]
    None,
    /// gzip (`.gz` is added to names that lack it).
    Gzip,
}

/// The configuration, as read by [`singer_protocol::load_config`] with
/// [`ABOUT`] (aliases already mapped to these names).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvConfig {
    /// Directory of the files.
    #[serde(default = "default_destination")]
    pub destination_path: PathBuf,
    /// File name template; default `{stream}-{timestamp}.csv` in append
    /// mode, `{stream}.csv` in overwrite mode.
    #[serde(default)]
    pub file_naming_scheme: Option<String>,
    /// Field delimiter.
    #[serde(default = "default_delimiter")]
    pub delimiter: String,
    /// Quote character.
    #[serde(default = "default_quotechar")]
    pub quotechar: String,
    /// Line terminator.
    #[serde(default = "default_terminator")]
    pub line_terminator: String,
    /// Compression.
    #[serde(default)]
    pub compression: Compression,
    /// The NULL token.
    #[serde(default)]
    pub null_value: String,
    /// append or overwrite.
    #[serde(default)]
    pub mode: Mode,
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
    /// Seconds between commits.
    #[serde(default = "default_commit_interval")]
    pub commit_interval_seconds: u64,
    /// Seconds between METRIC lines.
    #[serde(default = "default_metrics_interval")]
    pub metrics_interval_seconds: u64,
    /// Longest input line accepted, in bytes.
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: usize,
}

fn default_destination() -> PathBuf {
    PathBuf::from(".")
}
fn default_delimiter() -> String {
    ",".to_owned()
}
fn default_quotechar() -> String {
    "\"".to_owned()
}
fn default_terminator() -> String {
    "\n".to_owned()
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
const fn default_commit_interval() -> u64 {
    300
}
const fn default_metrics_interval() -> u64 {
    60
}
const fn default_max_line_bytes() -> usize {
    singer_protocol::DEFAULT_MAX_LINE_BYTES
}

impl Default for CsvConfig {
    fn default() -> Self {
        Self {
            destination_path: default_destination(),
            file_naming_scheme: None,
            delimiter: default_delimiter(),
            quotechar: default_quotechar(),
            line_terminator: default_terminator(),
            compression: Compression::None,
            null_value: String::new(),
            mode: Mode::Append,
            validate_records: true,
            validation_policy: ValidationPolicy::Fail,
            add_record_metadata: false,
            flattening_enabled: false,
            flattening_max_depth: 0,
            batch_size_rows: default_batch_rows(),
            batch_max_bytes: default_batch_bytes(),
            batch_max_age_seconds: default_batch_age(),
            commit_interval_seconds: default_commit_interval(),
            metrics_interval_seconds: default_metrics_interval(),
            max_line_bytes: default_max_line_bytes(),
        }
    }
}

impl CsvConfig {
    /// The driver's settings. In overwrite mode nothing is durable before
    /// the end (the file is replaced then), so the driver commits, and
    /// writes STATE, at the end only.
    #[must_use]
    pub fn driver_config(&self) -> DriverConfig {
        let commit_interval = match self.mode {
            Mode::Overwrite => None,
            Mode::Append => Some(Duration::from_secs(self.commit_interval_seconds)),
        };
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
        .with_commit_interval(commit_interval)
    }

    /// The file name template in effect.
    #[must_use]
    pub fn naming_scheme(&self) -> &str {
        match (&self.file_naming_scheme, self.mode) {
            (Some(scheme), _) => scheme,
            (None, Mode::Append) => "{stream}-{timestamp}.csv",
            (None, Mode::Overwrite) => "{stream}.csv",
        }
    }

    /// The delimiter, quote character and line terminator as bytes.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when one is not a single ASCII character (or the
    /// terminator is not `\n` or `\r\n`), or delimiter and quote coincide.
    pub fn dialect(&self) -> Result<(u8, u8, &'static [u8])> {
        let one = |name: &str, text: &str| -> Result<u8> {
            match text.as_bytes() {
                [byte] if byte.is_ascii() && !matches!(byte, b'\r' | b'\n') => Ok(*byte),
                _ => Err(Error::Config {
                    reason: format!(
                        "{name} must be one ASCII character other than CR or LF, not {text:?}"
                    ),
                }),
            }
        };
        let delimiter = one("delimiter", &self.delimiter)?;
        let quote = one("quotechar", &self.quotechar)?;
        if delimiter == quote {
            return Err(Error::Config {
                reason: "delimiter and quotechar must differ".to_owned(),
            });
        }
        let terminator: &'static [u8] = match self.line_terminator.as_str() {
            "\n" | "\\n" => b"\n",
            "\r\n" | "\\r\\n" => b"\r\n",
            other => {
                return Err(Error::Config {
                    reason: format!("line_terminator must be \\n or \\r\\n, not {other:?}"),
                });
            }
        };
        if self
            .null_value
            .bytes()
            .any(|b| matches!(b, b'\r' | b'\n') || b == delimiter || b == quote)
        {
            return Err(Error::Config {
                reason: "null_value must not contain the delimiter, the quote character, CR or LF"
                    .to_owned(),
            });
        }
        Ok((delimiter, quote, terminator))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dialect_checks() {
        let mut config = CsvConfig::default();
        assert_eq!(config.dialect().expect("ok"), (b',', b'"', &b"\n"[..]));
        config.delimiter = "\t".to_owned();
        config.line_terminator = "\\r\\n".to_owned();
        assert_eq!(config.dialect().expect("ok"), (b'\t', b'"', &b"\r\n"[..]));
        config.delimiter = "ab".to_owned();
        assert_eq!(
            config.dialect().expect_err("two chars").to_string(),
            "configuration: delimiter must be one ASCII character other than CR or LF, not \"ab\""
        );
        config.delimiter = "\"".to_owned();
        assert!(config.dialect().is_err());
        assert_eq!(
            CsvConfig::default().naming_scheme(),
            "{stream}-{timestamp}.csv"
        );
        let overwrite = CsvConfig {
            mode: Mode::Overwrite,
            ..CsvConfig::default()
        };
        assert_eq!(overwrite.naming_scheme(), "{stream}.csv");
        assert_eq!(overwrite.driver_config().commit_interval, None);
    }
}
