//! # asyncz
//!
//! An in-process task scheduler for Rust services: run work on date, interval and cron
//! schedules, keep tasks in memory or in a persistent store, run them on tokio, a thread pool
//! or a process pool, and watch it all through events. A re-implementation of the Python
//! scheduler Asyncz (APScheduler 3 family), correct across time zones and DST.
//!
//! ```
//! use std::time::Duration;
//! use asyncz::{CallContext, IntervalTrigger, TaskBuilder};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> asyncz::Result<()> {
//! let scheduler = asyncz::builder().build()?;
//! scheduler.register("report", |ctx: CallContext| {
//!     println!("report for {}", ctx.scheduled_run_time);
//! })?;
//! scheduler
//!     .add_task(
//!         TaskBuilder::new()
//!             .function("report")
//!             .id("report")
//!             .trigger(IntervalTrigger::new().seconds(30)),
//!     )
//!     .await?;
//! scheduler.start().await?;
//! assert_eq!(scheduler.get_tasks(None).await?.len(), 1);
//! scheduler.shutdown(true).await?;
//! # Ok(())
//! # }
//! ```
//!
//! ## Cargo features
//!
//! | feature | what it adds |
//! |---|---|
//! | `triggers` (default) | `date`, `interval`, `cron`, `and`, `or`, `shutdown` triggers |
//! | `stores-memory` (default) | the `memory` store (the default store) |
//! | `executors-tokio` (default) | the `tokio` executor (the default executor; alias `asyncio`) |
//! | `stores-file` | the `file` store (one file per task) |
//! | `stores-redis` | the `redis` store |
//! | `stores-mongo` | the `mongo` store (alias `mongodb`) |
//! | `stores-sql-sqlite`, `stores-sql-postgres`, `stores-sql-mysql` | the `sql` store (alias `sqlalchemy`) with that driver |
//! | `executors-threadpool` | the `threadpool` executor (alias `pool`), a dedicated rayon pool |
//! | `executors-process` | the `processpool` executor: your binary re-executed as workers |
//! | `prometheus` | [`prometheus::PrometheusMetrics`]: a `/metrics` body in one call |
//! | `web` | [`web`]: the HTTP management API and dashboard (`asyncz::web::router`) |
//! | `full` | everything |
//!
//! [`install_default_plugins`] registers every enabled plugin in the process-wide registry
//! (once); [`builder`] calls it for you.
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

use std::sync::Once;

#[doc(inline)]
pub use asyncz_core::*;

#[cfg(feature = "prometheus")]
#[cfg_attr(docsrs, doc(cfg(feature = "prometheus")))]
pub mod prometheus;

#[cfg(feature = "triggers")]
#[cfg_attr(docsrs, doc(cfg(feature = "triggers")))]
#[doc(inline)]
pub use asyncz_triggers::{
    AndTrigger, CronTrigger, DateTrigger, IntervalTrigger, OrTrigger, ShutdownTrigger,
};

/// The trigger crate.
#[cfg(feature = "triggers")]
#[cfg_attr(docsrs, doc(cfg(feature = "triggers")))]
pub use asyncz_triggers as triggers;

/// The HTTP management API and dashboard: `asyncz::web::router(scheduler, WebConfig)`.
#[cfg(feature = "web")]
#[cfg_attr(docsrs, doc(cfg(feature = "web")))]
pub use asyncz_web as web;

#[cfg(feature = "stores-memory")]
#[cfg_attr(docsrs, doc(cfg(feature = "stores-memory")))]
#[doc(inline)]
pub use asyncz_stores_memory::MemoryStore;

#[cfg(feature = "stores-file")]
#[cfg_attr(docsrs, doc(cfg(feature = "stores-file")))]
#[doc(inline)]
pub use asyncz_stores_file::{FileStore, FileStoreConfig};

#[cfg(feature = "stores-redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "stores-redis")))]
#[doc(inline)]
pub use asyncz_stores_redis::{RedisStore, RedisStoreConfig};

