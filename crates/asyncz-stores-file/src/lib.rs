//! # asyncz-stores-file
//!
//! The `file` store (spec: `FileStore`): one `<id><suffix>` file per task in `directory`.
//!
//! - Records are versioned MessagePack task states, encrypted with AES-256-CCM when
//!   `ASYNCZ_STORE_ENCRYPTION_KEY` is set (or `encryption_key` is configured).
//! - Writes are crash-safe: a record is written to a hidden temporary file and renamed into
//!   place (added with a no-clobber link, so two processes adding the same id cannot both win).
//! - A `.asyncz.lock` file in the directory is locked shared for reads and exclusive for writes
//!   (fs4), so several processes can share a directory.
//! - Ids must be usable as file names: no `/`, `\`, NUL or `:`, and no leading `.`.
//! - A record that cannot be decoded is skipped by reads, logged, listed by
//!   `Store::undecodable_records`, and never deleted.
//!
//! ```
//! use asyncz_stores_file::{FileStore, FileStoreConfig};
//! let store = FileStore::new(FileStoreConfig::new(std::env::temp_dir().join("asyncz-doc")));
//! # let _ = store;
//! ```
#![deny(missing_docs)]

mod config;
mod index;
mod store;

pub use config::FileStoreConfig;
pub use store::FileStore;

/// The plugin alias of this store.
pub const ALIAS: &str = "file";

/// Registers the `file` store plugin.
pub fn register(registry: &mut asyncz_core::PluginRegistry) {
    registry.add_store(ALIAS, |config| {
        let config = FileStoreConfig::from_map(config)?;
        Ok(std::sync::Arc::new(FileStore::new(config)))
    });
}
