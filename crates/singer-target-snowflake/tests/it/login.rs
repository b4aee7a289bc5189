//! Password and key-pair login (the double checks no credentials, so these
//! prove the client side: the key is read, decrypted and used to sign).

use serde_json::json;
#[cfg(not(feature = "singer-target-snowflake-live-tests"))]
use singer_protocol::SecretString;

use crate::support::{config, lines, load, messages};

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/snowflake")
        .join(name)
}

fn input() -> String {
    messages(&[
        json!({"type": "SCHEMA", "stream": "public-logins", "key_properties": [], "schema": {
            "properties": {"id": {"type": "integer"}}}}),
        json!({"type": "RECORD", "stream": "public-logins", "record": {"id": 1}}),
    ])
}

#[test]
fn password_login_loads() {
    let config = config("login_password");
    if crate::support::on_double() {
        assert!(config.password.is_some());
    }
    let mut run = load(&config, &input());
    assert_eq!(
        lines(&mut run.loader, r#"SELECT "ID" FROM "RAW"."LOGINS""#),
        ["1"]
    );
}

#[cfg(not(feature = "singer-target-snowflake-live-tests"))]
#[test]
fn key_pair_login_with_plain_and_encrypted_keys() {
    let mut config = config("login_key_file");
    config.password = None;
    config.private_key_path = Some(fixture("test_key.p8"));
    let mut run = load(&config, &input());
    assert_eq!(
        lines(&mut run.loader, r#"SELECT "ID" FROM "RAW"."LOGINS""#),
        ["1"]
    );

    let mut config = crate::support::config("login_key_encrypted");
    config.password = None;
    config.private_key = Some(SecretString::new(
        std::fs::read_to_string(fixture("test_key_encrypted.p8")).unwrap(),
    ));
    config.private_key_passphrase = Some(SecretString::new("test-passphrase"));
    load(&config, &input());

    // A wrong passphrase fails before anything is sent, and says so
    // without printing the key or the passphrase.
    config.private_key_passphrase = Some(SecretString::new("wrong-passphrase"));
    let failed = crate::support::run(&config, &input());
    let text = crate::support::chain(&failed.result.expect_err("bad passphrase"));
    assert!(
        !text.contains("wrong-passphrase") && !text.contains("PRIVATE KEY"),
        "{text}"
    );
}

#[cfg(feature = "singer-target-snowflake-live-tests")]
#[test]
fn key_pair_login_with_plain_and_encrypted_keys() {
    let config = config("login_key");
    assert!(
        config.private_key_path.is_some(),
        "the live suite needs SNOWFLAKE_PRIVATE_KEY_PATH for the key-pair test"
    );
    load(&config, &input());
    let _ = fixture;
}
