//! The run ledger: one record per run, which is also the history operators read.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::claim::Fence;
use crate::{Error, Result};

/// Where a run is in its life: `requested` (a run request no node has taken yet) →
/// `submitted` (committed by a node, handed to its executor) → `running` → one of the final
/// states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Asked for (run now, or a rerun after a node died); a live node takes it.
    Requested,
    /// Committed by a node, not started yet.
    Submitted,
    /// Started on its node.
    Running,
    /// The function returned.
    Succeeded,
    /// The function failed, panicked, timed out or its worker died.
    Failed,
    /// Too late to start (`mistrigger_grace_time`).
    Missed,
    /// Not run: the task already had `max_instances` active runs.
    Skipped,
    /// Left by a node that died, not run again (`OnNodeDeath::Abandon`).
    Abandoned,
}

impl RunState {
    /// Every state, in lifecycle order.
    pub const ALL: [RunState; 8] = [
        RunState::Requested,
        RunState::Submitted,
        RunState::Running,
        RunState::Succeeded,
        RunState::Failed,
        RunState::Missed,
        RunState::Skipped,
        RunState::Abandoned,
    ];

    /// The stored name (`submitted`, `running`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Requested => "requested",
            RunState::Submitted => "submitted",
            RunState::Running => "running",
            RunState::Succeeded => "succeeded",
            RunState::Failed => "failed",
            RunState::Missed => "missed",
            RunState::Skipped => "skipped",
            RunState::Abandoned => "abandoned",
        }
    }

    /// Whether the run is over.
    pub fn is_final(self) -> bool {
        !matches!(
            self,
            RunState::Requested | RunState::Submitted | RunState::Running
        )
    }

    /// Whether the run holds a `max_instances` slot (`submitted` or `running`).
    pub fn is_active(self) -> bool {
        matches!(self, RunState::Submitted | RunState::Running)
    }
}

impl fmt::Display for RunState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RunState {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        RunState::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| {
                Error::invalid(
                    "run state",
                    format!("unknown run state {s:?} (expected one of requested, submitted, running, succeeded, failed, missed, skipped, abandoned)"),
                )
            })
    }
}

/// Why a run exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    /// A fire time of the task's trigger.
    Scheduled,
    /// Asked for by an operator or the API ("run now").
    Manual,
}

impl RunKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            RunKind::Scheduled => "scheduled",
            RunKind::Manual => "manual",
        }
    }
}

impl fmt::Display for RunKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RunKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "scheduled" => Ok(RunKind::Scheduled),
            "manual" => Ok(RunKind::Manual),
            _ => Err(Error::invalid(
                "run kind",
                format!("unknown run kind {s:?} (expected scheduled or manual)"),
            )),
        }
    }
}

/// What happens to a run left `submitted` or `running` by a node that died.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnNodeDeath {
    /// Recorded as `abandoned`, naming the node; not run again (at most once).
    #[default]
    Abandon,
    /// Requested again: another node runs it, recorded as the next attempt of the same
    /// scheduled run (at least once).
    Rerun,
}

impl OnNodeDeath {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            OnNodeDeath::Abandon => "abandon",
            OnNodeDeath::Rerun => "rerun",
        }
    }
}

impl FromStr for OnNodeDeath {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "abandon" => Ok(OnNodeDeath::Abandon),
            "rerun" => Ok(OnNodeDeath::Rerun),
            _ => Err(Error::invalid(
                "on_node_death",
                format!("unknown policy {s:?} (expected abandon or rerun)"),
            )),
        }
    }
}

/// Why a node's unfinished runs are settled ([`super::ClusterStore::settle_runs_of`]), which
/// decides what happens to them.
///
/// Not `#[non_exhaustive]`: every store must handle every reason, so a new one is a change
/// of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SettleReason {
    /// Another node found the node dead ([`super::ClusterStore::mark_dead_nodes`]). Settled
    /// only while the node is still registered dead: a node that heartbeated again meanwhile
    /// (a pause, a network cut) keeps its runs. Every run follows its [`OnNodeDeath`].
    NodeDead,
    /// The node itself, as it leaves after a shutdown that did not wait for its jobs: a
    /// `submitted` run never started and follows its policy; a `running` one may still be
    /// running in the leaving process, so it is `abandoned` whatever its policy (running it
    /// again elsewhere would overlap it).
    NodeLeaving,
    /// A node starting under an id that was registered before (a restart with a fixed node
    /// id): the earlier process is gone, so every run it left follows its policy.
    NodeRestarted,
}

