//! Configuration: files named by `--config` (later files win), then
//! environment variables (`TAP_POSTGRES_HOST` style, which win over files),
//! checked against the settings an executable declares in its [`About`].
//!
//! Decisions a pipelinewise or Meltano user relies on:
//!
//! * Unknown keys are reported (the caller logs them at `warn`), not fatal:
//!   pipelinewise configs carry keys of their own (`tap_id`, ...) and a
//!   drop-in replacement must accept them. They are removed before the
//!   config is decoded, so config types can still `deny_unknown_fields`.
//! * Strings are accepted for numbers and booleans (`"port": "5432"`,
//!   `"ssl": "true"`) as pipelinewise configs and environment variables
//!   write them.
//! * `--config ENV` (Meltano's spelling) is accepted; environment variables
//!   are read in any case.
//! * No error message contains the value of a secret setting.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Number, Value};

use crate::about::{About, Setting, SettingKind};
use crate::error::{Error, Result};

/// Where configuration comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// A JSON file.
    File(PathBuf),
    /// Meltano's `--config ENV`: environment variables only (they are always
    /// read; this source adds nothing else).
    Env,
}

/// A decoded configuration and what was noticed while loading it.
#[derive(Debug, Clone)]
pub struct LoadedConfig<T> {
    /// The configuration.
    pub config: T,
    /// Keys that name no setting (ignored; log them).
    pub unknown_keys: Vec<String>,
    /// Settings that came from environment variables (names, never values).
    pub from_env: Vec<String>,
}

/// A count or an interval in seconds that must be at least 1: a 0 in the
/// configuration is refused when it is read (a usage error naming the
/// setting), never clamped in silence.
///
/// ```
/// use singer_protocol::AtLeastOne;
///
/// let three: AtLeastOne = serde_json::from_str("3")?;
/// assert_eq!(three.get(), 3);
/// assert!(serde_json::from_str::<AtLeastOne>("0").is_err());
/// assert!(serde_json::from_str::<AtLeastOne>("-1").is_err());
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AtLeastOne(std::num::NonZeroU64);

impl AtLeastOne {
    /// The value.
    #[must_use]
    pub const fn get(self) -> u64 {
        self.0.get()
    }
}

impl Default for AtLeastOne {
    fn default() -> Self {
        Self(std::num::NonZeroU64::MIN)
    }
}

impl<'de> Deserialize<'de> for AtLeastOne {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = u64::deserialize(deserializer)?;
        std::num::NonZeroU64::new(value).map(Self).ok_or_else(|| {
            serde::de::Error::invalid_value(
                serde::de::Unexpected::Unsigned(value),
                &"an integer of at least 1",
            )
        })
    }
}

/// A secret string (password, key, token): `Debug` and `Display` print
/// `***`, so it cannot end up in a log by accident.
#[derive(Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(transparent)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a secret.
    #[must_use]
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret itself; use it only where it is needed (a connection).
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Loads the configuration of the executable described by `about` from
/// `sources` and the process environment.
///
/// # Errors
///
/// See [`load_config_with_env`].
pub fn load_config<T: DeserializeOwned>(
    sources: &[ConfigSource],
    about: &About,
) -> Result<LoadedConfig<T>> {
    load_config_with_env(sources, about, |name| std::env::var(name).ok())
}

