//! The one mapping from a failed run to an exit code, and the error report.

use std::process::ExitCode;

use tracing::{error, info};

/// How a run ended, as far as the exit code is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// A runtime failure: database, network, I/O, bad input data, a signal
    /// (exit 1).
    Failure,
    /// A usage or configuration error: a bad flag, config, catalog,
    /// manifest or state file (exit 2).
    Usage,
    /// The reader of stdout went away: the run stops quietly (exit 1).
    BrokenPipe,
}

impl Exit {
    /// The process exit code.
    #[must_use]
    pub const fn code(self) -> u8 {
        match self {
            Self::Failure | Self::BrokenPipe => 1,
            Self::Usage => 2,
        }
    }
}

/// The error and its causes, `: `-separated, outermost first (every error
/// type of the workspace leaves its source out of its own message, so each
/// cause appears once).
#[must_use]
pub fn report(error: &anyhow::Error) -> String {
    format!("{error:#}")
}

/// What `error` means for the exit code: a cause that is a
/// [`singer_protocol::Error`] usage error, or that `classify` (the binary's
/// knowledge of its library's errors) calls [`Exit::Usage`] or
/// [`Exit::BrokenPipe`], decides; otherwise [`Exit::Failure`]. A broken
/// pipe wins over usage.
#[must_use]
pub fn exit_status(
    error: &anyhow::Error,
    classify: impl Fn(&(dyn std::error::Error + 'static)) -> Option<Exit>,
) -> Exit {
    let mut status = Exit::Failure;
    for cause in error.chain() {
        let kind = classify(cause).or_else(|| {
            cause
                .downcast_ref::<singer_protocol::Error>()
                .filter(|e| e.is_usage())
                .map(|_| Exit::Usage)
        });
        match kind {
            Some(Exit::BrokenPipe) => return Exit::BrokenPipe,
            Some(Exit::Usage) => status = Exit::Usage,
            _ => {}
        }
    }
    status
}

/// Ends `main` when the command line does not parse: logs the error (with
/// logging at its default, as `--log-level` was not read) and exits 2.
#[must_use]
pub fn bad_arguments(error: &dyn std::fmt::Display) -> ExitCode {
    crate::logging::init_logging(None);
    error!(error = %error, "Invalid arguments; see --help.");
    ExitCode::from(Exit::Usage.code())
}

/// Ends `main`: logs a failure once (the whole chain, at `error`; a broken
/// pipe at `info`) and returns the exit code.
#[must_use]
pub fn finish(
    name: &str,
    result: anyhow::Result<()>,
    classify: impl Fn(&(dyn std::error::Error + 'static)) -> Option<Exit>,
) -> ExitCode {
    let Err(error) = result else {
        return ExitCode::SUCCESS;
    };
    let status = exit_status(&error, classify);
    if status == Exit::BrokenPipe {
        info!("The reader of stdout went away; stopping.");
    } else {
        error!(error = %report(&error), "{name} failed.");
    }
    ExitCode::from(status.code())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broken_pipe_wins_and_usage_is_found_anywhere_in_the_chain() {
        let usage = anyhow::Error::new(singer_protocol::Error::Usage {
            reason: "bad flag".into(),
        })
        .context("outer");
        assert_eq!(exit_status(&usage, |_| None), Exit::Usage);
        let runtime = anyhow::anyhow!("connection refused").context("connecting");
        assert_eq!(exit_status(&runtime, |_| None), Exit::Failure);
        assert_eq!(
            exit_status(&runtime, |_| Some(Exit::BrokenPipe)),
            Exit::BrokenPipe
        );
        assert_eq!(report(&runtime), "connecting: connection refused");
    }
}