impl SettleReason {
    /// The error text of a run left in `state` that this settles as abandoned.
    pub fn abandoned_error(self, node_id: &str, state: RunState) -> String {
        match self {
            SettleReason::NodeDead => {
                format!("abandoned: node '{node_id}' died while the run was {state}")
            }
            SettleReason::NodeLeaving => {
                format!("abandoned: node '{node_id}' shut down without waiting while the run was {state}")
            }
            SettleReason::NodeRestarted => {
                format!("abandoned: node '{node_id}' restarted while the run was {state}")
            }
        }
    }
}

/// One run of a task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RunRecord {
    /// Unique id of the run (a random uuid in hex); stays the same across attempts.
    pub run_id: String,
    /// The task.
    pub task_id: String,
    /// The fire time this run is for (for a manual run: when it was asked for). Unique per
    /// task: `(task_id, scheduled_run_time)` is the ledger's key.
    pub scheduled_run_time: DateTime<Utc>,
    /// Scheduled or manual.
    pub kind: RunKind,
    /// Where the run is.
    pub state: RunState,
    /// The node that owns (or owned) the run; `None` while requested.
    pub node: Option<String>,
    /// The fence of the claim the run was committed under.
    pub fence: Fence,
    /// 1 for the first attempt; a rerun after a node died is the next one.
    pub attempt: u32,
    /// What to do when the owning node dies.
    pub on_node_death: OnNodeDeath,
    /// When the run was recorded (requested or committed).
    pub created_at: DateTime<Utc>,
    /// When the function started.
    pub started_at: Option<DateTime<Utc>>,
    /// When the run reached its final state.
    pub finished_at: Option<DateTime<Utc>>,
    /// Why it failed, was missed, skipped or abandoned.
    pub error: Option<String>,
}

impl RunRecord {
    /// A new run record with a fresh run id, attempt 1.
    pub fn new(
        task_id: impl Into<String>,
        scheduled_run_time: DateTime<Utc>,
        kind: RunKind,
        state: RunState,
        created_at: DateTime<Utc>,
    ) -> Self {
        RunRecord {
            run_id: uuid::Uuid::new_v4().simple().to_string(),
            task_id: task_id.into(),
            scheduled_run_time: crate::truncate_to_micros(scheduled_run_time),
            kind,
            state,
            node: None,
            fence: 0,
            attempt: 1,
            on_node_death: OnNodeDeath::default(),
            created_at: crate::truncate_to_micros(created_at),
            started_at: None,
            finished_at: None,
            error: None,
        }
    }

    /// The same record owned by `node` under `fence`.
    #[must_use]
    pub fn with_owner(mut self, node: impl Into<String>, fence: Fence) -> Self {
        self.node = Some(node.into());
        self.fence = fence;
        self
    }

    /// The same record with this death policy.
    #[must_use]
    pub fn with_on_node_death(mut self, policy: OnNodeDeath) -> Self {
        self.on_node_death = policy;
        self
    }

    /// The same record with this error text.
    #[must_use]
    pub fn with_error(mut self, error: impl Into<String>) -> Self {
        self.error = Some(error.into());
        self
    }

    /// How long the function ran (finished − started).
    pub fn duration(&self) -> Option<chrono::Duration> {
        Some(self.finished_at? - self.started_at?)
    }

    /// How late the run started (started − scheduled); for a missed run, how late it was
    /// found (finished − scheduled).
    pub fn lateness(&self) -> Option<chrono::Duration> {
        let at = self.started_at.or(match self.state {
            RunState::Missed => self.finished_at,
            _ => None,
        })?;
        Some(at - self.scheduled_run_time)
    }

    /// Settles this active run of `node_id` for `reason` (see [`SettleReason`]): `abandoned`
    /// (finished at `now`, the error naming the node), or `requested` again with no node
    /// and the next attempt. A store's `settle_runs_of` writes the record as this leaves it.
    pub fn settle(&mut self, node_id: &str, now: DateTime<Utc>, reason: SettleReason) {
        let rerun = match (self.on_node_death, reason, self.state) {
            (OnNodeDeath::Abandon, _, _) => false,
            (OnNodeDeath::Rerun, SettleReason::NodeLeaving, RunState::Running) => false,
            (OnNodeDeath::Rerun, _, _) => true,
        };
        if rerun {
            self.state = RunState::Requested;
            self.node = None;
            self.attempt = self.attempt.saturating_add(1);
            self.started_at = None;
            self.finished_at = None;
            self.error = None;
        } else {
            self.error = Some(reason.abandoned_error(node_id, self.state));
            self.state = RunState::Abandoned;
            self.finished_at = Some(crate::truncate_to_micros(now));
        }
    }