/// Loads configuration with `env` as the environment (for tests and
/// embedding).
///
/// # Errors
///
/// [`Error::File`] or [`Error::FileJson`] for a config file that cannot be
/// read or parsed, [`Error::Config`] when a file is not a JSON object, a
/// value has the wrong type, a required setting is missing, or the config
/// type rejects the values.
pub fn load_config_with_env<T: DeserializeOwned>(
    sources: &[ConfigSource],
    about: &About,
    env: impl Fn(&str) -> Option<String>,
) -> Result<LoadedConfig<T>> {
    let mut merged = Map::new();
    let mut unknown_keys = Vec::new();
    for source in sources {
        let ConfigSource::File(path) = source else {
            continue;
        };
        for (key, value) in read_object(path)? {
            match about.setting(&key) {
                Some(setting) => {
                    merged.insert(setting.name.to_owned(), value);
                }
                None => {
                    if !unknown_keys.contains(&key) {
                        unknown_keys.push(key);
                    }
                }
            }
        }
    }
    let mut from_env = Vec::new();
    for setting in about.settings() {
        // The setting's own name wins over its aliases (`TAP_POSTGRES_DBNAME`
        // over `TAP_POSTGRES_DATABASE`).
        let names = std::iter::once(setting.name).chain(setting.aliases.iter().copied());
        if let Some(text) = names.filter_map(|name| env(&about.env_var(name))).next() {
            merged.insert(setting.name.to_owned(), Value::String(text));
            from_env.push(setting.name.to_owned());
        }
    }
    for setting in about.settings() {
        match merged.get_mut(setting.name) {
            Some(value) => coerce(setting, value)?,
            None if setting.required => {
                return Err(Error::Config {
                    reason: format!(
                        "required setting {:?} is missing (set it in a --config file or in {})",
                        setting.name,
                        about.env_var(setting.name)
                    ),
                });
            }
            None => {}
        }
    }
    let secrets: Vec<String> = about
        .settings()
        .filter(|s| s.secret)
        .filter_map(|s| merged.get(s.name))
        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
        .filter(|s| !s.is_empty())
        .collect();
    let config = serde_json::from_value(Value::Object(merged.clone())).map_err(|e| {
        let mut reason = e.to_string();
        if let Some(key) = culprit::<T>(&merged, &reason) {
            reason = format!("setting {key:?}: {reason}");
        }
        for secret in &secrets {
            reason = reason.replace(secret.as_str(), "***");
        }
        Error::Config { reason }
    })?;
    Ok(LoadedConfig {
        config,
        unknown_keys,
        from_env,
    })
}

/// The setting whose value the config type rejected with `error`: the
/// first one without which the error goes away or changes (serde stops at
/// the first bad value and checks for missing settings only at the end, so
/// leaving out any other setting leaves the error as it was). `None` when
/// the error is not about one value (`unknown variant` and type errors
/// from serde do not name the field).
fn culprit<T: DeserializeOwned>(merged: &Map<String, Value>, error: &str) -> Option<String> {
    merged.keys().find_map(|key| {
        if error.contains(&format!("`{key}`")) {
            // serde named it already (`missing field`, `duplicate field`).
            return None;
        }
        let mut without = merged.clone();
        // Keep the order: serde reports the first bad value it meets.
        without.shift_remove(key);
        match serde_json::from_value::<T>(Value::Object(without)) {
            Err(other) if other.to_string() == error => None,
            _ => Some(key.clone()),
        }
    })
}

