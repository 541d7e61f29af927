//! The Redis store's cluster half against a real server, when `ASYNCZ_TEST_REDIS_URL` is set
//! (`cargo xtask test-backends` and CI set it): claims, fences, commits, the run ledger and
//! the node registry, each behaviour raced from two store handles over the same keys where
//! it promises something under concurrency.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use asyncz_core::chrono::{DateTime, Utc};
use asyncz_core::cluster::{
    ClaimRequest, ClaimedTask, ClusterStore, CommitResult, FireCommit, FireUpdate, HistoryQuery,
    NodeInfo, NodeState, OnNodeDeath, RunFinish, RunKind, RunRecord, RunState, SettleReason,
};
use asyncz_core::{Error, Store};
use asyncz_stores_redis::{RedisStore, RedisStoreConfig};
use asyncz_testkit::{sample_task, store_context, t0};
use common::Redis;

const LEASE: Duration = Duration::from_secs(30);

fn url() -> Option<String> {
    let url = std::env::var("ASYNCZ_TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty());
    if url.is_none() {
        println!("skipping: ASYNCZ_TEST_REDIS_URL is not set (cargo xtask test-backends sets it)");
    }
    url
}

/// Two started handles (separate connections) over the keys of data set `name`, emptied.
async fn pair(name: &str) -> Option<(Arc<RedisStore>, Arc<RedisStore>)> {
    let url = url()?;
    let open = || {
        let prefix = format!("asyncz.test.cluster.{}.{name}", std::process::id());
        RedisStore::new(
            RedisStoreConfig::new(&url)
                .tasks_key(format!("{prefix}.tasks"))
                .run_times_key(format!("{prefix}.run_times")),
        )
        .unwrap()
    };
    let (a, b) = (Arc::new(open()), Arc::new(open()));
    a.start(store_context()).await.unwrap();
    b.start(store_context()).await.unwrap();
    a.delete_keys().await.unwrap();
    Some((a, b))
}

#[tokio::test]
async fn redis_passes_the_cluster_suite() {
    let Some(url) = url() else {
        return;
    };
    for key in [None, Some("redis key")] {
        let harness = Redis::new(&url, "cluster-suite", key);
        let report = asyncz_testkit::run_cluster_suite(&harness).await;
        println!("{report}");
        report.assert_passed();
        assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    }
}

fn cluster(store: &RedisStore) -> &dyn ClusterStore {
    store.cluster().expect("the Redis store is a cluster store")
}

fn at(minutes: i64) -> DateTime<Utc> {
    t0() + asyncz_core::chrono::Duration::minutes(minutes)
}

async fn claim(store: &RedisStore, node: &str, lease: Duration, limit: usize) -> Vec<ClaimedTask> {
    cluster(store)
        .claim_due_tasks(ClaimRequest::new(node, at(1000), lease, limit))
        .await
        .unwrap()
}

fn ids(claims: &[ClaimedTask]) -> Vec<String> {
    claims.iter().map(|c| c.task.id().to_owned()).collect()
}

fn run(task: &str, minute: i64, node: &str, fence: u64) -> RunRecord {
    RunRecord::new(
        task,
        at(minute),
        RunKind::Scheduled,
        RunState::Submitted,
        at(minute),
    )
    .with_owner(node, fence)
}

/// The fire of `claim` at its next run time, rescheduled a minute later.
fn fire(claim: &ClaimedTask, node: &str) -> FireCommit {
    let next = claim.task.next_run_time().unwrap();
    let task = claim
        .task
        .clone()
        .with_next_run_time(Some(next + asyncz_core::chrono::Duration::minutes(1)));
    let scheduled = RunRecord::new(
        claim.task.id(),
        next,
        RunKind::Scheduled,
        RunState::Submitted,
        next,
    )
    .with_owner(node, claim.fence);
    FireCommit::new(
        claim.task.id(),
        claim.fence,
        FireUpdate::Reschedule(Box::new(task)),
    )
    .with_runs(vec![scheduled])
}

fn committed(result: &CommitResult) -> &[RunRecord] {
    match result {
        CommitResult::Committed(runs) => runs,
        CommitResult::Stale => panic!("expected a commit, got Stale"),
    }
}

#[tokio::test]
async fn racing_claims_from_two_handles_never_share_a_task() {
    let Some((a, b)) = pair("race").await else {
        return;
    };
    for i in 0..60 {
        a.add_task(&sample_task(&format!("t{i:02}"), Some(at(i))))
            .await
            .unwrap();
    }
    let racer = |store: Arc<RedisStore>, node: &'static str| {
        tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let claimed = claim(&store, node, LEASE, 7).await;
                if claimed.is_empty() {
                    return mine;
                }
                mine.extend(ids(&claimed));
            }
        })
    };
    let (one, two) = tokio::join!(racer(a.clone(), "a"), racer(b.clone(), "b"));
    let (one, two) = (one.unwrap(), two.unwrap());
    let all: BTreeSet<&String> = one.iter().chain(&two).collect();
    assert_eq!(one.len() + two.len(), 60, "a: {one:?}, b: {two:?}");
    assert_eq!(
        all.len(),
        60,
        "a task was claimed twice: a {one:?}, b {two:?}"
    );
    a.delete_keys().await.unwrap();
}

