//! Python peers in the same pipes as our binaries:
//!
//! - `pipelinewise-tap-postgres` and `meltanolabs-tap-postgres` (each in a
//!   venv of its own, installed from PyPI by `scripts/py-venv`) sync the
//!   mixed-type table of `fixtures/peers/mixed.sql` (maximum values, edge
//!   values, all NULL); their output goes into our `target-csv` and our
//!   `target-snowflake` (the double). Each destination must hold exactly
//!   what the peer emitted, value for value, with the column type its JSON
//!   schema asks for; the ids must be the source's. meltanolabs declares
//!   `numeric` as a plain `number` (FLOAT): its 38- and 50-digit values
//!   fail the load by default (named, no STATE) and load as NULL with
//!   `special_values: null`, never rounded.
//! - Our `tap-postgres` feeds `meltanolabs-target-postgres`, which loads a
//!   second PostgreSQL database; every column of every row must match the
//!   source, compared in SQL through a canonical text per column type.
//!
//! Where a peer itself changes a value (pipelinewise renders `date` as a
//! timestamp, `timetz` in UTC without its offset and leaves out `interval`
//! and `bytea`; meltanolabs renders `interval` as a timestamp;
//! meltanolabs-target-postgres keeps `timetz` as `time` without the offset
//! and a NULL json as JSON `null`), the comparison is against what the peer
//! emitted or stored, and the quirk is named in the check.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Map, Value, json};
use singer_target_snowflake::{SnowflakeConfig, SnowflakeLoader};

const MIXED_SQL: &str = include_str!("../../../fixtures/peers/mixed.sql");
const STREAM: &str = "public-mixed";
const SOURCE_IDS: [i64; 3] = [1, 2, 3];

/// A database of the throwaway cluster holding `mixed`.
struct Source {
    cluster: &'static singer_testkit::Cluster,
    db: String,
}

impl Source {
    fn new(prefix: &str) -> Self {
        let cluster = singer_testkit::postgres().expect("throwaway PostgreSQL");
        let db = cluster.create_database(prefix).unwrap();
        cluster
            .connect(&db)
            .unwrap()
            .batch_execute(MIXED_SQL)
            .unwrap();
        Self { cluster, db }
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("e2e-peers-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write_json(path: &Path, value: &Value) -> PathBuf {
    std::fs::write(path, value.to_string()).unwrap();
    path.to_owned()
}

/// Runs `command` with stdin from `input` (if any), stdout to `stdout`;
/// fails the test with its stderr unless it succeeded.
fn run(command: &mut Command, input: Option<&Path>, stdout: &Path, what: &str) {
    let stderr = stdout.with_extension("log");
    command
        .stdin(input.map_or_else(Stdio::null, |p| std::fs::File::open(p).unwrap().into()))
        .stdout(std::fs::File::create(stdout).unwrap())
        .stderr(std::fs::File::create(&stderr).unwrap());
    let status = command.status().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        status.success(),
        "{what} failed ({status}):\n{}",
        std::fs::read_to_string(&stderr).unwrap_or_default()
    );
}

/// Selects every stream and column of a discovered catalog, FULL_TABLE, in
/// both the metadata and Meltano's top-level spelling.
fn select_all(catalog: &Path) -> Value {
    let mut catalog: Value = serde_json::from_slice(&std::fs::read(catalog).unwrap()).unwrap();
    for stream in catalog["streams"].as_array_mut().unwrap() {
        stream["replication_method"] = json!("FULL_TABLE");
        for entry in stream["metadata"].as_array_mut().unwrap() {
            entry["metadata"]["selected"] = json!(true);
            if entry["breadcrumb"].as_array().is_some_and(Vec::is_empty) {
                entry["metadata"]["replication-method"] = json!("FULL_TABLE");
            }
        }
    }
    catalog
}

/// Which peer tap, its venv name, config and catalog flag.
#[derive(Clone, Copy)]
enum PeerTap {
    Pipelinewise,
    Meltanolabs,
}

impl PeerTap {
    const fn venv(self) -> &'static str {
        match self {
            Self::Pipelinewise => "pw-tap",
            Self::Meltanolabs => "ml-tap",
        }
    }

