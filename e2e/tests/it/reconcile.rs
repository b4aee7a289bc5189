//! `singer-reconcile` end to end: tap-postgres loads the two crash tables
//! (a FULL_TABLE stream and an INCREMENTAL one) into target-csv (several
//! file parts, two table versions) and into target-snowflake (the double);
//! reconcile then finds them equal (exit 0), and finds a row removed or
//! duplicated at the destination with its stream and key range (exit 1).

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};
use singer_e2e::crash::{INCREMENTAL_TABLE, SNOWFLAKE_SCHEMA};

use crate::pipe::{Pipe, write};

const ROWS: u64 = 3_000;

struct Setup {
    pipe: Pipe,
}

impl std::ops::Deref for Setup {
    type Target = Pipe;

    fn deref(&self) -> &Pipe {
        &self.pipe
    }
}

impl std::ops::DerefMut for Setup {
    fn deref_mut(&mut self) -> &mut Pipe {
        &mut self.pipe
    }
}

impl Setup {
    fn new(name: &str) -> Self {
        Self {
            pipe: Pipe::new(name, ROWS, &json!({})),
        }
    }
}

/// The stream's CSV files under `out`.
fn csv_files(out: &Path, stream: &str) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(out)
        .expect("out")
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(stream) && n.ends_with(".csv"))
        })
        .collect()
}

/// PostgreSQL's `md5(text)`, as the crash tables' payloads are.
fn md5_hex(text: &str) -> String {
    let output = Command::new("md5sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write as _;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(text.as_bytes())?;
            child.wait_with_output()
        })
        .expect("md5sum");
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .next()
        .expect("digest")
        .to_owned()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The line of `stream` in the text table.
fn line<'a>(table: &'a str, stream: &str) -> &'a str {
    table
        .lines()
        .find(|l| l.starts_with(stream))
        .unwrap_or_else(|| panic!("{stream} not in:\n{table}"))
}

#[test]
fn reconcile_finds_a_csv_destination_equal_then_a_removed_and_a_duplicated_row() {
    let mut setup = Setup::new("reconcile_csv");
    let out = setup.dir.join("csv");
    let config = setup.dir.join("target-csv.json");
    write(
        &config,
        &json!({"destination_path": out, "batch_size_rows": 700, "commit_interval_seconds": 0}),
    );
    setup.load("target-csv", &config);
    // A second run: the FULL_TABLE stream is a new version (the old files
    // go), the incremental one sends its boundary rows again.
    setup.load("target-csv", &config);
    let incremental_parts = std::fs::read_dir(&out)
        .expect("out")
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("public-crash_incr")
        })
        .count();
    assert!(
        incremental_parts >= 2,
        "several file parts ({incremental_parts})"
    );
    // Rows added after the load are past the bookmark: not missing.
    setup
        .client
        .batch_execute(&format!(
            "INSERT INTO {INCREMENTAL_TABLE} VALUES (999999, timestamptz '2099-01-01', 'late', NULL)"
        ))
        .expect("insert");

    let clean = setup.reconcile("csv", &config, &["--allow-duplicates"]);
    assert_eq!(clean.status.code(), Some(0), "{}", text(&clean));
    let table = String::from_utf8_lossy(&clean.stdout).into_owned();
    assert!(
        line(&table, "public-crash_full").contains(&format!("{ROWS}")),
        "{table}"
    );
    // The incremental stream's boundary rows were sent twice (`>=` the
    // bookmark): duplicates, a difference unless allowed.
    let strict = setup.reconcile("csv", &config, &[]);
    assert_eq!(strict.status.code(), Some(1), "{}", text(&strict));
    assert!(
        line(
            &String::from_utf8_lossy(&strict.stdout),
            "public-crash_incr"
        )
        .contains("duplicates")
    );

    // Checksums of the values agree (NULLs, quotes, commas, timestamps),
    // one row per key; a changed value is found with its range.
    let checksum = [
        "--allow-duplicates",
        "--checksum",
        "payload,note",
        "--checksum",
        "updated_at",
    ];
    let agree = setup.reconcile("csv", &config, &checksum);
    assert_eq!(agree.status.code(), Some(0), "{}", text(&agree));
    let mut changed = false;
    for path in csv_files(&out, "public-crash_full") {
        let content = std::fs::read_to_string(&path).expect("csv");
        if content.lines().any(|l| l.starts_with("1700,")) {
            let edited: Vec<String> = content
                .lines()
                .map(|l| {
                    if l.starts_with("1700,") {
                        l.replace(&md5_hex("1700"), &md5_hex("other"))
                    } else {
                        l.to_owned()
                    }
                })
                .collect();
            std::fs::write(&path, edited.join("\n") + "\n").expect("rewrite");
            changed = true;
        }
    }
    assert!(changed, "row 1700 found in the CSV files");
    let differs = setup.reconcile("csv", &config, &checksum);
    assert_eq!(differs.status.code(), Some(1), "{}", text(&differs));
    let full_line = line(
        &String::from_utf8_lossy(&differs.stdout),
        "public-crash_full",
    )
    .to_owned();
    assert!(full_line.contains("checksum differs"), "{full_line}");
    assert!(full_line.contains("id 1501..=1800"), "{full_line}");
    // Counts alone still match.
    let counts_only = setup.reconcile("csv", &config, &["--allow-duplicates"]);
    assert_eq!(counts_only.status.code(), Some(0), "{}", text(&counts_only));
    // A column no stream has, or of a type a checksum cannot compare, is a
    // usage error.
    let unknown = setup.reconcile("csv", &config, &["--checksum", "nosuch"]);
    assert_eq!(unknown.status.code(), Some(2), "{}", text(&unknown));

    // Remove the row with id 1500 from the FULL_TABLE files.
    let mut removed = false;
    for entry in std::fs::read_dir(&out).expect("out").flatten() {
        let path = entry.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        if name.starts_with("public-crash_full") && name.ends_with(".csv") {
            let content = std::fs::read_to_string(&path).expect("csv");
            let kept: Vec<&str> = content
                .lines()
                .filter(|l| !l.starts_with("1500,"))
                .collect();
            if kept.len() != content.lines().count() {
                std::fs::write(&path, kept.join("\n") + "\n").expect("rewrite");
                removed = true;
            }
        }
    }
    assert!(removed, "row 1500 found in the CSV files");
    let missing = setup.reconcile("csv", &config, &["--allow-duplicates", "--format", "json"]);
    assert_eq!(missing.status.code(), Some(1), "{}", text(&missing));
    let reports: Value = serde_json::from_slice(&missing.stdout).expect("json");
    let full = reports
        .as_array()
        .expect("reports")
        .iter()
        .find(|r| r["stream"] == "public-crash_full")
        .expect("full stream");
    assert_eq!(full["difference"], -1);
    assert_eq!(full["matches"], false);
    let range = &full["first_difference"]["range"];
    let (lo, hi) = (
        range[0].as_i64().expect("lo"),
        range[1].as_i64().expect("hi"),
    );
    assert!(lo <= 1500 && 1500 <= hi, "the range holds id 1500: {full}");
    assert_eq!(
        reports
            .as_array()
            .expect("reports")
            .iter()
            .find(|r| r["stream"] == "public-crash_incr")
            .expect("incr")["matches"],
        true
    );
    let _ = std::fs::remove_dir_all(&setup.dir);
}

