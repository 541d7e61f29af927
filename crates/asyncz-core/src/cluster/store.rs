//! [`ClusterStore`]: what a store does so that several schedulers can share it.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::claim::{ClaimRequest, ClaimedRound, ClaimedTask, CommitResult, FireCommit};
use super::ledger::{HistoryQuery, RunFinish, RunRecord, RunRef, SettleReason};
use super::node::{NodeInfo, NodeState};
use crate::Result;

/// The cluster half of a store: claims with leases and fences, atomic fire commits, the run
/// ledger and the node registry. A store offers it through [`crate::Store::cluster`]; a
/// scheduler built with `.cluster(...)` refuses, at start, a store that does not.
///
/// Every method may be called concurrently from many processes on many hosts; each documents
/// what it guarantees under that. The cases in asyncz-testkit (`cluster` module) check every
/// `# Behavior` bullet against a real server.
///
/// Besides these methods, a store taking part keeps one promise in its [`crate::Store`] half:
/// `update_task` and `delete_task` invalidate any claim on the task, so a node that claimed
/// it before an operator's change cannot commit over that change (its commit is
/// [`CommitResult::Stale`]).
#[async_trait]
pub trait ClusterStore: Send + Sync {
    /// The store's clock: leases and heartbeat ages are judged on it, so a node whose own
    /// clock is off cannot steal a live claim. (A store without a server clock, like SQLite,
    /// uses the scheduler's clock from [`crate::StoreContext::clock`].)
    async fn store_time(&self) -> Result<DateTime<Utc>>;

