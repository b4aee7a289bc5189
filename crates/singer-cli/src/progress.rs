//! Live progress lines on a terminal: one line per stream with its rows and
//! rows per second (and, when the tap knows the table's row estimate, a bar
//! with percent done and ETA), redrawn a few times a second. Only when
//! stderr is a terminal: in a pipe (Meltano, Airflow, CI) stderr gets the
//! plain log lines and Singer `METRIC` lines as before.

use std::collections::HashMap;
use std::io::{IsTerminal as _, Write};
use std::sync::{Arc, Mutex};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use singer_protocol::{Progress, ProgressSink};

/// The progress lines of one run.
#[derive(Debug, Clone)]
pub struct TerminalProgress {
    multi: MultiProgress,
    bars: Arc<Mutex<HashMap<String, ProgressBar>>>,
}

impl TerminalProgress {
    /// Progress lines for a tap: on stderr if it is a terminal, unless
    /// stdout is a pipe. In `tap | target` at a terminal both processes
    /// share it, and the target, which sees what arrives, draws the lines.
    #[must_use]
    pub fn for_tap() -> Option<Self> {
        if stdout_is_pipe() {
            return None;
        }
        Self::on_terminal()
    }

    /// Progress lines on stderr, if stderr is a terminal.
    #[must_use]
    pub fn on_terminal() -> Option<Self> {
        std::io::stderr().is_terminal().then(|| Self {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(4)),
            bars: Arc::default(),
        })
    }

    /// The handle libraries report to.
    #[must_use]
    pub fn progress(&self) -> Progress {
        Progress::new(Arc::new(self.clone()))
    }

    /// Writes a log line above the progress lines.
    fn write_log(&self, buf: &[u8]) -> std::io::Result<()> {
        self.multi.suspend(|| std::io::stderr().write_all(buf))
    }

    fn bar(&self, stream: &str, estimate: Option<u64>) -> Option<ProgressBar> {
        let mut bars = self.bars.lock().ok()?;
        if let Some(bar) = bars.get(stream) {
            return Some(bar.clone());
        }
        let bar = match estimate {
            Some(rows) => ProgressBar::new(rows),
            None => ProgressBar::no_length(),
        };
        if let Some(style) = live_style(estimate.is_some()) {
            bar.set_style(style);
        }
        bar.set_prefix(stream.to_owned());
        let bar = self.multi.add(bar);
        bars.insert(stream.to_owned(), bar.clone());
        Some(bar)
    }
}

/// The style of a stream's line while it moves: with a bar, percent and
/// ETA when the row estimate is known.
fn live_style(estimated: bool) -> Option<ProgressStyle> {
    let template = if estimated {
        "{prefix} {bar:30} {human_pos}/~{human_len} rows, {rate}, {percent}%, ETA {eta}"
    } else {
        "{prefix} {human_pos} rows, {rate}"
    };
    let style = ProgressStyle::with_template(template).ok()?;
    Some(style.progress_chars("=> ").with_key(
        "rate",
        |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = w.write_str(&rate(state.pos(), state.elapsed()));
        },
    ))
}

impl ProgressSink for TerminalProgress {
    fn update(&self, stream: &str, records: u64, estimate: Option<u64>) {
        if let Some(bar) = self.bar(stream, estimate) {
            if bar.is_finished() {
                // A stream read again (LOG_BASED reads the change stream
                // in rounds): the line moves again.
                if let Some(style) = live_style(bar.length().is_some()) {
                    bar.set_style(style);
                }
                bar.reset();
            }
            // An estimate is only an estimate: never show more than 100%.
            if bar.length().is_some_and(|len| records > len) {
                bar.set_length(records);
            }
            bar.set_position(records);
        }
    }

    fn finish(&self, stream: &str, records: u64) {
        if let Some(bar) = self.bar(stream, None) {
            // The line stays as it was at the end: the rate and time of the
            // whole stream, no longer recomputed at each redraw.
            let elapsed = bar.elapsed();
            bar.set_message(format!(
                "{}, done in {:.1} s",
                rate(records, elapsed),
                elapsed.as_secs_f64()
            ));
            let template = if bar.length().is_some() {
                bar.set_length(records);
                "{prefix} {bar:30} {human_pos} rows, {msg}"
            } else {
                "{prefix} {human_pos} rows, {msg}"
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_position(records);
            bar.finish();
        }
    }
}

/// Rows per second over the whole of `elapsed` (an average, steady from
/// one redraw to the next; indicatif's own estimate follows the last few
/// updates and jumps when they come in bursts), or `… rows/s` while too
/// little time has passed to tell.
fn rate(records: u64, elapsed: std::time::Duration) -> String {
    let seconds = elapsed.as_secs_f64();
    if seconds < 0.5 {
        return "… rows/s".to_owned();
    }
    #[allow(
        clippy::cast_precision_loss,
        reason = "a displayed rate: 2^53 rows would be needed to lose a unit"
    )]
    let records = records as f64;
    format!("{:.0} rows/s", records / seconds)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::rate;

    #[test]
    fn the_rate_is_the_average_since_the_start_and_waits_for_time_to_pass() {
        assert_eq!(rate(4_000, Duration::from_millis(10)), "… rows/s");
        assert_eq!(rate(4_000, Duration::from_secs(2)), "2000 rows/s");
        assert_eq!(rate(0, Duration::from_secs(3)), "0 rows/s");
        assert_eq!(
            rate(1_000_000, Duration::from_millis(1_600)),
            "625000 rows/s"
        );
    }
}

/// Whether this process's stdout is a pipe (Linux: what `/proc/self/fd/1`
/// names).
fn stdout_is_pipe() -> bool {
    use std::os::unix::fs::FileTypeExt as _;
    std::fs::metadata("/proc/self/fd/1").is_ok_and(|m| m.file_type().is_fifo())
}

/// stderr for the log, drawn above the progress lines when there are any.
#[derive(Debug, Clone)]
pub(crate) struct LogWriter(pub(crate) Option<TerminalProgress>);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &self.0 {
            Some(progress) => progress.write_log(buf).map(|()| buf.len()),
            None => std::io::stderr().write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
