//! The README's first command (`scripts/demo`): runs the main job,
//! `tap-postgres | target-csv`, on an embedded default and reports it for a
//! human.
//!
//! 1. starts a throwaway PostgreSQL (removed when the demo exits) and fills
//!    it from `fixtures/postgres/gitlab.sql` (users, projects, 100,000
//!    issues, 10,000 merge requests, with the tricky types);
//! 2. catalog mode: `tap-postgres --discover`, select every table (issues and
//!    merge requests INCREMENTAL on `updated_at`, the rest FULL_TABLE), then
//!    `tap-postgres --catalog | target-csv`; changes rows and runs again from
//!    the state target-csv wrote, to show the incremental pick-up;
//! 3. manifest mode: the GitLab postgres_pipeline manifest of
//!    `fixtures/manifests/`: a backfill of the incremental tables, a full
//!    (SCD) load of the others, then, after changes, an incremental run;
//! 4. prints where the CSV files are, rows per stream and rows/s.
//!
//! The binaries come from `SINGER_DEMO_BIN_DIR` (scripts/demo builds them in
//! release mode and sets it).

#![allow(
    clippy::print_stdout,
    reason = "the demo is not a Singer binary: its stdout is a report for a human"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use serde_json::{Value, json};
use singer_protocol::{Catalog, ReplicationMethod};

/// Issues generated into the demo database.
const ISSUES: u32 = 100_000;

type Result<T> = std::result::Result<T, Box<dyn Error>>;

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            println!("demo failed: {error}");
            let mut source = error.source();
            while let Some(cause) = source {
                println!("  caused by: {cause}");
                source = cause.source();
            }
            std::process::ExitCode::FAILURE
        }
    }
}

/// Where things are.
struct Demo {
    root: PathBuf,
    bin_dir: PathBuf,
    out: PathBuf,
}

