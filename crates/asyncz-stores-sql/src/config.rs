//! Configuration of the SQL store (spec: `SQLAlchemyStore(database, tablename)`).

use std::time::Duration;

use asyncz_core::plugin_config::{
    default_connect_timeout, non_empty_string, positive_seconds, positive_u32,
};
use asyncz_core::{parse_plugin_config, Error, Map, PluginConfig, Result};
use serde::Deserialize;

/// The default of [`SqlStoreConfig::connect_timeout`] (10 s).
pub use asyncz_core::plugin_config::DEFAULT_CONNECT_TIMEOUT;

/// Options of [`crate::SqlStore`].
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SqlStoreConfig {
    /// `url` (required; the spec's `database` too): `sqlite://path.db`, `sqlite::memory:`,
    /// `postgres://...`, `mysql://...` (or `mariadb://...`).
    #[serde(alias = "database", deserialize_with = "non_empty_string")]
    pub url: String,
    /// `tablename` (or `table`; default `asyncz_store`): letters, digits and `_`, not starting
    /// with a digit, at most 63 characters. It is quoted in every statement, so SQL keywords
    /// (`select`, `order`) work; PostgreSQL folds it to lower case first, as it does an
    /// unquoted name, so a table made by an earlier version is still found.
    #[serde(alias = "table", default = "default_tablename")]
    pub tablename: String,
    /// `max_connections`: connections in the pool (default 5).
    #[serde(default = "default_max_connections", deserialize_with = "positive_u32")]
    pub max_connections: u32,
    /// `encryption_key`: encrypt with this key instead of `ASYNCZ_STORE_ENCRYPTION_KEY`.
    #[serde(default)]
    pub encryption_key: Option<String>,
    /// `connect_timeout`: how long `start` keeps trying to reach the database (default 10 s;
    /// in seconds, fractional allowed, above zero). Each failed attempt is logged as a
    /// warning; when the time is up, `start` fails with the last error and the (redacted)
    /// URL. Also the pool's acquire timeout afterwards.
    #[serde(
        default = "default_connect_timeout",
        deserialize_with = "positive_seconds"
    )]
    pub connect_timeout: Duration,
}

impl PluginConfig for SqlStoreConfig {}

fn default_tablename() -> String {
    "asyncz_store".to_owned()
}

fn default_max_connections() -> u32 {
    5
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
            tablename: default_tablename(),
            max_connections: default_max_connections(),
            encryption_key: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }

    /// The table name; checked by [`validate`](Self::validate) (the store calls it at
    /// construction), not here.
    pub fn tablename(mut self, tablename: impl Into<String>) -> Self {
        self.tablename = tablename.into();
        self
    }

    /// Connections in the pool.
    pub fn max_connections(mut self, max_connections: u32) -> Self {
        self.max_connections = max_connections;
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

    /// Reads the plugin configuration map (keys as the fields) and [validates](Self::validate)
    /// it; an error names the key and the value, and an unknown key is rejected.
    pub fn from_map(map: &Map) -> Result<Self> {
        let out: Self = parse_plugin_config(map).map_err(|e| match e {
            Error::InvalidArgument { field, message }
                if field == "url" && message == "is required" =>
            {
                Error::invalid(field, "is required (e.g. sqlite://tasks.db)")
            }
            other => other,
        })?;
        out.validate()?;
        Ok(out)
    }

    /// Checks the table name (it is spliced into SQL, so it must be a plain identifier) and
    /// that `connect_timeout` is above zero.
    pub fn validate(&self) -> Result<()> {
        if self.connect_timeout.is_zero() {
            return Err(Error::invalid(
                "connect_timeout",
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
                "tablename",
                format!("'{t}' is not a plain identifier (letters, digits, '_'; not starting with a digit; at most 63)"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parse(v: serde_json::Value) -> Result<SqlStoreConfig> {
        SqlStoreConfig::from_map(v.as_object().unwrap())
    }

    fn field_and_message(v: serde_json::Value) -> (String, String) {
        match parse(v).unwrap_err() {
            Error::InvalidArgument { field, message } => (field, message),
            other => panic!("{other}"),
        }
    }

    #[test]
    fn the_spec_names_and_the_defaults() {
        let c = parse(serde_json::json!({"database": "sqlite://x.db", "table": "jobs"})).unwrap();
        assert_eq!(
            (c.url.as_str(), c.tablename.as_str()),
            ("sqlite://x.db", "jobs")
        );
        let c = parse(serde_json::json!({"url": "sqlite://x.db", "connect_timeout": 1.5})).unwrap();
        assert_eq!(c.connect_timeout, Duration::from_millis(1500));
        assert_eq!(c.max_connections, 5);
        assert_eq!(c.tablename, "asyncz_store");
        assert!(c.encryption_key.is_none());
    }

    /// Each setter sets the option its map key does.
    #[test]
    fn the_setters_match_the_map_keys() {
        let from_map = parse(
            serde_json::json!({"url": "sqlite://x.db", "tablename": "jobs",
            "max_connections": 2, "encryption_key": "k", "connect_timeout": 3}),
        )
        .unwrap();
        let built = SqlStoreConfig::new("sqlite://x.db")
            .tablename("jobs")
            .max_connections(2)
            .encryption_key("k")
            .connect_timeout(Duration::from_secs(3));
        assert_eq!(built, from_map);
    }

    #[test]
    fn errors_name_the_key_and_the_value() {
        for (bad, field, fragment) in [
            (serde_json::json!({}), "url", "is required (e.g. sqlite://tasks.db)"),
            (serde_json::json!({"url": 3}), "url", "3 is not a string"),
            (serde_json::json!({"url": "u", "database": "v"}), "url", "given twice"),
            (serde_json::json!({"url": "u", "max_connections": "0"}), "max_connections", "got 0"),
            (serde_json::json!({"url": "u", "connect_timeout": "0"}), "connect_timeout", "\"0\""),
            (serde_json::json!({"url": "u", "tablename": "a b"}), "tablename", "'a b'"),
            (serde_json::json!({"url": "u", "pool": 1}), "pool", "expected database, url, table, tablename, max_connections, encryption_key, connect_timeout"),
        ] {
            let (f, message) = field_and_message(bad.clone());
            assert_eq!(f, field, "{bad}: {message}");
            assert!(message.contains(fragment), "{bad}: '{message}' lacks '{fragment}'");
        }
    }
}
