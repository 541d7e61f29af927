//! [`Lifecycle`]: the scheduler's state and its transitions — start (executors, stores, the
//! pending tasks, the engine), shutdown (engine, executors, shutdown-trigger tasks, stores),
//! pause, resume and `scope`. A start that fails partway shuts down what it had started; a
//! `scope` whose body panics still shuts down, then the panic continues.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};

use futures::FutureExt;

use super::{lock, read, Scheduler, SchedulerState};
use crate::events::{
    Event, EXECUTOR_ADDED, SCHEDULER_PAUSED, SCHEDULER_RESUMED, SCHEDULER_SHUTDOWN,
    SCHEDULER_STARTED, STORE_ADDED,
};
use crate::executor::{Executor, ExecutorContext};
use crate::store::{Store, StoreContext};
use crate::{Error, Map, Result};

struct State {
    state: SchedulerState,
    refcount: i64,
    engine: Option<tokio::task::JoinHandle<()>>,
}

/// The state, the start/shutdown reference count, and the two locks that keep transitions
/// apart from each other and from task operations.
pub(crate) struct Lifecycle {
    state: Mutex<State>,
    /// Held for a whole start or shutdown, so the two never interleave.
    op: tokio::sync::Mutex<()>,
    /// Task operations hold it shared; a state change (and the drain of pending tasks at
    /// start) holds it exclusively, so an operation sees one state from start to end.
    pub(crate) gate: tokio::sync::RwLock<()>,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Lifecycle {
            state: Mutex::new(State {
                state: SchedulerState::Stopped,
                refcount: 0,
                engine: None,
            }),
            op: tokio::sync::Mutex::new(()),
            gate: tokio::sync::RwLock::new(()),
        }
    }
}

impl Lifecycle {
    pub(crate) fn state(&self) -> SchedulerState {
        lock(&self.state).state
    }

    /// How many `start`s the next `shutdown` would leave standing (0: it stops the scheduler).
    pub(crate) fn outer_starts(&self) -> i64 {
        (lock(&self.state).refcount - 1).max(0)
    }

    fn set_state(&self, state: SchedulerState) {
        lock(&self.state).state = state;
    }