fn run() -> Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()?;
    let bin_dir = std::env::var_os("SINGER_DEMO_BIN_DIR")
        .map_or_else(|| root.join("target/release"), PathBuf::from);
    for bin in ["tap-postgres", "target-csv"] {
        if !bin_dir.join(bin).is_file() {
            return Err(format!(
                "{} not found: run scripts/demo (it builds the binaries), or set SINGER_DEMO_BIN_DIR",
                bin_dir.join(bin).display()
            )
            .into());
        }
    }
    let out = root.join(".demo");
    if out.exists() {
        std::fs::remove_dir_all(&out)?;
    }
    std::fs::create_dir_all(&out)?;
    let demo = Demo { root, bin_dir, out };

    println!("== 1. A throwaway PostgreSQL with a GitLab-like schema");
    let cluster = singer_testkit::postgres()?;
    let db = cluster.create_database("gitlab")?;
    let mut client = cluster.connect(&db)?;
    let seed = std::fs::read_to_string(demo.root.join("fixtures/postgres/gitlab.sql"))?;
    let started = Instant::now();
    client.batch_execute(&seed.replace(":issues", &ISSUES.to_string()))?;
    println!(
        "   PostgreSQL {} on {}:{}, database {db}: users, projects, {ISSUES} issues, {} merge requests ({:.1} s)",
        cluster.bin_dir().display(),
        cluster.host(),
        cluster.port(),
        ISSUES / 10,
        started.elapsed().as_secs_f64()
    );
    let tap_config = demo.write_json(
        "tap-config.json",
        &json!({
            "host": cluster.host(), "port": cluster.port(), "user": cluster.user(),
            "dbname": db, "sslmode": "disable",
            "internal_projects_file": demo.root.join("fixtures/manifests/internal_gitlab_projects.csv"),
            "internal_namespaces_file": demo.root.join("fixtures/manifests/internal_gitlab_namespaces.csv"),
        }),
    )?;

    println!("== 2. Catalog mode: tap-postgres --catalog | target-csv");
    let csv_catalog = demo.out.join("csv/catalog");
    let csv_config = demo.write_json(
        "target-csv-catalog.json",
        &json!({"destination_path": csv_catalog, "file_naming_scheme": "{stream}/{timestamp}-{part}.csv"}),
    )?;
    let discovered = Command::new(demo.bin("tap-postgres"))
        .args([
            "--config".as_ref(),
            tap_config.as_os_str(),
            "--discover".as_ref(),
        ])
        .args(["--log-level", "warn"])
        .output()?;
    if !discovered.status.success() {
        return Err(format!(
            "discovery failed: {}",
            String::from_utf8_lossy(&discovered.stderr)
        )
        .into());
    }
    let mut catalog = Catalog::from_json(&String::from_utf8(discovered.stdout)?)?;
    select_all(&mut catalog);
    let catalog_path = demo.write_json("catalog.json", &serde_json::to_value(&catalog)?)?;
    for entry in &catalog.streams {
        println!(
            "   {:<24} {:<11} {}",
            entry.tap_stream_id,
            entry
                .replication_method()?
                .map_or("?", ReplicationMethod::as_str),
            entry
                .replication_key()?
                .map(|k| format!("key {k}"))
                .unwrap_or_default(),
        );
    }
    let tap_args = |state: Option<&Path>| {
        let mut args = vec![
            "--config".into(),
            tap_config.clone().into_os_string(),
            "--catalog".into(),
            catalog_path.clone().into_os_string(),
        ];
        if let Some(state) = state {
            args.extend(["--state".into(), state.as_os_str().to_owned()]);
        }
        args
    };
    println!("   run 1 (first sync):");
    let state = demo.pipe("catalog-run-1", &tap_args(None), &csv_config, &csv_catalog)?;
    client.batch_execute(
        "UPDATE issues SET title = title || ' (edited)', updated_at = now() WHERE id IN (7, 70, 700);
         INSERT INTO merge_requests (id, target_project_id, author_id, iid, title, source_branch, target_branch, created_at, updated_at)
         VALUES (1000001, 1, 2, 1000001, 'A new MR', 'fix', 'main', now(), now());",
    )?;
    println!(
        "   run 2 (after updating 3 issues and inserting 1 merge request, from run 1's state):"
    );
    demo.pipe(
        "catalog-run-2",
        &tap_args(Some(&state)),
        &csv_config,
        &csv_catalog,
    )?;
    println!(
        "   INCREMENTAL reads `>= bookmark`: each stream's last row comes again (at-least-once by design);\n   \
         FULL_TABLE streams are copied whole under a new version."
    );

    println!("== 3. Manifest mode: the GitLab postgres_pipeline manifest, unchanged");
    let manifest = demo
        .root
        .join("fixtures/manifests/gitlab_com_db_manifest.yaml");
    let csv_manifest = demo.out.join("csv/manifest");
    let csv_config = demo.write_json(
        "target-csv-manifest.json",
        &json!({"destination_path": csv_manifest, "file_naming_scheme": "{stream}/{timestamp}-{part}.csv"}),
    )?;
    // connection_info names environment variables, as upstream.
    let env = [
        ("GITLAB_COM_DB_HOST", cluster.host().to_owned()),
        ("GITLAB_COM_PG_PORT", cluster.port().to_string()),
        ("GITLAB_COM_DB_USER", cluster.user().to_owned()),
        ("GITLAB_COM_DB_PASS", String::new()),
        ("GITLAB_COM_DB_NAME", db.clone()),
    ];
    let manifest_args = |load_type: &str, tables: &[&str], state: Option<&Path>| {
        let mut args: Vec<std::ffi::OsString> = vec![
            "--manifest".into(),
            manifest.clone().into_os_string(),
            "--config".into(),
            tap_config.clone().into_os_string(),
            "--load-type".into(),
            load_type.into(),
            "--execution-date".into(),
            chrono_now().into(),
        ];
        for table in tables {
            args.extend(["--table".into(), (*table).into()]);
        }
        if let Some(state) = state {
            args.extend(["--state".into(), state.as_os_str().to_owned()]);
        }
        args
    };
    println!("   backfill of the incremental tables (new to the state: a complete reload):");
    let state = demo.pipe_env(
        "manifest-backfill",
        &manifest_args("backfill", &["issues", "merge_requests"], None),
        &csv_config,
        &csv_manifest,
        &env,
    )?;
    println!("   full (SCD) copies, stamped with _uploaded_at:");
    let state = demo.pipe_env(
        "manifest-full",
        &manifest_args("full", &["users", "projects"], Some(&state)),
        &csv_config,
        &csv_manifest,
        &env,
    )?;
    client.batch_execute(
        "UPDATE issues SET state = 'closed', updated_at = now() WHERE id IN (11, 22);
         UPDATE merge_requests SET merge_status = 'can_be_merged', updated_at = now() WHERE id = 5;",
    )?;
    println!(
        "   incremental run after updating 2 issues and 1 merge request; the window starts 30 min before the\n   \
         last high-water mark (upstream's overlap), so rows changed shortly before the backfill come again:"
    );
    demo.pipe_env(
        "manifest-incremental",
        &manifest_args("incremental", &["issues", "merge_requests"], Some(&state)),
        &csv_config,
        &csv_manifest,
        &env,
    )?;

    println!("== Done.");
    println!(
        "   CSV files:  {}/<stream>/<timestamp>-<part>.csv",
        demo.out.join("csv/{catalog,manifest}").display()
    );
    println!(
        "   catalog, configs, states and logs: {}",
        demo.out.display()
    );
    println!("   PostgreSQL stops and its directory is removed as the demo exits.");
    Ok(())
}

