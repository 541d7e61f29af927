//! [`Backends`]: the scheduler's stores and executors by alias. Every store is wrapped once in
//! a [`BoundedStore`], which gives it a lock of its own (the engine's read-modify-write and task
//! management on *that* store are serialised; other stores are not held up) and bounds every
//! call, the engine's and `add_task`'s alike, by `store_timeout`: one unreachable server costs
//! its own store an error, never a stall of the others.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use indexmap::IndexMap;

use super::{Scheduler, SchedulerState};
use crate::cluster::ClusterStore;
use crate::events::{Event, EXECUTOR_ADDED, EXECUTOR_REMOVED, STORE_ADDED, STORE_REMOVED};
use crate::executor::Executor;
use crate::store::{ScheduleChange, SchemaVersion, Store, StoreContext};
use crate::task::Task;
use crate::{Error, Map, Result};

/// A store with its lock and the store timeout applied to every call.
#[derive(Debug)]
pub(crate) struct BoundedStore {
    alias: String,
    /// The alias again, shared with the metrics labels.
    label: Arc<str>,
    /// Whether the last call got an answer, and the last failure.
    health: StoreHealth,
    /// Its metric handles (see [`crate::metrics::StoreHandles`]).
    metrics: std::sync::RwLock<crate::metrics::StoreHandles>,
    inner: Arc<dyn Store>,
    lock: Arc<tokio::sync::Mutex<()>>,
    /// The store timeout in microseconds, shared by every store of the scheduler (changed by
    /// `setup` while stopped).
    timeout_us: Arc<AtomicU64>,
}

impl BoundedStore {
    /// Serialises read-modify-write sequences on this store (held only around store calls,
    /// never while a job runs or a listener is called).
    pub(crate) async fn lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.lock.lock().await
    }

    pub(crate) fn lock_handle(&self) -> Arc<tokio::sync::Mutex<()>> {
        Arc::clone(&self.lock)
    }

    pub(crate) fn alias(&self) -> &str {
        &self.alias
    }

    fn timeout(&self) -> Duration {
        Duration::from_micros(self.timeout_us.load(Ordering::Relaxed))
    }

    /// The store's cluster half, if it has one.
    pub(crate) fn cluster_half(&self) -> Option<&dyn ClusterStore> {
        self.inner.cluster()
    }

    /// Runs one call to this store within the store timeout, recording its latency and
    /// outcome (metrics `asyncz_store_call_seconds{store,op}` / `asyncz_store_errors_total`,
    /// and the store's health in [`Scheduler::info`]).
    pub(crate) async fn bounded_op<T>(
        &self,
        op: &'static str,
        call: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        let started = std::time::Instant::now();
        let result = self.bounded_call(call).await;
        let failed = result.as_ref().err().is_some_and(is_store_failure);
        super::read(&self.metrics).call(&self.label, op, started.elapsed(), failed);
        match &result {
            Err(e) if failed => self.health.failed(e),
            _ => self.health.answered(),
        }
        result
    }

    /// [`BoundedStore::bounded_op`] for a call recorded under the op `cluster`.
    pub(crate) async fn bounded<T>(&self, call: impl Future<Output = Result<T>>) -> Result<T> {
        self.bounded_op("cluster", call).await
    }

    async fn bounded_call<T>(&self, call: impl Future<Output = Result<T>>) -> Result<T> {
        let mut call = std::pin::pin!(call);
        // An in-memory store answers at the first poll: no timer is needed for that (it would
        // cost a timer-wheel entry per call on the hot path of add_task and the engine).
        let first = std::future::poll_fn(|cx| std::task::Poll::Ready(call.as_mut().poll(cx))).await;
        if let std::task::Poll::Ready(result) = first {
            return result;
        }
        let limit = self.timeout();
        match tokio::time::timeout(limit, call).await {
            Ok(result) => result,
            Err(_) => Err(Error::backend(
                format!("store '{}' ({})", self.alias, self.inner.kind()),
                format!("no answer within the store timeout ({limit:?})"),
            )),
        }
    }

    /// Registers the store's metric handles with the recorder in force now.
    pub(crate) fn refresh_metrics(&self) {
        *super::write(&self.metrics) = crate::metrics::StoreHandles::register(&self.label);
    }

    /// The store's health for [`Scheduler::info`].
    pub(crate) fn info(&self) -> super::info::StoreInfo {
        let (reachable, last_error) = self.health.get();
        super::info::StoreInfo {
            alias: self.alias.clone(),
            kind: self.inner.kind().to_owned(),
            reachable,
            last_error,
            undecodable: self.inner.undecodable_records().len(),
        }
    }
}

