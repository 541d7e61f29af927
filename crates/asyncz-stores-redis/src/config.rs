//! Configuration of the Redis store (spec: `RedisStore(database, tasks_key, run_times_key,
//! **connect_args)`).

use std::time::Duration;

use asyncz_core::plugin_config::{
    coerced_u64, default_connect_timeout, non_empty_string, positive_seconds,
};
use asyncz_core::{parse_plugin_config, Error, Map, PluginConfig, Result};
use serde::{Deserialize, Deserializer};

/// The default of [`RedisStoreConfig::connect_timeout`] (10 s).
pub use asyncz_core::plugin_config::DEFAULT_CONNECT_TIMEOUT;

/// Options of [`crate::RedisStore`].
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RedisStoreConfig {
    /// `url`: the server URL (default `redis://127.0.0.1:6379`).
    #[serde(default = "default_url", deserialize_with = "non_empty_string")]
    pub url: String,
    /// `database` (or `db`): the database number, a number or a numeric string (default: the
    /// one in the URL path, else 0; this overrides it).
    #[serde(alias = "db", default, deserialize_with = "database")]
    pub database: Option<i64>,
    /// `tasks_key`: the hash of task records (default `asyncz.tasks`).
    #[serde(default = "default_tasks_key", deserialize_with = "key_name")]
    pub tasks_key: String,
    /// `run_times_key`: the sorted set of next run times (default `asyncz.run_times`); not
    /// the same as `tasks_key`.
    #[serde(default = "default_run_times_key", deserialize_with = "key_name")]
    pub run_times_key: String,
    /// `encryption_key`: encrypt with this key instead of `ASYNCZ_STORE_ENCRYPTION_KEY`.
    #[serde(default)]
    pub encryption_key: Option<String>,
    /// `connect_timeout`: how long connecting may take (default 10 s; in seconds, fractional
    /// allowed, above zero): at start, and again after a connection failure. Failed attempts
    /// within it are retried with a short backoff and each is logged (warn); when it has
    /// passed, the operation fails with an error naming the URL and this timeout. It also
    /// bounds each attempt's TCP connect and handshake.
    #[serde(
        default = "default_connect_timeout",
        deserialize_with = "positive_seconds"
    )]
    pub connect_timeout: Duration,
}

impl PluginConfig for RedisStoreConfig {}

fn default_url() -> String {
    "redis://127.0.0.1:6379".to_owned()
}

fn default_tasks_key() -> String {
    "asyncz.tasks".to_owned()
}

fn default_run_times_key() -> String {
    "asyncz.run_times".to_owned()
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
            tasks_key: default_tasks_key(),
            run_times_key: default_run_times_key(),
            encryption_key: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }

    /// The database number, overriding the one in the URL path.
    pub fn database(mut self, database: i64) -> Self {
        self.database = Some(database);
        self
    }

    /// The hash of task records.
    pub fn tasks_key(mut self, key: impl Into<String>) -> Self {
        self.tasks_key = key.into();
        self
    }

    /// The sorted set of next run times (not the same as `tasks_key`).
    pub fn run_times_key(mut self, key: impl Into<String>) -> Self {
        self.run_times_key = key.into();
        self
    }

    /// Encrypts with `key` instead of `ASYNCZ_STORE_ENCRYPTION_KEY`.
    pub fn encryption_key(mut self, key: impl Into<String>) -> Self {
        self.encryption_key = Some(key.into());
        self
    }

    /// How long connecting may take (see the field).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Reads the plugin configuration map (keys as the fields); an error names the key and
    /// the value, and an unknown key is rejected. `tasks_key` and `run_times_key` must differ.
    pub fn from_map(map: &Map) -> Result<Self> {
        let out: Self = parse_plugin_config(map)?;
        if out.tasks_key == out.run_times_key {
            return Err(Error::invalid(
                "run_times_key",
                format!(
                    "'{}' is also the tasks_key; they must differ",
                    out.run_times_key
                ),
            ));
        }
        Ok(out)
    }
}

fn database<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<i64>, D::Error> {
    let n = coerced_u64(d)?;
    i64::try_from(n)
        .map(Some)
        .map_err(|_| serde::de::Error::custom(format!("{n} is too large")))
}

fn key_name<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<String, D::Error> {
    let key = String::deserialize(d)?;
    if key.is_empty() {
        return Err(serde::de::Error::custom("must not be empty"));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parse(v: serde_json::Value) -> Result<RedisStoreConfig> {
        RedisStoreConfig::from_map(v.as_object().unwrap())
    }

    #[test]
    fn the_spec_names_and_the_defaults() {
        let c = parse(serde_json::json!({})).unwrap();
        assert_eq!(c, RedisStoreConfig::new("redis://127.0.0.1:6379"));
        assert_eq!(c.database, None);
        let c = parse(serde_json::json!({"db": 2, "url": " redis://h:1 "})).unwrap();
        assert_eq!((c.database, c.url.as_str()), (Some(2), "redis://h:1"));
    }

    /// Each setter sets the option its map key does.
    #[test]
    fn the_setters_match_the_map_keys() {
        let from_map = parse(serde_json::json!({"url": "redis://h:1", "database": 3,
            "tasks_key": "t", "run_times_key": "r", "encryption_key": "k", "connect_timeout": 2}))
        .unwrap();
        let built = RedisStoreConfig::new("redis://h:1")
            .database(3)
            .tasks_key("t")
            .run_times_key("r")
            .encryption_key("k")
            .connect_timeout(Duration::from_secs(2));
        assert_eq!(built, from_map);
    }

    #[test]
    fn errors_name_the_key_and_the_value() {
        for (bad, field, fragment) in [
            (serde_json::json!({"database": -1}), "database", "-1"),
            (
                serde_json::json!({"database": u64::MAX}),
                "database",
                "too large",
            ),
            (
                serde_json::json!({"tasks_key": ""}),
                "tasks_key",
                "must not be empty",
            ),
            (
                serde_json::json!({"run_times_key": "asyncz.tasks"}),
                "run_times_key",
                "'asyncz.tasks'",
            ),
            (serde_json::json!({"url": ""}), "url", "must not be empty"),
            (
                serde_json::json!({"connect_timeout": "soon"}),
                "connect_timeout",
                "'soon'",
            ),
            (
                serde_json::json!({"host": "x"}),
                "host",
                "expected url, database, db, tasks_key",
            ),
        ] {
            match parse(bad.clone()).unwrap_err() {
                Error::InvalidArgument { field: f, message } => {
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
