//! # asyncz-stores-redis
//!
//! The `redis` store (spec: `RedisStore`): task records in a hash (`tasks_key`, default
//! `asyncz.tasks`) and next run times in a sorted set (`run_times_key`, default
//! `asyncz.run_times`, score = microseconds since the Unix epoch). Paused tasks have no entry
//! in the sorted set.
//!
//! Every write updates the hash and the set atomically in one Lua script (upstream uses a
//! MULTI/EXEC pipeline; a script also makes "add only if absent" and "update only if present"
//! atomic). A record that cannot be decoded is skipped, logged, listed by
//! `Store::undecodable_records`, and never deleted; the next run time skips it, so it never
//! drives the engine's wakeups.
//!
//! Connecting, at start and again after a connection failure, is bounded by `connect_timeout`
//! (default 10 s): failed attempts are retried with a short backoff and logged, then the call
//! fails with an error naming the (redacted) URL and the timeout.
//!
//! A score is a double, exact for microsecond epochs up to 2^53 (the year 2255); beyond, the
//! sorted set only orders and selects (a superset of) due tasks, and exact times are read from
//! the task records, so every time reads back as written.
//!
//! ```
//! use asyncz_stores_redis::{RedisStore, RedisStoreConfig};
//! let store = RedisStore::new(RedisStoreConfig::new("redis://127.0.0.1:6379/0"))?;
//! # let _ = store;
//! # Ok::<(), asyncz_core::Error>(())
//! ```
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod cluster;
mod config;
mod store;

pub use config::{RedisStoreConfig, DEFAULT_CONNECT_TIMEOUT};
pub use store::RedisStore;

/// The plugin alias of this store.
pub const ALIAS: &str = "redis";

/// Registers the `redis` store plugin.
pub fn register(registry: &mut asyncz_core::PluginRegistry) {
    registry.add_store(ALIAS, |config| {
        let config = RedisStoreConfig::from_map(config)?;
        Ok(std::sync::Arc::new(RedisStore::new(config)?))
    });
}
