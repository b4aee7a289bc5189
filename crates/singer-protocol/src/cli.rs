//! The command-line conventions of Singer taps and targets.
//!
//! Taps: `--config FILE` (repeatable, later wins; `--config ENV` for
//! Meltano's environment-only mode), `--discover`, `--catalog FILE`
//! (`--properties FILE` is the legacy alias), `--state FILE`, `--test`.
//! Targets: `--config FILE`, `--input FILE` (else stdin). Both: `--about
//! [--format json|markdown]`, `--version`, `--help`, `--log-level LEVEL`.
//!
//! Parsing uses [`lexopt`] (re-exported), so a binary with flags of its own
//! parses those with [`TapArgs::parse_with`] and a closure.

use std::ffi::OsString;
use std::path::PathBuf;

pub use lexopt;
use lexopt::{Arg, Parser, ValueExt};

/// One command-line argument, owned (lexopt's [`Arg`] borrows the parser,
/// which the handler of a flag needs to read the flag's value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flag {
    /// `-c`.
    Short(char),
    /// `--config` (without the dashes).
    Long(String),
    /// A positional argument.
    Value(OsString),
}

impl Flag {
    fn from_arg(arg: Arg<'_>) -> Self {
        match arg {
            Arg::Short(c) => Self::Short(c),
            Arg::Long(l) => Self::Long(l.to_owned()),
            Arg::Value(v) => Self::Value(v),
        }
    }

    /// Whether this is the long flag `--name`.
    #[must_use]
    pub fn is_long(&self, name: &str) -> bool {
        matches!(self, Self::Long(l) if l == name)
    }

    fn unexpected(&self) -> Error {
        usage(match self {
            Self::Short(c) => format!("invalid option '-{c}'"),
            Self::Long(l) => format!("invalid option '--{l}'"),
            Self::Value(v) => format!("unexpected argument {:?}", v.to_string_lossy()),
        })
    }
}

use crate::about::AboutFormat;
use crate::config::ConfigSource;
use crate::error::{Error, Result};

/// The flags every tap and target takes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommonArgs {
    /// `--config` sources, in order (later wins).
    pub config: Vec<ConfigSource>,
    /// `--about`.
    pub about: bool,
    /// `--format` for `--about`.
    pub format: AboutFormat,
    /// `--version`.
    pub version: bool,
    /// `--help`.
    pub help: bool,
    /// `--log-level` (`error`, `warn`, `info`, `debug`, `trace`, or a
    /// `RUST_LOG`-style filter).
    pub log_level: Option<String>,
}