    fn config(self, source: &Source) -> Value {
        let c = source.cluster;
        // The cluster trusts local connections; the password is not checked.
        match self {
            Self::Pipelinewise => json!({
                "host": c.host(), "port": c.port(), "user": c.user(), "password": "x",
                "dbname": source.db, "filter_schemas": "public"
            }),
            Self::Meltanolabs => json!({
                "host": c.host(), "port": c.port(), "user": c.user(), "password": "x",
                "database": source.db, "filter_schemas": ["public"]
            }),
        }
    }

    const fn catalog_flag(self) -> &'static str {
        match self {
            Self::Pipelinewise => "--properties",
            Self::Meltanolabs => "--catalog",
        }
    }

    /// Discovers, selects everything FULL_TABLE and syncs; returns the file
    /// holding the tap's Singer output.
    fn sync(self, source: &Source, dir: &Path) -> PathBuf {
        let tap = crate::venv::install(self.venv()).join("bin/tap-postgres");
        let config = write_json(&dir.join("tap-config.json"), &self.config(source));
        let discovered = dir.join("catalog.json");
        run(
            Command::new(&tap)
                .arg("--config")
                .arg(&config)
                .arg("--discover"),
            None,
            &discovered,
            &format!("{} --discover", self.venv()),
        );
        let selected = write_json(&dir.join("selected.json"), &select_all(&discovered));
        let output = dir.join("tap-output.jsonl");
        run(
            Command::new(&tap)
                .arg("--config")
                .arg(&config)
                .arg(self.catalog_flag())
                .arg(&selected),
            None,
            &output,
            &format!("{} sync", self.venv()),
        );
        output
    }
}

/// The SCHEMA properties (in order) and RECORDs of [`STREAM`] in a Singer
/// output file.
struct Emitted {
    properties: Vec<(String, Value)>,
    records: Vec<Map<String, Value>>,
}

impl Emitted {
    fn read(path: &Path) -> Self {
        let mut properties = Vec::new();
        let mut records = Vec::new();
        for line in std::fs::read_to_string(path).unwrap().lines() {
            let message: Value = serde_json::from_str(line).unwrap();
            if message["stream"] != STREAM {
                continue;
            }
            match message["type"].as_str() {
                Some("SCHEMA") => {
                    properties = message["schema"]["properties"]
                        .as_object()
                        .unwrap()
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                }
                Some("RECORD") => records.push(message["record"].as_object().unwrap().clone()),
                _ => {}
            }
        }
        assert!(
            !properties.is_empty(),
            "no SCHEMA for {STREAM} in {}",
            path.display()
        );
        let ids: Vec<i64> = records.iter().map(|r| r["id"].as_i64().unwrap()).collect();
        assert_eq!(
            ids, SOURCE_IDS,
            "the peer emitted other rows than the source's"
        );
        Self {
            properties,
            records,
        }
    }
}

const CSV_NULL: &str = "\\N";

/// What target-csv must write for an emitted value: strings verbatim,
/// numbers as their exact JSON text, nested values as JSON, NULL as the
/// configured token.
fn csv_matches(value: &Value, cell: &str) -> bool {
    match value {
        Value::Null => cell == CSV_NULL,
        Value::String(s) => cell == s,
        Value::Bool(b) => cell == b.to_string(),
        // Exact digits; serde_json spells the exponent `e` where the input
        // (kept verbatim by the target) may say `E`.
        Value::Number(n) => canonical_decimal(cell) == canonical_decimal(&n.to_string()),
        Value::Array(_) | Value::Object(_) => {
            serde_json::from_str::<Value>(cell).is_ok_and(|parsed| &parsed == value)
        }
    }
}

