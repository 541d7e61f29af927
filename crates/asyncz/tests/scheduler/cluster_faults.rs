//! Cluster mode when the store's answers get lost: a commit the store made but whose answer
//! never reached the node (a dropped connection after COMMIT, a timeout). The node must find
//! out by reading and run the fire once — not lose it, not run it twice.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use asyncz::async_trait;
use asyncz::chrono::{DateTime, Utc};
use asyncz::cluster::{
    ClaimRequest, ClaimedTask, ClusterConfig, ClusterStore, CommitResult, FireCommit, HistoryQuery,
    NodeInfo, NodeState, RunFinish, RunKind, RunRecord, RunRef, RunState, SettleReason,
};
use asyncz::{CallContext, Error, IntervalTrigger, Store, StoreContext, Task, TaskBuilder};

/// A SQL store whose first `lose` commits are made but answered with an error.
#[derive(Debug)]
struct LostAnswers {
    inner: asyncz::SqlStore,
    lose: AtomicU32,
}

impl LostAnswers {
    fn cluster(&self) -> &dyn ClusterStore {
        self.inner
            .cluster()
            .expect("the SQL store is a cluster store")
    }
}

#[async_trait]
impl Store for LostAnswers {
    fn kind(&self) -> &'static str {
        "lost-answers"
    }
    fn is_persistent(&self) -> bool {
        true
    }
    async fn start(&self, ctx: StoreContext) -> asyncz::Result<()> {
        self.inner.start(ctx).await
    }
    async fn shutdown(&self) -> asyncz::Result<()> {
        self.inner.shutdown().await
    }
    async fn lookup_task(&self, id: &str) -> asyncz::Result<Option<Task>> {
        self.inner.lookup_task(id).await
    }
    async fn get_due_tasks(&self, now: DateTime<Utc>) -> asyncz::Result<Vec<Task>> {
        self.inner.get_due_tasks(now).await
    }
    async fn get_next_run_time(&self) -> asyncz::Result<Option<DateTime<Utc>>> {
        self.inner.get_next_run_time().await
    }
    async fn get_all_tasks(&self) -> asyncz::Result<Vec<Task>> {
        self.inner.get_all_tasks().await
    }
    async fn add_task(&self, task: &Task) -> asyncz::Result<()> {
        self.inner.add_task(task).await
    }
    async fn update_task(&self, task: &Task) -> asyncz::Result<()> {
        self.inner.update_task(task).await
    }
    async fn delete_task(&self, id: &str) -> asyncz::Result<()> {
        self.inner.delete_task(id).await
    }
    async fn remove_all_tasks(&self) -> asyncz::Result<()> {
        self.inner.remove_all_tasks().await
    }
    fn cluster(&self) -> Option<&dyn ClusterStore> {
        Some(self)
    }
}

#[async_trait]
impl ClusterStore for LostAnswers {
    async fn store_time(&self) -> asyncz::Result<DateTime<Utc>> {
        self.cluster().store_time().await
    }
    async fn claim_due_tasks(&self, request: ClaimRequest<'_>) -> asyncz::Result<Vec<ClaimedTask>> {
        self.cluster().claim_due_tasks(request).await
    }
    async fn renew_claims(
        &self,
        node: &str,
        claims: &[ClaimedTask],
        lease: Duration,
    ) -> asyncz::Result<Vec<String>> {
        self.cluster().renew_claims(node, claims, lease).await
    }
    async fn release_claims(&self, node: &str, claims: &[ClaimedTask]) -> asyncz::Result<()> {
        self.cluster().release_claims(node, claims).await
    }
    async fn commit_fires(
        &self,
        node: &str,
        fires: &[FireCommit],
    ) -> asyncz::Result<Vec<CommitResult>> {
        let results = self.cluster().commit_fires(node, fires).await?;
        let lost = self
            .lose
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if lost {
            return Err(Error::backend(
                "store 'default'",
                "connection reset by peer",
            ));
        }
        Ok(results)
    }
    async fn insert_run(&self, run: &RunRecord) -> asyncz::Result<()> {
        self.cluster().insert_run(run).await
    }
    async fn claim_run_requests(&self, node: &str, limit: usize) -> asyncz::Result<Vec<RunRecord>> {
        self.cluster().claim_run_requests(node, limit).await
    }
    async fn start_run(&self, run: &RunRef, started_at: DateTime<Utc>) -> asyncz::Result<bool> {
        self.cluster().start_run(run, started_at).await
    }
    async fn finish_run(&self, run: &RunRef, finish: &RunFinish) -> asyncz::Result<bool> {
        self.cluster().finish_run(run, finish).await
    }
    async fn get_run(&self, run_id: &str) -> asyncz::Result<Option<RunRecord>> {
        self.cluster().get_run(run_id).await
    }
    async fn history(&self, query: &HistoryQuery) -> asyncz::Result<Vec<RunRecord>> {
        self.cluster().history(query).await
    }
    async fn prune_runs(&self, older_than: DateTime<Utc>, keep: usize) -> asyncz::Result<u64> {
        self.cluster().prune_runs(older_than, keep).await
    }
    async fn heartbeat(&self, node: &NodeInfo) -> asyncz::Result<Option<NodeState>> {
        self.cluster().heartbeat(node).await
    }
    async fn list_nodes(&self) -> asyncz::Result<Vec<NodeInfo>> {
        self.cluster().list_nodes().await
    }
    async fn mark_dead_nodes(&self, timeout: Duration) -> asyncz::Result<Vec<NodeInfo>> {
        self.cluster().mark_dead_nodes(timeout).await
    }
    async fn settle_runs_of(
        &self,
        node_id: &str,
        now: DateTime<Utc>,
        reason: SettleReason,
    ) -> asyncz::Result<Vec<RunRecord>> {
        self.cluster().settle_runs_of(node_id, now, reason).await
    }
    async fn leave(&self, node_id: &str) -> asyncz::Result<()> {
        self.cluster().leave(node_id).await
    }
    async fn forget_dead_nodes(&self, dead_for: Duration) -> asyncz::Result<u64> {
        self.cluster().forget_dead_nodes(dead_for).await
    }
}

