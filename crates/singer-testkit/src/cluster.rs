//! The throwaway cluster: created, started, shared and reaped.

use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::net::TcpListener;
use std::os::unix::fs::{PermissionsExt, chown};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::user::{RunAs, server_user};
use crate::{Error, bin_dir};

/// The address the cluster listens on.
const HOST: &str = "127.0.0.1";
/// The superuser created by `initdb -U`.
const SUPERUSER: &str = "postgres";
/// The database every cluster has, used for `CREATE DATABASE`.
const ADMIN_DATABASE: &str = "postgres";
/// How many ports `pg_ctl start` is tried on before giving up.
const START_ATTEMPTS: u32 = 5;
/// PostgreSQL truncates longer identifiers.
const MAX_IDENTIFIER_BYTES: usize = 63;
/// Bound on command output and log tails kept in errors.
const MAX_OUTPUT_BYTES: usize = 8 * 1024;
/// Environment variables that would change what the commands do.
const SCRUBBED_ENV: &[&str] = &[
    "PGDATA",
    "PGPORT",
    "PGHOST",
    "PGHOSTADDR",
    "PGUSER",
    "PGDATABASE",
    "PGOPTIONS",
];

/// Waits until its stdin reaches end of file, which happens when the test
/// process exits (however it exits: the kernel closes the write end), then
/// stops the server and removes the directory. If the test process died in
/// the middle of `initdb` or `pg_ctl start`, those commands may still be
/// writing for a moment, so it checks again and repeats until the directory
/// stays gone. `$0` names the process in `ps`; `$1` is `pg_ctl`, `$2` the
/// data directory, `$3` the cluster directory.
const REAPER_SCRIPT: &str = r#"trap '' HUP INT
read -r _ignored
for _attempt in 1 2 3 4 5 6 7 8 9 10; do
    "$1" stop -D "$2" -m immediate
    rm -rf -- "$3"
    sleep 1
    [ -e "$3" ] || break
done
"#;

static SHARED: OnceLock<Result<Cluster, String>> = OnceLock::new();
static DATABASE_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The cluster shared by every test of this test binary, started on first
/// use and removed when the process exits.
///
/// # Errors
///
/// Whatever stopped the cluster from starting (see [`Error`]); once a start
/// has failed, every later call returns [`Error::Unavailable`] with the same
/// message instead of trying again.
pub fn postgres() -> Result<&'static Cluster, Error> {
    match SHARED.get_or_init(|| Cluster::start().map_err(|error| error.chain())) {
        Ok(cluster) => Ok(cluster),
        Err(message) => Err(Error::Unavailable {
            message: message.clone(),
        }),
    }
}

/// A running throwaway PostgreSQL cluster.
///
/// It listens on `127.0.0.1` on a free port, trusts every local connection
/// and runs with durability switched off (`fsync=off`) and `wal_level =
/// logical` (for LOG_BASED tests), so it is fast and
/// must never hold anything worth keeping. Get the shared one with
/// [`postgres()`].
pub struct Cluster {
    port: u16,
    dir: PathBuf,
    data_dir: PathBuf,
    bin_dir: PathBuf,
    admin: Mutex<Option<postgres::Client>>,
    _reaper: Reaper,
}

impl Cluster {
    /// Creates, initialises and starts a new cluster in a fresh temporary
    /// directory, with a reaper process that removes it when this process
    /// exits.
    fn start() -> Result<Self, Error> {
        let bin_dir = bin_dir()?;
        let run_as = server_user()?;
        let dir = create_cluster_dir(run_as)?;
        let data_dir = dir.join("data");
        let log_path = dir.join("log");
        let runner = Runner { dir: &dir, run_as };
        let pg_ctl = bin_dir.join("pg_ctl");
        let reaper = match Reaper::spawn(&runner, &pg_ctl, &data_dir) {
            Ok(reaper) => reaper,
            Err(error) => {
                // Best effort: nothing is running yet, so only the directory
                // needs to go.
                let _ignored = std::fs::remove_dir_all(&dir);
                return Err(error);
            }
        };

        runner.run(
            &bin_dir.join("initdb"),
            &[
                os("-D"),
                data_dir.as_os_str().to_owned(),
                os("-U"),
                os(SUPERUSER),
                os("--auth=trust"),
                os("-E"),
                os("UTF8"),
                os("--locale=C"),
                os("--no-sync"),
            ],
            None,
        )?;

        let mut attempt = 1;
        let port = loop {
            let port = free_port()?;
            let options = format!(
                "-p {port} -c listen_addresses={HOST} -c unix_socket_directories={} \
                 -c fsync=off -c full_page_writes=off \
                 -c max_connections=200 -c wal_level=logical -c max_replication_slots=64 \
                 -c max_wal_senders=16",
                sh_quote(&dir.to_string_lossy())
            );
            let started = runner.run(
                &pg_ctl,
                &[
                    os("-D"),
                    data_dir.as_os_str().to_owned(),
                    os("-l"),
                    log_path.as_os_str().to_owned(),
                    os("-w"),
                    os("-o"),
                    OsString::from(options),
                    os("start"),
                ],
                Some(&log_path),
            );
            match started {
                Ok(()) => break port,
                Err(error) if attempt >= START_ATTEMPTS => return Err(error),
                Err(_) => {
                    // Most likely another process took the port between our
                    // probe and the server's bind. Make sure nothing is left
                    // half-started, then try a new port.
                    let _ignored = runner.run(
                        &pg_ctl,
                        &[
                            os("stop"),
                            os("-D"),
                            data_dir.as_os_str().to_owned(),
                            os("-m"),
                            os("immediate"),
                        ],
                        None,
                    );
                    attempt += 1;
                }
            }
        };

        Ok(Self {
            port,
            dir,
            data_dir,
            bin_dir,
            admin: Mutex::new(None),
            _reaper: reaper,
        })
    }

