//! The bad-input corpus: `fixtures/invalid/<binary>/` cases and the one
//! check every binary's walk applies to them.
//!
//! A case is a file `<case>.expected` plus optional sidecars of the same
//! stem (see `fixtures/invalid/README.md`):
//!
//! | file | meaning | default |
//! |---|---|---|
//! | `<case>.expected` | text stderr must contain (each line, in any order): what is wrong and where | required |
//! | `<case>.exit` | the exit code (1 runtime, 2 usage/config) | `1` |
//! | `<case>.stdout` | stdout, exactly (the STATE lines the commits before the bad line cover) | empty |
//! | `<case>.jsonl` | stdin (a target's Singer input) | nothing |
//! | `<case>.args` | arguments, one per line, `{name}` placeholders substituted | none |
//! | `<case>.json` | a configuration (its use is the binary's walk's to decide) | none |
//!
//! Whatever the case, [`check`] also asserts that the process did not
//! panic. A binary's integration test walks the corpus with [`walk`],
//! saying only how to run one case:
//!
//! ```no_run
//! use std::process::Command;
//! use singer_testkit::corpus;
//!
//! let dir = std::path::Path::new("fixtures/invalid/target-csv");
//! let cases = corpus::walk(dir, |case| {
//!     let case_dir = case.dir().to_string_lossy();
//!     let mut command = Command::new("target-csv");
//!     command.args(case.args(&[("case_dir", case_dir.as_ref())])?);
//!     corpus::output(&mut command, case.sidecar("jsonl").as_deref())
//! });
//! match cases {
//!     Ok(count) => assert!(count > 0),
//!     Err(report) => panic!("{report}"),
//! }
//! ```

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::error::Error;

/// One case of a corpus directory.
#[derive(Debug, Clone)]
pub struct Case {
    name: String,
    dir: PathBuf,
    expected: String,
    exit: i32,
    stdout: String,
}

impl Case {
    /// Reads case `name` of `dir`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when `<name>.expected` cannot be read;
    /// [`Error::Corpus`] when `<name>.exit` is not a number.
    pub fn load(dir: &Path, name: &str) -> Result<Self, Error> {
        let read = |extension: &str| -> Result<Option<String>, Error> {
            let path = dir.join(format!("{name}.{extension}"));
            match std::fs::read_to_string(&path) {
                Ok(text) => Ok(Some(text)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && extension != "expected" => {
                    Ok(None)
                }
                Err(source) => Err(Error::Io {
                    action: "read the corpus file",
                    path,
                    source,
                }),
            }
        };
        let expected = read("expected")?.unwrap_or_default();
        let exit = match read("exit")? {
            Some(text) => text.trim().parse().map_err(|_| Error::Corpus {
                path: dir.join(format!("{name}.exit")),
                reason: format!("{:?} is not an exit code", text.trim()),
            })?,
            None => 1,
        };
        Ok(Self {
            name: name.to_owned(),
            dir: dir.to_owned(),
            expected: expected.trim_end_matches(['\n', '\r']).to_owned(),
            exit,
            stdout: read("stdout")?.unwrap_or_default(),
        })
    }

    /// The case as `binary` must pass it: `<case>.<binary>.stdout`, where
    /// it exists, replaces the expected stdout (targets commit at different
    /// points: target-snowflake at every STATE boundary, target-csv on its
    /// interval, so the STATE lines a bad line leaves differ).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the override exists but cannot be read.
    pub fn for_binary(mut self, binary: &str) -> Result<Self, Error> {
        let path = self.dir.join(format!("{}.{binary}.stdout", self.name));
        match std::fs::read_to_string(&path) {
            Ok(text) => self.stdout = text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(Error::Io {
                    action: "read the corpus file",
                    path,
                    source,
                });
            }
        }
        Ok(self)
    }

    /// The case name (the file stem).
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The directory holding the case's files.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The text stderr must contain, each line of it.
    #[must_use]
    pub fn expected(&self) -> &str {
        &self.expected
    }

    /// The exit code the binary must end with.
    #[must_use]
    pub const fn exit(&self) -> i32 {
        self.exit
    }

    /// What stdout must be, exactly.
    #[must_use]
    pub fn stdout(&self) -> &str {
        &self.stdout
    }

    /// The sidecar `<case>.<extension>`, if it exists.
    #[must_use]
    pub fn sidecar(&self, extension: &str) -> Option<PathBuf> {
        let path = self.dir.join(format!("{}.{extension}", self.name));
        path.exists().then_some(path)
    }

