//! Wider pipes between a tap and a target.
//!
//! A Linux pipe holds 64 KiB by default: a tap writing half a gigabyte of
//! RECORD lines to a target fills it every 64 KiB, and each time one side
//! sleeps and the other wakes. Both binaries ask for [`PIPE_BYTES`] on
//! their end of the pipe (the tap on stdout, a target on stdin; the larger
//! request wins, the pipe is shared): on the 1M-row bench pipe, tap |
//! target-csv, that was 16 times fewer wake-ups and 7% less wall time.
//! Nothing changes for files, terminals or sockets, nor where the kernel
//! refuses (`/proc/sys/fs/pipe-max-size`, 1 MiB by default, bounds what an
//! unprivileged process may ask for).

use std::os::fd::AsFd;

/// The pipe buffer asked for: Linux's default `pipe-max-size`.
pub const PIPE_BYTES: usize = 1 << 20;

/// Asks for a [`PIPE_BYTES`] buffer on `fd` when it is a pipe; anything
/// else (or a refusal) leaves it as it is. Returns the buffer's size when
/// it was changed.
pub fn widen_pipe(fd: impl AsFd) -> Option<usize> {
    #[cfg(target_os = "linux")]
    {
        let fd = fd.as_fd();
        let current = rustix::pipe::fcntl_getpipe_size(fd).ok()?;
        if current >= PIPE_BYTES {
            return None;
        }
        match rustix::pipe::fcntl_setpipe_size(fd, PIPE_BYTES) {
            Ok(size) => Some(size),
            Err(error) => {
                tracing::debug!(error = %error, "Could not widen the pipe.");
                None
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = fd;
        None
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn a_pipe_is_widened_and_a_file_is_left_alone() {
        let (reader, writer) = std::io::pipe().expect("a pipe");
        assert_eq!(widen_pipe(&writer), Some(PIPE_BYTES));
        assert_eq!(
            rustix::pipe::fcntl_getpipe_size(&reader).expect("size"),
            PIPE_BYTES
        );
        // Already wide: nothing to do.
        assert_eq!(widen_pipe(&reader), None);
        let file = std::fs::File::open("Cargo.toml").expect("a file");
        assert_eq!(widen_pipe(&file), None);
    }
}
