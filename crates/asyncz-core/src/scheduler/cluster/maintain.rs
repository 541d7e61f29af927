//! The node's background loops, every `heartbeat_interval`: the heartbeat refreshes this
//! node's registration in each store; the housekeeping warns when this host's clock and the
//! store's disagree, marks nodes that stopped heartbeating dead and settles their unfinished
//! runs (`on_node_death`), announces nodes that joined, and — on the live node with the
//! smallest id — prunes the run ledger.

use std::collections::HashSet;
use std::sync::{Arc, Weak};
use std::time::Duration;

use super::super::backends::BoundedStore;
use super::super::{Inner, Scheduler};
use super::Node;
use crate::cluster::{ClusterStore, NodeState, RunState, SettleReason};
use crate::events::{ClusterEvent, Event, NODE_DEAD, NODE_JOINED, RUN_ABANDONED};

/// A node warns when its clock and the store's differ by more than this.
const MAX_SKEW: Duration = Duration::from_secs(1);

/// What the loop remembers between rounds.
#[derive(Default)]
struct Memory {
    /// Nodes already announced with `NODE_JOINED`.
    known: HashSet<String>,
    /// When the ledger was last pruned (loop time).
    last_prune: Option<tokio::time::Instant>,
    /// Whether the clock skew warning is showing (warn once per episode).
    skewed: bool,
}

/// The loops spawned at start: the heartbeat, and the housekeeping (dead nodes, joins,
/// pruning). They run side by side so that a slow settle or prune never delays a heartbeat
/// past the node timeout (which would get this node declared dead). Hold the scheduler
/// weakly; end at shutdown (aborted) or when every `Scheduler` handle is gone.
pub(crate) async fn maintain(weak: Weak<Inner>, node: Arc<Node>) {
    tokio::join!(heartbeat(weak.clone(), &node), housekeeping(weak, &node));
}

async fn heartbeat(weak: Weak<Inner>, node: &Node) {
    loop {
        tokio::time::sleep(node.config.heartbeat_interval).await;
        let Some(inner) = weak.upgrade() else { return };
        let scheduler = Scheduler { inner };
        for store in scheduler.inner.backends.stores() {
            if let Some(cluster) = store.cluster_half() {
                scheduler.beat(node, &store, cluster).await;
            }
        }
    }
}

async fn housekeeping(weak: Weak<Inner>, node: &Node) {
    let mut memory = Memory::default();
    memory.known.insert(node.id.clone());
    loop {
        tokio::time::sleep(node.config.heartbeat_interval).await;
        let Some(inner) = weak.upgrade() else { return };
        let scheduler = Scheduler { inner };
        for store in scheduler.inner.backends.stores() {
            if let Some(cluster) = store.cluster_half() {
                scheduler
                    .maintain_store(node, &store, cluster, &mut memory)
                    .await;
            }
        }
        let prune_due = memory
            .last_prune
            .is_none_or(|at| at.elapsed() >= node.config.prune_interval);
        if prune_due {
            memory.last_prune = Some(tokio::time::Instant::now());
        }
    }
}

impl Scheduler {
    async fn beat(&self, node: &Node, store: &BoundedStore, cluster: &dyn ClusterStore) {
        // Functions registered after the join are published with the next heartbeat.
        let refreshed = node
            .info
            .clone()
            .with_functions(self.inner.functions.names());
        let beat = store
            .bounded_op("heartbeat", cluster.heartbeat(&refreshed))
            .await;
        self.inner
            .observed
            .heartbeat(&node.id, store.alias(), beat.is_ok());
        match beat {
            Ok(Some(NodeState::Dead)) => {
                log!(warn, self, node = %node.id, store = %store.alias(), "this node was declared dead while it could not heartbeat (a pause or a network cut past the node timeout); runs other nodes settled meanwhile are not run here; rejoining");
            }
            Ok(_) => {}
            Err(e) => {
                log!(warn, self, node = %node.id, store = %store.alias(), error = %e, "heartbeat failed; retrying at the next interval");
            }
        }
    }

