//! Configuration of the SQL store (spec: `SQLAlchemyStore(database, tablename)`).

use asyncz_core::{config, Error, Map, Result, Value};

/// Options of [`crate::SqlStore`].
#[derive(Clone, PartialEq, Eq)]
pub struct SqlStoreConfig {
    /// The database URL: `sqlite://path.db`, `sqlite::memory:`, `postgres://...`,
    /// `mysql://...` (or `mariadb://...`).
    pub url: String,
    /// The table name (default `asyncz_store`); letters, digits and `_`, not starting with a
    /// digit, at most 63 characters.
    pub tablename: String,
    /// Connections in the pool (default 5).
    pub max_connections: u32,
    /// Encrypt with this key instead of `ASYNCZ_STORE_ENCRYPTION_KEY`.
    pub encryption_key: Option<String>,
}

impl std::fmt::Debug for SqlStoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print a password or a key.
        f.debug_struct("SqlStoreConfig")
            .field("url", &redact(&self.url))
            .field("tablename", &self.tablename)
            .field("max_connections", &self.max_connections)
            .field("encrypted", &self.encryption_key.is_some())
            .finish()
    }
}

pub(crate) use asyncz_core::codec::redact_url as redact;

impl SqlStoreConfig {
    /// The defaults for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        SqlStoreConfig {
            url: url.into(),
            tablename: "asyncz_store".to_owned(),
            max_connections: 5,
            encryption_key: None,
        }
    }

    /// Reads `url` (or the spec's `database`), `tablename`, `max_connections`,
    /// `encryption_key`; rejects unknown keys by name.
    pub fn from_map(map: &Map) -> Result<Self> {
        let field = |k: &str| format!("stores.sql.{k}");
        let url = match map.get("url").or_else(|| map.get("database")) {
            Some(Value::String(u)) if !u.trim().is_empty() => u.trim().to_owned(),
            Some(other) => {
                return Err(Error::invalid(
                    field("url"),
                    format!("expected a database URL, got {other}"),
                ))
            }
            None => {
                return Err(Error::invalid(
                    field("url"),
                    "is required (e.g. sqlite://tasks.db)",
                ))
            }
        };
        let mut out = SqlStoreConfig::new(url);
        for (key, value) in map {
            match key.as_str() {
                "url" | "database" => {}
                "tablename" | "table" => out.tablename = config::string(&field(key), value)?,
                "max_connections" => out.max_connections = config::as_u32(&field(key), value)?,
                "encryption_key" => out.encryption_key = Some(config::string(&field(key), value)?),
                other => {
                    return Err(Error::invalid(
                        field(other),
                        "unknown option (expected url, tablename, max_connections, encryption_key)",
                    ))
                }
            }
        }
        out.validate()?;
        Ok(out)
    }

    /// Checks the table name (it is spliced into SQL, so it must be a plain identifier).
    pub fn validate(&self) -> Result<()> {
        let t = &self.tablename;
        let ok = !t.is_empty()
            && t.len() <= 63
            && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !t.starts_with(|c: char| c.is_ascii_digit());
        if !ok {
            return Err(Error::invalid(
                "stores.sql.tablename",
                format!("'{t}' is not a plain identifier (letters, digits, '_'; not starting with a digit; at most 63)"),
            ));
        }
        Ok(())
    }
}
