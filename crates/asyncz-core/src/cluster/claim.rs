//! Claims and fire commits: the two atomic steps of a cluster round.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::ledger::RunRecord;
use crate::task::Task;

/// A claim's fencing token: grows by one every time a task is claimed, so a commit made with
/// an older one (a node that paused past its lease) is refused.
pub type Fence = u64;

/// What [`super::ClusterStore::claim_due_tasks`] is asked for.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct ClaimRequest<'a> {
    /// The claiming node.
    pub node: &'a str,
    /// The node's time: tasks whose next run time is at or before it are due.
    pub now: DateTime<Utc>,
    /// How long the claim is held, measured on the store's clock
    /// ([`super::ClusterStore::store_time`]).
    pub lease: Duration,
    /// At most this many tasks.
    pub limit: usize,
}

impl<'a> ClaimRequest<'a> {
    /// Claim up to `limit` tasks due at `now` for `node`, for `lease`.
    pub fn new(node: &'a str, now: DateTime<Utc>, lease: Duration, limit: usize) -> Self {
        ClaimRequest {
            node,
            now,
            lease,
            limit,
        }
    }
}

/// A due task claimed by a node.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClaimedTask {
    /// The task as stored.
    pub task: Task,
    /// The fence of this claim; the commit must carry it.
    pub fence: Fence,
}

impl ClaimedTask {
    /// A claim of `task` with `fence`.
    pub fn new(task: Task, fence: Fence) -> Self {
        ClaimedTask { task, fence }
    }
}

/// What a commit does to the task.
#[derive(Debug, Clone)]
pub enum FireUpdate {
    /// Store this task (its new next run time, in the record and its state) and release the
    /// claim.
    Reschedule(Box<Task>),
    /// The schedule is over: delete the task.
    Remove,
}

/// One fire to commit.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FireCommit {
    /// The task.
    pub task_id: String,
    /// The fence of the claim this fire was computed under.
    pub fence: Fence,
    /// What happens to the task.
    pub update: FireUpdate,
    /// The run records to insert, oldest first, each `submitted` (or `missed`).
    pub runs: Vec<RunRecord>,
    /// When set, at most this many instances of the task may be active across the cluster
    /// (fires with `submitted` or `running` records): when that many already are, this
    /// fire's runs are stored `skipped` instead.
    pub max_active: Option<u32>,
}

impl FireCommit {
    /// A commit of `runs` for `task_id` under `fence`.
    pub fn new(task_id: impl Into<String>, fence: Fence, update: FireUpdate) -> Self {
        FireCommit {
            task_id: task_id.into(),
            fence,
            update,
            runs: Vec::new(),
            max_active: None,
        }
    }

    /// With these run records.
    #[must_use]
    pub fn with_runs(mut self, runs: Vec<RunRecord>) -> Self {
        self.runs = runs;
        self
    }

    /// With a cluster-wide limit of active runs.
    #[must_use]
    pub fn with_max_active(mut self, max_active: Option<u32>) -> Self {
        self.max_active = max_active;
        self
    }
}

/// What one poll of a round got ([`super::ClusterStore::claim_round`]).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ClaimedRound {
    /// Run requests now `submitted` to this node.
    pub requests: Vec<RunRecord>,
    /// Due tasks now claimed by this node.
    pub tasks: Vec<ClaimedTask>,
    /// The earliest next run time of the tasks not claimed here: `None` when the store did
    /// not read it (the scheduler asks `Store::get_next_run_time` after committing),
    /// `Some(None)` when no other task is scheduled.
    pub next_run_time: Option<Option<DateTime<Utc>>>,
}

impl ClaimedRound {
    /// A poll's answer.
    pub fn new(
        requests: Vec<RunRecord>,
        tasks: Vec<ClaimedTask>,
        next_run_time: Option<Option<DateTime<Utc>>>,
    ) -> Self {
        ClaimedRound {
            requests,
            tasks,
            next_run_time,
        }
    }
}

/// What became of one [`FireCommit`].
#[derive(Debug, Clone, PartialEq)]
pub enum CommitResult {
    /// Written: the run records as stored (a run beyond `max_active` is `skipped`; a run
    /// whose `(task_id, scheduled_run_time)` was already recorded is left out).
    Committed(Vec<RunRecord>),
    /// The claim was no longer this node's (fence moved, task changed or deleted): nothing
    /// was written.
    Stale,
}

impl CommitResult {
    /// The runs to execute: the committed ones still `submitted`.
    pub fn submitted(&self) -> impl Iterator<Item = &RunRecord> {
        let runs: &[RunRecord] = match self {
            CommitResult::Committed(runs) => runs,
            CommitResult::Stale => &[],
        };
        runs.iter()
            .filter(|r| r.state == super::RunState::Submitted)
    }
}
