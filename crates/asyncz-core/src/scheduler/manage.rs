//! Changing, running, deleting and reading tasks (spec: `update_task`, `reschedule_task`,
//! `pause_task`, `resume_task`, `run_task`, `delete_task`, `remove_all_tasks`, `get_tasks`,
//! `get_task`). Each works on the [`super::tasks::Target`]s, so a stopped scheduler's pending
//! tasks take the same path as stored ones; a read-modify-write holds only its own store's
//! lock, and events are dispatched once it is released.

use std::sync::Arc;

use super::{Scheduler, SchedulerState};
use crate::builder::TaskUpdate;
use crate::events::{Event, SubmissionSource, ALL_TASKS_REMOVED, TASK_MODIFIED, TASK_REMOVED};
use crate::function::Callable;
use crate::task::{RunTimes, Task, TaskInfo};
use crate::trigger::{Trigger, TriggerSpec};
use crate::{Error, Result};

/// Options of [`Scheduler::run_task`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunTaskOptions {
    /// When no run time is due yet, run once now anyway (default true).
    pub force: bool,
    /// When the trigger has no further run time, delete the task (default true); otherwise
    /// keep it paused.
    pub remove_finished: bool,
}

impl Default for RunTaskOptions {
    fn default() -> Self {
        RunTaskOptions {
            force: true,
            remove_finished: true,
        }
    }
}

fn apply(update: &TaskUpdate, trigger: Option<&Arc<dyn Trigger>>, task: &mut Task) {
    if let Some(name) = &update.name {
        task.name = name.clone();
    }
    if let Some(c) = &update.callable {
        task.callable = c.clone();
    }
    if let Some(a) = &update.args {
        task.args = a.clone();
    }
    if let Some(k) = &update.kwargs {
        task.kwargs = k.clone();
    }
    if let Some(t) = trigger {
        task.trigger = Arc::clone(t);
    }
    if let Some(e) = &update.executor {
        task.executor = e.clone();
    }
    if let Some(g) = update.mistrigger_grace_time {
        task.mistrigger_grace_time = g;
    }
    if let Some(c) = update.coalesce {
        task.coalesce = c;
    }
    if let Some(m) = update.max_instances {
        task.max_instances = m;
    }
    if let Some(n) = update.next_run_time {
        task.next_run_time = n;
    }
}

impl Scheduler {
    /// Changes a task (spec: `update_task`); every change is validated before any is applied.
    pub async fn update_task(
        &self,
        task_id: &str,
        store: Option<&str>,
        update: TaskUpdate,
    ) -> Result<TaskInfo> {
        update.validate()?;
        let trigger = match update.trigger.clone() {
            Some(spec) => Some(self.create_trigger(spec)?),
            None => None,
        };
        if let Some(Callable::Registered(name)) = &update.callable {
            if !self.inner.functions.contains(name) {
                return Err(Error::invalid(
                    "function",
                    format!("no function is registered under the name '{name}'"),
                ));
            }
        }
        let gate = self.inner.lifecycle.gate.read().await;
        if let Some(executor) = &update.executor {
            if self.running() {
                self.lookup_executor(executor)?;
            }
        }
        let targets = self.targets(store);
        let (info, alias) = {
            let mut found = self.find_locked(&targets, task_id).await?;
            apply(&update, trigger.as_ref(), &mut found.task);
            let target = found.target;
            if matches!(found.task.callable, Callable::Closure { .. })
                && target.store.is_persistent()
            {
                return Err(Error::invalid(
                    "function",
                    "a closure cannot be stored in a persistent store",
                ));
            }
            target.store.update_task(&found.task).await?;
            if let (None, Some(next)) = (&target.alias, update.next_run_time) {
                // A pending task's explicit next run time says whether it starts scheduled.
                self.inner.pending.set_start(task_id, store, next.is_some());
            }
            (found.task.snapshot(), target.alias.clone())
        };
        drop(gate);
        self.dispatch_event(Event::task(TASK_MODIFIED, task_id, alias.as_deref()));
        if self.state() == SchedulerState::Running {
            self.wakeup();
        }
        Ok(info)
    }

