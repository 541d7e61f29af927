//! Task management: add (with pending tasks before start), update, reschedule, pause, resume,
//! run now, delete, and lookups. Semantics follow the spec's scheduler methods.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{lock, Pending, Scheduler, SchedulerState, TaskHandle, LOG};
use crate::builder::{NextRunTime, TaskBuilder, TaskUpdate};
use crate::events::{
    Event, SubmissionSource, ALL_TASKS_REMOVED, TASK_ADDED, TASK_MODIFIED, TASK_REMOVED,
};
use crate::function::Callable;
use crate::task::{RunTimes, Task, TaskInfo};
use crate::trigger::{preview_fire_times, Trigger, TriggerContext, TriggerSpec};
use crate::{Error, Map, Result};

/// The most run times a preview lists.
pub const MAX_PREVIEW_COUNT: usize = 1000;

pub(crate) fn check_preview_count(count: usize) -> Result<()> {
    if count == 0 || count > MAX_PREVIEW_COUNT {
        return Err(Error::invalid(
            "count",
            format!("{count} is not between 1 and {MAX_PREVIEW_COUNT}"),
        ));
    }
    Ok(())
}

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

impl Scheduler {
    /// Resolves a trigger spec through the plugin registry.
    pub fn create_trigger(&self, spec: TriggerSpec) -> Result<Arc<dyn Trigger>> {
        match spec {
            TriggerSpec::Instance(t) => Ok(t),
            TriggerSpec::Alias { alias, args } => {
                let ctx = TriggerContext::new(self.timezone(), self.inner.clock.now());
                self.plugins().create_trigger(&alias, &args, &ctx)
            }
        }
    }

    /// The next `count` fire times of a trigger from now (or `from`), without adding a task.
    pub fn preview(
        &self,
        trigger: impl Into<TriggerSpec>,
        count: usize,
        from: Option<DateTime<Utc>>,
    ) -> Result<Vec<DateTime<Utc>>> {
        check_preview_count(count)?;
        let trigger = self.create_trigger(trigger.into())?;
        let from = from.unwrap_or_else(|| self.inner.clock.now());
        Ok(preview_fire_times(
            trigger.as_ref(),
            self.timezone(),
            from,
            count,
        ))
    }

    /// Adds a task (spec: `add_task`). Before `start` the task is pending and committed at
    /// start; afterwards it goes to its store at once and the engine is woken.
    pub async fn add_task(&self, builder: TaskBuilder) -> Result<TaskHandle> {
        if let Some((field, message)) = builder.errors.first() {
            return Err(Error::invalid(field.clone(), message));
        }
        builder.mark_submitted()?;
        let flag = std::sync::Arc::clone(&builder.submitted);
        let added = self.add_submitted(builder).await;
        if added.is_err() {
            // A definition that was not added can be fixed and submitted again.
            flag.store(false, std::sync::atomic::Ordering::SeqCst);
        }
        added
    }

