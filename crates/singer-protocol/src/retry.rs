//! The one retry policy of the workspace: capped exponential backoff with
//! full jitter, a bound on attempts and an optional time budget.
//!
//! Every layer that retries (the tap's reconnect, the Snowflake session, the
//! target driver's batch writes and commits) uses [`RetryPolicy::run`], and
//! a given operation is retried by one layer only: a loader's operation that
//! the driver retries does not retry inside itself. So the attempts an
//! operation can make are exactly [`RetryPolicy::max_attempts`], never a
//! product of nested loops.
//!
//! ```
//! use std::time::Duration;
//! use singer_protocol::{RetryPolicy, Retryable};
//!
//! #[derive(Debug)]
//! struct Flaky(bool);
//! impl Retryable for Flaky {
//!     fn is_retryable(&self) -> bool {
//!         self.0
//!     }
//! }
//!
//! let policy = RetryPolicy::new()
//!     .with_max_attempts(4)
//!     .with_backoff(Duration::ZERO, Duration::ZERO);
//! let mut calls = 0;
//! let result: Result<u32, Flaky> = policy.run(
//!     |attempt| {
//!         calls += 1;
//!         if attempt < 3 { Err(Flaky(true)) } else { Ok(attempt) }
//!     },
//!     |_retry| {},
//! );
//! assert_eq!(result.ok(), Some(3));
//! assert_eq!(calls, 3);
//!
//! // A permanent error is not retried.
//! let result: Result<u32, Flaky> = policy.run(|_| Err(Flaky(false)), |_| {});
//! assert!(result.is_err());
//! # Ok::<(), singer_protocol::Error>(())
//! ```

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// An error that knows whether trying again may succeed (a dropped
/// connection, HTTP 5xx/429, an expired session) or not (bad input, a
/// permission, a constraint).
pub trait Retryable {
    /// Whether the failed operation may succeed if tried again.
    fn is_retryable(&self) -> bool;
}

/// One retry about to happen, handed to the caller's callback (for its log
/// line) before the wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAttempt<'e, E> {
    /// The attempt that failed (1-based).
    pub attempt: u32,
    /// The wait before the next attempt.
    pub wait: Duration,
    /// The error of the failed attempt.
    pub error: &'e E,
}

/// Capped exponential backoff with full jitter, at most
/// [`max_attempts`](Self::max_attempts) attempts in all and, optionally, no
/// retry started after [`budget`](Self::budget) has passed since the first
/// attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = no retry).
    pub max_attempts: u32,
    /// The backoff cap before the first retry; doubles each retry.
    pub initial_backoff: Duration,
    /// The largest backoff cap.
    pub max_backoff: Duration,
    /// No retry starts once this much time has passed since the first
    /// attempt (`None`: attempts bound the retries alone).
    pub budget: Option<Duration>,
}

