//! Manifest mode against the real throwaway PostgreSQL, with the fixture
//! manifest `fixtures/manifests/gitlab_com_db_manifest.yaml` over the tables
//! of `fixtures/postgres/gitlab.sql`.

use std::io::Write;
use std::path::PathBuf;

use serde_json::{Map, Value, json};
use singer_protocol::{Message, Reader, Writer};
use singer_state::State;
use singer_tap_postgres::manifest::{
    AllowList, AllowLists, LoadType, Manifest, ManifestOptions, parse_timestamp, sync_manifest,
};
use singer_tap_postgres::{Connector, Error, TapConfig};

const ISSUES: u32 = 2000;

/// An error and its causes, joined by `: ` as the CLI prints them (an
/// error's message does not repeat its source).
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

fn manifest_text() -> String {
    std::fs::read_to_string(fixtures().join("manifests/gitlab_com_db_manifest.yaml"))
        .expect("fixture manifest")
}

fn manifest() -> Manifest {
    Manifest::parse(&manifest_text()).expect("the fixture manifest parses")
}

/// A fresh database seeded from gitlab.sql, and a connector to it.
struct Db {
    connector: Connector,
    client: postgres::Client,
}

fn db(prefix: &str) -> Db {
    let cluster = singer_testkit::postgres().expect("a throwaway PostgreSQL (see singer-testkit)");
    let name = cluster.create_database(prefix).expect("database");
    let mut client = cluster.connect(&name).expect("connect");
    let seed = std::fs::read_to_string(fixtures().join("postgres/gitlab.sql")).expect("seed");
    client
        .batch_execute(&seed.replace(":issues", &ISSUES.to_string()))
        .expect("seeded");
    let config: TapConfig = serde_json::from_value(json!({
        "host": cluster.host(), "port": cluster.port(), "user": cluster.user(),
        "dbname": name, "sslmode": "disable",
    }))
    .expect("config");
    Db {
        connector: Connector::new(&config).expect("connector"),
        client,
    }
}

fn t(text: &str) -> chrono::DateTime<chrono::Utc> {
    parse_timestamp(text).expect("timestamp")
}

fn options(load_type: LoadType, tables: &[&str], execution_date: &str) -> ManifestOptions {
    let mut options = ManifestOptions::default();
    options.load_type = load_type;
    options.tables = tables.iter().map(|&t| t.to_owned()).collect();
    options.execution_date = t(execution_date);
    options.task_instance = Some("el_gitlab_com_db-run".to_owned());
    options
}

fn run(db: &Db, manifest: &Manifest, state: State, options: &ManifestOptions) -> Vec<Message> {
    let mut out = Writer::new(Vec::new());
    sync_manifest(&db.connector, manifest, state, options, &mut out).expect("manifest sync");
    decode(&out.into_inner())
}

fn decode(bytes: &[u8]) -> Vec<Message> {
    Reader::new(bytes)
        .map(|m| m.expect("valid Singer output").message)
        .collect()
}

fn records(messages: &[Message], stream: &str) -> Vec<Map<String, Value>> {
    messages
        .iter()
        .filter_map(|m| match m {
            Message::Record(r) if r.stream == stream => Some(r.to_map().expect("object")),
            _ => None,
        })
        .collect()
}

fn ids(rows: &[Map<String, Value>]) -> Vec<i64> {
    rows.iter()
        .map(|r| r["id"].as_i64().expect("integer id"))
        .collect()
}

fn last_state(messages: &[Message]) -> Value {
    messages
        .iter()
        .rev()
        .find_map(|m| match m {
            Message::State(s) => Some(s.value.clone()),
            _ => None,
        })
        .expect("a STATE")
}

/// Every RECORD validates against its stream's SCHEMA (singer-schema).
fn assert_records_match_schema(messages: &[Message]) {
    let mut validators = std::collections::HashMap::new();
    for (line, message) in messages.iter().enumerate() {
        match message {
            Message::Schema(s) => {
                let validator = singer_schema::Validator::new(
                    &s.stream,
                    &s.schema,
                    &singer_schema::ValidationConfig::default(),
                )
                .expect("the emitted schema compiles");
                validators.insert(s.stream.clone(), validator);
            }
            Message::Record(r) => {
                let validator = validators.get(&r.stream).expect("SCHEMA before RECORD");
                let record = Value::Object(r.to_map().expect("object"));
                let line = u64::try_from(line).expect("small") + 1;
                if let Err(error) = validator.validate(&record, line) {
                    panic!("{} record fails its schema: {error}\n{record}", r.stream);
                }
            }
            _ => {}
        }
    }
}

fn uploaded_at(rows: &[Map<String, Value>]) -> Vec<String> {
    let mut stamps: Vec<String> = rows.iter().map(|r| r["_uploaded_at"].to_string()).collect();
    stamps.dedup();
    stamps
}

