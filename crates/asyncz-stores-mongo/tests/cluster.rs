//! The MongoDB store runs the asyncz-testkit cluster suite (the `# Behavior` bullets of
//! `ClusterStore`) when `ASYNCZ_TEST_MONGO_URL` is set (`cargo xtask test-backends` and CI set
//! it). Two "nodes" of a case are two stores over the same collection, each with its own
//! client.
#![allow(clippy::unwrap_used)]

use std::time::Instant;

use asyncz_core::chrono::Utc;
use asyncz_core::cluster::{
    ClaimRequest, CommitResult, FireCommit, FireUpdate, HistoryQuery, RunKind, RunRecord, RunRef,
    RunState, SettleReason,
};
use asyncz_core::{async_trait, Result, Store};
use asyncz_stores_mongo::{MongoStore, MongoStoreConfig};
use asyncz_testkit::{sample_task, store_context, t0, Capabilities, StoreHarness};

/// MongoDB stores, each data set in a collection of its own (with its `_runs` and `_nodes`).
struct Mongo {
    url: String,
    database: String,
}

#[async_trait]
impl StoreHarness for Mongo {
    type Store = MongoStore;
    fn name(&self) -> String {
        "mongo (cluster)".to_owned()
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            persistent: true,
            corruptible: true,
            max_id_len: None,
        }
    }
    async fn open(&self, n: usize) -> Result<MongoStore> {
        Ok(MongoStore::new(
            MongoStoreConfig::new(&self.url)
                .database(self.database.clone())
                .collection(format!("tasks_{n}")),
        ))
    }
    async fn corrupt_record(&self, store: &MongoStore, task_id: &str) -> Result<()> {
        store.write_raw_state(task_id, b"\x00not a task").await
    }
    async fn record_exists(&self, store: &MongoStore, task_id: &str) -> Result<bool> {
        store.record_exists(task_id).await
    }
    async fn clean_up(&self, store: &MongoStore) -> Result<()> {
        store.drop_collection().await
    }
}

fn mongo_url() -> Option<String> {
    match std::env::var("ASYNCZ_TEST_MONGO_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            println!(
                "skipping: ASYNCZ_TEST_MONGO_URL is not set (cargo xtask test-backends sets it)"
            );
            None
        }
    }
}

#[tokio::test]
async fn mongo_passes_the_cluster_suite() {
    let Some(url) = mongo_url() else { return };
    let harness = Mongo {
        url,
        database: format!("asyncz_cluster_{}", std::process::id()),
    };
    let began = Instant::now();
    let report = asyncz_testkit::run_cluster_suite(&harness).await;
    println!("{report}took {:?}", began.elapsed());
    report.assert_passed();
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
}

/// A store started on its own database, for the cases below.
async fn started(url: &str, name: &str) -> MongoStore {
    let store = MongoStore::new(
        MongoStoreConfig::new(url).database(format!("asyncz_{name}_{}", std::process::id())),
    );
    store.start(store_context()).await.unwrap();
    store
}

/// The run ledger and node registry live beside the tasks, and go with them.
#[tokio::test]
async fn drop_collection_drops_the_ledger_and_the_registry_too() {
    let Some(url) = mongo_url() else { return };
    let store = started(&url, "beside").await;
    let c = store.cluster().unwrap();
    let run = RunRecord::new("t", t0(), RunKind::Manual, RunState::Requested, Utc::now());
    c.insert_run(&run).await.unwrap();
    assert!(c.get_run(&run.run_id).await.unwrap().is_some());
    store.drop_collection().await.unwrap();
    assert!(c.get_run(&run.run_id).await.unwrap().is_none());
    assert!(c.history(&HistoryQuery::new()).await.unwrap().is_empty());
}