#[test]
fn reconcile_counts_in_snowflake_and_reports_a_deleted_and_a_duplicated_row() {
    let setup = Setup::new("reconcile_sf");
    let double = singer_testkit::snowflake_double()
        .expect("the Snowflake double (fakesnow) must start; run scripts/setup");
    let config_value = json!({
        "account": "testaccount",
        "user": "tester",
        "password": "not-checked-by-the-double",
        "database": "RECONCILEDB",
        "default_target_schema": SNOWFLAKE_SCHEMA,
        "endpoint": double.url(),
        "session_parameters": {"FAKESNOW_DB_PATH": double.isolated_database("reconcile")},
        "load_method": "upsert",
        "add_record_metadata": true,
    });
    let config = setup.dir.join("target-snowflake.json");
    write(&config, &config_value);
    setup.load("target-snowflake", &config);

    let clean = setup.reconcile("snowflake", &config, &[]);
    assert_eq!(clean.status.code(), Some(0), "{}", text(&clean));
    let table = String::from_utf8_lossy(&clean.stdout).into_owned();
    assert!(
        line(&table, "public-crash_full").contains(&format!("{ROWS}")),
        "{table}"
    );

    let sf_config: singer_target_snowflake::SnowflakeConfig =
        serde_json::from_value(config_value).expect("config");
    let mut loader = singer_target_snowflake::SnowflakeLoader::new(&sf_config).expect("loader");
    let full = format!("\"{SNOWFLAKE_SCHEMA}\".\"CRASH_FULL\"");
    let checksum = ["--checksum", "payload,note,updated_at"];
    let agree = setup.reconcile("snowflake", &config, &checksum);
    assert_eq!(agree.status.code(), Some(0), "{}", text(&agree));
    loader
        .query_text(&format!(
            "UPDATE {full} SET \"NOTE\" = 'edited' WHERE \"ID\" = 2600"
        ))
        .expect("update");
    let edited = setup.reconcile("snowflake", &config, &checksum);
    assert_eq!(edited.status.code(), Some(1), "{}", text(&edited));
    let edited_line = line(
        &String::from_utf8_lossy(&edited.stdout),
        "public-crash_full",
    )
    .to_owned();
    assert!(edited_line.contains("id 2401..=2700"), "{edited_line}");
    assert!(edited_line.contains("checksum differs"), "{edited_line}");
    loader
        .query_text(&format!("DELETE FROM {full} WHERE \"ID\" = 2222"))
        .expect("delete");
    loader
        .query_text(&format!(
            "INSERT INTO {full} SELECT * FROM {full} WHERE \"ID\" = 10"
        ))
        .expect("duplicate");
    let differs = setup.reconcile("snowflake", &config, &[]);
    assert_eq!(differs.status.code(), Some(1), "{}", text(&differs));
    let table = String::from_utf8_lossy(&differs.stdout).into_owned();
    let full_line = line(&table, "public-crash_full");
    // Row 10's range comes first: its duplicate is the first difference.
    assert!(full_line.contains("id 1..="), "{full_line}");
    assert!(full_line.contains("+1 duplicates"), "{full_line}");
    assert!(full_line.contains("  -1  "), "one key missing: {full_line}");
    let _ = std::fs::remove_dir_all(&setup.dir);
}
