//! Airflow (pinned in `scripts/py-venv`, from PyPI, in a venv the project
//! owns) with the DAG factory `airflow/singer_manifest_dags.py` over the
//! fixture manifest: the file imports without errors and has one DAG per
//! load type with the expected tasks, and `airflow tasks test` runs the
//! `issues` incremental task (singer-run: tap-postgres in manifest mode into
//! target-csv) twice against the throwaway PostgreSQL, the state in the
//! PostgreSQL store, the second run sending only what changed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

use serde_json::{Value, json};

use crate::meltano::repo;

const MANIFEST: &str = "fixtures/manifests/gitlab_com_db_manifest.yaml";
const ISSUES: u32 = 300;

/// The tests share one Airflow home (its SQLite database): one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

struct Airflow {
    venv: PathBuf,
    home: PathBuf,
    config: PathBuf,
}

impl Airflow {
    /// Installs Airflow if needed, writes the factory's configuration for
    /// database `db` and output `out`, and migrates a fresh Airflow home.
    fn new(name: &str, db: &str, out: &Path) -> Self {
        let venv = crate::venv::install("airflow");
        let cluster = singer_testkit::postgres().expect("throwaway PostgreSQL");
        let bin_dir = singer_e2e::binaries::bin_dir().expect("binaries");
        let home = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("airflow-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&home);
        std::fs::create_dir_all(&home).expect("airflow home");
        std::fs::create_dir_all(out).expect("out");
        let target_config = home.join("target-csv.json");
        std::fs::write(&target_config, json!({"destination_path": out}).to_string())
            .expect("target config");
        let config = home.join("singer-dags.json");
        let factory = json!({
            "manifests": [repo().join(MANIFEST)],
            "load_types": ["incremental", "full", "deletes"],
            "singer_run": bin_dir.join("singer-run"),
            "tap": bin_dir.join("tap-postgres"),
            "target": format!("{} --config {}", bin_dir.join("target-csv").display(), target_config.display()),
            "state_backend": format!(
                "postgresql://{}@{}:{}/{db}?sslmode=disable",
                cluster.user(), cluster.host(), cluster.port()
            ),
            "pool": "default_pool",
            "max_active_tasks": 4,
            "retries": 0,
            "env": {
                "GITLAB_COM_DB_HOST": cluster.host(),
                "GITLAB_COM_PG_PORT": cluster.port().to_string(),
                "GITLAB_COM_DB_USER": cluster.user(),
                "GITLAB_COM_DB_PASS": "",
                "GITLAB_COM_DB_NAME": db,
            },
        });
        std::fs::write(&config, factory.to_string()).expect("factory config");
        let airflow = Self { venv, home, config };
        airflow.run(&["db", "migrate"]);
        airflow
    }

    fn command(&self, program: &Path) -> Command {
        let mut command = Command::new(program);
        command
            .env("AIRFLOW_HOME", &self.home)
            .env("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
            .env("AIRFLOW__CORE__DAGS_FOLDER", repo().join("airflow"))
            .env("AIRFLOW__CORE__UNIT_TEST_MODE", "False")
            .env("SINGER_DAGS_CONFIG", &self.config)
            .env("NO_COLOR", "1");
        command
    }

    /// `airflow ARGS`; fails the test with its output unless it succeeded.
    fn run(&self, args: &[&str]) -> Output {
        let output = self
            .command(&self.venv.join("bin/airflow"))
            .args(args)
            .output()
            .expect("airflow");
        assert!(
            output.status.success(),
            "airflow {} failed:\n{}\n{}",
            args.join(" "),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// The DAGs the factory file makes: import errors, and each DAG's tasks.
    fn dag_bag(&self) -> Value {
        let script = r#"
import json
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=__import__("os").environ["AIRFLOW__CORE__DAGS_FOLDER"])
print(json.dumps({
    "errors": {str(k): str(v) for k, v in bag.import_errors.items()},
    "dags": {i: sorted(d.task_ids) for i, d in bag.dags.items()},
    "command": bag.dags["gitlab_com_db_manifest_incremental"].get_task("issues").bash_command,
}))
"#;
        let output = self
            .command(&self.venv.join("bin/python"))
            .args(["-c", script])
            .output()
            .expect("python");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        let line = stdout.lines().last().expect("json line");
        serde_json::from_str(line).expect("json")
    }
}

fn seeded_db(prefix: &str) -> (String, postgres::Client) {
    let cluster = singer_testkit::postgres().expect("throwaway PostgreSQL");
    let db = cluster.create_database(prefix).expect("database");
    let mut client = cluster.connect(&db).expect("connect");
    let seed = std::fs::read_to_string(repo().join("fixtures/postgres/gitlab.sql")).expect("seed");
    client
        .batch_execute(&seed.replace(":issues", &ISSUES.to_string()))
        .expect("seeded");
    (db, client)
}

/// The ids in the CSV files under `dir` not in `seen`.
fn new_ids(dir: &Path, seen: &mut BTreeSet<PathBuf>) -> Vec<i64> {
    let mut ids = Vec::new();
    for entry in std::fs::read_dir(dir).expect("out").flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "csv") && seen.insert(path.clone()) {
            let mut reader = csv::Reader::from_path(&path).expect("csv");
            let id = reader
                .headers()
                .expect("header")
                .iter()
                .position(|h| h == "id")
                .expect("id");
            for row in reader.records() {
                ids.push(row.expect("row")[id].parse().expect("id"));
            }
        }
    }
    ids.sort_unstable();
    ids
}

#[test]
fn airflow_dag_factory_imports_with_one_task_per_table_and_load_type() {
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let (db, _client) = seeded_db("airflow_dags");
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("airflow-dags-out");
    let airflow = Airflow::new("dags", &db, &out);
    let bag = airflow.dag_bag();
    assert_eq!(bag["errors"], json!({}), "import errors");
    let tasks = |dag: &str| -> Vec<String> {
        serde_json::from_value(bag["dags"][dag].clone())
            .unwrap_or_else(|_| panic!("DAG {dag}: {bag}"))
    };
    assert_eq!(
        tasks("gitlab_com_db_manifest_incremental"),
        [
            "issues",
            "issues_internal_only",
            "merge_request_ids",
            "merge_requests"
        ]
    );
    assert_eq!(
        tasks("gitlab_com_db_manifest_full"),
        [
            "bug_issues",
            "gitlab_named_projects",
            "projects",
            "projects_internal_only",
            "projects_internal_paths",
            "users"
        ]
    );
    // `users` is deletes_exempt.
    let deletes = tasks("gitlab_com_db_manifest_deletes");
    assert!(!deletes.contains(&"users".to_owned()), "{deletes:?}");
    assert!(deletes.contains(&"issues".to_owned()), "{deletes:?}");
    let command = bag["command"].as_str().expect("command");
    for part in [
        "--job gitlab_com_db_manifest.issues",
        "--load-type incremental",
        "--table issues",
        "{{ data_interval_end | ts }}",
        "--state-backend 'postgresql://",
    ] {
        assert!(command.contains(part), "{part:?} not in {command}");
    }
    let _ = std::fs::remove_dir_all(&airflow.home);
}

#[test]
fn airflow_task_runs_an_incremental_table_twice_with_its_state_in_postgres() {
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let (db, mut client) = seeded_db("airflow_run");
    let out = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("airflow-run-out-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let airflow = Airflow::new("run", &db, &out);
    let mut seen = BTreeSet::new();

    // Run 1, data interval ending 2024-06-02: the window holds every issue.
    airflow.run(&[
        "tasks",
        "test",
        "gitlab_com_db_manifest_incremental",
        "issues",
        "2024-06-02T00:00:00+00:00",
    ]);
    assert_eq!(
        new_ids(&out, &mut seen),
        (1..=i64::from(ISSUES)).collect::<Vec<_>>()
    );
    let state: String = client
        .query_one(
            "SELECT state::text FROM singer_state WHERE job_id = 'gitlab_com_db_manifest.issues'",
            &[],
        )
        .expect("the job's state saved in PostgreSQL")
        .get(0);
    let state: Value = serde_json::from_str(&state).expect("json");
    assert_eq!(
        state["bookmarks"]["GITLAB_DB_ISSUES"]["high_water_mark"],
        "2024-06-02T00:00:00.000000+00:00",
        "{state}"
    );

    // Two issues change; run 2 (interval ending 2024-06-03) starts from the
    // saved mark and sends only them.
    client
        .batch_execute(
            "UPDATE issues SET updated_at = timestamptz '2024-06-02 12:00:00+00' WHERE id IN (7, 70);",
        )
        .expect("changes");
    airflow.run(&[
        "tasks",
        "test",
        "gitlab_com_db_manifest_incremental",
        "issues",
        "2024-06-03T00:00:00+00:00",
    ]);
    assert_eq!(new_ids(&out, &mut seen), [7, 70]);
    let _ = std::fs::remove_dir_all(&airflow.home);
    let _ = std::fs::remove_dir_all(&out);
}
