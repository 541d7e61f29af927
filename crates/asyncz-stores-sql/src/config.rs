//! Configuration of the SQL store (spec: `SQLAlchemyStore(database, tablename)`).

use std::time::Duration;

use asyncz_core::{config, Error, Map, Result, Value};

/// The default of [`SqlStoreConfig::connect_timeout`].
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Options of [`crate::SqlStore`].
#[derive(Clone, PartialEq, Eq)]
pub struct SqlStoreConfig {
    /// The database URL: `sqlite://path.db`, `sqlite::memory:`, `postgres://...`,
    /// `mysql://...` (or `mariadb://...`).
    pub url: String,
    /// The table name (default `asyncz_store`); letters, digits and `_`, not starting with a
    /// digit, at most 63 characters. It is quoted in every statement, so SQL keywords
    /// (`select`, `order`) work; PostgreSQL folds it to lower case first, as it does an
    /// unquoted name, so a table made by an earlier version is still found.
    pub tablename: String,
    /// Connections in the pool (default 5).
    pub max_connections: u32,
    /// Encrypt with this key instead of `ASYNCZ_STORE_ENCRYPTION_KEY`.
    pub encryption_key: Option<String>,
    /// How long `start` keeps trying to reach the database (default 10 s; config key
    /// `connect_timeout`, in seconds). Each failed attempt is logged as a warning; when the
    /// time is up, `start` fails with the last error and the (redacted) URL. Also the pool's
    /// acquire timeout afterwards.
    pub connect_timeout: Duration,
}

impl std::fmt::Debug for SqlStoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print a password or a key.
        f.debug_struct("SqlStoreConfig")
            .field("url", &redact(&self.url))
            .field("tablename", &self.tablename)
            .field("max_connections", &self.max_connections)
            .field("connect_timeout", &self.connect_timeout)
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
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }

    /// Reads `url` (or the spec's `database`), `tablename`, `max_connections`,
    /// `encryption_key`, `connect_timeout` (seconds); rejects unknown keys by name.
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
                "connect_timeout" => out.connect_timeout = config::seconds(&field(key), value)?,
                other => {
                    return Err(Error::invalid(
                        field(other),
                        "unknown option (expected url, tablename, max_connections, encryption_key, connect_timeout)",
                    ))
                }
            }
        }
        out.validate()?;
        Ok(out)
    }

    /// Checks the table name (it is spliced into SQL, so it must be a plain identifier) and
    /// that `connect_timeout` is above zero.
    pub fn validate(&self) -> Result<()> {
        if self.connect_timeout.is_zero() {
            return Err(Error::invalid(
                "stores.sql.connect_timeout",
                "must be above 0 seconds, got 0",
            ));
        }
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
