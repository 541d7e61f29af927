//! Configuration of the MongoDB store (spec: `MongoDBStore(database, collection, client)`).

use std::time::Duration;

use asyncz_core::plugin_config::{default_connect_timeout, non_empty_string, positive_seconds};
use asyncz_core::{parse_plugin_config, Map, PluginConfig, Result};
use serde::{Deserialize, Deserializer};

/// The default of [`MongoStoreConfig::connect_timeout`] (10 s).
pub use asyncz_core::plugin_config::DEFAULT_CONNECT_TIMEOUT;

/// Options of [`crate::MongoStore`].
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct MongoStoreConfig {
    /// `url` (or `host`): the connection string (default `mongodb://127.0.0.1:27017`).
    #[serde(
        alias = "host",
        default = "default_url",
        deserialize_with = "non_empty_string"
    )]
    pub url: String,
    /// `database`: the database (default `asyncz`).
    #[serde(default = "default_database", deserialize_with = "name")]
    pub database: String,
    /// `collection`: the collection (default `tasks`).
    #[serde(default = "default_collection", deserialize_with = "name")]
    pub collection: String,
    /// `encryption_key`: encrypt with this key instead of `ASYNCZ_STORE_ENCRYPTION_KEY`.
    #[serde(default)]
    pub encryption_key: Option<String>,
    /// `connect_timeout`: how long connecting may take (default 10 s; in seconds, fractional
    /// allowed, above zero): the driver's `connect_timeout` and `server_selection_timeout`
    /// (overriding `connectTimeoutMS` / `serverSelectionTimeoutMS` in the URL), so start, and
    /// any operation while the server is away, fails within it. Start is bounded by it on an
    /// application's own client too.
    #[serde(
        default = "default_connect_timeout",
        deserialize_with = "positive_seconds"
    )]
    pub connect_timeout: Duration,
}

impl PluginConfig for MongoStoreConfig {}

fn default_url() -> String {
    "mongodb://127.0.0.1:27017".to_owned()
}

fn default_database() -> String {
    "asyncz".to_owned()
}

fn default_collection() -> String {
    "tasks".to_owned()
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
            database: default_database(),
            collection: default_collection(),
            encryption_key: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }

    /// The database.
    pub fn database(mut self, database: impl Into<String>) -> Self {
        self.database = database.into();
        self
    }

    /// The collection.
    pub fn collection(mut self, collection: impl Into<String>) -> Self {
        self.collection = collection.into();
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
    /// the value, and an unknown key is rejected.
    pub fn from_map(map: &Map) -> Result<Self> {
        parse_plugin_config(map)
    }
}

/// A database or collection name MongoDB accepts.
fn name<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<String, D::Error> {
    let s = String::deserialize(d)?;
    if s.is_empty() || s.contains(['/', '\\', '.', ' ', '"', '$', '\0']) {
        return Err(serde::de::Error::custom(format!(
            "'{s}' is not a valid MongoDB name"
        )));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parse(v: serde_json::Value) -> Result<MongoStoreConfig> {
        MongoStoreConfig::from_map(v.as_object().unwrap())
    }

    #[test]
    fn the_spec_names_and_the_defaults() {
        let c = parse(serde_json::json!({})).unwrap();
        assert_eq!(c, MongoStoreConfig::new("mongodb://127.0.0.1:27017"));
        assert_eq!(
            (c.database.as_str(), c.collection.as_str()),
            ("asyncz", "tasks")
        );
        let c =
            parse(serde_json::json!({"host": "mongodb://db:1", "connect_timeout": "3"})).unwrap();
        assert_eq!(
            (c.url.as_str(), c.connect_timeout),
            ("mongodb://db:1", Duration::from_secs(3))
        );
    }

    /// Each setter sets the option its map key does.
    #[test]
    fn the_setters_match_the_map_keys() {
        let from_map = parse(serde_json::json!({"url": "mongodb://db:1", "database": "d",
            "collection": "c", "encryption_key": "k", "connect_timeout": 2}))
        .unwrap();
        let built = MongoStoreConfig::new("mongodb://db:1")
            .database("d")
            .collection("c")
            .encryption_key("k")
            .connect_timeout(Duration::from_secs(2));
        assert_eq!(built, from_map);
    }

    #[test]
    fn errors_name_the_key_and_the_value() {
        for (bad, field, fragment) in [
            (serde_json::json!({"database": "a.b"}), "database", "'a.b'"),
            (serde_json::json!({"collection": 7}), "collection", "7"),
            (
                serde_json::json!({"url": "u", "host": "h"}),
                "url",
                "given twice",
            ),
            (
                serde_json::json!({"connect_timeout": null}),
                "connect_timeout",
                "null",
            ),
            (
                serde_json::json!({"client": 1}),
                "client",
                "expected host, url, database, collection",
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