#[tokio::test]
async fn claims_take_due_tasks_oldest_first_up_to_the_limit() {
    let Some((a, _b)) = pair("order").await else {
        return;
    };
    for (id, minute) in [
        ("late", 30),
        ("early", 10),
        ("middle", 20),
        ("future", 2000),
    ] {
        a.add_task(&sample_task(id, Some(at(minute))))
            .await
            .unwrap();
    }
    a.add_task(&sample_task("paused", None)).await.unwrap();
    a.add_task(&sample_task("corrupt", Some(at(1))))
        .await
        .unwrap();
    a.write_raw_record("corrupt", b"\x00not a task")
        .await
        .unwrap();
    let first = claim(&a, "a", LEASE, 2).await;
    assert_eq!(ids(&first), ["early", "middle"]);
    let rest = claim(&a, "a", LEASE, 10).await;
    assert_eq!(
        ids(&rest),
        ["late"],
        "paused, future and corrupt are never claimed"
    );
    assert!(first[0].fence > 0 && first[1].fence != first[0].fence);
    // The corrupt record is known now, listed, kept, and still never claimed.
    assert!(a
        .undecodable_records()
        .iter()
        .any(|(id, _)| id == "corrupt"));
    assert!(claim(&a, "b", LEASE, 10).await.is_empty());
    assert!(a.record_exists("corrupt").await.unwrap());
    a.delete_keys().await.unwrap();
}

#[tokio::test]
async fn an_expired_lease_on_the_redis_clock_lets_another_node_claim_with_a_larger_fence() {
    let Some((a, b)) = pair("lease").await else {
        return;
    };
    a.add_task(&sample_task("t", Some(at(1)))).await.unwrap();
    let held = claim(&a, "a", Duration::from_millis(300), 10).await;
    assert_eq!(ids(&held), ["t"]);
    assert!(
        claim(&b, "b", LEASE, 10).await.is_empty(),
        "a live claim is not taken"
    );
    let until =
        cluster(&a).store_time().await.unwrap() + asyncz_core::chrono::Duration::milliseconds(300);
    while cluster(&a).store_time().await.unwrap() <= until {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let taken = claim(&b, "b", LEASE, 10).await;
    assert_eq!(ids(&taken), ["t"]);
    assert!(
        taken[0].fence > held[0].fence,
        "{} after {}",
        taken[0].fence,
        held[0].fence
    );
    // The node that lost its lease can neither renew nor commit.
    assert!(cluster(&a)
        .renew_claims("a", &held, LEASE)
        .await
        .unwrap()
        .is_empty());
    let stale = cluster(&a)
        .commit_fires("a", &[fire(&held[0], "a")])
        .await
        .unwrap();
    assert_eq!(stale, [CommitResult::Stale]);
    assert_eq!(
        a.lookup_task("t").await.unwrap().unwrap().next_run_time(),
        Some(at(1))
    );
    assert!(cluster(&a)
        .history(&HistoryQuery::new())
        .await
        .unwrap()
        .is_empty());
    // The new owner commits.
    let result = cluster(&b)
        .commit_fires("b", &[fire(&taken[0], "b")])
        .await
        .unwrap();
    assert_eq!(committed(&result[0]).len(), 1);
    a.delete_keys().await.unwrap();
}

#[tokio::test]
async fn a_commit_writes_the_task_its_runs_and_clears_the_claim_in_one_batch() {
    let Some((a, b)) = pair("commit").await else {
        return;
    };
    for i in 0..20 {
        a.add_task(&sample_task(&format!("t{i:02}"), Some(at(i))))
            .await
            .unwrap();
    }
    let claims = claim(&a, "a", LEASE, 100).await;
    assert_eq!(claims.len(), 20);
    let mut fires: Vec<FireCommit> = claims.iter().map(|c| fire(c, "a")).collect();
    // The last one's schedule is over.
    let last = claims.last().unwrap();
    fires.pop();
    fires.push(
        FireCommit::new(last.task.id(), last.fence, FireUpdate::Remove).with_runs(vec![run(
            last.task.id(),
            19,
            "a",
            last.fence,
        )]),
    );
    let results = cluster(&a).commit_fires("a", &fires).await.unwrap();
    assert_eq!(results.len(), 20);
    for (result, claim) in results.iter().zip(&claims) {
        let runs = committed(result);
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].task_id, claim.task.id());
        assert_eq!(runs[0].state, RunState::Submitted);
        assert_eq!(result.submitted().count(), 1);
        assert_eq!(
            cluster(&a).get_run(&runs[0].run_id).await.unwrap().as_ref(),
            Some(&runs[0])
        );
    }
    assert!(a.lookup_task("t19").await.unwrap().is_none(), "removed");
    assert_eq!(
        a.lookup_task("t00").await.unwrap().unwrap().next_run_time(),
        Some(at(1))
    );
    assert_eq!(a.get_all_tasks().await.unwrap().len(), 19);
    // The claims are cleared: the rescheduled tasks are claimable at once, by anyone.
    assert_eq!(claim(&b, "b", LEASE, 100).await.len(), 19);
    a.delete_keys().await.unwrap();
}

