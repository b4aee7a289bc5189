//! Running the two programs: the relay between them, the state lines, the
//! logs, the signals and the end.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use singer_state::State;
use tracing::{info, warn};

use crate::config::Job;
use crate::error::{Error, Result};
use crate::summary::{Side, Summary};

/// The relay's buffer.
const RELAY_BUFFER: usize = 1 << 20;

/// Runs `job` to its end and returns what happened (the exit code is
/// [`Summary::exit_code`]).
///
/// # Errors
///
/// [`Error::AlreadyRunning`] when another run of the job holds its lock; a
/// store, file or process error that keeps the job from running or from
/// saving a state. A side that fails is not an error: it is in the
/// summary's statuses.
pub fn run(job: &Job) -> Result<Summary> {
    let started = Instant::now();
    let mut store = job.backend.open(&job.id)?;
    info!(job = %job.id, backend = %job.backend, "Job lock taken.");
    let state = store.load(&job.id)?;
    let state_file = match &state {
        Some(state) => Some(TempFile(write_state_file(&job.id, state)?)),
        None => None,
    };
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .map_err(Error::io("handling", "SIGTERM and SIGINT"))?;
    }

    let mut tap_command = command(&job.tap);
    if let Some(TempFile(path)) = &state_file {
        tap_command.arg("--state").arg(path);
        info!(job = %job.id, "Resuming from the saved state.");
    } else {
        info!(job = %job.id, "No saved state: the tap starts from the beginning.");
    }
    let mut tap = tap_command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(Error::io("starting the tap", program(&job.tap)))?;
    let mut target = match command(&job.target)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(source) => {
            let _ = tap.kill();
            let _ = tap.wait();
            return Err(Error::Io {
                action: "starting the target",
                what: program(&job.target),
                source,
            });
        }
    };
    let pids = [tap.id(), target.id()];
    let metrics = Arc::new(Mutex::new(Metrics::default()));
    let done = Arc::new(AtomicBool::new(false));

    let relay = spawn_relay(tap.stdout.take(), target.stdin.take());
    let tap_log = spawn_log(tap.stderr.take(), Side::Tap, Arc::clone(&metrics));
    let target_log = spawn_log(target.stderr.take(), Side::Target, Arc::clone(&metrics));
    let watcher = {
        let (stop, done) = (Arc::clone(&stop), Arc::clone(&done));
        std::thread::spawn(move || watch(&stop, &done, pids))
    };

    // The target's stdout: one state per line, saved before the next.
    let mut summary = Summary {
        job: job.id.clone(),
        ..Summary::default()
    };
    let mut save_error = None;
    if let Some(stdout) = target.stdout.take() {
        let mut reader = BufReader::new(stdout);
        let mut bytes = Vec::new();
        while reader.read_until(b'\n', &mut bytes).is_ok_and(|n| n > 0) {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            bytes.clear();
            let line = text.trim();
            if line.is_empty() {
                continue;
            }
            // A state is a JSON object; anything else (a stray log line,
            // `null`) is not saved over the last good state.
            let parsed = if line.starts_with('{') {
                State::from_json(line).ok()
            } else {
                None
            };
            match parsed.ok_or(()) {
                Ok(state) => {
                    if let Err(error) = store.save(&job.id, &state) {
                        // Nothing later may be saved over a failed save:
                        // stop both sides.
                        stop.store(true, Ordering::Relaxed);
                        save_error = Some(error);
                        break;
                    }
                    summary.states_saved += 1;
                }
                Err(_) => {
                    let cut: String = line.chars().take(200).collect();
                    warn!(job = %job.id, line = %cut, "The target wrote a line on stdout that is not a Singer state; ignoring it.");
                }
            }
        }
    }
    let (target_status, target_cpu) = reap(&mut target);
    let (tap_status, tap_cpu) = reap(&mut tap);
    done.store(true, Ordering::Relaxed);
    let _ = watcher.join();
    let relayed = relay.join().unwrap_or_default();
    let _ = tap_log.join();
    let _ = target_log.join();
    if let Some(error) = save_error {
        return Err(error);
    }
    let metrics = metrics.lock().map(|m| m.clone()).unwrap_or_default();
    summary.seconds = started.elapsed().as_secs_f64();
    summary.tap_status = tap_status;
    summary.target_status = target_status;
    summary.tap_cpu = tap_cpu;
    summary.target_cpu = target_cpu;
    summary.wait_on_tap = relayed.wait_on_tap.as_secs_f64();
    summary.wait_on_target = relayed.wait_on_target.as_secs_f64();
    summary.bytes = relayed.bytes;
    summary.extracted = metrics.tap;
    summary.records = if metrics.target.is_empty() {
        summary.extracted.clone()
    } else {
        metrics.target
    };
    summary.stopped = stop.load(Ordering::Relaxed);
    Ok(summary)
}

/// A side's command, in its own process group: a Ctrl-C or an
/// orchestrator's signal to the runner's group reaches the runner only,
/// which passes one SIGTERM on (a second signal would make a target stop
/// without committing).
fn command(words: &[String]) -> Command {
    use std::os::unix::process::CommandExt as _;
    let mut command = Command::new(words.first().map_or("", String::as_str));
    command.args(words.iter().skip(1)).process_group(0);
    command
}

fn program(words: &[String]) -> String {
    words.first().cloned().unwrap_or_default()
}