    /// Pause (`Running` → `Paused`) or resume; `Ok(false)` when already there.
    fn switch(&self, from: SchedulerState, to: SchedulerState) -> Result<bool> {
        let mut lc = lock(&self.state);
        match lc.state {
            SchedulerState::Stopped => Err(Error::SchedulerNotRunning),
            s if s == to => Ok(false),
            s if s == from => {
                lc.state = to;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

impl Scheduler {
    /// Starts the scheduler: executors, stores (adding the default memory store and tokio
    /// executor when none is named `default`), pending tasks, then the engine loop. When a
    /// step fails, what was started is shut down again and the scheduler stays stopped.
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
        let lc = &self.inner.lifecycle;
        let _op = lc.op.lock().await;
        {
            let mut state = lock(&lc.state);
            state.refcount += 1;
            if state.refcount > 1 {
                return Ok(false);
            }
        }
        match self.do_start(paused).await {
            Ok(()) => Ok(true),
            Err(e) => {
                let mut state = lock(&lc.state);
                state.refcount = 0;
                state.state = SchedulerState::Stopped;
                Err(e)
            }
        }
    }

    async fn do_start(&self, paused: bool) -> Result<()> {
        let handle = self.runtime_handle()?;
        let backends = &self.inner.backends;
        // Metric handles bind to the recorder in force now.
        self.inner.observed.runs.refresh_metrics();
        for store in backends.stores() {
            store.refresh_metrics();
        }
        if !backends.has_executor("default") {
            let executor = self.plugins().create_executor("tokio", &Map::new())?;
            backends.put_executor("default", executor);
            self.dispatch_event(Event::scheduler(EXECUTOR_ADDED, Some("default")));
        }
        if !backends.has_store("default") {
            let store = self.plugins().create_store("memory", &Map::new())?;
            backends.put_store("default", store);
            self.dispatch_event(Event::scheduler(STORE_ADDED, Some("default")));
        }
        let mut executors: Vec<Arc<dyn Executor>> = Vec::new();
        let mut stores: Vec<Arc<dyn Store>> = Vec::new();
        let started = async {
            for (alias, executor) in backends.executors() {
                executor.start(self.executor_context(&alias)?).await?;
                executors.push(executor);
            }
            for store in backends.stores() {
                store.start(self.store_context(store.alias())).await?;
                stores.push(store);
            }
            self.join_cluster().await?;
            Ok::<(), Error>(())
        }
        .await;
        if let Err(e) = started {
            log!(error, self, error = %e, "start failed; shutting down what was started");
            for executor in executors {
                let _ = executor.shutdown(false).await;
            }
            for store in stores {
                let _ = store.shutdown().await;
            }
            return Err(e);
        }
        let added = {
            // Task operations wait while the state flips and the pending tasks are committed.
            let _gate = self.inner.lifecycle.gate.write().await;
            self.inner.lifecycle.set_state(if paused {
                SchedulerState::Paused
            } else {
                SchedulerState::Running
            });
            self.commit_pending().await
        };
        for event in added {
            self.dispatch_event(event);
        }
        self.inner.observed.started(self.inner.clock.now());
        log!(info, self, "scheduler started");
        self.dispatch_event(Event::scheduler(SCHEDULER_STARTED, None));
        let engine = handle.spawn(super::engine::run(Arc::downgrade(&self.inner)));
        lock(&self.inner.lifecycle.state).engine = Some(engine);
        self.start_maintenance(&handle);
        self.wakeup();
        Ok(())
    }

    /// What a store receives at start: built here only.
    pub(crate) fn store_context(&self, alias: &str) -> StoreContext {
        StoreContext {
            alias: alias.to_owned(),
            plugins: self.plugins(),
            functions: Arc::clone(&self.inner.functions),
            timezone: self.timezone(),
            clock: Arc::clone(&self.inner.clock),
        }
    }

    pub(crate) fn executor_context(&self, alias: &str) -> Result<ExecutorContext> {
        Ok(ExecutorContext {
            alias: alias.to_owned(),
            functions: Arc::clone(&self.inner.functions),
            runtime: self.runtime_handle()?,
        })
    }

    /// Shuts down: stops the engine, shuts executors down (`wait`: let running jobs finish),
    /// runs shutdown-trigger tasks, shuts stores down. Returns `Ok(false)` when an outer
    /// `start` still holds the scheduler.
    pub async fn shutdown(&self, wait: bool) -> Result<bool> {
        let lc = &self.inner.lifecycle;
        let _op = lc.op.lock().await;
        let engine = {
            let _gate = lc.gate.write().await;
            let mut state = lock(&lc.state);
            if state.state == SchedulerState::Stopped {
                state.refcount = 0;
                return Err(Error::SchedulerNotRunning);
            }
            state.refcount -= 1;
            if state.refcount > 0 {
                return Ok(false);
            }
            state.refcount = 0;
            state.state = SchedulerState::Stopped;
            state.engine.take()
        };
        self.inner.wakeup.notify_one();
        {
            // Let an engine round in progress finish, then stop the loop.
            let _round = self.inner.round.lock().await;
            if let Some(engine) = engine {
                engine.abort();
            }
        }
        // Executors drain with no store locked: a running job may call back into the
        // scheduler (add a follow-up task, delete itself) and must not wait for us.
        for (alias, executor) in self.inner.backends.executors() {
            if let Err(e) = executor.shutdown(wait).await {
                log!(error, self, executor = %alias, error = %e, "executor shutdown failed");
            }
        }
        self.run_shutdown_tasks().await;
        self.leave_cluster().await;
        for store in self.inner.backends.stores() {
            if let Err(e) = store.shutdown().await {
                log!(error, self, store = %store.alias(), error = %e, "store shutdown failed");
            }
        }
        if let Some(template) = read(&self.inner.config).lock_path.clone() {
            for alias in self.store_aliases() {
                crate::lock::FileLockProtected::for_store(&template, &alias).remove_if_free();
            }
        }
        self.inner.observed.stopped();
        log!(info, self, "scheduler has been shut down");
        self.dispatch_event(Event::scheduler(SCHEDULER_SHUTDOWN, None));
        Ok(true)
    }

    /// Pauses task processing (running jobs continue).
    pub fn pause(&self) -> Result<()> {
        let lc = &self.inner.lifecycle;
        if lc.switch(SchedulerState::Running, SchedulerState::Paused)? {
            log!(info, self, "paused scheduler task processing");
            self.dispatch_event(Event::scheduler(SCHEDULER_PAUSED, None));
        }
        Ok(())
    }

    /// Resumes task processing.
    pub fn resume(&self) -> Result<()> {
        let lc = &self.inner.lifecycle;
        if lc.switch(SchedulerState::Paused, SchedulerState::Running)? {
            log!(info, self, "resumed scheduler task processing");
            self.dispatch_event(Event::scheduler(SCHEDULER_RESUMED, None));
            self.wakeup();
        }
        Ok(())
    }

    /// Runs `body` with the scheduler started, then shuts it down (waiting for jobs), even if
    /// the body returns an error or panics (the panic then continues): the async counterpart
    /// of the spec's context manager.
    pub async fn scope<F, Fut, T>(&self, body: F) -> Result<T>
    where
        F: FnOnce(Scheduler) -> Fut,
        Fut: Future<Output = T>,
    {
        self.start().await?;
        let out = AssertUnwindSafe(body(self.clone())).catch_unwind().await;
        let down = self.shutdown(true).await;
        match out {
            Ok(value) => down.map(|_| value),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}
