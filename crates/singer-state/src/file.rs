//! A state file written atomically.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};
use crate::{State, StateStore};

/// How many temporary file names `save` tries before giving up (a name is
/// only taken if a file of that name already exists).
const TEMP_NAME_ATTEMPTS: u32 = 16;

/// Distinguishes temporary files of concurrent saves in one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A state kept in a JSON file (the `state.json` Singer taps read with
/// `--state`).
///
/// [`save`](StateStore::save) writes the new state to a temporary file in
/// the same directory (`.<name>.<pid>-<nanos>-<n>.tmp`, created exclusively,
/// so concurrent saves never share one), flushes it to disk, renames it over
/// the target and flushes the directory: a crash at any point leaves the old
/// or the new state, never a partial one. Temporary files left behind by a
/// crash are ignored by [`load`](StateStore::load).
///
/// Concurrent saves to one path from several processes are safe (each
/// rename is atomic), and the last rename wins.
#[derive(Debug, Clone)]
pub struct FileStateStore {
    path: PathBuf,
}

impl FileStateStore {
    /// A store for the state file at `path` (it need not exist yet).
    #[must_use]
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The state file's path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The directory the state file (and the temporary files) live in.
    fn dir(&self) -> &Path {
        match self.path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        }
    }

    /// Creates a fresh temporary file next to the state file.
    fn create_temp(&self) -> Result<(PathBuf, File)> {
        let name = self
            .path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_else(|| "state".to_owned());
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|elapsed| elapsed.as_nanos())
            .unwrap_or_default();
        let mut attempt = 0;
        loop {
            let counter = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
            let temp = self.dir().join(format!(
                ".{name}.{}-{nanos}-{counter}.tmp",
                std::process::id()
            ));
            match OpenOptions::new().write(true).create_new(true).open(&temp) {
                Ok(file) => return Ok((temp, file)),
                Err(error)
                    if error.kind() == std::io::ErrorKind::AlreadyExists
                        && attempt < TEMP_NAME_ATTEMPTS =>
                {
                    attempt += 1;
                }
                Err(source) => {
                    return Err(Error::Io {
                        action: "create a temporary state file",
                        path: temp,
                        source,
                    });
                }
            }
        }
    }
}

