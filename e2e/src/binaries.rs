//! Finding (and building) the workspace's binaries under test.
//!
//! Integration tests of another package cannot use
//! `CARGO_BIN_EXE_<name>` (that only covers the package's own binaries) and
//! artifact dependencies are unstable, so the harness builds the binaries
//! itself: [`bin_dir`] runs `cargo build -p tap-postgres -p target-csv -p target-snowflake` (the
//! cargo that built the caller, with the caller's profile and target
//! directory; a no-op when they are fresh; cargo does not hold its lock
//! while tests run) and returns the directory that holds them, the
//! caller's own profile directory (`target/debug` for `cargo test`,
//! `target/release` for `cargo run --release`).
//!
//! `SINGER_E2E_BIN_DIR` overrides all of it: the binaries are taken from
//! that directory as they are, and a missing one is an error.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::error::{Error, Result, io};

/// The environment variable that points the harness at prebuilt binaries.
pub const BIN_DIR_ENV: &str = "SINGER_E2E_BIN_DIR";

/// The binaries the harness runs, by package (each package has one binary
/// of the same name).
pub const BINARIES: [&str; 5] = [
    "tap-postgres",
    "target-csv",
    "target-snowflake",
    "singer-run",
    "singer-reconcile",
];

/// The directory holding fresh builds of [`BINARIES`] (built once per
/// process), or the directory named by [`BIN_DIR_ENV`].
///
/// # Errors
///
/// [`Error::Build`] when cargo cannot be run, fails, or a binary is missing
/// afterwards (the message says which and how to build it by hand).
pub fn bin_dir() -> Result<PathBuf> {
    static DIR: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    DIR.get_or_init(|| locate_and_build().map_err(|e| singer_protocol::ErrorChain(&e).to_string()))
        .clone()
        .map_err(|reason| Error::Build { reason })
}

/// The path of binary `name` in [`bin_dir`].
///
/// # Errors
///
/// As [`bin_dir`].
pub fn binary(name: &str) -> Result<PathBuf> {
    Ok(bin_dir()?.join(name))
}

fn locate_and_build() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os(BIN_DIR_ENV) {
        let dir = PathBuf::from(dir);
        check_present(&dir, &format!("{BIN_DIR_ENV}={}", dir.display()))?;
        return Ok(dir);
    }
    let exe = std::env::current_exe().map_err(io("locating", "the current executable"))?;
    let mut dir = exe
        .parent()
        .ok_or_else(|| Error::Build {
            reason: format!("{} has no parent directory", exe.display()),
        })?
        .to_path_buf();
    // Test executables live in target/<profile>/deps.
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.pop();
    }
    let profile = dir
        .file_name()
        .and_then(|n| n.to_str())
        .map(str::to_owned)
        .ok_or_else(|| Error::Build {
            reason: format!("cannot tell the cargo profile from {}", dir.display()),
        })?;
    let target_dir = dir
        .parent()
        .map(Path::to_path_buf)
        .ok_or_else(|| Error::Build {
            reason: format!("{} has no parent directory", dir.display()),
        })?;
    let cargo =
        std::env::var_os("CARGO").map_or_else(|| PathBuf::from(env!("CARGO")), PathBuf::from);
    let mut command = Command::new(&cargo);
    command
        .arg("build")
        .arg("--quiet")
        .arg("--target-dir")
        .arg(&target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    match profile.as_str() {
        "debug" => {}
        "release" => {
            command.arg("--release");
        }
        other => {
            command.args(["--profile", other]);
        }
    }
    for package in BINARIES {
        command.args(["-p", package]);
    }
    let by_hand = format!(
        "cargo build {}-p {}",
        match profile.as_str() {
            "debug" => String::new(),
            "release" => "--release ".to_owned(),
            other => format!("--profile {other} "),
        },
        BINARIES.join(" -p ")
    );
    match command.output() {
        Ok(output) if output.status.success() => {}
        Ok(output) => {
            return Err(Error::Build {
                reason: format!(
                    "`{by_hand}` failed ({}):\n{}",
                    output.status,
                    String::from_utf8_lossy(&output.stderr)
                ),
            });
        }
        Err(error) => {
            return Err(Error::Build {
                reason: format!(
                    "cannot run cargo ({}): {error}; build the binaries with `{by_hand}` or set {BIN_DIR_ENV}",
                    cargo.display()
                ),
            });
        }
    }
    check_present(&dir, &by_hand)?;
    Ok(dir)
}

fn check_present(dir: &Path, how: &str) -> Result<()> {
    for name in BINARIES {
        if !dir.join(name).is_file() {
            return Err(Error::Build {
                reason: format!("{} is missing (after {how})", dir.join(name).display()),
            });
        }
    }
    Ok(())
}
