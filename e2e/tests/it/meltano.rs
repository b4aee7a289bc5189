//! Meltano runs our binaries as custom plugins (`fixtures/meltano`):
//! discovery, selection (streams, columns, replication through the
//! `metadata` extra), `meltano run` twice with changes in between, the
//! second run incremental from the state Meltano saved.
//!
//! Meltano (pinned in `scripts/py-venv`) is installed from PyPI into
//! `target/e2e/venv/meltano` by that script on first use and reused after;
//! if PyPI cannot be reached the test fails saying so. Runs are offline:
//! HTTP(S) proxies point at a closed port, anonymous usage stats and
//! tracking are off, and the system database is SQLite in the project.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use singer_protocol::{Catalog, ReplicationMethod};

/// What `scripts/py-venv meltano` installs (keep in step).
const MELTANO_VERSION: &str = "4.4.1";
pub(crate) const ISSUES: u32 = 300;
const STATE_ID: &str = "dev:tap-postgres-to-target-csv";

pub(crate) fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Installs Meltano if needed and returns its executable.
fn meltano_executable() -> PathBuf {
    crate::venv::install("meltano").join("bin/meltano")
}

pub(crate) struct Project {
    pub(crate) dir: PathBuf,
    meltano: PathBuf,
    pub(crate) env: Vec<(String, String)>,
}

impl Project {
    fn new(db: &str) -> Self {
        let yaml = std::fs::read_to_string(repo().join("fixtures/meltano/meltano.yml")).unwrap();
        Self::with_yaml(db, "meltano", &yaml, true)
    }

