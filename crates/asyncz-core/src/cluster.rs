//! Cluster mode: several schedulers (nodes) share one store, each scheduled fire time is
//! claimed by exactly one node and recorded once in the run ledger, and a node that dies loses
//! nothing. The shared database is the coordinator; asyncz adds no consensus of its own.
//!
//! This module holds the contract a store implements to take part ([`ClusterStore`], reached
//! through [`crate::Store::cluster`]), the records it keeps ([`RunRecord`], [`NodeInfo`]) and
//! the node's settings ([`ClusterConfig`]). The engine's side is in `scheduler::cluster`.
//!
//! The protocol, per engine round and store:
//! 1. [`ClusterStore::claim_due_tasks`] claims up to `limit` due tasks for this node with a
//!    lease and a new fence (a number that grows at every claim of a task);
//! 2. the node computes each task's run times and next fire time;
//! 3. [`ClusterStore::commit_fires`] commits each fire in one atomic step guarded by the
//!    fence: insert the run records (unique per task and scheduled run time), advance the
//!    next run time (or delete a finished task), clear the claim. A stale fence writes nothing;
//! 4. before a job starts, [`ClusterStore::start_run`] moves its record from `submitted` to
//!    `running` only while this node still owns it, so a node resumed after a pause past its
//!    lease never runs a fire another node has taken over.
//!
//! A node that dies between claim and commit leaves the next run time unadvanced: its claim
//! expires and another node fires the same scheduled time (nothing lost), and the unique run
//! key makes a second commit impossible (nothing duplicated).

mod claim;
mod config;
mod ledger;
mod node;
mod store;

pub use claim::{
    ClaimRequest, ClaimedRound, ClaimedTask, CommitResult, Fence, FireCommit, FireUpdate,
};
pub(crate) use config::host_name;
pub use config::ClusterConfig;
pub use ledger::{
    HistoryQuery, OnNodeDeath, RunFinish, RunKind, RunRecord, RunRef, RunState, RunTicket,
    SettleReason,
};
pub use node::{NodeInfo, NodeState};
pub use store::ClusterStore;
