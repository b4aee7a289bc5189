//! What a job run did: records per stream, time, exit statuses, and which
//! side held the pipe back.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

/// One side of the pipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The tap.
    Tap,
    /// The target.
    Target,
}

impl Side {
    /// `tap` or `target`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Tap => "tap",
            Self::Target => "target",
        }
    }
}

/// Which side set the pace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bottleneck {
    /// The relay mostly waited for the tap's output: the tap (or the
    /// source database behind it) is the slower side.
    Tap,
    /// The relay mostly waited for the target to take input.
    Target,
}

/// The end of a job run.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// The job id.
    pub job: String,
    /// Wall time, seconds.
    pub seconds: f64,
    /// How the tap ended (`None`: never started).
    pub tap_status: Option<ExitStatus>,
    /// How the target ended.
    pub target_status: Option<ExitStatus>,
    /// The tap's CPU seconds (user + system).
    pub tap_cpu: f64,
    /// The target's CPU seconds.
    pub target_cpu: f64,
    /// Seconds the relay waited for the tap to write.
    pub wait_on_tap: f64,
    /// Seconds the relay waited for the target to read.
    pub wait_on_target: f64,
    /// Bytes relayed from the tap to the target.
    pub bytes: u64,
    /// Records per stream the target reported (`METRIC record_count`),
    /// else the tap's.
    pub records: BTreeMap<String, u64>,
    /// Records per stream the tap reported.
    pub extracted: BTreeMap<String, u64>,
    /// State lines the target wrote, each saved before the next was read.
    pub states_saved: u64,
    /// Whether the runner was asked to stop (SIGTERM or SIGINT).
    pub stopped: bool,
}

impl Summary {
    /// The exit code: 0 when both sides succeeded; else the target's code
    /// when it failed, else the tap's; a side killed by a signal is
    /// 128 + the signal.
    #[must_use]
    pub fn exit_code(&self) -> i32 {
        let code = |status: Option<ExitStatus>| match status {
            None => 1,
            Some(s) => s
                .code()
                .or_else(|| s.signal().map(|n| 128 + n))
                .unwrap_or(1),
        };
        let (tap, target) = (code(self.tap_status), code(self.target_status));
        if target != 0 { target } else { tap }
    }

    /// The slower side, from where the relay waited (CPU breaks a tie).
    #[must_use]
    pub fn bottleneck(&self) -> Bottleneck {
        let tap = self.wait_on_tap;
        if (tap - self.wait_on_target).abs() < 0.01 {
            return if self.target_cpu > self.tap_cpu {
                Bottleneck::Target
            } else {
                Bottleneck::Tap
            };
        }
        if self.wait_on_target > tap {
            Bottleneck::Target
        } else {
            Bottleneck::Tap
        }
    }

    /// The summary as lines for the log.
    #[must_use]
    pub fn to_text(&self) -> String {
        let mut text = String::new();
        let status =
            |s: Option<ExitStatus>| s.map_or_else(|| "not started".to_owned(), |s| s.to_string());
        let _ = writeln!(
            text,
            "job {}: {:.1} s, exit {} (tap {}, target {}), {} states saved, {:.1} MB relayed{}",
            self.job,
            self.seconds,
            self.exit_code(),
            status(self.tap_status),
            status(self.target_status),
            self.states_saved,
            self.bytes as f64 / 1e6,
            if self.stopped {
                ", stopped by a signal"
            } else {
                ""
            }
        );
        let bottleneck = match self.bottleneck() {
            Bottleneck::Tap => "the tap (the relay waited on its output)",
            Bottleneck::Target => "the target (the relay waited for it to read)",
        };
        let _ = writeln!(
            text,
            "  CPU: tap {:.2} s, target {:.2} s; relay waited {:.2} s on the tap, {:.2} s on the target; bottleneck: {bottleneck}",
            self.tap_cpu, self.target_cpu, self.wait_on_tap, self.wait_on_target
        );
        let mut streams: Vec<&String> = self.records.keys().chain(self.extracted.keys()).collect();
        streams.sort();
        streams.dedup();
        for stream in streams {
            let loaded = self.records.get(stream).copied().unwrap_or(0);
            let extracted = self.extracted.get(stream).copied().unwrap_or(0);
            let _ = writeln!(
                text,
                "  stream {stream}: {loaded} records loaded ({extracted} extracted)"
            );
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: i32) -> Option<ExitStatus> {
        Some(ExitStatus::from_raw(code << 8))
    }

    #[test]
    fn the_target_failure_wins_then_the_taps() {
        let mut summary = Summary {
            tap_status: status(0),
            target_status: status(0),
            ..Summary::default()
        };
        assert_eq!(summary.exit_code(), 0);
        summary.tap_status = status(1);
        assert_eq!(summary.exit_code(), 1);
        summary.target_status = status(2);
        assert_eq!(summary.exit_code(), 2);
        summary.target_status = Some(ExitStatus::from_raw(9));
        assert_eq!(summary.exit_code(), 137);
        summary.target_status = None;
        assert_eq!(summary.exit_code(), 1);
    }

    #[test]
    fn the_bottleneck_is_the_side_the_relay_waited_on() {
        let summary = Summary {
            wait_on_tap: 0.1,
            wait_on_target: 2.0,
            ..Summary::default()
        };
        assert_eq!(summary.bottleneck(), Bottleneck::Target);
        let summary = Summary {
            wait_on_tap: 3.0,
            wait_on_target: 0.2,
            ..Summary::default()
        };
        assert_eq!(summary.bottleneck(), Bottleneck::Tap);
    }
}
