//! `--about`: what a tap or target is, can do, and which settings it takes.

use std::fmt::Write as _;

use serde_json::{Map, Value, json};

/// The JSON type of a setting; decides how an environment variable is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingKind {
    /// Text.
    String,
    /// A whole number.
    Integer,
    /// Any number (kept exact).
    Number,
    /// `true`/`false` (`1`/`0`, `yes`/`no` from the environment).
    Boolean,
    /// A list: JSON, or comma-separated from the environment.
    Array,
    /// A JSON object.
    Object,
}

impl SettingKind {
    /// The JSON Schema `type` name.
    #[must_use]
    pub fn json_type(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Integer => "integer",
            Self::Number => "number",
            Self::Boolean => "boolean",
            Self::Array => "array",
            Self::Object => "object",
        }
    }
}

/// One configuration setting.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    /// The key in the config file (`host`).
    pub name: &'static str,
    /// Other keys accepted for the same setting (`dbname` for `database`).
    pub aliases: &'static [&'static str],
    /// Its JSON type.
    pub kind: SettingKind,
    /// What it does (one sentence or two).
    pub description: &'static str,
    /// Whether a run fails without it.
    pub required: bool,
    /// A password or key: never logged, redacted in errors and `Debug`.
    pub secret: bool,
    /// The default, if any, as JSON text (`"5432"`).
    pub default: Option<&'static str>,
    /// Whether decoding fills the default in when the setting is absent
    /// (`false`: the default is documentation of what the program does
    /// without the setting, which stays absent, e.g. a host that a URL may
    /// give).
    pub default_fills: bool,
}

impl Setting {
    /// A setting with no aliases, not required, not secret, no default.
    #[must_use]
    pub const fn new(name: &'static str, kind: SettingKind, description: &'static str) -> Self {
        Self {
            name,
            aliases: &[],
            kind,
            description,
            required: false,
            secret: false,
            default: None,
            default_fills: true,
        }
    }

    /// Marks the setting as required.
    #[must_use]
    pub const fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// Marks the setting as secret.
    #[must_use]
    pub const fn secret(mut self) -> Self {
        self.secret = true;
        self
    }

    /// Sets the default (JSON text).
    #[must_use]
    pub const fn default_value(mut self, default: &'static str) -> Self {
        self.default = Some(default);
        self
    }

    /// Marks the default as documentation only: decoding leaves the
    /// setting absent, and the program applies the default later (after
    /// other settings, such as a URL, had their say).
    #[must_use]
    pub const fn default_resolved_later(mut self) -> Self {
        self.default_fills = false;
        self
    }

    /// Sets other accepted keys.
    #[must_use]
    pub const fn aliases(mut self, aliases: &'static [&'static str]) -> Self {
        self.aliases = aliases;
        self
    }
}

/// The output format of `--about`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AboutFormat {
    /// Human-readable text (the default).
    #[default]
    Text,
    /// JSON, in the shape the Meltano SDK prints.
    Json,
    /// Markdown, in the shape the Meltano SDK prints.
    Markdown,
}

/// What `--about` prints: name, version, capabilities and settings.
#[derive(Debug, Clone, PartialEq)]
pub struct About {
    /// The executable's name (`tap-postgres`).
    pub name: &'static str,
    /// The version.
    pub version: &'static str,
    /// One paragraph on what it is.
    pub description: &'static str,
    /// Singer capabilities (`catalog`, `discover`, `state`, `about`, ...).
    pub capabilities: &'static [&'static str],
    /// The settings, in groups (a target's own, then the driver's), as
    /// declared with [`crate::settings!`] (`Config::ALL_SETTINGS`).
    pub settings: &'static [&'static [Setting]],
}

impl About {
    /// The prefix of environment variables for settings: the name in upper
    /// case with `-` as `_` (`TAP_POSTGRES`).
    #[must_use]
    pub fn env_prefix(&self) -> String {
        self.name.to_ascii_uppercase().replace('-', "_")
    }

    /// The environment variable of a setting (`TAP_POSTGRES_HOST`).
    #[must_use]
    pub fn env_var(&self, setting: &str) -> String {
        format!("{}_{}", self.env_prefix(), setting.to_ascii_uppercase())
    }

