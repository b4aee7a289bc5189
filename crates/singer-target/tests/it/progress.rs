//! Live progress: the driver reports each stream's record count to a
//! `ProgressSink` while it runs, and the final count at the end.

use std::sync::{Arc, Mutex};

use singer_protocol::{Progress, ProgressSink};
use singer_target::{Driver, DriverConfig};

use crate::support::{Recorder, USERS, lines, record, run_driver, state};

#[derive(Default)]
struct Seen {
    finished: Mutex<Vec<(String, u64)>>,
}

impl ProgressSink for Seen {
    fn update(&self, _stream: &str, _records: u64, _estimate: Option<u64>) {}

    fn finish(&self, stream: &str, records: u64) {
        self.finished
            .lock()
            .unwrap()
            .push((stream.to_owned(), records));
    }
}

#[test]
fn the_final_count_of_each_stream_reaches_the_progress_sink() {
    let input = lines(&[USERS, &record(1), &record(2), &record(3), &state(3)]);
    let seen = Arc::new(Seen::default());
    let loader = Recorder::default();
    let log = Arc::clone(&loader.log);
    let driver =
        Driver::new(loader, DriverConfig::default()).with_progress(Progress::new(seen.clone()));
    let run = run_driver(&input, driver, &log);
    assert_eq!(run.result.as_ref().expect("loads").records, 3);
    assert_eq!(*seen.finished.lock().unwrap(), [("users".to_owned(), 3)]);
}
