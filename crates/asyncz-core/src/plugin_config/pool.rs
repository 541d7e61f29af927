//! The options the thread-pool and process-pool executors share, and the reading of the
//! spec's `pool_kwargs`.

use serde::Deserialize;

use super::{parse_plugin_config, PluginConfig};
use crate::{Error, Map, Result, Value};

/// The spec's default `max_workers` of both pool executors (`ThreadPoolExecutor` and
/// `ProcessPoolExecutor` take `max_workers=10`).
pub const DEFAULT_MAX_WORKERS: u32 = 10;

/// The spec's options of a pool executor, shared by the thread-pool and the process-pool
/// executor configs (`#[serde(flatten)]`, so they are top-level keys there).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct PoolConfig {
    /// `max_workers`: how many jobs run at once (default 10, a number or a numeric string).
    /// Jobs beyond that wait in the pool's queue; the wait counts against
    /// `mistrigger_grace_time`.
    #[serde(default = "default_max_workers")]
    #[serde(deserialize_with = "super::positive_u32")]
    pub max_workers: u32,
    /// `cancel_futures`: on shutdown, drop jobs that have not started yet (default false).
    #[serde(default, deserialize_with = "super::coerced_bool")]
    pub cancel_futures: bool,
    /// `overwrite_wait`: replaces the `wait` argument of every shutdown when set (default
    /// null: the caller's `wait` holds).
    #[serde(default, deserialize_with = "super::optional_bool")]
    pub overwrite_wait: Option<bool>,
}

fn default_max_workers() -> u32 {
    DEFAULT_MAX_WORKERS
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            max_workers: DEFAULT_MAX_WORKERS,
            cancel_futures: false,
            overwrite_wait: None,
        }
    }
}

impl PoolConfig {
    /// The defaults with `max_workers` set.
    pub fn with_max_workers(max_workers: u32) -> Self {
        PoolConfig {
            max_workers,
            ..PoolConfig::default()
        }
    }

    /// How many jobs run at once.
    pub fn max_workers(mut self, max_workers: u32) -> Self {
        self.max_workers = max_workers;
        self
    }

    /// On shutdown, drop jobs that have not started yet.
    pub fn cancel_futures(mut self, cancel_futures: bool) -> Self {
        self.cancel_futures = cancel_futures;
        self
    }

    /// Replaces the `wait` argument of every shutdown.
    pub fn overwrite_wait(mut self, wait: bool) -> Self {
        self.overwrite_wait = Some(wait);
        self
    }
}

impl PluginConfig for PoolConfig {}

/// Reads a pool executor's config `T` (which flattens [`PoolConfig`]) from `map`.
///
/// The spec passes the pool's own options in `pool_kwargs`; they may also be given at the top
/// level. An entry of `pool_kwargs` must be one of `T`'s keys other than the shared pool
/// options, and not also given at the top level; its errors name it as `pool_kwargs.<key>`.
///
/// The shared options are read on their own first: inside a flattened struct serde no longer
/// knows which key a bad value came from, so this is what lets their errors name the key.
pub fn parse_pool_config<T: PluginConfig>(map: &Map) -> Result<T> {
    let (flat, hoisted) = hoist_pool_kwargs::<T>(map)?;
    parse_plugin_config::<PoolConfig>(&flat)?;
    parse_plugin_config::<T>(&flat).map_err(|e| match e {
        Error::InvalidArgument { field, message }
            if hoisted
                .iter()
                .any(|k| field == *k || field.starts_with(&format!("{k}."))) =>
        {
            Error::invalid(format!("pool_kwargs.{field}"), message)
        }
        other => other,
    })
}

/// Moves the entries of `pool_kwargs` to the top level, returning the keys it moved.
fn hoist_pool_kwargs<T: PluginConfig>(map: &Map) -> Result<(Map, Vec<String>)> {
    let mut flat: Map = map
        .iter()
        .filter(|(k, _)| k.as_str() != "pool_kwargs")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let kwargs = match map.get("pool_kwargs") {
        None | Some(Value::Null) => return Ok((flat, Vec::new())),
        Some(Value::Object(kwargs)) => kwargs,
        Some(other) => {
            return Err(Error::invalid(
                "pool_kwargs",
                format!("expected an object of pool options, got {other}"),
            ))
        }
    };
    let shared = PoolConfig::accepted_keys();
    let own: Vec<&str> = T::accepted_keys()
        .into_iter()
        .filter(|k| *k != "pool_kwargs" && !shared.contains(k))
        .collect();
    let mut hoisted = Vec::new();
    for (key, value) in kwargs {
        let field = format!("pool_kwargs.{key}");
        if !own.contains(&key.as_str()) {
            let expected = if own.is_empty() {
                "this executor takes none".to_owned()
            } else {
                format!("expected {}", own.join(", "))
            };
            return Err(Error::invalid(
                field,
                format!("unknown pool option ({expected})"),
            ));
        }
        if flat.contains_key(key) {
            return Err(Error::invalid(
                field,
                format!("{value} is given here and at the top level; give it once"),
            ));
        }
        flat.insert(key.clone(), value.clone());
        hoisted.push(key.clone());
    }
    Ok((flat, hoisted))
}

/// The setters every config that embeds a [`PoolConfig`] as its `pool` field offers: `pool`
/// (replace them all) and the shorthands `max_workers`, `cancel_futures`, `overwrite_wait`.
/// Expand it inside the config's `impl` block (`asyncz_core::pool_setters!();`).
#[macro_export]
macro_rules! pool_setters {
    () => {
        /// The shared pool options, replacing the current ones.
        pub fn pool(mut self, pool: $crate::plugin_config::PoolConfig) -> Self {
            self.pool = pool;
            self
        }

        /// Shorthand for `pool.max_workers`.
        pub fn max_workers(mut self, max_workers: u32) -> Self {
            self.pool.max_workers = max_workers;
            self
        }

        /// Shorthand for `pool.cancel_futures`.
        pub fn cancel_futures(mut self, cancel_futures: bool) -> Self {
            self.pool.cancel_futures = cancel_futures;
            self
        }

        /// Shorthand for `pool.overwrite_wait`.
        pub fn overwrite_wait(mut self, wait: bool) -> Self {
            self.pool.overwrite_wait = Some(wait);
            self
        }
    };
}
