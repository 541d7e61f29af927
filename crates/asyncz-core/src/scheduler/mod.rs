//! The [`Scheduler`]: a thin facade over the parts it owns, one concern and one file each:
//!
//! - `builder.rs`: [`SchedulerBuilder`]; the settings are one [`SchedulerConfig`];
//! - `configure.rs`: `setup` / `apply_config` (plugins built from the config, named by alias);
//! - `backends.rs`: the store and executor registry; each store has its own lock and every
//!   store call is bounded by `store_timeout`;
//! - `event_bus.rs`: listeners and dispatch (a dispatch holds no lock of the bus itself);
//! - `lifecycle.rs`: start, shutdown, pause, resume, `scope`; `runtime.rs`: the owned runtime;
//! - `pending.rs`: the [`Store`] tasks added before start wait in;
//! - `schedule.rs`: the scheduling maths (first run, after a fire, after a manual run);
//! - `tasks.rs` (adding), `manage.rs` (changing, running, deleting, reading), `engine.rs` (the
//!   loop), `submit.rs` (handing a run to its executor), `query.rs`, `handle.rs`, `blocking.rs`.

/// Logs on the scheduler's target with its `logger_name` as the `logger` field: every log line
/// of a scheduler goes through this, so operators can tell schedulers apart.
macro_rules! log {
    ($level:ident, $scheduler:expr, $($rest:tt)+) => {
        tracing::$level!(target: $crate::scheduler::LOG, logger = %$scheduler.logger(), $($rest)+)
    };
}

mod backends;
mod blocking;
mod builder;
mod cluster;
mod configure;
mod drain;
mod engine;
mod event_bus;
mod handle;
mod info;
mod lifecycle;
mod manage;
mod pending;
mod query;
mod runtime;
mod schedule;
mod shutdown_tasks;
mod submit;
mod tasks;
#[cfg(test)]
mod test_support;

use std::future::Future;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono_tz::Tz;
use tokio::sync::Notify;

pub use blocking::{BlockingGuard, BlockingScheduler};
pub use builder::SchedulerBuilder;
pub use drain::DrainReport;
pub use handle::TaskHandle;
pub use info::{EngineRound, ExecutorInfo, SchedulerInfo, StoreInfo};
pub use manage::RunTaskOptions;
pub use query::{SortKey, TaskInfoQuery};
pub use tasks::MAX_PREVIEW_COUNT;

use crate::clock::Clock;
use crate::config::SchedulerConfig;
use crate::events::{Event, ListenerId};
use crate::executor::{EventSink, Executor, Instances};
use crate::function::{CallContext, FunctionRegistry, IntoTaskOutput, TaskFunction};
use crate::plugins::PluginRegistry;
use crate::store::Store;
use crate::task::TaskDefaults;
use crate::Result;

pub(crate) const LOG: &str = "asyncz.scheduler";

/// The scheduler's lifecycle state (spec: `SchedulerState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchedulerState {
    /// Not started, or shut down.
    Stopped,
    /// Processing tasks.
    Running,
    /// Started, but not processing tasks until resumed.
    Paused,
}

pub(crate) struct Inner {
    pub(crate) lifecycle: lifecycle::Lifecycle,
    pub(crate) config: RwLock<SchedulerConfig>,
    /// The `logger_name` in force, shared with the event bus.
    pub(crate) logger: Arc<RwLock<Arc<str>>>,
    pub(crate) backends: backends::Backends,
    pub(crate) pending: Arc<pending::PendingStore>,
    pub(crate) events: Arc<event_bus::EventBus>,
    /// When the engine will next look at the stores by itself (`None`: at any new task). Set to
    /// `None` when a round begins and to the round's answer when it ends, so a task added
    /// during a round always wakes the engine, and one added later only when it is due first.
    pub(crate) planned_wakeup: Mutex<Option<chrono::DateTime<chrono::Utc>>>,
    /// One engine round at a time (the loop's and `process_tasks`').
    pub(crate) round: tokio::sync::Mutex<()>,
    pub(crate) wakeup: Arc<Notify>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) plugins: RwLock<Arc<PluginRegistry>>,
    pub(crate) functions: Arc<FunctionRegistry>,
    pub(crate) instances: Arc<Instances>,
    pub(crate) runtime: runtime::OwnRuntime,
    /// Shared copies of the strings many tasks repeat (aliases, function names), so a
    /// million tasks do not hold a million copies of "default".
    pub(crate) interned: Mutex<std::collections::HashSet<Arc<str>>>,
    /// This scheduler's node while it runs in a cluster.
    pub(crate) node: Mutex<Option<Arc<cluster::Node>>>,
    /// What `info()` and `runs_in_flight()` report, and the run observer jobs share.
    pub(crate) observed: info::Observed,
}

