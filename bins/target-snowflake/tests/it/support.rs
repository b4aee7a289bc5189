//! Scratch directories and configs for the binary.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

pub const BIN: &str = env!("CARGO_BIN_EXE_target-snowflake");

/// A scratch directory removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("target-snowflake-it-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub fn write(&self, name: &str, value: &Value) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, value.to_string()).unwrap();
        path
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A target config for a fresh isolated database on the double, plus
/// `extra` settings.
pub fn config(prefix: &str, extra: &Value) -> (Value, singer_target_snowflake::SnowflakeConfig) {
    let double = singer_testkit::snowflake_double()
        .expect("the Snowflake double (fakesnow) must start; run scripts/setup");
    let path = double.isolated_database(prefix);
    let mut config = json!({
        "account": "testaccount",
        "user": "tester",
        "password": "sw0rdfish-not-checked",
        "database": singer_testkit::isolated_database_name(&path),
        "default_target_schema": "raw",
        "endpoint": double.url(),
        "session_parameters": {"FAKESNOW_DB_PATH": path},
    });
    for (k, v) in extra.as_object().unwrap() {
        config[k] = v.clone();
    }
    let typed: singer_target_snowflake::SnowflakeConfig =
        serde_json::from_value(config.clone()).expect("typed config");
    (config, typed)
}

/// Rows of a query against the target's database, as `|`-joined text.
pub fn lines(config: &singer_target_snowflake::SnowflakeConfig, sql: &str) -> Vec<String> {
    let mut loader = singer_target_snowflake::SnowflakeLoader::new(config).unwrap();
    loader
        .query_text(sql)
        .unwrap()
        .into_iter()
        .map(|row| {
            row.into_iter()
                .map(|c| c.unwrap_or_else(|| "∅".to_owned()))
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect()
}