    /// Every setting, group after group.
    pub fn settings(&self) -> impl Iterator<Item = &'static Setting> + use<> {
        self.settings.iter().flat_map(|group| group.iter())
    }

    /// The setting called `name` (or with `name` as an alias).
    #[must_use]
    pub fn setting(&self, name: &str) -> Option<&'static Setting> {
        self.settings()
            .find(|s| s.name == name || s.aliases.contains(&name))
    }

    /// The settings as a JSON schema, as the Meltano SDK writes
    /// `config_jsonschema` (secrets carry `"secret": true, "writeOnly": true`).
    #[must_use]
    pub fn settings_schema(&self) -> Value {
        let mut properties = Map::new();
        for setting in self.settings() {
            let mut p = Map::new();
            p.insert("type".into(), json!(setting.kind.json_type()));
            p.insert("description".into(), json!(setting.description));
            if let Some(default) = setting
                .default
                .and_then(|d| serde_json::from_str::<Value>(d).ok())
            {
                p.insert("default".into(), default);
            }
            if setting.secret {
                p.insert("secret".into(), json!(true));
                p.insert("writeOnly".into(), json!(true));
            }
            if !setting.aliases.is_empty() {
                p.insert("aliases".into(), json!(setting.aliases));
            }
            properties.insert(setting.name.into(), Value::Object(p));
        }
        let required: Vec<_> = self
            .settings()
            .filter(|s| s.required)
            .map(|s| s.name)
            .collect();
        json!({"type": "object", "properties": properties, "required": required})
    }

    /// `--about --format json`.
    #[must_use]
    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "description": self.description,
            "version": self.version,
            "capabilities": self.capabilities,
            "settings": self.settings_schema(),
            "env_var_prefix": format!("{}_", self.env_prefix()),
        })
    }

    /// `--about --format markdown`.
    #[must_use]
    pub fn to_markdown(&self) -> String {
        let mut out = format!(
            "# `{}`\n\n{}\n\nVersion: {}\n\n## Capabilities\n\n",
            self.name, self.description, self.version
        );
        for capability in self.capabilities {
            let _ = writeln!(out, "* `{capability}`");
        }
        out.push_str("\n## Settings\n\n| Setting | Type | Required | Default | Description |\n|:--|:--|:--:|:--|:--|\n");
        for s in self.settings() {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {}{} |",
                s.name,
                s.kind.json_type(),
                if s.required { "True" } else { "False" },
                s.default.unwrap_or("None"),
                s.description.replace('|', "\\|"),
                if s.secret { " (secret)" } else { "" },
            );
        }
        let _ = write!(
            out,
            "\nA full list of supported settings and capabilities is available by running: `{} --about`\n\n\
             Every setting can also be set by an environment variable, which wins over config files: \
             `{}_<SETTING>` (for example `{}`).\n",
            self.name,
            self.env_prefix(),
            self.settings()
                .next()
                .map_or_else(|| self.env_var("setting"), |s| self.env_var(s.name)),
        );
        out
    }

    /// `--about` in plain text.
    #[must_use]
    pub fn to_text(&self) -> String {
        format!(
            "{} {}\n{}\n\nCapabilities: {}\n\n{}",
            self.name,
            self.version,
            self.description,
            self.capabilities.join(", "),
            self.settings_text()
        )
    }

    /// The settings block of `--about` and `--help`: one line per setting
    /// with its type, description, default and flags, under a heading that
    /// names the environment variables.
    #[must_use]
    pub fn settings_text(&self) -> String {
        let mut out = format!(
            "Settings (environment variable {}_<SETTING> wins over config files):\n",
            self.env_prefix()
        );
        for s in self.settings() {
            let aliases = if s.aliases.is_empty() {
                String::new()
            } else {
                format!(" Also: {}.", s.aliases.join(", "))
            };
            let _ = writeln!(
                out,
                "  {:<28} {:<8} {}{}{}{}{}",
                s.name,
                s.kind.json_type(),
                s.description,
                if s.required { " Required." } else { "" },
                s.default
                    .map_or_else(String::new, |d| format!(" Default: {d}.")),
                if s.secret { " Secret." } else { "" },
                aliases,
            );
        }
        out
    }

    /// `--help`: the binary's usage text, then [`About::settings_text`].
    #[must_use]
    pub fn help(&self, usage: &str) -> String {
        format!("{usage}\n{}", self.settings_text())
    }

    /// Renders in `format`.
    #[must_use]
    pub fn render(&self, format: AboutFormat) -> String {
        match format {
            AboutFormat::Text => self.to_text(),
            AboutFormat::Json => format!("{:#}\n", self.to_json()),
            AboutFormat::Markdown => self.to_markdown(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ABOUT: About = About {
        name: "tap-demo",
        version: "1.2.3",
        description: "A demo tap.",
        capabilities: &["catalog", "discover", "state", "about"],
        settings: &[&[
            Setting::new("host", SettingKind::String, "Server host.").required(),
            Setting::new("port", SettingKind::Integer, "Server port.").default_value("5432"),
            Setting::new("password", SettingKind::String, "Password.").secret(),
            Setting::new("database", SettingKind::String, "Database name.").aliases(&["dbname"]),
        ]],
    };

    #[test]
    fn json_has_sdk_shape() {
        let json = ABOUT.to_json();
        assert_eq!(json["name"], "tap-demo");
        assert_eq!(json["version"], "1.2.3");
        assert_eq!(
            json["capabilities"],
            json!(["catalog", "discover", "state", "about"])
        );
        assert_eq!(json["settings"]["required"], json!(["host"]));
        assert_eq!(
            json["settings"]["properties"]["port"],
            json!({"type": "integer", "description": "Server port.", "default": 5432})
        );
        assert_eq!(
            json["settings"]["properties"]["password"]["writeOnly"],
            true
        );
        assert_eq!(json["env_var_prefix"], "TAP_DEMO_");
    }

    #[test]
    fn markdown_lists_settings() {
        let md = ABOUT.to_markdown();
        assert!(md.starts_with("# `tap-demo`\n\nA demo tap.\n"), "{md}");
        assert!(md.contains("* `discover`\n"), "{md}");
        assert!(
            md.contains("| port | integer | False | 5432 | Server port. |\n"),
            "{md}"
        );
        assert!(
            md.contains("| password | string | False | None | Password. (secret) |\n"),
            "{md}"
        );
        assert!(md.contains("`TAP_DEMO_HOST`"), "{md}");
    }

    #[test]
    fn env_names_and_aliases() {
        assert_eq!(ABOUT.env_var("host"), "TAP_DEMO_HOST");
        assert_eq!(ABOUT.setting("dbname").map(|s| s.name), Some("database"));
        assert_eq!(ABOUT.setting("nope"), None);
    }
}