impl StateStore for FileStateStore {
    /// Reads and parses the state file; `None` if it does not exist.
    fn load(&mut self) -> Result<Option<State>> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(Error::Io {
                    action: "read the state file",
                    path: self.path.clone(),
                    source,
                });
            }
        };
        State::from_json(&text)
            .map(Some)
            .map_err(|source| Error::StateFile {
                path: self.path.clone(),
                source: Box::new(source),
            })
    }

    /// Writes the state atomically and durably (temporary file, `fsync`,
    /// rename, `fsync` of the directory).
    fn save(&mut self, state: &State) -> Result<()> {
        let mut text = state.to_json();
        text.push('\n');
        let (temp, mut file) = self.create_temp()?;
        let written = file
            .write_all(text.as_bytes())
            .map_err(|source| (source, "write the temporary state file"))
            .and_then(|()| {
                file.sync_all()
                    .map_err(|source| (source, "flush the temporary state file to disk"))
            });
        drop(file);
        if let Err((source, action)) = written {
            let _ignored = std::fs::remove_file(&temp);
            return Err(Error::Io {
                action,
                path: temp,
                source,
            });
        }
        if let Err(source) = std::fs::rename(&temp, &self.path) {
            let _ignored = std::fs::remove_file(&temp);
            return Err(Error::Io {
                action: "replace the state file",
                path: self.path.clone(),
                source,
            });
        }
        // The rename is only durable once the directory entry is.
        let dir = self.dir();
        File::open(dir)
            .and_then(|dir| dir.sync_all())
            .map_err(|source| Error::Io {
                action: "flush the state file's directory to disk",
                path: dir.to_path_buf(),
                source,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Arc;

    /// A fresh, empty directory for one test.
    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "singer-state-{name}-{}-{}",
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ignored = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create test dir");
        dir
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("read dir")
            .map(|entry| {
                entry
                    .expect("entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        names
    }

    fn state_with(value: u64) -> State {
        let mut state = State::new();
        state.set_bookmark_value("public-orders", "id", json!(value));
        state
    }

    #[test]
    fn missing_file_loads_as_none_then_round_trips() {
        let dir = temp_dir("roundtrip");
        let mut store = FileStateStore::new(dir.join("state.json"));
        assert_eq!(store.load().expect("load"), None);

        let state = State::from_json(
            r#"{"bookmarks": {"s": {"replication_key": "n",
                "replication_key_value": 12345678901234567890.123456789012345678,
                "partitions": []}}, "custom": true}"#,
        )
        .expect("parse");
        store.save(&state).expect("save");
        let text = std::fs::read_to_string(store.path()).expect("read");
        assert!(text.contains("12345678901234567890.123456789012345678"));
        assert_eq!(store.load().expect("load"), Some(state));
        assert_eq!(entries(&dir), vec!["state.json"]);
        std::fs::remove_dir_all(dir).expect("cleanup");
    }

    #[test]
    fn a_leftover_temp_file_does_not_break_load_or_save() {
        let dir = temp_dir("leftover");
        let path = dir.join("state.json");
        let mut store = FileStateStore::new(&path);
        store.save(&state_with(1)).expect("save");
        // What a crash between create and rename leaves behind.
        let stray = dir.join(format!(".state.json.{}-0-0.tmp", std::process::id()));
        std::fs::write(&stray, "{\"bookmarks\": {\"s\": {\"repl").expect("stray");

        assert_eq!(store.load().expect("load"), Some(state_with(1)));
        store.save(&state_with(2)).expect("save again");
        assert_eq!(store.load().expect("load"), Some(state_with(2)));
        assert!(stray.exists(), "a stray file is left alone");
        std::fs::remove_dir_all(dir).expect("cleanup");
    }

    #[test]
    fn an_empty_file_is_the_empty_state_and_garbage_names_the_file() {
        let dir = temp_dir("garbage");
        let path = dir.join("state.json");
        let mut store = FileStateStore::new(&path);
        std::fs::write(&path, "").expect("write");
        assert_eq!(store.load().expect("load"), Some(State::new()));
        std::fs::write(&path, "{\"bookmarks\": {").expect("write");
        let error = store.load().expect_err("garbage");
        assert!(matches!(&error, Error::StateFile { path: p, .. } if *p == path));
        assert!(error.is_invalid_input());
        std::fs::remove_dir_all(dir).expect("cleanup");
    }

    #[test]
    fn concurrent_saves_never_expose_a_partial_state() {
        let dir = temp_dir("concurrent");
        let path = Arc::new(dir.join("state.json"));
        FileStateStore::new(path.as_path())
            .save(&state_with(0))
            .expect("initial save");

        let writers: Vec<_> = (0..4_u64)
            .map(|writer| {
                let path = Arc::clone(&path);
                std::thread::spawn(move || {
                    let mut store = FileStateStore::new(path.as_path());
                    for round in 0..50 {
                        store
                            .save(&state_with(writer * 1000 + round))
                            .expect("save");
                    }
                })
            })
            .collect();
        let reader = {
            let path = Arc::clone(&path);
            std::thread::spawn(move || {
                let mut store = FileStateStore::new(path.as_path());
                for _ in 0..200 {
                    let state = store.load().expect("every load sees a whole state");
                    assert!(state.is_some_and(|s| s.bookmark("public-orders").is_some()));
                }
            })
        };
        for writer in writers {
            writer.join().expect("writer");
        }
        reader.join().expect("reader");

        let last = FileStateStore::new(path.as_path())
            .load()
            .expect("load")
            .expect("present");
        let value = last
            .bookmark("public-orders")
            .and_then(|b| b.replication_key_value.clone())
            .expect("value");
        assert!(
            [49, 1049, 2049, 3049]
                .iter()
                .any(|last_round| value == json!(*last_round)),
            "the final state is one writer's last save, got {value}"
        );
        assert_eq!(entries(&dir), vec!["state.json"], "no temporary file left");
        std::fs::remove_dir_all(dir).expect("cleanup");
    }

    #[test]
    fn a_failed_save_keeps_the_old_state_and_leaves_no_temp_file() {
        let dir = temp_dir("failed");
        let path = dir.join("state.json");
        // A directory where the state file should be: the rename fails.
        std::fs::create_dir(&path).expect("dir");
        std::fs::write(path.join("keep"), "x").expect("keep");
        let mut store = FileStateStore::new(&path);
        let error = store
            .save(&state_with(1))
            .expect_err("rename onto a directory");
        assert!(
            matches!(
                &error,
                Error::Io {
                    action: "replace the state file",
                    ..
                }
            ),
            "{error}"
        );
        assert_eq!(entries(&dir), vec!["state.json"]);
        assert_eq!(entries(&path), vec!["keep"]);
        std::fs::remove_dir_all(dir).expect("cleanup");
    }

    #[test]
    fn a_relative_path_uses_the_current_directory() {
        let store = FileStateStore::new("state.json");
        assert_eq!(store.dir(), Path::new("."));
    }
}
