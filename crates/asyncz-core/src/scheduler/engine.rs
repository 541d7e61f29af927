//! The engine loop (spec: `process_tasks`): under the store lock, for each store, submit due
//! tasks with their (bounded, coalesced) run times, compute the next fire time from the last
//! run time, write the task back or remove it when finished; then sleep precisely until the
//! earliest next run time of any store, or until woken by a change.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Weak};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{Inner, Scheduler, SchedulerState, LOG};
use crate::events::{
    Event, SubmissionSource, TaskExecutionEvent, TaskSubmissionEvent, TASK_ERROR,
    TASK_MAX_INSTANCES, TASK_REMOVED, TASK_SUBMITTED,
};
use crate::events::{RunOutcome, TaskFailure};
use crate::executor::Job;
use crate::task::{RunTimes, Task};
use crate::{Error, Result};

/// The loop spawned by `start`. Holds the scheduler weakly, so dropping every `Scheduler`
/// handle ends it.
pub(crate) async fn run(weak: Weak<Inner>) {
    loop {
        let (wakeup, clock, next) = {
            let Some(inner) = weak.upgrade() else { return };
            if inner.state() == SchedulerState::Stopped {
                return;
            }
            let scheduler = Scheduler { inner };
            let next = scheduler.process_due().await;
            (
                Arc::clone(&scheduler.inner.wakeup),
                Arc::clone(&scheduler.inner.clock),
                next,
            )
        };
        match next {
            Some(deadline) => {
                tokio::select! {
                    _ = wakeup.notified() => {}
                    _ = clock.sleep_until(deadline) => {}
                }
            }
            None => wakeup.notified().await,
        }
    }
}

impl Scheduler {
    /// Runs one round of the engine now: submits every due task and returns how long until
    /// the next one is due (`None`: nothing scheduled, or paused). The engine loop calls this
    /// by itself; tests call it to step time deterministically with a manual clock.
    pub async fn process_tasks(&self) -> Option<Duration> {
        let next = self.process_due().await?;
        let now = self.inner.clock.now();
        Some((next - now).to_std().unwrap_or(Duration::ZERO))
    }

    /// One round; returns the next wakeup time.
    pub(crate) async fn process_due(&self) -> Option<DateTime<Utc>> {
        let _guard = self.inner.store_lock.lock().await;
        let next = self.process_due_locked().await;
        *super::lock(&self.inner.planned_wakeup) = next;
        next
    }

    /// One round, with the store lock held by the caller.
    async fn process_due_locked(&self) -> Option<DateTime<Utc>> {
        if self.inner.state() != SchedulerState::Running {
            return None;
        }
        let round = {
            let s = super::read(&self.inner.settings);
            Round {
                tz: s.timezone,
                now: self.inner.clock.now(),
                retry_at: DateTime::<Utc>::MAX_UTC,
                logger: s.logger_name.clone(),
                lock_path: s.lock_path.clone(),
                timeout: s.store_timeout,
                retry: s.store_retry_interval,
            }
        };
        let round = Round {
            retry_at: chrono::Duration::from_std(round.retry)
                .ok()
                .and_then(|d| round.now.checked_add_signed(d))
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
            ..round
        };
        // Stores are processed side by side: a slow or unreachable one (bounded by the store
        // timeout) does not hold up the others' due tasks.
        let rounds = self.stores_snapshot().into_iter().map(|(alias, store)| {
            let round = &round;
            async move { self.process_store(&alias, store.as_ref(), round).await }
        });
        let mut next_wakeup = futures::future::join_all(rounds)
            .await
            .into_iter()
            .flatten()
            .min();
        if round.lock_path.is_some() {
            // Other processes add tasks to shared stores: look again after the retry interval.
            next_wakeup = Some(next_wakeup.map_or(round.retry_at, |n| n.min(round.retry_at)));
        }
        next_wakeup
    }

