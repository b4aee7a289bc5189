//! Python tools from PyPI in venvs the project owns, installed by
//! `scripts/py-venv` (which pins the versions and picks a fitting Python
//! among the machine's) on first use and reused after. If PyPI cannot be
//! reached, or no fitting Python exists, the test fails with the script's
//! message saying so: nothing is skipped.

use std::path::PathBuf;
use std::process::Command;

/// The venv of tool `name` (see `scripts/py-venv` for the names), installed
/// if needed, under `target/e2e/venv/<name>`.
pub fn install(name: &str) -> PathBuf {
    let bin_dir = singer_e2e::binaries::bin_dir().expect("binaries under test");
    // target/<profile> → target/e2e/venv/<name>
    let venv = bin_dir
        .parent()
        .expect("a target directory")
        .join("e2e/venv")
        .join(name);
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/py-venv");
    let output = Command::new(&script)
        .arg(name)
        .arg(&venv)
        .output()
        .expect("running scripts/py-venv");
    assert!(
        output.status.success(),
        "installing {name} from PyPI failed (scripts/py-venv {name} {}):\n{}",
        venv.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    venv
}
