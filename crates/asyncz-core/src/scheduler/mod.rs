//! The [`Scheduler`]: owns stores, executors, listeners and the engine loop; exposes the task
//! management API. Construction and lifecycle live here; task operations in `tasks.rs`, the
//! engine loop in `engine.rs`, inspection queries in `query.rs`, the task handle in
//! `handle.rs` and the synchronous facade in `blocking.rs`.

mod blocking;
mod engine;
mod handle;
mod query;
mod tasks;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use chrono_tz::Tz;
use indexmap::IndexMap;
use tokio::sync::Notify;

pub use blocking::{BlockingGuard, BlockingScheduler};
pub use handle::TaskHandle;
pub use query::{SortKey, TaskInfoQuery};
pub use tasks::{RunTaskOptions, MAX_PREVIEW_COUNT};

use crate::clock::{Clock, SystemClock};
use crate::config::SchedulerConfig;
use crate::events::{
    self, Event, ListenerId, EXECUTOR_ADDED, EXECUTOR_REMOVED, SCHEDULER_PAUSED, SCHEDULER_RESUMED,
    SCHEDULER_SHUTDOWN, SCHEDULER_STARTED, STORE_ADDED, STORE_REMOVED,
};
use crate::executor::{EventSink, Executor, ExecutorContext, Instances};
use crate::function::{CallContext, FunctionRegistry, IntoTaskOutput, TaskFunction};
use crate::plugins::{global_registry, PluginRegistry};
use crate::store::{Store, StoreContext};
use crate::task::{Task, TaskDefaults};
use crate::{Error, Map, Result};

const LOG: &str = "asyncz.scheduler";

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

type Listener = Arc<dyn Fn(&Event) + Send + Sync>;

struct Lifecycle {
    state: SchedulerState,
    refcount: i64,
    engine: Option<tokio::task::JoinHandle<()>>,
}

#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) timezone: Tz,
    pub(crate) store_retry_interval: Duration,
    pub(crate) logger_name: String,
    pub(crate) task_defaults: TaskDefaults,
    pub(crate) isolated_runtime: bool,
    pub(crate) lock_path: Option<String>,
    pub(crate) startup_delay: Option<Duration>,
    pub(crate) store_timeout: Duration,
}

impl Settings {
    /// The startup delay in force: as configured, else 1 s with a lock path, else none.
    pub(crate) fn effective_startup_delay(&self) -> Duration {
        self.startup_delay.unwrap_or(if self.lock_path.is_some() {
            Duration::from_secs(1)
        } else {
            Duration::ZERO
        })
    }
}

pub(crate) struct Pending {
    pub(crate) task: Task,
    pub(crate) replace_existing: bool,
    pub(crate) start_task: bool,
}

pub(crate) struct Inner {
    lifecycle: Mutex<Lifecycle>,
    /// Held for a whole start or shutdown, so the two never interleave.
    lifecycle_op: tokio::sync::Mutex<()>,
    pub(crate) settings: RwLock<Settings>,
    stores: RwLock<IndexMap<String, Arc<dyn Store>>>,
    executors: RwLock<IndexMap<String, Arc<dyn Executor>>>,
    /// Serialises the engine's read-modify-write of stores with task management calls.
    pub(crate) store_lock: tokio::sync::Mutex<()>,
    pub(crate) pending: Mutex<Vec<Pending>>,
    listeners: RwLock<Vec<(ListenerId, u32, Listener)>>,
    /// The union of every listener's mask: events nobody wants are never built.
    listener_mask: Arc<std::sync::atomic::AtomicU32>,
    next_listener: AtomicU64,
    /// When the engine will next look at the stores by itself (`None`: only when woken). Read
    /// and written under the store lock, so adding a task wakes the engine only when it must.
    pub(crate) planned_wakeup: Mutex<Option<chrono::DateTime<chrono::Utc>>>,
    pub(crate) wakeup: Arc<Notify>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) plugins: RwLock<Arc<PluginRegistry>>,
    pub(crate) functions: Arc<FunctionRegistry>,
    pub(crate) instances: Arc<Instances>,
    own_runtime: Mutex<Option<tokio::runtime::Runtime>>,
    /// Shared copies of the strings many tasks repeat (aliases, function names), so a
    /// million tasks do not hold a million copies of "default".
    interned: Mutex<std::collections::HashSet<Arc<str>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let runtime = self
            .own_runtime
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(runtime) = runtime {
            // Dropping a runtime from async code panics; this never blocks.
            runtime.shutdown_background();
        }
    }
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

