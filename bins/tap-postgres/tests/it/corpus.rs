//! The bad-input corpus (`fixtures/invalid/README.md`) through the binary:
//! `fixtures/invalid/tap-postgres/` holds bad configurations, catalogs,
//! state files and manifests, wrong credentials and an unreachable host.
//! Each case must exit with its code, name what is wrong and where, never
//! panic, and write nothing on stdout (every case fails before the first
//! message; a tap's STATE only ever follows the records it covers).

use std::net::TcpListener;
use std::process::Command;

use singer_testkit::corpus::{self, Case};

use super::{Dir, fixtures};

/// The role that must give a password, and its database.
const PW_USER: &str = "corpus_pw_user";

#[test]
fn bad_input_corpus_fails_cleanly() {
    let cluster = singer_testkit::postgres().expect("a throwaway PostgreSQL (see singer-testkit)");
    let db = cluster.create_database("corpus").expect("database");
    let pw_db = cluster.create_database("corpus_pw").expect("database");
    let mut client = cluster.connect(&db).expect("connect");
    client
        .batch_execute(&format!(
            "CREATE TABLE users (id int PRIMARY KEY, name text, updated_at timestamptz);
             INSERT INTO users VALUES (1, 'ada', '2024-01-01 00:00:00+00');
             DROP ROLE IF EXISTS {PW_USER};
             CREATE ROLE {PW_USER} LOGIN PASSWORD 'the-password';"
        ))
        .expect("seed");
    // The cluster trusts every local connection; this role, on its own
    // database, must authenticate with a password (SCRAM). The rule goes
    // first, so it wins, and touches nothing else.
    let hba: String = client
        .query_one("SHOW hba_file", &[])
        .expect("hba_file")
        .get(0);
    let rules = std::fs::read_to_string(&hba).expect("read pg_hba.conf");
    std::fs::write(
        &hba,
        format!("host {pw_db} {PW_USER} 127.0.0.1/32 scram-sha-256\n{rules}"),
    )
    .expect("write pg_hba.conf");
    client
        .batch_execute("SELECT pg_reload_conf()")
        .expect("reload");
    // A port nothing listens on: bound, then released.
    let closed_port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
        .to_string();
    let port = cluster.port().to_string();
    let fixtures_dir = fixtures().to_string_lossy().into_owned();
    let scratch = Dir::new("corpus");

    let run = |case: &Case| {
        let case_dir = case.dir().to_string_lossy().into_owned();
        let mut vars = vec![
            ("case_dir", case_dir.clone()),
            ("fixtures", fixtures_dir.clone()),
            ("host", cluster.host().to_owned()),
            ("port", port.clone()),
            ("closed_port", closed_port.clone()),
            ("user", cluster.user().to_owned()),
            ("dbname", db.clone()),
            ("pw_user", PW_USER.to_owned()),
            ("pw_dbname", pw_db.clone()),
        ];
        let borrowed: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let config_text = match case.read_sidecar("json", &borrowed)? {
            Some(text) => text,
            None => serde_json::json!({
                "host": cluster.host(), "port": cluster.port(), "user": cluster.user(),
                "dbname": db, "sslmode": "disable",
            })
            .to_string(),
        };
        let config = scratch.0.join(format!("{}.config.json", case.name()));
        std::fs::write(&config, config_text).map_err(|e| e.to_string())?;
        vars.push(("config", config.to_string_lossy().into_owned()));
        let borrowed: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let args = case.args(&borrowed)?;
        corpus::output(
            Command::new(env!("CARGO_BIN_EXE_tap-postgres"))
                .args(&args)
                .env("CORPUS_PG_HOST", cluster.host())
                .env("CORPUS_PG_PORT", &port)
                .env("CORPUS_PG_USER", cluster.user())
                .env("CORPUS_PG_DB", &db)
                .env("CORPUS_PG_PASS", "unused")
                .env_remove("EXECUTION_DATE"),
            None,
        )
    };
    match corpus::walk(&fixtures().join("invalid/tap-postgres"), run) {
        Ok(cases) => assert!(cases >= 40, "only {cases} cases"),
        Err(report) => panic!("{report}"),
    }
}
