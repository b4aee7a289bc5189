//! Settings declared once: [`settings!`](crate::settings!) turns one list of
//! declarations into the configuration struct, its serde decoding (with
//! the declared defaults), its `Default` and the [`Setting`] list that
//! `--about`, `--help`, the environment variables and the README checks
//! are made from.
//!
//! A group of settings can include other groups (a target includes the
//! driver's settings, `singer_target::DriverSettings`): the include is read
//! from the same configuration object in a second pass over its own keys,
//! instead of `#[serde(flatten)]`, which cannot decode numbers under
//! serde_json's `arbitrary_precision`.
//!
//! ```
//! use singer_protocol::{About, settings};
//!
//! settings! {
//!     /// A demo group.
//!     #[derive(Debug, Clone, PartialEq)]
//!     pub struct Batching {
//!         batch_size_rows: u64 = Integer("Rows per batch.").default_value("100000"),
//!     }
//! }
//!
//! settings! {
//!     /// A demo target's configuration.
//!     #[derive(Debug, Clone, PartialEq)]
//!     pub struct DemoConfig {
//!         path: String = String("Where files go.").default_value("\".\"").aliases(&["output_path"]),
//!         password: Option<singer_protocol::SecretString> = String("A secret.").secret(),
//!     }
//!     include {
//!         /// The batching settings.
//!         batching: Batching,
//!     }
//! }
//!
//! let config: DemoConfig = serde_json::from_str(r#"{"batch_size_rows": 5}"#)?;
//! assert_eq!((config.path.as_str(), config.batching.batch_size_rows), (".", 5));
//! assert_eq!(DemoConfig::default().batching.batch_size_rows, 100_000);
//! let names: Vec<_> = DemoConfig::ALL_SETTINGS.iter().flat_map(|g| g.iter()).map(|s| s.name).collect();
//! assert_eq!(names, ["path", "password", "batch_size_rows"]);
//! # Ok::<(), serde_json::Error>(())
//! ```

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::about::Setting;

/// The declared defaults of `settings` that are missing from `map`, added
/// (a default marked [`Setting::default_resolved_later`] is documentation
/// only and is not added).
///
/// # Errors
///
/// A default that is not JSON text (a declaration bug; each group's test of
/// `from_defaults` catches it).
#[doc(hidden)]
pub fn fill_defaults(
    map: &mut Map<String, Value>,
    settings: &[Setting],
) -> Result<(), serde_json::Error> {
    for setting in settings {
        if let Some(text) = setting.default.filter(|_| setting.default_fills)
            && !map.contains_key(setting.name)
        {
            map.insert(setting.name.to_owned(), serde_json::from_str(text)?);
        }
    }
    Ok(())
}

/// The value of `key`, decoded, or `T::default()` when absent; a required
/// setting (in `required`) that is absent is noted in `missing` (the first
/// one), for an error after every present value was checked, as serde's
/// derive reports a missing field only after the values.
///
/// # Errors
///
/// serde_json's error for a value of the wrong type.
#[doc(hidden)]
pub fn take<T: DeserializeOwned + Default>(
    map: &mut Map<String, Value>,
    key: &str,
    required: &'static [Setting],
    missing: &mut Option<&'static str>,
) -> Result<T, serde_json::Error> {
    match map.shift_remove(key) {
        Some(value) => serde_json::from_value(value),
        None => {
            if let Some(setting) = required.iter().find(|s| s.name == key && s.required) {
                missing.get_or_insert(setting.name);
            }
            Ok(T::default())
        }
    }
}

/// An included group, decoded from the keys of `map` that are its
/// settings (removed from `map`).
///
/// # Errors
///
/// The group's decoding error.
#[doc(hidden)]
pub fn decode_group<T: DeserializeOwned>(
    map: &mut Map<String, Value>,
    settings: &[&[Setting]],
) -> Result<T, serde_json::Error> {
    let mut group = Map::new();
    for setting in settings.iter().flat_map(|g| g.iter()) {
        if let Some(value) = map.shift_remove(setting.name) {
            group.insert(setting.name.to_owned(), value);
        }
    }
    serde_json::from_value(Value::Object(group))
}