impl Demo {
    fn bin(&self, name: &str) -> PathBuf {
        self.bin_dir.join(name)
    }

    fn write_json(&self, name: &str, value: &Value) -> Result<PathBuf> {
        let path = self.out.join(name);
        std::fs::write(&path, serde_json::to_string_pretty(value)?)?;
        Ok(path)
    }

    fn pipe(
        &self,
        name: &str,
        tap_args: &[std::ffi::OsString],
        csv_config: &Path,
        csv_dir: &Path,
    ) -> Result<PathBuf> {
        self.pipe_env(name, tap_args, csv_config, csv_dir, &[])
    }

    /// Runs `tap-postgres ARGS | target-csv --config CSV_CONFIG`, prints the
    /// rows each stream got in new CSV files and the rate, and returns the
    /// path of the state target-csv wrote last.
    fn pipe_env(
        &self,
        name: &str,
        tap_args: &[std::ffi::OsString],
        csv_config: &Path,
        csv_dir: &Path,
        env: &[(&str, String)],
    ) -> Result<PathBuf> {
        let before = csv_files(csv_dir);
        let started = Instant::now();
        let mut tap = Command::new(self.bin("tap-postgres"))
            .args(tap_args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(
                self.out.join(format!("{name}.tap.log")),
            )?)
            .spawn()?;
        let tap_out = tap.stdout.take().ok_or("no tap stdout")?;
        let target = Command::new(self.bin("target-csv"))
            .args(["--config".as_ref(), csv_config.as_os_str()])
            .stdin(tap_out)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(
                self.out.join(format!("{name}.target.log")),
            )?)
            .spawn()?;
        let target = target.wait_with_output()?;
        let tap_status = tap.wait()?;
        let seconds = started.elapsed().as_secs_f64();
        if !tap_status.success() || !target.status.success() {
            return Err(format!(
                "{name}: tap-postgres {tap_status}, target-csv {}; see {}/{name}.*.log",
                target.status,
                self.out.display()
            )
            .into());
        }
        let state = String::from_utf8(target.stdout)?;
        let last = state
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .ok_or("target-csv wrote no state")?;
        let state_path = self.out.join(format!("{name}.state.json"));
        std::fs::write(&state_path, last)?;

        let mut rows: BTreeMap<String, u64> = BTreeMap::new();
        for file in csv_files(csv_dir).difference(&before) {
            let stream = file
                .parent()
                .and_then(Path::file_name)
                .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
            *rows.entry(stream).or_default() += count_records(file)?;
        }
        let total: u64 = rows.values().sum();
        for (stream, n) in &rows {
            println!("     {stream:<28} {n:>8} rows");
        }
        #[allow(clippy::cast_precision_loss, reason = "a rate for display")]
        let rate = total as f64 / seconds;
        println!(
            "     {total} rows in {seconds:.2} s ({rate:.0} rows/s), state: {}",
            state_path.display()
        );
        Ok(state_path)
    }
}

/// Selects every stream: issues and merge requests INCREMENTAL on
/// `updated_at`, the rest FULL_TABLE (both catalog spellings).
fn select_all(catalog: &mut Catalog) {
    let root: [&str; 0] = [];
    for entry in &mut catalog.streams {
        entry.metadata.set(&root, "selected", json!(true));
        let keys = entry.key_properties().unwrap_or_default();
        if matches!(
            entry.stream.as_str(),
            "public-issues" | "public-merge_requests"
        ) {
            entry.set_replication(
                Some(ReplicationMethod::Incremental),
                Some("updated_at"),
                &keys,
            );
        } else {
            entry.set_replication(Some(ReplicationMethod::FullTable), None, &keys);
        }
    }
}

/// Every CSV file under `dir`.
fn csv_files(dir: &Path) -> BTreeSet<PathBuf> {
    let mut files = BTreeSet::new();
    let mut dirs = vec![dir.to_owned()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "csv") {
                files.insert(path);
            }
        }
    }
    files
}

/// Records in a CSV file (a standard reader: quoted newlines are one record).
fn count_records(path: &Path) -> Result<u64> {
    let mut reader = csv::Reader::from_path(path)?;
    let mut n = 0;
    for record in reader.records() {
        record?;
        n += 1;
    }
    Ok(n)
}

/// The execution date of a manifest run: now, to the microsecond (a
/// truncated second would leave rows changed within it to the next run).
fn chrono_now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}