/// Writes the saved state where the tap can read it (`--state FILE`).
fn write_state_file(job: &str, state: &State) -> Result<PathBuf> {
    let safe: String = job
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .take(64)
        .collect();
    let path = std::env::temp_dir().join(format!("singer-run-{safe}-{}.json", std::process::id()));
    std::fs::write(&path, state.to_json())
        .map_err(Error::io("writing", path.display().to_string()))?;
    Ok(path)
}

/// A file removed when dropped (the saved state handed to the tap).
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// What the relay measured.
#[derive(Debug, Default)]
struct Relayed {
    bytes: u64,
    wait_on_tap: Duration,
    wait_on_target: Duration,
}

/// Copies the tap's stdout to the target's stdin, timing the waits on
/// each side; closes the target's stdin at the tap's end of output (or
/// stops when the target has gone, which closes the tap's pipe too).
fn spawn_relay(
    from: Option<ChildStdout>,
    to: Option<ChildStdin>,
) -> std::thread::JoinHandle<Relayed> {
    std::thread::spawn(move || {
        let mut relayed = Relayed::default();
        let (Some(mut from), Some(mut to)) = (from, to) else {
            return relayed;
        };
        let mut buffer = vec![0; RELAY_BUFFER];
        loop {
            let waiting = Instant::now();
            let n = match from.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            relayed.wait_on_tap += waiting.elapsed();
            let writing = Instant::now();
            if to.write_all(buffer.get(..n).unwrap_or_default()).is_err() {
                break;
            }
            relayed.wait_on_target += writing.elapsed();
            relayed.bytes += n as u64;
        }
        relayed
    })
}

/// Records per stream from each side's `METRIC record_count` lines.
#[derive(Debug, Default, Clone)]
struct Metrics {
    tap: BTreeMap<String, u64>,
    target: BTreeMap<String, u64>,
}

/// Forwards a side's stderr line by line with a `[tap]`/`[target]` prefix,
/// counting its `record_count` metrics.
fn spawn_log(
    from: Option<std::process::ChildStderr>,
    side: Side,
    metrics: Arc<Mutex<Metrics>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let Some(from) = from else { return };
        let prefix = format!("[{}] ", side.as_str());
        let mut reader = BufReader::new(from);
        let mut line = Vec::new();
        while reader.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
            if let Some((stream, value)) = record_count(&line)
                && let Ok(mut metrics) = metrics.lock()
            {
                let counts = match side {
                    Side::Tap => &mut metrics.tap,
                    Side::Target => &mut metrics.target,
                };
                *counts.entry(stream).or_default() += value;
            }
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(prefix.as_bytes());
            let _ = err.write_all(&line);
            if !line.ends_with(b"\n") {
                let _ = err.write_all(b"\n");
            }
            line.clear();
        }
    })
}

/// The stream and value of a Singer `METRIC` `record_count` counter line
/// (`… METRIC: {"type":"counter","metric":"record_count","value":N,
/// "tags":{"stream":"…"}}`), as the Meltano SDK and our binaries log it.
fn record_count(line: &[u8]) -> Option<(String, u64)> {
    let text = std::str::from_utf8(line).ok()?;
    let (_, json) = text.split_once("METRIC: ")?;
    let metric: serde_json::Value = serde_json::from_str(json.trim()).ok()?;
    if metric.get("metric")?.as_str()? != "record_count" {
        return None;
    }
    let tags = metric.get("tags")?;
    let stream = tags
        .get("stream")
        .or_else(|| tags.get("endpoint"))?
        .as_str()?
        .to_owned();
    Some((stream, metric.get("value")?.as_u64()?))
}

/// Passes a stop request (SIGTERM, SIGINT, a failed save) to both sides
/// as SIGTERM, once.
fn watch(stop: &AtomicBool, done: &AtomicBool, pids: [u32; 2]) {
    while !done.load(Ordering::Relaxed) {
        if stop.load(Ordering::Relaxed) {
            warn!("Stopping: passing SIGTERM to the tap and the target.");
            for pid in pids {
                let _ = Command::new("kill")
                    .args(["-TERM", &pid.to_string()])
                    .stderr(Stdio::null())
                    .status();
            }
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits for `child` to end and returns its status and CPU seconds (read
/// from `/proc` while it is a zombie, before it is reaped).
fn reap(child: &mut Child) -> (Option<ExitStatus>, f64) {
    let stat = format!("/proc/{}/stat", child.id());
    let mut cpu = 0.0;
    while let Ok(text) = std::fs::read_to_string(&stat) {
        let Some((_, rest)) = text.rsplit_once(") ") else {
            break;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        // utime and stime, fields 14 and 15 of stat (clock ticks of 1/100 s).
        cpu = (ticks(11) + ticks(12)) / 100.0;
        if fields.first().is_some_and(|s| *s == "Z" || *s == "X") {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    (child.wait().ok(), cpu)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_count_metrics_are_read_from_log_lines() {
        let line = br#"2026-12-06T08:00:00Z  INFO tap_postgres: METRIC: {"type":"counter","metric":"record_count","value":1024,"tags":{"stream":"public-issues"}}"#;
        assert_eq!(record_count(line), Some(("public-issues".to_owned(), 1024)));
        let sdk = br#"INFO METRIC: {"type": "counter", "metric": "record_count", "value": 7, "tags": {"stream": "users", "pid": 1}}"#;
        assert_eq!(record_count(sdk), Some(("users".to_owned(), 7)));
        assert_eq!(
            record_count(
                br#"METRIC: {"type":"timer","metric":"sync_duration","value":1.5,"tags":{}}"#
            ),
            None
        );
        assert_eq!(record_count(b"no metric here"), None);
    }
}
