//! Running the driver over a [`SnowflakeLoader`] against the double (or,
//! with the live-tests feature, a real account).

use std::io::{self, Write};
use std::sync::{Arc, Mutex};

#[cfg(not(feature = "singer-target-snowflake-live-tests"))]
use serde_json::json;
use singer_protocol::{SecretString, Writer};
use singer_target::{Batch, Driver, Loader, StreamSchema, Summary};
use singer_target_snowflake::{Error, SnowflakeConfig, SnowflakeLoader};

/// A config for a fresh, isolated database on the double.
#[cfg(not(feature = "singer-target-snowflake-live-tests"))]
pub fn config(prefix: &str) -> SnowflakeConfig {
    let double = singer_testkit::snowflake_double()
        .expect("the Snowflake double (fakesnow) must start; run scripts/setup");
    let path = double.isolated_database(prefix);
    let mut config = SnowflakeConfig::new(
        "testaccount",
        "tester",
        &singer_testkit::isolated_database_name(&path),
    );
    config.password = Some(SecretString::new("not-checked-by-the-double"));
    config.endpoint = Some(double.url());
    config.default_target_schema = Some("raw".to_owned());
    config.max_retries = 2;
    config
        .session_parameters
        .insert("FAKESNOW_DB_PATH".to_owned(), json!(path));
    config
}

/// A config for a real account from `SNOWFLAKE_*`, with a schema of its own
/// per test (dropped by nobody: the account's owner cleans up).
#[cfg(feature = "singer-target-snowflake-live-tests")]
pub fn config(prefix: &str) -> SnowflakeConfig {
    let var = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            panic!("the live suite needs {name} (see README: target-snowflake, live suite)")
        })
    };
    let mut config = SnowflakeConfig::new(
        &var("SNOWFLAKE_ACCOUNT"),
        &var("SNOWFLAKE_USER"),
        &var("SNOWFLAKE_DATABASE"),
    );
    config.password = std::env::var("SNOWFLAKE_PASSWORD")
        .ok()
        .map(SecretString::new);
    config.private_key_path = std::env::var_os("SNOWFLAKE_PRIVATE_KEY_PATH").map(Into::into);
    config.private_key_passphrase = std::env::var("SNOWFLAKE_PRIVATE_KEY_PASSPHRASE")
        .ok()
        .map(SecretString::new);
    config.role = std::env::var("SNOWFLAKE_ROLE").ok();
    config.warehouse = std::env::var("SNOWFLAKE_WAREHOUSE").ok();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let schema = format!("SINGER_RS_TEST_{}_{nanos}", prefix.to_uppercase());
    LIVE_SCHEMA.with(|s| *s.borrow_mut() = Some(schema.clone()));
    config.default_target_schema = Some(schema);
    config
}

thread_local! {
    /// The live suite's schema for the current test (the tests' SQL says
    /// `"RAW"`, the double's schema).
    static LIVE_SCHEMA: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// `"RAW"` in a test's SQL, mapped to the live suite's schema.
pub fn schema_sql(sql: &str) -> String {
    LIVE_SCHEMA.with(|s| match &*s.borrow() {
        Some(schema) => sql
            .replace("\"RAW\".", &format!("\"{schema}\"."))
            .replace("'RAW'", &format!("'{schema}'")),
        None => sql.to_owned(),
    })
}

/// Whether the tests run against the double (some assertions depend on
/// its limits, e.g. NUMBER(38,0) being 64-bit there).
#[must_use]
pub const fn on_double() -> bool {
    cfg!(not(feature = "singer-target-snowflake-live-tests"))
}

/// What a run produced.
pub struct Run {
    pub result: Result<Summary, singer_target::Error>,
    /// The STATE lines written.
    pub states: Vec<String>,
    /// The loader, to query the tables.
    pub loader: SnowflakeLoader,
    /// The order of commits and STATE lines.
    pub events: Vec<Event>,
}

/// One thing that happened, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A batch was written (committed) holding these first cells.
    Committed(Vec<String>),
    /// A STATE line.
    State(String),
}

/// Runs `input` through the driver into Snowflake.
pub fn run(config: &SnowflakeConfig, input: &str) -> Run {
    run_with(config, input, |_| {})
}