#[test]
fn incremental_over_three_runs_with_moving_execution_dates() {
    let mut db = db("mf_incr");
    let manifest = manifest();
    let stream = "GITLAB_DB_ISSUES";
    // Issue i was updated at 2024-06-01 00:00 + i minutes.
    let first = run(
        &db,
        &manifest,
        State::new(),
        &options(LoadType::Incremental, &["issues"], "2024-06-01T12:00:00Z"),
    );
    assert_records_match_schema(&first);
    let schema = first
        .iter()
        .find_map(|m| match m {
            Message::Schema(s) => Some(s.clone()),
            _ => None,
        })
        .expect("SCHEMA");
    assert_eq!(schema.stream, stream);
    assert_eq!(schema.key_properties, ["id"]);
    let rows = records(&first, stream);
    // No state: BEGIN = END - 96 h; BETWEEN is inclusive (720 is at 12:00).
    assert_eq!(ids(&rows), (1..=720).collect::<Vec<_>>());
    assert_eq!(uploaded_at(&rows).len(), 1, "one _uploaded_at per run");
    assert!(
        rows.iter()
            .all(|r| r["_task_instance"] == "el_gitlab_com_db-run")
    );
    assert!(
        rows.iter().all(|r| r["title"].is_null()),
        "sensitive columns stay NULL"
    );
    assert_eq!(rows[2]["weight"], "1.000000", "numeric keeps its scale");
    let state = last_state(&first);
    assert_eq!(
        state["bookmarks"][stream]["high_water_mark"],
        "2024-06-01T12:00:00.000000+00:00"
    );
    // The high-water mark appears only in the last STATE of the table.
    let marks = first
        .iter()
        .filter(|m| matches!(m, Message::State(s) if s.value["bookmarks"][stream].get("high_water_mark").is_some()))
        .count();
    assert_eq!(
        marks, 2,
        "the table's final STATE and the run's final STATE"
    );

    // A row committed late with a timestamp inside the overlap, and a change.
    db.client
        .batch_execute(
            "UPDATE issues SET updated_at = '2024-06-01 11:50:00+00', iid = -5 WHERE id = 5;
             UPDATE issues SET iid = -900 WHERE id = 900;",
        )
        .expect("changes");
    let second = run(
        &db,
        &manifest,
        State::from_value(state).expect("state"),
        &options(LoadType::Incremental, &["issues"], "2024-06-02T00:00:00Z"),
    );
    let rows = records(&second, stream);
    let got = ids(&rows);
    // BEGIN = 12:00 - 30 min: the overlap (690..=720) reappears, with the late row 5.
    let mut expected: Vec<i64> = vec![5];
    expected.extend(690..=1440);
    assert_eq!(got, expected);
    assert_eq!(rows[0]["iid"], -5);
    let state = last_state(&second);

    let third = run(
        &db,
        &manifest,
        State::from_value(state).expect("state"),
        &options(LoadType::Incremental, &["issues"], "2024-06-03T00:00:00Z"),
    );
    let got3 = ids(&records(&third, stream));
    assert_eq!(got3, (1410..=2000).collect::<Vec<_>>());
    // Nothing inside the windows was missed.
    let mut all: Vec<i64> = ids(&records(&first, stream));
    all.extend(got);
    all.extend(got3);
    all.sort_unstable();
    all.dedup();
    assert_eq!(all, (1..=2000).collect::<Vec<_>>());
    let state = last_state(&third);
    assert_eq!(
        state["bookmarks"][stream]["high_water_mark"],
        "2024-06-03T00:00:00.000000+00:00"
    );

    // An execution date before the mark minus the overlap is an error.
    let mut out = Writer::new(Vec::new());
    let error = sync_manifest(
        &db.connector,
        &manifest,
        State::from_value(state).expect("state"),
        &options(LoadType::Incremental, &["issues"], "2024-06-01T00:00:00Z"),
        &mut out,
    )
    .expect_err("BEGIN after END");
    assert_eq!(
        error.to_string(),
        "table \"issues\": incremental window is empty: BEGIN 2024-06-02T23:30:00.000000+00:00 is after END 2024-06-01T00:00:00.000000+00:00"
    );
}

#[test]
fn older_execution_date_form_and_the_freshness_gate_on_a_primary() {
    let db = db("mf_exec");
    let manifest = manifest();
    // merge request i was updated at 2024-07-01 00:00 + i minutes (i ≤ 200).
    let mut opts = options(
        LoadType::Incremental,
        &["merge_requests"],
        "2024-07-01T02:00:00Z",
    );
    opts.window = chrono::TimeDelta::hours(1);
    // On a primary, pg_last_xact_replay_timestamp() is NULL: the gate passes
    // and END is not capped.
    opts.max_replica_lag = Some(chrono::TimeDelta::hours(12));
    opts.cap_end_at_replay = true;
    let messages = run(&db, &manifest, State::new(), &opts);
    assert_records_match_schema(&messages);
    let rows = records(&messages, "GITLAB_DB_MERGE_REQUESTS");
    // '{EXECUTION_DATE}' - interval '{HOURS} hours' .. '{EXECUTION_DATE}': 01:00..02:00.
    assert_eq!(ids(&rows), (60..=120).collect::<Vec<_>>());
    assert!(
        rows[0].get("_task_instance").is_none(),
        "no advanced_metadata"
    );
}