#[cfg(any(
    feature = "stores-sql-sqlite",
    feature = "stores-sql-postgres",
    feature = "stores-sql-mysql"
))]
#[cfg_attr(
    docsrs,
    doc(cfg(any(
        feature = "stores-sql-sqlite",
        feature = "stores-sql-postgres",
        feature = "stores-sql-mysql"
    )))
)]
#[doc(inline)]
pub use asyncz_stores_sql::{SqlStore, SqlStoreConfig};

#[cfg(feature = "stores-mongo")]
#[cfg_attr(docsrs, doc(cfg(feature = "stores-mongo")))]
#[doc(inline)]
pub use asyncz_stores_mongo::{MongoStore, MongoStoreConfig};

#[cfg(feature = "executors-tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "executors-tokio")))]
#[doc(inline)]
pub use asyncz_executors_tokio::{TokioExecutor, TokioExecutorConfig};

#[cfg(feature = "executors-threadpool")]
#[cfg_attr(docsrs, doc(cfg(feature = "executors-threadpool")))]
#[doc(inline)]
pub use asyncz_executors_threadpool::{ThreadPoolExecutor, ThreadPoolExecutorConfig};

#[cfg(feature = "executors-process")]
#[cfg_attr(docsrs, doc(cfg(feature = "executors-process")))]
#[doc(inline)]
pub use asyncz_executors_process::{
    is_worker, worker_main_if_requested, ProcessPoolExecutor, ProcessPoolExecutorConfig,
};

/// Registers every feature-enabled trigger, store and executor plugin into `registry`.
pub fn register_default_plugins(registry: &mut PluginRegistry) {
    #[cfg(feature = "triggers")]
    asyncz_triggers::register(registry);
    #[cfg(feature = "stores-memory")]
    asyncz_stores_memory::register(registry);
    #[cfg(feature = "stores-file")]
    asyncz_stores_file::register(registry);
    #[cfg(feature = "stores-redis")]
    asyncz_stores_redis::register(registry);
    #[cfg(feature = "stores-mongo")]
    asyncz_stores_mongo::register(registry);
    #[cfg(any(
        feature = "stores-sql-sqlite",
        feature = "stores-sql-postgres",
        feature = "stores-sql-mysql"
    ))]
    asyncz_stores_sql::register(registry);
    #[cfg(feature = "executors-tokio")]
    asyncz_executors_tokio::register(registry);
    #[cfg(feature = "executors-threadpool")]
    asyncz_executors_threadpool::register(registry);
    #[cfg(feature = "executors-process")]
    asyncz_executors_process::register(registry);
    registry.add_executor("debug", |config| {
        if let Some(key) = config.keys().next() {
            return Err(Error::invalid(
                format!("executors.debug.{key}"),
                "the debug executor takes no options",
            ));
        }
        Ok(std::sync::Arc::new(DebugExecutor::new()))
    });
}

/// A registry with every feature-enabled plugin.
pub fn default_plugins() -> PluginRegistry {
    let mut registry = PluginRegistry::new();
    register_default_plugins(&mut registry);
    registry
}

/// Registers every feature-enabled plugin in the process-wide registry that new schedulers
/// copy. Idempotent; runs once per process.
pub fn install_default_plugins() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| with_global_registry(register_default_plugins));
}

/// A scheduler builder with the default plugins installed: the usual way to start.
pub fn builder() -> SchedulerBuilder {
    install_default_plugins();
    Scheduler::builder()
}

/// A [`BlockingScheduler`] (for synchronous code) with the default plugins installed.
pub fn blocking(builder: SchedulerBuilder) -> Result<BlockingScheduler> {
    install_default_plugins();
    BlockingScheduler::new(builder)
}

/// The usual imports.
pub mod prelude {
    pub use crate::events::*;
    pub use crate::{
        CallContext, Error, Event, RunTaskOptions, ScheduleState, Scheduler, TaskBuilder,
        TaskInfoQuery, TaskUpdate, Trigger, TriggerSpec,
    };
    #[cfg(feature = "triggers")]
    pub use crate::{CronTrigger, DateTrigger, IntervalTrigger};
}

/// The workspace README's code examples, compiled as doc tests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
