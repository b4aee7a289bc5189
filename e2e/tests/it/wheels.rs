//! pip-installable binaries: `scripts/wheels` builds the four wheels
//! (maturin, `bindings = "bin"`), a fresh venv installs them from the
//! files alone and each binary runs; then a Meltano project installs the
//! tap and the target through `pip_url` pointing at the wheels (offline:
//! no index, only the local files) and `meltano run` moves the rows.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::meltano::{ISSUES, Project, read_csv, repo};

/// The binaries and their wheels' distribution names.
const WHEELS: [(&str, &str); 4] = [
    ("tap-postgres", "singer_rs_tap_postgres"),
    ("target-csv", "singer_rs_target_csv"),
    ("target-snowflake", "singer_rs_target_snowflake"),
    ("singer-run", "singer_rs_singer_run"),
];

/// Builds the wheels once (dev profile: the test build's artefacts are
/// reused) and returns their directory.
fn wheels() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("wheels");
        let _ = std::fs::remove_dir_all(&dir);
        let output = Command::new(repo().join("scripts/wheels"))
            .arg("--debug")
            .arg(&dir)
            .output()
            .expect("scripts/wheels");
        assert!(
            output.status.success(),
            "scripts/wheels failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        dir
    })
}

/// The wheel file of distribution `name`.
fn wheel(name: &str) -> PathBuf {
    std::fs::read_dir(wheels())
        .expect("wheels dir")
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("{name}-")) && n.ends_with(".whl"))
        })
        .unwrap_or_else(|| panic!("no wheel for {name} in {}", wheels().display()))
}

/// The Python of the Meltano venv (a CPython that can make venvs).
fn python() -> PathBuf {
    crate::venv::install("meltano").join("bin/python")
}

#[test]
fn wheels_install_into_a_fresh_venv_and_each_binary_runs() {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("wheels-venv");
    let _ = std::fs::remove_dir_all(&venv);
    let status = Command::new(python())
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .expect("python -m venv");
    assert!(status.success());
    let mut pip = Command::new(venv.join("bin/pip"));
    pip.args([
        "install",
        "--no-index",
        "--disable-pip-version-check",
        "--quiet",
    ]);
    for (_, name) in WHEELS {
        pip.arg(wheel(name));
    }
    let output = pip.output().expect("pip install");
    assert!(
        output.status.success(),
        "pip install of the wheels failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for (binary, _) in WHEELS {
        let output = Command::new(venv.join("bin").join(binary))
            .arg("--version")
            .output()
            .unwrap_or_else(|e| panic!("{binary} from the wheel: {e}"));
        assert!(output.status.success(), "{binary} --version");
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(text.starts_with(binary), "{binary}: {text}");
    }
    let _ = std::fs::remove_dir_all(&venv);
}

#[test]
fn meltano_installs_our_plugins_from_pip_url_wheels_and_runs_them() {
    let cluster = singer_testkit::postgres().expect("throwaway PostgreSQL");
    let db = cluster.create_database("meltano_pip").unwrap();
    let mut client = cluster.connect(&db).unwrap();
    let seed = std::fs::read_to_string(repo().join("fixtures/postgres/gitlab.sql")).unwrap();
    client
        .batch_execute(&seed.replace(":issues", &ISSUES.to_string()))
        .unwrap();
    // The fixture project, each plugin installed from its wheel.
    let yaml = std::fs::read_to_string(repo().join("fixtures/meltano/meltano.yml")).unwrap();
    let yaml = yaml
        .replace(
            "    executable: tap-postgres\n",
            &format!(
                "    pip_url: {}\n    executable: tap-postgres\n",
                wheel("singer_rs_tap_postgres").display()
            ),
        )
        .replace(
            "    executable: target-csv\n",
            &format!(
                "    pip_url: {}\n    executable: target-csv\n",
                wheel("singer_rs_target_csv").display()
            ),
        );
    assert_eq!(
        yaml.matches("\n    pip_url: ").count(),
        2,
        "both plugins got a pip_url"
    );
    let mut project = Project::with_yaml(&db, "meltano-pip", &yaml, false);
    // Offline: pip sees no index, only the wheels.
    project.env.extend([
        ("PIP_NO_INDEX".to_owned(), "1".to_owned()),
        ("PIP_FIND_LINKS".to_owned(), wheels().display().to_string()),
        ("PIP_DISABLE_PIP_VERSION_CHECK".to_owned(), "1".to_owned()),
    ]);
    project.meltano(&["install"]);
    for (kind, name) in [("extractors", "tap-postgres"), ("loaders", "target-csv")] {
        let installed = project
            .dir
            .join(".meltano")
            .join(kind)
            .join(name)
            .join("venv/bin")
            .join(name);
        assert!(
            installed.exists(),
            "{} installed from its wheel",
            installed.display()
        );
    }
    project.meltano(&["run", "tap-postgres", "target-csv"]);
    let files = project.csv_files();
    let (_, issues) = read_csv(&files["public-issues"]);
    assert_eq!(issues.len(), ISSUES as usize);
}
