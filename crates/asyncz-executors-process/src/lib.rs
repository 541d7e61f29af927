//! # asyncz-executors-process
//!
//! The process-pool executor of asyncz (spec: `ProcessPoolExecutor`, plugin alias
//! `processpool`): registered task functions run in worker processes, for CPU-bound work or
//! code that must be isolated from the scheduler (a crash, an `abort` or a kill of a worker is
//! a `TASK_ERROR` of that run, and the pool starts a new worker).
//!
//! Rust cannot send a closure to another process, so a worker is **your own binary,
//! re-executed in worker mode**: call [`worker_main_if_requested`] first thing in `main`, with
//! the function that registers your task functions, and register the same functions on the
//! scheduler. A job travels as the function's name plus its MessagePack-encoded args and
//! kwargs over the worker's stdin; the reply (the return value, the error with its source
//! chain, or the panic with its location) comes back over its stdout. Tracing events inside a worker appear in the parent's tracing with
//! target [`LOG_TARGET`] and the worker's `pid`.
//!
//! No worker outlives its pool's process: `shutdown(wait = false)` kills the workers, on Linux
//! the kernel kills a worker whose parent dies, and a worker exits as soon as the pipe from its
//! pool closes (see [`ProcessPoolExecutor`]'s `# Behavior`).
//!
//! Options ([`ProcessPoolExecutorConfig`], or a configuration map through [`register`]):
//!
//! | option | default | meaning |
//! |---|---|---|
//! | `max_workers` | 10 | worker processes |
//! | `pool_kwargs.program` | this program | the worker binary |
//! | `pool_kwargs.args` | none | its arguments |
//! | `pool_kwargs.env` | none | environment variables for the workers |
//! | `pool_kwargs.startup_timeout` | 10 s | time from spawn to a worker's hello |
//! | `pool_kwargs.max_tasks_per_child` | unset | replace a worker after this many tasks |
//! | `pool_kwargs.task_timeout` | unset | kill a worker whose run takes longer (seconds) |
//! | `cancel_futures` | false | shutdown drops jobs that have not started |
//! | `overwrite_wait` | unset | replaces the `wait` argument of shutdown |
//!
//! ```no_run
//! use asyncz_core::{
//!     CallContext, FunctionRegistry, PluginRegistry, Scheduler, TaskBuilder, TaskFunction,
//! };
//! use asyncz_executors_process::{worker_main_if_requested, ProcessPoolExecutor};
//!
//! /// The task functions, registered in the parent and in every worker.
//! fn functions(registry: &FunctionRegistry) -> asyncz_core::Result<()> {
//!     registry.insert(
//!         "primes.count",
//!         TaskFunction::new_sync(|ctx: CallContext| -> Result<usize, asyncz_core::TaskError> {
//!             let below: usize = ctx.arg(0)?;
//!             Ok((2..below).filter(|n| (2..*n).take_while(|d| d * d <= *n).all(|d| n % d != 0)).count())
//!         }),
//!     )
//! }
//!
//! #[tokio::main]
//! async fn main() -> asyncz_core::Result<()> {
//!     worker_main_if_requested(functions); // never returns in a worker
//!
//!     // What `asyncz::builder()` (the facade) installs: the triggers, and the memory store
//!     // and the tokio executor for the defaults.
//!     let mut plugins = PluginRegistry::new();
//!     asyncz_triggers::register(&mut plugins);
//!     asyncz_stores_memory::register(&mut plugins);
//!     asyncz_executors_tokio::register(&mut plugins);
//!     let scheduler = Scheduler::builder()
//!         .plugins(plugins)
//!         .executor("processpool", ProcessPoolExecutor::new())
//!         .build()?;
//!     functions(scheduler.functions())?;
//!     scheduler.start().await?;
//!     scheduler
//!         .add_task(TaskBuilder::new().function("primes.count").arg(100_000).executor("processpool"))
//!         .await?;
//!     scheduler.shutdown(true).await?;
//!     Ok(())
//! }
//! ```
#![deny(missing_docs)]

mod config;
mod executor;
mod protocol;
mod worker;

pub use asyncz_core::plugin_config::PoolConfig;
pub use config::{ProcessPoolExecutorConfig, DEFAULT_MAX_WORKERS, DEFAULT_STARTUP_TIMEOUT};
pub use executor::{ProcessPoolExecutor, LOG_TARGET};
pub use worker::{is_worker, worker_main_if_requested};

/// The plugin alias of this executor.
pub const ALIAS: &str = "processpool";

/// Registers the `processpool` executor plugin.
pub fn register(registry: &mut asyncz_core::PluginRegistry) {
    registry.add_executor(ALIAS, |config| {
        let config = ProcessPoolExecutorConfig::from_map(config)?;
        Ok(std::sync::Arc::new(ProcessPoolExecutor::with_config(
            config,
        )))
    });
}

#[cfg(test)]
mod send_sync {
    fn assert_send_sync<T: Send + Sync>() {}
    #[test]
    fn public_types_are_send_and_sync() {
        assert_send_sync::<crate::ProcessPoolExecutor>();
        assert_send_sync::<crate::ProcessPoolExecutorConfig>();
    }
}