#[tokio::test]
async fn updating_or_deleting_a_claimed_task_makes_its_commit_stale() {
    let Some((a, b)) = pair("invalidate").await else {
        return;
    };
    a.add_task(&sample_task("changed", Some(at(1))))
        .await
        .unwrap();
    a.add_task(&sample_task("deleted", Some(at(2))))
        .await
        .unwrap();
    a.add_task(&sample_task("kept", Some(at(3)))).await.unwrap();
    let claims = claim(&a, "a", LEASE, 10).await;
    assert_eq!(ids(&claims), ["changed", "deleted", "kept"]);
    // An operator's changes, through another handle.
    b.update_task(&sample_task("changed", Some(at(500))))
        .await
        .unwrap();
    b.delete_task("deleted").await.unwrap();
    let renewed = cluster(&a).renew_claims("a", &claims, LEASE).await.unwrap();
    assert_eq!(renewed, ["kept"]);
    let fires: Vec<FireCommit> = claims.iter().map(|c| fire(c, "a")).collect();
    let results = cluster(&a).commit_fires("a", &fires).await.unwrap();
    assert_eq!(results[0], CommitResult::Stale);
    assert_eq!(results[1], CommitResult::Stale);
    assert_eq!(
        committed(&results[2]).len(),
        1,
        "a stale fire does not stop the others"
    );
    assert_eq!(
        a.lookup_task("changed")
            .await
            .unwrap()
            .unwrap()
            .next_run_time(),
        Some(at(500)),
        "the operator's change stands"
    );
    assert!(a.lookup_task("deleted").await.unwrap().is_none());
    let history = cluster(&a).history(&HistoryQuery::new()).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].task_id, "kept");
    a.delete_keys().await.unwrap();
}

#[tokio::test]
async fn a_commit_by_another_node_or_fence_is_stale_and_release_only_frees_own_claims() {
    let Some((a, b)) = pair("fence").await else {
        return;
    };
    a.add_task(&sample_task("t", Some(at(1)))).await.unwrap();
    let held = claim(&a, "a", LEASE, 10).await;
    let mut wrong_fence = fire(&held[0], "a");
    wrong_fence.fence += 1;
    assert_eq!(
        cluster(&b)
            .commit_fires("b", &[fire(&held[0], "b")])
            .await
            .unwrap(),
        [CommitResult::Stale],
        "another node"
    );
    assert_eq!(
        cluster(&a).commit_fires("a", &[wrong_fence]).await.unwrap(),
        [CommitResult::Stale],
        "another fence"
    );
    // Releasing as another node leaves the claim; as its owner frees it at once.
    cluster(&b).release_claims("b", &held).await.unwrap();
    assert!(claim(&b, "b", LEASE, 10).await.is_empty());
    cluster(&a).release_claims("a", &held).await.unwrap();
    let again = claim(&b, "b", LEASE, 10).await;
    assert_eq!(ids(&again), ["t"]);
    assert!(again[0].fence > held[0].fence);
    assert!(cluster(&a)
        .history(&HistoryQuery::new())
        .await
        .unwrap()
        .is_empty());
    a.delete_keys().await.unwrap();
}