    /// Gives a task a new trigger and recomputes its next run time (spec: `reschedule_task`).
    pub async fn reschedule_task(
        &self,
        task_id: &str,
        store: Option<&str>,
        trigger: impl Into<TriggerSpec>,
    ) -> Result<TaskInfo> {
        let trigger = self.create_trigger(trigger.into())?;
        let next = self
            .schedule()
            .first_fire_of(trigger.as_ref(), self.inner.clock.now());
        self.update_task(
            task_id,
            store,
            TaskUpdate::new()
                .trigger(TriggerSpec::Instance(trigger))
                .next_run_time(next),
        )
        .await
    }

    /// Pauses a task: it keeps its trigger but has no next run time.
    pub async fn pause_task(&self, task_id: &str, store: Option<&str>) -> Result<TaskInfo> {
        self.update_task(task_id, store, TaskUpdate::new().next_run_time(None))
            .await
    }

    /// Resumes a paused task from now; a task whose schedule is over is removed (`Ok(None)`).
    pub async fn resume_task(
        &self,
        task_id: &str,
        store: Option<&str>,
    ) -> Result<Option<TaskInfo>> {
        let gate = self.inner.lifecycle.gate.read().await;
        let targets = self.targets(store);
        let (outcome, alias) = {
            let mut found = self.find_locked(&targets, task_id).await?;
            let now = self.inner.clock.now();
            let target = found.target;
            match self.schedule().first_run_time(&found.task, now) {
                Some(next) => {
                    found.task.next_run_time = Some(next);
                    target.store.update_task(&found.task).await?;
                    (Some(found.task.snapshot()), target.alias.clone())
                }
                None => {
                    target.store.delete_task(task_id).await?;
                    (None, target.alias.clone())
                }
            }
        };
        drop(gate);
        if outcome.is_some() {
            self.dispatch_event(Event::task(TASK_MODIFIED, task_id, alias.as_deref()));
            if self.state() == SchedulerState::Running {
                self.wakeup();
            }
        } else {
            log!(info, self, task = ?task_id, "removed task whose schedule is over");
            self.dispatch_event(Event::task(TASK_REMOVED, task_id, alias.as_deref()));
        }
        Ok(outcome)
    }

    /// Runs a task now on its executor (spec: `run_task`): the due run times, or with `force`
    /// a one-off run at now; then the next run time moves strictly forward. The new schedule is
    /// stored *before* the run is handed to the executor (as the engine does), and the store
    /// lock is released first, so a job may call back into the scheduler. A run refused by
    /// `max_instances` changes nothing. Returns the updated task, or `None` when it finished
    /// and was removed.
    pub async fn run_task(
        &self,
        task_id: &str,
        store: Option<&str>,
        options: RunTaskOptions,
    ) -> Result<Option<TaskInfo>> {
        let gate = self.inner.lifecycle.gate.read().await;
        if self.inner.state() == SchedulerState::Stopped {
            return Err(Error::SchedulerNotRunning);
        }
        let targets = self.targets(store);
        let (prepared, task, alias, removed) = {
            let found = self.find_locked(&targets, task_id).await?;
            let alias = found.target.alias.clone().unwrap_or_default();
            let mut task = found.task.clone();
            task.set_store_alias(&alias);
            let now = self.inner.clock.now();
            let schedule = self.schedule();
            let mut run_times = schedule.due(&task, now);
            if run_times.run_times.is_empty() {
                if !options.force {
                    return Ok(Some(task.snapshot()));
                }
                run_times = RunTimes {
                    run_times: vec![now],
                    coalesced_run_count: 0,
                    latest: Some(now),
                };
            }
            let last = run_times.latest.unwrap_or(now);
            let next = schedule.after_manual_run(&task, last, now);
            let remove = next.is_none() && options.remove_finished;
            let prepared =
                match self.prepare(&task, run_times, SubmissionSource::Manual, Vec::new()) {
                    Ok(prepared) => prepared,
                    Err(refusal) => {
                        drop(found);
                        drop(gate);
                        return Err(self.refuse(refusal));
                    }
                };
            if remove {
                found.target.store.delete_task(&task.id).await?;
            } else {
                task.next_run_time = next;
                found.target.store.update_task(&task).await?;
            }
            (prepared, task, alias, remove)
        };
        drop(gate);
        self.send(prepared).await?;
        if removed {
            log!(info, self, task = ?task.id, "removed finished task after a manual run");
            self.dispatch_event(Event::task(TASK_REMOVED, &task.id, Some(&alias)));
            return Ok(None);
        }
        if self.state() == SchedulerState::Running {
            self.wakeup();
        }
        Ok(Some(task.snapshot()))
    }

