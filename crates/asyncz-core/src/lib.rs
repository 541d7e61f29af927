//! # asyncz-core
//!
//! The small, stable core of asyncz: the contracts third-party backends implement
//! ([`Trigger`], [`Store`], [`Executor`], [`Clock`]), the task model ([`Task`], [`TaskInfo`],
//! [`TaskState`]), events, errors, the plugin and function registries, configuration, and the
//! [`Scheduler`] engine. It has no backend dependencies: stores, executors and triggers live in
//! their own crates, and the `asyncz` facade re-exports them behind cargo features.
//!
//! Most users depend on `asyncz` instead. A store or executor crate depends on this one.
//!
//! ```
//! use asyncz_core::{DebugExecutor, Scheduler, TaskBuilder};
//! # use asyncz_core::*;
//! # #[derive(Debug)] struct Once(chrono::DateTime<chrono::Utc>);
//! # impl std::fmt::Display for Once { fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { write!(f, "once") } }
//! # impl Trigger for Once {
//! #     fn alias(&self) -> &'static str { "once" }
//! #     fn type_name(&self) -> &'static str { "Once" }
//! #     fn next_fire_time(&self, _: chrono_tz::Tz, p: Option<chrono::DateTime<chrono::Utc>>, _: chrono::DateTime<chrono::Utc>) -> Option<chrono::DateTime<chrono::Utc>> { p.is_none().then_some(self.0) }
//! #     fn state(&self) -> Map { Map::new() }
//! # }
//! # #[derive(Debug, Default)] struct NoStore;
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let scheduler = Scheduler::builder()
//!     .executor("default", DebugExecutor::new())
//!     .build()?;
//! scheduler.register("hello", |ctx: CallContext| {
//!     println!("hello from {}", ctx.task_id);
//! })?;
//! // A store plugin (e.g. asyncz-stores-memory) must be installed for the default store;
//! // here we only show the API shape.
//! let handle = scheduler
//!     .add_task(TaskBuilder::new().function("hello").id("greet").trigger(Once(chrono::Utc::now())))
//!     .await?;
//! assert_eq!(handle.id(), "greet");
//! # Ok::<(), asyncz_core::Error>(())
//! # }).unwrap();
//! ```
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod builder;
mod clock;
pub mod cluster;
pub mod codec;
pub mod config;
mod error;
pub mod events;
mod executor;
mod function;
pub mod lock;
pub mod metrics;
pub mod plugin_config;
mod plugins;
pub mod record;
pub mod retry;
mod scheduler;
mod store;
mod task;
mod task_info;
mod trigger;

/// The dynamic value type of task arguments, return values and plugin configuration.
pub use serde_json::Value;
/// A map of string keys to [`Value`]s (kwargs, trigger state, plugin configuration).
pub type Map = serde_json::Map<String, Value>;

pub use builder::{NextRunTime, TaskBuilder, TaskUpdate};
pub use clock::{truncate_to_micros, Clock, ManualClock, SystemClock};
pub use config::SchedulerConfig;
pub use error::{BoxError, Error, Result};
pub use events::{Event, ListenerId};
pub use events::{PanicLocation, PanicReport, TaskFailure};
pub use executor::{
    catch_panic, catch_panic_async, panic_message, DebugExecutor, EventSink, Executor,
    ExecutorContext, InstanceGuard, Instances, Job, RunOutcome, RunningRun, CANCELLED_BY_SHUTDOWN,
    RUN_SPAN_TARGET,
};
pub use function::{
    CallContext, Callable, FunctionRegistry, IntoTaskOutput, TaskError, TaskFunction, TaskOutput,
};
pub use lock::{FileLockGuard, FileLockProtected};
pub use plugin_config::{parse_plugin_config, PluginConfig};
pub use plugins::{
    global_registry, with_global_registry, ExecutorFactory, PluginRegistry, StoreFactory,
    TriggerFactory,
};
pub use scheduler::{
    BlockingGuard, BlockingScheduler, DrainReport, EngineRound, ExecutorInfo, RunTaskOptions,
    Scheduler, SchedulerBuilder, SchedulerInfo, SchedulerState, SortKey, StoreInfo, TaskHandle,
    TaskInfoQuery, MAX_PREVIEW_COUNT,
};
pub use store::{
    chunks_by, sort_tasks, store_schedules_one_by_one, ScheduleChange, SchemaVersion, Store,
    StoreContext,
};
pub use task::{
    RunTimes, ScheduleState, Task, TaskDefaults, TaskInfo, TaskState, MAX_RUN_TIMES_PER_SUBMISSION,
};
pub use trigger::{preview_fire_times, walk_fire_times, Trigger, TriggerContext, TriggerSpec};

/// Re-exported for `#[async_trait]` on Store/Executor implementations.
pub use async_trait::async_trait;
/// Re-exported so backends name the same chrono and chrono-tz versions as the core.
pub use chrono;
pub use chrono_tz;

#[cfg(test)]
mod send_sync {
    fn assert_send_sync<T: Send + Sync>() {}
    #[test]
    fn public_types_are_send_and_sync() {
        assert_send_sync::<crate::Scheduler>();
        assert_send_sync::<crate::BlockingScheduler>();
        assert_send_sync::<crate::Task>();
        assert_send_sync::<crate::TaskHandle>();
        assert_send_sync::<crate::Event>();
        assert_send_sync::<crate::Job>();
        assert_send_sync::<crate::Error>();
        assert_send_sync::<crate::PluginRegistry>();
    }
}
