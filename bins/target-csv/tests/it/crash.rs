//! A crash between write and rename, and a signal mid-run.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::support::{Scratch, USERS, lines, record, run, spawn, stderr};

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_kill_between_write_and_rename_leaves_no_complete_looking_file() {
    let scratch = Scratch::new("crash");
    // A first, successful run whose file must survive what follows.
    let config = scratch.config(&serde_json::json!({"batch_size_rows": 1}));
    assert!(
        run(&config, &lines(&[USERS, &record(1, "kept")]))
            .status
            .success()
    );
    let earlier = scratch.files();
    assert_eq!(earlier.len(), 1);
    let earlier_text = scratch.read(&earlier[0]);
    std::thread::sleep(Duration::from_millis(1100));

    // Rows are written to a .partial (batch of 1) but never committed.
    let mut child = spawn(&config);
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(&lines(&[USERS, &record(2, "lost"), &record(3, "lost")]))
        .unwrap();
    stdin.flush().unwrap();
    wait_for("a .partial file", || {
        scratch.files().iter().any(|f| f.ends_with(".partial"))
    });
    // SIGKILL: no handler runs, nothing is renamed.
    child.kill().unwrap();
    let output = child.wait_with_output().unwrap();
    drop(stdin);
    assert!(output.stdout.is_empty(), "no STATE from a killed run");
    let files = scratch.files();
    let complete: Vec<&String> = files.iter().filter(|f| !f.ends_with(".partial")).collect();
    assert_eq!(
        complete,
        earlier.iter().collect::<Vec<_>>(),
        "only the earlier file looks complete"
    );
    assert_eq!(scratch.read(&earlier[0]), earlier_text);

    // A rerun completes and leaves the earlier file as it was.
    std::thread::sleep(Duration::from_millis(1100));
    let rerun = run(&config, &lines(&[USERS, &record(2, "again")]));
    assert!(rerun.status.success(), "{}", stderr(&rerun));
    let complete: Vec<String> = scratch
        .files()
        .into_iter()
        .filter(|f| !f.ends_with(".partial"))
        .collect();
    assert_eq!(complete.len(), 2, "{complete:?}");
    assert_eq!(scratch.read(&earlier[0]), earlier_text);
    let new = complete.iter().find(|f| **f != earlier[0]).unwrap();
    assert_eq!(scratch.read(new), "id,name\n2,again\n");
}

#[test]
fn sigterm_commits_what_was_read_writes_its_state_and_exits_1() {
    let scratch = Scratch::new("sigterm");
    let config = scratch
        .config(&serde_json::json!({"file_naming_scheme": "{stream}.csv", "batch_size_rows": 1}));
    let mut child = spawn(&config);
    let mut stdin = child.stdin.take().unwrap();
    let state = r#"{"type":"STATE","value":{"bookmarks":{"users":2}}}"#;
    stdin
        .write_all(&lines(&[USERS, &record(1, "a"), &record(2, "b"), state]))
        .unwrap();
    stdin.flush().unwrap();
    wait_for("the batch to be written", || {
        scratch.files().iter().any(|f| f.ends_with(".partial"))
    });
    std::thread::sleep(Duration::from_millis(300));
    let pid = i32::try_from(child.id()).unwrap();
    // SAFETY: kill(2) on our own child pid; no memory is involved.
    #[expect(unsafe_code, reason = "sending a signal to the child in a test")]
    let sent = unsafe { libc::kill(pid, libc::SIGTERM) };
    assert_eq!(sent, 0);
    let output = child.wait_with_output().unwrap();
    drop(stdin);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(
        String::from_utf8(output.stdout.clone()).unwrap(),
        "{\"bookmarks\":{\"users\":2}}\n"
    );
    assert_eq!(scratch.read("users.csv"), "id,name\n1,a\n2,b\n");
    assert!(stderr(&output).contains("interrupted by a signal"));
}
