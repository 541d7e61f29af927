//! The engine loop: each round reads every store's due tasks side by side, stores their new
//! schedules under that store's lock in batches ([`crate::Store::store_schedules`]: one
//! transaction or pipeline per batch, not a round trip per task) and submits each run once its
//! batch is stored (the submitting never waits for the storing, so an inline executor's job may
//! call back into the scheduler), and sleeps until the earliest next run time or a wakeup.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Weak};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::FutureExt;

use super::backends::BoundedStore;
use super::schedule::Schedule;
use super::{Inner, Scheduler, SchedulerState};
use crate::events::{Event, SubmissionSource, TASK_REMOVED};
use crate::store::{ScheduleChange, Store};
use crate::task::{RunTimes, Task};
use crate::Error;

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

/// The first batch of a round's schedule writes: small, so the first runs start soon.
const FIRST_BATCH: usize = 8;
/// The largest batch a persistent store writes at once (one transaction, one pipeline).
const MAX_BATCH: usize = 1024;
/// The largest batch of a store in memory: its writes cost nothing, and the submitting half
/// gets to run after each batch.
const MAX_BATCH_IN_MEMORY: usize = 64;

/// What one engine round works with.
pub(crate) struct Round {
    pub(crate) schedule: Schedule,
    pub(crate) now: DateTime<Utc>,
    pub(crate) retry_at: DateTime<Utc>,
    lock_path: Option<String>,
}

/// A due task whose new schedule is to be stored.
struct Planned {
    task: Task,
    run_times: RunTimes,
    /// Its schedule is over: the change deletes it.
    finished: bool,
}

/// What a due task comes to before its schedule is stored.
enum Plan {
    /// Store this change, then run.
    Store(Box<(Planned, ScheduleChange)>),
    /// Not run; dispatch this event.
    Dropped(Box<Event>),
    /// Nothing to do (not due).
    Nothing,
}

/// The due tasks planned but not stored yet. Batches double from [`FIRST_BATCH`] up to the
/// store's largest, so the first runs of a big round start after a small write.
struct Batch {
    planned: Vec<Planned>,
    changes: Vec<ScheduleChange>,
    size: usize,
    max: usize,
}

impl Batch {
    fn new(persistent: bool) -> Self {
        let max = if persistent {
            MAX_BATCH
        } else {
            MAX_BATCH_IN_MEMORY
        };
        Batch {
            planned: Vec::new(),
            changes: Vec::new(),
            size: FIRST_BATCH.min(max),
            max,
        }
    }

    fn push(&mut self, planned: Planned, change: ScheduleChange) {
        self.planned.push(planned);
        self.changes.push(change);
    }

    fn is_full(&self) -> bool {
        self.planned.len() >= self.size
    }

    /// Empties the batch into its tasks and their changes, and doubles the next one.
    fn take(&mut self) -> (Vec<Planned>, Vec<ScheduleChange>) {
        self.size = (self.size * 2).min(self.max);
        (
            std::mem::take(&mut self.planned),
            std::mem::take(&mut self.changes),
        )
    }
}

/// A due task after its new schedule was stored.
enum Advanced {
    /// Submit these run times; `after` follows the job (a finished task's `TASK_REMOVED`).
    Run(Task, RunTimes, Vec<Event>),
    /// Not run; dispatch this event.
    Dropped(Event),
    /// Nothing to do (every due time dropped, no event wanted).
    Nothing,
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

    /// One round; returns the next wakeup time. While it runs, the planned wakeup is `None`,
    /// so a task added meanwhile always wakes the engine for another round.
    pub(crate) async fn process_due(&self) -> Option<DateTime<Utc>> {
        let _round = self.inner.round.lock().await;
        *super::lock(&self.inner.planned_wakeup) = None;
        let (at, started) = (self.inner.clock.now(), std::time::Instant::now());
        let next = self.process_round().await;
        if self.inner.state() == SchedulerState::Running {
            self.inner.observed.round_done(at, started.elapsed(), next);
        }
        *super::lock(&self.inner.planned_wakeup) = next;
        next
    }

