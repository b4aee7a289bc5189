//! Logging on stderr and the one writer over stdout.

use std::io::{BufWriter, StdoutLock};

use singer_protocol::Writer;

use crate::progress::{LogWriter, TerminalProgress};

/// The Singer writer over stdout, the one place a binary takes stdout.
pub type Stdout = Writer<BufWriter<StdoutLock<'static>>>;

/// Installs the tracing subscriber: stderr, no colours, `level` (a level or
/// a `RUST_LOG`-style filter), else `RUST_LOG`, else `info`.
pub fn init_logging(level: Option<&str>) {
    init_logging_with_progress(level, None);
}

/// [`init_logging`], with log lines drawn above `progress`'s lines.
pub fn init_logging_with_progress(level: Option<&str>, progress: Option<&TerminalProgress>) {
    let filter = level
        .map(tracing_subscriber::EnvFilter::new)
        .or_else(|| tracing_subscriber::EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new("info"));
    let writer = LogWriter(progress.cloned());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();
}

/// The Singer writer over stdout (buffered; STATE lines are flushed).
#[must_use]
pub fn stdout() -> Stdout {
    #[expect(
        clippy::disallowed_methods,
        reason = "the one place that takes stdout: the Singer writer owns it"
    )]
    let stdout = std::io::stdout();
    crate::widen_pipe(&stdout);
    Writer::new(BufWriter::with_capacity(1 << 16, stdout.lock()))
}