    /// The TCP port the server listens on.
    #[must_use]
    pub const fn port(&self) -> u16 {
        self.port
    }

    /// The address the server listens on: always `127.0.0.1`.
    #[must_use]
    pub const fn host(&self) -> &'static str {
        HOST
    }

    /// The superuser to connect as: `postgres` (no password needed).
    #[must_use]
    pub const fn user(&self) -> &'static str {
        SUPERUSER
    }

    /// The temporary directory holding the cluster (data, log, socket).
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The data directory (`PGDATA`).
    #[must_use]
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The directory of the PostgreSQL binaries this cluster runs from.
    #[must_use]
    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    /// A libpq `key=value` connection string for database `db`, e.g.
    /// `host=127.0.0.1 port=54321 user=postgres dbname=test_1_42`, accepted by
    /// `postgres::Client::connect` and `psql`.
    #[must_use]
    pub fn connection_string(&self, db: &str) -> String {
        format!(
            "host={HOST} port={} user={SUPERUSER} dbname={}",
            self.port,
            conninfo_quote(db)
        )
    }

    /// Creates a fresh, empty database and returns its name, so that each
    /// test works in its own database.
    ///
    /// The name is `prefix` (reduced to lower-case ASCII letters, digits and
    /// `_`, and shortened so the whole name fits PostgreSQL's 63-byte limit),
    /// a process-wide counter and the process id: `orders_3_41234`.
    ///
    /// # Errors
    ///
    /// [`Error::Connect`] if the administrative connection fails,
    /// [`Error::Query`] if `CREATE DATABASE` fails.
    pub fn create_database(&self, prefix: &str) -> Result<String, Error> {
        let name = database_name(
            prefix,
            DATABASE_COUNTER.fetch_add(1, Ordering::Relaxed),
            std::process::id(),
        );
        let statement = format!("CREATE DATABASE {}", quote_ident(&name));
        let mut admin = self
            .admin
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let client = match admin.take() {
            Some(client) if !client.is_closed() => client,
            _ => self.connect(ADMIN_DATABASE)?,
        };
        let client = admin.insert(client);
        client
            .batch_execute(&statement)
            .map_err(|source| Error::Query { statement, source })?;
        Ok(name)
    }

    /// Opens a new connection to database `db` as the superuser, without TLS.
    ///
    /// # Errors
    ///
    /// [`Error::Connect`] if the connection fails (for instance, the
    /// database does not exist).
    pub fn connect(&self, db: &str) -> Result<postgres::Client, Error> {
        postgres::Config::new()
            .host(HOST)
            .port(self.port)
            .user(SUPERUSER)
            .dbname(db)
            .connect(postgres::NoTls)
            .map_err(|source| Error::Connect {
                connection: self.connection_string(db),
                source,
            })
    }
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("port", &self.port)
            .field("dir", &self.dir)
            .field("bin_dir", &self.bin_dir)
            .finish_non_exhaustive()
    }
}

/// The child process that stops the server and removes the directory once
/// this process is gone. It holds the read end of a pipe whose write end
/// only this process holds; dropping a `Reaper` (when starting fails) runs
/// the cleanup right away and waits for it.
#[derive(Debug)]
struct Reaper {
    stdin: Option<ChildStdin>,
    child: Child,
}