fn check_target_csv(emitted: &Emitted, input: &Path, dir: &Path) {
    let out = dir.join("csv");
    let config = write_json(
        &dir.join("target-csv.json"),
        &json!({"destination_path": out, "null_value": CSV_NULL}),
    );
    let target = singer_e2e::binaries::binary("target-csv").unwrap();
    run(
        Command::new(target).arg("--config").arg(&config),
        Some(input),
        &dir.join("target-csv.state"),
        "target-csv",
    );
    let files: Vec<PathBuf> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "csv"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let mut reader = csv::Reader::from_path(&files[0]).unwrap();
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let names: Vec<&String> = emitted.properties.iter().map(|(name, _)| name).collect();
    assert_eq!(
        header.iter().collect::<Vec<_>>(),
        names,
        "header in schema order"
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), emitted.records.len());
    for (record, row) in emitted.records.iter().zip(&rows) {
        for (name, cell) in header.iter().zip(row.iter()) {
            let value = record.get(name).unwrap_or(&Value::Null);
            assert!(
                csv_matches(value, cell),
                "target-csv wrote {cell:?} for {name} = {value} (id {})",
                record["id"]
            );
        }
    }
}

/// A decimal's canonical text (sign, significant digits, exponent), so
/// `1.50`, `15E-1` and `1.5` compare equal without going through floats.
fn canonical_decimal(text: &str) -> Option<String> {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => (&unsigned[..at], unsigned[at + 1..].parse::<i64>().ok()?),
        None => (unsigned, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty() && frac.is_empty()
        || !(int.chars().chain(frac.chars())).all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let digits = format!("{int}{frac}");
    let exponent = exponent - i64::try_from(frac.len()).ok()?;
    let trimmed = digits.trim_start_matches('0');
    if trimmed.is_empty() {
        return Some("0".to_owned());
    }
    let significant = trimmed.trim_end_matches('0');
    let exponent = exponent + i64::try_from(trimmed.len() - significant.len()).ok()?;
    Some(format!(
        "{}{significant}e{exponent}",
        if negative { "-" } else { "" }
    ))
}

/// An instant from RFC 3339 or Snowflake's `YYYY-MM-DD HH:MM:SS[.f][+zz:zz]`
/// (no zone: UTC), as UTC.
fn instant(text: &str) -> Option<chrono::NaiveDateTime> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(t.naive_utc());
    }
    if let Ok(t) = chrono::DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%:z") {
        return Some(t.naive_utc());
    }
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").ok()
}

/// A time of day in UTC from `HH:MM:SS[.f]` or RFC 3339's full-time with
/// an offset (Snowflake's TIME has no zone: target-snowflake stores UTC).
fn utc_time(text: &str) -> Option<chrono::NaiveTime> {
    chrono::NaiveTime::parse_from_str(text, "%H:%M:%S%.f")
        .ok()
        .or_else(|| {
            chrono::DateTime::parse_from_rfc3339(&format!("2000-01-01T{text}"))
                .ok()
                .map(|t| t.naive_utc().time())
        })
}

/// Whether a Snowflake cell (as text) of column type `data_type` holds the
/// emitted value.
fn snowflake_matches(value: &Value, cell: Option<&str>, data_type: &str) -> bool {
    let Some(cell) = cell else {
        return value.is_null();
    };
    match (value, data_type) {
        (Value::Null, _) => false,
        (Value::Bool(b), "BOOLEAN") => cell == b.to_string(),
        (Value::Number(n), "FLOAT") => {
            cell.parse::<f64>().ok() == n.to_string().parse::<f64>().ok()
        }
        (Value::Number(n), "NUMBER") => {
            canonical_decimal(cell) == canonical_decimal(&n.to_string())
        }
        (Value::String(s), "NUMBER") => canonical_decimal(cell) == canonical_decimal(s),
        (Value::Number(n), "TEXT") => canonical_decimal(cell) == canonical_decimal(&n.to_string()),
        (Value::String(s), "TIMESTAMP_NTZ" | "TIMESTAMP_TZ") => {
            instant(cell).is_some() && instant(cell) == instant(s)
        }
        (Value::String(s), "TIME") => utc_time(cell).is_some() && utc_time(cell) == utc_time(s),
        (Value::String(s), "DATE" | "TEXT") => cell == s,
        (_, "VARIANT") => serde_json::from_str::<Value>(cell).is_ok_and(|v| &v == value),
        _ => false,
    }
}

