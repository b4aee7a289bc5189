//! Finding the PostgreSQL server binaries installed on the machine.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::Error;

/// The environment variable that names the directory holding `initdb` and
/// `pg_ctl`; it wins over every other way of finding them.
pub const BINDIR_ENV: &str = "SINGER_PG_BINDIR";

/// Where Debian and Ubuntu install each PostgreSQL major version.
const DEBIAN_ROOT: &str = "/usr/lib/postgresql";

/// The directory holding the PostgreSQL server binaries (`initdb`, `pg_ctl`,
/// `postgres`).
///
/// Looked up, in order: the `SINGER_PG_BINDIR` environment variable,
/// `pg_config --bindir`, the highest version under `/usr/lib/postgresql/*/bin`,
/// and finally `initdb` on `PATH` (symbolic links resolved, so the directory
/// found also holds the `postgres` server binary).
///
/// # Errors
///
/// [`Error::InvalidBinDir`] when `SINGER_PG_BINDIR` is set to a directory
/// without `initdb` and `pg_ctl`; [`Error::BinariesNotFound`] (whose message
/// says how to install them) when no candidate holds them.
pub fn bin_dir() -> Result<PathBuf, Error> {
    if let Some(dir) = std::env::var_os(BINDIR_ENV).filter(|dir| !dir.is_empty()) {
        let dir = PathBuf::from(dir);
        return if has_server_binaries(&dir) {
            Ok(dir)
        } else {
            Err(Error::InvalidBinDir { path: dir })
        };
    }
    from_pg_config()
        .or_else(highest_debian_version)
        .or_else(from_path)
        .ok_or(Error::BinariesNotFound)
}

fn has_server_binaries(dir: &Path) -> bool {
    dir.join("initdb").is_file() && dir.join("pg_ctl").is_file()
}

fn from_pg_config() -> Option<PathBuf> {
    let output = Command::new("pg_config")
        .arg("--bindir")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?;
    let dir = PathBuf::from(text.trim());
    has_server_binaries(&dir).then_some(dir)
}

fn highest_debian_version() -> Option<PathBuf> {
    let entries = std::fs::read_dir(DEBIAN_ROOT).ok()?;
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = version_key(&entry.file_name())?;
            let bin = entry.path().join("bin");
            has_server_binaries(&bin).then_some((version, bin))
        })
        .max_by(|left, right| left.0.cmp(&right.0))
        .map(|(_, bin)| bin)
}

/// `15` → `[15]`, `9.6` → `[9, 6]`; anything else is not a version directory.
fn version_key(name: &OsStr) -> Option<Vec<u64>> {
    name.to_str()?
        .split('.')
        .map(|part| part.parse::<u64>().ok())
        .collect()
}

fn from_path() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).find_map(|dir| {
        let initdb = dir.join("initdb");
        if !initdb.is_file() {
            return None;
        }
        // Prefer the directory the binary really lives in: `initdb` looks for
        // `postgres` next to itself.
        let real_dir = std::fs::canonicalize(&initdb)
            .ok()
            .and_then(|real| real.parent().map(Path::to_path_buf));
        real_dir
            .into_iter()
            .chain(std::iter::once(dir))
            .find(|candidate| has_server_binaries(candidate))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_directories_sort_numerically() {
        let mut versions: Vec<Vec<u64>> = ["9.6", "15", "10", "16"]
            .iter()
            .filter_map(|name| version_key(OsStr::new(name)))
            .collect();
        versions.sort();
        assert_eq!(versions, vec![vec![9, 6], vec![10], vec![15], vec![16]]);
        assert_eq!(version_key(OsStr::new("common")), None);
    }

    #[test]
    fn missing_binaries_message_says_how_to_install_them() {
        let message = Error::BinariesNotFound.to_string();
        assert_eq!(
            message,
            "PostgreSQL server binaries (initdb, pg_ctl) not found: install them with \
             `apt-get install -y postgresql` or set SINGER_PG_BINDIR to their directory"
        );
    }

    #[test]
    fn finds_the_installed_binaries() {
        let dir = bin_dir().expect("PostgreSQL server binaries must be installed for the tests");
        assert!(dir.join("initdb").is_file());
        assert!(dir.join("pg_ctl").is_file());
    }
}