/// A task scheduler. Cheap to clone (all clones are the same scheduler); `Send + Sync`.
///
/// Build one with [`Scheduler::builder`]; `start().await` runs it on the current tokio runtime
/// (or, with `isolated_runtime`, on a runtime of its own). From synchronous code use
/// [`BlockingScheduler`].
#[derive(Clone)]
pub struct Scheduler {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("state", &self.state())
            .field("stores", &self.store_aliases())
            .field("executors", &self.executor_aliases())
            .finish_non_exhaustive()
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn read<T>(m: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn write<T>(m: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(|e| e.into_inner())
}

impl Scheduler {
    /// A builder with the defaults: UTC, system clock, the process-wide plugin registry.
    pub fn builder() -> SchedulerBuilder {
        SchedulerBuilder::default()
    }

    /// The lifecycle state.
    pub fn state(&self) -> SchedulerState {
        self.inner.lifecycle.state()
    }

    /// True once started (running or paused).
    pub fn running(&self) -> bool {
        self.state() != SchedulerState::Stopped
    }

    /// The scheduler's time zone.
    pub fn timezone(&self) -> Tz {
        read(&self.inner.config).timezone
    }

    /// The settings in force (a copy).
    pub fn config(&self) -> SchedulerConfig {
        read(&self.inner.config).clone()
    }

    /// The `logger_name` every log line of this scheduler carries (`asyncz.scheduler` or
    /// `asyncz.scheduler.<name>`).
    pub fn logger(&self) -> Arc<str> {
        Arc::clone(&read(&self.inner.logger))
    }

    /// The clock the scheduler reads.
    pub fn clock(&self) -> Arc<dyn Clock> {
        Arc::clone(&self.inner.clock)
    }

    /// The registered functions.
    pub fn functions(&self) -> &Arc<FunctionRegistry> {
        &self.inner.functions
    }

    /// The plugin registry this scheduler resolves aliases with.
    pub fn plugins(&self) -> Arc<PluginRegistry> {
        Arc::clone(&read(&self.inner.plugins))
    }

    /// The task defaults in force.
    pub fn task_defaults(&self) -> TaskDefaults {
        read(&self.inner.config).task_defaults
    }

    /// The store retry interval in force.
    pub fn store_retry_interval(&self) -> Duration {
        read(&self.inner.config).store_retry_interval
    }

    /// Store aliases, in insertion order.
    pub fn store_aliases(&self) -> Vec<String> {
        self.inner.backends.store_aliases()
    }

    /// Executor aliases, in insertion order.
    pub fn executor_aliases(&self) -> Vec<String> {
        self.inner.backends.executor_aliases()
    }

    /// The store registered under `alias` (spec: `lookup_store`). Calls through it are bounded
    /// by `store_timeout`, like the scheduler's own. [`crate::Error::Alias`] when there is none.
    pub fn lookup_store(&self, alias: &str) -> Result<Arc<dyn Store>> {
        Ok(self.inner.backends.store(alias)?)
    }

    /// The executor registered under `alias` (spec: `lookup_executor`).
    /// [`crate::Error::Alias`] when there is none.
    pub fn lookup_executor(&self, alias: &str) -> Result<Arc<dyn Executor>> {
        self.inner.backends.executor(alias)
    }

    /// How many runs of `task_id` are executing now (across every executor).
    pub fn running_instances(&self, task_id: &str) -> u32 {
        self.inner.instances.running(task_id)
    }

    /// Registers a synchronous function under `name`, so tasks can name it and survive
    /// restarts. Replaces a previous function of that name.
    pub fn register<F, R>(&self, name: &str, f: F) -> Result<()>
    where
        F: Fn(CallContext) -> R + Send + Sync + 'static,
        R: IntoTaskOutput,
    {
        self.inner.functions.insert(name, TaskFunction::new_sync(f))
    }

    /// Registers an async function under `name`.
    pub fn register_async<F, Fut, R>(&self, name: &str, f: F) -> Result<()>
    where
        F: Fn(CallContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: IntoTaskOutput,
    {
        self.inner
            .functions
            .insert(name, TaskFunction::new_async(f))
    }

    /// Registers `f` under `name` and adds a task running it, built from `template` (a fresh
    /// definition is derived from it, so one template serves many functions). This is the Rust
    /// counterpart of the spec's decorator mode (`@scheduler.add_task(trigger=...)`).
    pub async fn register_task<F, R>(
        &self,
        name: &str,
        template: &crate::builder::TaskBuilder,
        f: F,
    ) -> Result<TaskHandle>
    where
        F: Fn(CallContext) -> R + Send + Sync + 'static,
        R: IntoTaskOutput,
    {
        self.register(name, f)?;
        self.add_task(template.derive().function(name)).await
    }

    /// [`Scheduler::register_task`] for an async function.
    pub async fn register_task_async<F, Fut, R>(
        &self,
        name: &str,
        template: &crate::builder::TaskBuilder,
        f: F,
    ) -> Result<TaskHandle>
    where
        F: Fn(CallContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: IntoTaskOutput,
    {
        self.register_async(name, f)?;
        self.add_task(template.derive().function(name)).await
    }

    // ---- listeners ------------------------------------------------------------------------

    /// Calls `callback` for every event whose code is in `mask` (e.g.
    /// `TASK_EXECUTED | TASK_ERROR`, or [`crate::events::ALL_EVENTS`]). A panicking listener is
    /// logged and skipped; it never stops the scheduler. Listeners are called with no scheduler
    /// lock held, so they may call the scheduler.
    pub fn add_listener(
        &self,
        mask: u32,
        callback: impl Fn(&Event) + Send + Sync + 'static,
    ) -> ListenerId {
        self.inner.events.add(mask, Arc::new(callback))
    }

    /// Removes a listener; false when it was not registered.
    pub fn remove_listener(&self, id: ListenerId) -> bool {
        self.inner.events.remove(id)
    }

    /// A channel receiving every event in `mask`: handy in tests and async code.
    /// The listener goes away once the receiver is dropped (at the next event it would get).
    pub fn subscribe(&self, mask: u32) -> tokio::sync::mpsc::UnboundedReceiver<Event> {
        self.inner.events.subscribe(mask)
    }

    pub(crate) fn dispatch_event(&self, event: Event) {
        self.inner.events.dispatch(&event);
    }

    pub(crate) fn event_sink(&self) -> EventSink {
        self.inner.events.sink()
    }

    /// Whether any listener wants events with `code`.
    pub(crate) fn wants(&self, code: u32) -> bool {
        self.inner.events.wants(code)
    }

    /// Wakes the engine loop to look for due tasks now.
    pub fn wakeup(&self) {
        self.inner.wakeup.notify_one();
    }

    pub(crate) fn schedule(&self) -> schedule::Schedule {
        schedule::Schedule {
            tz: read(&self.inner.config).task_timezone(),
            logger: self.logger(),
        }
    }
}

impl Inner {
    pub(crate) fn state(&self) -> SchedulerState {
        self.lifecycle.state()
    }

    pub(crate) fn intern(&self, s: &str) -> Arc<str> {
        let mut interned = lock(&self.interned);
        if let Some(existing) = interned.get(s) {
            return Arc::clone(existing);
        }
        let shared: Arc<str> = Arc::from(s);
        interned.insert(Arc::clone(&shared));
        shared
    }
}
