//! `fixtures/singer/*.jsonl` through the binary against
//! `fixtures/expected/<case>/` (re-bless with `SINGER_BLESS=1`).

use crate::support::{Scratch, fixture, run, stdout};

#[test]
fn singer_fixtures_match_their_expected_csv() {
    let mut cases = 0;
    for entry in std::fs::read_dir(fixture("singer")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("jsonl") {
            continue;
        }
        let case = path.file_stem().unwrap().to_string_lossy().into_owned();
        let scratch = Scratch::new(&format!("golden-{case}"));
        let config = scratch.config(&serde_json::json!({"file_naming_scheme": "{stream}.csv"}));
        let output = run(&config, &std::fs::read(&path).unwrap());
        assert!(
            output.status.success(),
            "{case}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let expected_dir = fixture("expected").join(format!("target-csv-{case}"));
        let mut produced = scratch.files();
        produced.push("state.jsonl".to_owned());
        if std::env::var_os("SINGER_BLESS").is_some() {
            std::fs::create_dir_all(&expected_dir).unwrap();
            for name in &produced {
                let text = if name == "state.jsonl" {
                    stdout(&output)
                } else {
                    scratch.read(name)
                };
                std::fs::write(expected_dir.join(name), text).unwrap();
            }
        }
        let mut expected: Vec<String> = std::fs::read_dir(&expected_dir)
            .unwrap_or_else(|_| {
                panic!(
                    "{} missing (SINGER_BLESS=1 writes it)",
                    expected_dir.display()
                )
            })
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        expected.sort();
        produced.sort();
        assert_eq!(produced, expected, "{case}: file set");
        for name in &produced {
            let got = if name == "state.jsonl" {
                stdout(&output)
            } else {
                scratch.read(name)
            };
            let want = std::fs::read_to_string(expected_dir.join(name)).unwrap();
            assert_eq!(got, want, "{case}/{name}");
        }
        cases += 1;
    }
    assert!(cases >= 1);
}