fn read_object(path: &Path) -> Result<Map<String, Value>> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::File {
        path: path.to_owned(),
        source,
    })?;
    match serde_json::from_str(&text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Error::Config {
            reason: format!("{} must hold a JSON object", path.display()),
        }),
        Err(source) => Err(Error::FileJson {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Checks `value` against the setting's kind, converting text where the
/// kind says how (environment variables are always text). Errors name the
/// setting and never its value.
fn coerce(setting: &Setting, value: &mut Value) -> Result<()> {
    if value.is_null() {
        return Ok(());
    }
    let wrong = || Error::Config {
        reason: format!(
            "setting {:?} must be {}",
            setting.name,
            expected(setting.kind)
        ),
    };
    let converted = match (setting.kind, &*value) {
        (SettingKind::String, Value::String(_))
        | (SettingKind::Boolean, Value::Bool(_))
        | (SettingKind::Array, Value::Array(_))
        | (SettingKind::Object, Value::Object(_))
        | (SettingKind::Number, Value::Number(_)) => return Ok(()),
        (SettingKind::Integer, Value::Number(n)) if n.is_i64() || n.is_u64() => return Ok(()),
        (SettingKind::String, Value::Number(n)) => Value::String(n.to_string()),
        (SettingKind::Integer | SettingKind::Number, Value::String(s)) => {
            let number: Number = serde_json::from_str(s.trim()).map_err(|_| wrong())?;
            if setting.kind == SettingKind::Integer && !(number.is_i64() || number.is_u64()) {
                return Err(wrong());
            }
            Value::Number(number)
        }
        (SettingKind::Boolean, Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Value::Bool(true),
            "false" | "0" | "no" | "off" | "" => Value::Bool(false),
            _ => return Err(wrong()),
        },
        (SettingKind::Array, Value::String(s)) => {
            let s = s.trim();
            if s.starts_with('[') {
                serde_json::from_str(s).map_err(|_| wrong())?
            } else {
                Value::Array(
                    s.split(',')
                        .map(str::trim)
                        .filter(|p| !p.is_empty())
                        .map(|p| Value::String(p.to_owned()))
                        .collect(),
                )
            }
        }
        (SettingKind::Object, Value::String(s)) => match serde_json::from_str(s) {
            Ok(object @ Value::Object(_)) => object,
            _ => return Err(wrong()),
        },
        _ => return Err(wrong()),
    };
    *value = converted;
    Ok(())
}

fn expected(kind: SettingKind) -> &'static str {
    match kind {
        SettingKind::String => "a string",
        SettingKind::Integer => "an integer",
        SettingKind::Number => "a number",
        SettingKind::Boolean => "a boolean (true/false)",
        SettingKind::Array => "a list (JSON, or comma-separated text)",
        SettingKind::Object => "a JSON object",
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const ABOUT: About = About {
        name: "tap-demo",
        version: "0.1.0",
        description: "demo",
        capabilities: &[],
        settings: &[&[
            Setting::new("host", SettingKind::String, "Host.").required(),
            Setting::new("port", SettingKind::Integer, "Port."),
            Setting::new("password", SettingKind::String, "Password.").secret(),
            Setting::new("database", SettingKind::String, "Database.").aliases(&["dbname"]),
            Setting::new("ssl", SettingKind::Boolean, "TLS."),
            Setting::new("filter_schemas", SettingKind::Array, "Schemas."),
            Setting::new("mode", SettingKind::String, "Mode."),
        ]],
    };

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct DemoConfig {
        host: String,
        #[serde(default)]
        port: Option<u16>,
        #[serde(default)]
        password: Option<SecretString>,
        #[serde(default)]
        database: Option<String>,
        #[serde(default)]
        ssl: bool,
        #[serde(default)]
        filter_schemas: Vec<String>,
        #[serde(default)]
        mode: Option<Mode>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "lowercase")]
    enum Mode {
        Fast,
    }

    struct Files(tempdir::Dir);

    mod tempdir {
        pub struct Dir(pub std::path::PathBuf);
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    impl Files {
        fn new(name: &str) -> Self {
            let dir = std::env::temp_dir().join(format!(
                "singer-protocol-config-{name}-{}",
                std::process::id()
            ));
            std::fs::create_dir_all(&dir).expect("temp dir");
            Self(tempdir::Dir(dir))
        }
        fn write(&self, name: &str, text: &str) -> ConfigSource {
            let path = self.0.0.join(name);
            std::fs::write(&path, text).expect("write");
            ConfigSource::File(path)
        }
    }

    fn load(sources: &[ConfigSource], env: &[(&str, &str)]) -> Result<LoadedConfig<DemoConfig>> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        load_config_with_env(sources, &ABOUT, |name| env.get(name).cloned())
    }

    #[test]
    fn later_files_win_then_env_wins() {
        let files = Files::new("merge");
        let a = files.write(
            "a.json",
            r#"{"host": "a", "port": 1, "dbname": "d", "tap_id": "x"}"#,
        );
        let b = files.write("b.json", r#"{"host": "b", "port": "5432", "ssl": "true"}"#);
        let loaded = load(
            &[a, b, ConfigSource::Env],
            &[
                ("TAP_DEMO_HOST", "env"),
                ("TAP_DEMO_FILTER_SCHEMAS", "public, app"),
                ("TAP_DEMO_DBNAME", "e"),
            ],
        )
        .expect("loads");
        assert_eq!(
            loaded.config,
            DemoConfig {
                host: "env".into(),
                port: Some(5432),
                password: None,
                database: Some("e".into()),
                ssl: true,
                filter_schemas: vec!["public".into(), "app".into()],
                mode: None,
            }
        );
        assert_eq!(loaded.unknown_keys, ["tap_id"]);
        assert_eq!(loaded.from_env, ["host", "database", "filter_schemas"]);
    }

    #[test]
    fn secrets_are_redacted() {
        let loaded = load(
            &[],
            &[("TAP_DEMO_HOST", "h"), ("TAP_DEMO_PASSWORD", "hunter2")],
        )
        .expect("loads");
        let password = loaded.config.password.clone().expect("set");
        assert_eq!(password.expose(), "hunter2");
        let debug = format!("{:?}", loaded.config);
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("***"), "{debug}");
        let files = Files::new("secret");
        let f = files.write("c.json", r#"{"host": "h", "password": ["hunter2"]}"#);
        let error = load(&[f], &[]).expect_err("wrong type").to_string();
        assert_eq!(
            error,
            "configuration: setting \"password\" must be a string"
        );
    }

    #[test]
    fn errors_name_the_setting() {
        let cases: [(&[(&str, &str)], &str); 4] = [
            (
                &[],
                "configuration: required setting \"host\" is missing (set it in a --config file or in TAP_DEMO_HOST)",
            ),
            (
                &[("TAP_DEMO_HOST", "h"), ("TAP_DEMO_PORT", "80.5")],
                "configuration: setting \"port\" must be an integer",
            ),
            (
                &[("TAP_DEMO_HOST", "h"), ("TAP_DEMO_SSL", "maybe")],
                "configuration: setting \"ssl\" must be a boolean (true/false)",
            ),
            (
                &[("TAP_DEMO_HOST", "h"), ("TAP_DEMO_MODE", "slow")],
                "configuration: setting \"mode\": unknown variant `slow`, expected `fast`",
            ),
        ];
        for (env, expected) in cases {
            assert_eq!(load(&[], env).expect_err(expected).to_string(), expected);
        }
    }

    #[test]
    fn a_value_the_config_type_rejects_names_its_setting() {
        let files = Files::new("culprit");
        let file = files.write("c.json", r#"{"host": "h", "mode": "slow", "port": 70000}"#);
        let error = load(&[file], &[]).expect_err("mode is not a Mode");
        assert_eq!(
            error.to_string(),
            "configuration: setting \"mode\": unknown variant `slow`, expected `fast`"
        );
        let file = files.write("d.json", r#"{"host": "h", "port": 70000}"#);
        let error = load(&[file], &[]).expect_err("port is not a u16");
        assert!(
            error
                .to_string()
                .starts_with("configuration: setting \"port\": "),
            "{error}"
        );
    }

    #[test]
    fn bad_files_name_the_file() {
        let files = Files::new("bad");
        let f = files.write("bad.json", "{\"host\": ");
        let error = load(std::slice::from_ref(&f), &[]).expect_err("bad json");
        let error = crate::ErrorChain(&error).to_string();
        let ConfigSource::File(path) = f else {
            unreachable!()
        };
        assert_eq!(
            error,
            format!(
                "{} is not valid JSON: EOF while parsing a value at line 1 column 9",
                path.display()
            )
        );
        let missing = ConfigSource::File(path.with_file_name("missing.json"));
        let error = load(&[missing], &[]).expect_err("missing").to_string();
        assert!(
            error.starts_with("reading ") && error.contains("missing.json"),
            "{error}"
        );
    }
}