#[async_trait]
impl Store for BoundedStore {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
    fn is_persistent(&self) -> bool {
        self.inner.is_persistent()
    }
    async fn start(&self, ctx: StoreContext) -> Result<()> {
        self.bounded_op("start", self.inner.start(ctx)).await
    }
    async fn shutdown(&self) -> Result<()> {
        self.bounded_op("shutdown", self.inner.shutdown()).await
    }
    async fn lookup_task(&self, task_id: &str) -> Result<Option<Task>> {
        self.bounded_op("lookup_task", self.inner.lookup_task(task_id))
            .await
    }
    async fn get_due_tasks(&self, now: DateTime<Utc>) -> Result<Vec<Task>> {
        self.bounded_op("get_due_tasks", self.inner.get_due_tasks(now))
            .await
    }
    async fn get_next_run_time(&self) -> Result<Option<DateTime<Utc>>> {
        self.bounded_op("get_next_run_time", self.inner.get_next_run_time())
            .await
    }
    async fn get_all_tasks(&self) -> Result<Vec<Task>> {
        self.bounded_op("get_all_tasks", self.inner.get_all_tasks())
            .await
    }
    async fn add_task(&self, task: &Task) -> Result<()> {
        self.bounded_op("add_task", self.inner.add_task(task)).await
    }
    async fn update_task(&self, task: &Task) -> Result<()> {
        self.bounded_op("update_task", self.inner.update_task(task))
            .await
    }
    async fn delete_task(&self, task_id: &str) -> Result<()> {
        self.bounded_op("delete_task", self.inner.delete_task(task_id))
            .await
    }
    async fn remove_all_tasks(&self) -> Result<()> {
        self.bounded_op("remove_all_tasks", self.inner.remove_all_tasks())
            .await
    }
    /// A store with a batch of its own gets one bounded call; any other store one bounded
    /// `update_task` / `delete_task` per change, so its timeout, metrics and health stay per
    /// write.
    async fn store_schedules(&self, changes: &[ScheduleChange]) -> Result<Vec<Result<()>>> {
        if !self.inner.batches_schedules() {
            return Ok(crate::store::store_schedules_one_by_one(self, changes).await);
        }
        let results = self
            .bounded_op("store_schedules", self.inner.store_schedules(changes))
            .await?;
        // A change the store could not write is a failure of the store as a call would be.
        if let Some(e) = results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .find(|e| is_store_failure(e))
        {
            self.health.failed(e);
        }
        Ok(results)
    }
    fn batches_schedules(&self) -> bool {
        self.inner.batches_schedules()
    }
    fn undecodable_records(&self) -> Vec<(String, String)> {
        self.inner.undecodable_records()
    }
    fn cluster(&self) -> Option<&dyn ClusterStore> {
        self.inner.cluster()
    }
    async fn schema_version(&self) -> Result<Option<SchemaVersion>> {
        self.bounded_op("schema_version", self.inner.schema_version())
            .await
    }
}

/// Whether an error means the store did not answer (as opposed to an answer such as "no such
/// task" or "id taken").
fn is_store_failure(error: &Error) -> bool {
    matches!(error, Error::Backend { .. } | Error::Runtime(_))
}

/// A store's last answer: `reachable` is written by every call (an atomic, no lock on the hot
/// path); the last error only when a call fails.
#[derive(Debug)]
struct StoreHealth {
    reachable: std::sync::atomic::AtomicBool,
    last_error: std::sync::Mutex<Option<(DateTime<Utc>, String)>>,
}

impl Default for StoreHealth {
    fn default() -> Self {
        StoreHealth {
            reachable: std::sync::atomic::AtomicBool::new(true),
            last_error: std::sync::Mutex::new(None),
        }
    }
}

impl StoreHealth {
    fn answered(&self) {
        if !self.reachable.load(Ordering::Relaxed) {
            self.reachable.store(true, Ordering::Relaxed);
        }
    }

    fn failed(&self, error: &Error) {
        self.reachable.store(false, Ordering::Relaxed);
        *super::lock(&self.last_error) = Some((Utc::now(), error.to_string()));
    }

    fn get(&self) -> (bool, Option<(DateTime<Utc>, String)>) {
        (
            self.reachable.load(Ordering::Relaxed),
            super::lock(&self.last_error).clone(),
        )
    }
}