/// A fire whose runs belong to another task writes nothing and is not committed.
#[tokio::test]
async fn a_fire_carrying_another_tasks_run_is_not_committed() {
    let Some(url) = mongo_url() else { return };
    let store = started(&url, "foreign").await;
    let c = store.cluster().unwrap();
    store.add_task(&sample_task("t", Some(t0()))).await.unwrap();
    let claims = c
        .claim_due_tasks(ClaimRequest::new(
            "n",
            t0(),
            std::time::Duration::from_secs(60),
            1,
        ))
        .await
        .unwrap();
    let foreign = RunRecord::new("u", t0(), RunKind::Scheduled, RunState::Submitted, t0())
        .with_owner("n", claims[0].fence);
    let fire = FireCommit::new("t", claims[0].fence, FireUpdate::Remove).with_runs(vec![foreign]);
    let results = c.commit_fires("n", &[fire]).await.unwrap();
    assert_eq!(results, [CommitResult::Stale]);
    assert!(store.lookup_task("t").await.unwrap().is_some());
    assert!(c.history(&HistoryQuery::new()).await.unwrap().is_empty());
    store.drop_collection().await.unwrap();
}

/// A node that died (or paused past its lease) after inserting a fire's run but before
/// advancing the task leaves an orphaned record: the next claimant's fire of the same
/// scheduled time replaces it instead of leaving the fire unrun, while a record of a commit
/// that completed is never replaced (the suite's `a_run_already_in_the_ledger_...`).
#[tokio::test]
async fn a_refire_replaces_the_run_of_a_fire_that_never_committed() {
    let Some(url) = mongo_url() else { return };
    let store = started(&url, "orphan").await;
    let c = store.cluster().unwrap();
    store.add_task(&sample_task("t", Some(t0()))).await.unwrap();
    let short = std::time::Duration::from_millis(200);
    let dead = c
        .claim_due_tasks(ClaimRequest::new("dead", t0(), short, 1))
        .await
        .unwrap();
    // The dead node's half of its fire: the run is in, the task never advanced.
    let orphan = RunRecord::new("t", t0(), RunKind::Scheduled, RunState::Submitted, t0())
        .with_owner("dead", dead[0].fence);
    c.insert_run(&orphan).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let live = c
        .claim_due_tasks(ClaimRequest::new("live", t0(), short * 100, 1))
        .await
        .unwrap();
    assert!(live[0].fence > dead[0].fence);
    let run = RunRecord::new("t", t0(), RunKind::Scheduled, RunState::Submitted, t0())
        .with_owner("live", live[0].fence);
    let task = live[0]
        .task
        .clone()
        .with_next_run_time(Some(t0() + asyncz_core::chrono::Duration::minutes(1)));
    let fire = FireCommit::new("t", live[0].fence, FireUpdate::Reschedule(Box::new(task)))
        .with_runs(vec![run.clone()]);
    let results = c.commit_fires("live", &[fire]).await.unwrap();
    assert_eq!(results, [CommitResult::Committed(vec![run.clone()])]);
    let ledger = c.history(&HistoryQuery::new().task("t")).await.unwrap();
    assert_eq!(ledger, [run]);
    // The dead node's late commit is stale, and writes nothing.
    let late = FireCommit::new("t", dead[0].fence, FireUpdate::Remove).with_runs(vec![orphan]);
    assert_eq!(
        c.commit_fires("dead", &[late]).await.unwrap(),
        [CommitResult::Stale]
    );
    assert_eq!(
        c.history(&HistoryQuery::new().task("t"))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(store.lookup_task("t").await.unwrap().is_some());
    store.drop_collection().await.unwrap();
}

/// An orphan settled before anyone re-fired its time (its node found dead first, the run
/// abandoned though it never started) is still replaced by the next claimant's fire: the
/// run never ran, and the scheduled time is not lost.
#[tokio::test]
async fn a_refire_replaces_an_orphan_abandoned_before_it_started() {
    let Some(url) = mongo_url() else { return };
    let store = started(&url, "orphan_abandoned").await;
    let c = store.cluster().unwrap();
    store.add_task(&sample_task("t", Some(t0()))).await.unwrap();
    let short = std::time::Duration::from_millis(200);
    let dead = c
        .claim_due_tasks(ClaimRequest::new("dead", t0(), short, 1))
        .await
        .unwrap();
    let orphan = RunRecord::new("t", t0(), RunKind::Scheduled, RunState::Submitted, t0())
        .with_owner("dead", dead[0].fence);
    c.insert_run(&orphan).await.unwrap();
    let settled = c
        .settle_runs_of("dead", t0(), SettleReason::NodeDead)
        .await
        .unwrap();
    assert_eq!(settled.len(), 1);
    assert_eq!(settled[0].state, RunState::Abandoned);
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let live = c
        .claim_due_tasks(ClaimRequest::new("live", t0(), short * 100, 1))
        .await
        .unwrap();
    let run = RunRecord::new("t", t0(), RunKind::Scheduled, RunState::Submitted, t0())
        .with_owner("live", live[0].fence);
    let task = live[0]
        .task
        .clone()
        .with_next_run_time(Some(t0() + asyncz_core::chrono::Duration::minutes(1)));
    let fire = FireCommit::new("t", live[0].fence, FireUpdate::Reschedule(Box::new(task)))
        .with_runs(vec![run.clone()]);
    assert_eq!(
        c.commit_fires("live", &[fire]).await.unwrap(),
        [CommitResult::Committed(vec![run.clone()])]
    );
    assert_eq!(
        c.history(&HistoryQuery::new().task("t")).await.unwrap(),
        [run]
    );
    store.drop_collection().await.unwrap();
}

/// `start_runs` writes a batch in one round trip and answers, per run, whether this call
/// started it, as `start_run` would.
#[tokio::test]
async fn start_runs_answers_per_run_as_start_run_would() {
    let Some(url) = mongo_url() else { return };
    let store = started(&url, "starts").await;
    let c = store.cluster().unwrap();
    for second in 0..3 {
        let time = t0() + asyncz_core::chrono::Duration::seconds(second);
        let run = RunRecord::new("t", time, RunKind::Manual, RunState::Requested, Utc::now());
        c.insert_run(&run).await.unwrap();
    }
    let taken = c.claim_run_requests("a", 3).await.unwrap();
    let refs: Vec<RunRef> = taken.iter().map(|r| r.as_ref().unwrap()).collect();
    let wrong_attempt = RunRef {
        attempt: 2,
        ..refs[1].clone()
    };
    let missing = RunRef {
        run_id: "no-such-run".into(),
        ..refs[0].clone()
    };
    let at = t0() + asyncz_core::chrono::Duration::microseconds(1_234_567);
    let batch = [refs[0].clone(), wrong_attempt, refs[2].clone(), missing];
    assert_eq!(
        c.start_runs(&batch, at).await.unwrap(),
        [true, false, true, false]
    );
    for (run, running) in [(&refs[0], true), (&refs[1], false), (&refs[2], true)] {
        let stored = c.get_run(&run.run_id).await.unwrap().unwrap();
        if running {
            assert_eq!(
                (stored.state, stored.started_at),
                (RunState::Running, Some(at))
            );
        } else {
            assert_eq!(
                (stored.state, stored.started_at),
                (RunState::Submitted, None)
            );
        }
    }
    let later = at + asyncz_core::chrono::Duration::seconds(1);
    assert_eq!(
        c.start_runs(&refs, later).await.unwrap(),
        [true, true, true],
        "a retried start answers true for its owner"
    );
    let first = c.get_run(&refs[0].run_id).await.unwrap().unwrap();
    assert_eq!(
        first.started_at,
        Some(at),
        "a retried start keeps the first start time"
    );
    assert!(c.start_runs(&[], at).await.unwrap().is_empty());
    store.drop_collection().await.unwrap();
}
