//! A loader that records what the driver asks, in one log shared with the
//! output, so tests can check that no STATE comes before its commit.

use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use singer_protocol::Writer;
use singer_target::{Batch, Driver, DriverConfig, Loader, Retryable, StreamSchema, Summary};

/// One thing that happened, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Configure {
        stream: String,
        columns: Vec<String>,
        adds_columns: bool,
    },
    Write {
        stream: String,
        rows: Vec<Vec<Option<String>>>,
    },
    Commit,
    Activate {
        stream: String,
        version: u64,
    },
    /// A line the driver wrote to stdout.
    State(String),
}

pub type Log = Arc<Mutex<Vec<Event>>>;

#[derive(Debug, thiserror::Error)]
#[error("test loader: {what}")]
pub struct TestError {
    pub what: &'static str,
    pub retryable: bool,
}

impl Retryable for TestError {
    fn is_retryable(&self) -> bool {
        self.retryable
    }
}

/// Records every call; fails the commits whose 1-based numbers are listed.
#[derive(Default)]
pub struct Recorder {
    pub log: Log,
    pub fail_commits: Vec<usize>,
    pub retryable: bool,
    pub commits: usize,
    /// Sets this flag when a batch holding a row whose first cell is this
    /// text is written (to simulate a signal mid-run).
    pub interrupt_on: Option<(String, Arc<AtomicBool>)>,
}

impl Loader for Recorder {
    type Error = TestError;

    fn configure_stream(&mut self, schema: &StreamSchema) -> Result<(), TestError> {
        self.log.lock().unwrap().push(Event::Configure {
            stream: schema.stream.clone(),
            columns: schema.columns.clone(),
            adds_columns: schema.adds_columns(),
        });
        Ok(())
    }

    fn write_batch(&mut self, stream: &str, batch: &Batch) -> Result<(), TestError> {
        let rows: Vec<Vec<Option<String>>> = batch
            .rows()
            .map(|r| r.cells().map(|c| c.map(str::to_owned)).collect())
            .collect();
        if let Some((text, flag)) = &self.interrupt_on
            && rows.iter().any(|r| r[0].as_deref() == Some(text.as_str()))
        {
            flag.store(true, Ordering::Relaxed);
        }
        self.log.lock().unwrap().push(Event::Write {
            stream: stream.to_owned(),
            rows,
        });
        Ok(())
    }

    fn commit(&mut self) -> Result<(), TestError> {
        self.commits += 1;
        if self.fail_commits.contains(&self.commits) {
            return Err(TestError {
                what: "commit failed",
                retryable: self.retryable,
            });
        }
        self.log.lock().unwrap().push(Event::Commit);
        Ok(())
    }

    fn activate_version(&mut self, stream: &str, version: u64) -> Result<(), TestError> {
        self.log.lock().unwrap().push(Event::Activate {
            stream: stream.to_owned(),
            version,
        });
        Ok(())
    }
}

/// stdout for the driver: each line lands in the shared log.
pub struct LogOut(pub Log, Vec<u8>);

impl Write for LogOut {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.1.extend_from_slice(buf);
        while let Some(end) = self.1.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.1.drain(..=end).collect();
            let text = String::from_utf8(line).unwrap().trim_end().to_owned();
            self.0.lock().unwrap().push(Event::State(text));
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

pub struct Run {
    pub result: Result<Summary, singer_target::Error>,
    pub events: Vec<Event>,
}

impl Run {
    pub fn states(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::State(s) => Some(s.clone()),
                _ => None,
            })
            .collect()
    }

    pub fn writes(&self) -> Vec<(String, Vec<Vec<Option<String>>>)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Write { stream, rows } => Some((stream.clone(), rows.clone())),
                _ => None,
            })
            .collect()
    }

    pub fn error(&self) -> String {
        match &self.result {
            Ok(s) => panic!("expected an error, got {s:?}"),
            Err(e) => singer_protocol::ErrorChain(e).to_string(),
        }
    }
}

/// Runs the driver over `input` with `loader` and `config`.
pub fn run_with(input: &str, mut loader: Recorder, config: DriverConfig) -> Run {
    let log = Arc::clone(&loader.log);
    loader.log = Arc::clone(&log);
    run_driver(input, Driver::new(loader, config), &log)
}

pub fn run_driver(input: &str, mut driver: Driver<Recorder>, log: &Log) -> Run {
    let mut out = Writer::new(LogOut(Arc::clone(log), Vec::new()));
    let result = driver.run(io::Cursor::new(input.to_owned()), &mut out);
    let events = log.lock().unwrap().clone();
    Run { result, events }
}

pub fn run(input: &str) -> Run {
    run_with(input, Recorder::default(), DriverConfig::default())
}

pub fn fixture(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(path)
}

pub const USERS: &str = r#"{"type":"SCHEMA","stream":"users","schema":{"type":"object","properties":{"id":{"type":"integer"},"name":{"type":["null","string"]}}},"key_properties":["id"]}"#;

pub fn record(id: u32) -> String {
    format!(r#"{{"type":"RECORD","stream":"users","record":{{"id":{id},"name":"n{id}"}}}}"#)
}

pub fn state(n: u32) -> String {
    format!(r#"{{"type":"STATE","value":{{"bookmarks":{{"users":{{"id":{n}}}}}}}}}"#)
}

pub fn lines(lines: &[&str]) -> String {
    let mut text = lines.join("\n");
    text.push('\n');
    text
}
