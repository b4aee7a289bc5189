//! The Snowflake double: fakesnow behind our wrapper server
//! (`fakesnow/wrapper.py`), one per test binary.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use crate::Error;

/// The environment variable naming the Python virtual environment that
/// holds fakesnow (default: `target/fakesnow/venv` of the workspace).
pub const FAKESNOW_VENV_ENV: &str = "SINGER_FAKESNOW_VENV";

/// The pinned requirements the venv must hold (what `scripts/setup`
/// installs).
pub const FAKESNOW_REQUIREMENTS: &[&str] = &[
    "fakesnow[server]==0.12.1",
    "snowflake-connector-python<5",
    "moto[server]==5.2.1",
];

/// How long the wrapper may take to start.
const START_TIMEOUT: Duration = Duration::from_secs(60);

static SHARED: OnceLock<Result<SnowflakeDouble, String>> = OnceLock::new();
static DATABASE_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The Snowflake double shared by every test of this test binary, started
/// on first use and stopped when the process exits.
///
/// # Errors
///
/// [`Error::FakesnowMissing`] when the venv is not there (the message says
/// how to create it), [`Error::Spawn`]/[`Error::DoubleFailed`] when the
/// server does not start; once a start has failed, every later call returns
/// [`Error::Unavailable`].
pub fn snowflake_double() -> Result<&'static SnowflakeDouble, Error> {
    match SHARED.get_or_init(|| SnowflakeDouble::start().map_err(|error| error.chain())) {
        Ok(double) => Ok(double),
        Err(message) => Err(Error::Unavailable {
            message: message.clone(),
        }),
    }
}

/// A running fakesnow wrapper server on `127.0.0.1`.
///
/// It checks no credentials (any user, password or key pair logs in). Each
/// test isolates itself with [`SnowflakeDouble::isolated_database`]: an
/// in-memory database that only sessions logging in with the same session
/// parameter see.
pub struct SnowflakeDouble {
    port: u16,
    log: PathBuf,
    _child: Mutex<Child>,
    _stdin: Mutex<Option<ChildStdin>>,
}

impl std::fmt::Debug for SnowflakeDouble {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnowflakeDouble")
            .field("port", &self.port)
            .field("log", &self.log)
            .finish_non_exhaustive()
    }
}

impl SnowflakeDouble {
    fn start() -> Result<Self, Error> {
        let venv = venv_dir();
        let python = venv.join("bin").join("python");
        if !python.is_file() {
            return Err(Error::FakesnowMissing { venv });
        }
        let wrapper = wrapper_path();
        let log = std::env::temp_dir().join(format!(
            "singer-testkit-fakesnow-{}.log",
            std::process::id()
        ));
        let log_file = std::fs::File::create(&log).map_err(|source| Error::Io {
            action: "create the fakesnow log",
            path: log.clone(),
            source,
        })?;
        let mut command = Command::new(&python);
        command
            .arg(&wrapper)
            .arg("--host")
            .arg("127.0.0.1")
            .arg("--port")
            .arg("0")
            .env("PYTHONUNBUFFERED", "1")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            // Its own process group: Ctrl-C on the test run does not race
            // the tests' last statements; it exits when our stdin closes.
            .process_group(0)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log_file);
        let rendered = format!("{} {}", python.display(), wrapper.display());
        let mut child = command.spawn().map_err(|source| Error::Spawn {
            command: rendered.clone(),
            source,
        })?;
        let stdin = child.stdin.take();
        let Some(stdout) = child.stdout.take() else {
            return Err(Error::DoubleFailed {
                reason: "no stdout pipe".to_owned(),
                log_tail: String::new(),
            });
        };
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let result = BufReader::new(stdout).read_line(&mut line).map(|_| line);
            let _ignored = sender.send(result);
        });
        let failed = |reason: String, child: &mut Child, log: &Path| {
            let _ignored = child.kill();
            let _ignored = child.wait();
            Error::DoubleFailed {
                reason,
                log_tail: read_tail(log),
            }
        };
        let line = match receiver.recv_timeout(START_TIMEOUT) {
            Ok(Ok(line)) => line,
            Ok(Err(error)) => {
                return Err(failed(
                    format!("reading its stdout: {error}"),
                    &mut child,
                    &log,
                ));
            }
            Err(_) => {
                return Err(failed(
                    format!("not ready within {START_TIMEOUT:?}"),
                    &mut child,
                    &log,
                ));
            }
        };
        let port = line
            .trim()
            .strip_prefix("READY ")
            .and_then(|p| p.parse::<u16>().ok());
        let Some(port) = port else {
            let mut reason = format!(
                "it exited or printed {:?} instead of READY <port>",
                line.trim()
            );
            if log_mentions_missing_module(&log) {
                reason.push_str(&format!(
                    "; the venv {} lacks fakesnow: {}",
                    venv.display(),
                    install_hint(&venv)
                ));
            }
            return Err(failed(reason, &mut child, &log));
        };
        Ok(Self {
            port,
            log,
            _child: Mutex::new(child),
            _stdin: Mutex::new(stdin),
        })
    }

    /// The TCP port the double listens on.
    #[must_use]
    pub const fn port(&self) -> u16 {
        self.port
    }

    /// The base URL to give the Snowflake client as its endpoint:
    /// `http://127.0.0.1:<port>`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The double's log file (fakesnow's and the wrapper's stderr).
    #[must_use]
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// A fresh isolated database: the value of the `FAKESNOW_DB_PATH` login
    /// session parameter (`:isolated:<prefix>-<n>-<pid>`) under which every
    /// session of the test sees the same, otherwise empty, in-memory
    /// database (a target that reconnects, or runs twice, keeps its data).
    #[must_use]
    pub fn isolated_database(&self, prefix: &str) -> String {
        let counter = DATABASE_COUNTER.fetch_add(1, Ordering::Relaxed);
        format!(":isolated:{prefix}-{counter}-{}", std::process::id())
    }
}