    /// A project in a scratch directory named after `name`, with `yaml`
    /// as its meltano.yml; `binaries_on_path` puts the binaries under test
    /// first on PATH (the custom plugins' way to find them).
    pub(crate) fn with_yaml(db: &str, name: &str, yaml: &str, binaries_on_path: bool) -> Self {
        let cluster = singer_testkit::postgres().expect("throwaway PostgreSQL");
        let meltano = meltano_executable();
        let bin_dir = singer_e2e::binaries::bin_dir().unwrap();
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("e2e-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("meltano.yml"), yaml).unwrap();
        let system_path = std::env::var("PATH").unwrap_or_default();
        let path = if binaries_on_path {
            format!("{}:{system_path}", bin_dir.display())
        } else {
            system_path
        };
        let closed = "http://127.0.0.1:9".to_owned();
        let env = vec![
            ("PATH".to_owned(), path),
            ("PGHOST".to_owned(), cluster.host().to_owned()),
            ("PGPORT".to_owned(), cluster.port().to_string()),
            ("PGUSER".to_owned(), cluster.user().to_owned()),
            ("PGPASSWORD".to_owned(), String::new()),
            ("PGDATABASE".to_owned(), db.to_owned()),
            (
                "MELTANO_SEND_ANONYMOUS_USAGE_STATS".to_owned(),
                "false".to_owned(),
            ),
            ("MELTANO_DISABLE_TRACKING".to_owned(), "true".to_owned()),
            ("NO_COLOR".to_owned(), "1".to_owned()),
            // No network: anything Meltano tried to fetch would fail.
            ("HTTP_PROXY".to_owned(), closed.clone()),
            ("HTTPS_PROXY".to_owned(), closed.clone()),
            ("http_proxy".to_owned(), closed.clone()),
            ("https_proxy".to_owned(), closed),
            ("NO_PROXY".to_owned(), "127.0.0.1,localhost".to_owned()),
        ];
        Self { dir, meltano, env }
    }

    /// Runs `meltano ARGS` in the project and returns its output; fails the
    /// test with Meltano's stderr unless it succeeded.
    pub(crate) fn meltano(&self, args: &[&str]) -> Output {
        let output = Command::new(&self.meltano)
            .args(args)
            .current_dir(&self.dir)
            .env_remove("MELTANO_ENVIRONMENT")
            .env_remove("MELTANO_PROJECT_ROOT")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .expect("running meltano");
        assert!(
            output.status.success(),
            "meltano {} failed ({}):\n{}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    fn stdout(&self, args: &[&str]) -> String {
        String::from_utf8(self.meltano(args).stdout).unwrap()
    }

    /// Every CSV file under `output/`, by stream directory.
    pub(crate) fn csv_files(&self) -> BTreeMap<String, BTreeSet<PathBuf>> {
        let mut files: BTreeMap<String, BTreeSet<PathBuf>> = BTreeMap::new();
        let Ok(streams) = std::fs::read_dir(self.dir.join("output")) else {
            return files;
        };
        for stream in streams.flatten().filter(|e| e.path().is_dir()) {
            let name = stream.file_name().to_string_lossy().into_owned();
            for file in std::fs::read_dir(stream.path()).unwrap().flatten() {
                if file.path().extension().is_some_and(|e| e == "csv") {
                    files.entry(name.clone()).or_default().insert(file.path());
                }
            }
        }
        files
    }
}

/// The header and rows of CSV files.
pub(crate) fn read_csv(files: &BTreeSet<PathBuf>) -> (Vec<String>, Vec<BTreeMap<String, String>>) {
    let mut header = Vec::new();
    let mut rows = Vec::new();
    for file in files {
        let mut reader = csv::Reader::from_path(file).unwrap();
        header = reader
            .headers()
            .unwrap()
            .iter()
            .map(str::to_owned)
            .collect();
        for record in reader.records() {
            let record = record.unwrap();
            rows.push(
                header
                    .iter()
                    .cloned()
                    .zip(record.iter().map(str::to_owned))
                    .collect(),
            );
        }
    }
    (header, rows)
}

fn ids(rows: &[BTreeMap<String, String>]) -> BTreeSet<i64> {
    rows.iter().map(|r| r["id"].parse().unwrap()).collect()
}

fn new_files(
    before: &BTreeMap<String, BTreeSet<PathBuf>>,
    after: &BTreeMap<String, BTreeSet<PathBuf>>,
    stream: &str,
) -> BTreeSet<PathBuf> {
    let empty = BTreeSet::new();
    after
        .get(stream)
        .unwrap_or(&empty)
        .difference(before.get(stream).unwrap_or(&empty))
        .cloned()
        .collect()
}

fn saved_state(project: &Project) -> Value {
    let text = project.stdout(&["state", "get", STATE_ID]);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("meltano state get: {e}: {text}"))
}

#[test]
fn meltano_runs_our_tap_and_target_as_custom_plugins_incrementally_from_its_saved_state() {
    let cluster = singer_testkit::postgres().expect("throwaway PostgreSQL");
    let db = cluster.create_database("meltano").unwrap();
    let mut client = cluster.connect(&db).unwrap();
    let seed = std::fs::read_to_string(repo().join("fixtures/postgres/gitlab.sql")).unwrap();
    client
        .batch_execute(&seed.replace(":issues", &ISSUES.to_string()))
        .unwrap();
    let project = Project::new(&db);

    let version = project.stdout(&["--version"]);
    assert_eq!(
        version.trim(),
        format!("meltano, version {MELTANO_VERSION}")
    );

    // Discovery through Meltano: our catalog is what it prints.
    let discovered = project.stdout(&["invoke", "tap-postgres", "--discover"]);
    let catalog = Catalog::from_json(&discovered).expect("our catalog parses");
    let streams: BTreeSet<&str> = catalog
        .streams
        .iter()
        .map(|s| s.tap_stream_id.as_str())
        .collect();
    assert_eq!(
        streams,
        BTreeSet::from([
            "public-issues",
            "public-merge_requests",
            "public-projects",
            "public-users"
        ])
    );
    project.meltano(&["config", "test", "tap-postgres"]);

    // Selection: a whole stream, a column subset, replication through the
    // metadata extra (the fixture selects issues and merge requests,
    // INCREMENTAL on updated_at).
    project.meltano(&["select", "tap-postgres", "public-users", "*"]);
    for column in ["id", "name", "storage_size"] {
        project.meltano(&["select", "tap-postgres", "public-projects", column]);
    }
    project.meltano(&[
        "config",
        "set",
        "tap-postgres",
        "_metadata",
        "public-projects",
        "replication-method",
        "FULL_TABLE",
    ]);
    let listed = project.stdout(&["select", "tap-postgres", "--list"]);
    for line in [
        "[automatic  ] public-issues.id",
        "[selected   ] public-issues.updated_at",
        "[selected   ] public-users.username",
        "[selected   ] public-projects.storage_size",
    ] {
        assert!(listed.contains(line), "{line:?} not in:\n{listed}");
    }
    assert!(!listed.contains("public-projects.path"), "{listed}");

    // The catalog Meltano hands the tap (selection and metadata applied)
    // parses and says what we configured, in both spellings.
    let applied =
        Catalog::from_json(&project.stdout(&["invoke", "--dump=catalog", "tap-postgres"])).unwrap();
    let method = |id: &str| {
        let entry = applied
            .streams
            .iter()
            .find(|s| s.tap_stream_id == id)
            .unwrap();
        (
            entry.replication_method().unwrap(),
            entry.replication_key().unwrap(),
        )
    };
    assert_eq!(
        method("public-issues"),
        (Some(ReplicationMethod::Incremental), Some("updated_at"))
    );
    assert_eq!(
        method("public-projects").0,
        Some(ReplicationMethod::FullTable)
    );

    // Run 1: everything.
    project.meltano(&["run", "tap-postgres", "target-csv"]);
    let after_1 = project.csv_files();
    let (_, issues) = read_csv(&after_1["public-issues"]);
    assert_eq!(issues.len(), ISSUES as usize);
    assert_eq!(
        read_csv(&after_1["public-merge_requests"]).1.len(),
        (ISSUES / 10) as usize
    );
    assert_eq!(read_csv(&after_1["public-users"]).1.len(), 4);
    let (projects_header, projects) = read_csv(&after_1["public-projects"]);
    assert_eq!(projects_header, ["id", "name", "storage_size"]);
    assert_eq!(projects.len(), 3);
    // numeric(38,0) arrives with every digit.
    assert!(
        projects
            .iter()
            .any(|p| p["storage_size"] == "12345678901234567890123456789012345678")
    );
    let state_1 = saved_state(&project);
    let bookmark = state_1["singer_state"]["bookmarks"]["public-issues"]["replication_key_value"]
        .as_str()
        .unwrap_or_else(|| panic!("no issues bookmark in Meltano's state: {state_1}"))
        .to_owned();

    // Changes, then run 2 from the state Meltano saved.
    client
        .batch_execute(
            "UPDATE issues SET title = title || ' (edited)', updated_at = now() WHERE id IN (7, 70);
             INSERT INTO merge_requests (id, target_project_id, author_id, iid, title, source_branch, target_branch, created_at, updated_at)
             VALUES (1000001, 1, 2, 1000001, 'A new MR', 'fix', 'main', now(), now());
             UPDATE users SET name = 'Ghost User', updated_at = now() WHERE id = 4;",
        )
        .unwrap();
    // Issues at or after Meltano's bookmark: the two edited ones and the
    // boundary row(s) of run 1 (`>=` is at-least-once by design).
    let expected: BTreeSet<i64> = client
        .query(
            "SELECT id FROM issues WHERE updated_at >= $1::text::timestamptz",
            &[&bookmark],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(
        expected.contains(&7) && expected.contains(&70) && expected.len() <= 5,
        "{expected:?}"
    );

    project.meltano(&["run", "tap-postgres", "target-csv"]);
    let after_2 = project.csv_files();
    let (_, issues_2) = read_csv(&new_files(&after_1, &after_2, "public-issues"));
    assert_eq!(
        ids(&issues_2),
        expected,
        "run 2 read issues from Meltano's bookmark only"
    );
    assert!(
        issues_2
            .iter()
            .filter(|r| r["id"] == "7" || r["id"] == "70")
            .all(|r| r["title"].ends_with("(edited)"))
    );
    let (_, mrs_2) = read_csv(&new_files(&after_1, &after_2, "public-merge_requests"));
    assert!(
        ids(&mrs_2).contains(&1_000_001) && mrs_2.len() <= 3,
        "{:?}",
        ids(&mrs_2)
    );
    // FULL_TABLE users: a new version, the old one's file removed.
    let (_, users) = read_csv(&after_2["public-users"]);
    assert_eq!(users.len(), 4);
    assert!(users.iter().any(|u| u["name"] == "Ghost User"));
    assert!(after_2["public-users"].is_disjoint(&after_1["public-users"]));

    let state_2 = saved_state(&project);
    let bookmark_2 = state_2["singer_state"]["bookmarks"]["public-issues"]["replication_key_value"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(bookmark_2 > bookmark, "{bookmark_2} after {bookmark}");
    let _ = std::fs::remove_dir_all(&project.dir);
}

#[test]
fn meltano_runs_log_based_twice_from_its_saved_state() {
    let cluster = singer_testkit::postgres().expect("throwaway PostgreSQL");
    let db = cluster.create_database("meltano_log").unwrap();
    let mut client = cluster.connect(&db).unwrap();
    let seed = std::fs::read_to_string(repo().join("fixtures/postgres/gitlab.sql")).unwrap();
    client
        .batch_execute(&seed.replace(":issues", &ISSUES.to_string()))
        .unwrap();
    let yaml = std::fs::read_to_string(repo().join("fixtures/meltano/meltano.yml"))
        .unwrap()
        .replace(
            "    - public-issues.*\n    - public-merge_requests.*\n",
            "    - public-users.*\n",
        )
        .replace(
            "      public-issues:\n        replication-method: INCREMENTAL\n        replication-key: updated_at\n      public-merge_requests:\n        replication-method: INCREMENTAL\n        replication-key: updated_at\n",
            "      public-users:\n        replication-method: LOG_BASED\n",
        );
    assert!(yaml.contains("replication-method: LOG_BASED"), "{yaml}");
    let project = Project::with_yaml(&db, "meltano-log", &yaml, true);

    // Run 1: the initial copy.
    project.meltano(&["run", "tap-postgres", "target-csv"]);
    let after_1 = project.csv_files();
    let (header, users) = read_csv(&after_1["public-users"]);
    assert_eq!(users.len(), 4);
    assert!(
        header.contains(&"_sdc_lsn".to_owned()) && header.contains(&"_sdc_deleted_at".to_owned())
    );
    let state_1 = saved_state(&project);
    let lsn_1 = state_1["singer_state"]["bookmarks"]["public-users"]["lsn"]
        .as_u64()
        .unwrap_or_else(|| panic!("no lsn in Meltano's state: {state_1}"));

    // Changes, then run 2 from the state Meltano saved (the target's).
    client
        .batch_execute(
            "UPDATE users SET name = 'Ghost User' WHERE id = 4;
             UPDATE issues SET author_id = NULL WHERE author_id = 3;
             UPDATE merge_requests SET author_id = NULL WHERE author_id = 3;
             DELETE FROM users WHERE id = 3;",
        )
        .unwrap();
    project.meltano(&["run", "tap-postgres", "target-csv"]);
    let after_2 = project.csv_files();
    let (_, changes) = read_csv(&new_files(&after_1, &after_2, "public-users"));
    assert_eq!(changes.len(), 2, "only the changes: {changes:?}");
    assert_eq!(changes[0]["id"], "4");
    assert_eq!(changes[0]["name"], "Ghost User");
    assert_eq!(changes[1]["id"], "3");
    assert!(!changes[1]["_sdc_deleted_at"].is_empty());
    let state_2 = saved_state(&project);
    let lsn_2 = state_2["singer_state"]["bookmarks"]["public-users"]["lsn"]
        .as_u64()
        .unwrap();
    assert!(lsn_2 > lsn_1, "{lsn_2} after {lsn_1}");
    // Run 3: nothing new, nothing sent again.
    project.meltano(&["run", "tap-postgres", "target-csv"]);
    let after_3 = project.csv_files();
    let again = new_files(&after_2, &after_3, "public-users");
    assert!(
        again.is_empty() || read_csv(&again).1.is_empty(),
        "no change sent twice"
    );
    let _ = std::fs::remove_dir_all(&project.dir);
}
