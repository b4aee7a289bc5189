//! Glue the Singer binaries share, so each `main.rs` stays a few lines:
//! logging on stderr, the error report, the one mapping from errors to exit
//! codes, and (feature `target`) [`run_target`], the whole `main` of a
//! target over any `singer_target::Loader`.
//!
//! It sits above the libraries and below the binaries (and may use
//! `anyhow`, as binaries do): libraries never install a subscriber or
//! decide exit codes. A tap depends on it without the `target` feature, so
//! it links neither the target driver nor the schema validator.
//!
//! Exit codes: 0 success, 1 runtime failure, 2 usage or configuration error.
//!
//! ```
//! use singer_cli::{Exit, exit_status, report};
//!
//! let error = anyhow::Error::new(singer_protocol::Error::Usage { reason: "no --config".into() })
//!     .context("reading arguments");
//! assert_eq!(report(&error), "reading arguments: usage: no --config");
//! assert_eq!(exit_status(&error, |_| None), Exit::Usage);
//! assert_eq!(Exit::Usage.code(), 2);
//! # Ok::<(), singer_protocol::Error>(())
//! ```

#![warn(missing_docs)]

mod exit;
mod logging;
mod pipe;
mod progress;
#[cfg(feature = "target")]
mod target;

pub use exit::{Exit, bad_arguments, exit_status, finish, report};
pub use logging::{Stdout, init_logging, init_logging_with_progress, stdout};
pub use pipe::{PIPE_BYTES, widen_pipe};
pub use progress::TerminalProgress;
#[cfg(feature = "target")]
pub use target::{TargetSpec, run_target};
