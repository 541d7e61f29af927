//! Scheduler events: the spec's codes with the same bit values, the four event shapes, and
//! listener masks. Listeners are plain callbacks; one that panics is logged and skipped.
//!
//! The codes stay the spec's bits, so masks work as upstream; what a run *did* is a typed
//! [`RunOutcome`] on [`TaskExecutionEvent::outcome`] (returned, failed with the error's source
//! chain, panicked with its location, timed out, worker died with its signal, missed by how
//! long). The spec's `return_value`, `exception` and `traceback` fields stay on the event,
//! filled from the outcome by [`TaskExecutionEvent::new`], so code written against the spec's
//! shape keeps working: `exception` is the failure's one-line text (the error's `Display`, the
//! panic message with its location, the executor's timeout or worker-death text) and
//! `traceback` is a real backtrace when `RUST_BACKTRACE` asked for one, else the error's
//! `source()` chain (or the panic's location). Events serialize with all of these fields, the
//! outcome tagged by `kind`.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::Value;

mod outcome;

pub use outcome::{PanicLocation, PanicReport, RunOutcome, TaskFailure};

/// The scheduler was started.
pub const SCHEDULER_STARTED: u32 = 1;
/// Alias of [`SCHEDULER_STARTED`] (upstream keeps both names).
pub const SCHEDULER_START: u32 = SCHEDULER_STARTED;
/// The scheduler was shut down.
pub const SCHEDULER_SHUTDOWN: u32 = 2;
/// Task processing was paused.
pub const SCHEDULER_PAUSED: u32 = 4;
/// Task processing was resumed.
pub const SCHEDULER_RESUMED: u32 = 8;
/// An executor was added.
pub const EXECUTOR_ADDED: u32 = 16;
/// An executor was removed.
pub const EXECUTOR_REMOVED: u32 = 32;
/// A store was added.
pub const STORE_ADDED: u32 = 64;
/// A store was removed.
pub const STORE_REMOVED: u32 = 128;
/// All tasks were removed from one store or from all of them.
pub const ALL_TASKS_REMOVED: u32 = 256;
/// A task was added to a store.
pub const TASK_ADDED: u32 = 512;
/// A task was removed from a store.
pub const TASK_REMOVED: u32 = 1024;
/// A task was modified.
pub const TASK_MODIFIED: u32 = 2048;
/// A run of a task finished successfully.
pub const TASK_EXECUTED: u32 = 4096;
/// A run of a task failed (error or panic).
pub const TASK_ERROR: u32 = 8192;
/// A run was skipped because it was later than `mistrigger_grace_time`.
pub const TASK_MISSED: u32 = 16384;
/// A task was handed to its executor.
pub const TASK_SUBMITTED: u32 = 32768;
/// A task was not submitted because it already runs `max_instances` times.
pub const TASK_MAX_INSTANCES: u32 = 65536;
/// Every event code of the spec (its value, 131071). The cluster events below are not in
/// it: a listener asks for them with [`CLUSTER_EVENTS`] (or [`EVERY_EVENT`]).
pub const ALL_EVENTS: u32 = 131071;
/// A node joined the cluster (this one at start, or another one seen for the first time).
pub const NODE_JOINED: u32 = 1 << 17;
/// A node's heartbeat went older than the node timeout and this node marked it dead.
pub const NODE_DEAD: u32 = 1 << 18;
/// A claim this node made was no longer its own when it committed or started the run (a
/// pause past the lease, an operator's change): the fire was left to its new owner.
pub const CLAIM_LOST: u32 = 1 << 19;
/// A run left by a dead node was settled: abandoned, or requested again (`Rerun`).
pub const RUN_ABANDONED: u32 = 1 << 20;
/// Every cluster event.
pub const CLUSTER_EVENTS: u32 = NODE_JOINED | NODE_DEAD | CLAIM_LOST | RUN_ABANDONED;
/// Every event, the spec's and the cluster's.
pub const EVERY_EVENT: u32 = ALL_EVENTS | CLUSTER_EVENTS;