    async fn add_submitted(&self, mut builder: TaskBuilder) -> Result<TaskHandle> {
        let mut callable = builder.callable.take().ok_or_else(|| {
            Error::invalid(
                "function",
                "a task needs a function: call .function(name) for a registered function or .closure(f)",
            )
        })?;
        if let Callable::Registered(name) = &callable {
            if !self.inner.functions.contains(name) {
                return Err(Error::invalid(
                    "function",
                    format!("no function is registered under the name '{name}' (call Scheduler::register first)"),
                ));
            }
            callable = Callable::Registered(self.inner.intern(name));
        }
        let trigger = match builder.trigger.take() {
            Some(spec) => self.create_trigger(spec)?,
            None => self.create_trigger(TriggerSpec::Alias {
                alias: "date".to_owned(),
                args: Map::new(),
            })?,
        };
        let defaults = self.task_defaults();
        let id = match builder.id.take() {
            Some(id) if id.is_empty() => {
                return Err(Error::invalid("id", "must be a non-empty string, got ''"))
            }
            Some(id) => id,
            None => uuid::Uuid::new_v4().simple().to_string(),
        };
        let name: Arc<str> = match (&builder.name, &callable) {
            (Some(name), _) => Arc::from(name.as_str()),
            (None, Callable::Registered(reference)) => Arc::clone(reference),
            (None, Callable::Closure { name, .. }) => Arc::clone(name),
        };
        let mistrigger_grace_time = match builder.mistrigger_grace_time {
            Some(g) => g,
            None if trigger.allow_mistrigger_by_default() => None,
            None => defaults.mistrigger_grace_time,
        };
        let update = TaskUpdate {
            name: Some(Arc::clone(&name)),
            mistrigger_grace_time: Some(mistrigger_grace_time),
            max_instances: Some(builder.max_instances.unwrap_or(defaults.max_instances)),
            ..TaskUpdate::default()
        };
        update.validate()?;
        let task = Task {
            id: Arc::from(id),
            name,
            callable,
            args: builder.args.take().unwrap_or_default(),
            kwargs: builder.kwargs.take().unwrap_or_default(),
            trigger,
            executor: self
                .inner
                .intern(builder.executor.as_deref().unwrap_or("default")),
            store_alias: self
                .inner
                .intern(builder.store.as_deref().unwrap_or("default")),
            mistrigger_grace_time,
            coalesce: builder.coalesce.unwrap_or(defaults.coalesce),
            max_instances: builder.max_instances.unwrap_or(defaults.max_instances),
            next_run_time: match builder.next_run_time {
                NextRunTime::At(t) => Some(t),
                _ => None,
            },
            pending: true,
            submitted: true,
        };
        let start_task = builder.next_run_time != NextRunTime::Paused;
        let handle = TaskHandle::new(self.clone(), &task.id, &task.store_alias);
        let _guard = self.inner.store_lock.lock().await;
        if self.inner.state() == SchedulerState::Stopped {
            self.check_pending(&task)?;
            tracing::info!(target: LOG, task = ?task.id, "adding task tentatively; it will be properly scheduled when the scheduler starts");
            lock(&self.inner.pending).push(Pending {
                task,
                replace_existing: builder.replace_existing,
                start_task,
            });
            return Ok(handle);
        }
        self.real_add_task(task, builder.replace_existing, start_task)
            .await?;
        Ok(handle)
    }

