//! The scheduler as a node of a cluster (`SchedulerBuilder::cluster`): joining and leaving
//! (`join`, `leave`), the engine's claim-then-commit round (`round.rs`), the heartbeat and
//! the handling of dead nodes (`maintain.rs`), and the ledger writer that moves run records
//! along as jobs start and finish (`ledger.rs`). The protocol is described in
//! [`crate::cluster`].

mod ledger;
mod maintain;
mod round;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use super::backends::BoundedStore;
use super::{lock, read, Scheduler};
use crate::cluster::{ClusterConfig, HistoryQuery, NodeInfo, RunRecord, RunState, SettleReason};
use crate::events::{ClusterEvent, Event, NODE_JOINED};
use crate::store::Store;
use crate::{Error, Result};

pub(crate) use ledger::LedgerWriter;
pub(crate) use maintain::maintain;

/// This process's node, while the scheduler runs in a cluster.
pub(crate) struct Node {
    pub(crate) id: String,
    pub(crate) config: ClusterConfig,
    pub(crate) info: NodeInfo,
    /// One ledger writer per store.
    writers: HashMap<String, Arc<LedgerWriter>>,
    /// The heartbeat loop.
    pub(crate) maintenance: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Node {
    pub(crate) fn writer(&self, store: &str) -> Option<&Arc<LedgerWriter>> {
        self.writers.get(store)
    }
}

impl Scheduler {
    /// The node this scheduler runs as, while it runs in a cluster.
    pub(crate) fn node(&self) -> Option<Arc<Node>> {
        lock(&self.inner.node).clone()
    }

    /// This scheduler's node id while it runs in a cluster (`None` otherwise).
    pub fn node_id(&self) -> Option<String> {
        self.node().map(|n| n.id.clone())
    }

    /// At start, with a cluster configured: refuses a store that cannot be shared, registers
    /// the node in every store and starts a ledger writer per store.
    pub(crate) async fn join_cluster(&self) -> Result<()> {
        let Some(config) = read(&self.inner.config).cluster.clone() else {
            return Ok(());
        };
        config.validate()?;
        let stores = self.inner.backends.stores();
        for store in &stores {
            if store.cluster_half().is_none() {
                return Err(Error::invalid(
                    "cluster",
                    format!(
                        "store '{}' ({}) cannot be shared by several schedulers; a cluster needs stores that can (sql, redis, mongodb)",
                        store.alias(),
                        store.kind()
                    ),
                ));
            }
        }
        let id = config.resolve_node_id();
        let info = NodeInfo::new(
            id.clone(),
            crate::cluster::host_name(),
            std::process::id(),
            self.inner.clock.now(),
        )
        .with_functions(self.inner.functions.names());
        let runtime = self.runtime_handle()?;
        let mut writers = HashMap::new();
        for store in &stores {
            let cluster = store.cluster_half().expect("checked above");
            let before = store
                .bounded_op("heartbeat", cluster.heartbeat(&info))
                .await
                .map_err(|e| {
                    Error::backend(
                        format!("store '{}'", store.alias()),
                        format!("cannot register node '{id}': {e}"),
                    )
                })?;
            if let Some(state) = before {
                self.settle_earlier_incarnation(store, cluster, &id, state)
                    .await?;
            }
            writers.insert(
                store.alias().to_owned(),
                LedgerWriter::spawn(Arc::clone(store), Arc::clone(&self.inner.clock), &runtime),
            );
        }
        log!(info, self, node = %id, stores = stores.len(), "joined the cluster");
        *lock(&self.inner.node) = Some(Arc::new(Node {
            id: id.clone(),
            config,
            info,
            writers,
            maintenance: Mutex::new(None),
        }));
        for store in &stores {
            if self.wants(NODE_JOINED) {
                self.dispatch_event(Event::Cluster(ClusterEvent::new(
                    NODE_JOINED,
                    id.clone(),
                    Some(store.alias()),
                )));
            }
        }
        Ok(())
    }

    /// A node starting under an id registered before (a restart with a fixed node id) is
    /// the earlier process's successor: the runs that process left are settled by their
    /// policy now, before this one fires anything, since no other node will ever find that
    /// id dead while this process heartbeats under it.
    async fn settle_earlier_incarnation(
        &self,
        store: &BoundedStore,
        cluster: &dyn crate::cluster::ClusterStore,
        id: &str,
        state: crate::cluster::NodeState,
    ) -> Result<()> {
        let now = self.inner.clock.now();
        let settled = store
            .bounded_op(
                "settle_runs_of",
                cluster.settle_runs_of(id, now, SettleReason::NodeRestarted),
            )
            .await
            .map_err(|e| {
                Error::backend(
                    format!("store '{}'", store.alias()),
                    format!(
                        "cannot settle the runs an earlier process with node id '{id}' left: {e}"
                    ),
                )
            })?;
        log!(info, self, node = %id, store = %store.alias(), was = state.as_str(), settled = settled.len(), "this node id was registered before: the earlier process's unfinished runs were settled by their on_node_death policy (two live processes must never share a node id)");
        if settled.iter().any(|r| r.state == RunState::Requested) {
            self.wakeup();
        }
        Ok(())
    }

    /// Starts the heartbeat loop (after the engine).
    pub(crate) fn start_maintenance(&self, runtime: &tokio::runtime::Handle) {
        if let Some(node) = self.node() {
            let handle = runtime.spawn(maintain(Arc::downgrade(&self.inner), Arc::clone(&node)));
            *lock(&node.maintenance) = Some(handle);
        }
    }

