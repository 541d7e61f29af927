//! Live state for operators: [`Scheduler::info`] (node, state, uptime, the engine's last round,
//! each store's health, each executor's load) and [`Scheduler::runs_in_flight`]. The scheduler
//! keeps what they report in [`Observed`], written by the lifecycle (start time), the engine
//! (round times) and the store wrapper (last answer and error); nothing here calls a store.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{lock, Scheduler, SchedulerState};
use crate::executor::{RunObserver, RunningRun};

/// What the scheduler records about itself as it runs.
#[derive(Default)]
pub(crate) struct Observed {
    pub(crate) runs: Arc<RunObserver>,
    started_at: Mutex<Option<DateTime<Utc>>>,
    last_round: Mutex<Option<EngineRound>>,
    /// How long `shutdown_gracefully` waits for running jobs (builder `shutdown_timeout`).
    pub(crate) shutdown_timeout: Mutex<Option<Duration>>,
    /// When this node's last heartbeat per store succeeded (cluster).
    heartbeats: Mutex<std::collections::HashMap<String, std::time::Instant>>,
}

impl Observed {
    pub(crate) fn started(&self, at: DateTime<Utc>) {
        *lock(&self.started_at) = Some(at);
    }

    pub(crate) fn stopped(&self) {
        *lock(&self.started_at) = None;
    }

    /// A heartbeat to `store` was tried: sets the node's heartbeat age gauge (the time since
    /// the last one that succeeded, on any store).
    pub(crate) fn heartbeat(&self, node: &str, store: &str, ok: bool) {
        let now = std::time::Instant::now();
        let mut beats = lock(&self.heartbeats);
        if ok {
            beats.insert(store.to_owned(), now);
        }
        let Some(last) = beats.values().max().copied() else {
            return;
        };
        crate::metrics::heartbeat_age(node, now.duration_since(last));
    }

    pub(crate) fn round_done(
        &self,
        at: DateTime<Utc>,
        took: Duration,
        next_wakeup: Option<DateTime<Utc>>,
    ) {
        *lock(&self.last_round) = Some(EngineRound {
            at,
            took,
            next_wakeup,
        });
        crate::metrics::engine_round(took);
    }
}

/// One engine round: when it began, how long it took and when the engine planned the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct EngineRound {
    /// When the round began (the scheduler's clock).
    pub at: DateTime<Utc>,
    /// How long it took (wall time).
    pub took: Duration,
    /// When the engine meant to look again (the earliest next run time, or the retry of a
    /// failed store); `None` when nothing is scheduled and it waits for a change.
    pub next_wakeup: Option<DateTime<Utc>>,
}

/// A store's health as the scheduler last saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreInfo {
    /// The store alias.
    pub alias: String,
    /// The store's plugin kind (`memory`, `sql`, ...).
    pub kind: String,
    /// Whether the last call to it got an answer (true before any call).
    pub reachable: bool,
    /// The last failed call: when (the scheduler's clock) and the error.
    pub last_error: Option<(DateTime<Utc>, String)>,
    /// How many records it holds that cannot be decoded (skipped, never deleted).
    pub undecodable: usize,
}

/// An executor's load.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExecutorInfo {
    /// The executor alias.
    pub alias: String,
    /// The executor's plugin kind (`tokio`, `threadpool`, `process`, ...).
    pub kind: String,
    /// Jobs accepted but not started (`None` when the executor does not say).
    pub queued: Option<usize>,
    /// Runs executing now.
    pub running: usize,
}

/// A snapshot of the scheduler for health checks and dashboards ([`Scheduler::info`]).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SchedulerInfo {
    /// The cluster node id (`None` outside a cluster).
    pub node_id: Option<String>,
    /// The lifecycle state.
    pub state: SchedulerState,
    /// When it was started (the scheduler's clock); `None` while stopped.
    pub started_at: Option<DateTime<Utc>>,
    /// How long it has been started (the scheduler's clock).
    pub uptime: Option<Duration>,
    /// The last engine round.
    pub last_round: Option<EngineRound>,
    /// Every store, in insertion order.
    pub stores: Vec<StoreInfo>,
    /// Every executor, in insertion order.
    pub executors: Vec<ExecutorInfo>,
}

