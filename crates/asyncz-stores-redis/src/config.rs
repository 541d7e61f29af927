//! Configuration of the Redis store (spec: `RedisStore(database, tasks_key, run_times_key,
//! **connect_args)`).

use std::time::Duration;

use asyncz_core::{config, Error, Map, Result, Value};

/// The default of [`RedisStoreConfig::connect_timeout`].
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Options of [`crate::RedisStore`].
#[derive(Clone, PartialEq, Eq)]
pub struct RedisStoreConfig {
    /// The server URL (default `redis://127.0.0.1:6379`).
    pub url: String,
    /// The database number (default 0; overrides one given in the URL path).
    pub database: Option<i64>,
    /// The hash of task records (default `asyncz.tasks`).
    pub tasks_key: String,
    /// The sorted set of next run times (default `asyncz.run_times`).
    pub run_times_key: String,
    /// Encrypt with this key instead of `ASYNCZ_STORE_ENCRYPTION_KEY`.
    pub encryption_key: Option<String>,
    /// How long connecting may take (default 10 s): at start, and again after a connection
    /// failure. Failed attempts within it are retried with a short backoff and each is logged
    /// (warn); when it has passed, the operation fails with an error naming the URL and this
    /// timeout. It also bounds each attempt's TCP connect and handshake.
    pub connect_timeout: Duration,
}

impl std::fmt::Debug for RedisStoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStoreConfig")
            .field("url", &redact(&self.url))
            .field("database", &self.database)
            .field("tasks_key", &self.tasks_key)
            .field("run_times_key", &self.run_times_key)
            .field("encrypted", &self.encryption_key.is_some())
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

pub(crate) use asyncz_core::codec::redact_url as redact;

impl RedisStoreConfig {
    /// The defaults for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        RedisStoreConfig {
            url: url.into(),
            database: None,
            tasks_key: "asyncz.tasks".to_owned(),
            run_times_key: "asyncz.run_times".to_owned(),
            encryption_key: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }

    /// Reads `url`, `database` (number or numeric string), `tasks_key`, `run_times_key`,
    /// `encryption_key`, `connect_timeout` (seconds, fractional allowed, above zero); rejects
    /// unknown keys by name.
    pub fn from_map(map: &Map) -> Result<Self> {
        let field = |k: &str| format!("stores.redis.{k}");
        let url = match map.get("url") {
            Some(Value::String(u)) if !u.trim().is_empty() => u.trim().to_owned(),
            Some(other) => {
                return Err(Error::invalid(
                    field("url"),
                    format!("expected a redis:// URL, got {other}"),
                ))
            }
            None => "redis://127.0.0.1:6379".to_owned(),
        };
        let mut out = RedisStoreConfig::new(url);
        for (key, value) in map {
            match key.as_str() {
                "url" => {}
                "database" | "db" => {
                    let n = config::as_u64(&field(key), value)?;
                    out.database = Some(i64::try_from(n).map_err(|_| Error::invalid(field(key), format!("{n} is too large")))?);
                }
                "tasks_key" => out.tasks_key = key_name(&field(key), value)?,
                "run_times_key" => out.run_times_key = key_name(&field(key), value)?,
                "encryption_key" => out.encryption_key = Some(config::string(&field(key), value)?),
                "connect_timeout" => out.connect_timeout = connect_timeout(&field(key), value)?,
                other => {
                    return Err(Error::invalid(
                        field(other),
                        "unknown option (expected url, database, tasks_key, run_times_key, encryption_key, connect_timeout)",
                    ))
                }
            }
        }
        if out.tasks_key == out.run_times_key {
            return Err(Error::invalid(
                field("run_times_key"),
                format!(
                    "'{}' is also the tasks_key; they must differ",
                    out.run_times_key
                ),
            ));
        }
        Ok(out)
    }
}

fn key_name(field: &str, value: &Value) -> Result<String> {
    let key = config::string(field, value)?;
    if key.is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    Ok(key)
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
