//! Adding tasks (spec: `add_task`, `real_add_task`), trigger creation and previews, and the
//! [`Target`]s every task operation works on: the stores while started, the pending store
//! while stopped — one code path for both.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::backends::BoundedStore;
use super::pending::PendingView;
use super::{Scheduler, SchedulerState, TaskHandle};
use crate::builder::{NextRunTime, TaskBuilder, TaskUpdate};
use crate::events::{Event, TASK_ADDED};
use crate::function::Callable;
use crate::store::Store;
use crate::task::Task;
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

/// A store a task operation works on, with its lock.
pub(crate) struct Target {
    pub(crate) store: Arc<dyn Store>,
    lock: Arc<tokio::sync::Mutex<()>>,
    /// The store alias; `None` for the pending store (its events name no store).
    pub(crate) alias: Option<String>,
}

impl Target {
    pub(crate) async fn lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.lock.lock().await
    }
}

/// A task found by [`Scheduler::find_locked`], with its target's lock still held.
pub(crate) struct Found<'a> {
    pub(crate) target: &'a Target,
    pub(crate) task: Task,
    pub(crate) _locked: tokio::sync::MutexGuard<'a, ()>,
}

impl Scheduler {
    /// The stores an operation on `store` (`None`: every store) works on: the pending store
    /// while stopped, else the stores (an unknown alias gives none, as upstream). Call with the
    /// lifecycle gate held, so the state cannot change underneath.
    pub(crate) fn targets(&self, store: Option<&str>) -> Vec<Target> {
        if self.inner.state() == SchedulerState::Stopped {
            let pending = &self.inner.pending;
            return vec![Target {
                store: Arc::new(PendingView {
                    pending: Arc::clone(pending),
                    alias: store.map(str::to_owned),
                }),
                lock: pending.lock_handle(),
                alias: None,
            }];
        }
        self.inner
            .backends
            .stores()
            .into_iter()
            .filter(|s| store.is_none_or(|want| want == s.alias()))
            .map(|s| Target {
                lock: s.lock_handle(),
                alias: Some(s.alias().to_owned()),
                store: s,
            })
            .collect()
    }