impl CommonArgs {
    /// Consumes `arg` (and its value) if it is a common flag.
    ///
    /// # Errors
    ///
    /// [`Error::Usage`] when the flag's value is missing or invalid.
    pub fn handle(&mut self, arg: &Flag, parser: &mut Parser) -> Result<bool> {
        let name = match arg {
            Flag::Long(l) => l.as_str(),
            Flag::Short('c') => "config",
            Flag::Short('V') => "version",
            Flag::Short('h') => "help",
            _ => return Ok(false),
        };
        match name {
            "config" => {
                let value = value(parser, "--config")?;
                self.config.push(if value == "ENV" {
                    ConfigSource::Env
                } else {
                    ConfigSource::File(PathBuf::from(value))
                });
            }
            "about" => self.about = true,
            "format" => {
                let format = value(parser, "--format")?;
                self.format = match format.to_str() {
                    Some("json") => AboutFormat::Json,
                    Some("markdown") => AboutFormat::Markdown,
                    Some("text") => AboutFormat::Text,
                    _ => {
                        return Err(usage(format!(
                            "--format must be json, markdown or text, not {}",
                            format.to_string_lossy()
                        )));
                    }
                };
            }
            "version" => self.version = true,
            "help" => self.help = true,
            "log-level" => {
                let level = value(parser, "--log-level")?;
                self.log_level = Some(
                    level
                        .string()
                        .map_err(|_| usage("--log-level must be UTF-8".to_owned()))?,
                );
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Whether the run only prints something (`--help`, `--version`,
    /// `--about`) and needs no configuration.
    #[must_use]
    pub fn is_informational(&self) -> bool {
        self.help || self.version || self.about
    }
}

/// The arguments of a tap.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TapArgs {
    /// Flags shared with targets.
    pub common: CommonArgs,
    /// `--discover`.
    pub discover: bool,
    /// `--catalog` or `--properties`.
    pub catalog: Option<PathBuf>,
    /// `--state`.
    pub state: Option<PathBuf>,
    /// `--test`: check the connection and exit.
    pub test: bool,
}

impl TapArgs {
    /// Parses tap arguments (without the program name).
    ///
    /// # Errors
    ///
    /// [`Error::Usage`] for an unknown flag or a missing value.
    pub fn parse_from<I>(args: I) -> Result<Self>
    where
        I: IntoIterator,
        I::Item: Into<OsString>,
    {
        Self::parse_with(args, |_, _| Ok(false))
    }

    /// Parses tap arguments, offering every argument that is not a tap flag
    /// to `extra` first; `extra` returns whether it consumed it.
    ///
    /// # Errors
    ///
    /// [`Error::Usage`] for an argument nobody takes, a missing value, or
    /// the error `extra` returned.
    pub fn parse_with<I, F>(args: I, mut extra: F) -> Result<Self>
    where
        I: IntoIterator,
        I::Item: Into<OsString>,
        F: FnMut(&Flag, &mut Parser) -> Result<bool>,
    {
        let mut parsed = Self::default();
        let mut parser = Parser::from_args(args);
        while let Some(arg) = parser.next().map_err(|e| usage(e.to_string()))? {
            let arg = Flag::from_arg(arg);
            if parsed.common.handle(&arg, &mut parser)? {
                continue;
            }
            match &arg {
                Flag::Long(l) if l == "discover" => parsed.discover = true,
                Flag::Long(l) if l == "catalog" || l == "properties" => {
                    parsed.catalog = Some(value(&mut parser, "--catalog")?.into());
                }
                Flag::Long(l) if l == "state" => {
                    parsed.state = Some(value(&mut parser, "--state")?.into());
                }
                Flag::Long(l) if l == "test" => parsed.test = true,
                other => {
                    if !extra(other, &mut parser)? {
                        return Err(other.unexpected());
                    }
                }
            }
        }
        Ok(parsed)
    }
}

/// The arguments of a target.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetArgs {
    /// Flags shared with taps.
    pub common: CommonArgs,
    /// `--input`: read messages from this file instead of stdin.
    pub input: Option<PathBuf>,
}

impl TargetArgs {
    /// Parses target arguments (without the program name).
    ///
    /// # Errors
    ///
    /// [`Error::Usage`] for an unknown flag or a missing value.
    pub fn parse_from<I>(args: I) -> Result<Self>
    where
        I: IntoIterator,
        I::Item: Into<OsString>,
    {
        let mut parsed = Self::default();
        let mut parser = Parser::from_args(args);
        while let Some(arg) = parser.next().map_err(|e| usage(e.to_string()))? {
            let arg = Flag::from_arg(arg);
            if parsed.common.handle(&arg, &mut parser)? {
                continue;
            }
            match &arg {
                Flag::Long(l) if l == "input" => {
                    parsed.input = Some(value(&mut parser, "--input")?.into());
                }
                other => return Err(other.unexpected()),
            }
        }
        Ok(parsed)
    }
}

/// The value of `flag`, or a usage error naming it.
///
/// # Errors
///
/// [`Error::Usage`] when the flag has no value.
pub fn value(parser: &mut Parser, flag: &str) -> Result<OsString> {
    parser
        .value()
        .map_err(|_| usage(format!("{flag} needs a value")))
}

fn usage(reason: String) -> Error {
    Error::Usage { reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tap_flags() {
        let args = TapArgs::parse_from([
            "--config",
            "a.json",
            "--config",
            "ENV",
            "-c",
            "b.json",
            "--properties",
            "cat.json",
            "--state=s.json",
            "--log-level",
            "debug",
        ])
        .expect("valid");
        assert_eq!(
            args.common.config,
            [
                ConfigSource::File("a.json".into()),
                ConfigSource::Env,
                ConfigSource::File("b.json".into())
            ]
        );
        assert_eq!(args.catalog, Some("cat.json".into()));
        assert_eq!(args.state, Some("s.json".into()));
        assert_eq!(args.common.log_level.as_deref(), Some("debug"));
        assert!(!args.discover);
        let about = TapArgs::parse_from(["--about", "--format", "markdown"]).expect("valid");
        assert!(about.common.about && about.common.is_informational());
        assert_eq!(about.common.format, AboutFormat::Markdown);
    }

    #[test]
    fn extra_flags_and_errors() {
        let mut tables = Vec::new();
        let args = TapArgs::parse_with(
            ["--discover", "--table", "a", "--table", "b"],
            |arg, parser| {
                if arg.is_long("table") {
                    tables.push(value(parser, "--table")?);
                    return Ok(true);
                }
                Ok(false)
            },
        )
        .expect("valid");
        assert!(args.discover);
        assert_eq!(tables, ["a", "b"]);
        let cases: [(&[&str], &str); 4] = [
            (&["--nope"], "usage: invalid option '--nope'"),
            (&["--config"], "usage: --config needs a value"),
            (
                &["--format", "yaml"],
                "usage: --format must be json, markdown or text, not yaml",
            ),
            (&["extra"], "usage: unexpected argument \"extra\""),
        ];
        for (args, expected) in cases {
            assert_eq!(
                TapArgs::parse_from(args).expect_err(expected).to_string(),
                expected
            );
        }
        let target =
            TargetArgs::parse_from(["--config", "c.json", "--input", "in.jsonl"]).expect("valid");
        assert_eq!(target.input, Some("in.jsonl".into()));
        assert_eq!(
            TargetArgs::parse_from(["--discover"])
                .expect_err("tap flag")
                .to_string(),
            "usage: invalid option '--discover'"
        );
    }
}
