//! Runs a Singer tap and target as one job, the way Meltano's `meltano run`
//! or an Airflow task does, with the job's state in a durable store.
//!
//! [`run`] starts the tap (with `--state FILE` holding the job's saved
//! state, when there is one) and the target, relays the tap's stdout to the
//! target's stdin, saves every state line the target writes on its stdout
//! to the job's [`Backend`] (the target writes one only after everything
//! before it is committed, so the saved state is always safe to resume
//! from), forwards both sides' stderr with a `[tap]`/`[target]` prefix, and
//! returns a [`Summary`]: records per stream (from the Singer `METRIC`
//! `record_count` lines both sides log), seconds, each side's CPU and how
//! long the relay waited on each side, from which it names the bottleneck.
//!
//! * **One run per job.** The backend's lock is held for the whole run: the
//!   PostgreSQL store's advisory lock, or an exclusive lock on
//!   `PATH.lock` beside a file store. A second run of the same job fails at
//!   once with [`Error::AlreadyRunning`].
//! * **Exit status.** [`Summary::exit_code`]: 0 when both sides succeeded;
//!   else the target's code when it failed (the tap then usually fails on a
//!   closed pipe), else the tap's; a side killed by a signal counts as
//!   128 + the signal, as in a shell.
//! * **Stopping.** SIGTERM or SIGINT to the runner is passed to both sides;
//!   the last state the target confirmed is already saved.
//!
//! ```no_run
//! use singer_runner::{Backend, Job, run};
//!
//! let job = Job::new(
//!     "gitlab-db-issues",
//!     "tap-postgres --config tap.json --catalog catalog.json",
//!     "target-csv --config target.json",
//!     Backend::parse("file:state/gitlab-db-issues.json")?,
//! )?;
//! let summary = run(&job)?;
//! assert_eq!(summary.exit_code(), 0);
//! # Ok::<(), singer_runner::Error>(())
//! ```

#![warn(missing_docs)]

mod backend;
mod config;
mod error;
mod summary;
mod supervise;

pub use backend::{Backend, OpenStore};
pub use config::{CommandLine, Job, JobFile};
pub use error::{Error, Result};
pub use summary::{Bottleneck, Side, Summary};
pub use supervise::run;
