//! Running the binary in a scratch directory.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_target-csv");

/// A scratch directory removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("target-csv-it-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub fn out(&self) -> PathBuf {
        self.0.join("out")
    }

    /// Writes a config file with `destination_path` set to `out()`.
    pub fn config(&self, extra: &serde_json::Value) -> PathBuf {
        let mut config = serde_json::json!({"destination_path": self.out()});
        if let (Some(map), Some(extra)) = (config.as_object_mut(), extra.as_object()) {
            for (k, v) in extra {
                map.insert(k.clone(), v.clone());
            }
        }
        let path = self.0.join("config.json");
        std::fs::write(&path, config.to_string()).unwrap();
        path
    }

    /// The files under `out()`, relative, sorted.
    pub fn files(&self) -> Vec<String> {
        let mut files = Vec::new();
        let Ok(entries) = std::fs::read_dir(self.out()) else {
            return files;
        };
        for entry in entries {
            files.push(entry.unwrap().file_name().to_string_lossy().into_owned());
        }
        files.sort();
        files
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.out().join(name)).unwrap()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the binary with `config` and `input` on stdin.
pub fn run(config: &Path, input: &[u8]) -> Output {
    let mut child = spawn(config);
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

pub fn spawn(config: &Path) -> Child {
    Command::new(BIN)
        .arg("--config")
        .arg(config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

pub fn fixture(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(path)
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub const USERS: &str = r#"{"type":"SCHEMA","stream":"users","schema":{"type":"object","properties":{"id":{"type":"integer"},"name":{"type":["null","string"]}}},"key_properties":["id"]}"#;

pub fn record(id: u32, name: &str) -> String {
    format!(
        r#"{{"type":"RECORD","stream":"users","record":{{"id":{id},"name":{}}}}}"#,
        serde_json::Value::String(name.to_owned())
    )
}

pub fn lines(lines: &[&str]) -> Vec<u8> {
    let mut text = lines.join("\n");
    text.push('\n');
    text.into_bytes()
}
