//! Nothing is visible before commit; commit publishes whole files.

use std::path::PathBuf;

use serde_json::json;
use singer_target::{Batch, Loader, StreamSchema};
use singer_target_csv::{CsvConfig, CsvLoader, PARTIAL_SUFFIX};

struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn files(dir: &Dir) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn schema(columns: &[&str]) -> StreamSchema {
    StreamSchema {
        stream: "s".to_owned(),
        schema: json!({"properties": {}}),
        columns: columns.iter().map(|c| (*c).to_owned()).collect(),
        key_properties: Vec::new(),
        bookmark_properties: None,
        changes: Vec::new(),
        first: true,
        line: 1,
        key_set_of: None,
    }
}

#[test]
fn rows_stay_in_partial_files_until_commit_and_each_commit_adds_a_part() {
    let dir = Dir(std::env::temp_dir().join(format!("csv-it-{}", std::process::id())));
    let config = CsvConfig {
        destination_path: dir.0.clone(),
        file_naming_scheme: Some("{stream}.csv".to_owned()),
        ..CsvConfig::default()
    };
    let mut loader = CsvLoader::new(&config).expect("loader");
    loader
        .configure_stream(&schema(&["a", "b"]))
        .expect("configure");
    let mut batch = Batch::new(2);
    batch.push_row([Some("1"), Some("\"x\"")]);
    loader.write_batch("s", &batch).expect("write");
    assert_eq!(files(&dir), [format!("s.csv{PARTIAL_SUFFIX}")]);
    loader.commit().expect("commit");
    assert_eq!(files(&dir), ["s.csv"]);
    assert_eq!(
        std::fs::read_to_string(dir.0.join("s.csv")).unwrap(),
        "a,b\n1,x\n"
    );
    // The same columns again change nothing; a second commit adds a part.
    loader
        .configure_stream(&schema(&["a", "b"]))
        .expect("configure");
    loader.write_batch("s", &batch).expect("write");
    loader.commit().expect("commit");
    assert_eq!(files(&dir), ["s-0002.csv", "s.csv"]);
    // A commit with nothing written publishes nothing.
    loader.commit().expect("commit");
    assert_eq!(files(&dir).len(), 2);
    assert_eq!(loader.published()[0].1.len(), 2);
}