    /// The handle [`super::ClusterStore::start_run`] and [`super::ClusterStore::finish_run`]
    /// take (`None` while the run has no owner).
    pub fn as_ref(&self) -> Option<RunRef> {
        Some(RunRef {
            run_id: self.run_id.clone(),
            node: self.node.clone()?,
            attempt: self.attempt,
        })
    }
}

/// Names one attempt of a run by its owner: a transition is written only while the record
/// is still this node's attempt.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RunRef {
    /// The run.
    pub run_id: String,
    /// The owning node.
    pub node: String,
    /// The attempt this node owns.
    pub attempt: u32,
}

/// What a run's function is told about its run in a cluster (`CallContext::run`): the run id
/// stays the same across attempts, so a task can make its side effects idempotent with it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RunTicket {
    /// The run id.
    pub run_id: String,
    /// The node running it.
    pub node: String,
    /// The attempt (1, or more after a rerun).
    pub attempt: u32,
    /// The fence of the claim the run was committed under.
    pub fence: Fence,
}

impl RunTicket {
    /// The ticket of a run record owned by a node (`None` while it has no owner).
    pub fn of(run: &RunRecord) -> Option<RunTicket> {
        Some(RunTicket {
            run_id: run.run_id.clone(),
            node: run.node.clone()?,
            attempt: run.attempt,
            fence: run.fence,
        })
    }

    /// The handle the ledger's transitions take.
    pub fn as_ref(&self) -> RunRef {
        RunRef {
            run_id: self.run_id.clone(),
            node: self.node.clone(),
            attempt: self.attempt,
        }
    }
}

/// The final state of a run, for [`super::ClusterStore::finish_run`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RunFinish {
    /// A final state (succeeded, failed, missed, skipped, abandoned).
    pub state: RunState,
    /// When it ended.
    pub finished_at: DateTime<Utc>,
    /// Why it failed, was missed or skipped.
    pub error: Option<String>,
}

impl RunFinish {
    /// A run that ended in `state` at `finished_at`.
    pub fn new(state: RunState, finished_at: DateTime<Utc>) -> Self {
        RunFinish {
            state,
            finished_at: crate::truncate_to_micros(finished_at),
            error: None,
        }
    }

    /// With this error text.
    #[must_use]
    pub fn with_error(mut self, error: Option<String>) -> Self {
        self.error = error;
        self
    }
}

/// Which run records [`super::ClusterStore::history`] returns: newest scheduled run time
/// first.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct HistoryQuery {
    /// Only this task's runs.
    pub task_id: Option<String>,
    /// Only runs in one of these states (empty: any).
    pub states: Vec<RunState>,
    /// Only runs scheduled before this time (for paging: the last record's time).
    pub before: Option<DateTime<Utc>>,
    /// At most this many records (default 100).
    pub limit: Option<usize>,
}

impl HistoryQuery {
    /// Every run, newest first, at most 100.
    pub fn new() -> Self {
        HistoryQuery::default()
    }

    /// Only `task_id`'s runs.
    #[must_use]
    pub fn task(mut self, task_id: impl Into<String>) -> Self {
        self.task_id = Some(task_id.into());
        self
    }

    /// Only runs in `states`.
    #[must_use]
    pub fn states(mut self, states: impl IntoIterator<Item = RunState>) -> Self {
        self.states = states.into_iter().collect();
        self
    }

    /// Only runs scheduled strictly before `before`.
    #[must_use]
    pub fn before(mut self, before: DateTime<Utc>) -> Self {
        self.before = Some(before);
        self
    }

    /// At most `limit` records.
    #[must_use]
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }

    /// The limit in effect.
    pub fn effective_limit(&self) -> usize {
        self.limit.unwrap_or(100)
    }

    /// Whether `run` matches the filters (not the limit): for stores that filter in memory.
    pub fn matches(&self, run: &RunRecord) -> bool {
        self.task_id.as_deref().is_none_or(|t| t == run.task_id)
            && (self.states.is_empty() || self.states.contains(&run.state))
            && self.before.is_none_or(|b| run.scheduled_run_time < b)
    }
}
