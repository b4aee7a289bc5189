//! SIGINT/SIGTERM as a flag the driver polls.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// Registers SIGINT and SIGTERM so that the first one sets the returned
/// flag (the driver then stops reading, commits what it has and writes the
/// state covering it) and a second one ends the process at once with exit
/// code 1.
///
/// # Errors
///
/// The OS error if a handler cannot be installed.
///
/// ```
/// let flag = singer_target::register_signals()?;
/// assert!(!flag.load(std::sync::atomic::Ordering::Relaxed));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn register_signals() -> std::io::Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // Order matters: the conditional shutdown sees the flag as it was
        // before this signal set it.
        signal_hook::flag::register_conditional_shutdown(signal, 1, Arc::clone(&flag))?;
        signal_hook::flag::register(signal, Arc::clone(&flag))?;
    }
    Ok(flag)
}