    /// Checks a task added before start against the stores and executors configured so far
    /// (`default` ones are created at start when missing), so it fails now rather than being
    /// dropped at start.
    fn check_pending(&self, task: &Task) -> Result<()> {
        let store = match self.lookup_store(&task.store_alias) {
            Ok(store) => Some(store),
            Err(_) if &*task.store_alias == "default" => None,
            Err(e) => return Err(e),
        };
        let executor = match self.lookup_executor(&task.executor) {
            Ok(executor) => Some(executor),
            Err(_) if &*task.executor == "default" => None,
            Err(e) => return Err(e),
        };
        if let Callable::Closure { name, .. } = &task.callable {
            if let Some(store) = store.filter(|s| s.is_persistent()) {
                return Err(Error::invalid(
                    "function",
                    format!(
                        "task '{}' runs the closure '{name}', which cannot be stored in the persistent store '{}' ({})",
                        task.id, task.store_alias, store.kind()
                    ),
                ));
            }
            if executor.is_some_and(|e| !e.supports_closures()) {
                return Err(Error::invalid(
                    "executor",
                    format!(
                        "executor '{}' runs registered functions only; task '{}' is a closure",
                        task.executor, task.id
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Commits a task to its store (the caller holds the store lock).
    pub(crate) async fn real_add_task(
        &self,
        mut task: Task,
        replace_existing: bool,
        start_task: bool,
    ) -> Result<()> {
        let store = self.lookup_store(&task.store_alias)?;
        let executor = self.lookup_executor(&task.executor)?;
        if let Callable::Closure { name, .. } = &task.callable {
            if store.is_persistent() {
                return Err(Error::invalid(
                    "function",
                    format!(
                        "task '{}' runs the closure '{name}', which cannot be stored in the persistent \
                         store '{}' ({}); register the function by name or use a memory store",
                        task.id,
                        task.store_alias,
                        store.kind()
                    ),
                ));
            }
            if !executor.supports_closures() {
                return Err(Error::invalid(
                    "executor",
                    format!(
                        "executor '{}' runs registered functions only; task '{}' is a closure",
                        task.executor, task.id
                    ),
                ));
            }
        }
        if task.next_run_time.is_none() && start_task {
            let now = self.inner.clock.now();
            task.next_run_time = task.next_fire_time(self.timezone(), None, now);
        }
        task.pending = false;
        match store.add_task(&task).await {
            Ok(()) => {}
            Err(Error::ConflictId { .. }) if replace_existing => {
                match store.update_task(&task).await {
                    Ok(()) => {}
                    // It ran and finished meanwhile.
                    Err(Error::TaskLookup { .. }) => return Ok(()),
                    Err(e) => return Err(e),
                }
            }
            Err(e) => return Err(e),
        }
        tracing::debug!(target: LOG, task = ?task.id, name = %task.name, store = %task.store_alias, "added task");
        if self.wants(TASK_ADDED) {
            self.dispatch_event(Event::task(TASK_ADDED, &task.id, Some(&task.store_alias)));
        }
        // Wake the engine only when the new task is due before its planned wakeup.
        if self.inner.state() == SchedulerState::Running {
            if let Some(next) = task.next_run_time {
                let planned = *lock(&self.inner.planned_wakeup);
                if planned.is_none_or(|p| next < p) {
                    self.wakeup();
                }
            }
        }
        Ok(())
    }

    /// Finds a task: in the pending queue while stopped, else in the stores (the named one, or
    /// each in turn). Returns the task and its store alias (`None` for pending).
    pub(crate) async fn lookup_task(
        &self,
        task_id: &str,
        store: Option<&str>,
    ) -> Result<(Task, Option<String>)> {
        if self.inner.state() == SchedulerState::Stopped {
            let pending = lock(&self.inner.pending);
            return pending
                .iter()
                .find(|p| *p.task.id == *task_id && store.is_none_or(|s| *s == *p.task.store_alias))
                .map(|p| (p.task.clone(), None))
                .ok_or_else(|| Error::task_lookup(task_id));
        }
        for (alias, s) in self.stores_snapshot() {
            if store.is_some_and(|want| want != alias) {
                continue;
            }
            if let Some(task) = s.lookup_task(task_id).await? {
                return Ok((task, Some(alias)));
            }
        }
        Err(Error::task_lookup(task_id))
    }

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
        if let Some(executor) = &update.executor {
            if self.running() {
                self.lookup_executor(executor)?;
            }
        }
        let _guard = self.inner.store_lock.lock().await;
        let apply = |task: &mut Task| {
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
            if let Some(t) = &trigger {
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
        };
        if self.inner.state() == SchedulerState::Stopped {
            let info = {
                let mut pending = lock(&self.inner.pending);
                let entry = pending
                    .iter_mut()
                    .find(|p| {
                        *p.task.id == *task_id && store.is_none_or(|s| *s == *p.task.store_alias)
                    })
                    .ok_or_else(|| Error::task_lookup(task_id))?;
                apply(&mut entry.task);
                if let Some(n) = update.next_run_time {
                    entry.start_task = n.is_some();
                }
                entry.task.snapshot()
            };
            self.dispatch_event(Event::task(TASK_MODIFIED, task_id, None));
            return Ok(info);
        }
        let (mut task, alias) = self.lookup_task(task_id, store).await?;
        let alias = alias.unwrap_or_else(|| task.store_alias.to_string());
        apply(&mut task);
        let target = self.lookup_store(&alias)?;
        if let Callable::Closure { .. } = task.callable {
            if target.is_persistent() {
                return Err(Error::invalid(
                    "function",
                    "a closure cannot be stored in a persistent store",
                ));
            }
        }
        target.update_task(&task).await?;
        drop(_guard);
        self.dispatch_event(Event::task(TASK_MODIFIED, task_id, Some(&alias)));
        if self.inner.state() == SchedulerState::Running {
            self.wakeup();
        }
        Ok(task.snapshot())
    }

    /// Gives a task a new trigger and recomputes its next run time (spec: `reschedule_task`).
    pub async fn reschedule_task(
        &self,
        task_id: &str,
        store: Option<&str>,
        trigger: impl Into<TriggerSpec>,
    ) -> Result<TaskInfo> {
        let trigger = self.create_trigger(trigger.into())?;
        let now = self.inner.clock.now();
        let next = trigger
            .next_fire_time(self.timezone(), None, now)
            .map(crate::clock::truncate_to_micros);
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
        // Lookup and write under one hold of the store lock, so nothing slips in between.
        let guard = self.inner.store_lock.lock().await;
        let tz = self.timezone();
        let now = self.inner.clock.now();
        if self.inner.state() == SchedulerState::Stopped {
            let outcome = {
                let mut pending = lock(&self.inner.pending);
                let index = pending
                    .iter()
                    .position(|p| {
                        *p.task.id == *task_id && store.is_none_or(|s| *s == *p.task.store_alias)
                    })
                    .ok_or_else(|| Error::task_lookup(task_id))?;
                match pending[index].task.next_fire_time(tz, None, now) {
                    Some(next) => {
                        let entry = &mut pending[index];
                        entry.task.next_run_time = Some(next);
                        entry.start_task = true;
                        Some(entry.task.snapshot())
                    }
                    None => {
                        pending.remove(index);
                        None
                    }
                }
            };
            drop(guard);
            let code = if outcome.is_some() {
                TASK_MODIFIED
            } else {
                TASK_REMOVED
            };
            self.dispatch_event(Event::task(code, task_id, None));
            return Ok(outcome);
        }
        let (mut task, alias) = self.lookup_task(task_id, store).await?;
        let alias = alias.unwrap_or_else(|| task.store_alias.to_string());
        let target = self.lookup_store(&alias)?;
        match task.next_fire_time(tz, None, now) {
            Some(next) => {
                task.next_run_time = Some(next);
                target.update_task(&task).await?;
                drop(guard);
                self.dispatch_event(Event::task(TASK_MODIFIED, task_id, Some(&alias)));
                if self.inner.state() == SchedulerState::Running {
                    self.wakeup();
                }
                Ok(Some(task.snapshot()))
            }
            None => {
                target.delete_task(task_id).await?;
                drop(guard);
                tracing::info!(target: LOG, task = ?task_id, "removed task whose schedule is over");
                self.dispatch_event(Event::task(TASK_REMOVED, task_id, Some(&alias)));
                Ok(None)
            }
        }
    }

    /// Runs a task now on its executor (spec: `run_task`): the due run times, or with `force`
    /// a one-off run at now; then the next run time moves strictly forward. Returns the
    /// updated task, or `None` when it finished and was removed.
    pub async fn run_task(
        &self,
        task_id: &str,
        store: Option<&str>,
        options: RunTaskOptions,
    ) -> Result<Option<TaskInfo>> {
        if self.inner.state() == SchedulerState::Stopped {
            return Err(Error::SchedulerNotRunning);
        }
        let tz = self.timezone();
        let guard = self.inner.store_lock.lock().await;
        let (mut task, alias) = self.lookup_task(task_id, store).await?;
        let alias = alias.unwrap_or_else(|| task.store_alias.to_string());
        task.set_store_alias(&alias);
        let now = self.inner.clock.now();
        let mut run_times = task.run_times(tz, now);
        if run_times.run_times.is_empty() {
            if !options.force {
                return Ok(Some(task.snapshot()));
            }
            run_times = RunTimes {
                run_times: vec![now],
                coalesced_run_count: 0,
            };
        }
        let last = *run_times.run_times.last().unwrap_or(&now);
        let mut next = task.next_fire_time(tz, Some(last), now);
        if let Some(n) = next {
            if n <= now {
                // Manual runs always move forward, so admin actions never loop at zero delay.
                next = Some(now + chrono::Duration::milliseconds(1));
            }
        }
        let remove = next.is_none() && options.remove_finished;
        self.submit(&task, run_times, SubmissionSource::Manual, Vec::new())
            .await?;
        let store_ref = self.lookup_store(&alias)?;
        if remove {
            store_ref.delete_task(&task.id).await?;
            drop(guard);
            tracing::info!(target: LOG, task = ?task.id, "removed finished task after a manual run");
            self.dispatch_event(Event::task(TASK_REMOVED, &task.id, Some(&alias)));
            return Ok(None);
        }
        task.next_run_time = next;
        store_ref.update_task(&task).await?;
        drop(guard);
        if self.inner.state() == SchedulerState::Running {
            self.wakeup();
        }
        Ok(Some(task.snapshot()))
    }

    /// Deletes a task (spec: `delete_task`); [`Error::TaskLookup`] when it does not exist.
    pub async fn delete_task(&self, task_id: &str, store: Option<&str>) -> Result<()> {
        let guard = self.inner.store_lock.lock().await;
        let mut found: Option<Option<String>> = None;
        if self.inner.state() == SchedulerState::Stopped {
            let mut pending = lock(&self.inner.pending);
            if let Some(i) = pending.iter().position(|p| {
                *p.task.id == *task_id && store.is_none_or(|s| *s == *p.task.store_alias)
            }) {
                let p = pending.remove(i);
                found = Some(Some(p.task.store_alias.to_string()));
            }
        } else {
            for (alias, s) in self.stores_snapshot() {
                if store.is_some_and(|want| want != alias) {
                    continue;
                }
                match s.delete_task(task_id).await {
                    Ok(()) => {
                        found = Some(Some(alias));
                        break;
                    }
                    Err(Error::TaskLookup { .. }) => continue,
                    Err(e) => return Err(e),
                }
            }
        }
        drop(guard);
        let Some(alias) = found else {
            return Err(Error::task_lookup(task_id));
        };
        tracing::info!(target: LOG, task = ?task_id, "removed task");
        self.dispatch_event(Event::task(TASK_REMOVED, task_id, alias.as_deref()));
        Ok(())
    }

    /// Removes every task of one store, or of all stores (spec: `remove_all_tasks`).
    pub async fn remove_all_tasks(&self, store: Option<&str>) -> Result<()> {
        let guard = self.inner.store_lock.lock().await;
        if self.inner.state() == SchedulerState::Stopped {
            lock(&self.inner.pending).retain(|p| store.is_some_and(|s| *s != *p.task.store_alias));
        } else {
            for (alias, s) in self.stores_snapshot() {
                if store.is_none_or(|want| want == alias) {
                    s.remove_all_tasks().await?;
                }
            }
        }
        drop(guard);
        self.dispatch_event(Event::scheduler(ALL_TASKS_REMOVED, store));
        Ok(())
    }

    /// Pending tasks while stopped; otherwise every task of one store or of all of them.
    pub async fn get_tasks(&self, store: Option<&str>) -> Result<Vec<Task>> {
        if self.inner.state() == SchedulerState::Stopped {
            return Ok(lock(&self.inner.pending)
                .iter()
                .filter(|p| store.is_none_or(|s| *s == *p.task.store_alias))
                .map(|p| p.task.clone())
                .collect());
        }
        let mut out = Vec::new();
        for (alias, s) in self.stores_snapshot() {
            if store.is_none_or(|want| want == alias) {
                out.extend(s.get_all_tasks().await?);
            }
        }
        Ok(out)
    }

    /// The task with this id, if any.
    pub async fn get_task(&self, task_id: &str, store: Option<&str>) -> Result<Option<Task>> {
        match self.lookup_task(task_id, store).await {
            Ok((task, _)) => Ok(Some(task)),
            Err(Error::TaskLookup { .. }) => Ok(None),
            Err(e) => Err(e),
        }
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
