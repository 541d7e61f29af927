//! What a run tells the outside while it runs: its `asyncz.run` tracing span, the run metrics
//! (lateness, active runs, duration, outcome) and its row in the scheduler's table of runs in
//! flight ([`crate::Scheduler::runs_in_flight`]). [`RunObserver`] is the scheduler's half,
//! shared by every job; [`ActiveRun`] is one run's half, opened when the run starts and closed
//! when its outcome is reported, however the executor runs the function.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use chrono::{DateTime, Utc};

use crate::cluster::RunTicket;
use crate::events::RunOutcome;
use crate::metrics::RunHandles;
use crate::trigger::Trigger;

/// The tracing target of the `asyncz.run` span.
pub const RUN_SPAN_TARGET: &str = "asyncz.run";

/// One run executing now (see [`crate::Scheduler::runs_in_flight`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunningRun {
    /// The task id.
    pub task_id: String,
    /// The run id: the ledger's run id in a cluster, else a number local to this scheduler.
    pub run_id: String,
    /// The scheduled run time being run.
    pub scheduled_run_time: DateTime<Utc>,
    /// When the run started (the scheduler's clock).
    pub started: DateTime<Utc>,
    /// The executor alias running it.
    pub executor: String,
    /// The cluster node running it (`None` outside a cluster).
    pub node: Option<String>,
}

struct Entry {
    task_id: Arc<str>,
    run_id: Option<String>,
    scheduled_run_time: DateTime<Utc>,
    started: DateTime<Utc>,
    executor: Arc<str>,
    node: Option<String>,
}

/// Shards of the table of runs in flight: runs start and end on many threads at once.
const SHARDS: usize = 16;

/// The scheduler's side: settings, metric handles and the table of runs in flight, shared by
/// every job.
#[derive(Default)]
pub(crate) struct RunObserver {
    task_label: AtomicBool,
    next_id: AtomicU64,
    running: [Mutex<HashMap<u64, Entry>>; SHARDS],
    handles: RwLock<Arc<RunHandles>>,
}

impl RunObserver {
    pub(crate) fn set_task_label(&self, on: bool) {
        self.task_label.store(on, Ordering::Relaxed);
    }

    pub(crate) fn task_label(&self) -> bool {
        self.task_label.load(Ordering::Relaxed)
    }

    fn shard(&self, key: u64) -> std::sync::MutexGuard<'_, HashMap<u64, Entry>> {
        let shard = &self.running[(key % SHARDS as u64) as usize];
        shard.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn for_each(&self, mut f: impl FnMut(u64, &Entry)) {
        for shard in &self.running {
            let shard = shard.lock().unwrap_or_else(|e| e.into_inner());
            for (&key, entry) in shard.iter() {
                f(key, entry);
            }
        }
    }

    /// Registers the metric handles with the recorder in force now (at start).
    pub(crate) fn refresh_metrics(&self) {
        *self.handles.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(RunHandles::register());
    }

    /// The metric handles in force.
    pub(crate) fn handles(&self) -> Arc<RunHandles> {
        Arc::clone(&self.handles.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// The runs in flight, oldest first.
    pub(crate) fn running(&self) -> Vec<RunningRun> {
        let mut runs: Vec<(u64, RunningRun)> = Vec::new();
        self.for_each(|id, e| {
            runs.push((
                id,
                RunningRun {
                    task_id: e.task_id.to_string(),
                    run_id: e.run_id.clone().unwrap_or_else(|| id.to_string()),
                    scheduled_run_time: e.scheduled_run_time,
                    started: e.started,
                    executor: e.executor.to_string(),
                    node: e.node.clone(),
                },
            ))
        });
        runs.sort_by_key(|(id, r)| (r.started, *id));
        runs.into_iter().map(|(_, r)| r).collect()
    }

    /// How many runs each executor has in flight.
    pub(crate) fn running_by_executor(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        self.for_each(|_, e| *counts.entry(e.executor.to_string()).or_insert(0) += 1);
        counts
    }
}

/// What a job knows about its task beyond the run itself, for spans and metrics.
#[derive(Clone)]
pub(crate) struct RunMeta {
    pub(crate) name: Arc<str>,
    pub(crate) executor: Arc<str>,
    pub(crate) trigger: Arc<dyn Trigger>,
    pub(crate) observer: Arc<RunObserver>,
    pub(crate) handles: Arc<RunHandles>,
}

/// One run between its start and its reported outcome.
pub(crate) struct ActiveRun {
    pub(crate) span: tracing::Span,
    run_time: DateTime<Utc>,
    key: u64,
    started: Instant,
}

impl ActiveRun {
    /// Opens a run of `task_id` at `run_time`, started `now`: span, lateness, active gauge,
    /// table row.
    pub(crate) fn open(
        meta: &RunMeta,
        task_id: &Arc<str>,
        run_time: DateTime<Utc>,
        now: DateTime<Utc>,
        ticket: Option<&RunTicket>,
    ) -> ActiveRun {
        let late = (now - run_time).to_std().unwrap_or_default();
        let observer = &meta.observer;
        let label = observer.task_label().then_some(task_id);
        meta.handles.run_started(late, label);
        let key = observer.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let span = tracing::info_span!(
            target: RUN_SPAN_TARGET,
            "asyncz.run",
            otel.name = "asyncz.run",
            job.system = "asyncz",
            faas.trigger = "timer",
            faas.cron = tracing::field::Empty,
            task.id = %task_id,
            task.name = %meta.name,
            scheduled_run_time = %run_time,
            executor = %meta.executor,
            node = tracing::field::Empty,
            run.id = tracing::field::Empty,
            lateness_seconds = late.as_secs_f64(),
            outcome = tracing::field::Empty,
        );
        if !span.is_disabled() {
            if meta.trigger.alias() == "cron" {
                span.record("faas.cron", tracing::field::display(&meta.trigger));
            }
            match ticket {
                Some(t) => {
                    span.record("node", t.node.as_str());
                    span.record("run.id", t.run_id.as_str());
                }
                None => {
                    span.record("run.id", key);
                }
            }
        }
        observer.shard(key).insert(
            key,
            Entry {
                task_id: Arc::clone(task_id),
                run_id: ticket.map(|t| t.run_id.clone()),
                scheduled_run_time: run_time,
                started: now,
                executor: Arc::clone(&meta.executor),
                node: ticket.map(|t| t.node.clone()),
            },
        );
        ActiveRun {
            span,
            run_time,
            key,
            started: Instant::now(),
        }
    }

    pub(crate) fn run_time(&self) -> DateTime<Utc> {
        self.run_time
    }

    /// Closes the run with its outcome: duration, span field, table row.
    pub(crate) fn close(self, meta: &RunMeta, task_id: &Arc<str>, outcome: &RunOutcome) {
        let observer = &meta.observer;
        let label = observer.task_label().then_some(task_id);
        meta.handles.run_ended(Some(self.started.elapsed()), label);
        self.span.record(
            "outcome",
            crate::metrics::OutcomeLabel::of(outcome).as_str(),
        );
        observer.shard(self.key).remove(&self.key);
    }

    /// Closes a run that ended without an outcome of its own (its claim was lost, or the job
    /// was dropped mid-run).
    pub(crate) fn abort(self, meta: &RunMeta) {
        meta.handles.run_ended(None, None);
        meta.observer.shard(self.key).remove(&self.key);
    }
}
