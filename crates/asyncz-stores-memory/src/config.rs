//! Configuration of the memory store: it takes no options; any given is an error, so a typo
//! in a config map does not pass silently.

use asyncz_core::{Error, Map, Result};

/// The memory store's (empty) configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryStoreConfig;

impl MemoryStoreConfig {
    /// Reads the configuration map; rejects unknown keys by name.
    pub fn from_map(map: &Map) -> Result<Self> {
        if let Some(key) = map.keys().next() {
            return Err(Error::invalid(
                format!("stores.memory.{key}"),
                "the memory store takes no options",
            ));
        }
        Ok(MemoryStoreConfig)
    }
}
