//! Side by side (issue #8, item 6): our tap-postgres and target-csv against
//! PostgreSQL's own `COPY (FORMAT binary)`, pipelinewise-tap-postgres 2.1.0,
//! meltanolabs-tap-postgres 0.10.0, singer-io target-csv 0.3.0 and Sling
//! 1.4.11, on the same table in the same run.
//!
//! Starts a throwaway PostgreSQL, loads the 1,000,000-row `issues` bench
//! table of issue #4 once (`fixtures/postgres/bench-issues.sql`, the table
//! `copy_ratio` uses), then runs the contenders in turn, round after round,
//! so that a slow spell of the machine hits them all alike:
//!
//! - `COPY (SELECT <all columns> ORDER BY id) TO STDOUT (FORMAT binary)`
//!   through psql;
//! - tap-postgres in catalog mode (FULL_TABLE) and in manifest mode
//!   (`--load-type full`, an `import_query` of the same columns);
//! - pipelinewise-tap-postgres and meltanolabs-tap-postgres, FULL_TABLE, all
//!   columns selected;
//! - `tap-postgres | target-csv` against
//!   `pipelinewise-tap-postgres | target-csv 0.3.0` (singer-io);
//! - Sling's postgres → CSV file.
//!
//! Each contender runs `RUNS` times (default 3); the three Python ones run
//! `PEER_RUNS` times (default 1: at about 2.5, 3 and 6 minutes a run, three
//! rounds of them would take over half an hour). Every process runs under
//! `/usr/bin/time` for its peak RSS (both sides of a pipe separately); the
//! wall clock covers the whole pipe. Every run is checked to have moved all
//! the rows: the bench reads the Singer or COPY stream on stdout and counts
//! RECORD messages or COPY tuples, and counts the lines of the CSV files, so
//! a failing peer cannot post a fast time. Prints a markdown table: median
//! seconds, rows/s, peak RSS (the largest over the runs) and the ratio of
//! each contender's time to ours.
//!
//! pipelinewise announces `numeric(12,4)` as a number with
//! `"multipleOf": 0.0001`, which target-csv 0.3.0 (jsonschema 2.6, floats)
//! fails on values such as 0.589, so that pipe runs the SCHEMA message
//! through `sed` to drop `multipleOf` (the time includes the `sed`).
//!
//! Run by hand, not in CI: `benches/side-by-side.sh` installs the peers and
//! builds our binaries, then runs `cargo bench -p benches --features
//! side-by-side --bench side_by_side` (the feature keeps a plain `cargo
//! bench` from building it) with their paths in `SIDE_BY_SIDE_*` variables. `ROWS`,
//! `RUNS` and `PEER_RUNS` override the defaults.

#![allow(
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::indexing_slicing,
    reason = "a bench harness that reports on stdout and aborts loudly on a broken setup"
)]

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Instant;

use serde_json::{Value, json};

/// Rows in the bench table (issue #4's size).
const ROWS: u64 = 1_000_000;
/// Runs of each fast contender.
const RUNS: usize = 3;
/// Runs of each Python peer.
const PEER_RUNS: usize = 1;
/// The name under which Sling finds the source connection URL.
const SLING_CONNECTION: &str = "SIDE_BY_SIDE_PG";
/// Read buffer for the stdout streams the bench counts.
const READ_BUFFER: usize = 1 << 20;

/// One side-by-side contender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Contender {
    Copy,
    Tap,
    Manifest,
    PwTap,
    MlTap,
    TapToCsv,
    PwToPyCsv,
    Sling,
}

impl Contender {
    const ALL: [Self; 8] = [
        Self::Copy,
        Self::Tap,
        Self::Manifest,
        Self::PwTap,
        Self::MlTap,
        Self::TapToCsv,
        Self::PwToPyCsv,
        Self::Sling,
    ];

