//! What a scenario did and found: the attempts, the checks, the failures,
//! and the text for a human.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use super::{Attempt, Check, Stage};

/// What a scenario did and found.
#[derive(Debug, Clone)]
pub struct Report {
    /// The destination's name.
    pub destination: String,
    /// The scenario's seed.
    pub seed: u64,
    /// Every attempt, in order.
    pub attempts: Vec<Attempt>,
    /// The comparisons of destination and source after each clean run and
    /// each completed FULL_TABLE copy.
    pub checks: Vec<Check>,
    /// Whether the destination upserts.
    pub upserts: bool,
    /// Wall time of the whole scenario (seeding excluded).
    pub elapsed: Duration,
}

impl Report {
    /// Kills that hit a running process.
    #[must_use]
    pub fn kills(&self) -> usize {
        self.attempts.iter().filter(|a| a.landed).count()
    }

    /// Landed kills per stage.
    #[must_use]
    pub fn kills_by_stage(&self) -> BTreeMap<Stage, usize> {
        let mut by_stage = BTreeMap::new();
        for attempt in self.attempts.iter().filter(|a| a.landed) {
            if let Some(stage) = attempt.stage {
                *by_stage.entry(stage).or_insert(0) += 1;
            }
        }
        by_stage
    }

    /// Every violated expectation, in words; empty when the destination
    /// matches the source.
    #[must_use]
    pub fn failures(&self) -> Vec<String> {
        let mut failures = Vec::new();
        for check in self
            .checks
            .iter()
            .flat_map(|c| c.streams.iter().map(move |s| (c.after_attempt, s)))
        {
            let (after, check) = check;
            if check.missing > 0 {
                failures.push(format!(
                    "after attempt {after}: {}: {} source rows missing from the destination (e.g. keys {:?})",
                    check.stream, check.missing, check.missing_sample
                ));
            }
            if check.unknown > 0 {
                failures.push(format!(
                    "after attempt {after}: {}: {} destination keys not in the source",
                    check.stream, check.unknown
                ));
            }
            let allowed = if self.upserts || !check.full_table {
                0
            } else {
                check.expected_duplicates
            };
            if (check.full_table || self.upserts) && check.duplicates > allowed {
                failures.push(format!(
                    "after attempt {after}: {}: {} duplicate rows where at most {allowed} are explained by kills between a commit and its STATE line ({} rows for {} source rows){}",
                    check.stream,
                    check.duplicates,
                    check.destination_rows,
                    check.source_rows,
                    if self.upserts {
                        " in an upserting destination"
                    } else {
                        " in the activated FULL_TABLE version"
                    }
                ));
            }
        }
        failures
    }

    /// The report as text for a human.
    #[must_use]
    pub fn to_text(&self) -> String {
        let mut text = String::new();
        let _ = writeln!(
            text,
            "crash/resume against {} (seed {:#x}): {} attempts, {} kills landed, {:.1} s",
            self.destination,
            self.seed,
            self.attempts.len(),
            self.kills(),
            self.elapsed.as_secs_f64()
        );
        let window: Vec<&Attempt> = self.attempts.iter().filter(|a| a.uncovered > 0).collect();
        let _ = writeln!(
            text,
            "  {} kills landed between a commit and its STATE line ({} FULL_TABLE rows committed past the last STATE written)",
            window.len(),
            window.iter().map(|a| a.uncovered).sum::<usize>()
        );
        for (stage, n) in self.kills_by_stage() {
            let _ = writeln!(text, "  {:<22} {n:>4} kills", stage.as_str());
        }
        let _ = writeln!(
            text,
            "  {:>3}  {:<20} {:<30} {:<14} {:<14} {:>6} {:>9} {:>11} {:>7}",
            "#", "stage", "trigger", "tap", "target", "states", "uncovered", "Δbytes", "s"
        );
        for a in &self.attempts {
            let _ = writeln!(
                text,
                "  {:>3}  {:<20} {:<30} {:<14} {:<14} {:>6} {:>9} {:>11} {:>7.2}",
                a.number,
                a.stage.map_or("(none)", Stage::as_str),
                a.trigger,
                a.tap,
                a.target,
                a.states,
                a.uncovered,
                a.bytes,
                a.elapsed.as_secs_f64()
            );
        }
        for (after, c) in self
            .checks
            .iter()
            .flat_map(|c| c.streams.iter().map(move |s| (c.after_attempt, s)))
        {
            let _ = writeln!(
                text,
                "  after #{after:<3} {:<20} {:<11} source {:>8} rows, destination {:>8} rows, {:>6} duplicates{}, {} missing, {} unknown",
                c.stream,
                if c.full_table {
                    "FULL_TABLE"
                } else {
                    "INCREMENTAL"
                },
                c.source_rows,
                c.destination_rows,
                c.duplicates,
                if c.full_table {
                    format!(" (≤ {} allowed)", c.expected_duplicates)
                } else {
                    String::new()
                },
                c.missing,
                c.unknown
            );
        }
        let failures = self.failures();
        if failures.is_empty() {
            let _ = writeln!(
                text,
                "  result: OK (nothing lost; no duplicates where none are allowed)"
            );
        } else {
            for failure in failures {
                let _ = writeln!(text, "  FAILED: {failure}");
            }
        }
        text
    }
}