/// Every call, as (scheduled run time, run id).
type Calls = Arc<Mutex<Vec<(DateTime<Utc>, String)>>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fire_whose_commit_answer_was_lost_runs_once() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("lost.db").display());
    let store = LostAnswers {
        inner: asyncz::SqlStore::new(asyncz::SqlStoreConfig::new(url)).unwrap(),
        lose: AtomicU32::new(1),
    };
    let scheduler = asyncz::builder()
        .store("default", store)
        .cluster(
            ClusterConfig::new()
                .node_id("a")
                .poll_interval(Duration::from_millis(50)),
        )
        .build()
        .unwrap();
    let calls: Calls = Arc::default();
    let c = Arc::clone(&calls);
    scheduler
        .register("tick", move |ctx: CallContext| {
            let run = ctx.run.clone().expect("a cluster run carries its ticket");
            c.lock().unwrap().push((ctx.scheduled_run_time, run.run_id));
        })
        .unwrap();
    scheduler.start().await.unwrap();
    let first = Utc::now() + asyncz::chrono::Duration::milliseconds(200);
    scheduler
        .add_task(
            TaskBuilder::new()
                .id("t")
                .function("tick")
                .trigger(IntervalTrigger::new().seconds(3600).start_at(first)),
        )
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while calls.lock().unwrap().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the fire whose commit answer was lost never ran"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    // Past the lease of the first claim: a fire not found committed would be retried now.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let calls = calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 1, "{calls:?}");
    let history = scheduler
        .history(&HistoryQuery::new().task("t"))
        .await
        .unwrap();
    let recorded: Vec<(DateTime<Utc>, String, RunState)> = history
        .into_iter()
        .map(|r| (r.scheduled_run_time, r.run_id, r.state))
        .collect();
    assert_eq!(
        recorded,
        [(calls[0].0, calls[0].1.clone(), RunState::Succeeded)],
        "one record, the run that ran"
    );
    scheduler.shutdown(true).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_commit_answer_with_a_colliding_first_run_still_runs_the_other_runs() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("lost.db").display());
    let store = LostAnswers {
        inner: asyncz::SqlStore::new(asyncz::SqlStoreConfig::new(url)).unwrap(),
        lose: AtomicU32::new(1),
    };
    let scheduler = asyncz::builder()
        .store("default", store)
        .cluster(
            ClusterConfig::new()
                .node_id("a")
                .poll_interval(Duration::from_millis(50)),
        )
        .build()
        .unwrap();
    let calls: Calls = Arc::default();
    let c = Arc::clone(&calls);
    scheduler
        .register("tick", move |ctx: CallContext| {
            let run = ctx.run.clone().expect("a cluster run carries its ticket");
            c.lock().unwrap().push((ctx.scheduled_run_time, run.run_id));
        })
        .unwrap();
    scheduler.start().await.unwrap();
    // A backlog of three fire times, not coalesced: one fire with three runs. The first of
    // them is in the ledger already (an earlier manual run at that time), so the commit
    // leaves it out and stores the other two.
    let first =
        asyncz::truncate_to_micros(Utc::now() - asyncz::chrono::Duration::milliseconds(2500));
    let last = first + asyncz::chrono::Duration::seconds(2);
    let earlier = RunRecord::new("t", first, RunKind::Manual, RunState::Succeeded, Utc::now());
    scheduler
        .lookup_store("default")
        .unwrap()
        .cluster()
        .unwrap()
        .insert_run(&earlier)
        .await
        .unwrap();
    scheduler
        .add_task(
            TaskBuilder::new()
                .id("t")
                .function("tick")
                .coalesce(false)
                .mistrigger_grace_time(None)
                .max_instances(5)
                .next_run_time(first)
                .trigger(
                    IntervalTrigger::new()
                        .seconds(1)
                        .start_at(first)
                        .end_at(last),
                ),
        )
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while calls.lock().unwrap().len() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the runs of a fire whose commit answer was lost never ran: {:?}",
            calls.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut ran: Vec<DateTime<Utc>> = calls.lock().unwrap().iter().map(|(at, _)| *at).collect();
    ran.sort();
    let second = first + asyncz::chrono::Duration::seconds(1);
    assert_eq!(
        ran,
        [second, last],
        "each committed run once, the earlier record's time not again"
    );
    let history = scheduler
        .history(&HistoryQuery::new().task("t"))
        .await
        .unwrap();
    let mut recorded: Vec<(DateTime<Utc>, RunState)> = history
        .into_iter()
        .map(|r| (r.scheduled_run_time, r.state))
        .collect();
    recorded.reverse();
    assert_eq!(
        recorded,
        [
            (first, RunState::Succeeded),
            (second, RunState::Succeeded),
            (last, RunState::Succeeded)
        ]
    );
    scheduler.shutdown(true).await.unwrap();
}
