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
//! ## Cluster mode
//!
//! The store is a [`asyncz_core::cluster::ClusterStore`] (`Store::cluster` answers it), so
//! several schedulers can share it: every multi-key step (claim, fire commit, renew, release,
//! run transitions, settling a dead node's runs, marking dead nodes, heartbeat, leave, prune)
//! is one Lua script, atomic on the server, and leases and heartbeat ages are judged on the
//! server's clock (`TIME`, read inside the scripts). A commit of many fires is one script
//! call. Its keys all start with [`RedisStore::cluster_key_prefix`] (`asyncz.cluster.` for the
//! default `tasks_key`), so stores with different keys never see each other: `claims`
//! (hash: task id → fence, lease end, node), `fence` (the counter every claim takes its
//! fence from, so a task's fence grows at every claim, across deletes), `runs` (hash: run id
//! → run record), `run_keys` (hash: the unique `(task id, scheduled run time)` → run id),
//! `history` and `history:<task id>` (sorted sets by scheduled run time), `history_tasks`,
//! `requested` (sorted set of run requests by creation time), `active:<task id>` and
//! `node_runs:<node>` (sets of `submitted` and `running` runs) and `nodes` (hash: node id →
//! node record). `update_task`, `delete_task` and `remove_all_tasks` drop the task's claim in
//! the same script as their write, so a node that claimed it before cannot commit over it.
//!
//! Run and node records are JSON objects (versioned by a `v` field; times are decimal strings
//! of microseconds since the epoch, the fence a decimal string), which the scripts read and
//! rewrite with Redis' `cjson`. A run or node record that cannot be decoded is skipped by the
//! reads that list records (and logged), an error where one record was asked for, and never
//! deleted. The scripts build the keys they use from the prefix: in a Redis Cluster, give
//! `tasks_key` and `run_times_key` one hash tag (`{asyncz}.tasks`, `{asyncz}.run_times`) so
//! that every key is in one slot.
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
