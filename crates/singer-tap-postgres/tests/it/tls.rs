//! TLS per `sslmode`, against the throwaway PostgreSQL with TLS switched on:
//! a self-signed CA signs a server certificate for `localhost`; one database
//! refuses connections without TLS.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::json;
use singer_tap_postgres::{Connector, TapConfig};

/// The CA certificate, another CA's certificate, and the TLS-only database.
struct Tls {
    ca: PathBuf,
    other_ca: PathBuf,
    tls_only_db: String,
    plain_db: String,
}

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl command (Debian package openssl)");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Switches TLS on once for this test binary's cluster.
fn tls() -> &'static Tls {
    static TLS: OnceLock<Tls> = OnceLock::new();
    TLS.get_or_init(|| {
        let cluster = singer_testkit::postgres().expect("a throwaway PostgreSQL");
        let dir = std::env::temp_dir().join(format!("tap-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        for (name, cn) in [("ca", "Test CA"), ("other", "Other CA")] {
            openssl(
                &dir,
                &[
                    "req",
                    "-x509",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-days",
                    "2",
                    "-subj",
                    &format!("/CN={cn}"),
                    "-keyout",
                    &format!("{name}.key"),
                    "-out",
                    &format!("{name}.crt"),
                ],
            );
        }
        openssl(
            &dir,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=localhost",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
            ],
        );
        std::fs::write(dir.join("ext.cnf"), "subjectAltName=DNS:localhost\n").expect("ext");
        openssl(
            &dir,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "ext.cnf",
                "-out",
                "server.crt",
            ],
        );
        let data = cluster.data_dir();
        for file in ["server.crt", "server.key"] {
            let target = data.join(file);
            std::fs::copy(dir.join(file), &target).expect("copy into the data directory");
            let status = Command::new("chown")
                .arg(format!("--reference={}", data.display()))
                .arg(&target)
                .status()
                .expect("chown");
            assert!(status.success());
            let status = Command::new("chmod")
                .arg("600")
                .arg(&target)
                .status()
                .expect("chmod");
            assert!(status.success());
        }
        let tls_only_db = cluster.create_database("tls_only").expect("db");
        let plain_db = cluster.create_database("tls_plain").expect("db");
        let hba = data.join("pg_hba.conf");
        let rules = std::fs::read_to_string(&hba).expect("pg_hba.conf");
        std::fs::write(
            &hba,
            format!("hostnossl {tls_only_db} all all reject\n{rules}"),
        )
        .expect("pg_hba.conf");
        let mut client = cluster.connect("postgres").expect("connect");
        client
            .batch_execute("ALTER SYSTEM SET ssl = on")
            .expect("TLS on");
        client
            .batch_execute("SELECT pg_reload_conf()")
            .expect("reload");
        // The reload is asynchronous: wait until the server reports TLS on.
        for _ in 0..50 {
            let on: String = cluster
                .connect("postgres")
                .expect("connect")
                .query_one("SHOW ssl", &[])
                .expect("show")
                .get(0);
            if on == "on" {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        Tls {
            ca: dir.join("ca.crt"),
            other_ca: dir.join("other.crt"),
            tls_only_db,
            plain_db,
        }
    })
}

fn connect(host: &str, db: &str, sslmode: &str, root: Option<&Path>) -> Result<bool, String> {
    let cluster = singer_testkit::postgres().expect("a throwaway PostgreSQL");
    let config: TapConfig = serde_json::from_value(json!({
        "host": host, "port": cluster.port(), "user": cluster.user(), "dbname": db,
        "sslmode": sslmode, "sslrootcert": root, "connect_timeout": 5,
    }))
    .expect("config");
    let connector = Connector::new(&config).map_err(|e| e.to_string())?;
    let mut client = connector.connect().map_err(|e| {
        // The whole chain: the message does not repeat its source.
        let mut text = e.to_string();
        let mut cause = std::error::Error::source(&e);
        while let Some(inner) = cause {
            text.push_str(": ");
            text.push_str(&inner.to_string());
            cause = inner.source();
        }
        text
    })?;
    let row = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .map_err(|e| e.to_string())?;
    Ok(row.get(0))
}

#[test]
fn sslmode_decides_whether_tls_is_used_and_verified() {
    let tls = tls();
    // (host, database, sslmode, root certificate, expected: Some(encrypted) or None for refused)
    type Case<'a> = (&'a str, &'a str, &'a str, Option<&'a Path>, Option<bool>);
    let cases: [Case<'_>; 10] = [
        ("127.0.0.1", &tls.plain_db, "disable", None, Some(false)),
        ("127.0.0.1", &tls.tls_only_db, "disable", None, None),
        ("127.0.0.1", &tls.tls_only_db, "prefer", None, Some(true)),
        ("127.0.0.1", &tls.tls_only_db, "require", None, Some(true)),
        (
            "127.0.0.1",
            &tls.tls_only_db,
            "require",
            Some(&tls.other_ca),
            None,
        ),
        (
            "127.0.0.1",
            &tls.tls_only_db,
            "verify-ca",
            Some(&tls.ca),
            Some(true),
        ),
        (
            "127.0.0.1",
            &tls.tls_only_db,
            "verify-ca",
            Some(&tls.other_ca),
            None,
        ),
        (
            "localhost",
            &tls.tls_only_db,
            "verify-full",
            Some(&tls.ca),
            Some(true),
        ),
        (
            "127.0.0.1",
            &tls.tls_only_db,
            "verify-full",
            Some(&tls.ca),
            None,
        ),
        (
            "localhost",
            &tls.tls_only_db,
            "verify-full",
            Some(&tls.other_ca),
            None,
        ),
    ];
    for (host, db, mode, root, expected) in cases {
        let result = connect(host, db, mode, root);
        match expected {
            Some(encrypted) => assert_eq!(
                result,
                Ok(encrypted),
                "{mode} to {host} with {root:?} must connect (encrypted: {encrypted})"
            ),
            None => assert!(
                result.is_err(),
                "{mode} to {host} with {root:?} must be refused, got {result:?}"
            ),
        }
    }
}