    /// The text of sidecar `<case>.<extension>` with `{name}` placeholders
    /// replaced by `vars`, if the sidecar exists.
    ///
    /// # Errors
    ///
    /// A message when the file cannot be read or names a placeholder
    /// `vars` does not have.
    pub fn read_sidecar(
        &self,
        extension: &str,
        vars: &[(&str, &str)],
    ) -> Result<Option<String>, String> {
        let Some(path) = self.sidecar(extension) else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        substitute(&text, vars)
            .map(Some)
            .map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The arguments of `<case>.args` (one per line, blank lines and lines
    /// starting with `#` skipped), placeholders substituted; none without
    /// the file.
    ///
    /// # Errors
    ///
    /// As [`Case::read_sidecar`].
    pub fn args(&self, vars: &[(&str, &str)]) -> Result<Vec<String>, String> {
        Ok(self
            .read_sidecar("args", vars)?
            .unwrap_or_default()
            .lines()
            .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
            .map(str::to_owned)
            .collect())
    }
}

/// Replaces every `{name}` of `vars` in `text`; a `{word}` placeholder
/// (lower-case letters and `_`) that `vars` lacks is an error, other
/// braces (JSON) stay.
fn substitute(text: &str, vars: &[(&str, &str)]) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let (before, after) = rest.split_at(open);
        out.push_str(before);
        let name_end = after
            .char_indices()
            .skip(1)
            .find(|(_, c)| !(c.is_ascii_lowercase() || *c == '_'))
            .map(|(i, c)| (i, c == '}'));
        match name_end {
            Some((end, true)) if end > 1 => {
                let name = after.get(1..end).unwrap_or_default();
                let value = vars
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| *v)
                    .ok_or_else(|| format!("unknown placeholder {{{name}}}"))?;
                out.push_str(value);
                rest = after.get(end + 1..).unwrap_or_default();
            }
            _ => {
                out.push('{');
                rest = after.get(1..).unwrap_or_default();
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// The cases of `dir` (every `*.expected`), sorted by name.
///
/// # Errors
///
/// [`Error::Io`] when the directory or a case cannot be read.
pub fn cases(dir: &Path) -> Result<Vec<Case>, Error> {
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Io {
        action: "read the corpus directory",
        path: dir.to_owned(),
        source,
    })?;
    let mut names = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|source| Error::Io {
                action: "read the corpus directory",
                path: dir.to_owned(),
                source,
            })?
            .path();
        if path.extension().is_some_and(|e| e == "expected")
            && let Some(stem) = path.file_stem().and_then(|s| s.to_str())
        {
            names.push(stem.to_owned());
        }
    }
    names.sort();
    names.iter().map(|name| Case::load(dir, name)).collect()
}

/// Runs `command` with stdin from `stdin` (or nothing), stdout and stderr
/// captured, `RUST_LOG` and `RUST_BACKTRACE` unset.
///
/// # Errors
///
/// A message when the file cannot be opened or the process not run.
pub fn output(command: &mut Command, stdin: Option<&Path>) -> Result<Output, String> {
    let stdin = match stdin {
        Some(path) => Stdio::from(
            std::fs::File::open(path).map_err(|e| format!("opening {}: {e}", path.display()))?,
        ),
        None => Stdio::null(),
    };
    command
        .env_remove("RUST_LOG")
        .env_remove("RUST_BACKTRACE")
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("running {command:?}: {e}"))
}

/// Checks one run against its case: the exit code, the expected text in
/// stderr, no panic, and stdout exactly as expected.
///
/// # Errors
///
/// Every rule the run broke, with its stderr, as one message.
pub fn check(case: &Case, output: &Output) -> Result<(), String> {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut broken = Vec::new();
    if output.status.code() != Some(case.exit) {
        broken.push(format!(
            "exit code {:?}, expected {}",
            output.status.code(),
            case.exit
        ));
    }
    if case.expected.trim().is_empty() {
        broken.push("the .expected file is empty".to_owned());
    }
    for line in case.expected.lines().filter(|l| !l.trim().is_empty()) {
        if !stderr.contains(line) {
            broken.push(format!("stderr lacks {line:?}"));
        }
    }
    if stderr.contains("panicked") {
        broken.push("the process panicked".to_owned());
    }
    if stdout != case.stdout {
        broken.push(format!("stdout was {stdout:?}, expected {:?}", case.stdout));
    }
    if broken.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{}: {}\n--- stderr:\n{stderr}",
            case.dir.join(&case.name).display(),
            broken.join("; ")
        ))
    }
}

/// Runs every case of `dir` through `run` and [`check`]s it; returns the
/// number of cases.
///
/// # Errors
///
/// One report of every case that failed (or could not run), so a single
/// test run shows them all.
pub fn walk(dir: &Path, run: impl FnMut(&Case) -> Result<Output, String>) -> Result<usize, String> {
    walk_cases(dir, &cases(dir).map_err(|e| e.to_string())?, run)
}

/// [`walk`] for one binary: each case with its `<case>.<binary>.stdout`
/// override applied ([`Case::for_binary`]).
///
/// # Errors
///
/// As [`walk`].
pub fn walk_for(
    binary: &str,
    dir: &Path,
    run: impl FnMut(&Case) -> Result<Output, String>,
) -> Result<usize, String> {
    let cases: Vec<Case> = cases(dir)
        .and_then(|cases| {
            cases
                .into_iter()
                .map(|case| case.for_binary(binary))
                .collect()
        })
        .map_err(|e| e.to_string())?;
    walk_cases(dir, &cases, run)
}

fn walk_cases(
    dir: &Path,
    cases: &[Case],
    mut run: impl FnMut(&Case) -> Result<Output, String>,
) -> Result<usize, String> {
    let mut report = String::new();
    for case in cases {
        let result = run(case).and_then(|output| check(case, &output));
        if let Err(failure) = result {
            let _ = writeln!(report, "{failure}");
        }
    }
    if cases.is_empty() {
        return Err(format!("no cases (*.expected) in {}", dir.display()));
    }
    if report.is_empty() {
        Ok(cases.len())
    } else {
        Err(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_substituted_and_json_braces_kept() {
        let vars = [("port", "5432"), ("case_dir", "/x")];
        assert_eq!(
            substitute(r#"{"port": {port}, "a": {"b": "{case_dir}/c"}}"#, &vars).as_deref(),
            Ok(r#"{"port": 5432, "a": {"b": "/x/c"}}"#)
        );
        assert_eq!(
            substitute("{nope}", &vars),
            Err("unknown placeholder {nope}".to_owned())
        );
        assert_eq!(substitute("{} {1} {", &vars).as_deref(), Ok("{} {1} {"));
    }
}