/// The error serde's `deny_unknown_fields` gives, for a key left over.
///
/// # Errors
///
/// `unknown field` naming the first key that is no setting of the group.
#[doc(hidden)]
pub fn deny_unknown(
    map: &Map<String, Value>,
    settings: &[Setting],
) -> Result<(), serde_json::Error> {
    let Some(key) = map.keys().next() else {
        return Ok(());
    };
    let names: Vec<String> = settings.iter().map(|s| format!("`{}`", s.name)).collect();
    let expected = match names.as_slice() {
        [] => "there are no fields".to_owned(),
        [one] => format!("expected {one}"),
        [first, second] => format!("expected {first} or {second}"),
        all => format!("expected one of {}", all.join(", ")),
    };
    Err(serde::de::Error::custom(format_args!(
        "unknown field `{key}`, {expected}"
    )))
}

/// Declares a group of settings once: the struct (each field documented by
/// its description), `SETTINGS` (its own [`Setting`]s, names taken from the
/// field names), `ALL_SETTINGS` (its own and its includes', for
/// [`crate::About::settings`]), serde decoding that applies the declared
/// defaults and refuses unknown keys, `Default` (the declared defaults),
/// and `from_defaults`.
///
/// Each declaration is `name: RustType = Kind("description") .builder(..)*,`
/// where `Kind` is a [`crate::SettingKind`] variant and the builders are
/// [`Setting`]'s (`default_value`, `aliases`, `secret`, `required`,
/// `default_resolved_later`). Every field type implements `Default` and
/// `DeserializeOwned`. See the [module docs](mod@crate::settings) for an
/// example.
#[macro_export]
macro_rules! settings {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $(
                $field:ident : $ty:ty = $kind:ident ( $desc:literal ) $( . $method:ident ( $($arg:expr),* ) )* ,
            )*
        }
        $( include {
            $( $(#[$imeta:meta])* $ifield:ident : $ity:ty , )*
        } )?
    ) => {
        $(#[$meta])*
        $vis struct $name {
            $( #[doc = $desc] pub $field: $ty, )*
            $( $( $(#[$imeta])* pub $ifield: $ity, )* )?
        }

        impl $name {
            /// This group's own settings, in declaration order.
            pub const SETTINGS: &'static [$crate::Setting] = &[
                $( $crate::Setting::new(stringify!($field), $crate::SettingKind::$kind, $desc) $( .$method($($arg),*) )* , )*
            ];

            /// Every setting this group reads: its own, then each included
            /// group's.
            pub const ALL_SETTINGS: &'static [&'static [$crate::Setting]] =
                &[Self::SETTINGS $( $( , <$ity>::SETTINGS )* )?];

            /// The configuration with every setting at its declared
            /// default (a required setting, which has none, at its type's
            /// `Default`).
            ///
            /// # Errors
            ///
            /// A declared default that does not decode into its field (a
            /// declaration bug, caught by a test of each group).
            pub fn from_defaults() -> ::core::result::Result<Self, $crate::__private::serde_json::Error> {
                Self::__decode($crate::__private::serde_json::Map::new(), false)
            }

            #[doc(hidden)]
            pub fn __decode(
                mut map: $crate::__private::serde_json::Map<::std::string::String, $crate::__private::serde_json::Value>,
                strict: bool,
            ) -> ::core::result::Result<Self, $crate::__private::serde_json::Error> {
                $( $(
                    let $ifield: $ity = if strict {
                        $crate::settings::decode_group(&mut map, <$ity>::ALL_SETTINGS)?
                    } else {
                        <$ity>::from_defaults()?
                    };
                )* )?
                $crate::settings::fill_defaults(&mut map, Self::SETTINGS)?;
                let required: &'static [$crate::Setting] = if strict { Self::SETTINGS } else { &[] };
                let mut missing = None;
                $(
                    let $field: $ty =
                        $crate::settings::take(&mut map, stringify!($field), required, &mut missing)?;
                )*
                $crate::settings::deny_unknown(&map, Self::SETTINGS)?;
                if let Some(name) = missing {
                    return Err(<$crate::__private::serde_json::Error as $crate::__private::serde::de::Error>::missing_field(name));
                }
                Ok(Self { $( $field, )* $( $( $ifield, )* )? })
            }
        }

        impl ::core::default::Default for $name {
            /// Every setting at its declared default.
            fn default() -> Self {
                Self::from_defaults().unwrap_or_else(|_| Self {
                    $( $field: ::core::default::Default::default(), )*
                    $( $( $ifield: ::core::default::Default::default(), )* )?
                })
            }
        }

        impl<'de> $crate::__private::serde::Deserialize<'de> for $name {
            fn deserialize<D>(deserializer: D) -> ::core::result::Result<Self, D::Error>
            where
                D: $crate::__private::serde::Deserializer<'de>,
            {
                use $crate::__private::serde::de::Error as _;
                let map = <$crate::__private::serde_json::Map<
                    ::std::string::String,
                    $crate::__private::serde_json::Value,
                > as $crate::__private::serde::Deserialize>::deserialize(deserializer)?;
                Self::__decode(map, true).map_err(D::Error::custom)
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use crate::SecretString;

    crate::settings! {
        /// Inner.
        #[derive(Debug, Clone, PartialEq)]
        pub struct Inner {
            rows: u64 = Integer("Rows.").default_value("10"),
        }
    }

    crate::settings! {
        /// Outer.
        #[derive(Debug, Clone, PartialEq)]
        pub struct Outer {
            name: String = String("Name.").default_value("\"x\""),
            port: Option<u16> = Integer("Port.").default_value("5432").default_resolved_later(),
            secret: Option<SecretString> = String("Secret.").secret(),
            flag: bool = Boolean("Flag."),
            host: String = String("Host.").required(),
        }
        include {
            /// Inner settings.
            inner: Inner,
        }
    }

    #[test]
    fn defaults_apply_and_includes_read_their_keys() {
        let missing = serde_json::from_str::<Outer>("{}").expect_err("host is required");
        assert_eq!(missing.to_string(), "missing field `host`");
        assert_eq!(
            Outer::default().host,
            "",
            "a required setting has no declared default"
        );
        let outer: Outer = serde_json::from_str(r#"{"host": "h"}"#).expect("defaults decode");
        assert_eq!(outer.name, "x");
        assert_eq!(outer.port, None, "a default resolved later stays absent");
        assert_eq!(outer.inner.rows, 10);
        assert!(!outer.flag);
        let outer: Outer = serde_json::from_str(
            r#"{"rows": 7, "port": 1, "secret": "s", "flag": true, "host": "h"}"#,
        )
        .expect("decodes");
        assert_eq!(
            (outer.inner.rows, outer.port, outer.flag),
            (7, Some(1), true)
        );
        assert_eq!(
            outer.secret.map(|s| s.expose().to_owned()).as_deref(),
            Some("s")
        );
    }

    #[test]
    fn unknown_keys_and_bad_values_fail_as_serde_would() {
        let unknown =
            serde_json::from_str::<Outer>(r#"{"nope": 1, "host": "h"}"#).expect_err("unknown");
        assert!(
            unknown.to_string().starts_with("unknown field `nope`"),
            "{unknown}"
        );
        let bad = serde_json::from_str::<Outer>(r#"{"rows": "many"}"#).expect_err("bad");
        assert!(
            bad.to_string()
                .starts_with("invalid type: string \"many\", expected u64"),
            "{bad}"
        );
        let names: Vec<_> = Outer::ALL_SETTINGS
            .iter()
            .flat_map(|g| g.iter())
            .map(|s| s.name)
            .collect();
        assert_eq!(names, ["name", "port", "secret", "flag", "host", "rows"]);
        assert_eq!(Outer::SETTINGS.get(1).and_then(|s| s.default), Some("5432"));
    }
}