    /// Claims up to `request.limit` due tasks for `request.node`.
    ///
    /// # Behavior
    /// - Due: next run time at or before `request.now`; paused tasks and records listed by
    ///   [`crate::Store::undecodable_records`] are never claimed.
    /// - A task is claimable when it has no claim or its claim expired on the store's clock;
    ///   while a claim holds, no other call returns the task, however many nodes race.
    /// - Each claimed task gets `claimed_until = store time + lease` and a fence greater than
    ///   any fence the task had before; the claim returns it.
    /// - Oldest next run time first; at most `limit` tasks.
    async fn claim_due_tasks(&self, request: ClaimRequest<'_>) -> Result<Vec<ClaimedTask>>;

    /// One poll of an engine round: takes run requests ([`ClusterStore::claim_run_requests`],
    /// up to `request.limit`) and claims due tasks ([`ClusterStore::claim_due_tasks`]). The
    /// default makes the two calls and leaves [`ClaimedRound::next_run_time`] unread (the
    /// scheduler then asks [`crate::Store::get_next_run_time`] after committing); a store
    /// overrides it to answer all three in one round trip, so an idle node costs about one
    /// statement per poll.
    ///
    /// # Behavior
    /// - The same guarantees as the two claim methods.
    /// - A `next_run_time` it reads ignores the tasks claimed by this call (the node
    ///   reschedules those itself), paused tasks and undecodable records.
    async fn claim_round(&self, request: ClaimRequest<'_>) -> Result<ClaimedRound> {
        let requests = self.claim_run_requests(request.node, request.limit).await?;
        let tasks = self.claim_due_tasks(request).await?;
        Ok(ClaimedRound::new(requests, tasks, None))
    }

    /// Extends this node's claims by `lease` from now (store clock); returns the ids still
    /// held.
    ///
    /// # Behavior
    /// - A claim whose fence moved (taken over, task changed or deleted) is not extended and
    ///   not returned.
    async fn renew_claims(
        &self,
        node: &str,
        claims: &[ClaimedTask],
        lease: Duration,
    ) -> Result<Vec<String>>;

    /// Gives claims back without firing: the tasks are claimable again at once.
    ///
    /// # Behavior
    /// - Only claims still held by `node` with the same fence are released; others are left.
    async fn release_claims(&self, node: &str, claims: &[ClaimedTask]) -> Result<()>;

    /// Commits fires, one result per fire in the same order.
    ///
    /// # Behavior
    /// - Each fire is atomic: its run records are inserted, the task is rescheduled (or
    ///   removed) and its claim cleared — all of it or none of it.
    /// - A fire whose fence is no longer the task's current claim by `node` (expired and
    ///   taken over, task changed or deleted meanwhile) writes nothing: `Stale`.
    /// - A run whose `(task_id, scheduled_run_time)` is already in the ledger is not inserted
    ///   again (the rest of the fire still commits) and is left out of the result.
    /// - With `max_active`, the fire is one instance of the task (its runs go to one job, which
    ///   runs them one after the other), counted against the task's active instances across
    ///   the cluster: its `submitted` or `running` records, counted by distinct fence (the
    ///   runs of one fire share theirs). When the task already has `max_active` or more, every
    ///   `submitted` run of the fire is stored `skipped`, with an error naming the limit.
    /// - A stale or failing fire does not stop the others; an `Err` means nothing is known
    ///   to have committed (the claims expire, and the fires are retried).
    async fn commit_fires(&self, node: &str, fires: &[FireCommit]) -> Result<Vec<CommitResult>>;

    /// Inserts a run record as given (a run request: `requested`, no node).
    ///
    /// # Behavior
    /// - A `(task_id, scheduled_run_time)` already in the ledger is
    ///   [`crate::Error::ConflictRun`] and leaves the stored record unchanged.
    async fn insert_run(&self, run: &RunRecord) -> Result<()>;

    /// Takes up to `limit` `requested` runs for `node`: each becomes `submitted`, owned by
    /// `node`, oldest request first.
    ///
    /// # Behavior
    /// - A request is taken by exactly one caller, however many nodes race.
    async fn claim_run_requests(&self, node: &str, limit: usize) -> Result<Vec<RunRecord>>;

    /// Marks a run `running`, just before its function starts. Returns whether the run is
    /// still this attempt's to run.
    ///
    /// # Behavior
    /// - Written only when the record is `submitted`, owned by `run.node`, at `run.attempt`;
    ///   otherwise (abandoned or requeued after the node was declared dead) nothing changes
    ///   and the answer is `false`: the caller must not run it.
    /// - Idempotent for its owner: a record already `running`, owned by `run.node` at
    ///   `run.attempt`, answers `true` again (a retry of a start whose answer was lost; a
    ///   node begins each attempt once).
    async fn start_run(&self, run: &RunRef, started_at: DateTime<Utc>) -> Result<bool>;

    /// [`ClusterStore::start_run`] for many runs, one answer per run in the same order. The
    /// default calls `start_run` for each; a store overrides it to write them in one round
    /// trip (the node batches the starts of a busy round).
    async fn start_runs(&self, runs: &[RunRef], started_at: DateTime<Utc>) -> Result<Vec<bool>> {
        let mut answers = Vec::with_capacity(runs.len());
        for run in runs {
            answers.push(self.start_run(run, started_at).await?);
        }
        Ok(answers)
    }

    /// Records a run's final state. Returns whether it was written.
    ///
    /// # Behavior
    /// - Written only when the record is `submitted` or `running`, owned by `run.node`, at
    ///   `run.attempt`; a record already final (abandoned meanwhile) is left as it is.
    async fn finish_run(&self, run: &RunRef, finish: &RunFinish) -> Result<bool>;

    /// [`ClusterStore::finish_run`] for many runs, one answer per run in the same order. The
    /// default calls `finish_run` for each; a store overrides it to write them in one round
    /// trip.
    async fn finish_runs(&self, runs: &[(RunRef, RunFinish)]) -> Result<Vec<bool>> {
        let mut answers = Vec::with_capacity(runs.len());
        for (run, finish) in runs {
            answers.push(self.finish_run(run, finish).await?);
        }
        Ok(answers)
    }

    /// One run record by id.
    ///
    /// # Behavior
    /// - A missing id is `Ok(None)`.
    async fn get_run(&self, run_id: &str) -> Result<Option<RunRecord>>;

    /// Run records matching `query`, newest scheduled run time first.
    ///
    /// # Behavior
    /// - Filters by task, state and `before`; at most [`HistoryQuery::effective_limit`].
    /// - Times read back exactly as written (whole microseconds).
    async fn history(&self, query: &HistoryQuery) -> Result<Vec<RunRecord>>;

    /// Deletes final run records created before `older_than`, and those beyond the newest
    /// `keep_per_task` of their task. Returns how many were deleted.
    ///
    /// # Behavior
    /// - `requested`, `submitted` and `running` records are never deleted.
    async fn prune_runs(&self, older_than: DateTime<Utc>, keep_per_task: usize) -> Result<u64>;

    /// Registers or refreshes a node: `last_heartbeat` becomes the store's time and the node
    /// is alive. Returns the state it had (`None`: new), so a node declared dead while it was
    /// paused learns it.
    ///
    /// # Behavior
    /// - Host, pid, start time and [`NodeInfo::functions`] are replaced by `node`'s; the
    ///   functions read back as written (any names, an empty list as empty).
    /// - [`ClusterStore::mark_dead_nodes`] keeps what the node published.
    async fn heartbeat(&self, node: &NodeInfo) -> Result<Option<NodeState>>;

    /// Every registered node, alive ones first.
    async fn list_nodes(&self) -> Result<Vec<NodeInfo>>;

    /// Marks dead every alive node whose heartbeat is older than `timeout` on the store's
    /// clock; returns the nodes this call marked.
    ///
    /// # Behavior
    /// - Each death is returned by exactly one caller, however many nodes race.
    async fn mark_dead_nodes(&self, timeout: Duration) -> Result<Vec<NodeInfo>>;

    /// Settles the `submitted` and `running` runs of `node_id`, each as
    /// [`RunRecord::settle`] leaves it for `reason`: `abandoned` (finished now, error naming
    /// the node), or `requested` again with no node and the next attempt. Returns the records
    /// as written.
    ///
    /// # Behavior
    /// - [`SettleReason::NodeDead`] settles only while `node_id` is registered dead (or not
    ///   registered), checked atomically with the writes where the store can: a node that
    ///   heartbeated again meanwhile keeps its runs, and the call returns nothing.
    /// - [`SettleReason::NodeLeaving`]: `running` runs are abandoned whatever their policy.
    /// - Idempotent: a second call finds nothing to settle.
    async fn settle_runs_of(
        &self,
        node_id: &str,
        now: DateTime<Utc>,
        reason: SettleReason,
    ) -> Result<Vec<RunRecord>>;

    /// Removes a node that shuts down cleanly (marked dead, so no one waits for its timeout).
    async fn leave(&self, node_id: &str) -> Result<()>;

    /// Deletes from the registry the nodes registered dead whose last heartbeat is older
    /// than `dead_for` on the store's clock (a cluster whose nodes get fresh ids at every
    /// start would otherwise keep every id it ever had). Returns how many it deleted.
    ///
    /// # Behavior
    /// - Alive nodes are never deleted, however old their heartbeat (the dead-node search
    ///   marks them first).
    /// - A deleted node's run records stay; settling a node that is not registered works as
    ///   for a dead one.
    async fn forget_dead_nodes(&self, dead_for: Duration) -> Result<u64>;
}