/// The name of an event code, for logs and display.
pub fn code_name(code: u32) -> &'static str {
    match code {
        SCHEDULER_STARTED => "SCHEDULER_STARTED",
        SCHEDULER_SHUTDOWN => "SCHEDULER_SHUTDOWN",
        SCHEDULER_PAUSED => "SCHEDULER_PAUSED",
        SCHEDULER_RESUMED => "SCHEDULER_RESUMED",
        EXECUTOR_ADDED => "EXECUTOR_ADDED",
        EXECUTOR_REMOVED => "EXECUTOR_REMOVED",
        STORE_ADDED => "STORE_ADDED",
        STORE_REMOVED => "STORE_REMOVED",
        ALL_TASKS_REMOVED => "ALL_TASKS_REMOVED",
        TASK_ADDED => "TASK_ADDED",
        TASK_REMOVED => "TASK_REMOVED",
        TASK_MODIFIED => "TASK_MODIFIED",
        TASK_EXECUTED => "TASK_EXECUTED",
        TASK_ERROR => "TASK_ERROR",
        TASK_MISSED => "TASK_MISSED",
        TASK_SUBMITTED => "TASK_SUBMITTED",
        TASK_MAX_INSTANCES => "TASK_MAX_INSTANCES",
        NODE_JOINED => "NODE_JOINED",
        NODE_DEAD => "NODE_DEAD",
        CLAIM_LOST => "CLAIM_LOST",
        RUN_ABANDONED => "RUN_ABANDONED",
        _ => "UNKNOWN",
    }
}

/// A scheduler-wide event (start, shutdown, pause, stores and executors coming and going).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SchedulerEvent {
    /// The event code.
    pub code: u32,
    /// The store or executor alias the event is about, if any.
    pub alias: Option<String>,
}

/// An event about one task (added, removed, modified).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskEvent {
    /// The event code.
    pub code: u32,
    /// The task id.
    pub task_id: String,
    /// The store alias holding the task.
    pub store: Option<String>,
}

/// Whether a submission came from the engine loop or from an explicit `run_task`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SubmissionSource {
    /// The engine found the task due.
    Scheduled,
    /// An operator called `run_task`.
    Manual,
}

/// A task was handed to its executor ([`TASK_SUBMITTED`]) or skipped ([`TASK_MAX_INSTANCES`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskSubmissionEvent {
    /// The event code.
    pub code: u32,
    /// The task id.
    pub task_id: String,
    /// The store alias holding the task.
    pub store: Option<String>,
    /// The run times submitted, oldest first.
    pub scheduled_run_times: Vec<DateTime<Utc>>,
    /// How many further due run times were folded into this submission by coalescing.
    pub coalesced_run_count: u64,
    /// Engine loop or manual run.
    pub source: SubmissionSource,
}

/// The outcome of one run ([`TASK_EXECUTED`], [`TASK_ERROR`], [`TASK_MISSED`]).
///
/// Built with [`TaskExecutionEvent::new`], which derives the code and the spec's fields from
/// the outcome, so they never disagree.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct TaskExecutionEvent {
    /// The event code ([`RunOutcome::code`]).
    pub code: u32,
    /// The task id.
    pub task_id: String,
    /// The store alias holding the task.
    pub store: Option<String>,
    /// The run time this outcome belongs to.
    pub scheduled_run_time: DateTime<Utc>,
    /// What the function returned, on success ([`RunOutcome::return_value`]).
    pub return_value: Option<Value>,
    /// The failure's one-line text ([`RunOutcome::exception`]).
    pub exception: Option<String>,
    /// A backtrace, else the source chain, of a failure ([`RunOutcome::traceback`]).
    pub traceback: Option<String>,
    /// How the run ended, typed.
    pub outcome: RunOutcome,
}

