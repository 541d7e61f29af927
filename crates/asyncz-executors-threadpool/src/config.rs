//! Configuration of the thread-pool executor: the spec's `max_workers`, `cancel_futures`
//! and `overwrite_wait` (the [`PoolConfig`] it shares with the process pool) and
//! `pool_kwargs` (`thread_name_prefix`, `stack_size`), read from a plugin configuration map.

use asyncz_core::plugin_config::{coerced_u64, parse_pool_config, PoolConfig};
use asyncz_core::{Map, PluginConfig, Result};
use serde::{Deserialize, Deserializer};

/// The default number of pool threads (spec: `max_workers=10`).
pub use asyncz_core::plugin_config::DEFAULT_MAX_WORKERS;
/// The default thread name prefix; threads are named `<prefix><index>`.
pub const DEFAULT_THREAD_NAME_PREFIX: &str = "asyncz-pool-";

/// Options of [`crate::ThreadPoolExecutor`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ThreadPoolExecutorConfig {
    /// `max_workers` (how many threads the pool has, default 10), `cancel_futures`,
    /// `overwrite_wait`.
    #[serde(flatten)]
    pub pool: PoolConfig,
    /// `thread_name_prefix` (spec: `pool_kwargs.thread_name_prefix`): pool threads are named
    /// `<prefix><index>` (default `asyncz-pool-`).
    #[serde(default = "default_thread_name_prefix")]
    pub thread_name_prefix: String,
    /// `stack_size` (in `pool_kwargs` or at the top level): stack size of each pool thread
    /// in bytes (`None`: the platform default).
    #[serde(default, deserialize_with = "stack_size")]
    pub stack_size: Option<usize>,
}

fn default_thread_name_prefix() -> String {
    DEFAULT_THREAD_NAME_PREFIX.to_owned()
}

impl Default for ThreadPoolExecutorConfig {
    fn default() -> Self {
        ThreadPoolExecutorConfig {
            pool: PoolConfig::default(),
            thread_name_prefix: default_thread_name_prefix(),
            stack_size: None,
        }
    }
}

impl PluginConfig for ThreadPoolExecutorConfig {
    fn accepted_keys() -> Vec<&'static str> {
        let mut keys = PoolConfig::accepted_keys();
        keys.extend(["pool_kwargs", "thread_name_prefix", "stack_size"]);
        keys
    }
}

impl ThreadPoolExecutorConfig {
    asyncz_core::pool_setters!();

    /// Pool threads are named `<prefix><index>`.
    pub fn thread_name_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.thread_name_prefix = prefix.into();
        self
    }

    /// Stack size of each pool thread in bytes.
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// Reads `max_workers`, `cancel_futures`, `overwrite_wait` and `pool_kwargs`
    /// (`thread_name_prefix`, `stack_size`, which may also be given at the top level).
    /// Numbers and booleans may be strings, as upstream coerces them; an error names the key
    /// and the value, and an unknown key is rejected.
    pub fn from_map(map: &Map) -> Result<Self> {
        parse_pool_config(map)
    }
}