/// The registry: stores and executors in insertion order.
pub(crate) struct Backends {
    stores: RwLock<IndexMap<String, Arc<BoundedStore>>>,
    executors: RwLock<IndexMap<String, Arc<dyn Executor>>>,
    timeout_us: Arc<AtomicU64>,
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

impl Backends {
    pub(crate) fn new(store_timeout: Duration) -> Self {
        Backends {
            stores: RwLock::new(IndexMap::new()),
            executors: RwLock::new(IndexMap::new()),
            timeout_us: Arc::new(AtomicU64::new(micros(store_timeout))),
        }
    }

    pub(crate) fn set_store_timeout(&self, timeout: Duration) {
        self.timeout_us.store(micros(timeout), Ordering::Relaxed);
    }

    pub(crate) fn wrap(&self, alias: &str, store: Arc<dyn Store>) -> Arc<BoundedStore> {
        Arc::new(BoundedStore {
            alias: alias.to_owned(),
            label: Arc::from(alias),
            health: StoreHealth::default(),
            metrics: std::sync::RwLock::new(crate::metrics::StoreHandles::register(&Arc::from(
                alias,
            ))),
            inner: store,
            lock: Arc::new(tokio::sync::Mutex::new(())),
            timeout_us: Arc::clone(&self.timeout_us),
        })
    }

    /// Adds a store; [`Error::Alias`] when the alias is taken.
    pub(crate) fn add_store(&self, alias: &str, store: Arc<dyn Store>) -> Result<()> {
        self.insert_store(self.wrap(alias, store))
    }

    /// Adds a wrapped store; [`Error::Alias`] when the alias is taken.
    pub(crate) fn insert_store(&self, store: Arc<BoundedStore>) -> Result<()> {
        let mut stores = super::write(&self.stores);
        if stores.contains_key(store.alias()) {
            return Err(duplicate("store", store.alias()));
        }
        stores.insert(store.alias().to_owned(), store);
        Ok(())
    }

    /// Adds or replaces a store; true when one was replaced.
    pub(crate) fn put_store(&self, alias: &str, store: Arc<dyn Store>) -> bool {
        let wrapped = self.wrap(alias, store);
        super::write(&self.stores)
            .insert(alias.to_owned(), wrapped)
            .is_some()
    }

    pub(crate) fn remove_store(&self, alias: &str) -> Result<Arc<BoundedStore>> {
        super::write(&self.stores)
            .shift_remove(alias)
            .ok_or_else(|| no_such("store", alias))
    }

    pub(crate) fn store(&self, alias: &str) -> Result<Arc<BoundedStore>> {
        super::read(&self.stores)
            .get(alias)
            .cloned()
            .ok_or_else(|| no_such("store", alias))
    }

    pub(crate) fn has_store(&self, alias: &str) -> bool {
        super::read(&self.stores).contains_key(alias)
    }

    /// The stores in insertion order (a copy: no lock is held while they are used).
    pub(crate) fn stores(&self) -> Vec<Arc<BoundedStore>> {
        super::read(&self.stores).values().cloned().collect()
    }

    pub(crate) fn store_aliases(&self) -> Vec<String> {
        super::read(&self.stores).keys().cloned().collect()
    }

    /// Adds an executor; [`Error::Alias`] when the alias is taken.
    pub(crate) fn add_executor(&self, alias: &str, executor: Arc<dyn Executor>) -> Result<()> {
        let mut executors = super::write(&self.executors);
        if executors.contains_key(alias) {
            return Err(duplicate("executor", alias));
        }
        executors.insert(alias.to_owned(), executor);
        Ok(())
    }

    /// Adds or replaces an executor; true when one was replaced.
    pub(crate) fn put_executor(&self, alias: &str, executor: Arc<dyn Executor>) -> bool {
        super::write(&self.executors)
            .insert(alias.to_owned(), executor)
            .is_some()
    }

    pub(crate) fn remove_executor(&self, alias: &str) -> Result<Arc<dyn Executor>> {
        super::write(&self.executors)
            .shift_remove(alias)
            .ok_or_else(|| no_such("executor", alias))
    }

    pub(crate) fn executor(&self, alias: &str) -> Result<Arc<dyn Executor>> {
        super::read(&self.executors)
            .get(alias)
            .cloned()
            .ok_or_else(|| no_such("executor", alias))
    }

    pub(crate) fn has_executor(&self, alias: &str) -> bool {
        super::read(&self.executors).contains_key(alias)
    }