impl SchedulerInfo {
    /// Whether the engine loop looked at the stores within `max_age` of `now` (a liveness
    /// probe, `/healthz`). A paused scheduler is alive; a stopped one is not. While the engine
    /// is idle it wakes only when a task is due, so `max_age` should exceed the longest idle
    /// gap the probe may see, or the caller should look at `state` alone.
    pub fn engine_ticked_within(&self, max_age: Duration, now: DateTime<Utc>) -> bool {
        match self.state {
            SchedulerState::Stopped => false,
            SchedulerState::Paused => true,
            SchedulerState::Running => self.last_round.is_some_and(|r| {
                (now - r.at).to_std().unwrap_or_default() <= max_age.saturating_add(r.took)
            }),
        }
    }

    /// Whether the engine loop is keeping its own schedule (a liveness probe, `/healthz`): the
    /// last round planned its next look for a time no more than `max_late` before `now`, or
    /// planned none (nothing scheduled: it waits for a change, which wakes it). Unlike
    /// [`SchedulerInfo::engine_ticked_within`] an idle scheduler stays healthy; a loop that is
    /// stuck, or a round that never finishes, fails it once its planned wakeup is `max_late`
    /// overdue; so does a first round not done `max_late` after the start. A paused scheduler
    /// is alive; a stopped one is not. A round waits for slow stores up to the store timeout
    /// (10 s by default): keep `max_late` above it.
    pub fn engine_on_time(&self, max_late: Duration, now: DateTime<Utc>) -> bool {
        match self.state {
            SchedulerState::Stopped => false,
            SchedulerState::Paused => true,
            SchedulerState::Running => match self.last_round {
                // Started, the first round not done yet.
                None => self
                    .started_at
                    .is_some_and(|s| (now - s).to_std().unwrap_or_default() <= max_late),
                Some(r) => match r.next_wakeup {
                    None => true,
                    Some(next) => {
                        let due = next.max(r.at);
                        (now - due).to_std().unwrap_or_default() <= max_late.saturating_add(r.took)
                    }
                },
            },
        }
    }

    /// Whether every store answered its last call (a readiness probe, `/readyz`).
    pub fn stores_reachable(&self) -> bool {
        self.state != SchedulerState::Stopped && self.stores.iter().all(|s| s.reachable)
    }
}

impl Scheduler {
    /// A snapshot of the scheduler's live state: node, state, uptime, the last engine round,
    /// each store's reachability, last error and undecodable records, and each executor's
    /// queue and running jobs. Calls no store (it reports what the last calls found), so it
    /// answers at once even while a store is down.
    pub fn info(&self) -> SchedulerInfo {
        let observed = &self.inner.observed;
        let now = self.inner.clock.now();
        let started_at = *lock(&observed.started_at);
        let running = observed.runs.running_by_executor();
        SchedulerInfo {
            node_id: self.node_id(),
            state: self.state(),
            started_at,
            uptime: started_at.map(|t| (now - t).to_std().unwrap_or_default()),
            last_round: *lock(&observed.last_round),
            stores: self
                .inner
                .backends
                .stores()
                .iter()
                .map(|store| store.info())
                .collect(),
            executors: self
                .inner
                .backends
                .executors()
                .into_iter()
                .map(|(alias, executor)| ExecutorInfo {
                    kind: executor.kind().to_owned(),
                    queued: executor.queued(),
                    running: running.get(&alias).copied().unwrap_or(0),
                    alias,
                })
                .collect(),
        }
    }

    /// The runs executing now, oldest first: task id, run id, scheduled run time, start time,
    /// executor and node.
    pub fn runs_in_flight(&self) -> Vec<RunningRun> {
        self.inner.observed.runs.running()
    }

    /// Sets the `asyncz_tasks{state}` gauges from every store's tasks (one `get_all_tasks` per
    /// store). Not done by the engine (it would cost a full read per round): call it before
    /// rendering metrics, as the Prometheus helper of the `asyncz` facade does at each scrape.
    /// A store that cannot be read is skipped and its error returned after the others are
    /// counted.
    pub async fn record_task_metrics(&self) -> crate::Result<()> {
        use crate::store::Store;
        let (mut scheduled, mut paused) = (0u64, 0u64);
        let mut first_error = None;
        for store in self.inner.backends.stores() {
            match store.get_all_tasks().await {
                Ok(tasks) => {
                    for task in tasks {
                        if task.paused() {
                            paused += 1;
                        } else {
                            scheduled += 1;
                        }
                    }
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        crate::metrics::tasks(scheduled, paused);
        first_error.map_or(Ok(()), Err)
    }
}