/// Builds a [`Scheduler`].
pub struct SchedulerBuilder {
    settings: Settings,
    clock: Arc<dyn Clock>,
    plugins: Option<PluginRegistry>,
    stores: Vec<(String, Arc<dyn Store>)>,
    executors: Vec<(String, Arc<dyn Executor>)>,
    config: Option<(Map, Option<String>)>,
}

impl std::fmt::Debug for SchedulerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchedulerBuilder")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Default for SchedulerBuilder {
    fn default() -> Self {
        SchedulerBuilder {
            settings: Settings {
                timezone: Tz::UTC,
                store_retry_interval: Duration::from_secs(10),
                logger_name: LOG.to_owned(),
                task_defaults: TaskDefaults::default(),
                isolated_runtime: false,
                lock_path: None,
                startup_delay: None,
                store_timeout: Duration::from_secs(10),
            },
            clock: Arc::new(SystemClock),
            plugins: None,
            stores: Vec::new(),
            executors: Vec::new(),
            config: None,
        }
    }
}

impl SchedulerBuilder {
    /// The zone triggers compute in when they have none of their own (default UTC).
    pub fn timezone(mut self, tz: Tz) -> Self {
        self.settings.timezone = tz;
        self
    }
    /// How long to wait before retrying a store that failed (default 10 s).
    pub fn store_retry_interval(mut self, interval: Duration) -> Self {
        self.settings.store_retry_interval = interval;
        self
    }
    /// How long the engine waits for one store call before treating the store as failed for
    /// this round (default 10 s), so an unreachable server does not stall the other stores.
    pub fn store_timeout(mut self, timeout: Duration) -> Self {
        self.settings.store_timeout = timeout;
        self
    }
    /// A name recorded in every log line (spec: `logger_name`).
    pub fn logger_name(mut self, name: impl Into<String>) -> Self {
        self.settings.logger_name = format!("{LOG}.{}", name.into());
        self
    }
    /// Defaults for options tasks leave unset.
    pub fn task_defaults(mut self, defaults: TaskDefaults) -> Self {
        self.settings.task_defaults = defaults;
        self
    }
    /// Run the engine and the tokio executor on a runtime owned by the scheduler (its own
    /// threads) instead of the caller's (spec: `isolated_event_loop`).
    pub fn isolated_runtime(mut self, isolated: bool) -> Self {
        self.settings.isolated_runtime = isolated;
        self
    }
    /// Coordinate with other processes sharing the same stores (spec: `lock_path`): each
    /// engine round takes an exclusive file lock per store, without waiting, around reading
    /// due tasks and writing their next run times; a process that does not get it skips that
    /// store until the next round. Placeholders: `{store}`, `{ppid}`, `{pgrp}`. With a lock
    /// path, the engine also polls every `store_retry_interval` (other processes add tasks).
    pub fn lock_path(mut self, template: impl Into<String>) -> Self {
        self.settings.lock_path = Some(template.into());
        self
    }
    /// How long after start tasks committed at start may first run (spec: `startup_delay`;
    /// default 1 s with a lock path, else 0), so sibling processes start before work is taken.
    pub fn startup_delay(mut self, delay: Duration) -> Self {
        self.settings.startup_delay = Some(delay);
        self
    }
    /// The clock (default: the system clock). Tests pass a [`crate::ManualClock`].
    pub fn clock(mut self, clock: impl Clock) -> Self {
        // Whatever precision the clock has, the scheduler reads whole microseconds.
        self.clock = Arc::new(crate::clock::MicrosClock(Arc::new(clock)));
        self
    }
    /// The plugin registry (default: a copy of the process-wide one).
    pub fn plugins(mut self, plugins: PluginRegistry) -> Self {
        self.plugins = Some(plugins);
        self
    }
    /// Adds a store instance under `alias`.
    pub fn store(mut self, alias: impl Into<String>, store: impl Store) -> Self {
        self.stores.push((alias.into(), Arc::new(store)));
        self
    }
    /// Adds an executor instance under `alias`.
    pub fn executor(mut self, alias: impl Into<String>, executor: impl Executor) -> Self {
        self.executors.push((alias.into(), Arc::new(executor)));
        self
    }
    /// Applies a configuration map with the spec's `asyncz.*` keys (see
    /// [`SchedulerConfig::from_map`]).
    pub fn config(mut self, config: Map) -> Self {
        self.config = Some((config, Some("asyncz.".to_owned())));
        self
    }

