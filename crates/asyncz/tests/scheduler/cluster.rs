//! Cluster mode through the public API: several schedulers (nodes) in this process share one
//! SQLite file, as processes on one host would. The store half of the protocol is checked by
//! the testkit's cluster suite against every backend; these tests check what the nodes do
//! with it: each fire once, run requests, dead nodes' runs, leaving.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use asyncz::chrono::{DateTime, Utc};
use asyncz::cluster::{
    ClaimRequest, ClusterConfig, HistoryQuery, NodeInfo, NodeState, OnNodeDeath, RunKind,
    RunRecord, RunState,
};
use asyncz::events::*;
use asyncz::{CallContext, IntervalTrigger, Scheduler, Store, TaskBuilder};
use serde_json::json;

/// Fast settings so a test sees leases expire and nodes die within a second or two.
fn fast() -> ClusterConfig {
    ClusterConfig::new()
        .lease(Duration::from_millis(600))
        .heartbeat_interval(Duration::from_millis(100))
        .node_timeout(Duration::from_millis(400))
        .poll_interval(Duration::from_millis(50))
}

fn node(db: &std::path::Path, id: &str, config: ClusterConfig) -> Scheduler {
    let stores = json!({
        "asyncz.stores.default": {"type": "sql", "url": format!("sqlite://{}", db.display())},
    });
    asyncz::builder()
        .config(stores.as_object().cloned().unwrap())
        .cluster(config.node_id(id))
        .build()
        .unwrap()
}

/// Every call of the function, as (task, scheduled run time, node, attempt).
type Calls = Arc<Mutex<Vec<(String, DateTime<Utc>, String, u32)>>>;

fn register(scheduler: &Scheduler, calls: &Calls) {
    let calls = Arc::clone(calls);
    scheduler
        .register("tick", move |ctx: CallContext| {
            let run = ctx.run.clone().expect("a cluster run carries its ticket");
            calls.lock().unwrap().push((
                ctx.task_id.clone(),
                ctx.scheduled_run_time,
                run.node,
                run.attempt,
            ));
        })
        .unwrap();
}

