//! The metrics asyncz records, through the [`metrics`](https://docs.rs/metrics) facade: every
//! name and label value is defined here once, and the recording helpers the engine, the
//! executors' shared job code and the store wrapper call live here too. Nothing is recorded
//! anywhere unless the application installs a recorder (e.g. `metrics-exporter-prometheus`);
//! without one each call is a no-op. `docs/observability.md` has the table.
//!
//! | name | kind | labels |
//! |---|---|---|
//! | `asyncz_runs_total` | counter | `outcome` (`succeeded`, `failed`, `missed`, `skipped_max_instances`, `abandoned`), `task`* |
//! | `asyncz_run_duration_seconds` | histogram | `task`* |
//! | `asyncz_run_lateness_seconds` | histogram | `task`* |
//! | `asyncz_missed_runs_total` | counter | `reason` (`mistrigger_grace_time`, `coalesced`, `catchup_window`), `task`* |
//! | `asyncz_runs_active` | gauge | |
//! | `asyncz_tasks` | gauge | `state` (`scheduled`, `paused`) |
//! | `asyncz_store_errors_total` | counter | `store` |
//! | `asyncz_store_call_seconds` | histogram | `store`, `op` |
//! | `asyncz_engine_round_seconds` | histogram | |
//! | `asyncz_node_heartbeat_age_seconds` | gauge | `node` |
//!
//! \* only with [`crate::SchedulerBuilder::metrics_task_label`] (the task id; off by default
//! to bound cardinality).

use std::sync::Arc;
use std::time::Duration;

use ::metrics::{counter, gauge, histogram, Label, SharedString};

use crate::events::RunOutcome;

/// Runs by outcome (counter; label `outcome`, optional `task`).
pub const RUNS_TOTAL: &str = "asyncz_runs_total";
/// How long a run's function took, in seconds (histogram; optional label `task`).
pub const RUN_DURATION_SECONDS: &str = "asyncz_run_duration_seconds";
/// How late a run started after its scheduled run time, in seconds (histogram; optional
/// label `task`).
pub const RUN_LATENESS_SECONDS: &str = "asyncz_run_lateness_seconds";
/// Scheduled run times that were not run, by reason (counter; label `reason`, optional `task`).
pub const MISSED_RUNS_TOTAL: &str = "asyncz_missed_runs_total";
/// Runs executing now (gauge).
pub const RUNS_ACTIVE: &str = "asyncz_runs_active";
/// Tasks by state (gauge; label `state`), set by [`crate::Scheduler::record_task_metrics`].
pub const TASKS: &str = "asyncz_tasks";
/// Failed store calls (counter; label `store`, the store alias).
pub const STORE_ERRORS_TOTAL: &str = "asyncz_store_errors_total";
/// Store call latency in seconds (histogram; labels `store`, `op`).
pub const STORE_CALL_SECONDS: &str = "asyncz_store_call_seconds";
/// How long one engine round took, in seconds (histogram).
pub const ENGINE_ROUND_SECONDS: &str = "asyncz_engine_round_seconds";
/// Age of this node's last successful heartbeat, in seconds (gauge; label `node`; cluster).
pub const NODE_HEARTBEAT_AGE_SECONDS: &str = "asyncz_node_heartbeat_age_seconds";

/// The values of the `outcome` label of [`RUNS_TOTAL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OutcomeLabel {
    /// The function returned normally.
    Succeeded,
    /// It returned an error, panicked, timed out or its worker died.
    Failed,
    /// Too late to start (`mistrigger_grace_time`); not run.
    Missed,
    /// Not submitted: `max_instances` runs of the task were already running.
    SkippedMaxInstances,
    /// Its cluster node died or left while it ran (`on_node_death = Abandon`).
    Abandoned,
}

impl OutcomeLabel {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeLabel::Succeeded => "succeeded",
            OutcomeLabel::Failed => "failed",
            OutcomeLabel::Missed => "missed",
            OutcomeLabel::SkippedMaxInstances => "skipped_max_instances",
            OutcomeLabel::Abandoned => "abandoned",
        }
    }

    /// The label of a run's outcome.
    pub fn of(outcome: &RunOutcome) -> Self {
        match outcome {
            RunOutcome::Returned { .. } => OutcomeLabel::Succeeded,
            RunOutcome::Missed { .. } => OutcomeLabel::Missed,
            _ => OutcomeLabel::Failed,
        }
    }
}

/// The values of the `reason` label of [`MISSED_RUNS_TOTAL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MissedReason {
    /// The run would have started later than the task's `mistrigger_grace_time` allows.
    MistriggerGraceTime,
    /// Several due run times were folded into one submission (`coalesce`, or the bound of
    /// [`crate::MAX_RUN_TIMES_PER_SUBMISSION`]).
    Coalesced,
    /// Every due run time was older than the task's `catchup_window`.
    CatchupWindow,
}