    /// Builds the scheduler (stopped).
    pub fn build(self) -> Result<Scheduler> {
        let plugins = self.plugins.unwrap_or_else(global_registry);
        let mut stores = IndexMap::new();
        for (alias, store) in self.stores {
            if stores.insert(alias.clone(), store).is_some() {
                return Err(duplicate("store", &alias));
            }
        }
        let mut executors = IndexMap::new();
        for (alias, executor) in self.executors {
            if executors.insert(alias.clone(), executor).is_some() {
                return Err(duplicate("executor", &alias));
            }
        }
        let scheduler = Scheduler {
            inner: Arc::new(Inner {
                lifecycle: Mutex::new(Lifecycle {
                    state: SchedulerState::Stopped,
                    refcount: 0,
                    engine: None,
                }),
                lifecycle_op: tokio::sync::Mutex::new(()),
                settings: RwLock::new(self.settings),
                stores: RwLock::new(stores),
                executors: RwLock::new(executors),
                store_lock: tokio::sync::Mutex::new(()),
                pending: Mutex::new(Vec::new()),
                listeners: RwLock::new(Vec::new()),
                listener_mask: Arc::new(std::sync::atomic::AtomicU32::new(0)),
                next_listener: AtomicU64::new(1),
                planned_wakeup: Mutex::new(None),
                wakeup: Arc::new(Notify::new()),
                clock: self.clock,
                plugins: RwLock::new(Arc::new(plugins)),
                functions: Arc::new(FunctionRegistry::new()),
                instances: Arc::new(Instances::default()),
                own_runtime: Mutex::new(None),
                interned: Mutex::new(std::collections::HashSet::new()),
            }),
        };
        if let Some((config, prefix)) = self.config {
            scheduler.setup_with_prefix(&config, prefix.as_deref())?;
        }
        Ok(scheduler)
    }
}

fn duplicate(kind: &'static str, alias: &str) -> Error {
    Error::Alias {
        kind,
        alias: alias.to_owned(),
        message: format!("this scheduler already has a {kind} by this alias"),
    }
}