/// A writer that fails once `after` records went by (an interrupted run).
struct FailAfter {
    bytes: Vec<u8>,
    records: usize,
    after: usize,
}

impl Write for FailAfter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // A parallel run writes many lines at once: count each of them.
        for piece in buf.split_inclusive(|&b| b == b'\n') {
            if piece.starts_with(b"{\"type\":\"RECORD\"") {
                if self.records == self.after {
                    return Err(std::io::Error::other("interrupted"));
                }
                self.records += 1;
            }
            self.bytes.extend_from_slice(piece);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn run_interrupted(
    db: &Db,
    manifest: &Manifest,
    state: State,
    options: &ManifestOptions,
    after: usize,
) -> Vec<Message> {
    let mut out = Writer::new(FailAfter {
        bytes: Vec::new(),
        records: 0,
        after,
    });
    let error =
        sync_manifest(&db.connector, manifest, state, options, &mut out).expect_err("interrupted");
    let message = chain(&error);
    assert!(message.contains("interrupted"), "{message}");
    let inner = out.into_inner();
    decode(&inner.bytes)
}

#[test]
fn full_scd_copies_are_stamped_and_resume_from_the_last_finished_range() {
    let db = db("mf_full");
    let manifest = manifest();
    let stream = "GITLAB_DB_PROJECTS";
    let mut opts = options(
        LoadType::Full,
        &["projects", "users"],
        "2024-06-01T00:00:00Z",
    );
    opts.step = 1;
    opts.uploaded_at = t("2024-06-01T00:00:00.5Z");
    let first = run(&db, &manifest, State::new(), &opts);
    assert_records_match_schema(&first);
    let rows = records(&first, stream);
    assert_eq!(ids(&rows), [1, 2, 3]);
    assert_eq!(uploaded_at(&rows), ["1717200000.500000"]);
    assert!(rows.iter().all(|r| r["name"].is_null()));
    assert_eq!(
        rows[0]["storage_size"],
        "12345678901234567890123456789012345678"
    );
    assert_eq!(ids(&records(&first, "GITLAB_DB_USERS")), [1, 2, 3, 4]);
    assert!(
        first
            .iter()
            .all(|m| !matches!(m, Message::ActivateVersion(_))),
        "SCD appends: no ACTIVATE_VERSION"
    );
    assert!(
        first
            .iter()
            .all(|m| !matches!(m, Message::Record(r) if r.version.is_some()))
    );
    let state = last_state(&first);
    assert_eq!(state["bookmarks"][stream]["columns"][0], "id");
    assert!(state["bookmarks"][stream].get("in_progress").is_none());

    // Interrupted after the first range of `users` (the manifest's order:
    // users, then projects): the last STATE names it.
    let users = "GITLAB_DB_USERS";
    opts.uploaded_at = t("2024-06-02T00:00:00Z");
    let partial = run_interrupted(&db, &manifest, State::new(), &opts, 1);
    let state = last_state(&partial);
    assert_eq!(
        state["bookmarks"][users]["last_finished_range"],
        json!([1, 1])
    );
    assert_eq!(state["bookmarks"][users]["in_progress"], "full");
    assert_eq!(state["currently_syncing"], users);
    // Resumed (a later run, another clock): the rest, under the same stamp.
    opts.uploaded_at = t("2024-06-03T00:00:00Z");
    let resumed = run(
        &db,
        &manifest,
        State::from_value(state).expect("state"),
        &opts,
    );
    let rows = records(&resumed, users);
    assert_eq!(ids(&rows), [2, 3, 4]);
    assert_eq!(uploaded_at(&rows), ["1717286400.000000"]);
    // Projects, not started before, get this run's stamp.
    assert_eq!(
        uploaded_at(&records(&resumed, stream)),
        ["1717372800.000000"]
    );
    let state = last_state(&resumed);
    assert!(
        state["bookmarks"][users]
            .get("last_finished_range")
            .is_none()
    );
    assert!(state["bookmarks"][users].get("in_progress").is_none());
}

#[test]
fn load_by_id_continues_after_new_inserts() {
    let mut db = db("mf_byid");
    let manifest = manifest();
    let stream = "GITLAB_DB_MERGE_REQUEST_IDS";
    let mut opts = options(LoadType::LoadById, &[], "2024-06-01T00:00:00Z");
    opts.step = 50;
    let first = run(&db, &manifest, State::new(), &opts);
    assert_records_match_schema(&first);
    assert_eq!(ids(&records(&first, stream)), (1..=200).collect::<Vec<_>>());
    assert!(
        records(&first, "GITLAB_DB_ISSUES").is_empty(),
        "only load_by_id tables"
    );
    let state = last_state(&first);
    assert_eq!(state["bookmarks"][stream]["max_id"], 200);

    db.client
        .batch_execute(
            "INSERT INTO merge_requests (id, target_project_id, iid, title, source_branch, target_branch, created_at, updated_at)
             SELECT i, 1, i, 'new', 'b', 'main', now(), now() FROM generate_series(201, 205) i;
             INSERT INTO merge_requests (id, target_project_id, iid, title, source_branch, target_branch, created_at, updated_at)
             VALUES (900000000, 1, 1, 'far', 'b', 'main', now(), now());",
        )
        .expect("inserts");
    let second = run(
        &db,
        &manifest,
        State::from_value(state).expect("state"),
        &opts,
    );
    // Continues after 200; an empty range jumps to the next existing id.
    assert_eq!(
        ids(&records(&second, stream)),
        [201, 202, 203, 204, 205, 900_000_000]
    );
    assert_eq!(
        last_state(&second)["bookmarks"][stream]["max_id"],
        900_000_000
    );
    // Load-by-id tables also run with --load-type incremental.
    let third = run(
        &db,
        &manifest,
        State::from_value(last_state(&second)).expect("state"),
        &options(
            LoadType::Incremental,
            &["merge_request_ids"],
            "2024-06-01T00:00:00Z",
        ),
    );
    assert!(records(&third, stream).is_empty());
}

#[test]
fn backfill_after_a_new_column_is_interrupted_resumed_and_activated() {
    let db = db("mf_backfill");
    let stream = "GITLAB_DB_ISSUES_INTERNAL_ONLY";
    let mut opts = options(
        LoadType::Backfill,
        &["issues_internal_only"],
        "2024-06-03T00:00:00Z",
    );
    opts.step = 500;
    opts.allow_lists.projects = Some(AllowList {
        paths: vec![],
        ids: vec![1, 2, 3],
    });
    // New to the state: a complete reload as a new version.
    let manifest_v1 = manifest();
    let first = run(&db, &manifest_v1, State::new(), &opts);
    assert_records_match_schema(&first);
    let rows = records(&first, stream);
    assert_eq!(ids(&rows), (1..=2000).collect::<Vec<_>>());
    let version_of = |messages: &[Message]| {
        messages
            .iter()
            .find_map(|m| match m {
                Message::ActivateVersion(a) => Some(a.version),
                _ => None,
            })
            .expect("ACTIVATE_VERSION")
    };
    let v1 = version_of(&first);
    assert!(matches!(
        first.iter().rev().find(|m| !matches!(m, Message::State(_))),
        Some(Message::ActivateVersion(_))
    ));
    let state = last_state(&first);
    assert_eq!(
        state["bookmarks"][stream]["columns"],
        json!(["id", "project_id", "title", "description", "updated_at"])
    );
    // The incremental continues from the backfill's END.
    assert_eq!(
        state["bookmarks"][stream]["high_water_mark"],
        "2024-06-03T00:00:00.000000+00:00"
    );

    // Nothing changed: no backfill.
    let again = run(
        &db,
        &manifest_v1,
        State::from_value(state.clone()).expect("state"),
        &opts,
    );
    assert!(records(&again, stream).is_empty());

    // The query now selects `state` too: a backfill, interrupted at 1,200 rows.
    let text = manifest_text().replace(
        "        , title\n        , description\n        , updated_at",
        "        , title\n        , description\n        , state\n        , updated_at",
    );
    let manifest_v2 = Manifest::parse(&text).expect("changed manifest");
    let partial = run_interrupted(
        &db,
        &manifest_v2,
        State::from_value(state).expect("state"),
        &opts,
        1200,
    );
    assert_eq!(
        ids(&records(&partial, stream)),
        (1..=1200).collect::<Vec<_>>()
    );
    let state = last_state(&partial);
    assert_eq!(
        state["bookmarks"][stream]["last_finished_range"],
        json!([501, 1000])
    );
    assert_eq!(state["bookmarks"][stream]["in_progress"], "backfill");
    let v2 = state["bookmarks"][stream]["version"]
        .as_u64()
        .expect("version");
    assert_ne!(v2, v1);
    // Resumed: from the last finished range, under the same version.
    let resumed = run(
        &db,
        &manifest_v2,
        State::from_value(state).expect("state"),
        &opts,
    );
    let rows = records(&resumed, stream);
    assert_eq!(ids(&rows), (1001..=2000).collect::<Vec<_>>());
    assert!(rows.iter().all(|r| r.contains_key("state")));
    assert!(
        resumed
            .iter()
            .all(|m| !matches!(m, Message::Record(r) if r.version != Some(v2)))
    );
    assert_eq!(version_of(&resumed), v2);
    let state = last_state(&resumed);
    assert!(state["bookmarks"][stream].get("in_progress").is_none());
    assert_eq!(state["bookmarks"][stream]["columns"][4], "state");
    // A removed column is no reason to reload.
    let removed = run(
        &db,
        &manifest_v1,
        State::from_value(state).expect("state"),
        &opts,
    );
    assert!(records(&removed, stream).is_empty());
}

#[test]
fn allow_lists_with_zero_one_and_many_entries() {
    let db = db("mf_allow");
    let manifest = manifest();
    let dir = std::env::temp_dir().join(format!("mf-allow-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let empty = dir.join("empty.csv");
    std::fs::write(&empty, "project_path,project_id\n").expect("write");
    let one = dir.join("one.csv");
    std::fs::write(&one, "project_path,project_id\ngitlab,1\n").expect("write");
    let many = fixtures().join("manifests/internal_gitlab_projects.csv");
    for (file, expected) in [(&empty, vec![]), (&one, vec![1]), (&many, vec![1, 3])] {
        let mut opts = options(
            LoadType::Full,
            &["projects_internal_only", "projects_internal_paths"],
            "2024-06-01T00:00:00Z",
        );
        opts.allow_lists = AllowLists::load(Some(file), None).expect("allow list");
        let messages = run(&db, &manifest, State::new(), &opts);
        assert_records_match_schema(&messages);
        assert_eq!(
            ids(&records(&messages, "GITLAB_DB_PROJECTS_INTERNAL_ONLY")),
            expected,
            "ids from {}",
            file.display()
        );
        assert_eq!(
            ids(&records(&messages, "GITLAB_DB_PROJECTS_INTERNAL_PATHS")),
            expected,
            "paths from {}",
            file.display()
        );
    }
    // The real names only for allow-listed rows.
    let mut opts = options(
        LoadType::Full,
        &["projects_internal_paths"],
        "2024-06-01T00:00:00Z",
    );
    opts.allow_lists = AllowLists::load(Some(&many), None).expect("allow list");
    let rows = records(
        &run(&db, &manifest, State::new(), &opts),
        "GITLAB_DB_PROJECTS_INTERNAL_PATHS",
    );
    assert_eq!(rows[1]["name"], "Léa's \"quoted\" project");
    // A token without its file is an error, not an empty list.
    let opts = options(
        LoadType::Full,
        &["projects_internal_only"],
        "2024-06-01T00:00:00Z",
    );
    let mut out = Writer::new(Vec::new());
    let error = sync_manifest(&db.connector, &manifest, State::new(), &opts, &mut out)
        .expect_err("no allow list");
    assert_eq!(
        error.to_string(),
        "table \"projects_internal_only\": {INTERNAL_PROJECT_IDS} needs an allow list, and none is configured (internal_projects_file / internal_namespaces_file)"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn doubled_percent_and_a_literal_brace_are_kept_as_sql() {
    let db = db("mf_literal");
    let manifest = manifest();
    let opts = options(
        LoadType::Full,
        &["gitlab_named_projects", "bug_issues"],
        "2024-06-01T00:00:00Z",
    );
    let messages = run(&db, &manifest, State::new(), &opts);
    assert_records_match_schema(&messages);
    // `LIKE '%Lab%'`, case kept: lower-casing the query would match nothing.
    assert_eq!(
        ids(&records(&messages, "GITLAB_DB_GITLAB_NAMED_PROJECTS")),
        [1, 2]
    );
    // `'{bug}'::text[]` untouched: every issue with labels (not i % 10 = 4).
    let bugs = records(&messages, "GITLAB_DB_BUG_ISSUES");
    assert_eq!(bugs.len(), 1800);
    assert_eq!(bugs[0]["labels"], json!(["bug", "p1"]));
    assert_eq!(
        bugs[0]["metadata"].to_string(),
        r#"{"weight":1.50,"severity":"S2"}"#
    );
}

#[test]
fn bad_manifests_fail_with_their_message() {
    let dir = fixtures().join("manifests/invalid");
    let mut cases = 0;
    for entry in std::fs::read_dir(&dir).expect("invalid fixtures") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read");
        let expected =
            std::fs::read_to_string(path.with_extension("expected")).expect("expected message");
        let source = Manifest::parse(&text).expect_err("invalid manifest");
        let error = Error::Manifest { path: None, source };
        assert_eq!(chain(&error), expected, "{}", path.display());
        assert!(error.is_usage());
        cases += 1;
    }
    assert_eq!(cases, 4);

    let db = db("mf_bad");
    let manifest = manifest();
    let run_err = |options: &ManifestOptions, manifest: &Manifest| {
        let mut out = Writer::new(Vec::new());
        sync_manifest(&db.connector, manifest, State::new(), options, &mut out).expect_err("fails")
    };
    let error = run_err(
        &options(LoadType::Incremental, &["isues"], "2024-06-01"),
        &manifest,
    );
    assert!(error.is_usage());
    assert_eq!(
        chain(&error),
        "manifest: unknown table \"isues\"; the manifest's tables are: issues, issues_internal_only, merge_requests, \
         merge_request_ids, users, projects, projects_internal_only, projects_internal_paths, gitlab_named_projects, bug_issues"
    );
    let error = run_err(
        &options(LoadType::Full, &["issues"], "2024-06-01"),
        &manifest,
    );
    assert_eq!(
        error.to_string(),
        "table \"issues\": is an incremental table, which --load-type full does not load (a complete reload is --load-type backfill)"
    );
    let no_pk = Manifest::parse(
        "tables:\n  users:\n    import_db: GITLAB_DB\n    export_table: users\n    export_table_primary_key: user_id\n    import_query: SELECT id, username FROM users\n",
    )
    .expect("valid");
    assert_eq!(
        run_err(&options(LoadType::Full, &[], "2024-06-01"), &no_pk).to_string(),
        "table \"users\": export_table_primary_key \"user_id\" is not a column of the query's result"
    );
}

#[test]
fn a_parallel_backfill_is_interrupted_resumed_and_activated_with_every_row_once() {
    let db = db("mf_parallel");
    let stream = "GITLAB_DB_ISSUES_INTERNAL_ONLY";
    let mut opts = options(
        LoadType::Backfill,
        &["issues_internal_only"],
        "2024-06-03T00:00:00Z",
    );
    opts.step = 300;
    opts.sync.parallelism = 3;
    opts.sync.state_interval = 50;
    opts.allow_lists.projects = Some(AllowList {
        paths: vec![],
        ids: vec![1, 2, 3],
    });
    let manifest = manifest();
    let partial = run_interrupted(&db, &manifest, State::new(), &opts, 900);
    // Cut at the last STATE, as a target that committed up to it would.
    let cut = partial
        .iter()
        .rposition(|m| matches!(m, Message::State(_)))
        .expect("a STATE");
    let state = last_state(&partial);
    let bookmark = &state["bookmarks"][stream];
    assert_eq!(bookmark["in_progress"], "backfill");
    let pending = bookmark["pending_ranges"]
        .as_array()
        .expect("pending ranges");
    assert!(!pending.is_empty(), "{bookmark}");
    let version = bookmark["version"].as_u64().expect("version");
    // The copy's largest key is kept while it runs (a resumed copy reports
    // it even when its top range was read before the interruption).
    assert_eq!(bookmark["copy_max_key"], 2000, "{bookmark}");
    let mut seen = ids(&records(&partial[..cut], stream));
    assert!(seen.len() < 2000);
    // Ranges were read side by side: the output is not in key order.
    assert!(
        ids(&records(&partial, stream))
            .windows(2)
            .any(|w| w[0] > w[1]),
        "several readers interleave"
    );

    let resumed = run(
        &db,
        &manifest,
        State::from_value(state.clone()).expect("state"),
        &opts,
    );
    // Every line before the STATE is covered by it: each row exactly once.
    seen.extend(ids(&records(&resumed, stream)));
    seen.sort_unstable();
    assert_eq!(
        seen,
        (1..=2000).collect::<Vec<_>>(),
        "every row exactly once"
    );
    assert!(
        resumed
            .iter()
            .all(|m| !matches!(m, Message::Record(r) if r.version != Some(version)))
    );
    assert!(matches!(
        resumed.iter().rev().find(|m| !matches!(m, Message::State(_))),
        Some(Message::ActivateVersion(a)) if a.version == version
    ));
    let state = last_state(&resumed);
    assert!(state["bookmarks"][stream].get("in_progress").is_none());
    assert!(state["bookmarks"][stream].get("pending_ranges").is_none());
    assert!(state["bookmarks"][stream].get("copy_max_key").is_none());
}

/// The key set (`<stream>__keys`) a run sent for `stream`: its keys, the
/// version its RECORDs carry and the version its ACTIVATE_VERSION names.
fn key_set(messages: &[Message], stream: &str) -> (Vec<i64>, Option<u64>, Option<u64>) {
    let companion = singer_protocol::key_set::key_set_stream(stream);
    let mut version = None;
    let mut keys = Vec::new();
    for message in messages {
        if let Message::Record(r) = message
            && r.stream == companion
        {
            version = r.version;
            let record = r.to_map().expect("object");
            assert_eq!(record.len(), 1, "a key set record holds the key only");
            keys.push(record["id"].as_i64().expect("integer id"));
        }
    }
    let activated = messages.iter().find_map(|m| match m {
        Message::ActivateVersion(a) if a.stream == companion => Some(a.version),
        _ => None,
    });
    (keys, version, activated)
}

#[test]
fn deletes_load_sends_every_key_of_tables_not_deletes_exempt() {
    let mut db = db("mf_deletes");
    let manifest = Manifest::parse(
        "connection_info: {database: D, host: H, pass: P, port: O, user: U}
tables:
  issues:
    import_db: GITLAB_DB
    export_schema: gitlab_com
    export_table: issues
    export_table_primary_key: id
    import_query: |-
      SELECT id, project_id, updated_at FROM issues
      WHERE updated_at BETWEEN '{BEGIN_TIMESTAMP}'::timestamp AND '{END_TIMESTAMP}'::timestamp
  users:
    import_db: GITLAB_DB
    export_schema: gitlab_com
    export_table: users
    export_table_primary_key: id
    deletes_exempt: true
    import_query: SELECT id, username FROM users
",
    )
    .expect("manifest");
    db.client
        .batch_execute("DELETE FROM issues WHERE id IN (3, 4, 1999)")
        .expect("deletes");
    let mut opts = options(LoadType::Deletes, &[], "2024-06-01T00:00:00Z");
    opts.sync.max_rows_per_statement = Some(700);
    opts.sync.state_interval = 500;
    let state = State::from_value(json!({"bookmarks": {"GITLAB_DB_ISSUES": {"high_water_mark": "2024-05-01T00:00:00.000000+00:00"}}}))
        .expect("state");
    let messages = run(&db, &manifest, state, &opts);
    assert_records_match_schema(&messages);
    let expected: Vec<i64> = (1..=i64::from(ISSUES))
        .filter(|id| ![3, 4, 1999].contains(id))
        .collect();
    // Every key over all of history (not the incremental window, and past
    // the execution date: updated_at runs to 2024-06-02), in order, in
    // chunks of 700 keys, once each.
    let (keys, version, activated) = key_set(&messages, "GITLAB_DB_ISSUES");
    assert_eq!(keys.len(), expected.len());
    assert!(keys == expected, "every key but the deleted ones, in order");
    assert!(version.is_some());
    assert_eq!(
        activated, version,
        "ACTIVATE_VERSION marks the set complete"
    );
    // The main stream's SCHEMA comes first (a target must know the table),
    // and none of its rows.
    let position = |wanted: &dyn Fn(&Message) -> bool| messages.iter().position(wanted);
    let schema = position(&|m| matches!(m, Message::Schema(s) if s.stream == "GITLAB_DB_ISSUES"));
    let first_key =
        position(&|m| matches!(m, Message::Record(r) if r.stream == "GITLAB_DB_ISSUES__keys"));
    assert!(schema.expect("main SCHEMA") < first_key.expect("a key"));
    assert!(records(&messages, "GITLAB_DB_ISSUES").is_empty());
    // The exempt table sends nothing.
    assert!(
        !messages
            .iter()
            .any(|m| matches!(m, Message::Schema(s) if s.stream.starts_with("GITLAB_DB_USERS"))),
        "deletes_exempt tables are skipped"
    );
    // No bookmark moves; STATE came between the keys too.
    assert_eq!(
        last_state(&messages)["bookmarks"]["GITLAB_DB_ISSUES"]["high_water_mark"],
        "2024-05-01T00:00:00.000000+00:00"
    );
    let states = messages
        .iter()
        .filter(|m| matches!(m, Message::State(_)))
        .count();
    assert!(states >= 4, "STATE every 500 keys: {states}");

    // Naming the exempt table is an error.
    let mut out = Writer::new(Vec::new());
    let error = sync_manifest(
        &db.connector,
        &manifest,
        State::new(),
        &options(LoadType::Deletes, &["users"], "2024-06-01T00:00:00Z"),
        &mut out,
    )
    .expect_err("exempt");
    assert!(
        chain(&error).contains("deletes_exempt"),
        "{}",
        chain(&error)
    );
}

/// `slowly(id)`: the id, after a pause of `seconds` every 100 ids (a table
/// read through it takes a while, for tests of tables read side by side).
fn add_slowly(db: &mut Db, seconds: f64) {
    db.client
        .batch_execute(&format!(
            "CREATE FUNCTION slowly(i bigint) RETURNS bigint VOLATILE LANGUAGE sql AS
               $$ SELECT CASE WHEN i % 100 = 0 THEN (SELECT i FROM pg_sleep({seconds})) ELSE i END $$;"
        ))
        .expect("slow function");
}

/// A manifest of two tables of GITLAB_DB, `(export_table, import_query)`
/// each, keyed by `id`.
fn two_tables(a: (&str, &str), b: (&str, &str)) -> Manifest {
    let mut text = String::from("tables:\n");
    for (table, query) in [a, b] {
        text.push_str(&format!(
            "  {table}:\n    import_db: GITLAB_DB\n    export_table: {table}\n    \
             export_table_primary_key: id\n    import_query: {query}\n"
        ));
    }
    Manifest::parse(&text).expect("valid")
}

/// Records of each stream as (id, whole record) pairs, sorted: what a
/// target ends up holding, whatever order streams interleave in.
fn stream_rows(messages: &[Message]) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut streams: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for message in messages {
        if let Message::Record(r) = message {
            let mut record = r.to_map().expect("object");
            record.remove("_uploaded_at");
            streams
                .entry(r.stream.clone())
                .or_default()
                .push(Value::Object(record).to_string());
        }
    }
    for rows in streams.values_mut() {
        rows.sort();
    }
    streams
}

#[test]
fn parallel_tables_load_at_once_with_the_rows_and_bookmarks_of_a_run_one_at_a_time() {
    let mut db = db("mf_tables_parallel");
    let manifest = manifest();
    let mut one = options(LoadType::Full, &[], "2024-06-03T00:00:00Z");
    one.step = 500;
    one.sync.state_interval = 100;
    one.allow_lists.projects = Some(AllowList {
        paths: vec![],
        ids: vec![1, 2, 3],
    });
    one.allow_lists.namespaces = Some(AllowList {
        paths: vec![],
        ids: vec![1, 2],
    });
    let mut many = one.clone();
    many.sync.parallelism = 3;
    let sequential = run(&db, &manifest, State::new(), &one);
    let parallel = run(&db, &manifest, State::new(), &many);
    assert_records_match_schema(&parallel);
    let expected = stream_rows(&sequential);
    assert!(expected.len() >= 3, "several tables: {:?}", expected.keys());
    assert_eq!(stream_rows(&parallel), expected, "the same rows per stream");

    // Two tables that each take a second are read side by side: their
    // records interleave (each sends its lines at every STATE).
    add_slowly(&mut db, 0.05);
    let two = two_tables(
        (
            "issues_a",
            "SELECT slowly(id) AS id, project_id FROM issues",
        ),
        ("issues_b", "SELECT slowly(id) AS id, iid FROM issues"),
    );
    let both = run(&db, &two, State::new(), &many);
    let order: Vec<&str> = both
        .iter()
        .filter_map(|m| match m {
            Message::Record(r) => Some(r.stream.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(order.len(), 2 * ISSUES as usize);
    let switches = order.windows(2).filter(|w| w[0] != w[1]).count();
    assert!(switches > 3, "streams interleave ({switches} switches)");

    // The final state holds every table's bookmark, as one at a time does
    // (the run's own timestamps aside).
    let strip = |state: Value| {
        let mut bookmarks = state["bookmarks"].as_object().expect("bookmarks").clone();
        for bookmark in bookmarks.values_mut() {
            if let Some(b) = bookmark.as_object_mut() {
                b.remove("run_uploaded_at");
                b.remove("version");
                b.remove("last_uploaded_at");
            }
        }
        bookmarks
    };
    let last = last_state(&parallel);
    assert!(
        last.get("currently_syncing").is_none_or(Value::is_null),
        "{last}"
    );
    assert_eq!(strip(last), strip(last_state(&sequential)));

    // Every STATE covers only what was written before it: cut the run at
    // each STATE and resume from it; each table's rows are all there.
    let cuts: Vec<usize> = parallel
        .iter()
        .enumerate()
        .filter(|(_, m)| matches!(m, Message::State(_)))
        .map(|(i, _)| i)
        .collect();
    assert!(cuts.len() > 6, "{} states", cuts.len());
    for &cut in cuts.iter().skip(1).step_by(cuts.len() / 4) {
        let Message::State(state) = &parallel[cut] else {
            unreachable!()
        };
        let resumed = run(
            &db,
            &manifest,
            State::from_value(state.value.clone()).expect("state"),
            &many,
        );
        let mut rows = stream_rows(&parallel[..cut]);
        for (stream, more) in stream_rows(&resumed) {
            rows.entry(stream).or_default().extend(more);
        }
        for (stream, wanted) in &expected {
            let mut got = rows.remove(stream).unwrap_or_default();
            got.sort();
            got.dedup();
            assert_eq!(&got, wanted, "{stream}: every row after a cut at {cut}");
        }
    }
}

/// A table that fails while another loads stops the whole parallel run
/// with the failing table's error, and the last STATE written covers only
/// what was written before it: a rerun from it loads every row of the
/// table that was fine.
#[test]
fn a_failing_table_stops_a_parallel_run_and_the_last_state_still_covers_what_was_written() {
    let mut db = db("mf_tables_failing");
    add_slowly(&mut db, 0.02);
    let two = two_tables(
        ("good", "SELECT slowly(id) AS id, iid FROM issues"),
        ("bad", "SELECT id, 1 / (id - 700) AS x FROM issues"),
    );
    let mut opts = options(LoadType::Full, &[], "2024-06-03T00:00:00Z");
    opts.step = 200;
    opts.sync.parallelism = 2;
    let mut out = Writer::new(Vec::new());
    let error = sync_manifest(&db.connector, &two, State::new(), &opts, &mut out)
        .expect_err("the bad table fails the run");
    assert!(
        chain(&error).contains("division by zero"),
        "{}",
        chain(&error)
    );
    let written = decode(&out.into_inner());
    let last = written
        .iter()
        .rposition(|m| matches!(m, Message::State(_)))
        .expect("a STATE before the failure");
    // Resume from the last STATE, as a target that committed it would,
    // with the bad table left out: the good table ends complete.
    let state = last_state(&written[..=last]);
    let mut only_good = opts.clone();
    only_good.tables = vec!["good".to_owned()];
    let resumed = run(
        &db,
        &two,
        State::from_value(state).expect("state"),
        &only_good,
    );
    let mut ids_seen = ids(&records(&written[..last], "GITLAB_DB_GOOD"));
    ids_seen.extend(ids(&records(&resumed, "GITLAB_DB_GOOD")));
    ids_seen.sort_unstable();
    ids_seen.dedup();
    assert_eq!(
        ids_seen,
        (1..=i64::from(ISSUES)).collect::<Vec<_>>(),
        "every row of the good table"
    );
}
