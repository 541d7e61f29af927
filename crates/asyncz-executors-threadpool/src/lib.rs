//! # asyncz-executors-threadpool
//!
//! The thread-pool executor of asyncz (spec: `ThreadPoolExecutor`, plugin aliases `threadpool`
//! and `pool`): task functions run on a dedicated [rayon](https://docs.rs/rayon) pool of
//! `max_workers` threads (default 10), for blocking work that must not starve the scheduler's
//! tokio runtime. Async task functions run to completion on a pool thread, driven by the
//! scheduler's runtime handle.
//!
//! Options (also readable from a configuration map by [`register`]ed factories):
//!
//! | option | default | meaning |
//! |---|---|---|
//! | `max_workers` | 10 | pool threads |
//! | `pool_kwargs.thread_name_prefix` | `asyncz-pool-` | threads are named `<prefix><index>` |
//! | `pool_kwargs.stack_size` | platform default | stack size of each thread, in bytes |
//! | `cancel_futures` | false | shutdown drops jobs that have not started |
//! | `overwrite_wait` | unset | replaces the `wait` argument of shutdown |
//!
//! ```
//! use std::time::Duration;
//! use asyncz_core::{CallContext, PluginRegistry, Scheduler, TaskBuilder};
//! use asyncz_executors_threadpool::{ThreadPoolExecutor, ThreadPoolExecutorConfig};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> asyncz_core::Result<()> {
//! // What `asyncz::builder()` (the facade) installs: the triggers, and the memory store
//! // and the tokio executor for the defaults.
//! let mut plugins = PluginRegistry::new();
//! asyncz_triggers::register(&mut plugins);
//! asyncz_stores_memory::register(&mut plugins);
//! asyncz_executors_tokio::register(&mut plugins);
//! let scheduler = Scheduler::builder()
//!     .plugins(plugins)
//!     .executor(
//!         "pool",
//!         ThreadPoolExecutor::with_config(
//!             ThreadPoolExecutorConfig::default()
//!                 .max_workers(4)
//!                 .thread_name_prefix("reports-"),
//!         ),
//!     )
//!     .build()?;
//! scheduler.register("render", |_ctx: CallContext| {
//!     std::thread::sleep(Duration::from_millis(10)); // blocking work is fine here
//! })?;
//! scheduler.start().await?;
//! scheduler
//!     .add_task(TaskBuilder::new().function("render").executor("pool"))
//!     .await?;
//! scheduler.shutdown(true).await?; // waits for the render to finish
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod config;
mod executor;

pub use asyncz_core::plugin_config::PoolConfig;
pub use config::{ThreadPoolExecutorConfig, DEFAULT_MAX_WORKERS, DEFAULT_THREAD_NAME_PREFIX};
pub use executor::ThreadPoolExecutor;

/// The plugin alias of this executor.
pub const ALIAS: &str = "threadpool";
/// The spec's second alias for the same executor.
pub const POOL_ALIAS: &str = "pool";

/// Registers the `threadpool` (and `pool`) executor plugins.
pub fn register(registry: &mut asyncz_core::PluginRegistry) {
    for alias in [ALIAS, POOL_ALIAS] {
        registry.add_executor(alias, |config| {
            let config = ThreadPoolExecutorConfig::from_map(config)?;
            Ok(std::sync::Arc::new(ThreadPoolExecutor::with_config(config)))
        });
    }
}

#[cfg(test)]
mod send_sync {
    fn assert_send_sync<T: Send + Sync>() {}
    #[test]
    fn public_types_are_send_and_sync() {
        assert_send_sync::<crate::ThreadPoolExecutor>();
        assert_send_sync::<crate::ThreadPoolExecutorConfig>();
    }
}