impl Reaper {
    fn spawn(runner: &Runner<'_>, pg_ctl: &Path, data_dir: &Path) -> Result<Self, Error> {
        let mut command = Command::new("/bin/sh");
        command
            .arg("-c")
            .arg(REAPER_SCRIPT)
            .arg("singer-testkit-reaper")
            .arg(pg_ctl)
            .arg(data_dir)
            .arg(runner.dir)
            .current_dir(runner.dir)
            // Its own process group, so Ctrl-C on the test run does not kill
            // it before it has cleaned up; stdout and stderr go to /dev/null
            // so it never holds the test harness's pipes open.
            .process_group(0)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        runner.configure(&mut command);
        let mut child = command.spawn().map_err(|source| Error::Spawn {
            command: "/bin/sh -c <reaper script>".to_owned(),
            source,
        })?;
        let stdin = child.stdin.take();
        Ok(Self { stdin, child })
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ignored = self.child.wait();
    }
}

/// Runs PostgreSQL commands in the cluster directory, as the server user.
struct Runner<'a> {
    dir: &'a Path,
    run_as: Option<RunAs>,
}

impl Runner<'_> {
    fn configure(&self, command: &mut Command) {
        for name in SCRUBBED_ENV {
            command.env_remove(name);
        }
        if let Some(RunAs { uid, gid }) = self.run_as {
            command.uid(uid).gid(gid);
        }
    }

    /// Runs `program args`, failing with its output (and the tail of
    /// `log`, if given) when it exits unsuccessfully.
    fn run(&self, program: &Path, args: &[OsString], log: Option<&Path>) -> Result<(), Error> {
        let mut command = Command::new(program);
        command
            .args(args)
            .current_dir(self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        self.configure(&mut command);
        let rendered = render_command(program, args);
        let output = command.output().map_err(|source| Error::Spawn {
            command: rendered.clone(),
            source,
        })?;
        if output.status.success() {
            return Ok(());
        }
        let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&output.stderr));
        Err(Error::CommandFailed {
            command: rendered,
            status: output.status.to_string(),
            output: tail(&text, MAX_OUTPUT_BYTES).to_owned(),
            log_tail: log.and_then(read_tail),
        })
    }
}

fn os(text: &str) -> OsString {
    OsString::from(text)
}

fn render_command(program: &Path, args: &[OsString]) -> String {
    std::iter::once(program.as_os_str())
        .chain(args.iter().map(OsString::as_os_str))
        .map(OsStr::to_string_lossy)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Creates `<temp>/singer-testkit-<pid>-<nanos>` (mode 0700), owned by the
/// server user when there is one.
fn create_cluster_dir(run_as: Option<RunAs>) -> Result<PathBuf, Error> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos())
        .unwrap_or_default();
    let dir = std::env::temp_dir().join(format!("singer-testkit-{}-{nanos}", std::process::id()));
    std::fs::create_dir(&dir).map_err(|source| Error::Io {
        action: "create the cluster directory",
        path: dir.clone(),
        source,
    })?;
    let prepared =
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).and_then(|()| {
            match run_as {
                Some(RunAs { uid, gid }) => chown(&dir, Some(uid), Some(gid)),
                None => Ok(()),
            }
        });
    if let Err(source) = prepared {
        let _ignored = std::fs::remove_dir(&dir);
        return Err(Error::Io {
            action: "hand the cluster directory to the server user",
            path: dir,
            source,
        });
    }
    Ok(dir)
}

/// A port that was free a moment ago (the server may still lose a race for
/// it; the caller retries).
fn free_port() -> Result<u16, Error> {
    TcpListener::bind((HOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|source| Error::NoFreePort { source })
}

/// The last `MAX_OUTPUT_BYTES` of a log file, if it can be read.
fn read_tail(path: &Path) -> Option<String> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|mut file| file.read_to_end(&mut bytes))
        .ok()?;
    let text = String::from_utf8_lossy(&bytes);
    Some(tail(&text, MAX_OUTPUT_BYTES).to_owned())
}

/// The end of `text`, at most `max` bytes, cut at a character boundary.
fn tail(text: &str, max: usize) -> &str {
    let mut start = text.len().saturating_sub(max);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text.get(start..).unwrap_or(text)
}

/// `prefix_counter_pid`, with `prefix` made a safe identifier and short
/// enough for the whole name to fit in 63 bytes.
fn database_name(prefix: &str, counter: u64, pid: u32) -> String {
    let suffix = format!("_{counter}_{pid}");
    let mut name: String = prefix
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .map(|c| c.to_ascii_lowercase())
        .take(MAX_IDENTIFIER_BYTES.saturating_sub(suffix.len()))
        .collect();
    if name.is_empty() {
        name.push_str("test");
    }
    name.push_str(&suffix);
    name
}

