//! One attempt of the pipeline: `tap-postgres | <target>` started, killed
//! per its [`Stage`] when the trigger fires, and waited for.

use std::fmt::Write as _;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::{Destination, Rng, Stage};
use crate::error::{Error, Result, io};

/// One attempt of the pipeline.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// 1-based.
    pub number: usize,
    /// The kill planned for it, if any.
    pub stage: Option<Stage>,
    /// What triggered the kill (or why it did not land).
    pub trigger: String,
    /// Whether a kill hit a running process.
    pub landed: bool,
    /// The tap's exit.
    pub tap: String,
    /// The target's exit.
    pub target: String,
    /// STATE lines the target wrote.
    pub states: usize,
    /// FULL_TABLE rows this attempt committed past the last STATE the
    /// target wrote (a kill between a commit and its STATE line): the
    /// resumed copy sends them again, so they are duplicates by
    /// construction unless the destination upserts.
    pub uncovered: usize,
    /// Bytes the destination grew by (net: an activated version removes
    /// the files of earlier ones).
    pub bytes: u64,
    /// Wall time.
    pub elapsed: Duration,
}

/// Runs one attempt and kills per `stage`.
#[expect(
    clippy::too_many_arguments,
    reason = "one call site; a struct would only rename them"
)]
pub(super) fn attempt(
    number: usize,
    stage: Option<Stage>,
    rng: &mut Rng,
    run_bytes: u64,
    tap: &Path,
    tap_config: &Path,
    catalog: &Path,
    state: Option<&Path>,
    destination: &dyn Destination,
    logs: &Path,
) -> Result<Attempt> {
    let started = Instant::now();
    let bytes_before = destination.progress();
    let commits_before = destination.commits();
    let log = |suffix: &str| {
        let path = logs.join(format!("{number}.{suffix}"));
        File::create(&path).map_err(io("creating", path))
    };
    let mut tap_command = Command::new(tap);
    tap_command
        .arg("--config")
        .arg(tap_config)
        .arg("--catalog")
        .arg(catalog);
    if let Some(state) = state {
        tap_command.arg("--state").arg(state);
    }
    let mut tap_child = tap_command
        .stdout(Stdio::piped())
        .stderr(log("tap.log")?)
        .spawn()
        .map_err(io("starting", tap))?;
    let tap_stdout = tap_child.stdout.take().ok_or_else(|| Error::Scenario {
        reason: "the tap's stdout was not captured".to_owned(),
    })?;
    let mut target_child = match destination
        .command()
        .stdin(Stdio::from(tap_stdout))
        .stdout(log("states")?)
        .stderr(log("target.log")?)
        .spawn()
    {
        Ok(child) => child,
        Err(error) => {
            let _ = tap_child.kill();
            let _ = tap_child.wait();
            return Err(Error::Io {
                action: "starting",
                path: PathBuf::from(destination.name()),
                source: error,
            });
        }
    };

    // The kill point.
    let threshold = rng.between(1, run_bytes);
    let nth_commit = rng.between(1, 4);
    let delay = Duration::from_millis(rng.between(0, 300));
    let mut trigger = String::new();
    let mut landed = false;
    if let Some(stage) = stage {
        loop {
            let grown = destination.progress().saturating_sub(bytes_before);
            let fire = match stage {
                Stage::TapStart => started.elapsed() >= delay,
                Stage::TapRead | Stage::TargetMidBatch | Stage::Both => grown >= threshold,
                Stage::TargetAfterCommit => {
                    destination.commits().saturating_sub(commits_before) >= nth_commit
                }
            };
            let tap_running = matches!(tap_child.try_wait(), Ok(None));
            let target_running = matches!(target_child.try_wait(), Ok(None));
            if fire {
                trigger = match stage {
                    Stage::TapStart => format!("after {} ms", delay.as_millis()),
                    Stage::TargetAfterCommit => format!("after commit #{nth_commit}"),
                    _ => format!("after {grown} B (≥ {threshold})"),
                };
                let (kill_tap, kill_target) = match stage {
                    Stage::TapStart | Stage::TapRead => (true, false),
                    Stage::TargetMidBatch | Stage::TargetAfterCommit => (false, true),
                    Stage::Both => (true, true),
                };
                // SIGKILL (std's Child::kill): no handler runs.
                if kill_tap && tap_running && tap_child.kill().is_ok() {
                    landed = true;
                }
                if kill_target && target_running && target_child.kill().is_ok() {
                    landed = true;
                }
                if !landed {
                    trigger.push_str(", too late");
                }
                break;
            }
            if !tap_running && !target_running {
                trigger = "finished first".to_owned();
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let target_status = wait_bounded(&mut target_child, Duration::from_secs(120));
    // With the target gone the tap fails on its next write; it must not hang.
    let tap_status = wait_bounded(&mut tap_child, Duration::from_secs(60));
    let states_path = logs.join(format!("{number}.states"));
    let states = std::fs::read_to_string(&states_path)
        .map_err(io("reading", &states_path))?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count();
    Ok(Attempt {
        number,
        stage,
        trigger,
        landed,
        tap: describe(tap_status),
        target: describe(target_status),
        states,
        uncovered: 0,
        bytes: destination.progress().saturating_sub(bytes_before),
        elapsed: started.elapsed(),
    })
}

/// Waits for `child` up to `limit`, then kills it (and says so).
fn wait_bounded(child: &mut Child, limit: Duration) -> std::result::Result<ExitStatus, String> {
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status),
            Ok(None) if started.elapsed() < limit => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("hung > {} s", limit.as_secs()));
            }
            Err(error) => return Err(error.to_string()),
        }
    }
}

/// How a process ended, in a word or two for the report.
fn describe(status: std::result::Result<ExitStatus, String>) -> String {
    use std::os::unix::process::ExitStatusExt as _;
    match status {
        Ok(status) if status.success() => "ok".to_owned(),
        Ok(status) => status.code().map_or_else(
            || format!("signal {}", status.signal().unwrap_or_default()),
            |code| format!("exit {code}"),
        ),
        Err(why) => why,
    }
}

/// An exit status of 1, for an attempt that failed without a kill.
pub(super) fn exit_status_failure() -> ExitStatus {
    use std::os::unix::process::ExitStatusExt as _;
    ExitStatus::from_raw(1 << 8)
}

/// The last lines of attempt `number`'s tap and target logs.
pub(super) fn tail_of_logs(logs: &Path, number: usize) -> String {
    let mut text = String::new();
    for suffix in ["tap.log", "target.log"] {
        let path = logs.join(format!("{number}.{suffix}"));
        let content = std::fs::read_to_string(&path).unwrap_or_default();
        let lines: Vec<&str> = content.lines().collect();
        let _ = writeln!(text, "--- {}", path.display());
        for line in lines.iter().skip(lines.len().saturating_sub(15)) {
            let _ = writeln!(text, "{line}");
        }
    }
    text
}