    /// Deletes a task (spec: `delete_task`); [`Error::TaskLookup`] when it does not exist. A
    /// store that fails does not stop the search; its error is returned when no store had it.
    pub async fn delete_task(&self, task_id: &str, store: Option<&str>) -> Result<()> {
        let gate = self.inner.lifecycle.gate.read().await;
        let targets = self.targets(store);
        let mut failure = None;
        let mut deleted = None;
        for target in &targets {
            let _locked = target.lock().await;
            match target.store.delete_task(task_id).await {
                Ok(()) => {
                    deleted = Some(target.alias.clone());
                    break;
                }
                Err(Error::TaskLookup { .. }) => {}
                Err(e) => {
                    failure.get_or_insert(e);
                }
            }
        }
        drop(gate);
        let Some(alias) = deleted else {
            return Err(failure.unwrap_or_else(|| Error::task_lookup(task_id)));
        };
        log!(info, self, task = ?task_id, "removed task");
        self.dispatch_event(Event::task(TASK_REMOVED, task_id, alias.as_deref()));
        Ok(())
    }

    /// Removes every task of one store, or of all stores (spec: `remove_all_tasks`).
    pub async fn remove_all_tasks(&self, store: Option<&str>) -> Result<()> {
        {
            let _gate = self.inner.lifecycle.gate.read().await;
            for target in self.targets(store) {
                let _locked = target.lock().await;
                target.store.remove_all_tasks().await?;
            }
        }
        self.dispatch_event(Event::scheduler(ALL_TASKS_REMOVED, store));
        Ok(())
    }

    /// Every task of one store or of all of them (the pending tasks while stopped).
    pub async fn get_tasks(&self, store: Option<&str>) -> Result<Vec<Task>> {
        let _gate = self.inner.lifecycle.gate.read().await;
        let mut out = Vec::new();
        for target in self.targets(store) {
            out.extend(target.store.get_all_tasks().await?);
        }
        Ok(out)
    }

    /// The task with this id, if any. A store that fails does not hide the task from the
    /// others; its error is returned only when no store has the task.
    pub async fn get_task(&self, task_id: &str, store: Option<&str>) -> Result<Option<Task>> {
        let _gate = self.inner.lifecycle.gate.read().await;
        let mut failure = None;
        for target in self.targets(store) {
            match target.store.lookup_task(task_id).await {
                Ok(Some(task)) => return Ok(Some(task)),
                Ok(None) => {}
                Err(e) => {
                    failure.get_or_insert(e);
                }
            }
        }
        failure.map_or(Ok(None), Err)
    }

    /// A snapshot of the task with this id, if any (spec: `get_task_info`).
    pub async fn get_task_info(
        &self,
        task_id: &str,
        store: Option<&str>,
    ) -> Result<Option<TaskInfo>> {
        Ok(self.get_task(task_id, store).await?.map(|t| t.snapshot()))
    }
}
