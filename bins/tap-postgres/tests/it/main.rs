//! The `tap-postgres` binary as Meltano and pipelinewise run it: flags,
//! exit codes, `--about`, `--discover` then `--catalog`/`--state` through
//! files, stdout carrying Singer messages only.

#![allow(
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers: a failed expectation is the test failing"
)]

mod corpus;
mod metrics;
mod settings;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

fn tap(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tap-postgres"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run tap-postgres")
}

fn stdout_lines(output: &Output) -> Vec<Value> {
    String::from_utf8(output.stdout.clone())
        .expect("UTF-8")
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {l}"))
        })
        .collect()
}

struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("tap-bin-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        Self(dir)
    }
    fn write(&self, name: &str, value: &Value) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, value.to_string()).expect("write");
        path.to_str().expect("UTF-8").to_owned()
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn about_version_help_and_exit_codes() {
    let about = tap(&["--about", "--format", "json"]);
    assert!(about.status.success());
    let json: Value =
        serde_json::from_slice(&about.stdout).expect("--about --format json prints JSON");
    assert_eq!(json["name"], "tap-postgres");
    assert_eq!(
        json["capabilities"],
        json!([
            "catalog",
            "discover",
            "properties",
            "state",
            "log-based",
            "about",
            "test"
        ])
    );
    assert_eq!(
        json["settings"]["properties"]["password"]["writeOnly"],
        true
    );
    assert_eq!(json["settings"]["properties"]["port"]["type"], "integer");

    let markdown = tap(&["--about", "--format", "markdown"]);
    assert!(String::from_utf8_lossy(&markdown.stdout).starts_with("# `tap-postgres`"));
    let version = tap(&["--version"]);
    assert_eq!(
        String::from_utf8_lossy(&version.stdout),
        format!("tap-postgres {}\n", env!("CARGO_PKG_VERSION"))
    );
    assert!(tap(&["--help"]).status.success());

    let bad_flag = tap(&["--frobnicate"]);
    assert_eq!(bad_flag.status.code(), Some(2));
    assert!(bad_flag.stdout.is_empty(), "nothing but messages on stdout");
    assert!(String::from_utf8_lossy(&bad_flag.stderr).contains("invalid option '--frobnicate'"));

    let dir = Dir::new("codes");
    let no_user = dir.write(
        "config.json",
        &json!({"host": "127.0.0.1", "password": "hunter2"}),
    );
    let output = tap(&["--config", &no_user, "--discover"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no user"), "{stderr}");
    assert!(
        !stderr.contains("hunter2"),
        "the password must not be logged: {stderr}"
    );

    let unreachable = dir.write(
        "down.json",
        &json!({"host": "127.0.0.1", "port": 1, "user": "u", "password": "hunter2", "sslmode": "disable"}),
    );
    let output = tap(&["--config", &unreachable, "--test"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot connect to 127.0.0.1:1/"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

#[test]
fn discover_then_sync_through_files_like_meltano() {
    let cluster = singer_testkit::postgres().expect("a throwaway PostgreSQL (see singer-testkit)");
    let db = cluster.create_database("bin").expect("database");
    cluster
        .connect(&db)
        .expect("connect")
        .batch_execute(
            "CREATE TABLE projects (id int PRIMARY KEY, name text, updated_at timestamptz);
             INSERT INTO projects VALUES (1, 'gitlab', '2024-01-01 00:00:00+00'), (2, 'runner', '2024-01-02 00:00:00+00');",
        )
        .expect("seed");
    let dir = Dir::new("sync");
    // Two config files, the later winning, and the database from the environment.
    let base = dir.write(
        "base.json",
        &json!({"host": "nowhere", "port": cluster.port(), "user": cluster.user()}),
    );
    let over = dir.write(
        "over.json",
        &json!({"host": cluster.host(), "sslmode": "disable", "not_a_setting": "extra key"}),
    );
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_tap-postgres"))
            .args(["--config", &base, "--config", &over])
            .args(args)
            .env("TAP_POSTGRES_DATABASE", &db)
            .output()
            .expect("run")
    };
    let discovered = run(&["--discover"]);
    assert!(
        discovered.status.success(),
        "{}",
        String::from_utf8_lossy(&discovered.stderr)
    );
    assert!(
        String::from_utf8_lossy(&discovered.stderr).contains("Unknown configuration key ignored")
    );
    let mut catalog = stdout_lines(&discovered).remove(0);
    let stream = &mut catalog["streams"][0];
    assert_eq!(stream["tap_stream_id"], "public-projects");
    stream["metadata"][0]["metadata"]["selected"] = json!(true);
    stream["replication_method"] = json!("INCREMENTAL");
    stream["replication_key"] = json!("updated_at");
    let catalog_path = dir.write("catalog.json", &catalog);

    let first = run(&["--catalog", &catalog_path]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let messages = stdout_lines(&first);
    let records: Vec<&Value> = messages.iter().filter(|m| m["type"] == "RECORD").collect();
    assert_eq!(records.len(), 2);
    let state = messages
        .iter()
        .rev()
        .find(|m| m["type"] == "STATE")
        .expect("STATE")["value"]
        .clone();
    let state_path = dir.write("state.json", &state);

    cluster
        .connect(&db)
        .expect("connect")
        .batch_execute("INSERT INTO projects VALUES (3, 'pages', '2024-01-03 00:00:00+00')")
        .expect("insert");
    let second = run(&["--properties", &catalog_path, "--state", &state_path]);
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    let ids: Vec<i64> = stdout_lines(&second)
        .iter()
        .filter(|m| m["type"] == "RECORD")
        .map(|m| m["record"]["id"].as_i64().expect("id"))
        .collect();
    assert_eq!(ids, [2, 3], "the boundary row again (>=), then the new one");
    assert!(dir.path().exists());
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

#[test]
fn manifest_mode_through_the_binary_with_upstream_environment() {
    let cluster = singer_testkit::postgres().expect("a throwaway PostgreSQL (see singer-testkit)");
    let db = cluster.create_database("binmf").expect("database");
    let seed = std::fs::read_to_string(fixtures().join("postgres/gitlab.sql")).expect("seed");
    cluster
        .connect(&db)
        .expect("connect")
        .batch_execute(&seed.replace(":issues", "300"))
        .expect("seeded");
    let manifest = fixtures().join("manifests/gitlab_com_db_manifest.yaml");
    let connection_info = fixtures().join("manifests/connection_info.yaml");
    let projects = fixtures().join("manifests/internal_gitlab_projects.csv");
    let dir = Dir::new("manifest");
    let config = dir.write("config.json", &json!({"sslmode": "disable"}));
    let port = cluster.port().to_string();
    let tap_env = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_tap-postgres"))
            .args(args)
            .env_remove("RUST_LOG")
            .env("GITLAB_COM_DB_NAME", &db)
            .env("GITLAB_COM_DB_HOST", cluster.host())
            .env("GITLAB_COM_DB_PASS", "unused")
            .env("GITLAB_COM_PG_PORT", &port)
            .env("GITLAB_COM_DB_USER", cluster.user())
            .env("EXECUTION_DATE", "2024-06-01T02:00:00+00:00")
            .env("HOURS", "1")
            .env("TASK_INSTANCE", "task-42")
            .output()
            .expect("run tap-postgres")
    };
    let manifest = manifest.to_str().expect("UTF-8");
    // Unknown --table: exit 2, the valid keys listed, nothing on stdout.
    let output = tap_env(&[
        "--manifest",
        manifest,
        "--load-type",
        "incremental",
        "--table",
        "isues",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "unknown table \"isues\"; the manifest's tables are: issues, issues_internal_only,"
        ),
        "{stderr}"
    );
    // A bad --load-type is a usage error too.
    let output = tap_env(&["--manifest", manifest, "--load-type", "sometimes"]);
    assert_eq!(output.status.code(), Some(2));

    // The manifest's connection_info (environment variable names), EXECUTION_DATE, HOURS, TASK_INSTANCE.
    let output = tap_env(&[
        "--manifest",
        manifest,
        "--config",
        &config,
        "--load-type",
        "incremental",
        "--table",
        "issues",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines = stdout_lines(&output);
    let records: Vec<&Value> = lines.iter().filter(|l| l["type"] == "RECORD").collect();
    // Issue i updated at 2024-06-01 00:00 + i min; window 01:00..02:00.
    assert_eq!(records.len(), 61);
    assert_eq!(records[0]["stream"], "GITLAB_DB_ISSUES");
    assert_eq!(records[0]["record"]["id"], 60);
    assert_eq!(records[0]["record"]["_task_instance"], "task-42");
    let state = lines
        .iter()
        .rev()
        .find(|l| l["type"] == "STATE")
        .expect("STATE");
    assert_eq!(
        state["value"]["bookmarks"]["GITLAB_DB_ISSUES"]["high_water_mark"],
        "2024-06-01T02:00:00.000000+00:00"
    );
    let state_file = dir.write("state.json", &state["value"]);

    // The connection-info file, --execution-date over EXECUTION_DATE, --state, allow lists.
    let output = tap_env(&[
        "--manifest",
        manifest,
        "--connection-info",
        connection_info.to_str().expect("UTF-8"),
        "--database-type",
        "main",
        "--config",
        &config,
        "--load-type",
        "incremental",
        "--table",
        "issues",
        "--table",
        "issues_internal_only",
        "--state",
        &state_file,
        "--execution-date",
        "2024-06-01 03:00:00",
        "--internal-projects",
        projects.to_str().expect("UTF-8"),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines = stdout_lines(&output);
    let ids = |stream: &str| -> Vec<i64> {
        lines
            .iter()
            .filter(|l| l["type"] == "RECORD" && l["stream"] == stream)
            .map(|l| l["record"]["id"].as_i64().expect("id"))
            .collect()
    };
    // BEGIN = 02:00 - 30 min; END = min(03:00, BEGIN + HOURS) = 02:30.
    assert_eq!(ids("GITLAB_DB_ISSUES"), (90..=150).collect::<Vec<_>>());
    // No state for the twin: END - HOURS; project_id = 1 + i % 3 in (1, 3).
    let internal = ids("GITLAB_DB_ISSUES_INTERNAL_ONLY");
    assert_eq!(
        internal,
        (120..=180).filter(|i| i % 3 != 1).collect::<Vec<_>>()
    );
    // A database type without a block: exit 2, listing the blocks.
    let output = tap_env(&[
        "--manifest",
        manifest,
        "--connection-info",
        connection_info.to_str().expect("UTF-8"),
        "--database-type",
        "ops",
        "--load-type",
        "full",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("postgres_source_connection_main, postgres_source_connection_ci")
    );

    let help = tap(&["--help"]);
    assert!(String::from_utf8_lossy(&help.stdout).contains("--manifest FILE"));
}
