//! The settings drift check: every setting a binary declares (its
//! [`About`], made from the one `settings!` declaration) is shown by its
//! `--help` and `--about --format json`, and named in its README section,
//! so a setting added in one place only fails the binary's tests.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use serde_json::Value;
use singer_protocol::About;

/// What is out of step, one line each (empty: all in step).
///
/// `help` is the binary's `--help` output, `about_json` its `--about
/// --format json`, `readme` the whole README; the binary's section is the
/// one under `## <name>` up to the next `## ` heading.
#[must_use]
pub fn settings_drift(about: &About, help: &str, about_json: &Value, readme: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let section = readme_section(readme, about.name);
    if section.is_empty() {
        problems.push(format!("README.md has no `## {}` section", about.name));
    }
    let properties = about_json
        .pointer("/settings/properties")
        .and_then(Value::as_object);
    for setting in about.settings() {
        let name = setting.name;
        if !help.contains(name) {
            problems.push(format!("--help does not list {name:?}"));
        }
        match properties.and_then(|p| p.get(name)) {
            None => problems.push(format!("--about --format json does not list {name:?}")),
            Some(property) => {
                if property.get("type").and_then(Value::as_str) != Some(setting.kind.json_type()) {
                    problems.push(format!("--about gives {name:?} another type"));
                }
                let default = setting
                    .default
                    .and_then(|text| serde_json::from_str::<Value>(text).ok());
                if property.get("default") != default.as_ref() {
                    problems.push(format!("--about gives {name:?} another default"));
                }
            }
        }
        if !section.contains(&format!("`{name}`")) {
            problems.push(format!(
                "README.md's `## {}` section does not name `{name}`",
                about.name
            ));
        }
    }
    if let Some(properties) = properties {
        for name in properties.keys() {
            if about.settings().all(|s| s.name != name.as_str()) {
                problems.push(format!("--about lists {name:?}, which is not declared"));
            }
        }
    }
    problems
}

/// [`settings_drift`] of the binary at `bin` (run for `--help` and
/// `--about --format json`) against `readme`'s text.
///
/// # Errors
///
/// The binary cannot be run, fails, or prints no JSON (the message says
/// which).
pub fn binary_settings_drift(
    bin: &Path,
    about: &About,
    readme: &str,
) -> Result<Vec<String>, String> {
    let run = |args: &[&str]| -> Result<Vec<u8>, String> {
        let output = Command::new(bin)
            .args(args)
            .output()
            .map_err(|e| format!("running {} {args:?}: {e}", bin.display()))?;
        if !output.status.success() {
            return Err(format!(
                "{} {args:?} failed: {}",
                bin.display(),
                output.status
            ));
        }
        Ok(output.stdout)
    };
    let help = run(&["--help"])?;
    let about_json: Value = serde_json::from_slice(&run(&["--about", "--format", "json"])?)
        .map_err(|e| format!("--about --format json is not JSON: {e}"))?;
    Ok(settings_drift(
        about,
        &String::from_utf8_lossy(&help),
        &about_json,
        readme,
    ))
}

/// The problems as one message, for an assertion.
#[must_use]
pub fn render_drift(problems: &[String]) -> String {
    let mut text = String::new();
    for problem in problems {
        let _ = writeln!(text, "- {problem}");
    }
    text
}

fn readme_section<'r>(readme: &'r str, name: &str) -> &'r str {
    let heading = format!("\n## {name}\n");
    let Some(start) = readme.find(&heading) else {
        return "";
    };
    let body = readme.get(start + heading.len()..).unwrap_or_default();
    let end = body.find("\n## ").unwrap_or(body.len());
    body.get(..end).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use singer_protocol::{About, Setting, SettingKind};

    use super::*;

    const SETTINGS: &[Setting] = &[
        Setting::new("host", SettingKind::String, "Host.").default_value("\"localhost\""),
        Setting::new("itersize", SettingKind::Integer, "Rows per fetch."),
    ];
    const ABOUT: About = About {
        name: "tap-demo",
        version: "0.1.0",
        description: "Demo.",
        capabilities: &[],
        settings: &[SETTINGS],
    };

    #[test]
    fn a_setting_added_in_one_place_only_is_reported() {
        let readme = "# x\n\n## tap-demo\n\nSettings: `host`, `itersize`.\n\n## other\n`nope`\n";
        let help = ABOUT.help("Usage: tap-demo");
        let json = ABOUT.to_json();
        assert_eq!(
            settings_drift(&ABOUT, &help, &json, readme),
            Vec::<String>::new()
        );

        // Declared (so in --help and --about) but not in the README.
        let undocumented = "# x\n\n## tap-demo\n\nSettings: `host`.\n\n## other\n`itersize`\n";
        assert_eq!(
            settings_drift(&ABOUT, &help, &json, undocumented),
            ["README.md's `## tap-demo` section does not name `itersize`"]
        );

        // Listed by a binary's --about but not declared.
        let mut extra = json.clone();
        if let Some(p) = extra
            .pointer_mut("/settings/properties")
            .and_then(Value::as_object_mut)
        {
            p.insert("stray".into(), serde_json::json!({"type": "string"}));
        }
        assert_eq!(
            settings_drift(&ABOUT, &help, &extra, readme),
            ["--about lists \"stray\", which is not declared"]
        );

        // A --help that forgot one.
        assert_eq!(
            settings_drift(&ABOUT, "Usage: host", &json, readme),
            ["--help does not list \"itersize\""]
        );
    }
}