    /// `QUICK=1`: the ratios of issue #14 without the Python peers.
    const QUICK: [Self; 4] = [Self::Copy, Self::Tap, Self::TapToCsv, Self::Sling];

    const fn label(self) -> &'static str {
        match self {
            Self::Copy => "COPY (FORMAT binary) via psql",
            Self::Tap => "tap-postgres, catalog FULL_TABLE",
            Self::Manifest => "tap-postgres, manifest --load-type full",
            Self::PwTap => "pipelinewise-tap-postgres 2.1.0",
            Self::MlTap => "meltanolabs-tap-postgres 0.10.0",
            Self::TapToCsv => "tap-postgres \\| target-csv",
            Self::PwToPyCsv => "pipelinewise-tap-postgres \\| target-csv 0.3.0",
            Self::Sling => "Sling 1.4.11 postgres → CSV",
        }
    }

    const fn is_python(self) -> bool {
        matches!(self, Self::PwTap | Self::MlTap | Self::PwToPyCsv)
    }

    /// The contender of ours its time is compared with.
    const fn baseline(self) -> Self {
        match self {
            Self::TapToCsv | Self::PwToPyCsv | Self::Sling => Self::TapToCsv,
            _ => Self::Tap,
        }
    }

    /// What the ratio column means for this row.
    const fn ratio_note(self) -> &'static str {
        match self {
            Self::Copy => "tap-postgres s / COPY s",
            Self::Tap | Self::TapToCsv => "ours (baseline)",
            Self::Manifest => "manifest s / catalog s",
            Self::PwTap | Self::MlTap => "its s / tap-postgres s",
            Self::PwToPyCsv | Self::Sling => "its s / tap-postgres \\| target-csv s",
        }
    }
}

