//! Who runs the server: `initdb` refuses to run as root, so a root process
//! runs the PostgreSQL commands as the `postgres` system user.
//!
//! Everything here is done without `unsafe` (the workspace denies it): the
//! effective uid comes from `/proc/self/status`, the user from `/etc/passwd`
//! (falling back to `id`, which also sees users from NSS).

use std::os::unix::fs::MetadataExt;
use std::process::{Command, Stdio};

use crate::Error;

/// The system user the server runs as when the tests run as root.
const SERVER_USER: &str = "postgres";

/// A uid/gid pair to run commands as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RunAs {
    pub(crate) uid: u32,
    pub(crate) gid: u32,
}

/// `None` when the current user can run the server itself; the `postgres`
/// user when running as root.
pub(crate) fn server_user() -> Result<Option<RunAs>, Error> {
    if effective_uid() != Some(0) {
        return Ok(None);
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd_entry(&passwd, SERVER_USER)
        .or_else(|| from_id_command(SERVER_USER))
        .map(Some)
        .ok_or(Error::NoPostgresUser)
}

/// The effective uid of this process, if it can be found out.
fn effective_uid() -> Option<u32> {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| status_effective_uid(&status))
        .or_else(|| std::fs::metadata("/proc/self").ok().map(|meta| meta.uid()))
}

/// The second field of the `Uid:` line (real, effective, saved, fs).
fn status_effective_uid(status: &str) -> Option<u32> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .and_then(|uid| uid.parse().ok())
}

/// `name:password:uid:gid:gecos:home:shell`.
fn passwd_entry(passwd: &str, user: &str) -> Option<RunAs> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        if fields.next()? != user {
            return None;
        }
        let _password = fields.next()?;
        let uid = fields.next()?.parse().ok()?;
        let gid = fields.next()?.parse().ok()?;
        Some(RunAs { uid, gid })
    })
}

fn from_id_command(user: &str) -> Option<RunAs> {
    let id = |flag: &str| -> Option<u32> {
        let output = Command::new("id")
            .args([flag, user])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()?;
        if !output.status.success() {
            return None;
        }
        String::from_utf8(output.stdout).ok()?.trim().parse().ok()
    };
    Some(RunAs {
        uid: id("-u")?,
        gid: id("-g")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_effective_uid_from_proc_status() {
        let status = "Name:\tcargo\nUid:\t1000\t0\t0\t0\nGid:\t5\t5\t5\t5\n";
        assert_eq!(status_effective_uid(status), Some(0));
        assert_eq!(status_effective_uid("Name:\tx\n"), None);
        assert!(effective_uid().is_some());
    }

    #[test]
    fn parses_passwd_entries() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\n\
                      postgres:x:101:104:PostgreSQL administrator,,,:/var/lib/postgresql:/bin/bash\n";
        assert_eq!(
            passwd_entry(passwd, "postgres"),
            Some(RunAs { uid: 101, gid: 104 })
        );
        assert_eq!(passwd_entry(passwd, "post"), None);
        assert_eq!(passwd_entry("postgres:x:oops:1:::\n", "postgres"), None);
    }
}