    pub(crate) fn executors(&self) -> Vec<(String, Arc<dyn Executor>)> {
        super::read(&self.executors)
            .iter()
            .map(|(k, v)| (k.clone(), Arc::clone(v)))
            .collect()
    }

    pub(crate) fn executor_aliases(&self) -> Vec<String> {
        super::read(&self.executors).keys().cloned().collect()
    }
}

impl Scheduler {
    /// Adds a store under `alias`; started at once when the scheduler runs.
    pub async fn add_store(&self, alias: &str, store: Arc<dyn Store>) -> Result<()> {
        let backends = &self.inner.backends;
        if backends.has_store(alias) {
            return Err(duplicate("store", alias));
        }
        let store = backends.wrap(alias, store);
        if self.running() {
            store.start(self.store_context(alias)).await?;
        }
        backends.insert_store(store)?;
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
        let store = self.inner.backends.remove_store(alias)?;
        if shutdown && self.running() {
            store.shutdown().await?;
        }
        self.dispatch_event(Event::scheduler(STORE_REMOVED, Some(alias)));
        Ok(())
    }

    /// Adds an executor under `alias`; started at once when the scheduler runs.
    pub async fn add_executor(&self, alias: &str, executor: Arc<dyn Executor>) -> Result<()> {
        let backends = &self.inner.backends;
        if backends.has_executor(alias) {
            return Err(duplicate("executor", alias));
        }
        if self.running() {
            executor.start(self.executor_context(alias)?).await?;
        }
        backends.add_executor(alias, executor)?;
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
        let executor = self.inner.backends.remove_executor(alias)?;
        if shutdown && self.running() {
            executor.shutdown(true).await?;
        }
        self.dispatch_event(Event::scheduler(EXECUTOR_REMOVED, Some(alias)));
        Ok(())
    }
}

pub(crate) fn duplicate(kind: &'static str, alias: &str) -> Error {
    Error::Alias {
        kind,
        alias: alias.to_owned(),
        message: format!("this scheduler already has a {kind} by this alias"),
    }
}

pub(crate) fn no_such(kind: &'static str, alias: &str) -> Error {
    Error::Alias {
        kind,
        alias: alias.to_owned(),
        message: format!("no such {kind}"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::NeverAnswers;
    use super::*;
    use crate::executor::DebugExecutor;

    #[tokio::test]
    async fn every_store_call_is_bounded_by_the_store_timeout() {
        let backends = Backends::new(Duration::from_millis(20));
        backends.add_store("slow", Arc::new(NeverAnswers)).unwrap();
        let store = backends.store("slow").unwrap();
        let err = store.get_all_tasks().await.unwrap_err().to_string();
        assert!(
            err.contains("store 'slow'") && err.contains("store timeout"),
            "{err}"
        );
        assert!(store.lookup_task("x").await.is_err());
        assert!(store.remove_all_tasks().await.is_err());
    }

    #[tokio::test]
    async fn each_store_has_its_own_lock() {
        let backends = Backends::new(Duration::from_secs(1));
        backends.add_store("a", Arc::new(NeverAnswers)).unwrap();
        backends.add_store("b", Arc::new(NeverAnswers)).unwrap();
        let a = backends.store("a").unwrap();
        let b = backends.store("b").unwrap();
        let _held = a.lock().await;
        let other = tokio::time::timeout(Duration::from_millis(100), b.lock()).await;
        assert!(
            other.is_ok(),
            "holding store a's lock must not block store b"
        );
        let same = tokio::time::timeout(Duration::from_millis(20), a.lock()).await;
        assert!(same.is_err(), "store a's lock is exclusive");
    }

    #[test]
    fn aliases_are_unique_and_kept_in_order() {
        let backends = Backends::new(Duration::from_secs(1));
        backends.add_store("b", Arc::new(NeverAnswers)).unwrap();
        backends.add_store("a", Arc::new(NeverAnswers)).unwrap();
        assert!(matches!(
            backends.add_store("a", Arc::new(NeverAnswers)),
            Err(Error::Alias { kind: "store", .. })
        ));
        assert_eq!(backends.store_aliases(), ["b", "a"]);
        backends.add_executor("x", Arc::new(DebugExecutor)).unwrap();
        assert!(backends.add_executor("x", Arc::new(DebugExecutor)).is_err());
        assert!(backends.put_executor("x", Arc::new(DebugExecutor)));
        assert!(backends.remove_executor("x").is_ok());
        assert!(matches!(
            backends.executor("x"),
            Err(Error::Alias {
                kind: "executor",
                ..
            })
        ));
    }
}
