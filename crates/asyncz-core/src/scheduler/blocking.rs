//! [`BlockingScheduler`]: the scheduler for synchronous code. It runs on a runtime of its own
//! (its own threads); each method blocks the calling thread until the operation is done.
//! Calling it from inside an async runtime is an error, not a deadlock.

use std::future::Future;

use chrono::{DateTime, Utc};

use super::{RunTaskOptions, Scheduler, SchedulerBuilder, SchedulerState, TaskInfoQuery};
use crate::builder::{TaskBuilder, TaskUpdate};
use crate::function::{CallContext, IntoTaskOutput};
use crate::task::{Task, TaskInfo};
use crate::trigger::TriggerSpec;
use crate::{Error, Map, Result};

/// A scheduler driven from synchronous code.
#[derive(Debug, Clone)]
pub struct BlockingScheduler {
    scheduler: Scheduler,
}

impl BlockingScheduler {
    /// Builds from a builder; the scheduler gets its own runtime.
    pub fn new(builder: SchedulerBuilder) -> Result<Self> {
        let scheduler = builder.isolated_runtime(true).build()?;
        scheduler.own_runtime_handle()?;
        Ok(BlockingScheduler { scheduler })
    }

    /// The async scheduler underneath (for listeners, registration, and async callers).
    pub fn scheduler(&self) -> &Scheduler {
        &self.scheduler
    }

    fn block_on<F: Future>(&self, fut: F) -> Result<F::Output> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(Error::Runtime(
                "BlockingScheduler was called from inside an async runtime; use Scheduler's async \
                 methods there"
                    .to_owned(),
            ));
        }
        Ok(self.scheduler.own_runtime_handle()?.block_on(fut))
    }

    /// Registers a synchronous function by name.
    pub fn register<F, R>(&self, name: &str, f: F) -> Result<()>
    where
        F: Fn(CallContext) -> R + Send + Sync + 'static,
        R: IntoTaskOutput,
    {
        self.scheduler.register(name, f)
    }

    /// See [`Scheduler::start`].
    pub fn start(&self) -> Result<bool> {
        self.block_on(self.scheduler.start())?
    }
    /// See [`Scheduler::start_paused`].
    pub fn start_paused(&self) -> Result<bool> {
        self.block_on(self.scheduler.start_paused())?
    }
    /// Starts and returns a guard that shuts the scheduler down (waiting for jobs) when dropped.
    pub fn start_guard(&self) -> Result<BlockingGuard> {
        self.start()?;
        Ok(BlockingGuard {
            scheduler: self.clone(),
        })
    }
    /// See [`Scheduler::shutdown`].
    pub fn shutdown(&self, wait: bool) -> Result<bool> {
        self.block_on(self.scheduler.shutdown(wait))?
    }
    /// See [`Scheduler::pause`].
    pub fn pause(&self) -> Result<()> {
        self.scheduler.pause()
    }
    /// See [`Scheduler::resume`].
    pub fn resume(&self) -> Result<()> {
        self.scheduler.resume()
    }
    /// See [`Scheduler::state`].
    pub fn state(&self) -> SchedulerState {
        self.scheduler.state()
    }
    /// See [`Scheduler::setup`].
    pub fn setup(&self, config: &Map) -> Result<()> {
        self.scheduler.setup(config)
    }
    /// See [`Scheduler::add_task`]; returns the task id.
    pub fn add_task(&self, builder: TaskBuilder) -> Result<String> {
        let handle = self.block_on(self.scheduler.add_task(builder))??;
        Ok(handle.id().to_owned())
    }
    /// See [`Scheduler::update_task`].
    pub fn update_task(
        &self,
        task_id: &str,
        store: Option<&str>,
        update: TaskUpdate,
    ) -> Result<TaskInfo> {
        self.block_on(self.scheduler.update_task(task_id, store, update))?
    }
    /// See [`Scheduler::reschedule_task`].
    pub fn reschedule_task(
        &self,
        task_id: &str,
        store: Option<&str>,
        trigger: impl Into<TriggerSpec>,
    ) -> Result<TaskInfo> {
        self.block_on(self.scheduler.reschedule_task(task_id, store, trigger))?
    }
    /// See [`Scheduler::pause_task`].
    pub fn pause_task(&self, task_id: &str, store: Option<&str>) -> Result<TaskInfo> {
        self.block_on(self.scheduler.pause_task(task_id, store))?
    }
    /// See [`Scheduler::resume_task`].
    pub fn resume_task(&self, task_id: &str, store: Option<&str>) -> Result<Option<TaskInfo>> {
        self.block_on(self.scheduler.resume_task(task_id, store))?
    }
    /// See [`Scheduler::run_task`].
    pub fn run_task(
        &self,
        task_id: &str,
        store: Option<&str>,
        options: RunTaskOptions,
    ) -> Result<Option<TaskInfo>> {
        self.block_on(self.scheduler.run_task(task_id, store, options))?
    }
    /// See [`Scheduler::delete_task`].
    pub fn delete_task(&self, task_id: &str, store: Option<&str>) -> Result<()> {
        self.block_on(self.scheduler.delete_task(task_id, store))?
    }
    /// See [`Scheduler::remove_all_tasks`].
    pub fn remove_all_tasks(&self, store: Option<&str>) -> Result<()> {
        self.block_on(self.scheduler.remove_all_tasks(store))?
    }
    /// See [`Scheduler::get_tasks`].
    pub fn get_tasks(&self, store: Option<&str>) -> Result<Vec<Task>> {
        self.block_on(self.scheduler.get_tasks(store))?
    }
    /// See [`Scheduler::get_task_info`].
    pub fn get_task_info(&self, task_id: &str, store: Option<&str>) -> Result<Option<TaskInfo>> {
        self.block_on(self.scheduler.get_task_info(task_id, store))?
    }
    /// See [`Scheduler::get_task_infos`].
    pub fn get_task_infos(&self, query: &TaskInfoQuery) -> Result<Vec<TaskInfo>> {
        self.block_on(self.scheduler.get_task_infos(query))?
    }
    /// See [`Scheduler::preview`].
    pub fn preview(
        &self,
        trigger: impl Into<TriggerSpec>,
        count: usize,
        from: Option<DateTime<Utc>>,
    ) -> Result<Vec<DateTime<Utc>>> {
        self.scheduler.preview(trigger, count, from)
    }
}

/// Shuts the scheduler down (waiting for running jobs) when dropped.
#[derive(Debug)]
pub struct BlockingGuard {
    scheduler: BlockingScheduler,
}

impl BlockingGuard {
    /// The scheduler.
    pub fn scheduler(&self) -> &BlockingScheduler {
        &self.scheduler
    }
}

impl Drop for BlockingGuard {
    fn drop(&mut self) {
        if let Err(e) = self.scheduler.shutdown(true) {
            log!(error, self.scheduler.scheduler, error = %e, "shutdown at the end of a scope failed");
        }
    }
}