    /// At shutdown, once executors are drained: writes what the ledger writers still hold,
    /// settles this node's runs that never ran (shutdown without waiting) by their policy, and
    /// leaves the cluster, so no other node waits for this one's timeout.
    pub(crate) async fn leave_cluster(&self) {
        let Some(node) = lock(&self.inner.node).take() else {
            return;
        };
        if let Some(handle) = lock(&node.maintenance).take() {
            handle.abort();
        }
        for writer in node.writers.values() {
            writer.flush().await;
        }
        for store in self.inner.backends.stores() {
            let Some(cluster) = store.cluster_half() else {
                continue;
            };
            let now = self.inner.clock.now();
            let settle = cluster.settle_runs_of(&node.id, now, SettleReason::NodeLeaving);
            match store.bounded_op("settle_runs", settle).await {
                Ok(settled) if !settled.is_empty() => {
                    self.count_abandoned(&settled);
                    log!(warn, self, node = %node.id, store = %store.alias(), runs = settled.len(), "runs this node had not finished were settled by their on_node_death policy");
                }
                Ok(_) => {}
                Err(e) => {
                    log!(warn, self, node = %node.id, store = %store.alias(), error = %e, "cannot settle this node's unfinished runs; other nodes will once it times out");
                }
            }
            if let Err(e) = store.bounded_op("leave", cluster.leave(&node.id)).await {
                log!(warn, self, node = %node.id, store = %store.alias(), error = %e, "cannot leave the cluster cleanly; other nodes will mark this node dead after its timeout");
            }
        }
        log!(info, self, node = %node.id, "left the cluster");
    }

    /// The nodes registered in the scheduler's cluster stores (alive first), each once.
    pub async fn nodes(&self) -> Result<Vec<NodeInfo>> {
        let mut nodes: Vec<NodeInfo> = Vec::new();
        for store in cluster_stores(self) {
            let cluster = store.cluster_half().expect("cluster_stores");
            for node in store.bounded_op("list_nodes", cluster.list_nodes()).await? {
                if !nodes.iter().any(|n| n.node_id == node.node_id) {
                    nodes.push(node);
                }
            }
        }
        nodes.sort_by(|a, b| {
            (a.state != crate::cluster::NodeState::Alive, &a.node_id)
                .cmp(&(b.state != crate::cluster::NodeState::Alive, &b.node_id))
        });
        Ok(nodes)
    }

    /// Run records matching `query` across the scheduler's stores that keep a ledger, newest
    /// scheduled run time first.
    pub async fn history(&self, query: &HistoryQuery) -> Result<Vec<RunRecord>> {
        let mut runs = Vec::new();
        for store in cluster_stores(self) {
            let cluster = store.cluster_half().expect("cluster_stores");
            runs.extend(store.bounded_op("history", cluster.history(query)).await?);
        }
        runs.sort_by(|a, b| {
            (b.scheduled_run_time, &b.run_id).cmp(&(a.scheduled_run_time, &a.run_id))
        });
        runs.truncate(query.effective_limit());
        Ok(runs)
    }

    /// Asks the cluster to run `task_id` now: writes a `requested` run record (kind manual)
    /// that a live node takes at its next round, and returns it. Follow it with
    /// [`Scheduler::run_record`].
    pub async fn request_run(&self, task_id: &str) -> Result<RunRecord> {
        let mut holder = None;
        for store in cluster_stores(self) {
            if store.lookup_task(task_id).await?.is_some() {
                holder = Some(store);
                break;
            }
        }
        let Some(store) = holder else {
            return Err(Error::task_lookup(task_id));
        };
        let cluster = store.cluster_half().expect("cluster_stores");
        let now = self.inner.clock.now();
        let mut at = now;
        // The ledger's key is (task, scheduled time): a request in the same microsecond as
        // another run of the task moves on by a microsecond.
        for _ in 0..16 {
            let run = RunRecord::new(
                task_id,
                at,
                crate::cluster::RunKind::Manual,
                RunState::Requested,
                now,
            );
            match store
                .bounded_op("insert_run", cluster.insert_run(&run))
                .await
            {
                Ok(()) => {
                    self.wakeup();
                    return Ok(run);
                }
                Err(Error::ConflictRun { .. }) => at += chrono::Duration::microseconds(1),
                Err(e) => return Err(e),
            }
        }
        Err(Error::invalid(
            "task_id",
            format!("cannot record a run request for task {task_id:?}: too many runs at {now}"),
        ))
    }

    /// One run record by id, from the first store that has it.
    pub async fn run_record(&self, run_id: &str) -> Result<Option<RunRecord>> {
        for store in cluster_stores(self) {
            let cluster = store.cluster_half().expect("cluster_stores");
            if let Some(run) = store.bounded_op("get_run", cluster.get_run(run_id)).await? {
                return Ok(Some(run));
            }
        }
        Ok(None)
    }
}

/// The scheduler's stores that have a cluster half.
fn cluster_stores(scheduler: &Scheduler) -> Vec<Arc<BoundedStore>> {
    scheduler
        .inner
        .backends
        .stores()
        .into_iter()
        .filter(|s| s.cluster_half().is_some())
        .collect()
}

/// `now + d`, saturating.
pub(crate) fn after(now: DateTime<Utc>, d: std::time::Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}
