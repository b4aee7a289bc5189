//! A new SCHEMA mid-stream: flush first, then reconfigure.

use crate::support::{Event, USERS, lines, record, run};

#[test]
fn schema_growth_flushes_then_reconfigures() {
    let grown = r#"{"type":"SCHEMA","stream":"users","schema":{"type":"object","properties":{"id":{"type":"integer"},"name":{"type":["null","string"]},"email":{"type":["null","string"]}}},"key_properties":["id"]}"#;
    let input = lines(&[
        USERS,
        &record(1),
        grown,
        r#"{"type":"RECORD","stream":"users","record":{"id":2,"name":"b","email":"b@x"}}"#,
    ]);
    let run = run(&input);
    run.result.as_ref().expect("run succeeds");
    let kinds: Vec<&Event> = run.events.iter().collect();
    assert!(matches!(
        kinds[0],
        Event::Configure {
            adds_columns: false,
            ..
        }
    ));
    assert!(matches!(kinds[1], Event::Write { rows, .. } if rows[0].len() == 2));
    assert!(
        matches!(kinds[2], Event::Configure { columns, adds_columns: true, .. } if columns.len() == 3)
    );
    assert!(
        matches!(kinds[3], Event::Write { rows, .. } if rows[0] == [Some("2".to_owned()), Some("\"b\"".to_owned()), Some("\"b@x\"".to_owned())])
    );
    assert_eq!(kinds[4], &Event::Commit);
}

#[test]
fn a_repeated_identical_schema_is_ignored_and_key_changes_reconfigure() {
    let rekeyed = USERS.replace(
        r#""key_properties":["id"]"#,
        r#""key_properties":["id","name"]"#,
    );
    let input = lines(&[USERS, &record(1), USERS, &record(2), &rekeyed, &record(3)]);
    let run = run(&input);
    run.result.as_ref().expect("run succeeds");
    let configures = run
        .events
        .iter()
        .filter(|e| matches!(e, Event::Configure { .. }))
        .count();
    assert_eq!(configures, 2);
    let sizes: Vec<usize> = run.writes().iter().map(|(_, r)| r.len()).collect();
    assert_eq!(sizes, [2, 1]);
}
