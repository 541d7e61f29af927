//! Configuration of the MongoDB store (spec: `MongoDBStore(database, collection, client)`).

use std::time::Duration;

use asyncz_core::{config, Error, Map, Result, Value};

/// The default of [`MongoStoreConfig::connect_timeout`].
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Options of [`crate::MongoStore`].
#[derive(Clone, PartialEq, Eq)]
pub struct MongoStoreConfig {
    /// The connection string (default `mongodb://127.0.0.1:27017`).
    pub url: String,
    /// The database (default `asyncz`).
    pub database: String,
    /// The collection (default `tasks`).
    pub collection: String,
    /// Encrypt with this key instead of `ASYNCZ_STORE_ENCRYPTION_KEY`.
    pub encryption_key: Option<String>,
    /// How long connecting may take (default 10 s): the driver's `connect_timeout` and
    /// `server_selection_timeout` (overriding `connectTimeoutMS` / `serverSelectionTimeoutMS`
    /// in the URL), so start, and any operation while the server is away, fails within it.
    /// Start is bounded by it on an application's own client too.
    pub connect_timeout: Duration,
}

impl std::fmt::Debug for MongoStoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MongoStoreConfig")
            .field("url", &redact(&self.url))
            .field("database", &self.database)
            .field("collection", &self.collection)
            .field("encrypted", &self.encryption_key.is_some())
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

pub(crate) use asyncz_core::codec::redact_url as redact;

impl MongoStoreConfig {
    /// The defaults for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        MongoStoreConfig {
            url: url.into(),
            database: "asyncz".to_owned(),
            collection: "tasks".to_owned(),
            encryption_key: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }

    /// Reads `url` (or `host`), `database`, `collection`, `encryption_key`, `connect_timeout`
    /// (seconds, fractional allowed, above zero); rejects unknown keys by name.
    pub fn from_map(map: &Map) -> Result<Self> {
        let field = |k: &str| format!("stores.mongo.{k}");
        let url = match map.get("url").or_else(|| map.get("host")) {
            Some(Value::String(u)) if !u.trim().is_empty() => u.trim().to_owned(),
            Some(other) => {
                return Err(Error::invalid(
                    field("url"),
                    format!("expected a mongodb:// URL, got {other}"),
                ))
            }
            None => "mongodb://127.0.0.1:27017".to_owned(),
        };
        let mut out = MongoStoreConfig::new(url);
        for (key, value) in map {
            match key.as_str() {
                "url" | "host" => {}
                "database" => out.database = name(&field(key), value)?,
                "collection" => out.collection = name(&field(key), value)?,
                "encryption_key" => out.encryption_key = Some(config::string(&field(key), value)?),
                "connect_timeout" => out.connect_timeout = connect_timeout(&field(key), value)?,
                other => {
                    return Err(Error::invalid(
                        field(other),
                        "unknown option (expected url, database, collection, encryption_key, connect_timeout)",
                    ))
                }
            }
        }
        Ok(out)
    }
}

fn name(field: &str, value: &Value) -> Result<String> {
    let s = config::string(field, value)?;
    if s.is_empty() || s.contains(['/', '\\', '.', ' ', '"', '$', '\0']) {
        return Err(Error::invalid(
            field,
            format!("'{s}' is not a valid MongoDB name"),
        ));
    }
    Ok(s)
}

/// A positive number of seconds: a zero timeout would fail every connection.
fn connect_timeout(field: &str, value: &Value) -> Result<Duration> {
    let timeout = config::seconds(field, value)?;
    if timeout.is_zero() {
        return Err(Error::invalid(
            field,
            format!("{value} is not a positive number of seconds"),
        ));
    }
    Ok(timeout)
}
