//! # asyncz-stores-memory
//!
//! The memory store (`memory`): tasks live in the process and vanish with it. It is the
//! default store, the only one that accepts closure tasks, and never encrypted.
//!
//! Tasks are kept in a map by id plus an ordered index by `(next_run_time, id)`, so adding,
//! updating and deleting are O(log n) and `get_due_tasks` is O(number of due tasks).
//!
//! ```
//! use asyncz_core::Store;
//! use asyncz_stores_memory::MemoryStore;
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let store = MemoryStore::new();
//! assert!(store.get_all_tasks().await.unwrap().is_empty());
//! assert!(!store.is_persistent());
//! # });
//! ```
#![deny(missing_docs)]

mod config;
mod store;

pub use config::MemoryStoreConfig;
pub use store::MemoryStore;

/// The plugin alias of this store.
pub const ALIAS: &str = "memory";

/// Registers the `memory` store plugin.
pub fn register(registry: &mut asyncz_core::PluginRegistry) {
    registry.add_store(ALIAS, |config| {
        MemoryStoreConfig::from_map(config)?;
        Ok(std::sync::Arc::new(MemoryStore::new()))
    });
}