#[tokio::test]
async fn a_run_key_already_in_the_ledger_is_not_inserted_twice() {
    let Some((a, b)) = pair("dup").await else {
        return;
    };
    a.add_task(&sample_task("t", Some(at(1)))).await.unwrap();
    let first = claim(&a, "a", LEASE, 10).await;
    let result = cluster(&a)
        .commit_fires("a", &[fire(&first[0], "a")])
        .await
        .unwrap();
    let original = committed(&result[0])[0].clone();
    // A second commit of the same scheduled time (another record, another id) leaves it out
    // and still reschedules.
    b.update_task(&sample_task("t", Some(at(1)))).await.unwrap();
    let second = claim(&b, "b", LEASE, 10).await;
    let mut replay = fire(&second[0], "b");
    replay.runs.push(run("t", 2, "b", second[0].fence));
    let result = cluster(&b).commit_fires("b", &[replay]).await.unwrap();
    let runs = committed(&result[0]);
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].scheduled_run_time, at(2));
    assert_eq!(
        b.lookup_task("t").await.unwrap().unwrap().next_run_time(),
        Some(at(2))
    );
    // insert_run refuses it too, naming the key, and leaves the stored record.
    let mut request = RunRecord::new("t", at(1), RunKind::Manual, RunState::Requested, at(5));
    request.error = Some("replaced?".into());
    let err = cluster(&a).insert_run(&request).await.unwrap_err();
    assert!(
        matches!(&err, Error::ConflictRun { task_id, scheduled_run_time } if task_id == "t" && *scheduled_run_time == at(1)),
        "{err}"
    );
    let history = cluster(&a)
        .history(&HistoryQuery::new().task("t"))
        .await
        .unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[1], original);
    a.delete_keys().await.unwrap();
}

/// Claims `t` again and commits one fire of `minutes` under `max_active`.
async fn fire_under(store: &RedisStore, minutes: &[i64], max_active: u32) -> Vec<RunRecord> {
    let claims = claim(store, "a", LEASE, 10).await;
    let claimed = claims.iter().find(|c| c.task.id() == "t").unwrap();
    let fence = claimed.fence;
    let fire = fire(claimed, "a")
        .with_runs(minutes.iter().map(|m| run("t", *m, "a", fence)).collect())
        .with_max_active(Some(max_active));
    let result = cluster(store).commit_fires("a", &[fire]).await.unwrap();
    committed(&result[0]).to_vec()
}

fn states(runs: &[RunRecord]) -> Vec<RunState> {
    runs.iter().map(|r| r.state).collect()
}

#[tokio::test]
async fn max_active_counts_fires_and_stores_a_fire_beyond_it_skipped_naming_the_limit() {
    let Some((a, _b)) = pair("max_active").await else {
        return;
    };
    a.add_task(&sample_task("t", Some(at(1)))).await.unwrap();
    // One fire is one instance, however many runs it holds.
    let first = fire_under(&a, &[1, 2, 3], 2).await;
    assert_eq!(states(&first), [RunState::Submitted; 3]);
    let second = fire_under(&a, &[4], 2).await;
    assert_eq!(states(&second), [RunState::Submitted]);
    // Two instances active: the next fire is skipped, every run of it.
    let third = fire_under(&a, &[5, 6], 2).await;
    assert_eq!(states(&third), [RunState::Skipped; 2]);
    for skipped in &third {
        let error = skipped.error.as_deref().unwrap();
        assert!(error.contains("(2)") && error.contains("'t'"), "{error}");
        assert!(skipped.finished_at.is_some());
    }
    // The first fire's runs end (one running first): one instance is left, so a fire fits.
    let c = cluster(&a);
    let one = first[0].as_ref().unwrap();
    assert!(c.start_run(&one, at(7)).await.unwrap());
    let still = fire_under(&a, &[7], 2).await;
    assert_eq!(
        states(&still),
        [RunState::Skipped],
        "a running run holds its fire's slot"
    );
    for run in &first {
        let done = RunFinish::new(RunState::Succeeded, at(8));
        assert!(c.finish_run(&run.as_ref().unwrap(), &done).await.unwrap());
    }
    let fourth = fire_under(&a, &[8], 2).await;
    assert_eq!(states(&fourth), [RunState::Submitted]);
    a.delete_keys().await.unwrap();
}

