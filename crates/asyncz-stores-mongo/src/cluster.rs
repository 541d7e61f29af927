//! The store's cluster half ([`ClusterStore`]): claims on task documents, fire commits, the
//! run ledger (`<collection>_runs`) and the node registry (`<collection>_nodes`), written
//! without multi-document transactions, which a standalone server (and the wire-compatible
//! stand-ins CI runs) may not offer.
//!
//! # Documents
//! - A task document gains `claimed_by` (node id) and `claimed_until` (microseconds since the
//!   Unix epoch, store clock) while claimed, and `fence`, an integer that grows by one at every
//!   claim and at every `update_task` (which also clears the claim). Deleting the document ends
//!   a claim with it.
//! - A run document is `{_id: run id, task_id, scheduled_run_time, kind, state, node, fence,
//!   attempt, on_node_death, created_at, started_at, finished_at, error}`, times as integer
//!   microseconds, with a unique index on `(task_id, scheduled_run_time)` (the ledger's key)
//!   and indexes for history (`scheduled_run_time`), run requests (`state, created_at`) and
//!   settling a dead node's runs (`node, state`).
//! - A node document is `{_id: node id, host, pid, started_at, last_heartbeat, state, functions}` (`functions`: the names the node registered).
//!
//! # Whose clock
//! Leases and heartbeat ages are judged on the **server's** clock: every claim, renewal,
//! expiry test, heartbeat and dead-node test computes "now" inside the server with `$$NOW`
//! (an aggregation-pipeline update, or `$expr` in a filter; MongoDB 4.2+), so no node's clock
//! takes part, and [`ClusterStore::store_time`] reads the `hello` command's `localTime`. The
//! stand-in CI runs (secantusdb 0.7.0b3) answers both; `$$NOW` has millisecond precision,
//! which is plenty for leases of seconds. A task's *due* test uses the node's time
//! (`ClaimRequest::now`), as the contract says.

mod claims;
mod commit;
mod documents;
mod ledger;
mod nodes;

use std::time::Duration;

use asyncz_core::chrono::{DateTime, Utc};
use asyncz_core::cluster::{
    ClaimRequest, ClaimedTask, ClusterStore, CommitResult, FireCommit, HistoryQuery, NodeInfo,
    NodeState, RunFinish, RunRecord, RunRef, SettleReason,
};
use asyncz_core::{async_trait, Error, Result};
use mongodb::bson::{doc, Bson, Document};
use mongodb::options::IndexOptions;
use mongodb::{Collection, IndexModel};

use crate::store::{Collections, MongoStore};

/// The server's time in microseconds since the Unix epoch, as an aggregation expression
/// (`$$NOW` is a date with millisecond precision).
fn now_expr() -> Bson {
    Bson::Document(doc! {"$multiply": [{"$toLong": "$$NOW"}, 1000_i64]})
}

/// `duration` in whole microseconds, for arithmetic with [`now_expr`]; `what` names it in
/// the error when it does not fit.
fn micros_of(what: &str, duration: Duration) -> Result<i64> {
    i64::try_from(duration.as_micros()).map_err(|_| {
        Error::invalid(
            what,
            format!("{duration:?} is too long (at most i64::MAX microseconds)"),
        )
    })
}

/// The run ledger and node registry beside `tasks`, with the indexes their queries need.
pub(crate) async fn collections_beside(
    tasks: Collection<Document>,
    backend: &str,
) -> Result<Collections> {
    let database = tasks.client().database(&tasks.namespace().db);
    let runs = database.collection::<Document>(&format!("{}_runs", tasks.name()));
    let nodes = database.collection::<Document>(&format!("{}_nodes", tasks.name()));
    let indexes = [
        (
            doc! {"task_id": 1, "scheduled_run_time": 1},
            IndexOptions::builder().unique(true).build(),
        ),
        (doc! {"scheduled_run_time": -1}, IndexOptions::default()),
        (doc! {"state": 1, "created_at": 1}, IndexOptions::default()),
        (doc! {"node": 1, "state": 1}, IndexOptions::default()),
    ]
    .map(|(keys, options)| IndexModel::builder().keys(keys).options(options).build());
    runs.create_indexes(indexes).await.map_err(|e| {
        Error::backend(
            backend,
            format!("cannot create the indexes of '{}': {e}", runs.name()),
        )
    })?;
    Ok(Collections { tasks, runs, nodes })
}