    async fn process_round(&self) -> Option<DateTime<Utc>> {
        if self.inner.state() != SchedulerState::Running {
            return None;
        }
        let now = self.inner.clock.now();
        let (retry, lock_path) = {
            let c = super::read(&self.inner.config);
            (c.store_retry_interval, c.lock_path.clone())
        };
        let round = Round {
            schedule: self.schedule(),
            now,
            retry_at: chrono::Duration::from_std(retry)
                .ok()
                .and_then(|d| now.checked_add_signed(d))
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
            lock_path,
        };
        // Stores are processed side by side: a slow or unreachable one (bounded by the store
        // timeout) does not hold up the others' due tasks.
        let rounds = self.inner.backends.stores().into_iter().map(|store| {
            let round = &round;
            async move { self.process_store(&store, round).await }
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
    async fn process_store(&self, store: &BoundedStore, round: &Round) -> Option<DateTime<Utc>> {
        if let Some(node) = self.node() {
            return self.process_store_cluster(store, round, &node).await;
        }
        let alias = store.alias();
        // Advancing (under the store's lock) and submitting run side by side in this one task:
        // runs are handed over as they are stored, so jobs start on their executor while the
        // rest of the round is still being stored (a 100k-task round would otherwise store
        // everything before the first job starts). The advancing half never waits for the
        // submitting half (the channel is unbounded), so a job run inline that calls back into
        // the scheduler waits at most until the lock is released, never for itself.
        let (runs, mut queued) = tokio::sync::mpsc::unbounded_channel();
        let submitting = async {
            while let Some((task, run_times, after)) = queued.recv().await {
                self.submit_due(task, run_times, after).await;
            }
        };
        let (advanced, ()) =
            futures::future::join(self.advance_due(store, round, runs), submitting).await;
        let write_failed = match advanced {
            Ok(write_failed) => write_failed,
            Err(retry_at) => return Some(retry_at),
        };
        if write_failed {
            // Its earliest run time is the one that could not be saved (still due): asking the
            // store would spin. Come back after the retry interval.
            return Some(round.retry_at);
        }
        match store.get_next_run_time().await {
            // Every due task was just moved past `now`: a next run time at or before it is one
            // the store keeps offering but the round could not run (an undecodable record in a
            // store that does not skip those, or a task added meanwhile, which also woke the
            // engine). Asking again at once would spin; come back after the retry interval.
            Ok(Some(next)) if next <= round.now => {
                log!(debug, self, store = ?alias, "the store's next run time is still due after the round; retrying later");
                Some(round.retry_at)
            }
            Ok(next) => next,
            Err(e) => {
                log!(warn, self, store = %alias, error = %e, "error getting the next run time from the store; retrying later");
                Some(round.retry_at)
            }
        }
    }

    /// Hands one due run to its executor; a panicking executor does not end the round.
    async fn submit_due(&self, task: Task, run_times: RunTimes, after: Vec<Event>) {
        let id = task.id.clone();
        let submit = self.submit(&task, run_times, SubmissionSource::Scheduled, after);
        if let Err(panic) = AssertUnwindSafe(submit).catch_unwind().await {
            log!(error, self, task = ?id, error = %crate::executor::panic_message(panic.as_ref()), "submitting a due task panicked");
        }
    }

    /// Stores the new schedules of a store's due tasks under its lock and sends each run to
    /// `runs` once its schedule is stored. Returns whether a write failed (the store is then
    /// retried after `store_retry_interval`), or when to retry a store that could not be read.
    async fn advance_due(
        &self,
        store: &BoundedStore,
        round: &Round,
        runs: tokio::sync::mpsc::UnboundedSender<(Task, RunTimes, Vec<Event>)>,
    ) -> Result<bool, DateTime<Utc>> {
        let alias = store.alias();
        let _locked = store.lock().await;
        // With a lock path, only the process holding this store's lock processes it now; the
        // others come back after the retry interval.
        let _file_lock = match &round.lock_path {
            None => None,
            Some(template) => {
                match crate::lock::FileLockProtected::for_store(template, alias).protected(false) {
                    Ok(Some(guard)) => Some(guard),
                    Ok(None) => return Err(round.retry_at),
                    Err(e) => {
                        log!(warn, self, store = %alias, error = %e, "cannot take the store's lock file; retrying later");
                        return Err(round.retry_at);
                    }
                }
            }
        };
        let due = match store.get_due_tasks(round.now).await {
            Ok(due) => due,
            Err(e) => {
                log!(warn, self, store = %alias, error = %e, "error getting due tasks from the store; retrying later");
                return Err(round.retry_at);
            }
        };
        let mut batch = Batch::new(store.is_persistent());
        let mut dropped = Vec::new();
        let mut write_failed = false;
        for task in due {
            let id = task.id.clone();
            // A panicking trigger must not kill the engine loop.
            match AssertUnwindSafe(self.plan(task, store, round))
                .catch_unwind()
                .await
            {
                Ok(Plan::Store(planned)) => {
                    let (planned, change) = *planned;
                    batch.push(planned, change);
                }
                Ok(Plan::Dropped(event)) => dropped.push(*event),
                Ok(Plan::Nothing) => {}
                Err(panic) => {
                    log!(error, self, task = ?id, error = %crate::executor::panic_message(panic.as_ref()), "processing a due task panicked; retrying later");
                    write_failed = true;
                }
            }
            if batch.is_full() {
                write_failed |= self.flush(&mut batch, store, &runs, &mut dropped).await;
            }
        }
        write_failed |= self.flush(&mut batch, store, &runs, &mut dropped).await;
        drop(_file_lock);
        drop(_locked);
        for event in dropped {
            self.dispatch_event(event);
        }
        Ok(write_failed)
    }

    /// Counts the due run times of `task` that were folded or dropped before its submission
    /// (metric `asyncz_missed_runs_total{reason}`). The cluster round calls it too.
    pub(crate) fn count_folded(&self, task: &Task, run_times: &RunTimes) {
        let observer = &self.inner.observed.runs;
        crate::metrics::record_folded_run_times(
            &observer.handles(),
            run_times,
            &task.id,
            observer.task_label(),
        );
    }

    /// Works out a due task's new schedule without storing it. A task whose executor is
    /// gone is removed here (rare; not worth a batch).
    async fn plan(&self, task: Task, store: &BoundedStore, round: &Round) -> Plan {
        if self.lookup_executor(&task.executor).is_err() {
            log!(error, self, task = ?task.id, executor = %task.executor, "executor lookup failed for task; removing it from the store");
            return match store.delete_task(&task.id).await {
                Ok(()) => Plan::Dropped(Box::new(Event::task(
                    TASK_REMOVED,
                    &task.id,
                    Some(store.alias()),
                ))),
                Err(_) => Plan::Nothing,
            };
        }
        let run_times = round.schedule.due(&task, round.now);
        let Some(last) = run_times.latest else {
            return Plan::Nothing;
        };
        let next = round.schedule.after_fire(&task, last, round.now);
        let change = match next {
            None => ScheduleChange::Delete(task.id.to_string()),
            Some(_) => {
                let mut updated = task.clone();
                updated.next_run_time = next;
                ScheduleChange::Update(updated)
            }
        };
        let finished = next.is_none();
        Plan::Store(Box::new((
            Planned {
                task,
                run_times,
                finished,
            },
            change,
        )))
    }

    /// Stores the batch's new schedules in one [`Store::store_schedules`] call and sends each
    /// run whose schedule was stored to `runs`. Returns whether a write failed. A run whose
    /// schedule cannot be stored is not run: it would run again at every round.
    async fn flush(
        &self,
        batch: &mut Batch,
        store: &BoundedStore,
        runs: &tokio::sync::mpsc::UnboundedSender<(Task, RunTimes, Vec<Event>)>,
        dropped: &mut Vec<Event>,
    ) -> bool {
        if batch.planned.is_empty() {
            return false;
        }
        let alias = store.alias();
        let (planned, changes) = batch.take();
        // Persist the new schedules before the jobs can run, so a crash never replays them.
        let written = match AssertUnwindSafe(store.store_schedules(&changes))
            .catch_unwind()
            .await
        {
            Ok(Ok(results)) if results.len() == changes.len() => results,
            Ok(Ok(results)) => {
                log!(error, self, store = %alias, changes = changes.len(), results = results.len(), "the store answered a batch of schedule changes with the wrong number of results; not running them now, retrying later");
                return true;
            }
            Ok(Err(e)) => {
                log!(error, self, store = %alias, tasks = changes.len(), error = %e, "cannot store the next run times of due tasks; not running them now, retrying later");
                return true;
            }
            Err(panic) => {
                log!(error, self, store = %alias, error = %crate::executor::panic_message(panic.as_ref()), "storing the next run times of due tasks panicked; retrying later");
                return true;
            }
        };
        let mut write_failed = false;
        for (planned, written) in planned.into_iter().zip(written) {
            match written {
                Ok(()) => {}
                // Deleted meanwhile (by an operator): nothing to run.
                Err(Error::TaskLookup { .. }) => continue,
                Err(e) => {
                    log!(error, self, task = ?planned.task.id, store = %alias, error = %e, "cannot store the next run time of a due task; not running it now, retrying later");
                    write_failed = true;
                    continue;
                }
            }
            match self.advanced(planned, alias) {
                Advanced::Run(task, times, after) => {
                    // The receiver outlives the round (it is joined with it).
                    let _ = runs.send((task, times, after));
                }
                Advanced::Dropped(event) => dropped.push(event),
                Advanced::Nothing => {}
            }
        }
        // A store that answers at once never yields: let the submitting half start the runs
        // stored so far.
        tokio::task::yield_now().await;
        write_failed
    }

    /// What a due task whose new schedule was stored comes to.
    fn advanced(&self, planned: Planned, alias: &str) -> Advanced {
        let Planned {
            mut task,
            run_times,
            finished,
        } = planned;
        self.count_folded(&task, &run_times);
        let after = if finished && self.wants(TASK_REMOVED) {
            vec![Event::task(TASK_REMOVED, &task.id, Some(alias))]
        } else {
            Vec::new()
        };
        if run_times.run_times.is_empty() {
            // Every due time was older than the catch-up window: the schedule moved on.
            log!(info, self, task = ?task.id, dropped = run_times.coalesced_run_count, "missed run times older than the task's catchup_window were dropped");
            return match after.into_iter().next() {
                Some(event) => Advanced::Dropped(event),
                None => Advanced::Nothing,
            };
        }
        task.set_store_alias(alias);
        Advanced::Run(task, run_times, after)
    }
}