/// A database name of its own for the isolated database `path` (from
/// [`SnowflakeDouble::isolated_database`]): fakesnow keeps every internal
/// stage's files under `<database>/<schema>/<stage>` of one directory per
/// server, whatever the isolated database, so tests that stage files use
/// distinct database names to keep their files apart.
#[must_use]
pub fn isolated_database_name(path: &str) -> String {
    let tail: String = path
        .trim_start_matches(":isolated:")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("TESTDB_{tail}")
}

/// The venv directory: `$SINGER_FAKESNOW_VENV`, else the workspace's
/// `target/fakesnow/venv`.
#[must_use]
pub fn venv_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(FAKESNOW_VENV_ENV) {
        return PathBuf::from(dir);
    }
    workspace_root()
        .join("target")
        .join("fakesnow")
        .join("venv")
}

/// The wrapper server's source (committed with this crate).
#[must_use]
pub fn wrapper_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fakesnow")
        .join("wrapper.py")
}

fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .and_then(Path::parent)
        .map_or_else(|| manifest.to_owned(), Path::to_owned)
}

/// How to create the venv.
pub(crate) fn install_hint(venv: &Path) -> String {
    format!(
        "run scripts/setup, or: python3 -m venv {0} && {0}/bin/pip install {1}",
        venv.display(),
        FAKESNOW_REQUIREMENTS
            .iter()
            .map(|r| format!("'{r}'"))
            .collect::<Vec<_>>()
            .join(" ")
    )
}

fn log_mentions_missing_module(log: &Path) -> bool {
    read_tail(log).contains("ModuleNotFoundError")
}

fn read_tail(path: &Path) -> String {
    let mut bytes = Vec::new();
    if std::fs::File::open(path)
        .and_then(|mut file| file.read_to_end(&mut bytes))
        .is_err()
    {
        return String::new();
    }
    let text = String::from_utf8_lossy(&bytes);
    let mut start = text.len().saturating_sub(4096);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text.get(start..).unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_double_starts_and_answers_http() {
        let double = snowflake_double().expect("the Snowflake double must start");
        let mut stream =
            std::net::TcpStream::connect(("127.0.0.1", double.port())).expect("connect");
        use std::io::Write;
        stream
            .write_all(b"GET /nope HTTP/1.0\r\nHost: x\r\n\r\n")
            .expect("write");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read");
        assert!(response.starts_with("HTTP/1.1 404"), "{response}");
        let a = double.isolated_database("t");
        let b = double.isolated_database("t");
        assert_ne!(a, b);
        assert!(a.starts_with(":isolated:t-"));
        assert!(std::ptr::eq(double, snowflake_double().expect("shared")));
    }

    #[test]
    fn a_missing_venv_says_how_to_get_it() {
        let error = Error::FakesnowMissing {
            venv: PathBuf::from("/nowhere/venv"),
        };
        let message = error.to_string();
        assert!(message.contains("scripts/setup"), "{message}");
        assert!(message.contains("fakesnow[server]==0.12.1"), "{message}");
    }
}