/// A double-quoted SQL identifier.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A value in a libpq `key=value` string: quoted when it is empty or holds
/// spaces, quotes or backslashes.
fn conninfo_quote(value: &str) -> String {
    if !value.is_empty()
        && !value
            .chars()
            .any(|c| c.is_whitespace() || c == '\'' || c == '\\')
    {
        return value.to_owned();
    }
    let mut quoted = String::with_capacity(value.len() + 2);
    quoted.push('\'');
    for c in value.chars() {
        if c == '\'' || c == '\\' {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('\'');
    quoted
}

/// A single-quoted `/bin/sh` word (`pg_ctl -o` goes through the shell).
fn sh_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names_are_safe_unique_and_fit() {
        assert_eq!(database_name("Orders-Test", 3, 41), "orderstest_3_41");
        assert_eq!(database_name("", 0, 1), "test_0_1");
        let long = database_name(&"x".repeat(200), u64::MAX, u32::MAX);
        assert_eq!(long.len(), MAX_IDENTIFIER_BYTES);
        assert!(long.ends_with(&format!("_{}_{}", u64::MAX, u32::MAX)));
    }

    #[test]
    fn connection_values_are_quoted_when_needed() {
        assert_eq!(conninfo_quote("plain_db"), "plain_db");
        assert_eq!(conninfo_quote(""), "''");
        assert_eq!(conninfo_quote("it's a db"), r"'it\'s a db'");
        assert_eq!(conninfo_quote(r"back\slash"), r"'back\\slash'");
        assert_eq!(sh_quote("/tmp/it's"), r"'/tmp/it'\''s'");
        assert_eq!(quote_ident(r#"a"b"#), r#""a""b""#);
    }

    #[test]
    fn a_failing_command_reports_its_status_and_output() {
        let dir = std::env::temp_dir();
        let runner = Runner {
            dir: &dir,
            run_as: None,
        };
        let error = runner
            .run(
                Path::new("/bin/sh"),
                &[os("-c"), os("echo boom >&2; exit 3")],
                None,
            )
            .expect_err("must fail");
        let message = error.to_string();
        assert!(matches!(error, Error::CommandFailed { .. }), "{message}");
        assert!(message.contains("/bin/sh -c"), "{message}");
        assert!(message.contains("exit status: 3"), "{message}");
        assert!(message.contains("boom"), "{message}");

        let error = runner
            .run(Path::new("/nonexistent/initdb"), &[], None)
            .expect_err("must fail");
        assert!(matches!(error, Error::Spawn { .. }));
    }

    #[test]
    fn tails_are_cut_at_char_boundaries() {
        assert_eq!(tail("héllo", 4), "llo");
        assert_eq!(tail("short", 100), "short");
    }

    #[test]
    fn shared_cluster_serves_isolated_databases() {
        let cluster = postgres().expect("the throwaway PostgreSQL cluster must start");
        let first = cluster.create_database("testkit").expect("create first db");
        let second = cluster
            .create_database("testkit")
            .expect("create second db");
        assert_ne!(first, second);

        for db in [&first, &second] {
            let mut client = cluster.connect(db).expect("connect");
            let row = client.query_one("SELECT 1::int4", &[]).expect("SELECT 1");
            assert_eq!(row.get::<_, i32>(0), 1);
            let current = client
                .query_one("SELECT current_database()", &[])
                .expect("current_database()");
            assert_eq!(current.get::<_, String>(0), *db);
        }

        // The connection string works on its own, too.
        let mut client =
            postgres::Client::connect(&cluster.connection_string(&first), postgres::NoTls)
                .expect("connect with the connection string");
        client
            .execute("CREATE TABLE only_in_first (id int)", &[])
            .expect("create table");
        let mut other = cluster.connect(&second).expect("connect second");
        let found = other
            .query_one("SELECT to_regclass('only_in_first') IS NULL", &[])
            .expect("lookup");
        assert!(found.get::<_, bool>(0), "databases must be isolated");
    }

    #[test]
    fn the_same_cluster_is_shared() {
        let first = postgres().expect("cluster");
        let second = postgres().expect("cluster");
        assert!(std::ptr::eq(first, second));
        assert!(first.data_dir().join("PG_VERSION").is_file());
        assert_eq!(first.host(), "127.0.0.1");
        assert_ne!(first.port(), 0);
    }

    #[test]
    fn connecting_to_a_missing_database_names_it() {
        let cluster = postgres().expect("cluster");
        let Err(error) = cluster.connect("no_such_database_here") else {
            panic!("connecting to a missing database must fail");
        };
        assert!(matches!(error, Error::Connect { .. }));
        assert!(error.to_string().contains("no_such_database_here"));
    }
}
