//! The pipe the reconcile and deletes tests run: a seeded source database
//! (the crash harness's two tables), a catalog selecting them, and
//! `tap-postgres | TARGET` runs that carry the target's last state from
//! one run to the next.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};
use singer_e2e::binaries::binary;
use singer_e2e::crash::{FULL_TABLE, INCREMENTAL_TABLE, Source};

/// A source database, the tap's config and catalog, and a work directory.
pub struct Pipe {
    pub dir: PathBuf,
    pub client: postgres::Client,
    pub tap_config: PathBuf,
    pub catalog: PathBuf,
}

impl Pipe {
    /// A new database named after `name` with `rows` rows in each crash
    /// table; the catalog selects the FULL_TABLE table as FULL_TABLE and
    /// the incremental one as INCREMENTAL on `updated_at`, each with
    /// `extra` merged into its root metadata.
    pub fn new(name: &str, rows: u64, extra: &Value) -> Self {
        let cluster = singer_testkit::postgres().expect("throwaway PostgreSQL");
        let (source, client) = Source::seeded(cluster, name, rows).expect("seeded");
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("pipe-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let tap_config = dir.join("tap.json");
        write(
            &tap_config,
            &json!({
                "host": source.host, "port": source.port, "user": source.user,
                "dbname": source.dbname, "sslmode": "disable",
            }),
        );
        let output = Command::new(binary("tap-postgres").expect("tap"))
            .arg("--config")
            .arg(&tap_config)
            .arg("--discover")
            .output()
            .expect("discover");
        assert!(output.status.success());
        let mut catalog: Value = serde_json::from_slice(&output.stdout).expect("catalog");
        let streams = catalog["streams"].as_array_mut().expect("streams");
        streams.retain(|s| s["table_name"] == FULL_TABLE || s["table_name"] == INCREMENTAL_TABLE);
        for stream in streams.iter_mut() {
            let incremental = stream["table_name"] == INCREMENTAL_TABLE;
            for entry in stream["metadata"].as_array_mut().expect("metadata") {
                if entry["breadcrumb"].as_array().is_some_and(Vec::is_empty) {
                    let metadata = &mut entry["metadata"];
                    metadata["selected"] = true.into();
                    if incremental {
                        metadata["replication-method"] = "INCREMENTAL".into();
                        metadata["replication-key"] = "updated_at".into();
                    } else {
                        metadata["replication-method"] = "FULL_TABLE".into();
                    }
                    for (key, value) in extra.as_object().into_iter().flatten() {
                        metadata[key] = value.clone();
                    }
                }
            }
        }
        let catalog_path = dir.join("catalog.json");
        write(&catalog_path, &catalog);
        Self {
            dir,
            client,
            tap_config,
            catalog: catalog_path,
        }
    }

    /// The state file the runs carry.
    pub fn state(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    /// `tap-postgres | TARGET --config CONFIG` from the saved state; the
    /// tap must succeed. On the target's success its last state is saved.
    pub fn run(&self, target: &str, config: &Path) -> Output {
        let state = self.state();
        let mut tap = Command::new(binary("tap-postgres").expect("tap"));
        tap.arg("--config")
            .arg(&self.tap_config)
            .arg("--catalog")
            .arg(&self.catalog);
        if state.exists() {
            tap.arg("--state").arg(&state);
        }
        let mut tap = tap
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("tap");
        let output = Command::new(binary(target).expect("target"))
            .arg("--config")
            .arg(config)
            .stdin(tap.stdout.take().expect("stdout"))
            .stderr(Stdio::piped())
            .output()
            .expect("target");
        assert!(tap.wait().expect("tap").success());
        if output.status.success() {
            let text = String::from_utf8_lossy(&output.stdout);
            let last = text
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .expect("a state");
            std::fs::write(&state, last).expect("state");
        }
        output
    }

    /// `singer-reconcile` of the pipe's catalog against `target` with
    /// `config`, from the saved state.
    pub fn reconcile(&self, target: &str, config: &Path, extra: &[&str]) -> Output {
        Command::new(binary("singer-reconcile").expect("singer-reconcile"))
            .arg("--source-config")
            .arg(&self.tap_config)
            .arg("--catalog")
            .arg(&self.catalog)
            .args(["--target", target])
            .arg("--target-config")
            .arg(config)
            .arg("--state")
            .arg(self.state())
            .args(extra)
            .output()
            .expect("singer-reconcile")
    }

    /// [`Pipe::run`], which must succeed; returns the state file.
    pub fn load(&self, target: &str, config: &Path) -> PathBuf {
        let output = self.run(target, config);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        self.state()
    }
}

/// Writes `value` as JSON to `path`.
pub fn write(path: &Path, value: &Value) {
    std::fs::write(path, value.to_string()).expect("write");
}
