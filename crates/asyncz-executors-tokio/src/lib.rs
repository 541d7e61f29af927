//! # asyncz-executors-tokio
//!
//! The default executor (`tokio`, alias `asyncio` as in the spec): async task functions run as
//! tasks on the scheduler's tokio runtime, sync ones on its blocking thread pool, so a
//! blocking function never stalls the timers.
//!
//! `shutdown(wait = true)` waits for every running job; `shutdown(wait = false)` cancels the
//! async jobs at their next `.await` and returns at once (blocking jobs cannot be interrupted
//! and finish on their own thread).
//!
//! ## Long sync jobs hold the program's exit
//!
//! Sync task functions run on the runtime's **blocking pool**, and dropping a tokio runtime
//! waits for every blocking thread that is running. So a sync job still running after
//! `shutdown(wait = false)` keeps the program alive until it returns, at the end of
//! `#[tokio::main]` or wherever the runtime is dropped: a 60-second job holds the exit for the
//! rest of its 60 seconds. `shutdown(wait = false)` itself returns at once. For long blocking
//! work, use the thread-pool executor (`asyncz-executors-threadpool`, whose threads do not
//! hold the runtime) or the process-pool executor (`asyncz-executors-process`, whose workers
//! are killed at `shutdown(wait = false)`), or make the function async so it can be cancelled.
//! A scheduler `shutdown_timeout` will bound this wait (planned).
//!
//! ```
//! use asyncz_executors_tokio::{TokioExecutor, TokioExecutorConfig};
//! let executor = TokioExecutor::with_config(TokioExecutorConfig::default());
//! # let _ = executor;
//! ```
#![deny(missing_docs)]

mod config;
mod executor;

pub use config::TokioExecutorConfig;
pub use executor::TokioExecutor;

/// The plugin alias of this executor.
pub const ALIAS: &str = "tokio";
/// The spec's alias for the same executor.
pub const ASYNCIO_ALIAS: &str = "asyncio";

/// Registers the `tokio` (and `asyncio`) executor plugins.
pub fn register(registry: &mut asyncz_core::PluginRegistry) {
    for alias in [ALIAS, ASYNCIO_ALIAS] {
        registry.add_executor(alias, |config| {
            let config = TokioExecutorConfig::from_map(config)?;
            Ok(std::sync::Arc::new(TokioExecutor::with_config(config)))
        });
    }
}
