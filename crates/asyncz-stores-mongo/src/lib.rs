//! # asyncz-stores-mongo
//!
//! The `mongo` store (spec: `MongoDBStore`, alias `mongodb` too): one document per task in
//! `database.collection` (defaults `asyncz.tasks`): `{_id: <task id>, next_run_time:
//! <microseconds since the Unix epoch, absent while paused>, state: <binary record>}`, with a
//! sparse index on `next_run_time`, created on start.
//!
//! Connecting is bounded by `connect_timeout` (default 10 s, the driver's connect and server
//! selection timeouts): a start against a server that does not answer fails within it, with an
//! error naming the (redacted) URL and the timeout. A record that cannot be decoded is
//! skipped, logged, listed by `Store::undecodable_records`, never deleted, and never drives the
//! engine's wakeups.
//!
//! The store takes part in cluster mode (`Store::cluster` answers it): several schedulers
//! share the collection, each fire claimed by one node and recorded once in the run ledger
//! `<collection>_runs`, with nodes registered in `<collection>_nodes`. Claims are one
//! `findOneAndUpdate` per task; leases and heartbeats are judged on the server's clock
//! (`$$NOW`); fire commits need no multi-document transaction (run records first, under a
//! unique `(task_id, scheduled_run_time)` index, then the fence-guarded task update).
//!
//! ```
//! use asyncz_stores_mongo::{MongoStore, MongoStoreConfig};
//! let store = MongoStore::new(MongoStoreConfig::new("mongodb://127.0.0.1:27017"));
//! # let _ = store;
//! ```
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod cluster;
mod config;
mod store;

pub use config::{MongoStoreConfig, DEFAULT_CONNECT_TIMEOUT};
/// The MongoDB driver this store is built on, for `MongoStore::with_client`.
pub use mongodb;
pub use store::MongoStore;

/// The plugin alias of this store.
pub const ALIAS: &str = "mongo";
/// The spec's other alias for the same store.
pub const MONGODB_ALIAS: &str = "mongodb";

/// Registers the `mongo` and `mongodb` store plugins.
pub fn register(registry: &mut asyncz_core::PluginRegistry) {
    for alias in [ALIAS, MONGODB_ALIAS] {
        registry.add_store(alias, |config| {
            let config = MongoStoreConfig::from_map(config)?;
            Ok(std::sync::Arc::new(MongoStore::new(config)))
        });
    }
}