/// [`run`], with `prepare` given the loader first (test overrides).
pub fn run_with(
    config: &SnowflakeConfig,
    input: &str,
    prepare: impl FnOnce(&mut SnowflakeLoader),
) -> Run {
    let mut loader = SnowflakeLoader::new(config).expect("loader");
    prepare(&mut loader);
    let events: Arc<Mutex<Vec<Event>>> = Arc::default();
    let recording = Recording {
        inner: loader,
        events: Arc::clone(&events),
    };
    let mut out = Writer::new(SharedOut {
        events: Arc::clone(&events),
        buffer: Vec::new(),
    });
    let mut driver = Driver::new(recording, config.driver_config());
    let result = driver.run(io::Cursor::new(input.to_owned()), &mut out);
    let _ = out.flush();
    let states = events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            Event::State(s) => Some(s.clone()),
            Event::Committed(_) => None,
        })
        .collect();
    let events = events.lock().unwrap().clone();
    Run {
        result,
        states,
        loader: driver.into_loader().inner,
        events,
    }
}

/// Runs and expects success.
pub fn load(config: &SnowflakeConfig, input: &str) -> Run {
    let run = run(config, input);
    if let Err(error) = &run.result {
        panic!("load failed: {error:#}\n{}", chain(error));
    }
    run
}

pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

struct Recording {
    inner: SnowflakeLoader,
    events: Arc<Mutex<Vec<Event>>>,
}

impl Loader for Recording {
    type Error = Error;
    fn configure_stream(&mut self, schema: &StreamSchema) -> Result<(), Error> {
        self.inner.configure_stream(schema)
    }
    fn write_batch(&mut self, stream: &str, batch: &Batch) -> Result<(), Error> {
        self.inner.write_batch(stream, batch)?;
        let first: Vec<String> = batch
            .rows()
            .map(|r| r.get(0).unwrap_or("null").to_owned())
            .collect();
        self.events.lock().unwrap().push(Event::Committed(first));
        Ok(())
    }
    fn commit(&mut self) -> Result<(), Error> {
        self.inner.commit()
    }
    fn activate_version(&mut self, stream: &str, version: u64) -> Result<(), Error> {
        self.inner.activate_version(stream, version)
    }
}

struct SharedOut {
    events: Arc<Mutex<Vec<Event>>>,
    buffer: Vec<u8>,
}

impl Write for SharedOut {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(data);
        while let Some(end) = self.buffer.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.buffer.drain(..=end).collect();
            let text = String::from_utf8_lossy(&line).trim_end().to_owned();
            self.events.lock().unwrap().push(Event::State(text));
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Rows of a query, every cell as text (NULL = `None`).
pub fn rows(loader: &mut SnowflakeLoader, sql: &str) -> Vec<Vec<Option<String>>> {
    let sql = &schema_sql(sql);
    loader
        .query_text(sql)
        .unwrap_or_else(|e| panic!("{sql}: {}", chain(&e)))
}

/// Rows of a query as `|`-joined text (`∅` for NULL), for compact asserts.
pub fn lines(loader: &mut SnowflakeLoader, sql: &str) -> Vec<String> {
    rows(loader, sql)
        .into_iter()
        .map(|row| {
            row.into_iter()
                .map(|c| c.unwrap_or_else(|| "∅".to_owned()))
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect()
}

/// The columns of a table as `NAME TYPE` (from information_schema).
pub fn columns(loader: &mut SnowflakeLoader, schema: &str, table: &str) -> Vec<String> {
    let sql = format!(
        "SELECT column_name, data_type, character_maximum_length, numeric_precision, numeric_scale \
         FROM information_schema.columns WHERE table_schema = '{schema}' AND table_name = '{table}' \
         ORDER BY ordinal_position"
    );
    rows(loader, &sql)
        .into_iter()
        .map(|r| {
            let name = r[0].clone().unwrap_or_default();
            let ty = r[1].clone().unwrap_or_default();
            let detail = match (ty.as_str(), &r[2], &r[3], &r[4]) {
                ("TEXT", Some(n), _, _) if n != "16777216" => format!("({n})"),
                ("NUMBER", _, Some(p), Some(s)) => format!("({p},{s})"),
                _ => String::new(),
            };
            format!("{name} {ty}{detail}")
        })
        .collect()
}

/// Singer lines from JSON values.
pub fn messages(values: &[serde_json::Value]) -> String {
    let mut text = String::new();
    for value in values {
        text.push_str(&value.to_string());
        text.push('\n');
    }
    text
}
