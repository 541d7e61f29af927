//! Configuration of the memory store: it takes no options; any given is an error, so a typo
//! in a config map does not pass silently.

use asyncz_core::{parse_plugin_config, Map, PluginConfig, Result};
use serde::Deserialize;

/// The memory store's (empty) configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct MemoryStoreConfig {}

impl PluginConfig for MemoryStoreConfig {}

impl MemoryStoreConfig {
    /// Reads the configuration map; rejects any key by name.
    pub fn from_map(map: &Map) -> Result<Self> {
        parse_plugin_config(map)
    }
}