impl TaskExecutionEvent {
    /// The event reporting `outcome` for the run of `task_id` (in `store`) scheduled at
    /// `scheduled_run_time`.
    pub fn new(
        task_id: impl Into<String>,
        store: Option<String>,
        scheduled_run_time: DateTime<Utc>,
        outcome: RunOutcome,
    ) -> Self {
        TaskExecutionEvent {
            code: outcome.code(),
            task_id: task_id.into(),
            store,
            scheduled_run_time,
            return_value: outcome.return_value().cloned(),
            exception: outcome.exception(),
            traceback: outcome.traceback(),
            outcome,
        }
    }
}

/// A cluster event ([`NODE_JOINED`], [`NODE_DEAD`], [`CLAIM_LOST`], [`RUN_ABANDONED`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ClusterEvent {
    /// The event code.
    pub code: u32,
    /// The node the event is about (the one that joined or died, the one that lost the
    /// claim, the dead owner of the settled run).
    pub node: String,
    /// The store alias.
    pub store: Option<String>,
    /// The task, for claim and run events.
    pub task_id: Option<String>,
    /// The run record as written, for [`RUN_ABANDONED`] (`abandoned`, or `requested` again).
    pub run: Option<crate::cluster::RunRecord>,
}

impl ClusterEvent {
    /// A cluster event about `node`.
    pub fn new(code: u32, node: impl Into<String>, store: Option<&str>) -> Self {
        ClusterEvent {
            code,
            node: node.into(),
            store: store.map(str::to_owned),
            task_id: None,
            run: None,
        }
    }

    /// About this task.
    #[must_use]
    pub fn with_task(mut self, task_id: impl Into<String>) -> Self {
        self.task_id = Some(task_id.into());
        self
    }

    /// About this run.
    #[must_use]
    pub fn with_run(mut self, run: crate::cluster::RunRecord) -> Self {
        self.task_id = Some(run.task_id.clone());
        self.run = Some(run);
        self
    }
}

/// Any scheduler event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum Event {
    /// See [`SchedulerEvent`].
    Scheduler(SchedulerEvent),
    /// See [`TaskEvent`].
    Task(TaskEvent),
    /// See [`TaskSubmissionEvent`].
    Submission(TaskSubmissionEvent),
    /// See [`TaskExecutionEvent`].
    Execution(TaskExecutionEvent),
    /// See [`ClusterEvent`].
    Cluster(ClusterEvent),
}

impl Event {
    /// The event code (one bit).
    pub fn code(&self) -> u32 {
        match self {
            Event::Scheduler(e) => e.code,
            Event::Task(e) => e.code,
            Event::Submission(e) => e.code,
            Event::Execution(e) => e.code,
            Event::Cluster(e) => e.code,
        }
    }

    /// The task id, for task events.
    pub fn task_id(&self) -> Option<&str> {
        match self {
            Event::Scheduler(_) => None,
            Event::Task(e) => Some(&e.task_id),
            Event::Submission(e) => Some(&e.task_id),
            Event::Execution(e) => Some(&e.task_id),
            Event::Cluster(e) => e.task_id.as_deref(),
        }
    }

    /// The code's name, e.g. `TASK_EXECUTED`.
    pub fn name(&self) -> &'static str {
        code_name(self.code())
    }

    pub(crate) fn scheduler(code: u32, alias: Option<&str>) -> Self {
        Event::Scheduler(SchedulerEvent {
            code,
            alias: alias.map(str::to_owned),
        })
    }

    pub(crate) fn task(code: u32, task_id: &str, store: Option<&str>) -> Self {
        Event::Task(TaskEvent {
            code,
            task_id: task_id.to_owned(),
            store: store.map(str::to_owned),
        })
    }
}

/// Identifies a listener, for [`crate::Scheduler::remove_listener`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListenerId(pub(crate) u64);