fn no_such(kind: &'static str, alias: &str) -> Error {
    Error::Alias {
        kind,
        alias: alias.to_owned(),
        message: format!("no such {kind}"),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn read<T>(m: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(m: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(|e| e.into_inner())
}

impl Scheduler {
    /// A builder with the defaults: UTC, system clock, the process-wide plugin registry.
    pub fn builder() -> SchedulerBuilder {
        SchedulerBuilder::default()
    }

    /// The lifecycle state.
    pub fn state(&self) -> SchedulerState {
        lock(&self.inner.lifecycle).state
    }

    /// True once started (running or paused).
    pub fn running(&self) -> bool {
        self.state() != SchedulerState::Stopped
    }

    /// The scheduler's time zone.
    pub fn timezone(&self) -> Tz {
        read(&self.inner.settings).timezone
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

    /// Store aliases, in insertion order.
    pub fn store_aliases(&self) -> Vec<String> {
        read(&self.inner.stores).keys().cloned().collect()
    }

    /// Executor aliases, in insertion order.
    pub fn executor_aliases(&self) -> Vec<String> {
        read(&self.inner.executors).keys().cloned().collect()
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

    // ---- configuration -------------------------------------------------------------------

    /// Reconfigures the scheduler from a map with `asyncz.*` keys (spec: `setup`). Only while
    /// stopped ([`Error::SchedulerAlreadyRunning`] otherwise). Stores and executors named in
    /// the map replace the current ones of the same kind.
    pub fn setup(&self, config: &Map) -> Result<()> {
        self.setup_with_prefix(config, Some("asyncz."))
    }

    /// [`Scheduler::setup`] with another key prefix (`None` or `""`: every key).
    pub fn setup_with_prefix(&self, config: &Map, prefix: Option<&str>) -> Result<()> {
        if self.running() {
            return Err(Error::SchedulerAlreadyRunning);
        }
        let parsed = SchedulerConfig::from_map(config, prefix)?;
        self.apply_config(parsed)
    }

    /// Applies an already parsed configuration (only while stopped).
    pub fn apply_config(&self, config: SchedulerConfig) -> Result<()> {
        if self.running() {
            return Err(Error::SchedulerAlreadyRunning);
        }
        let plugins = self.plugins();
        // Build everything first, so a bad entry changes nothing.
        let mut stores = IndexMap::new();
        for (alias, options) in &config.stores {
            let (kind, rest) = split_type(options);
            stores.insert(alias.clone(), plugins.create_store(&kind, &rest)?);
        }
        let mut executors = IndexMap::new();
        for (alias, options) in &config.executors {
            let (kind, rest) = split_type(options);
            executors.insert(alias.clone(), plugins.create_executor(&kind, &rest)?);
        }
        {
            let mut s = write(&self.inner.settings);
            if let Some(tz) = config.timezone {
                s.timezone = tz;
            }
            if let Some(i) = config.store_retry_interval {
                s.store_retry_interval = i;
            }
            if let Some(name) = &config.logger_name {
                s.logger_name = format!("{LOG}.{name}");
            }
            if let Some(iso) = config.isolated_runtime {
                s.isolated_runtime = iso;
            }
            if let Some(path) = &config.lock_path {
                s.lock_path = Some(path.clone());
            }
            if let Some(delay) = config.startup_delay {
                s.startup_delay = Some(delay);
            }
            if let Some(timeout) = config.store_timeout {
                s.store_timeout = timeout;
            }
            if let Some(g) = config.default_mistrigger_grace_time {
                s.task_defaults.mistrigger_grace_time = g;
            }
            if let Some(c) = config.default_coalesce {
                s.task_defaults.coalesce = c;
            }
            if let Some(m) = config.default_max_instances {
                s.task_defaults.max_instances = m;
            }
        }
        for (alias, store) in stores {
            let replaced = write(&self.inner.stores)
                .insert(alias.clone(), store)
                .is_some();
            if replaced {
                self.dispatch_event(Event::scheduler(STORE_REMOVED, Some(&alias)));
            }
            self.dispatch_event(Event::scheduler(STORE_ADDED, Some(&alias)));
        }
        for (alias, executor) in executors {
            let replaced = write(&self.inner.executors)
                .insert(alias.clone(), executor)
                .is_some();
            if replaced {
                self.dispatch_event(Event::scheduler(EXECUTOR_REMOVED, Some(&alias)));
            }
            self.dispatch_event(Event::scheduler(EXECUTOR_ADDED, Some(&alias)));
        }
        Ok(())
    }

    /// The task defaults in force.
    pub fn task_defaults(&self) -> TaskDefaults {
        read(&self.inner.settings).task_defaults
    }

    /// The store retry interval in force.
    pub fn store_retry_interval(&self) -> Duration {
        read(&self.inner.settings).store_retry_interval
    }

    // ---- listeners ------------------------------------------------------------------------

    /// Calls `callback` for every event whose code is in `mask` (e.g.
    /// `TASK_EXECUTED | TASK_ERROR`, or [`events::ALL_EVENTS`]). A panicking listener is logged
    /// and skipped; it never stops the scheduler.
    pub fn add_listener(
        &self,
        mask: u32,
        callback: impl Fn(&Event) + Send + Sync + 'static,
    ) -> ListenerId {
        let id = ListenerId(self.inner.next_listener.fetch_add(1, Ordering::Relaxed));
        let mut listeners = write(&self.inner.listeners);
        listeners.push((id, mask, Arc::new(callback)));
        self.inner.refresh_listener_mask(&listeners);
        id
    }

    /// Removes a listener; false when it was not registered.
    pub fn remove_listener(&self, id: ListenerId) -> bool {
        let mut listeners = write(&self.inner.listeners);
        let before = listeners.len();
        listeners.retain(|(l, _, _)| *l != id);
        self.inner.refresh_listener_mask(&listeners);
        listeners.len() != before
    }

    /// A channel receiving every event in `mask`: handy in tests and async code.
    /// The listener goes away once the receiver is dropped (at the next event it would get).
    pub fn subscribe(&self, mask: u32) -> tokio::sync::mpsc::UnboundedReceiver<Event> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let id: Arc<std::sync::OnceLock<ListenerId>> = Arc::new(std::sync::OnceLock::new());
        let own_id = Arc::clone(&id);
        let weak = Arc::downgrade(&self.inner);
        let listener = self.add_listener(mask, move |event| {
            if tx.send(event.clone()).is_err() {
                if let (Some(inner), Some(id)) = (weak.upgrade(), own_id.get()) {
                    Scheduler { inner }.remove_listener(*id);
                }
            }
        });
        let _ = id.set(listener);
        rx
    }

    pub(crate) fn dispatch_event(&self, event: Event) {
        self.inner.dispatch_event(&event);
    }

    pub(crate) fn event_sink(&self) -> EventSink {
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        EventSink::with_mask(
            move |event| {
                if let Some(inner) = weak.upgrade() {
                    inner.dispatch_event(&event);
                }
            },
            Arc::clone(&self.inner.listener_mask),
        )
    }

    /// Whether any listener wants events with `code`.
    pub(crate) fn wants(&self, code: u32) -> bool {
        self.inner.listener_mask.load(Ordering::Relaxed) & code != 0
    }

    // ---- stores and executors -------------------------------------------------------------

    /// Adds a store under `alias`; started at once when the scheduler runs.
    pub async fn add_store(&self, alias: &str, store: Arc<dyn Store>) -> Result<()> {
        if read(&self.inner.stores).contains_key(alias) {
            return Err(duplicate("store", alias));
        }
        if self.running() {
            store.start(self.store_context(alias)).await?;
        }
        {
            let mut stores = write(&self.inner.stores);
            if stores.contains_key(alias) {
                return Err(duplicate("store", alias));
            }
            stores.insert(alias.to_owned(), store);
        }
        self.dispatch_event(Event::scheduler(STORE_ADDED, Some(alias)));
        if self.state() == SchedulerState::Running {
            self.wakeup();
        }
        Ok(())
    }

    /// Adds a store built by the plugin `kind` (`memory`, `sql`, ...) from `config`.
    pub async fn add_store_plugin(&self, alias: &str, kind: &str, config: &Map) -> Result<()> {
        let store = self.plugins().create_store(kind, config)?;
        self.add_store(alias, store).await
    }

    /// Removes a store (shutting it down when `shutdown`).
    pub async fn remove_store(&self, alias: &str, shutdown: bool) -> Result<()> {
        let store = write(&self.inner.stores)
            .shift_remove(alias)
            .ok_or_else(|| no_such("store", alias))?;
        if shutdown && self.running() {
            store.shutdown().await?;
        }
        self.dispatch_event(Event::scheduler(STORE_REMOVED, Some(alias)));
        Ok(())
    }

    /// Adds an executor under `alias`; started at once when the scheduler runs.
    pub async fn add_executor(&self, alias: &str, executor: Arc<dyn Executor>) -> Result<()> {
        if read(&self.inner.executors).contains_key(alias) {
            return Err(duplicate("executor", alias));
        }
        if self.running() {
            let ctx = self.executor_context(alias)?;
            executor.start(ctx).await?;
        }
        {
            let mut executors = write(&self.inner.executors);
            if executors.contains_key(alias) {
                return Err(duplicate("executor", alias));
            }
            executors.insert(alias.to_owned(), executor);
        }
        self.dispatch_event(Event::scheduler(EXECUTOR_ADDED, Some(alias)));
        Ok(())
    }

    /// Adds an executor built by the plugin `kind` (`tokio`, `threadpool`, ...) from `config`.
    pub async fn add_executor_plugin(&self, alias: &str, kind: &str, config: &Map) -> Result<()> {
        let executor = self.plugins().create_executor(kind, config)?;
        self.add_executor(alias, executor).await
    }

    /// Removes an executor (shutting it down, waiting for its jobs, when `shutdown`).
    pub async fn remove_executor(&self, alias: &str, shutdown: bool) -> Result<()> {
        let executor = write(&self.inner.executors)
            .shift_remove(alias)
            .ok_or_else(|| no_such("executor", alias))?;
        if shutdown && self.running() {
            executor.shutdown(true).await?;
        }
        self.dispatch_event(Event::scheduler(EXECUTOR_REMOVED, Some(alias)));
        Ok(())
    }

    pub(crate) fn lookup_store(&self, alias: &str) -> Result<Arc<dyn Store>> {
        read(&self.inner.stores)
            .get(alias)
            .cloned()
            .ok_or_else(|| no_such("store", alias))
    }

    pub(crate) fn lookup_executor(&self, alias: &str) -> Result<Arc<dyn Executor>> {
        read(&self.inner.executors)
            .get(alias)
            .cloned()
            .ok_or_else(|| no_such("executor", alias))
    }

    pub(crate) fn stores_snapshot(&self) -> Vec<(String, Arc<dyn Store>)> {
        read(&self.inner.stores)
            .iter()
            .map(|(k, v)| (k.clone(), Arc::clone(v)))
            .collect()
    }

    fn executors_snapshot(&self) -> Vec<(String, Arc<dyn Executor>)> {
        read(&self.inner.executors)
            .iter()
            .map(|(k, v)| (k.clone(), Arc::clone(v)))
            .collect()
    }

    fn store_context(&self, alias: &str) -> StoreContext {
        StoreContext {
            alias: alias.to_owned(),
            plugins: self.plugins(),
            functions: Arc::clone(&self.inner.functions),
            timezone: self.timezone(),
            clock: Arc::clone(&self.inner.clock),
        }
    }

    fn executor_context(&self, alias: &str) -> Result<ExecutorContext> {
        Ok(ExecutorContext {
            alias: alias.to_owned(),
            functions: Arc::clone(&self.inner.functions),
            runtime: self.runtime_handle()?,
        })
    }

    /// The runtime the engine and the tokio executor run on: the scheduler's own when
    /// `isolated_runtime` is set, else the caller's.
    pub(crate) fn runtime_handle(&self) -> Result<tokio::runtime::Handle> {
        if read(&self.inner.settings).isolated_runtime {
            return self.own_runtime_handle();
        }
        tokio::runtime::Handle::try_current().map_err(|_| {
            Error::Runtime(
                "no tokio runtime: call start() inside a tokio runtime, set isolated_runtime, or \
                 use BlockingScheduler"
                    .to_owned(),
            )
        })
    }

    pub(crate) fn own_runtime_handle(&self) -> Result<tokio::runtime::Handle> {
        let mut own = lock(&self.inner.own_runtime);
        if let Some(rt) = own.as_ref() {
            return Ok(rt.handle().clone());
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("asyncz-scheduler")
            .enable_all()
            .build()
            .map_err(|e| Error::backend("scheduler runtime", e))?;
        let handle = rt.handle().clone();
        *own = Some(rt);
        Ok(handle)
    }

    // ---- lifecycle ------------------------------------------------------------------------

    /// Starts the scheduler: executors, stores (adding the default memory store and tokio
    /// executor when none is named `default`), pending tasks, then the engine loop.
    ///
    /// Start and shutdown are reference-counted: a nested `start` returns `Ok(false)` and only
    /// the matching outermost `shutdown` stops the scheduler.
    pub async fn start(&self) -> Result<bool> {
        self.start_with(false).await
    }

    /// Starts paused: stores and executors run, tasks wait for [`Scheduler::resume`].
    pub async fn start_paused(&self) -> Result<bool> {
        self.start_with(true).await
    }

    async fn start_with(&self, paused: bool) -> Result<bool> {
        let _op = self.inner.lifecycle_op.lock().await;
        {
            let mut lc = lock(&self.inner.lifecycle);
            lc.refcount += 1;
            if lc.refcount > 1 {
                return Ok(false);
            }
        }
        match self.do_start(paused).await {
            Ok(()) => Ok(true),
            Err(e) => {
                let mut lc = lock(&self.inner.lifecycle);
                lc.refcount = 0;
                lc.state = SchedulerState::Stopped;
                Err(e)
            }
        }
    }

    async fn do_start(&self, paused: bool) -> Result<()> {
        let handle = self.runtime_handle()?;
        let logger = read(&self.inner.settings).logger_name.clone();
        if !read(&self.inner.executors).contains_key("default") {
            let executor = self.plugins().create_executor("tokio", &Map::new())?;
            write(&self.inner.executors).insert("default".to_owned(), executor);
            self.dispatch_event(Event::scheduler(EXECUTOR_ADDED, Some("default")));
        }
        for (alias, executor) in self.executors_snapshot() {
            executor.start(self.executor_context(&alias)?).await?;
        }
        let _guard = self.inner.store_lock.lock().await;
        if !read(&self.inner.stores).contains_key("default") {
            let store = self.plugins().create_store("memory", &Map::new())?;
            write(&self.inner.stores).insert("default".to_owned(), store);
            self.dispatch_event(Event::scheduler(STORE_ADDED, Some("default")));
        }
        for (alias, store) in self.stores_snapshot() {
            store.start(self.store_context(&alias)).await?;
        }
        {
            // Stores are started: from here on, operations go to them, not to the queue.
            let mut lc = lock(&self.inner.lifecycle);
            lc.state = if paused {
                SchedulerState::Paused
            } else {
                SchedulerState::Running
            };
        }
        let pending = std::mem::take(&mut *lock(&self.inner.pending));
        let delay = read(&self.inner.settings).effective_startup_delay();
        let min_start = chrono::Duration::from_std(delay)
            .ok()
            .and_then(|d| self.inner.clock.now().checked_add_signed(d))
            .filter(|_| !delay.is_zero());
        for mut p in pending {
            let id = p.task.id.clone();
            if p.start_task {
                if p.task.next_run_time.is_none() {
                    let now = self.inner.clock.now();
                    p.task.next_run_time = p.task.next_fire_time(self.timezone(), None, now);
                }
                // Sibling processes sharing the stores get `startup_delay` to start first.
                if let (Some(next), Some(min)) = (p.task.next_run_time, min_start) {
                    p.task.next_run_time = Some(next.max(min));
                }
            }
            match self
                .real_add_task(p.task, p.replace_existing, p.start_task)
                .await
            {
                Ok(()) | Err(Error::ConflictId { .. }) => {}
                Err(e) => {
                    tracing::error!(target: LOG, logger = %logger, task = ?id, error = %e, "cannot add pending task at start");
                }
            }
        }
        drop(_guard);
        tracing::info!(target: LOG, logger = %logger, "scheduler started");
        self.dispatch_event(Event::scheduler(SCHEDULER_STARTED, None));
        let engine = handle.spawn(engine::run(Arc::downgrade(&self.inner)));
        lock(&self.inner.lifecycle).engine = Some(engine);
        self.wakeup();
        Ok(())
    }

    /// Shuts down: stops the engine, shuts executors down (`wait`: let running jobs finish),
    /// runs shutdown-trigger tasks, shuts stores down. Returns `Ok(false)` when an outer
    /// `start` still holds the scheduler.
    pub async fn shutdown(&self, wait: bool) -> Result<bool> {
        let _op = self.inner.lifecycle_op.lock().await;
        let engine = {
            let mut lc = lock(&self.inner.lifecycle);
            if lc.state == SchedulerState::Stopped {
                lc.refcount = 0;
                return Err(Error::SchedulerNotRunning);
            }
            lc.refcount -= 1;
            if lc.refcount > 0 {
                return Ok(false);
            }
            lc.refcount = 0;
            lc.state = SchedulerState::Stopped;
            lc.engine.take()
        };
        let logger = read(&self.inner.settings).logger_name.clone();
        self.inner.wakeup.notify_one();
        {
            // Let an engine round in progress finish, then stop the loop.
            let _round = self.inner.store_lock.lock().await;
            if let Some(engine) = engine {
                engine.abort();
            }
        }
        // Executors drain without the store lock: a running job may call back into the
        // scheduler (add a follow-up task, delete itself) and must not wait for us.
        for (alias, executor) in self.executors_snapshot() {
            if let Err(e) = executor.shutdown(wait).await {
                tracing::error!(target: LOG, logger = %logger, executor = %alias, error = %e, "executor shutdown failed");
            }
        }
        let shutdown_tasks = {
            let _g = self.inner.store_lock.lock().await;
            let mut tasks = Vec::new();
            for (alias, store) in self.stores_snapshot() {
                tasks.extend(self.take_shutdown_tasks(&alias, store.as_ref()).await);
            }
            tasks
        };
        for task in shutdown_tasks {
            self.run_shutdown_task(task).await;
        }
        {
            let _g = self.inner.store_lock.lock().await;
            for (alias, store) in self.stores_snapshot() {
                if let Err(e) = store.shutdown().await {
                    tracing::error!(target: LOG, logger = %logger, store = %alias, error = %e, "store shutdown failed");
                }
            }
        }
        if let Some(template) = read(&self.inner.settings).lock_path.clone() {
            for alias in self.store_aliases() {
                crate::lock::FileLockProtected::for_store(&template, &alias).remove_if_free();
            }
        }
        tracing::info!(target: LOG, logger = %logger, "scheduler has been shut down");
        self.dispatch_event(Event::scheduler(SCHEDULER_SHUTDOWN, None));
        Ok(true)
    }

    /// Removes the shutdown-trigger tasks of a store and returns them, to run once.
    async fn take_shutdown_tasks(&self, alias: &str, store: &dyn Store) -> Vec<Task> {
        let tasks = match store.get_all_tasks().await {
            Ok(tasks) => tasks,
            Err(e) => {
                tracing::error!(target: LOG, store = %alias, error = %e, "cannot list tasks for shutdown triggers");
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for task in tasks.into_iter().filter(|t| t.trigger.is_shutdown()) {
            match store.delete_task(&task.id).await {
                Ok(()) => out.push(task),
                Err(e) => {
                    tracing::error!(target: LOG, task = ?task.id, error = %e, "cannot remove shutdown task")
                }
            }
        }
        out
    }

    async fn run_shutdown_task(&self, task: Task) {
        let function = match self.inner.functions.resolve(&task.callable) {
            Ok(f) => f,
            Err(e) => {
                tracing::error!(target: LOG, task = ?task.id, error = %e, "cannot run shutdown task");
                return;
            }
        };
        let ctx = CallContext {
            task_id: task.id.to_string(),
            scheduled_run_time: self.inner.clock.now(),
            args: task.args.clone(),
            kwargs: task.kwargs.clone(),
        };
        let outcome: std::result::Result<crate::function::TaskOutput, String> = match function {
            TaskFunction::Async(f) => futures::FutureExt::catch_unwind(AssertUnwindSafe(f(ctx)))
                .await
                .map_err(|p| crate::executor::panic_message(p.as_ref())),
            TaskFunction::Sync(f) => match tokio::task::spawn_blocking(move || f(ctx)).await {
                Ok(output) => Ok(output),
                Err(join) => Err(match join.try_into_panic() {
                    Ok(p) => crate::executor::panic_message(p.as_ref()),
                    Err(e) => e.to_string(),
                }),
            },
        };
        match outcome {
            Ok(Ok(_)) => tracing::info!(target: LOG, task = ?task.id, "shutdown task executed"),
            Ok(Err(e)) => {
                tracing::error!(target: LOG, task = ?task.id, error = %e, "shutdown task failed")
            }
            Err(p) => {
                tracing::error!(target: LOG, task = ?task.id, error = %p, "shutdown task panicked")
            }
        }
    }

    /// Pauses task processing (running jobs continue).
    pub fn pause(&self) -> Result<()> {
        {
            let mut lc = lock(&self.inner.lifecycle);
            match lc.state {
                SchedulerState::Stopped => return Err(Error::SchedulerNotRunning),
                SchedulerState::Paused => return Ok(()),
                SchedulerState::Running => lc.state = SchedulerState::Paused,
            }
        }
        tracing::info!(target: LOG, "paused scheduler task processing");
        self.dispatch_event(Event::scheduler(SCHEDULER_PAUSED, None));
        Ok(())
    }

    /// Resumes task processing.
    pub fn resume(&self) -> Result<()> {
        {
            let mut lc = lock(&self.inner.lifecycle);
            match lc.state {
                SchedulerState::Stopped => return Err(Error::SchedulerNotRunning),
                SchedulerState::Running => return Ok(()),
                SchedulerState::Paused => lc.state = SchedulerState::Running,
            }
        }
        tracing::info!(target: LOG, "resumed scheduler task processing");
        self.dispatch_event(Event::scheduler(SCHEDULER_RESUMED, None));
        self.wakeup();
        Ok(())
    }

    /// Wakes the engine loop to look for due tasks now.
    pub fn wakeup(&self) {
        self.inner.wakeup.notify_one();
    }

    /// Runs `body` with the scheduler started, then shuts it down (waiting for jobs), even if
    /// the body returns an error: the async counterpart of the spec's context manager.
    pub async fn scope<F, Fut, T>(&self, body: F) -> Result<T>
    where
        F: FnOnce(Scheduler) -> Fut,
        Fut: Future<Output = T>,
    {
        self.start().await?;
        let out = body(self.clone()).await;
        self.shutdown(true).await?;
        Ok(out)
    }
}

impl Inner {
    fn refresh_listener_mask(&self, listeners: &[(ListenerId, u32, Listener)]) {
        let mask = listeners.iter().fold(0, |acc, (_, m, _)| acc | m);
        self.listener_mask.store(mask, Ordering::Relaxed);
    }

    pub(crate) fn dispatch_event(&self, event: &Event) {
        if self.listener_mask.load(Ordering::Relaxed) & event.code() == 0 {
            return;
        }
        let listeners: Vec<(u32, Listener)> = read(&self.listeners)
            .iter()
            .filter(|(_, mask, _)| event.code() & mask != 0)
            .map(|(_, mask, l)| (*mask, Arc::clone(l)))
            .collect();
        for (_, listener) in listeners {
            if let Err(panic) = std::panic::catch_unwind(AssertUnwindSafe(|| listener(event))) {
                tracing::error!(
                    target: LOG,
                    event = events::code_name(event.code()),
                    error = %crate::executor::panic_message(panic.as_ref()),
                    "error notifying listener"
                );
            }
        }
    }

    pub(crate) fn state(&self) -> SchedulerState {
        lock(&self.lifecycle).state
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

fn split_type(options: &Map) -> (String, Map) {
    let mut rest = options.clone();
    let kind = match rest.remove("type") {
        Some(crate::Value::String(s)) => s,
        Some(other) => other.to_string(),
        None => String::new(),
    };
    (kind, rest)
}
