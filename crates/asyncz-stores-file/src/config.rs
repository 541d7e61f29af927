//! Configuration of the file store (spec: `FileStore(directory, suffix, mode,
//! cleanup_directory)`).

use std::path::PathBuf;

use asyncz_core::{config, Error, Map, Result, Value};

/// Options of [`crate::FileStore`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStoreConfig {
    /// The directory holding the task files (created on start).
    pub directory: PathBuf,
    /// The file name suffix (default `.task`).
    pub suffix: String,
    /// The directory's permission bits when created (default `0o700`).
    pub mode: u32,
    /// Remove the directory and everything in it at shutdown (default false).
    pub cleanup_directory: bool,
    /// Encrypt with this key instead of `ASYNCZ_STORE_ENCRYPTION_KEY`.
    pub encryption_key: Option<String>,
}

impl FileStoreConfig {
    /// The defaults for `directory`.
    pub fn new(directory: impl Into<PathBuf>) -> Self {
        FileStoreConfig {
            directory: directory.into(),
            suffix: ".task".to_owned(),
            mode: 0o700,
            cleanup_directory: false,
            encryption_key: None,
        }
    }

    /// Reads `directory` (required), `suffix`, `mode` (a number, or an octal string like
    /// `"0o750"` / `"750"`), `cleanup_directory`, `encryption_key`; rejects unknown keys.
    pub fn from_map(map: &Map) -> Result<Self> {
        let field = |k: &str| format!("stores.file.{k}");
        let directory = match map.get("directory") {
            Some(Value::String(d)) if !d.trim().is_empty() => PathBuf::from(d),
            Some(other) => {
                return Err(Error::invalid(
                    field("directory"),
                    format!("expected a path, got {other}"),
                ))
            }
            None => return Err(Error::invalid(field("directory"), "is required")),
        };
        let mut out = FileStoreConfig::new(directory);
        for (key, value) in map {
            match key.as_str() {
                "directory" => {}
                "suffix" => {
                    let suffix = config::string(&field("suffix"), value)?;
                    if suffix.is_empty() || suffix.contains(['/', '\\', '\0']) {
                        return Err(Error::invalid(field("suffix"), format!("'{suffix}' cannot end a file name")));
                    }
                    out.suffix = suffix;
                }
                "mode" => out.mode = mode(&field("mode"), value)?,
                "cleanup_directory" => out.cleanup_directory = config::as_bool(&field("cleanup_directory"), value)?,
                "encryption_key" => out.encryption_key = Some(config::string(&field("encryption_key"), value)?),
                other => {
                    return Err(Error::invalid(
                        field(other),
                        "unknown option (expected directory, suffix, mode, cleanup_directory, encryption_key)",
                    ))
                }
            }
        }
        Ok(out)
    }
}

fn mode(field: &str, value: &Value) -> Result<u32> {
    let parsed = match value {
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Value::String(s) => {
            let digits = s.trim().trim_start_matches("0o");
            u32::from_str_radix(digits, 8).ok()
        }
        _ => None,
    };
    match parsed {
        Some(m) if m <= 0o7777 => Ok(m),
        _ => Err(Error::invalid(
            field,
            format!("{value} is not a permission mode like 0o700"),
        )),
    }
}