    async fn maintain_store(
        &self,
        node: &Node,
        store: &BoundedStore,
        cluster: &dyn ClusterStore,
        memory: &mut Memory,
    ) {
        let alias = store.alias();
        self.check_skew(store, cluster, memory).await;
        match store
            .bounded_op(
                "mark_dead_nodes",
                cluster.mark_dead_nodes(node.config.node_timeout),
            )
            .await
        {
            Ok(dead) => {
                for gone in dead {
                    log!(warn, self, node = %gone.node_id, host = %gone.host, pid = gone.pid, store = %alias, "node stopped heartbeating; marked dead");
                    if self.wants(NODE_DEAD) {
                        self.dispatch_event(Event::Cluster(ClusterEvent::new(
                            NODE_DEAD,
                            gone.node_id.clone(),
                            Some(alias),
                        )));
                    }
                    self.settle(store, cluster, &gone.node_id).await;
                }
            }
            Err(e) => {
                log!(warn, self, store = %alias, error = %e, "cannot look for dead nodes; retrying at the next interval");
            }
        }
        let prune_due = memory
            .last_prune
            .is_none_or(|at| at.elapsed() >= node.config.prune_interval);
        let nodes = match store.bounded_op("list_nodes", cluster.list_nodes()).await {
            Ok(nodes) => nodes,
            Err(e) => {
                log!(debug, self, store = %alias, error = %e, "cannot list nodes");
                return;
            }
        };
        for other in &nodes {
            if other.state == NodeState::Alive && memory.known.insert(other.node_id.clone()) {
                log!(info, self, node = %other.node_id, host = %other.host, pid = other.pid, store = %alias, "node joined the cluster");
                if self.wants(NODE_JOINED) {
                    self.dispatch_event(Event::Cluster(ClusterEvent::new(
                        NODE_JOINED,
                        other.node_id.clone(),
                        Some(alias),
                    )));
                }
            }
        }
        if !prune_due {
            return;
        }
        // A node that marked another dead may itself have died before settling its runs:
        // settling is idempotent, so every dead node is looked at again now and then.
        for gone in nodes.iter().filter(|n| n.state == NodeState::Dead) {
            memory.known.remove(&gone.node_id);
            self.settle(store, cluster, &gone.node_id).await;
        }
        let pruner = nodes
            .iter()
            .filter(|n| n.state == NodeState::Alive)
            .map(|n| n.node_id.as_str())
            .min();
        if pruner == Some(node.id.as_str()) {
            let max_age = chrono::Duration::from_std(node.config.history_max_age)
                .unwrap_or(chrono::Duration::MAX);
            let now = self.inner.clock.now();
            let older_than = now.checked_sub_signed(max_age).unwrap_or(now);
            match store
                .bounded_op(
                    "prune_runs",
                    cluster.prune_runs(older_than, node.config.history_max_runs),
                )
                .await
            {
                Ok(0) => {}
                Ok(n) => log!(debug, self, store = %alias, pruned = n, "pruned the run ledger"),
                Err(e) => {
                    log!(warn, self, store = %alias, error = %e, "cannot prune the run ledger")
                }
            }
            // Nodes dead for as long as history is kept leave the registry (their runs were
            // settled above, again and again): ids that change at every start do not pile up.
            match store
                .bounded_op(
                    "forget_dead_nodes",
                    cluster.forget_dead_nodes(node.config.history_max_age),
                )
                .await
            {
                Ok(0) => {}
                Ok(n) => {
                    log!(debug, self, store = %alias, forgotten = n, "removed long-dead nodes from the registry")
                }
                Err(e) => {
                    log!(warn, self, store = %alias, error = %e, "cannot remove long-dead nodes from the registry")
                }
            }
        }
    }

    /// Counts the runs a settling left `abandoned` (metric `asyncz_runs_total{outcome}`).
    pub(crate) fn count_abandoned(&self, settled: &[crate::cluster::RunRecord]) {
        let label = self.inner.observed.runs.task_label();
        let handles = self.inner.observed.runs.handles();
        for run in settled.iter().filter(|r| r.state == RunState::Abandoned) {
            let task: Arc<str> = Arc::from(run.task_id.as_str());
            handles.run_counted(
                crate::metrics::OutcomeLabel::Abandoned,
                label.then_some(&task),
            );
        }
    }

    /// Settles a dead node's unfinished runs (unless it came back meanwhile) and reports
    /// each.
    async fn settle(&self, store: &BoundedStore, cluster: &dyn ClusterStore, dead: &str) {
        let now = self.inner.clock.now();
        let settle = cluster.settle_runs_of(dead, now, SettleReason::NodeDead);
        let settled = match store.bounded_op("settle_runs", settle).await {
            Ok(settled) => settled,
            Err(e) => {
                log!(warn, self, node = %dead, store = %store.alias(), error = %e, "cannot settle the runs of a dead node; retrying later");
                return;
            }
        };
        self.count_abandoned(&settled);
        let mut rerun = false;
        for run in settled {
            rerun |= run.state == RunState::Requested;
            log!(warn, self, node = %dead, task = ?run.task_id, run = %run.run_id, scheduled_run_time = %run.scheduled_run_time, state = %run.state, "settled a run left by a dead node");
            if self.wants(RUN_ABANDONED) {
                self.dispatch_event(Event::Cluster(
                    ClusterEvent::new(RUN_ABANDONED, dead, Some(store.alias())).with_run(run),
                ));
            }
        }
        if rerun {
            self.wakeup();
        }
    }

    async fn check_skew(
        &self,
        store: &BoundedStore,
        cluster: &dyn ClusterStore,
        memory: &mut Memory,
    ) {
        let Ok(store_now) = store.bounded_op("store_time", cluster.store_time()).await else {
            return;
        };
        let ours = self.inner.clock.now();
        let skew = (ours - store_now).abs().to_std().unwrap_or(Duration::MAX);
        if skew > MAX_SKEW {
            if !memory.skewed {
                log!(warn, self, store = %store.alias(), skew_ms = skew.as_millis() as u64, node_clock = %ours, store_clock = %store_now, "this host's clock differs from the store's; leases and heartbeats follow the store's clock, due times this host's");
            }
            memory.skewed = true;
        } else {
            memory.skewed = false;
        }
    }
}