    /// One store's part of a round; returns when to look at it again.
    async fn process_store(
        &self,
        alias: &str,
        store: &dyn crate::store::Store,
        round: &Round,
    ) -> Option<DateTime<Utc>> {
        let logger = &round.logger;
        // With a lock path, only the process holding this store's lock processes it now; the
        // others come back after the retry interval.
        let _store_lock = match &round.lock_path {
            None => None,
            Some(template) => {
                match crate::lock::FileLockProtected::for_store(template, alias).protected(false) {
                    Ok(Some(guard)) => Some(guard),
                    Ok(None) => return Some(round.retry_at),
                    Err(e) => {
                        tracing::warn!(target: LOG, logger = %logger, store = %alias, error = %e, "cannot take the store's lock file; retrying later");
                        return Some(round.retry_at);
                    }
                }
            }
        };
        let due = match timed(round.timeout, store.get_due_tasks(round.now)).await {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(target: LOG, logger = %logger, store = %alias, error = %e, "error getting due tasks from the store; retrying later");
                return Some(round.retry_at);
            }
        };
        let mut write_failed = false;
        for task in due {
            let id = task.id.clone();
            // A panicking trigger or store must not kill the engine loop.
            let one = AssertUnwindSafe(self.process_task(task, alias, store, round));
            match futures::FutureExt::catch_unwind(one).await {
                Ok(true) => {}
                Ok(false) => write_failed = true,
                Err(panic) => {
                    tracing::error!(target: LOG, task = ?id, error = %crate::executor::panic_message(panic.as_ref()), "processing a due task panicked; retrying later");
                    write_failed = true;
                }
            }
        }
        if write_failed {
            // Its earliest run time is the one that could not be saved (still due): asking the
            // store would spin. Come back after the retry interval.
            return Some(round.retry_at);
        }
        match timed(round.timeout, store.get_next_run_time()).await {
            // Every due task was just moved past `now`: a next run time at or before it is one
            // the store keeps offering but the round could not run (an undecodable record in a
            // store that does not skip those, or a task added meanwhile, which also woke the
            // engine). Asking again at once would spin; come back after the retry interval.
            Ok(Some(next)) if next <= round.now => {
                tracing::debug!(target: LOG, logger = %logger, store = ?alias, "the store's next run time is still due after the round; retrying later");
                Some(round.retry_at)
            }
            Ok(next) => next,
            Err(e) => {
                tracing::warn!(target: LOG, logger = %logger, store = %alias, error = %e, "error getting the next run time from the store; retrying later");
                Some(round.retry_at)
            }
        }
    }

    /// Submits one due task and stores its next run time. Returns false when the store could
    /// not be written: the run is then not submitted (it would run again at every round) and
    /// the store is retried after `store_retry_interval`.
    async fn process_task(
        &self,
        mut task: Task,
        alias: &str,
        store: &dyn crate::store::Store,
        round: &Round,
    ) -> bool {
        let (tz, now) = (round.tz, round.now);
        if self.lookup_executor(&task.executor).is_err() {
            tracing::error!(target: LOG, task = ?task.id, executor = %task.executor, "executor lookup failed for task; removing it from the store");
            if timed(round.timeout, store.delete_task(&task.id))
                .await
                .is_ok()
            {
                self.dispatch_event(Event::task(TASK_REMOVED, &task.id, Some(alias)));
            }
            return true;
        }
        let run_times = task.run_times(tz, now);
        let Some(&last) = run_times.run_times.last() else {
            return true;
        };
        let next = task.next_fire_time(tz, Some(last), now);
        let finished = next.is_none();
        // Persist the new schedule before the job can run, so a crash never replays it.
        let written = if finished {
            timed(round.timeout, store.delete_task(&task.id)).await
        } else {
            let mut updated = task.clone();
            updated.next_run_time = next;
            timed(round.timeout, store.update_task(&updated)).await
        };
        match written {
            Ok(()) => {}
            // Deleted meanwhile (by an operator): nothing to run.
            Err(Error::TaskLookup { .. }) => return true,
            Err(e) => {
                tracing::error!(target: LOG, task = ?task.id, store = %alias, error = %e, "cannot store the next run time of a due task; not running it now, retrying later");
                return false;
            }
        }
        let after = if finished && self.wants(TASK_REMOVED) {
            vec![Event::task(TASK_REMOVED, &task.id, Some(alias))]
        } else {
            Vec::new()
        };
        task.set_store_alias(alias);
        let _ = self
            .submit(&task, run_times, SubmissionSource::Scheduled, after)
            .await;
        true
    }

    /// Hands `run_times` of `task` to its executor, emitting `TASK_SUBMITTED` or
    /// `TASK_MAX_INSTANCES`. `after` events are emitted once the job is over (or at once when
    /// it could not be submitted).
    pub(crate) async fn submit(
        &self,
        task: &Task,
        run_times: RunTimes,
        source: SubmissionSource,
        after: Vec<Event>,
    ) -> Result<()> {
        let emit_after = |s: &Scheduler| {
            for e in &after {
                s.dispatch_event(e.clone());
            }
        };
        let submission = |code| -> Event {
            Event::Submission(TaskSubmissionEvent {
                code,
                task_id: task.id.to_string(),
                store: Some(task.store_alias.to_string()),
                scheduled_run_times: run_times.run_times.clone(),
                coalesced_run_count: run_times.coalesced_run_count,
                source,
            })
        };
        let guard = match self
            .inner
            .instances
            .try_acquire(&task.id, task.max_instances)
        {
            Ok(guard) => guard,
            Err(e) => {
                tracing::warn!(target: LOG, task = ?task.id, max_instances = task.max_instances, "execution of task skipped: maximum number of running instances reached");
                if self.wants(TASK_MAX_INSTANCES) {
                    self.dispatch_event(submission(TASK_MAX_INSTANCES));
                }
                emit_after(self);
                return Err(e);
            }
        };
        let prepared = self.lookup_executor(&task.executor).and_then(|executor| {
            if matches!(task.callable, crate::function::Callable::Closure { .. })
                && !executor.supports_closures()
            {
                return Err(Error::invalid(
                    "executor",
                    format!(
                        "executor '{}' runs registered functions only; task '{}' is a closure",
                        task.executor, task.id
                    ),
                ));
            }
            let function = self.inner.functions.resolve(&task.callable)?;
            Ok((executor, function))
        });
        let (executor, function) = match prepared {
            Ok(p) => p,
            Err(e) => {
                drop(guard);
                self.dispatch_event(submission(TASK_SUBMITTED));
                for &t in &run_times.run_times {
                    self.dispatch_event(Event::Execution(TaskExecutionEvent::new(
                        task.id.to_string(),
                        Some(task.store_alias.to_string()),
                        t,
                        RunOutcome::failed(&e),
                    )));
                }
                tracing::error!(target: LOG, task = ?task.id, error = %e, "cannot run task");
                emit_after(self);
                return Err(e);
            }
        };
        if self.wants(TASK_SUBMITTED) {
            self.dispatch_event(submission(TASK_SUBMITTED));
        }
        let job = Job {
            task_id: Arc::clone(&task.id),
            store_alias: Arc::clone(&task.store_alias),
            function_name: task.callable.reference().map(Arc::from),
            function,
            args: task.args.clone(),
            kwargs: task.kwargs.clone(),
            run_times: run_times.run_times.clone(),
            mistrigger_grace_time: task.mistrigger_grace_time,
            clock: Arc::clone(&self.inner.clock),
            sink: self.event_sink(),
            after: after.clone(),
            guard: Some(guard),
        };
        if let Err(e) = executor.send_task(job).await {
            // The job was dropped unrun; its drop already emitted the trailing events.
            tracing::error!(target: LOG, task = ?task.id, executor = %task.executor, error = %e, "error submitting task to executor");
            if self.wants(TASK_ERROR) {
                for &t in &run_times.run_times {
                    let refused =
                        format!("not run: executor '{}' refused the job: {e}", task.executor);
                    let outcome = TaskFailure::new(refused).caused_by_sources_of(&e);
                    self.dispatch_event(Event::Execution(TaskExecutionEvent::new(
                        task.id.to_string(),
                        Some(task.store_alias.to_string()),
                        t,
                        RunOutcome::Failed(outcome),
                    )));
                }
            }
            return Err(e);
        }
        Ok(())
    }
}

/// What one engine round works with.
struct Round {
    tz: chrono_tz::Tz,
    now: DateTime<Utc>,
    retry_at: DateTime<Utc>,
    logger: String,
    lock_path: Option<String>,
    timeout: Duration,
    retry: Duration,
}

/// A store call bounded by the store timeout (an unreachable server must not stall a round).
async fn timed<T>(
    limit: Duration,
    call: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    match tokio::time::timeout(limit, call).await {
        Ok(result) => result,
        Err(_) => Err(Error::backend(
            "store",
            format!("no answer within the store timeout ({limit:?})"),
        )),
    }
}