async fn wait_for(what: &str, timeout: Duration, mut done: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + timeout;
    while !done().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn a_cluster_scheduler_refuses_a_store_that_cannot_be_shared() {
    let scheduler = asyncz::builder()
        .cluster(ClusterConfig::default())
        .build()
        .unwrap();
    let err = scheduler.start().await.unwrap_err().to_string();
    assert!(
        err.contains("store 'default' (memory) cannot be shared"),
        "{err}"
    );
    assert!(!scheduler.running());
}

#[test]
fn bad_cluster_settings_fail_the_build_naming_the_field() {
    let err = asyncz::builder()
        .cluster(
            ClusterConfig::new()
                .heartbeat_interval(Duration::from_secs(20))
                .node_timeout(Duration::from_secs(15)),
        )
        .build()
        .unwrap_err()
        .to_string();
    assert!(err.contains("cluster.heartbeat_interval"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_fire_each_scheduled_time_once_and_record_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cluster.db");
    let calls: Calls = Arc::default();
    // No node dies here: leases and the node timeout are long, so a node slowed down by a
    // loaded machine is never declared dead (that would abandon its runs and break the count
    // of records below); the nodes still race for every fire each 50 ms poll.
    let steady = fast()
        .lease(Duration::from_secs(10))
        .node_timeout(Duration::from_secs(10));
    let nodes: Vec<Scheduler> = ["a", "b", "c"]
        .iter()
        .map(|id| node(&db, id, steady.clone()))
        .collect();
    for n in &nodes {
        register(n, &calls);
        n.start().await.unwrap();
    }
    for i in 0..5 {
        nodes[0]
            .add_task(
                TaskBuilder::new()
                    .id(format!("every-100ms-{i}"))
                    .function("tick")
                    .trigger(IntervalTrigger::new().every(Duration::from_millis(100))),
            )
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for n in &nodes {
        n.pause().unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    let calls = calls.lock().unwrap().clone();
    let mut seen: HashMap<(String, DateTime<Utc>), usize> = HashMap::new();
    for (task, at, _, _) in &calls {
        *seen.entry((task.clone(), *at)).or_default() += 1;
    }
    let duplicated: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(duplicated.is_empty(), "fired twice: {duplicated:?}");
    // Three nodes take turns on one SQLite write lock: some fire times coalesce; none may run
    // twice.
    assert!(calls.len() >= 5 * 3, "only {} fires in 1.5 s", calls.len());
    let by_node: std::collections::HashSet<&str> =
        calls.iter().map(|(_, _, node, _)| node.as_str()).collect();
    assert!(by_node.len() >= 2, "one node did everything: {by_node:?}");

    let history = nodes[1]
        .history(&HistoryQuery::new().limit(10_000))
        .await
        .unwrap();
    let succeeded: Vec<_> = history
        .iter()
        .filter(|r| r.state == RunState::Succeeded)
        .collect();
    assert_eq!(succeeded.len(), calls.len(), "one record per fire");
    for run in &succeeded {
        assert_eq!(
            seen.get(&(run.task_id.clone(), run.scheduled_run_time)),
            Some(&1)
        );
        assert!(run.started_at.is_some() && run.finished_at.is_some());
        assert_eq!(run.kind, RunKind::Scheduled);
    }
    let listed = nodes[2].nodes().await.unwrap();
    assert_eq!(listed.len(), 3, "{listed:?}");
    for n in &nodes {
        n.shutdown(true).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fire_claimed_by_a_node_that_died_before_committing_is_fired_by_another_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cluster.db");
    let calls: Calls = Arc::default();
    let live = node(&db, "live", fast());
    register(&live, &calls);
    live.start_paused().await.unwrap();
    let due = Utc::now() - asyncz::chrono::Duration::milliseconds(10);
    live.add_task(
        TaskBuilder::new()
            .id("once")
            .function("tick")
            .trigger(asyncz::DateTrigger::new(due)),
    )
    .await
    .unwrap();
    // A node that claims the fire, then dies without committing.
    let store = live.lookup_store("default").unwrap();
    let claimed = store
        .cluster()
        .unwrap()
        .claim_due_tasks(ClaimRequest::new(
            "doomed",
            Utc::now(),
            Duration::from_millis(500),
            10,
        ))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    let died = tokio::time::Instant::now();
    live.resume().unwrap();
    wait_for("the takeover", Duration::from_secs(5), async || {
        !calls.lock().unwrap().is_empty()
    })
    .await;
    let took = died.elapsed();
    assert!(
        took >= Duration::from_millis(450),
        "fired after {took:?}, inside the dead node's lease"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let calls = calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(
        calls[0].1,
        asyncz::truncate_to_micros(due),
        "the same scheduled time"
    );
    assert_eq!(calls[0].2, "live");
    live.shutdown(true).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_now_request_is_taken_by_a_node_and_recorded_as_manual() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cluster.db");
    let calls: Calls = Arc::default();
    let a = node(&db, "a", fast());
    register(&a, &calls);
    a.start().await.unwrap();
    a.add_task(
        TaskBuilder::new()
            .id("paused")
            .function("tick")
            .trigger(IntervalTrigger::new().seconds(3600))
            .paused(),
    )
    .await
    .unwrap();
    let requested = a.request_run("paused").await.unwrap();
    assert_eq!(requested.state, RunState::Requested);
    let mut record = None;
    wait_for(
        "the requested run to finish",
        Duration::from_secs(5),
        async || {
            record = a.run_record(&requested.run_id).await.unwrap();
            record.as_ref().is_some_and(|r| r.state.is_final())
        },
    )
    .await;
    let record = record.unwrap();
    assert_eq!(record.state, RunState::Succeeded, "{record:?}");
    assert_eq!(record.kind, RunKind::Manual);
    assert_eq!(record.node.as_deref(), Some("a"));
    assert_eq!(calls.lock().unwrap().len(), 1);
    let err = a.request_run("nope").await.unwrap_err().to_string();
    assert!(err.contains("nope"), "{err}");
    a.shutdown(true).await.unwrap();
}

/// A node that heartbeats once, then dies, leaving a run `running`.
async fn dead_node_with_a_running_run(
    store: &Arc<dyn Store>,
    task_id: &str,
    policy: OnNodeDeath,
) -> RunRecord {
    let cluster = store.cluster().unwrap();
    cluster
        .heartbeat(&NodeInfo::new("ghost", "elsewhere", 1, Utc::now()))
        .await
        .unwrap();
    let mut run = RunRecord::new(
        task_id,
        Utc::now() - asyncz::chrono::Duration::seconds(1),
        RunKind::Scheduled,
        RunState::Submitted,
        Utc::now(),
    )
    .with_owner("ghost", 7)
    .with_on_node_death(policy);
    cluster.insert_run(&run).await.unwrap();
    assert!(cluster
        .start_run(&run.as_ref().unwrap(), Utc::now())
        .await
        .unwrap());
    run.state = RunState::Running;
    run
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_left_running_by_a_dead_node_is_abandoned_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cluster.db");
    let calls: Calls = Arc::default();
    let a = node(&db, "a", fast());
    register(&a, &calls);
    let mut events = a.subscribe(NODE_DEAD | RUN_ABANDONED);
    a.start().await.unwrap();
    let store = a.lookup_store("default").unwrap();
    let run = dead_node_with_a_running_run(&store, "t", OnNodeDeath::Abandon).await;
    let mut record = None;
    wait_for(
        "the run to be abandoned",
        Duration::from_secs(5),
        async || {
            record = a.run_record(&run.run_id).await.unwrap();
            record
                .as_ref()
                .is_some_and(|r| r.state == RunState::Abandoned)
        },
    )
    .await;
    let record = record.unwrap();
    assert!(
        record.error.as_deref().unwrap_or("").contains("ghost"),
        "{record:?}"
    );
    let mut codes = Vec::new();
    while let Ok(event) = events.try_recv() {
        codes.push(event.name());
    }
    assert_eq!(codes, ["NODE_DEAD", "RUN_ABANDONED"]);
    let ghost = a
        .nodes()
        .await
        .unwrap()
        .into_iter()
        .find(|n| n.node_id == "ghost")
        .unwrap();
    assert_eq!(ghost.state, NodeState::Dead);
    assert!(
        calls.lock().unwrap().is_empty(),
        "abandoned runs are not run again"
    );
    a.shutdown(true).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_left_by_a_dead_node_with_rerun_is_run_again_as_the_next_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cluster.db");
    let calls: Calls = Arc::default();
    let a = node(&db, "a", fast());
    register(&a, &calls);
    a.start().await.unwrap();
    a.add_task(
        TaskBuilder::new()
            .id("t")
            .function("tick")
            .trigger(IntervalTrigger::new().seconds(3600))
            .paused()
            .on_node_death(OnNodeDeath::Rerun),
    )
    .await
    .unwrap();
    let store = a.lookup_store("default").unwrap();
    let run = dead_node_with_a_running_run(&store, "t", OnNodeDeath::Rerun).await;
    wait_for("the rerun", Duration::from_secs(5), async || {
        !calls.lock().unwrap().is_empty()
    })
    .await;
    let calls = calls.lock().unwrap().clone();
    assert_eq!(
        calls,
        [("t".to_owned(), run.scheduled_run_time, "a".to_owned(), 2)]
    );
    let mut record = None;
    wait_for("the rerun's record", Duration::from_secs(5), async || {
        record = a.run_record(&run.run_id).await.unwrap();
        record
            .as_ref()
            .is_some_and(|r| r.state == RunState::Succeeded)
    })
    .await;
    assert_eq!(record.unwrap().attempt, 2);
    a.shutdown(true).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_shuts_down_leaves_and_the_others_see_it_dead_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cluster.db");
    let slow = ClusterConfig::new().node_timeout(Duration::from_secs(60));
    let a = node(&db, "a", slow.clone());
    let b = node(&db, "b", slow);
    a.start().await.unwrap();
    b.start().await.unwrap();
    assert_eq!(a.node_id().as_deref(), Some("a"));
    a.shutdown(true).await.unwrap();
    assert_eq!(a.node_id(), None);
    let states: Vec<(String, NodeState)> = b
        .nodes()
        .await
        .unwrap()
        .into_iter()
        .map(|n| (n.node_id, n.state))
        .collect();
    assert_eq!(
        states,
        [
            ("b".to_owned(), NodeState::Alive),
            ("a".to_owned(), NodeState::Dead)
        ]
    );
    b.shutdown(true).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_restarted_under_its_old_id_settles_what_the_old_process_left() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cluster.db");
    let calls: Calls = Arc::default();
    // No one would find the old process dead within the test: only the restart settles.
    let slow = ClusterConfig::new().node_timeout(Duration::from_secs(60));
    let setup = node(&db, "setup", slow.clone());
    register(&setup, &Calls::default());
    setup.start().await.unwrap();
    setup
        .add_task(
            TaskBuilder::new()
                .id("again")
                .function("tick")
                .trigger(IntervalTrigger::new().seconds(3600))
                .paused()
                .on_node_death(OnNodeDeath::Rerun),
        )
        .await
        .unwrap();
    let store = setup.lookup_store("default").unwrap();
    let abandoned = dead_node_with_a_running_run(&store, "once", OnNodeDeath::Abandon).await;
    let rerun = dead_node_with_a_running_run(&store, "again", OnNodeDeath::Rerun).await;
    setup.shutdown(true).await.unwrap();

    let ghost = node(&db, "ghost", slow);
    register(&ghost, &calls);
    ghost.start().await.unwrap();
    let record = ghost.run_record(&abandoned.run_id).await.unwrap().unwrap();
    assert_eq!(record.state, RunState::Abandoned, "{record:?}");
    assert!(
        record.error.as_deref().unwrap_or("").contains("restarted"),
        "{record:?}"
    );
    wait_for("the rerun", Duration::from_secs(5), async || {
        !calls.lock().unwrap().is_empty()
    })
    .await;
    assert_eq!(
        calls.lock().unwrap().clone(),
        [(
            "again".to_owned(),
            rerun.scheduled_run_time,
            "ghost".to_owned(),
            2
        )]
    );
    ghost.shutdown(true).await.unwrap();
}