impl MissedReason {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            MissedReason::MistriggerGraceTime => "mistrigger_grace_time",
            MissedReason::Coalesced => "coalesced",
            MissedReason::CatchupWindow => "catchup_window",
        }
    }
}

/// Registers a description and unit for every asyncz metric with the installed recorder
/// (exporters show them as `# HELP` lines). Optional; call it once after installing a recorder.
pub fn describe() {
    use ::metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(RUNS_TOTAL, Unit::Count, "Runs by outcome.");
    describe_histogram!(
        RUN_DURATION_SECONDS,
        Unit::Seconds,
        "How long a run's function took."
    );
    describe_histogram!(
        RUN_LATENESS_SECONDS,
        Unit::Seconds,
        "How late a run started after its scheduled run time."
    );
    describe_counter!(
        MISSED_RUNS_TOTAL,
        Unit::Count,
        "Scheduled run times that were not run, by reason."
    );
    describe_gauge!(RUNS_ACTIVE, Unit::Count, "Runs executing now.");
    describe_gauge!(TASKS, Unit::Count, "Tasks by state.");
    describe_counter!(STORE_ERRORS_TOTAL, Unit::Count, "Failed store calls.");
    describe_histogram!(STORE_CALL_SECONDS, Unit::Seconds, "Store call latency.");
    describe_histogram!(
        ENGINE_ROUND_SECONDS,
        Unit::Seconds,
        "How long one engine round took."
    );
    describe_gauge!(
        NODE_HEARTBEAT_AGE_SECONDS,
        Unit::Seconds,
        "Age of this cluster node's last successful heartbeat."
    );
}

/// The optional `task` label: the task id, when the scheduler was built with the task label.
pub(crate) type TaskLabel<'a> = Option<&'a Arc<str>>;

fn task_label(task: TaskLabel<'_>) -> Option<Label> {
    task.map(|id| Label::new("task", SharedString::from(Arc::clone(id))))
}

fn labels(first: Label, task: TaskLabel<'_>) -> Vec<Label> {
    let mut labels = Vec::with_capacity(2);
    labels.push(first);
    labels.extend(task_label(task));
    labels
}

/// Handles of the run series without a `task` label, registered with the recorder in force
/// when the scheduler starts: recording through a handle is a no-op without a recorder, and
/// costs no key building or label allocation with one.
pub(crate) struct RunHandles {
    outcomes: [::metrics::Counter; 5],
    missed: [::metrics::Counter; 3],
    active: ::metrics::Gauge,
    lateness: ::metrics::Histogram,
    duration: ::metrics::Histogram,
}

const OUTCOMES: [OutcomeLabel; 5] = [
    OutcomeLabel::Succeeded,
    OutcomeLabel::Failed,
    OutcomeLabel::Missed,
    OutcomeLabel::SkippedMaxInstances,
    OutcomeLabel::Abandoned,
];

const REASONS: [MissedReason; 3] = [
    MissedReason::MistriggerGraceTime,
    MissedReason::Coalesced,
    MissedReason::CatchupWindow,
];

impl Default for RunHandles {
    fn default() -> Self {
        RunHandles {
            outcomes: std::array::from_fn(|_| ::metrics::Counter::noop()),
            missed: std::array::from_fn(|_| ::metrics::Counter::noop()),
            active: ::metrics::Gauge::noop(),
            lateness: ::metrics::Histogram::noop(),
            duration: ::metrics::Histogram::noop(),
        }
    }
}

impl RunHandles {
    /// Registers every series with the recorder in force now.
    pub(crate) fn register() -> Self {
        RunHandles {
            outcomes: OUTCOMES.map(|o| counter!(RUNS_TOTAL, "outcome" => o.as_str())),
            missed: REASONS.map(|r| counter!(MISSED_RUNS_TOTAL, "reason" => r.as_str())),
            active: gauge!(RUNS_ACTIVE),
            lateness: histogram!(RUN_LATENESS_SECONDS),
            duration: histogram!(RUN_DURATION_SECONDS),
        }
    }

    fn outcome(&self, label: OutcomeLabel) -> &::metrics::Counter {
        &self.outcomes[OUTCOMES.iter().position(|o| *o == label).unwrap_or(0)]
    }

    fn reason(&self, reason: MissedReason) -> &::metrics::Counter {
        &self.missed[REASONS.iter().position(|r| *r == reason).unwrap_or(0)]
    }

    /// One run ended with `outcome` (a missed run also counts as missed by grace time).
    pub(crate) fn run_finished(&self, outcome: &RunOutcome, task: TaskLabel<'_>) {
        let label = OutcomeLabel::of(outcome);
        self.run_counted(label, task);
        if label == OutcomeLabel::Missed {
            self.missed(MissedReason::MistriggerGraceTime, 1, task);
        }
    }