/// One timed run: wall seconds and each process's peak RSS in KiB.
#[derive(Debug)]
struct Sample {
    seconds: f64,
    rss_kib: Vec<(&'static str, u64)>,
    /// CPU seconds (user + system) per process, in the order of `rss_kib`.
    cpu: Vec<f64>,
}

/// Paths and settings every run needs.
struct Bench {
    rows: u64,
    dir: PathBuf,
    psql: PathBuf,
    host: String,
    port: u16,
    user: String,
    db: String,
    copy_sql: String,
    tap: PathBuf,
    target_csv: PathBuf,
    pw_tap: PathBuf,
    ml_tap: PathBuf,
    py_target_csv: PathBuf,
    sling: PathBuf,
}

fn main() {
    let started = Instant::now();
    let load_before = load_average();
    let rows = env_number("ROWS").unwrap_or(ROWS);
    let runs = env_number("RUNS").map_or(RUNS, |n| n as usize).max(1);
    let peer_runs = env_number("PEER_RUNS")
        .map_or(PEER_RUNS, |n| n as usize)
        .max(1);
    // QUICK=1: our pipe, COPY and Sling only (about a minute), no Python.
    let quick = std::env::var_os("QUICK").is_some_and(|v| !v.is_empty());
    let peer_tool = |var: &str| if quick { PathBuf::new() } else { tool(var) };
    let cluster = singer_testkit::postgres().expect("a throwaway PostgreSQL");
    let db = cluster.create_database("side_by_side").expect("database");
    let dir = std::env::temp_dir().join(format!("side-by-side-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("bench dir");

    let loading = Instant::now();
    let mut client = cluster.connect(&db).expect("connect");
    singer_testkit::bench::load_bench_table(&mut client, rows).expect("load the bench table");
    let columns: String = client
        .query_one(
            "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute \
             WHERE attrelid = 'public.issues'::regclass AND attnum > 0 AND NOT attisdropped",
            &[],
        )
        .and_then(|row| row.try_get(0))
        .expect("column list");
    drop(client);
    let load_seconds = loading.elapsed().as_secs_f64();

    let bench = Bench {
        rows,
        psql: cluster.bin_dir().join("psql"),
        host: cluster.host().to_owned(),
        port: cluster.port(),
        user: cluster.user().to_owned(),
        copy_sql: format!(
            "COPY (SELECT {columns} FROM public.issues ORDER BY id) TO STDOUT (FORMAT binary)"
        ),
        tap: tool("SIDE_BY_SIDE_TAP"),
        target_csv: tool("SIDE_BY_SIDE_TARGET_CSV"),
        pw_tap: peer_tool("SIDE_BY_SIDE_PW_TAP"),
        ml_tap: peer_tool("SIDE_BY_SIDE_ML_TAP"),
        py_target_csv: peer_tool("SIDE_BY_SIDE_PY_TARGET_CSV"),
        sling: tool("SIDE_BY_SIDE_SLING"),
        db,
        dir,
    };
    bench.write_configs(&columns);

    let contenders: &[Contender] = if quick {
        &Contender::QUICK
    } else {
        &Contender::ALL
    };
    let mut samples: Vec<(Contender, Vec<Sample>)> =
        contenders.iter().map(|&c| (c, Vec::new())).collect();
    for round in 0..runs.max(peer_runs) {
        for (contender, done) in &mut samples {
            let wanted = if contender.is_python() {
                peer_runs
            } else {
                runs
            };
            if round < wanted {
                let sample = bench.run(*contender);
                progress(*contender, round, &sample);
                done.push(sample);
            }
        }
    }

    let medians: Vec<(Contender, f64)> = samples
        .iter()
        .map(|(c, s)| (*c, median(s.iter().map(|s| s.seconds).collect())))
        .collect();
    let median_of = |wanted: Contender| {
        medians
            .iter()
            .find(|(c, _)| *c == wanted)
            .map_or(f64::NAN, |(_, m)| *m)
    };

    println!();
    println!(
        "Side by side on the {rows}-row `issues` table (fixtures/postgres/bench-issues.sql), \
         one throwaway PostgreSQL, 2-core machine."
    );
    println!(
        "Medians of {runs} runs (RUNS), the Python peers (pipelinewise, meltanolabs, \
         target-csv 0.3.0) of {peer_runs} (PEER_RUNS, default {PEER_RUNS}: one round of them \
         takes ~11 min at 1M rows, so 3 would take over 30); contenders take turns round by \
         round; peak RSS is the largest of the runs; every run was checked to move all {rows} \
         rows. Load average before / after: {load_before} / {}.",
        load_average()
    );
    println!();
    println!("| contender | runs | median s | rows/s | peak RSS MB | ratio | ratio is |");
    println!("|---|---:|---:|---:|---:|---:|---|");
    for (contender, done) in &samples {
        let seconds = median_of(*contender);
        let ratio = match contender {
            Contender::Copy => median_of(Contender::Tap) / seconds,
            _ => seconds / median_of(contender.baseline()),
        };
        println!(
            "| {} | {} | {seconds:.2} | {} | {} | {ratio:.2} | {} |",
            contender.label(),
            done.len(),
            thousands((rows as f64 / seconds).round() as u64),
            peak_rss(done),
            contender.ratio_note()
        );
    }
    print_goals(&samples, &median_of);
    println!();
    println!(
        "Table load {load_seconds:.0} s; whole bench {:.0} s.",
        started.elapsed().as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&bench.dir);
}

impl Bench {
    /// Config, catalog and manifest files for every contender, in `dir`.
    fn write_configs(&self, columns: &str) {
        let ours = json!({
            "host": self.host, "port": self.port, "user": self.user,
            "dbname": self.db, "sslmode": "disable"
        });
        write(&self.path("ours.json"), &ours.to_string());
        let pw = json!({
            "host": self.host, "port": self.port, "user": self.user, "password": "",
            "dbname": self.db, "filter_schemas": "public"
        });
        write(&self.path("pw.json"), &pw.to_string());
        let ml = json!({
            "host": self.host, "port": self.port, "user": self.user, "password": "",
            "database": self.db, "filter_schemas": ["public"]
        });
        write(&self.path("ml.json"), &ml.to_string());
        write(
            &self.path("csv.json"),
            &json!({ "destination_path": self.path("csv-out") }).to_string(),
        );
        write(
            &self.path("py-csv.json"),
            &json!({
                "destination_path": format!("{}/", self.path("py-csv-out").display()),
                "disable_collection": true
            })
            .to_string(),
        );
        write(
            &self.path("manifest.yaml"),
            &format!(
                "tables:\n  issues:\n    import_db: GITLAB_DB\n    export_schema: gitlab_com\n    \
                 export_table: issues\n    export_table_primary_key: id\n    \
                 import_query: SELECT {columns} FROM issues\n"
            ),
        );

        // Ours: select the stream, FULL_TABLE.
        let mut catalog = self.discover(&self.tap, "ours.json", &["--log-level", "warn"]);
        for stream in streams(&mut catalog) {
            stream["metadata"][0]["metadata"]["selected"] = true.into();
            stream["replication_method"] = "FULL_TABLE".into();
        }
        write(&self.path("ours-catalog.json"), &catalog.to_string());

        if self.pw_tap.as_os_str().is_empty() {
            // QUICK: no Python peers.
            return;
        }
        // pipelinewise: `selected` on the stream and on every column, and
        // `replication-method` in the stream's metadata.
        let mut catalog = self.discover(&self.pw_tap, "pw.json", &[]);
        for stream in streams(&mut catalog) {
            select_all(stream);
        }
        write(&self.path("pw-catalog.json"), &catalog.to_string());

        // meltanolabs (Meltano SDK): the same, plus the stream-level keys.
        let mut catalog = self.discover(&self.ml_tap, "ml.json", &[]);
        for stream in streams(&mut catalog) {
            select_all(stream);
            stream["selected"] = true.into();
            stream["replication_method"] = "FULL_TABLE".into();
        }
        write(&self.path("ml-catalog.json"), &catalog.to_string());
    }

    /// The catalog a tap discovers, with only the `public.issues` stream.
    fn discover(&self, tap: &Path, config: &str, extra: &[&str]) -> Value {
        let log = self.path(&format!("{config}.discover.log"));
        let output = Command::new(tap)
            .arg("--config")
            .arg(self.path(config))
            .arg("--discover")
            .args(extra)
            .stderr(File::create(&log).expect("log file"))
            .output()
            .expect("run --discover");
        check(
            output.status,
            &format!("{} --discover", tap.display()),
            &log,
        );
        let mut catalog: Value = serde_json::from_slice(&output.stdout).expect("catalog JSON");
        if let Some(streams) = catalog["streams"].as_array_mut() {
            streams.retain(|s| s["table_name"] == "issues");
            assert_eq!(streams.len(), 1, "{} found no issues stream", tap.display());
        }
        catalog
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn run(&self, contender: Contender) -> Sample {
        match contender {
            Contender::Copy => {
                let mut psql = self.timed(&self.psql, "copy.rss");
                psql.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", &self.host])
                    .args([
                        "-p",
                        &self.port.to_string(),
                        "-U",
                        &self.user,
                        "-d",
                        &self.db,
                    ])
                    .args(["-c", &self.copy_sql]);
                self.stdout_run(psql, "copy", count_copy_tuples)
            }
            Contender::Tap => {
                let mut tap = self.timed(&self.tap, "tap.rss");
                tap.arg("--config").arg(self.path("ours.json"));
                tap.arg("--catalog").arg(self.path("ours-catalog.json"));
                tap.args(["--log-level", "warn"]);
                self.stdout_run(tap, "tap", count_records)
            }
            Contender::Manifest => {
                let mut tap = self.timed(&self.tap, "manifest.rss");
                tap.arg("--config").arg(self.path("ours.json"));
                tap.arg("--manifest").arg(self.path("manifest.yaml"));
                tap.args(["--load-type", "full", "--log-level", "warn"]);
                self.stdout_run(tap, "manifest", count_records)
            }
            Contender::PwTap => {
                let tap = self.pw_command("pw.rss");
                self.stdout_run(tap, "pw", count_records)
            }
            Contender::MlTap => {
                let mut tap = self.timed(&self.ml_tap, "ml.rss");
                tap.arg("--config").arg(self.path("ml.json"));
                tap.arg("--catalog").arg(self.path("ml-catalog.json"));
                self.stdout_run(tap, "ml", count_records)
            }
            Contender::TapToCsv => {
                let mut tap = self.timed(&self.tap, "pipe-tap.rss");
                tap.arg("--config").arg(self.path("ours.json"));
                tap.arg("--catalog").arg(self.path("ours-catalog.json"));
                tap.args(["--log-level", "warn"]);
                let mut target = self.timed(&self.target_csv, "pipe-target.rss");
                target.arg("--config").arg(self.path("csv.json"));
                target.args(["--log-level", "warn"]);
                self.pipe_run(tap, None, target, "csv-out", "pipe")
            }
            Contender::PwToPyCsv => {
                let tap = self.pw_command("pw-pipe-tap.rss");
                let mut sed = Command::new("sed");
                sed.arg(r#"/^{"type": "SCHEMA"/s/, "multipleOf": [0-9.eE+-]*//g"#);
                let mut target = self.timed(&self.py_target_csv, "pw-pipe-target.rss");
                target.arg("--config").arg(self.path("py-csv.json"));
                self.pipe_run(tap, Some(sed), target, "py-csv-out", "pw-pipe")
            }
            Contender::Sling => self.sling_run(),
        }
    }

    fn pw_command(&self, rss: &str) -> Command {
        let mut tap = self.timed(&self.pw_tap, rss);
        tap.arg("--config").arg(self.path("pw.json"));
        tap.arg("--properties").arg(self.path("pw-catalog.json"));
        tap
    }

    /// `program` under `/usr/bin/time`, which writes its peak RSS in KiB to
    /// `rss` in the bench dir.
    fn timed(&self, program: &Path, rss: &str) -> Command {
        let mut command = Command::new("/usr/bin/time");
        command
            .args(["-f", "%M %U %S", "-o"])
            .arg(self.path(rss))
            .arg(program);
        command
    }

    /// Runs one process whose stdout the bench reads and counts.
    fn stdout_run(
        &self,
        mut command: Command,
        name: &'static str,
        count: fn(&mut dyn BufRead) -> std::io::Result<u64>,
    ) -> Sample {
        let log = self.path(&format!("{name}.log"));
        let started = Instant::now();
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(File::create(&log).expect("log file"))
            .spawn()
            .expect("spawn contender");
        let stdout = child.stdout.take().expect("piped stdout");
        let counted = count(&mut BufReader::with_capacity(READ_BUFFER, stdout));
        let status = child.wait().expect("wait for contender");
        let seconds = started.elapsed().as_secs_f64();
        check(status, name, &log);
        let counted = counted.expect("read the contender's stdout");
        assert_eq!(
            counted,
            self.rows,
            "{name} moved {counted} rows; see {}",
            log.display()
        );
        let (rss, cpu) = read_time(&self.path(&format!("{name}.rss")));
        Sample {
            seconds,
            rss_kib: vec![("", rss)],
            cpu: vec![cpu],
        }
    }

    /// Runs `tap | [filter |] target`, the target writing CSV into `out`.
    fn pipe_run(
        &self,
        mut tap: Command,
        filter: Option<Command>,
        mut target: Command,
        out: &str,
        name: &'static str,
    ) -> Sample {
        let out = self.path(out);
        let _ = std::fs::remove_dir_all(&out);
        std::fs::create_dir_all(&out).expect("CSV dir");
        let tap_log = self.path(&format!("{name}-tap.log"));
        let target_log = self.path(&format!("{name}-target.log"));
        let started = Instant::now();
        let mut tap_child = tap
            .stdout(Stdio::piped())
            .stderr(File::create(&tap_log).expect("log file"))
            .spawn()
            .expect("spawn tap");
        let mut tap_out: Stdio = tap_child.stdout.take().expect("piped stdout").into();
        let mut filter_child: Option<Child> = None;
        if let Some(mut filter) = filter {
            let mut child = filter
                .stdin(tap_out)
                .stdout(Stdio::piped())
                .spawn()
                .expect("spawn filter");
            tap_out = child.stdout.take().expect("piped stdout").into();
            filter_child = Some(child);
        }
        let mut target_child = target
            .stdin(tap_out)
            .stdout(Stdio::null())
            .stderr(File::create(&target_log).expect("log file"))
            .spawn()
            .expect("spawn target");
        let tap_status = tap_child.wait().expect("wait for tap");
        let filter_status = filter_child.map(|mut c| c.wait().expect("wait for filter"));
        let target_status = target_child.wait().expect("wait for target");
        let seconds = started.elapsed().as_secs_f64();
        check(tap_status, &format!("{name} tap"), &tap_log);
        if let Some(status) = filter_status {
            check(status, &format!("{name} filter"), &tap_log);
        }
        check(target_status, &format!("{name} target"), &target_log);
        let rows = csv_rows(&out);
        assert_eq!(
            rows,
            self.rows,
            "{name} wrote {rows} CSV rows; see {}",
            target_log.display()
        );
        let _ = std::fs::remove_dir_all(&out);
        let (tap_rss, tap_cpu) = read_time(&self.path(&format!("{name}-tap.rss")));
        let (target_rss, target_cpu) = read_time(&self.path(&format!("{name}-target.rss")));
        Sample {
            seconds,
            rss_kib: vec![("tap", tap_rss), ("target", target_rss)],
            cpu: vec![tap_cpu, target_cpu],
        }
    }

    /// `sling run` from `public.issues` to one CSV file, telemetry off, its
    /// home (env.yaml, its run database) in the bench dir.
    fn sling_run(&self) -> Sample {
        let out = self.path("sling-out");
        let _ = std::fs::remove_dir_all(&out);
        std::fs::create_dir_all(&out).expect("CSV dir");
        let home = self.path("sling-home");
        std::fs::create_dir_all(&home).expect("sling home");
        let log = self.path("sling.log");
        let url = format!(
            "postgresql://{}@{}:{}/{}?sslmode=disable",
            self.user, self.host, self.port, self.db
        );
        let log_file = File::create(&log).expect("log file");
        let mut sling = self.timed(&self.sling, "sling.rss");
        sling
            .args(["run", "--src-conn", SLING_CONNECTION])
            .args(["--src-stream", "public.issues", "--tgt-object"])
            .arg(format!("file://{}/issues.csv", out.display()))
            .env(SLING_CONNECTION, url)
            .env("SLING_HOME_DIR", &home)
            .env("SLING_DISABLE_TELEMETRY", "true")
            .stdout(log_file.try_clone().expect("log file"))
            .stderr(log_file);
        let started = Instant::now();
        let status = sling.status().expect("spawn sling");
        let seconds = started.elapsed().as_secs_f64();
        check(status, "sling", &log);
        let rows = csv_rows(&out);
        assert_eq!(
            rows,
            self.rows,
            "sling wrote {rows} CSV rows; see {}",
            log.display()
        );
        let _ = std::fs::remove_dir_all(&out);
        let (rss, cpu) = read_time(&self.path("sling.rss"));
        Sample {
            seconds,
            rss_kib: vec![("", rss)],
            cpu: vec![cpu],
        }
    }
}

/// The required path in environment variable `var`.
fn tool(var: &str) -> PathBuf {
    let path = PathBuf::from(std::env::var_os(var).unwrap_or_default());
    assert!(
        path.is_file(),
        "{var} must name an executable (found {:?}); run benches/side-by-side.sh, which sets it",
        path.display()
    );
    path
}

fn env_number(var: &str) -> Option<u64> {
    std::env::var(var).ok().and_then(|v| v.parse().ok())
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write bench file");
}

fn streams(catalog: &mut Value) -> impl Iterator<Item = &mut Value> {
    catalog["streams"]
        .as_array_mut()
        .expect("catalog streams")
        .iter_mut()
}

/// `selected: true` on every metadata entry, `replication-method:
/// FULL_TABLE` on the stream's.
fn select_all(stream: &mut Value) {
    for entry in stream["metadata"].as_array_mut().expect("metadata") {
        entry["metadata"]["selected"] = true.into();
        if entry["breadcrumb"].as_array().is_some_and(Vec::is_empty) {
            entry["metadata"]["replication-method"] = "FULL_TABLE".into();
        }
    }
}

/// Fails with the end of `log` unless `status` is success.
fn check(status: ExitStatus, what: &str, log: &Path) {
    if !status.success() {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines
            .get(lines.len().saturating_sub(20)..)
            .unwrap_or_default();
        assert!(
            status.success(),
            "{what} failed ({status}); end of {}:\n{}",
            log.display(),
            tail.join("\n")
        );
    }
}

/// The peak RSS in KiB and the CPU seconds (user + system) that
/// `/usr/bin/time -f "%M %U %S" -o FILE` wrote.
fn read_time(file: &Path) -> (u64, f64) {
    let text = std::fs::read_to_string(file).expect("/usr/bin/time's output");
    let fields: Vec<&str> = text
        .lines()
        .last()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let number = |i: usize| -> f64 { fields[i].parse().expect("a /usr/bin/time field") };
    (number(0) as u64, number(1) + number(2))
}

/// RECORD messages in a Singer stream. Both spellings the taps use count:
/// compact (`{"type":"RECORD"`, ours and the Meltano SDK) and singer-python's
/// (`{"type": "RECORD"`).
fn count_records(input: &mut dyn BufRead) -> std::io::Result<u64> {
    let mut line = Vec::with_capacity(4096);
    let mut records = 0;
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            return Ok(records);
        }
        if line.starts_with(br#"{"type":"RECORD""#) || line.starts_with(br#"{"type": "RECORD""#) {
            records += 1;
        }
    }
}

/// Tuples in a `COPY ... (FORMAT binary)` stream: the 11-byte signature,
/// flags and header extension, then per tuple a 16-bit field count (-1 ends
/// the data) and per field a 32-bit length (-1 for NULL) and the bytes.
fn count_copy_tuples(input: &mut dyn BufRead) -> std::io::Result<u64> {
    let mut header = [0; 19];
    input.read_exact(&mut header)?;
    let (signature, rest) = header.split_at(11);
    if signature != b"PGCOPY\n\xff\r\n\0" {
        return Err(std::io::Error::other("not a binary COPY stream"));
    }
    let extension = rest
        .get(4..8)
        .map_or(0, |b| u32::from_be_bytes(b.try_into().unwrap_or_default()));
    skip(input, u64::from(extension))?;
    let mut tuples = 0;
    loop {
        let mut count = [0; 2];
        input.read_exact(&mut count)?;
        let fields = i16::from_be_bytes(count);
        if fields < 0 {
            return Ok(tuples);
        }
        for _ in 0..fields {
            let mut length = [0; 4];
            input.read_exact(&mut length)?;
            let length = i32::from_be_bytes(length);
            if length > 0 {
                skip(input, length as u64)?;
            }
        }
        tuples += 1;
    }
}

fn skip(input: &mut dyn BufRead, mut bytes: u64) -> std::io::Result<()> {
    while bytes > 0 {
        let available = input.fill_buf()?.len();
        if available == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let step = available.min(usize::try_from(bytes).unwrap_or(usize::MAX));
        input.consume(step);
        bytes -= step as u64;
    }
    Ok(())
}

/// Data rows in the `.csv` files of `dir`: lines less one header per file
/// (the bench table has no newline in any value).
fn csv_rows(dir: &Path) -> u64 {
    let mut rows = 0;
    for entry in std::fs::read_dir(dir).expect("CSV dir") {
        let path = entry.expect("CSV dir entry").path();
        if path.extension().is_some_and(|e| e == "csv") {
            let mut file = BufReader::with_capacity(READ_BUFFER, File::open(&path).expect("CSV"));
            let mut lines = 0_u64;
            loop {
                let buf = file.fill_buf().expect("read CSV");
                if buf.is_empty() {
                    break;
                }
                lines += buf.iter().filter(|&&b| b == b'\n').count() as u64;
                let len = buf.len();
                file.consume(len);
            }
            rows += lines.saturating_sub(1);
        }
    }
    rows
}

/// The 1-minute load average, to show how busy the machine was.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The pipe's ratios against its limits (issue #14's goals), from the
/// medians of this run: pipe wall / COPY wall (goal <= 1.6), target-csv CPU
/// / tap-postgres CPU inside the pipe (goal <= 1.2), Sling / our pipe
/// (goal >= 6).
fn print_goals(samples: &[(Contender, Vec<Sample>)], median_of: &dyn Fn(Contender) -> f64) {
    let Some((_, pipe)) = samples.iter().find(|(c, _)| *c == Contender::TapToCsv) else {
        return;
    };
    let cpu = |side: usize| {
        median(
            pipe.iter()
                .filter_map(|s| s.cpu.get(side).copied())
                .collect(),
        )
    };
    let (tap_cpu, target_cpu) = (cpu(0), cpu(1));
    let pipe_wall = median_of(Contender::TapToCsv);
    println!();
    println!("| ratio | this run | goal |");
    println!("|---|---:|---:|");
    println!(
        "| pipe wall / COPY binary wall | {:.2} | <= 1.6 |",
        pipe_wall / median_of(Contender::Copy)
    );
    println!(
        "| target-csv CPU / tap-postgres CPU in the pipe ({target_cpu:.2} s / {tap_cpu:.2} s) | {:.2} | <= 1.2 |",
        target_cpu / tap_cpu
    );
    if samples.iter().any(|(c, _)| *c == Contender::Sling) {
        println!(
            "| Sling wall / our pipe wall | {:.2} | >= 6 |",
            median_of(Contender::Sling) / pipe_wall
        );
    }
}

/// "6.8" for one process, "tap 6.8 + target 41.7" for a pipe; the largest
/// over the runs.
fn peak_rss(samples: &[Sample]) -> String {
    let Some(first) = samples.first() else {
        return String::new();
    };
    let mut out = String::new();
    for (i, (side, _)) in first.rss_kib.iter().enumerate() {
        let kib = samples
            .iter()
            .filter_map(|s| s.rss_kib.get(i).map(|(_, k)| *k))
            .max()
            .unwrap_or(0);
        if !out.is_empty() {
            out.push_str(" + ");
        }
        if !side.is_empty() {
            let _ = write!(out, "{side} ");
        }
        let _ = write!(out, "{:.1}", kib as f64 / 1024.0);
    }
    out
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// One line per run on stderr, so a long run shows where it is.
fn progress(contender: Contender, round: usize, sample: &Sample) {
    let rss: Vec<String> = sample
        .rss_kib
        .iter()
        .map(|(side, kib)| {
            let space = if side.is_empty() { "" } else { " " };
            format!("{side}{space}{:.1} MB", *kib as f64 / 1024.0)
        })
        .collect();
    eprintln!(
        "[side-by-side] run {} of {}: {:.2} s, peak RSS {}",
        round + 1,
        contender.label().replace("\\|", "|"),
        sample.seconds,
        rss.join(" + ")
    );
}