fn stack_size<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<usize>, D::Error> {
    let bytes = coerced_u64(d)?;
    let bytes = usize::try_from(bytes)
        .map_err(|_| serde::de::Error::custom(format!("{bytes} is too large")))?;
    if bytes == 0 {
        return Err(serde::de::Error::custom(
            "must be a positive number of bytes, got 0",
        ));
    }
    Ok(Some(bytes))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use asyncz_core::{Error, Value};

    fn map(v: Value) -> Map {
        v.as_object().cloned().unwrap()
    }

    fn field_and_message(v: Value) -> (String, String) {
        match ThreadPoolExecutorConfig::from_map(&map(v)).unwrap_err() {
            Error::InvalidArgument { field, message } => (field, message),
            other => panic!("{other}"),
        }
    }

    #[test]
    fn defaults_follow_the_spec() {
        let c = ThreadPoolExecutorConfig::from_map(&Map::new()).unwrap();
        assert_eq!(c, ThreadPoolExecutorConfig::default());
        assert_eq!(c.pool.max_workers, 10);
        assert!(!c.pool.cancel_futures);
        assert_eq!(c.pool.overwrite_wait, None);
        assert_eq!(c.thread_name_prefix, "asyncz-pool-");
    }

    #[test]
    fn reads_coerced_values_and_pool_kwargs() {
        let c = ThreadPoolExecutorConfig::from_map(&map(serde_json::json!({
            "max_workers": "3",
            "cancel_futures": "true",
            "overwrite_wait": false,
            "pool_kwargs": {"thread_name_prefix": "jobs-", "stack_size": 1 << 20},
        })))
        .unwrap();
        assert_eq!(c.pool.max_workers, 3);
        assert!(c.pool.cancel_futures);
        assert_eq!(c.pool.overwrite_wait, Some(false));
        assert_eq!(c.thread_name_prefix, "jobs-");
        assert_eq!(c.stack_size, Some(1 << 20));
        let c = ThreadPoolExecutorConfig::from_map(&map(
            serde_json::json!({"stack_size": "65536", "thread_name_prefix": "t-"}),
        ))
        .unwrap();
        assert_eq!(
            (c.stack_size, c.thread_name_prefix.as_str()),
            (Some(65536), "t-")
        );
    }

    /// Each setter sets the option its map key does.
    #[test]
    fn the_setters_match_the_map_keys() {
        let from_map = ThreadPoolExecutorConfig::from_map(&map(serde_json::json!({
            "max_workers": 3, "cancel_futures": true, "overwrite_wait": false,
            "thread_name_prefix": "jobs-", "stack_size": 65536,
        })))
        .unwrap();
        let built = ThreadPoolExecutorConfig::default()
            .max_workers(3)
            .cancel_futures(true)
            .overwrite_wait(false)
            .thread_name_prefix("jobs-")
            .stack_size(65536);
        assert_eq!(built, from_map);
        let pool = PoolConfig::with_max_workers(3)
            .cancel_futures(true)
            .overwrite_wait(false);
        assert_eq!(built.pool, pool);
        let with_pool = ThreadPoolExecutorConfig::default()
            .pool(pool)
            .thread_name_prefix("jobs-")
            .stack_size(65536);
        assert_eq!(with_pool, built);
    }

    #[test]
    fn unknown_and_invalid_options_are_named() {
        for (bad, field, fragment) in [
            (serde_json::json!({"max_worker": 3}), "max_worker", "expected max_workers, cancel_futures, overwrite_wait, pool_kwargs, thread_name_prefix, stack_size"),
            (serde_json::json!({"max_workers": 0}), "max_workers", "got 0"),
            (serde_json::json!({"max_workers": "many"}), "max_workers", "'many'"),
            (serde_json::json!({"cancel_futures": "sometimes"}), "cancel_futures", "'sometimes'"),
            (serde_json::json!({"pool_kwargs": {"initializer": "x"}}), "pool_kwargs.initializer", "expected thread_name_prefix, stack_size"),
            (serde_json::json!({"pool_kwargs": {"stack_size": 0}}), "pool_kwargs.stack_size", "got 0"),
            (serde_json::json!({"stack_size": -1}), "stack_size", "-1"),
            (serde_json::json!({"thread_name_prefix": 1}), "thread_name_prefix", "1"),
        ] {
            let (f, message) = field_and_message(bad.clone());
            assert_eq!(f, field, "{bad}: {message}");
            assert!(message.contains(fragment), "{bad}: '{message}' lacks '{fragment}'");
        }
    }

    /// The hand-written key list (serde has none for a struct with a flattened field) names
    /// only keys the struct reads.
    #[test]
    fn every_listed_key_is_read() {
        for key in ThreadPoolExecutorConfig::accepted_keys() {
            let (field, message) = field_and_message(serde_json::json!({ key: [] }));
            assert_eq!(field, key);
            assert!(!message.contains("unknown option"), "{key}: {message}");
        }
    }
}
