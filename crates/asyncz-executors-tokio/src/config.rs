//! Configuration of the tokio executor.

use asyncz_core::{config, Error, Map, Result};

/// Options of [`crate::TokioExecutor`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokioExecutorConfig {
    /// At most this many jobs run at once (further ones wait for a slot; the wait counts
    /// against `mistrigger_grace_time`). `None`: unlimited (the default).
    pub max_workers: Option<u32>,
    /// How many threads of the runtime's blocking pool run sync jobs (default: upstream's
    /// `min(32, cpus + 4)`). Async jobs do not use them.
    pub blocking_workers: Option<u32>,
}

impl TokioExecutorConfig {
    /// Reads `max_workers` (number or numeric string); rejects unknown keys by name.
    pub fn from_map(map: &Map) -> Result<Self> {
        let mut out = TokioExecutorConfig::default();
        for (key, value) in map {
            match key.as_str() {
                "max_workers" => {
                    out.max_workers = Some(config::as_u32("executors.tokio.max_workers", value)?)
                }
                "blocking_workers" => {
                    out.blocking_workers =
                        Some(config::as_u32("executors.tokio.blocking_workers", value)?)
                }
                other => {
                    return Err(Error::invalid(
                        format!("executors.tokio.{other}"),
                        "unknown option (expected max_workers, blocking_workers)",
                    ))
                }
            }
        }
        Ok(out)
    }
}