#[tokio::test]
async fn a_run_settled_for_a_dead_node_cannot_start_and_a_rerun_is_taken_once() {
    let Some((a, b)) = pair("settle").await else {
        return;
    };
    a.add_task(&sample_task("t", Some(at(1)))).await.unwrap();
    let claims = claim(&a, "a", LEASE, 10).await;
    let fence = claims[0].fence;
    let runs = vec![
        run("t", 1, "a", fence),
        run("t", 2, "a", fence).with_on_node_death(OnNodeDeath::Rerun),
        run("t", 3, "a", fence),
    ];
    let result = cluster(&a)
        .commit_fires("a", &[fire(&claims[0], "a").with_runs(runs)])
        .await
        .unwrap();
    let runs = committed(&result[0]).to_vec();
    let started = runs[2].as_ref().unwrap();
    assert!(cluster(&a).start_run(&started, at(3)).await.unwrap());
    let settled = cluster(&b)
        .settle_runs_of("a", at(10), SettleReason::NodeDead)
        .await
        .unwrap();
    assert_eq!(settled.len(), 3);
    let (abandoned, rerun, was_running) = (&settled[0], &settled[1], &settled[2]);
    assert_eq!(abandoned.state, RunState::Abandoned);
    assert_eq!(abandoned.finished_at, Some(at(10)));
    assert!(
        abandoned.error.as_deref().unwrap().contains("'a'"),
        "{abandoned:?}"
    );
    assert_eq!(was_running.state, RunState::Abandoned);
    assert_eq!(rerun.state, RunState::Requested);
    assert_eq!((rerun.node.as_deref(), rerun.attempt), (None, 2));
    assert!(
        cluster(&b)
            .settle_runs_of("a", at(11), SettleReason::NodeDead)
            .await
            .unwrap()
            .is_empty(),
        "idempotent"
    );
    // The paused node resumes: nothing of its old attempts may run or finish.
    for old in &runs {
        let old = old.as_ref().unwrap();
        assert!(
            !cluster(&a).start_run(&old, at(12)).await.unwrap(),
            "{old:?}"
        );
        let finish = RunFinish::new(RunState::Succeeded, at(12));
        assert!(
            !cluster(&a).finish_run(&old, &finish).await.unwrap(),
            "{old:?}"
        );
    }
    assert_eq!(
        cluster(&a)
            .get_run(&runs[0].run_id)
            .await
            .unwrap()
            .unwrap()
            .state,
        RunState::Abandoned
    );
    // The rerun is taken by exactly one of two racing nodes, as attempt 2.
    let (one, two) = tokio::join!(
        cluster(&a).claim_run_requests("c", 10),
        cluster(&b).claim_run_requests("d", 10)
    );
    let taken: Vec<RunRecord> = one.unwrap().into_iter().chain(two.unwrap()).collect();
    assert_eq!(taken.len(), 1, "{taken:?}");
    let retry = &taken[0];
    assert_eq!(
        (retry.run_id.as_str(), retry.attempt, retry.state),
        (rerun.run_id.as_str(), 2, RunState::Submitted)
    );
    let retry = retry.as_ref().unwrap();
    assert!(cluster(&a).start_run(&retry, at(13)).await.unwrap());
    assert!(
        cluster(&a).start_run(&retry, at(15)).await.unwrap(),
        "a retried start answers true for its owner (and keeps the first start time)"
    );
    let finish = RunFinish::new(RunState::Failed, at(14)).with_error(Some("boom".into()));
    assert!(cluster(&a).finish_run(&retry, &finish).await.unwrap());
    assert!(
        !cluster(&a).finish_run(&retry, &finish).await.unwrap(),
        "already final"
    );
    let stored = cluster(&a).get_run(&retry.run_id).await.unwrap().unwrap();
    assert_eq!(
        (
            stored.state,
            stored.started_at,
            stored.finished_at,
            stored.error.as_deref()
        ),
        (RunState::Failed, Some(at(13)), Some(at(14)), Some("boom"))
    );
    assert!(cluster(&a).get_run("missing").await.unwrap().is_none());
    a.delete_keys().await.unwrap();
}

#[tokio::test]
async fn run_requests_are_taken_oldest_first_each_by_one_node() {
    let Some((a, b)) = pair("requests").await else {
        return;
    };
    for i in 0..40 {
        let request = RunRecord::new(
            format!("t{}", i % 3),
            at(i),
            RunKind::Manual,
            RunState::Requested,
            at(i),
        );
        cluster(&a).insert_run(&request).await.unwrap();
    }
    let first = cluster(&a).claim_run_requests("a", 3).await.unwrap();
    let times: Vec<DateTime<Utc>> = first.iter().map(|r| r.scheduled_run_time).collect();
    assert_eq!(times, [at(0), at(1), at(2)]);
    assert!(first
        .iter()
        .all(|r| r.node.as_deref() == Some("a") && r.state == RunState::Submitted));
    let racer = |store: Arc<RedisStore>, node: &'static str| {
        tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let taken = cluster(&store).claim_run_requests(node, 4).await.unwrap();
                if taken.is_empty() {
                    return mine;
                }
                mine.extend(taken.into_iter().map(|r| r.run_id));
            }
        })
    };
    let (one, two) = tokio::join!(racer(a.clone(), "a"), racer(b.clone(), "b"));
    let (one, two) = (one.unwrap(), two.unwrap());
    let all: BTreeSet<&String> = one.iter().chain(&two).collect();
    assert_eq!((one.len() + two.len(), all.len()), (37, 37));
    a.delete_keys().await.unwrap();
}