impl RetryPolicy {
    /// The defaults: 3 attempts, backoff up to 500 ms doubling to 30 s, no
    /// time budget.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            budget: None,
        }
    }

    /// A policy of `retries` retries after the first attempt (the
    /// `max_retries` settings of the tap and the targets).
    #[must_use]
    pub const fn with_retries(self, retries: u32) -> Self {
        self.with_max_attempts(retries.saturating_add(1))
    }

    /// Sets [`max_attempts`](Self::max_attempts) (at least 1).
    #[must_use]
    pub const fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = if attempts == 0 { 1 } else { attempts };
        self
    }

    /// Sets the first and the largest backoff caps.
    #[must_use]
    pub const fn with_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_backoff = initial;
        self.max_backoff = max;
        self
    }

    /// Sets [`budget`](Self::budget).
    #[must_use]
    pub const fn with_budget(mut self, budget: Option<Duration>) -> Self {
        self.budget = budget;
        self
    }

    /// The retries this policy allows after the first attempt.
    #[must_use]
    pub const fn retries(&self) -> u32 {
        self.max_attempts.saturating_sub(1)
    }

    /// The wait before retry number `retry` (1-based): a uniformly random
    /// time up to the capped exponential backoff, drawn from `seed`.
    #[must_use]
    pub fn backoff(&self, retry: u32, seed: u64) -> Duration {
        let cap = self
            .initial_backoff
            .saturating_mul(
                1_u32
                    .checked_shl(retry.saturating_sub(1))
                    .unwrap_or(u32::MAX),
            )
            .min(self.max_backoff);
        let nanos = u64::try_from(cap.as_nanos()).unwrap_or(u64::MAX);
        // splitmix64: enough jitter to spread retries, no dependency.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Duration::from_nanos(z.checked_rem(nanos.saturating_add(1)).unwrap_or(0))
    }

    /// The wait before retry number `retry` (1-based), jittered from the
    /// clock: [`RetryPolicy::backoff`] for loops that cannot use
    /// [`RetryPolicy::run`] (they reconnect between attempts).
    #[must_use]
    pub fn wait_before(&self, retry: u32) -> Duration {
        self.backoff(retry, seed())
    }

    /// Whether a retry after the failed attempt `attempt` (1-based), first
    /// tried at `started`, is allowed for `error`.
    #[must_use]
    pub fn allows<E: Retryable + ?Sized>(&self, attempt: u32, started: Instant, error: &E) -> bool {
        error.is_retryable()
            && attempt < self.max_attempts
            && self.budget.is_none_or(|budget| started.elapsed() < budget)
    }

    /// Runs `op` (given the 1-based attempt number) until it succeeds, fails
    /// with an error that is not retryable, or the policy allows no more
    /// attempts; sleeps the backoff between attempts after calling
    /// `on_retry` (the caller logs there, with its own context).
    ///
    /// # Errors
    ///
    /// The last attempt's error.
    pub fn run<T, E: Retryable>(
        &self,
        mut op: impl FnMut(u32) -> Result<T, E>,
        mut on_retry: impl FnMut(RetryAttempt<'_, E>),
    ) -> Result<T, E> {
        let started = Instant::now();
        let mut attempt = 1;
        loop {
            match op(attempt) {
                Ok(value) => return Ok(value),
                Err(error) if self.allows(attempt, started, &error) => {
                    let wait = self.wait_before(attempt);
                    on_retry(RetryAttempt {
                        attempt,
                        wait,
                        error: &error,
                    });
                    std::thread::sleep(wait);
                    attempt = attempt.saturating_add(1);
                }
                Err(error) => return Err(error),
            }
        }
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self::new()
    }
}

/// A seed for the jitter: the clock's nanoseconds (spreads processes that
/// fail together; no randomness crate needed).
fn seed() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Transient;
    impl Retryable for Transient {
        fn is_retryable(&self) -> bool {
            true
        }
    }

    #[test]
    fn backoff_is_capped_and_jittered() {
        let policy = RetryPolicy::new();
        for retry in 1..40 {
            for seed in 0..20 {
                let wait = policy.backoff(retry, seed);
                assert!(wait <= policy.max_backoff, "{wait:?}");
            }
        }
        assert!(policy.backoff(1, 1) <= Duration::from_millis(500));
        assert_ne!(policy.backoff(5, 1), policy.backoff(5, 2));
    }

    #[test]
    fn attempts_are_bounded_by_the_policy() {
        let policy = RetryPolicy::new()
            .with_retries(4)
            .with_backoff(Duration::ZERO, Duration::ZERO);
        let mut calls = 0;
        let mut retries = Vec::new();
        let result: Result<(), Transient> = policy.run(
            |_| {
                calls += 1;
                Err(Transient)
            },
            |retry| retries.push(retry.attempt),
        );
        assert!(result.is_err());
        assert_eq!(calls, 5);
        assert_eq!(retries, [1, 2, 3, 4]);
        assert_eq!(policy.retries(), 4);
        assert_eq!(RetryPolicy::new().with_max_attempts(0).max_attempts, 1);
    }

    #[test]
    fn the_budget_stops_retries() {
        let policy = RetryPolicy::new()
            .with_max_attempts(1000)
            .with_backoff(Duration::from_millis(5), Duration::from_millis(5))
            .with_budget(Some(Duration::from_millis(30)));
        let mut calls = 0_u32;
        let result: Result<(), Transient> = policy.run(
            |_| {
                calls += 1;
                Err(Transient)
            },
            |_| {},
        );
        assert!(result.is_err());
        assert!(calls < 1000, "{calls}");
        assert!(calls >= 1);
    }
}