    /// Counts one run under `label` (also used for skipped and abandoned runs).
    pub(crate) fn run_counted(&self, label: OutcomeLabel, task: TaskLabel<'_>) {
        match task {
            None => self.outcome(label).increment(1),
            Some(_) => counter!(
                RUNS_TOTAL,
                labels(Label::from_static_parts("outcome", label.as_str()), task)
            )
            .increment(1),
        }
    }

    /// `count` scheduled run times were not run, for `reason`.
    pub(crate) fn missed(&self, reason: MissedReason, count: u64, task: TaskLabel<'_>) {
        if count == 0 {
            return;
        }
        match task {
            None => self.reason(reason).increment(count),
            Some(_) => counter!(
                MISSED_RUNS_TOTAL,
                labels(Label::from_static_parts("reason", reason.as_str()), task)
            )
            .increment(count),
        }
    }

    /// A run started `late` after its scheduled run time.
    pub(crate) fn run_started(&self, late: Duration, task: TaskLabel<'_>) {
        self.active.increment(1.0);
        match task {
            None => self.lateness.record(late.as_secs_f64()),
            Some(_) => histogram!(RUN_LATENESS_SECONDS, task_only(task)).record(late.as_secs_f64()),
        }
    }

    /// A run started with [`RunHandles::run_started`] ended after its function ran for `took`.
    pub(crate) fn run_ended(&self, took: Option<Duration>, task: TaskLabel<'_>) {
        self.active.decrement(1.0);
        let Some(took) = took else { return };
        match task {
            None => self.duration.record(took.as_secs_f64()),
            Some(_) => histogram!(RUN_DURATION_SECONDS, task_only(task)).record(took.as_secs_f64()),
        }
    }
}

/// The run times of a submission that were folded or dropped before it reached an executor:
/// `run_times` empty means every due time was older than the catch-up window. Called by the
/// engine (single process and cluster rounds: [`crate::Scheduler`]'s `count_folded`) once
/// per due task.
pub(crate) fn record_folded_run_times(
    handles: &RunHandles,
    run_times: &crate::RunTimes,
    task_id: &Arc<str>,
    with_task_label: bool,
) {
    let reason = if run_times.run_times.is_empty() {
        MissedReason::CatchupWindow
    } else {
        MissedReason::Coalesced
    };
    handles.missed(
        reason,
        run_times.coalesced_run_count,
        with_task_label.then_some(task_id),
    );
}

fn task_only(task: TaskLabel<'_>) -> Vec<Label> {
    task_label(task).into_iter().collect()
}

/// The store operations the store wrapper times, by name (the `op` label).
pub(crate) const STORE_OPS: [&str; 11] = [
    "start",
    "shutdown",
    "lookup_task",
    "get_due_tasks",
    "get_next_run_time",
    "get_all_tasks",
    "add_task",
    "update_task",
    "delete_task",
    "remove_all_tasks",
    "store_schedules",
];

/// One store's series, registered when the store is wrapped and again when the scheduler
/// starts (so a recorder installed between build and start is used).
#[derive(Debug)]
pub(crate) struct StoreHandles {
    calls: [::metrics::Histogram; 11],
    errors: ::metrics::Counter,
}

impl StoreHandles {
    pub(crate) fn register(store: &Arc<str>) -> Self {
        StoreHandles {
            calls: STORE_OPS.map(|op| {
                histogram!(STORE_CALL_SECONDS, "store" => SharedString::from(Arc::clone(store)), "op" => op)
            }),
            errors: counter!(STORE_ERRORS_TOTAL, "store" => SharedString::from(Arc::clone(store))),
        }
    }

    /// One store call: its latency, and an error when it failed. Operations beyond the Store
    /// trait's (the cluster's) are registered at each call.
    pub(crate) fn call(&self, store: &Arc<str>, op: &'static str, took: Duration, failed: bool) {
        if failed {
            self.errors.increment(1);
        }
        match STORE_OPS.iter().position(|o| *o == op) {
            Some(i) => self.calls[i].record(took.as_secs_f64()),
            None => histogram!(STORE_CALL_SECONDS, "store" => SharedString::from(Arc::clone(store)), "op" => op)
                .record(took.as_secs_f64()),
        }
    }
}

/// One engine round took `took`.
pub(crate) fn engine_round(took: Duration) {
    histogram!(ENGINE_ROUND_SECONDS).record(took.as_secs_f64());
}

/// Tasks by state, counted over every store.
pub(crate) fn tasks(scheduled: u64, paused: u64) {
    gauge!(TASKS, "state" => "scheduled").set(scheduled as f64);
    gauge!(TASKS, "state" => "paused").set(paused as f64);
}

/// The age of `node`'s last successful heartbeat.
pub(crate) fn heartbeat_age(node: &str, age: Duration) {
    gauge!(NODE_HEARTBEAT_AGE_SECONDS, "node" => node.to_owned()).set(age.as_secs_f64());
}