#[tokio::test]
async fn a_dead_node_is_marked_by_exactly_one_of_two_racing_handles() {
    let Some((a, b)) = pair("nodes").await else {
        return;
    };
    let started = Utc::now();
    for id in ["n1", "n2", "n3"] {
        let node = NodeInfo::new(id, "host", 7, started);
        assert_eq!(cluster(&a).heartbeat(&node).await.unwrap(), None, "new");
        assert_eq!(
            cluster(&a).heartbeat(&node).await.unwrap(),
            Some(NodeState::Alive)
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // n3 stays fresh.
    cluster(&b)
        .heartbeat(&NodeInfo::new("n3", "host", 7, started))
        .await
        .unwrap();
    let timeout = Duration::from_millis(200);
    let (one, two) = tokio::join!(
        cluster(&a).mark_dead_nodes(timeout),
        cluster(&b).mark_dead_nodes(timeout)
    );
    let mut dead: Vec<String> = one
        .unwrap()
        .into_iter()
        .chain(two.unwrap())
        .map(|n| {
            assert_eq!(n.state, NodeState::Dead);
            n.node_id
        })
        .collect();
    dead.sort();
    assert_eq!(dead, ["n1", "n2"]);
    assert!(cluster(&a)
        .mark_dead_nodes(timeout)
        .await
        .unwrap()
        .is_empty());
    let nodes = cluster(&a).list_nodes().await.unwrap();
    let listed: Vec<(&str, NodeState)> = nodes
        .iter()
        .map(|n| (n.node_id.as_str(), n.state))
        .collect();
    assert_eq!(
        listed,
        [
            ("n3", NodeState::Alive),
            ("n1", NodeState::Dead),
            ("n2", NodeState::Dead)
        ]
    );
    let n3 = &nodes[0];
    assert_eq!((n3.host.as_str(), n3.pid), ("host", 7));
    assert_eq!(n3.started_at, asyncz_core::truncate_to_micros(started));
    let store_now = cluster(&a).store_time().await.unwrap();
    assert!(n3.heartbeat_age(store_now) < Duration::from_secs(5));
    // A node declared dead while paused learns it at its next heartbeat, and is alive again.
    assert_eq!(
        cluster(&a)
            .heartbeat(&NodeInfo::new("n1", "host", 7, started))
            .await
            .unwrap(),
        Some(NodeState::Dead)
    );
    // Leaving marks the node dead at once.
    cluster(&a).leave("n3").await.unwrap();
    cluster(&a).leave("never-registered").await.unwrap();
    let nodes = cluster(&a).list_nodes().await.unwrap();
    let listed: Vec<(&str, NodeState)> = nodes
        .iter()
        .map(|n| (n.node_id.as_str(), n.state))
        .collect();
    assert_eq!(
        listed,
        [
            ("n1", NodeState::Alive),
            ("n2", NodeState::Dead),
            ("n3", NodeState::Dead)
        ]
    );
    a.delete_keys().await.unwrap();
}

/// Inserts a final (or active) run of `task` scheduled at minute `minute`.
async fn record(store: &RedisStore, task: &str, minute: i64, state: RunState) -> RunRecord {
    let mut run =
        RunRecord::new(task, at(minute), RunKind::Scheduled, state, at(minute)).with_owner("a", 1);
    if state.is_final() {
        run.finished_at = Some(at(minute));
    }
    cluster(store).insert_run(&run).await.unwrap();
    run
}

#[tokio::test]
async fn history_is_newest_first_and_filters_by_task_state_and_time() {
    let Some((a, _b)) = pair("history").await else {
        return;
    };
    let mut written = Vec::new();
    for minute in 0..10 {
        let task = if minute % 2 == 0 { "even" } else { "odd" };
        let state = if minute % 3 == 0 {
            RunState::Failed
        } else {
            RunState::Succeeded
        };
        written.push(record(&a, task, minute, state).await);
    }
    let history = |q: HistoryQuery| {
        let a = a.clone();
        async move {
            cluster(&a)
                .history(&q)
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.scheduled_run_time)
                .collect::<Vec<_>>()
        }
    };
    let minutes = |m: &[i64]| m.iter().map(|m| at(*m)).collect::<Vec<_>>();
    assert_eq!(
        history(HistoryQuery::new()).await,
        minutes(&[9, 8, 7, 6, 5, 4, 3, 2, 1, 0])
    );
    assert_eq!(
        history(HistoryQuery::new().task("odd")).await,
        minutes(&[9, 7, 5, 3, 1])
    );
    assert_eq!(
        history(HistoryQuery::new().states([RunState::Failed])).await,
        minutes(&[9, 6, 3, 0])
    );
    assert_eq!(
        history(HistoryQuery::new().task("even").states([RunState::Failed])).await,
        minutes(&[6, 0])
    );
    assert_eq!(
        history(HistoryQuery::new().before(at(5)).limit(2)).await,
        minutes(&[4, 3])
    );
    assert_eq!(history(HistoryQuery::new().limit(0)).await, minutes(&[]));
    assert_eq!(
        history(HistoryQuery::new().task("none")).await,
        minutes(&[])
    );
    // Read back exactly as written.
    let all = cluster(&a)
        .history(&HistoryQuery::new().task("even"))
        .await
        .unwrap();
    let mut expected: Vec<RunRecord> = written
        .into_iter()
        .filter(|r| r.task_id == "even")
        .collect();
    expected.reverse();
    assert_eq!(all, expected);
    a.delete_keys().await.unwrap();
}

#[tokio::test]
async fn pruning_deletes_old_and_excess_final_runs_and_keeps_active_ones() {
    let Some((a, _b)) = pair("prune").await else {
        return;
    };
    // Minutes 0..8 of `t`: 0 requested, 1 submitted, 2 running, the rest final.
    let states = [
        RunState::Requested,
        RunState::Submitted,
        RunState::Running,
        RunState::Succeeded,
        RunState::Failed,
        RunState::Missed,
        RunState::Skipped,
        RunState::Abandoned,
    ];
    for (minute, state) in states.into_iter().enumerate() {
        record(&a, "t", minute as i64, state).await;
    }
    for minute in 0..3 {
        record(&a, "u", minute, RunState::Succeeded).await;
    }
    // Created before minute 4: of the final ones, only minute 3 of t and 0..2 of u.
    assert_eq!(cluster(&a).prune_runs(at(4), 100).await.unwrap(), 4);
    let left = |task: &'static str| {
        let a = a.clone();
        async move {
            let mut states: Vec<RunState> = cluster(&a)
                .history(&HistoryQuery::new().task(task))
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.state)
                .collect();
            states.reverse();
            states
        }
    };
    assert_eq!(left("u").await, []);
    assert_eq!(
        left("t").await,
        [
            RunState::Requested,
            RunState::Submitted,
            RunState::Running,
            RunState::Failed,
            RunState::Missed,
            RunState::Skipped,
            RunState::Abandoned
        ]
    );
    // Keep the newest 2 (minutes 7 and 6): the final ones before go, the active ones stay.
    assert_eq!(cluster(&a).prune_runs(at(0), 2).await.unwrap(), 2);
    assert_eq!(
        left("t").await,
        [
            RunState::Requested,
            RunState::Submitted,
            RunState::Running,
            RunState::Skipped,
            RunState::Abandoned
        ]
    );
    assert_eq!(cluster(&a).prune_runs(at(100), 0).await.unwrap(), 2);
    assert_eq!(
        left("t").await,
        [RunState::Requested, RunState::Submitted, RunState::Running]
    );
    assert_eq!(
        cluster(&a)
            .history(&HistoryQuery::new())
            .await
            .unwrap()
            .len(),
        3
    );
    // A pruned key is free again.
    record(&a, "u", 0, RunState::Succeeded).await;
    a.delete_keys().await.unwrap();
}