    /// Finds a task in `targets`, in order, and returns it with its target locked. A store
    /// that fails does not hide the task from the stores after it: the error is returned only
    /// when no store has the task.
    pub(crate) async fn find_locked<'a>(
        &self,
        targets: &'a [Target],
        task_id: &str,
    ) -> Result<Found<'a>> {
        let mut failure = None;
        for target in targets {
            let locked = target.lock().await;
            match target.store.lookup_task(task_id).await {
                Ok(Some(task)) => {
                    return Ok(Found {
                        target,
                        task,
                        _locked: locked,
                    })
                }
                Ok(None) => {}
                Err(e) => {
                    log!(warn, self, task = ?task_id, store = ?target.alias, error = %e, "cannot look up the task in this store; trying the others");
                    failure.get_or_insert(e);
                }
            }
        }
        Err(failure.unwrap_or_else(|| Error::task_lookup(task_id)))
    }

    /// Resolves a trigger spec through the plugin registry.
    pub fn create_trigger(&self, spec: TriggerSpec) -> Result<Arc<dyn Trigger>> {
        match spec {
            TriggerSpec::Instance(t) => Ok(t),
            TriggerSpec::Alias { alias, args } => {
                let ctx = self.trigger_context();
                self.plugins().create_trigger(&alias, &args, &ctx)
            }
        }
    }

    /// What a trigger factory receives: built here only.
    pub(crate) fn trigger_context(&self) -> TriggerContext {
        TriggerContext::new(
            super::read(&self.inner.config).task_timezone(),
            self.inner.clock.now(),
        )
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
        let tz = self.schedule().tz;
        Ok(preview_fire_times(trigger.as_ref(), tz, from, count))
    }

    /// Adds a task (spec: `add_task`). Before `start` the task is pending and committed at
    /// start; afterwards it goes to its store at once and the engine is woken.
    pub async fn add_task(&self, builder: TaskBuilder) -> Result<TaskHandle> {
        if let Some((field, message)) = builder.errors.first() {
            return Err(Error::invalid(field.clone(), message));
        }
        builder.mark_submitted()?;
        let flag = Arc::clone(&builder.submitted);
        let added = self.add_submitted(builder).await;
        if added.is_err() {
            // A definition that was not added can be fixed and submitted again.
            flag.store(false, std::sync::atomic::Ordering::SeqCst);
        }
        added
    }

    async fn add_submitted(&self, mut builder: TaskBuilder) -> Result<TaskHandle> {
        let replace_existing = builder.replace_existing;
        let start_task = builder.next_run_time != NextRunTime::Paused;
        let task = self.build_task(&mut builder)?;
        let handle = TaskHandle::new(self.clone(), &task.id, &task.store_alias);
        let _gate = self.inner.lifecycle.gate.read().await;
        if self.inner.state() == SchedulerState::Stopped {
            self.check_placement(&task, true)?;
            log!(info, self, task = ?task.id, "adding task tentatively; it will be properly scheduled when the scheduler starts");
            self.inner.pending.push(task, replace_existing, start_task);
            return Ok(handle);
        }
        let added = self.commit_task(task, replace_existing, start_task).await?;
        drop(_gate);
        if let Some(event) = added {
            self.dispatch_event(event);
        }
        Ok(handle)
    }

    /// The task a builder describes, with the scheduler's defaults (not yet in any store).
    fn build_task(&self, builder: &mut TaskBuilder) -> Result<Task> {
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
        let trigger =
            self.create_trigger(builder.trigger.take().unwrap_or(TriggerSpec::Alias {
                alias: "date".to_owned(),
                args: Map::new(),
            }))?;
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
        let max_instances = builder.max_instances.unwrap_or(defaults.max_instances);
        TaskUpdate {
            name: Some(Arc::clone(&name)),
            mistrigger_grace_time: Some(mistrigger_grace_time),
            max_instances: Some(max_instances),
            ..TaskUpdate::default()
        }
        .validate()?;
        let inner = &self.inner;
        Ok(Task {
            id: Arc::from(id),
            name,
            callable,
            args: builder.args.take().unwrap_or_default(),
            kwargs: builder.kwargs.take().unwrap_or_default(),
            trigger,
            executor: inner.intern(builder.executor.as_deref().unwrap_or("default")),
            store_alias: inner.intern(builder.store.as_deref().unwrap_or("default")),
            mistrigger_grace_time,
            catchup_window: builder.catchup_window,
            coalesce: builder.coalesce.unwrap_or(defaults.coalesce),
            max_instances,
            on_node_death: builder.on_node_death.unwrap_or_default(),
            next_run_time: match builder.next_run_time {
                NextRunTime::At(t) => Some(t),
                _ => None,
            },
            pending: true,
            submitted: true,
        })
    }

    /// Checks that a task's store and executor exist and can hold and run it. Before start,
    /// a missing `default` store or executor is fine (they are created at start), so a task
    /// fails at `add_task` rather than being dropped at start. Returns the task's store when
    /// it exists (so committing does not look it up again).
    fn check_placement(&self, task: &Task, stopped: bool) -> Result<Option<Arc<BoundedStore>>> {
        let backends = &self.inner.backends;
        let store = match backends.store(&task.store_alias) {
            Ok(store) => Some(store),
            Err(_) if stopped && &*task.store_alias == "default" => None,
            Err(e) => return Err(e),
        };
        let executor = match backends.executor(&task.executor) {
            Ok(executor) => Some(executor),
            Err(_) if stopped && &*task.executor == "default" => None,
            Err(e) => return Err(e),
        };
        let Callable::Closure { name, .. } = &task.callable else {
            return Ok(store);
        };
        if let Some(store) = store.as_ref().filter(|s| s.is_persistent()) {
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
        if executor.is_some_and(|e| !e.supports_closures()) {
            return Err(Error::invalid(
                "executor",
                format!(
                    "executor '{}' runs registered functions only; task '{}' is a closure",
                    task.executor, task.id
                ),
            ));
        }
        Ok(store)
    }

    /// Commits a task to its store (spec: `real_add_task`), computing its first run time when
    /// it is to be scheduled. Returns the `TASK_ADDED` event for the caller to dispatch once
    /// its locks are released.
    pub(crate) async fn commit_task(
        &self,
        mut task: Task,
        replace_existing: bool,
        start_task: bool,
    ) -> Result<Option<Event>> {
        let store = match self.check_placement(&task, false)? {
            Some(store) => store,
            None => self.inner.backends.store(&task.store_alias)?,
        };
        if task.next_run_time.is_none() && start_task {
            task.next_run_time = self
                .schedule()
                .first_run_time(&task, self.inner.clock.now());
        }
        task.pending = false;
        {
            let _locked = store.lock().await;
            match store.add_task(&task).await {
                Ok(()) => {}
                Err(Error::ConflictId { .. }) if replace_existing => {
                    match store.update_task(&task).await {
                        Ok(()) => {}
                        // It ran and finished meanwhile.
                        Err(Error::TaskLookup { .. }) => return Ok(None),
                        Err(e) => return Err(e),
                    }
                }
                Err(e) => return Err(e),
            }
        }
        log!(debug, self, task = ?task.id, name = %task.name, store = %task.store_alias, "added task");
        // Wake the engine only when the new task is due before its planned wakeup.
        if self.inner.state() == SchedulerState::Running {
            if let Some(next) = task.next_run_time {
                let planned = *super::lock(&self.inner.planned_wakeup);
                if planned.is_none_or(|p| next < p) {
                    self.wakeup();
                }
            }
        }
        Ok(self
            .wants(TASK_ADDED)
            .then(|| Event::task(TASK_ADDED, &task.id, Some(&task.store_alias))))
    }

    /// Commits the tasks added before start (the caller holds the lifecycle gate). Tasks to be
    /// scheduled get their first run time now, held back by the startup delay. Returns the
    /// `TASK_ADDED` events to dispatch.
    pub(crate) async fn commit_pending(&self) -> Vec<Event> {
        let delay = super::read(&self.inner.config).effective_startup_delay();
        let now = self.inner.clock.now();
        let not_before = chrono::Duration::from_std(delay)
            .ok()
            .and_then(|d| now.checked_add_signed(d))
            .filter(|_| !delay.is_zero());
        let schedule = self.schedule();
        let mut events = Vec::new();
        for mut p in self.inner.pending.drain() {
            let id = p.task.id.clone();
            if p.start_task {
                p.task.next_run_time = schedule.start_run_time(&p.task, now, not_before);
            }
            match self
                .commit_task(p.task, p.replace_existing, p.start_task)
                .await
            {
                Ok(event) => events.extend(event),
                Err(Error::ConflictId { .. }) => {}
                Err(e) => {
                    log!(error, self, task = ?id, error = %e, "cannot add pending task at start");
                }
            }
        }
        events
    }
}
