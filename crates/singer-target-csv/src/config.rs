//! target-csv's settings: the CSV ones (singer-io and MeltanoLabs names
//! accepted) and the driver's.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use singer_protocol::About;
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
    settings: CsvConfig::ALL_SETTINGS,
};

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

singer_protocol::settings! {
    /// The configuration, as read by [`singer_protocol::load_config`] with
    /// [`ABOUT`] (aliases already mapped to these names): the CSV settings
    /// (singer-io and MeltanoLabs names) declared here once, and the
    /// driver's ([`DriverSettings`]).
    #[derive(Debug, Clone)]
    pub struct CsvConfig {
        destination_path: PathBuf = String("Directory the files go to (created if missing).")
            .aliases(&["output_path"])
            .default_value("\".\""),
        file_naming_scheme: Option<String> = String(
            "File name template: {stream} (or {stream_name}), {timestamp} (run start, UTC, 20240501T120000), \
             {datestamp} (2024-05-01), {run_id}, {part}. Without {part}, later parts get -0002, -0003 before \
             the extension. Default {stream}-{timestamp}.csv (append) or {stream}.csv (overwrite)."
        ),
        delimiter: String = String("Field delimiter, one ASCII character.").default_value("\",\""),
        quotechar: String = String("Quote character, one ASCII character.")
            .aliases(&["quote_character"])
            .default_value("\"\\\"\""),
        line_terminator: String = String("\\n or \\r\\n.").default_value("\"\\n\""),
        compression: Compression = String("none or gzip (adds .gz to the name).").default_value("\"none\""),
        null_value: String = String(
            "How NULL is written (unquoted). An empty string value is always written quoted (\"\") so it stays \
             distinct, and a string equal to the NULL token is quoted too."
        )
        .default_value("\"\""),
        mode: Mode = String(
            "append (new files every run) or overwrite (replace each stream's file at the end, atomically; \
             STATE is then written at the end only)."
        )
        .default_value("\"append\""),
        commit_interval_seconds: u64 = Integer(
            "Seconds between commits (each publishes a new file part per stream and lets STATE out); 0: every batch."
        )
        .default_value("300"),
    }
    include {
        /// The driver's settings.
        driver: DriverSettings,
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
        self.driver
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
    fn declared_defaults_decode_to_the_documented_values() {
        let config = CsvConfig::from_defaults().expect("every declared default decodes");
        assert_eq!(config.destination_path, PathBuf::from("."));
        assert_eq!(
            (config.delimiter.as_str(), config.quotechar.as_str()),
            (",", "\"")
        );
        assert_eq!(config.line_terminator, "\n");
        assert_eq!(
            (config.compression, config.mode),
            (Compression::None, Mode::Append)
        );
        assert_eq!(config.null_value, "");
        assert_eq!(config.file_naming_scheme, None);
        assert_eq!(config.commit_interval_seconds, 300);
        assert_eq!(config.driver, DriverSettings::default());
        assert_eq!(config.driver.batch_size_rows, 100_000);
    }

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
