//! Configuration of the file store (spec: `FileStore(directory, suffix, mode,
//! cleanup_directory)`).

use std::path::PathBuf;

use asyncz_core::plugin_config::coerced_bool;
use asyncz_core::{parse_plugin_config, Map, PluginConfig, Result, Value};
use serde::{Deserialize, Deserializer};

/// Options of [`crate::FileStore`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct FileStoreConfig {
    /// `directory` (required): the directory holding the task files (created on start).
    #[serde(deserialize_with = "directory")]
    pub directory: PathBuf,
    /// `suffix`: the file name suffix (default `.task`).
    #[serde(default = "default_suffix", deserialize_with = "suffix")]
    pub suffix: String,
    /// `mode`: the directory's permission bits when created (default `0o700`); a number, or
    /// an octal string like `"0o750"` / `"750"`.
    #[serde(default = "default_mode", deserialize_with = "mode")]
    pub mode: u32,
    /// `cleanup_directory`: remove the directory and everything in it at shutdown (default
    /// false).
    #[serde(default, deserialize_with = "coerced_bool")]
    pub cleanup_directory: bool,
    /// `encryption_key`: encrypt with this key instead of `ASYNCZ_STORE_ENCRYPTION_KEY`.
    #[serde(default)]
    pub encryption_key: Option<String>,
}

impl PluginConfig for FileStoreConfig {}

fn default_suffix() -> String {
    ".task".to_owned()
}

fn default_mode() -> u32 {
    0o700
}

impl FileStoreConfig {
    /// The defaults for `directory`.
    pub fn new(directory: impl Into<PathBuf>) -> Self {
        FileStoreConfig {
            directory: directory.into(),
            suffix: default_suffix(),
            mode: default_mode(),
            cleanup_directory: false,
            encryption_key: None,
        }
    }

    /// The file name suffix.
    pub fn suffix(mut self, suffix: impl Into<String>) -> Self {
        self.suffix = suffix.into();
        self
    }

    /// The directory's permission bits when created.
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode;
        self
    }

    /// Remove the directory and everything in it at shutdown.
    pub fn cleanup_directory(mut self, cleanup: bool) -> Self {
        self.cleanup_directory = cleanup;
        self
    }

    /// Encrypts with `key` instead of `ASYNCZ_STORE_ENCRYPTION_KEY`.
    pub fn encryption_key(mut self, key: impl Into<String>) -> Self {
        self.encryption_key = Some(key.into());
        self
    }

    /// Reads the plugin configuration map (keys as the fields); an error names the key and
    /// the value, and an unknown key is rejected.
    pub fn from_map(map: &Map) -> Result<Self> {
        parse_plugin_config(map)
    }
}

fn directory<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<PathBuf, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) if !s.trim().is_empty() => Ok(PathBuf::from(s)),
        other => Err(serde::de::Error::custom(format!(
            "expected a path, got {other}"
        ))),
    }
}

/// A suffix that can end a file name: no separators, not empty.
fn suffix<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<String, D::Error> {
    let suffix = String::deserialize(d)?;
    if suffix.is_empty() || suffix.contains(['/', '\\', '\0']) {
        return Err(serde::de::Error::custom(format!(
            "'{suffix}' cannot end a file name"
        )));
    }
    Ok(suffix)
}

fn mode<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<u32, D::Error> {
    let value = Value::deserialize(d)?;
    let parsed = match &value {
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Value::String(s) => {
            let digits = s.trim().trim_start_matches("0o");
            u32::from_str_radix(digits, 8).ok()
        }
        _ => None,
    };
    match parsed {
        Some(m) if m <= 0o7777 => Ok(m),
        _ => Err(serde::de::Error::custom(format!(
            "{value} is not a permission mode like 0o700"
        ))),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parse(v: Value) -> Result<FileStoreConfig> {
        FileStoreConfig::from_map(v.as_object().unwrap())
    }

    #[test]
    fn defaults_follow_the_spec_and_values_coerce() {
        let c = parse(serde_json::json!({"directory": "/tmp/x"})).unwrap();
        assert_eq!(c, FileStoreConfig::new("/tmp/x"));
        assert_eq!(
            (c.suffix.as_str(), c.mode, c.cleanup_directory),
            (".task", 0o700, false)
        );
        let c = parse(
            serde_json::json!({"directory": "/x", "mode": 488, "cleanup_directory": "false"}),
        )
        .unwrap();
        assert_eq!((c.mode, c.cleanup_directory), (0o750, false));
        assert_eq!(
            parse(serde_json::json!({"directory": "/x", "mode": "750"}))
                .unwrap()
                .mode,
            0o750
        );
    }

    /// Each setter sets the option its map key does.
    #[test]
    fn the_setters_match_the_map_keys() {
        let from_map = parse(serde_json::json!({"directory": "/x", "suffix": ".job",
            "mode": "750", "cleanup_directory": true, "encryption_key": "k"}))
        .unwrap();
        let built = FileStoreConfig::new("/x")
            .suffix(".job")
            .mode(0o750)
            .cleanup_directory(true)
            .encryption_key("k");
        assert_eq!(built, from_map);
    }

    #[test]
    fn errors_name_the_key_and_the_value() {
        for (bad, field, fragment) in [
            (serde_json::json!({"directory": " "}), "directory", "\" \""),
            (
                serde_json::json!({"directory": "/x", "mode": "0o17777"}),
                "mode",
                "0o17777",
            ),
            (
                serde_json::json!({"directory": "/x", "cleanup_directory": "maybe"}),
                "cleanup_directory",
                "'maybe'",
            ),
            (
                serde_json::json!({"directory": "/x", "suffix": ""}),
                "suffix",
                "''",
            ),
            (
                serde_json::json!({"directory": "/x", "colour": 1}),
                "colour",
                "expected directory, suffix, mode, cleanup_directory, encryption_key",
            ),
        ] {
            match parse(bad.clone()).unwrap_err() {
                asyncz_core::Error::InvalidArgument { field: f, message } => {
                    assert_eq!(f, field, "{bad}: {message}");
                    assert!(
                        message.contains(fragment),
                        "{bad}: '{message}' lacks '{fragment}'"
                    );
                }
                other => panic!("{other}"),
            }
        }
    }
}