#[tokio::test]
async fn stores_with_different_keys_never_see_each_other() {
    let (Some((a, _)), Some((b, _))) = (pair("isolated-a").await, pair("isolated-b").await) else {
        return;
    };
    assert_ne!(a.cluster_key_prefix(), b.cluster_key_prefix());
    a.add_task(&sample_task("t", Some(at(1)))).await.unwrap();
    b.add_task(&sample_task("t", Some(at(1)))).await.unwrap();
    assert_eq!(claim(&a, "n", LEASE, 10).await.len(), 1);
    assert_eq!(
        claim(&b, "n", LEASE, 10).await.len(),
        1,
        "a claim in a is not one in b"
    );
    record(&a, "t", 1, RunState::Succeeded).await;
    record(&b, "t", 1, RunState::Succeeded).await;
    cluster(&a)
        .heartbeat(&NodeInfo::new("n", "h", 1, Utc::now()))
        .await
        .unwrap();
    assert!(cluster(&b).list_nodes().await.unwrap().is_empty());
    assert_eq!(
        cluster(&b)
            .history(&HistoryQuery::new())
            .await
            .unwrap()
            .len(),
        1
    );
    a.delete_keys().await.unwrap();
    b.delete_keys().await.unwrap();
}

#[tokio::test]
async fn a_fence_keeps_growing_across_delete_re_add_and_remove_all() {
    let Some((a, b)) = pair("fence-growth").await else {
        return;
    };
    a.add_task(&sample_task("t", Some(at(1)))).await.unwrap();
    let first = claim(&a, "a", LEASE, 10).await;
    a.delete_task("t").await.unwrap();
    a.add_task(&sample_task("t", Some(at(1)))).await.unwrap();
    let second = claim(&b, "b", LEASE, 10).await;
    assert_eq!(
        ids(&second),
        ["t"],
        "the re-added task is not held by the old claim"
    );
    assert!(second[0].fence > first[0].fence);
    b.remove_all_tasks().await.unwrap();
    a.add_task(&sample_task("t", Some(at(1)))).await.unwrap();
    let third = claim(&a, "a", LEASE, 10).await;
    assert_eq!(ids(&third), ["t"], "remove_all_tasks drops the claims");
    assert!(third[0].fence > second[0].fence);
    // The old claims cannot commit over the new task.
    let results = cluster(&b)
        .commit_fires("b", &[fire(&second[0], "b")])
        .await
        .unwrap();
    assert_eq!(results, [CommitResult::Stale]);
    a.delete_keys().await.unwrap();
}