/// Query results as text, NULL as `None`.
type Rows = Vec<Vec<Option<String>>>;

/// Loads `input` with target-snowflake (upsert) into an isolated database of
/// the double and returns the table's columns (name, type) and rows by id.
fn load_target_snowflake(
    input: &Path,
    dir: &Path,
    unrepresentable: &[(i64, &str)],
) -> (Vec<(String, String)>, Rows) {
    let double = singer_testkit::snowflake_double()
        .expect("the Snowflake double (fakesnow) must start; run scripts/setup");
    let mut config = json!({
        "account": "testaccount",
        "user": "tester",
        "password": "not-checked-by-the-double",
        "database": "PEERS",
        "default_target_schema": "LANDING",
        "endpoint": double.url(),
        "session_parameters": {"FAKESNOW_DB_PATH": double.isolated_database("peers")},
        "load_method": "upsert",
    });
    let target = singer_e2e::binaries::binary("target-snowflake").unwrap();
    if let Some((_, column)) = unrepresentable.first() {
        // By default a value the column type cannot hold fails the load,
        // naming the column; nothing is rounded silently.
        let config_path = write_json(&dir.join("target-snowflake-default.json"), &config);
        let output = Command::new(&target)
            .arg("--config")
            .arg(&config_path)
            .stdin(std::fs::File::open(input).unwrap())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(output.stdout.is_empty(), "no STATE after a failed load");
        assert!(
            stderr.contains(&format!("column \"{}\"", column.to_ascii_lowercase()))
                && stderr.contains("more significant digits than FLOAT (a double) holds"),
            "{stderr}"
        );
        // The documented way through: such values load as NULL, counted
        // and logged.
        config["special_values"] = json!("null");
    }
    let config_path = write_json(&dir.join("target-snowflake.json"), &config);
    run(
        Command::new(target).arg("--config").arg(&config_path),
        Some(input),
        &dir.join("target-snowflake.state"),
        "target-snowflake",
    );
    if !unrepresentable.is_empty() {
        let log = std::fs::read_to_string(dir.join("target-snowflake.log")).unwrap();
        assert!(
            log.contains("Value no Snowflake type holds; loaded as NULL."),
            "{log}"
        );
    }
    let config: SnowflakeConfig = serde_json::from_value(config).unwrap();
    let mut loader = SnowflakeLoader::new(&config).unwrap();
    let columns = loader
        .query_text(
            "SELECT column_name, data_type FROM information_schema.columns \
             WHERE table_schema = 'LANDING' AND table_name = 'MIXED' ORDER BY ordinal_position",
        )
        .unwrap()
        .into_iter()
        .map(|row| (row[0].clone().unwrap(), row[1].clone().unwrap()))
        .collect();
    let rows = loader
        .query_text(r#"SELECT * FROM "LANDING"."MIXED" ORDER BY "ID""#)
        .unwrap();
    (columns, rows)
}

fn check_target_snowflake(
    emitted: &Emitted,
    input: &Path,
    dir: &Path,
    expected_types: &[(&str, &str)],
    unrepresentable: &[(i64, &str)],
) {
    let (columns, rows) = load_target_snowflake(input, dir, unrepresentable);
    let types: BTreeMap<&str, &str> = columns
        .iter()
        .map(|(name, data_type)| (name.as_str(), data_type.as_str()))
        .collect();
    let wanted: BTreeMap<String, &str> = emitted
        .properties
        .iter()
        .map(|(name, _)| name.to_ascii_uppercase())
        .zip(expected_types.iter().map(|(_, t)| *t))
        .collect();
    assert_eq!(
        expected_types
            .iter()
            .map(|(n, _)| n.to_ascii_uppercase())
            .collect::<Vec<_>>(),
        emitted
            .properties
            .iter()
            .map(|(n, _)| n.to_ascii_uppercase())
            .collect::<Vec<_>>(),
        "the expected types name every emitted property in order"
    );
    for (name, data_type) in &wanted {
        assert_eq!(
            types.get(name.as_str()).copied(),
            Some(*data_type),
            "column {name}: {columns:?}"
        );
    }
    assert_eq!(rows.len(), emitted.records.len());
    for (record, row) in emitted.records.iter().zip(&rows) {
        for ((name, data_type), cell) in columns.iter().zip(row) {
            if !wanted.contains_key(name) {
                assert!(
                    name.starts_with("_SDC_"),
                    "column {name} is not in the SCHEMA"
                );
                continue;
            }
            // pipelinewise leaves out the values of columns it cannot
            // render (`{}` in its SCHEMA): absent is NULL.
            let value = record
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map_or(&Value::Null, |(_, v)| v);
            let id = record["id"].as_i64().unwrap();
            if unrepresentable.contains(&(id, name.to_ascii_lowercase().as_str())) {
                assert_eq!(
                    *cell, None,
                    "{name} of id {id}: loaded as NULL by the policy"
                );
                continue;
            }
            assert!(
                snowflake_matches(value, cell.as_deref(), data_type),
                "target-snowflake holds {cell:?} in {name} ({data_type}) for {value} (id {})",
                record["id"]
            );
        }
    }
}

/// Column types target-snowflake gives pipelinewise's schemas.
const PIPELINEWISE_TYPES: &[(&str, &str)] = &[
    ("id", "NUMBER"),
    ("c_int2", "NUMBER"),
    ("c_int4", "NUMBER"),
    ("c_int8", "NUMBER"),
    ("c_num_10_2", "NUMBER"),
    // Snowflake scales stop at 37 and unbounded numerics exceed 38 digits:
    // text, so no digit is lost.
    ("c_num_38_38", "TEXT"),
    ("c_num", "TEXT"),
    ("c_real", "FLOAT"),
    ("c_double", "FLOAT"),
    ("c_bool", "BOOLEAN"),
    ("c_text", "TEXT"),
    ("c_varchar", "TEXT"),
    ("c_char", "TEXT"),
    // pipelinewise declares `date` as date-time.
    ("c_date", "TIMESTAMP_NTZ"),
    ("c_time", "TIME"),
    ("c_timetz", "TIME"),
    ("c_ts", "TIMESTAMP_NTZ"),
    ("c_tstz", "TIMESTAMP_NTZ"),
    ("c_interval", "VARIANT"),
    ("c_json", "VARIANT"),
    ("c_jsonb", "VARIANT"),
    ("c_uuid", "TEXT"),
    ("c_bytea", "VARIANT"),
    ("c_int_arr", "VARIANT"),
    ("c_text_arr", "VARIANT"),
    ("c_inet", "TEXT"),
    ("c_money", "TEXT"),
    ("c_mood", "TEXT"),
    ("updated_at", "TIMESTAMP_NTZ"),
];

/// Column types target-snowflake gives meltanolabs' schemas.
const MELTANOLABS_TYPES: &[(&str, &str)] = &[
    ("id", "NUMBER"),
    ("c_int2", "NUMBER"),
    ("c_int4", "NUMBER"),
    ("c_int8", "NUMBER"),
    // meltanolabs declares numerics as plain `number`.
    ("c_num_10_2", "FLOAT"),
    ("c_num_38_38", "FLOAT"),
    ("c_num", "FLOAT"),
    ("c_real", "FLOAT"),
    ("c_double", "FLOAT"),
    ("c_bool", "BOOLEAN"),
    ("c_text", "TEXT"),
    ("c_varchar", "TEXT"),
    ("c_char", "TEXT"),
    ("c_date", "DATE"),
    ("c_time", "TIME"),
    ("c_timetz", "TIME"),
    ("c_ts", "TIMESTAMP_NTZ"),
    ("c_tstz", "TIMESTAMP_NTZ"),
    // meltanolabs renders `interval` as a timestamp, in a plain string.
    ("c_interval", "TEXT"),
    ("c_json", "VARIANT"),
    ("c_jsonb", "VARIANT"),
    ("c_uuid", "TEXT"),
    ("c_bytea", "TEXT"),
    ("c_int_arr", "VARIANT"),
    ("c_text_arr", "VARIANT"),
    ("c_inet", "TEXT"),
    ("c_money", "TEXT"),
    ("c_mood", "TEXT"),
    ("updated_at", "TIMESTAMP_NTZ"),
];

/// Values of meltanolabs' output that no Snowflake column of the declared
/// type holds: `numeric` declared as a plain `number` (FLOAT) with more
/// significant digits than a double keeps.
const MELTANOLABS_UNREPRESENTABLE: &[(i64, &str)] = &[(1, "c_num_38_38"), (1, "c_num")];

fn peer_tap_into_our_targets(
    peer: PeerTap,
    expected_types: &[(&str, &str)],
    unrepresentable: &[(i64, &str)],
) {
    let source = Source::new(peer.venv().replace('-', "_").as_str());
    let dir = scratch(peer.venv());
    let output = peer.sync(&source, &dir);
    let emitted = Emitted::read(&output);
    check_target_csv(&emitted, &output, &dir);
    check_target_snowflake(&emitted, &output, &dir, expected_types, unrepresentable);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn pipelinewise_tap_postgres_output_loads_exactly_into_our_targets() {
    peer_tap_into_our_targets(PeerTap::Pipelinewise, PIPELINEWISE_TYPES, &[]);
}

#[test]
fn meltanolabs_tap_postgres_output_loads_exactly_into_our_targets() {
    peer_tap_into_our_targets(
        PeerTap::Meltanolabs,
        MELTANOLABS_TYPES,
        MELTANOLABS_UNREPRESENTABLE,
    );
}

/// For each source column, the SQL that renders it canonically on the
/// source side and on meltanolabs-target-postgres's side (whose column
/// types differ: text for interval/bytea/inet, jsonb[] for arrays, numeric
/// for floats and money, timestamp without time zone for timestamptz,
/// time for timetz).
const TARGET_POSTGRES_COLUMNS: &[(&str, &str, &str)] = &[
    ("id", "id::text", "id::text"),
    ("c_int2", "c_int2::text", "c_int2::text"),
    ("c_int4", "c_int4::text", "c_int4::text"),
    ("c_int8", "c_int8::text", "c_int8::text"),
    ("c_num_10_2", "c_num_10_2::text", "c_num_10_2::text"),
    ("c_num_38_38", "c_num_38_38::text", "c_num_38_38::text"),
    ("c_num", "c_num::text", "c_num::text"),
    ("c_real", "c_real::text", "c_real::float4::text"),
    ("c_double", "c_double::text", "c_double::float8::text"),
    ("c_bool", "c_bool::text", "c_bool::text"),
    ("c_text", "c_text", "c_text"),
    ("c_varchar", "c_varchar::text", "c_varchar::text"),
    // char(n) keeps its padding on the wire; ::text would strip it.
    ("c_char", "rpad(c_char::text, 4)", "c_char::text"),
    ("c_date", "c_date::text", "c_date::text"),
    ("c_time", "c_time::text", "c_time::text"),
    // meltanolabs-target-postgres stores `time` (the offset is dropped):
    // the local time part must survive.
    ("c_timetz", "c_timetz::time::text", "c_timetz::text"),
    ("c_ts", "c_ts::text", "c_ts::text"),
    (
        "c_tstz",
        "(c_tstz AT TIME ZONE 'UTC')::text",
        "c_tstz::text",
    ),
    // Stored as our ISO 8601 text; PostgreSQL reads it back as the interval.
    (
        "c_interval",
        "c_interval::text",
        "c_interval::interval::text",
    ),
    // meltanolabs-target-postgres stores a NULL json value as JSON `null`.
    (
        "c_json",
        "c_json::jsonb::text",
        "nullif(c_json, 'null')::text",
    ),
    ("c_jsonb", "c_jsonb::text", "nullif(c_jsonb, 'null')::text"),
    ("c_uuid", "c_uuid::text", "c_uuid::text"),
    ("c_bytea", "encode(c_bytea, 'hex')", "c_bytea"),
    (
        "c_int_arr",
        "to_jsonb(c_int_arr)::text",
        "to_jsonb(c_int_arr)::text",
    ),
    (
        "c_text_arr",
        "to_jsonb(c_text_arr)::text",
        "to_jsonb(c_text_arr)::text",
    ),
    ("c_inet", "c_inet::text", "c_inet::inet::text"),
    ("c_money", "c_money::numeric::text", "c_money::text"),
    ("c_mood", "c_mood::text", "c_mood::text"),
    (
        "updated_at",
        "(updated_at AT TIME ZONE 'UTC')::text",
        "updated_at::text",
    ),
];

fn canonical_rows(
    client: &mut postgres::Client,
    pick: fn(&(&'static str, &'static str, &'static str)) -> &'static str,
) -> Rows {
    let select: Vec<String> = TARGET_POSTGRES_COLUMNS
        .iter()
        .map(|c| format!("{} AS {}", pick(c), c.0))
        .collect();
    client
        .query(
            &format!("SELECT {} FROM public.mixed ORDER BY id", select.join(", ")),
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| {
            (0..row.len())
                .map(|i| row.get::<_, Option<String>>(i))
                .collect()
        })
        .collect()
}

#[test]
fn our_tap_postgres_output_loads_into_meltanolabs_target_postgres_matching_the_source() {
    let source = Source::new("peers_ml_target_src");
    let destination_db = source
        .cluster
        .create_database("peers_ml_target_dst")
        .unwrap();
    let dir = scratch("ml-target");
    let c = source.cluster;
    let tap = singer_e2e::binaries::binary("tap-postgres").unwrap();
    let tap_config = write_json(
        &dir.join("tap-config.json"),
        &json!({"host": c.host(), "port": c.port(), "user": c.user(),
                "dbname": source.db, "sslmode": "disable"}),
    );
    let discovered = dir.join("catalog.json");
    run(
        Command::new(&tap)
            .arg("--config")
            .arg(&tap_config)
            .arg("--discover"),
        None,
        &discovered,
        "tap-postgres --discover",
    );
    let selected = write_json(&dir.join("selected.json"), &select_all(&discovered));
    let output = dir.join("tap-output.jsonl");
    run(
        Command::new(&tap)
            .arg("--config")
            .arg(&tap_config)
            .arg("--catalog")
            .arg(&selected),
        None,
        &output,
        "tap-postgres sync",
    );
    let target = crate::venv::install("ml-target").join("bin/target-postgres");
    let target_config = write_json(
        &dir.join("target-config.json"),
        &json!({"host": c.host(), "port": c.port(), "user": c.user(), "password": "x",
                "database": destination_db, "default_target_schema": "public"}),
    );
    let state = dir.join("target-state.jsonl");
    run(
        Command::new(target).arg("--config").arg(&target_config),
        Some(&output),
        &state,
        "meltanolabs-target-postgres",
    );
    // The target saved the state our tap emitted last.
    let last_state = std::fs::read_to_string(&state).unwrap();
    let last_state: Value =
        serde_json::from_str(last_state.lines().last().expect("a state line")).unwrap();
    assert!(
        last_state["bookmarks"][STREAM]["version"].is_number(),
        "{last_state}"
    );

    let expected = canonical_rows(&mut c.connect(&source.db).unwrap(), |col| col.1);
    let loaded = canonical_rows(&mut c.connect(&destination_db).unwrap(), |col| col.2);
    assert_eq!(loaded.len(), SOURCE_IDS.len());
    for (want_row, got_row) in expected.iter().zip(&loaded) {
        for ((column, want), got) in TARGET_POSTGRES_COLUMNS.iter().zip(want_row).zip(got_row) {
            assert_eq!(
                got, want,
                "column {} of id {:?} differs between the source and meltanolabs-target-postgres",
                column.0, want_row[0]
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