#[async_trait]
impl ClusterStore for MongoStore {
    async fn store_time(&self) -> Result<DateTime<Utc>> {
        let s = self.started()?;
        let answer = s
            .backend
            .tasks
            .client()
            .database("admin")
            .run_command(doc! {"hello": 1})
            .await
            .map_err(|e| self.err(&s, "cannot read the server's time (hello)", e))?;
        let time = answer.get_datetime("localTime").map_err(|_| {
            Error::backend(
                format!("store '{}' (mongo)", s.alias()),
                format!(
                    "the server's hello answer has no date 'localTime': {:?}",
                    answer.get("localTime")
                ),
            )
        })?;
        DateTime::<Utc>::from_timestamp_millis(time.timestamp_millis()).ok_or_else(|| {
            Error::backend(
                format!("store '{}' (mongo)", s.alias()),
                format!("the server's localTime {time} is out of range"),
            )
        })
    }

    async fn claim_due_tasks(&self, request: ClaimRequest<'_>) -> Result<Vec<ClaimedTask>> {
        claims::claim_due_tasks(self, request).await
    }

    async fn renew_claims(
        &self,
        node: &str,
        claims: &[ClaimedTask],
        lease: Duration,
    ) -> Result<Vec<String>> {
        claims::renew_claims(self, node, claims, lease).await
    }

    async fn release_claims(&self, node: &str, claims: &[ClaimedTask]) -> Result<()> {
        claims::release_claims(self, node, claims).await
    }

    async fn commit_fires(&self, node: &str, fires: &[FireCommit]) -> Result<Vec<CommitResult>> {
        commit::commit_fires(self, node, fires).await
    }

    async fn insert_run(&self, run: &RunRecord) -> Result<()> {
        ledger::insert_run(self, run).await
    }

    async fn claim_run_requests(&self, node: &str, limit: usize) -> Result<Vec<RunRecord>> {
        ledger::claim_run_requests(self, node, limit).await
    }

    async fn start_run(&self, run: &RunRef, started_at: DateTime<Utc>) -> Result<bool> {
        ledger::start_run(self, run, started_at).await
    }

    async fn start_runs(&self, runs: &[RunRef], started_at: DateTime<Utc>) -> Result<Vec<bool>> {
        ledger::start_runs(self, runs, started_at).await
    }

    async fn finish_run(&self, run: &RunRef, finish: &RunFinish) -> Result<bool> {
        ledger::finish_run(self, run, finish).await
    }

    async fn get_run(&self, run_id: &str) -> Result<Option<RunRecord>> {
        ledger::get_run(self, run_id).await
    }

    async fn history(&self, query: &HistoryQuery) -> Result<Vec<RunRecord>> {
        ledger::history(self, query).await
    }

    async fn prune_runs(&self, older_than: DateTime<Utc>, keep_per_task: usize) -> Result<u64> {
        ledger::prune_runs(self, older_than, keep_per_task).await
    }

    async fn heartbeat(&self, node: &NodeInfo) -> Result<Option<NodeState>> {
        nodes::heartbeat(self, node).await
    }

    async fn list_nodes(&self) -> Result<Vec<NodeInfo>> {
        nodes::list_nodes(self).await
    }

    async fn mark_dead_nodes(&self, timeout: Duration) -> Result<Vec<NodeInfo>> {
        nodes::mark_dead_nodes(self, timeout).await
    }

    async fn settle_runs_of(
        &self,
        node_id: &str,
        now: DateTime<Utc>,
        reason: SettleReason,
    ) -> Result<Vec<RunRecord>> {
        ledger::settle_runs_of(self, node_id, now, reason).await
    }

    async fn leave(&self, node_id: &str) -> Result<()> {
        nodes::leave(self, node_id).await
    }

    async fn forget_dead_nodes(&self, dead_for: Duration) -> Result<u64> {
        nodes::forget_dead_nodes(self, dead_for).await
    }
}