#[tokio::test]
async fn an_undecodable_run_record_is_skipped_reported_and_kept() {
    let Some((a, _b)) = pair("bad-run").await else {
        return;
    };
    let good = record(&a, "t", 1, RunState::Succeeded).await;
    // Garbage where a run record belongs, indexed like one: in the history, the request
    // queue and a node's runs.
    let url = url().unwrap();
    let mut conn = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let prefix = a.cluster_key_prefix().to_owned();
    for (id, raw) in [
        ("bad", "{not json"),
        (
            "odd",
            r#"{"v":9,"id":"odd","task":"t","state":"submitted"}"#,
        ),
    ] {
        redis::pipe()
            .hset(format!("{prefix}runs"), id, raw)
            .zadd(format!("{prefix}history"), id, at(2).timestamp_micros())
            .zadd(format!("{prefix}history:t"), id, at(2).timestamp_micros())
            .zadd(format!("{prefix}requested"), id, 0)
            .sadd(format!("{prefix}node_runs:a"), id)
            .query_async::<()>(&mut conn)
            .await
            .unwrap();
    }
    let c = cluster(&a);
    assert_eq!(
        c.history(&HistoryQuery::new()).await.unwrap(),
        std::slice::from_ref(&good)
    );
    assert_eq!(
        c.history(&HistoryQuery::new().task("t").states([RunState::Succeeded]))
            .await
            .unwrap(),
        std::slice::from_ref(&good)
    );
    for id in ["bad", "odd"] {
        let err = c.get_run(id).await.unwrap_err().to_string();
        assert!(err.contains(&format!("'{id}'")), "{err}");
    }
    assert!(c.claim_run_requests("a", 10).await.unwrap().is_empty());
    assert!(c
        .settle_runs_of("a", at(3), SettleReason::NodeDead)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        c.prune_runs(at(100), 0).await.unwrap(),
        1,
        "only the good one"
    );
    for id in ["bad", "odd"] {
        let kept: bool = redis::cmd("HEXISTS")
            .arg(format!("{prefix}runs"))
            .arg(id)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(kept, "{id} is never deleted");
    }
    a.delete_keys().await.unwrap();
}

#[tokio::test]
async fn the_largest_limits_are_served() {
    let Some((a, _b)) = pair("huge-limits").await else {
        return;
    };
    a.add_task(&sample_task("t", Some(at(1)))).await.unwrap();
    record(&a, "t", 1, RunState::Succeeded).await;
    cluster(&a)
        .insert_run(&RunRecord::new(
            "t",
            at(2),
            RunKind::Manual,
            RunState::Requested,
            at(2),
        ))
        .await
        .unwrap();
    let c = cluster(&a);
    assert_eq!(claim(&a, "a", LEASE, usize::MAX).await.len(), 1);
    assert_eq!(
        c.claim_run_requests("a", usize::MAX).await.unwrap().len(),
        1
    );
    let history = c
        .history(&HistoryQuery::new().limit(usize::MAX))
        .await
        .unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(c.prune_runs(at(100), usize::MAX).await.unwrap(), 1);
    a.delete_keys().await.unwrap();
}
