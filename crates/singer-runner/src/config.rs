//! What a job is: its id, the two command lines and the state backend,
//! from flags or from a small job file.

use std::path::Path;

use serde::Deserialize;

use crate::backend::Backend;
use crate::error::{Error, Result};

/// One job: a tap, a target and where its state lives.
#[derive(Debug, Clone)]
pub struct Job {
    /// The job id: the key of its state and its lock.
    pub id: String,
    /// The tap's program and arguments.
    pub tap: Vec<String>,
    /// The target's program and arguments.
    pub target: Vec<String>,
    /// Where the state is kept.
    pub backend: Backend,
}

impl Job {
    /// A job from command lines as a shell would split them (`'tap-postgres
    /// --config tap.json'`; quotes and backslashes as in POSIX `sh`).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for an empty id, or a command that is empty or
    /// not well quoted.
    pub fn new(id: &str, tap: &str, target: &str, backend: Backend) -> Result<Self> {
        Self::from_parts(id, split(tap, "tap")?, split(target, "target")?, backend)
    }

    /// A job from command lines already split into program and arguments.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for an empty id or an empty command.
    pub fn from_parts(
        id: &str,
        tap: Vec<String>,
        target: Vec<String>,
        backend: Backend,
    ) -> Result<Self> {
        if id.trim().is_empty() {
            return Err(config("the job id is empty"));
        }
        if id.chars().any(char::is_control) {
            return Err(config("the job id has a control character"));
        }
        for (side, command) in [("tap", &tap), ("target", &target)] {
            if command.first().is_none_or(String::is_empty) {
                return Err(config(&format!("the {side} command is empty")));
            }
        }
        Ok(Self {
            id: id.to_owned(),
            tap,
            target,
            backend,
        })
    }
}

/// A job file (YAML or JSON): the same as the flags.
///
/// ```yaml
/// job: gitlab-db-issues
/// tap: tap-postgres --config tap.json --catalog catalog.json
/// target: [target-snowflake, --config, target.json]
/// state_backend: postgresql://etl@db/etl   # or file:state/issues.json
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobFile {
    /// The job id.
    pub job: Option<String>,
    /// The tap: one command line, or a list of program and arguments.
    pub tap: Option<CommandLine>,
    /// The target, as the tap.
    pub target: Option<CommandLine>,
    /// `file:PATH` or `postgresql://…` (see [`Backend::parse`]).
    pub state_backend: Option<String>,
    /// The PostgreSQL store's table (default `singer_state`).
    pub state_table: Option<String>,
}

/// A command in a job file.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum CommandLine {
    /// One line, split as a shell would.
    Line(String),
    /// Program and arguments.
    Words(Vec<String>),
}

impl CommandLine {
    /// The program and arguments.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a line that is not well quoted.
    pub fn words(&self, side: &str) -> Result<Vec<String>> {
        match self {
            Self::Line(line) => split(line, side),
            Self::Words(words) => Ok(words.clone()),
        }
    }
}

impl JobFile {
    /// Reads a job file.
    ///
    /// # Errors
    ///
    /// [`Error::JobFile`] when it cannot be read or parsed.
    pub fn read(path: &Path) -> Result<Self> {
        let error = |reason: String| Error::JobFile {
            path: path.to_owned(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
        serde_saphyr::from_str(&text).map_err(|e| error(e.to_string()))
    }
}

/// Splits a command line as POSIX `sh` would (no expansion).
fn split(line: &str, side: &str) -> Result<Vec<String>> {
    shlex::split(line)
        .ok_or_else(|| config(&format!("the {side} command {line:?} is not well quoted")))
}

fn config(reason: &str) -> Error {
    Error::Config {
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_split_as_a_shell_would() {
        let job = Job::new(
            "j",
            "tap-postgres --config 'my tap.json' --catalog c.json",
            "target-csv --config \"t.json\"",
            Backend::parse("file:/tmp/s.json").unwrap(),
        )
        .unwrap();
        assert_eq!(
            job.tap,
            [
                "tap-postgres",
                "--config",
                "my tap.json",
                "--catalog",
                "c.json"
            ]
        );
        assert_eq!(job.target, ["target-csv", "--config", "t.json"]);
        let backend = || Backend::parse("file:s.json").unwrap();
        assert!(Job::new("j", "tap 'open", "t", backend()).is_err());
        assert!(Job::new("", "tap", "t", backend()).is_err());
        assert!(Job::new("j", "", "t", backend()).is_err());
    }

    #[test]
    fn a_job_file_takes_lines_or_lists() {
        let file: JobFile = serde_saphyr::from_str(
            "job: issues\ntap: tap-postgres --config tap.json\ntarget: [target-csv, --config, t.json]\nstate_backend: file:s.json\n",
        )
        .unwrap();
        assert_eq!(file.job.as_deref(), Some("issues"));
        assert_eq!(
            file.tap.unwrap().words("tap").unwrap(),
            ["tap-postgres", "--config", "tap.json"]
        );
        assert_eq!(
            file.target.unwrap().words("target").unwrap(),
            ["target-csv", "--config", "t.json"]
        );
        assert!(serde_saphyr::from_str::<JobFile>("job: x\nunknown: 1\n").is_err());
    }
}
