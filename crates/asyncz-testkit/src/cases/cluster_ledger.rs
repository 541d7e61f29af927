//! The cluster cases, part two: the `# Behavior` bullets of `ClusterStore`'s run ledger
//! (`insert_run`, `claim_run_requests`, `start_run`, `finish_run`, `get_run`, `history`,
//! `prune_runs`, `settle_runs_of`) and node registry (`heartbeat`, `list_nodes`,
//! `mark_dead_nodes`, `leave`, `forget_dead_nodes`).

use std::collections::HashSet;
use std::time::Duration;

use asyncz_core::chrono::{DateTime, Duration as Span, Utc};
use asyncz_core::cluster::{
    ClusterStore, HistoryQuery, NodeInfo, NodeState, OnNodeDeath, RunFinish, RunKind, RunRecord,
    RunRef, RunState, SettleReason,
};
use asyncz_core::Error;

use super::cluster::{at, cluster_of, second_node, A, B};
use super::{err, StoreCase, ANY};
use crate::harness::{t0, StoreHarness};

/// A `requested` run of `task_id` at `time`, created at `created`.
fn request(task_id: &str, time: DateTime<Utc>, created: DateTime<Utc>) -> RunRecord {
    RunRecord::new(task_id, time, RunKind::Manual, RunState::Requested, created)
}

async fn get(c: &dyn ClusterStore, run_id: &str) -> Result<RunRecord, String> {
    c.get_run(run_id)
        .await
        .map_err(err)?
        .ok_or_else(|| format!("run '{run_id}' vanished"))
}

fn reference(run: &RunRecord) -> Result<RunRef, String> {
    run.as_ref()
        .ok_or_else(|| format!("run '{}' has no node: {run:?}", run.run_id))
}

/// `t0 + us` microseconds.
fn at_us(us: i64) -> DateTime<Utc> {
    t0() + Span::microseconds(us)
}

/// Puts runs in the ledger in the given states, owned by `node` (except `requested` ones),
/// through the contract's own transitions: each is inserted as a request, taken by `node`,
/// then started and finished as its state needs. Returns the records as stored, in order.
async fn runs_in(
    c: &dyn ClusterStore,
    node: &str,
    specs: &[(&str, DateTime<Utc>, RunState, OnNodeDeath)],
) -> Result<Vec<RunRecord>, String> {
    let created = Utc::now();
    let mut ids = Vec::new();
    let owned = specs.iter().filter(|s| s.2 != RunState::Requested).count();
    for (task, time, _, policy) in specs.iter().filter(|s| s.2 != RunState::Requested) {
        let run = request(task, *time, created).with_on_node_death(*policy);
        c.insert_run(&run).await.map_err(err)?;
        ids.push(run.run_id);
    }
    let taken = c.claim_run_requests(node, owned + 1).await.map_err(err)?;
    ensure!(
        taken.len() == owned,
        "claim_run_requests took {} of {owned} requests",
        taken.len()
    );
    let mut out = Vec::new();
    let mut ids = ids.into_iter();
    for (task, time, state, policy) in specs {
        if *state == RunState::Requested {
            let run = request(task, *time, created).with_on_node_death(*policy);
            c.insert_run(&run).await.map_err(err)?;
            out.push(run);
            continue;
        }
        let id = ids.next().ok_or("fewer ids than runs")?;
        let run = get(c, &id).await?;
        let r = reference(&run)?;
        if *state != RunState::Submitted {
            ensure!(
                c.start_run(&r, *time + Span::microseconds(1))
                    .await
                    .map_err(err)?,
                "start_run of a fresh submitted run '{id}' refused"
            );
        }
        if state.is_final() {
            let finish = RunFinish::new(*state, *time + Span::microseconds(3));
            ensure!(
                c.finish_run(&r, &finish).await.map_err(err)?,
                "finish_run of '{id}' as {state} refused"
            );
        }
        out.push(get(c, &id).await?);
    }
    Ok(out)
}

fn run_ids(runs: &[RunRecord]) -> Vec<&str> {
    runs.iter().map(|r| r.run_id.as_str()).collect()
}

fn node(id: &str) -> NodeInfo {
    NodeInfo::new(id, "testkit-host", 4242, Utc::now())
}

async fn node_state(c: &dyn ClusterStore, id: &str) -> Result<Option<NodeInfo>, String> {
    Ok(c.list_nodes()
        .await
        .map_err(err)?
        .into_iter()
        .find(|n| n.node_id == id))
}

const ABANDON: OnNodeDeath = OnNodeDeath::Abandon;
const RERUN: OnNodeDeath = OnNodeDeath::Rerun;

pub(super) fn cases<H: StoreHarness>() -> Vec<StoreCase<H>> {
    vec![
        case!(
            insert_run_of_a_recorded_key_is_conflict_run_and_keeps_the_record,
            ANY,
            |h, store| {
                let c = cluster_of(&**store)?;
                let first = request("x", at(5), Utc::now());
                c.insert_run(&first).await.map_err(err)?;
                let second = request("x", at(5), Utc::now()).with_error("another");
                let r = c.insert_run(&second).await;
                ensure!(
                    matches!(&r, Err(Error::ConflictRun { task_id, scheduled_run_time })
                        if task_id == "x" && *scheduled_run_time == at(5)),
                    "a second run of x at t0+5s: {r:?} (expected ConflictRun naming x and the time)"
                );
                let kept = c.get_run(&first.run_id).await.map_err(err)?;
                ensure!(kept == Some(first), "the stored record changed: {kept:?}");
                ensure!(
                    c.get_run(&second.run_id).await.map_err(err)?.is_none(),
                    "the conflicting record was stored"
                );
                Ok(())
            }
        ),
        case!(
            run_requests_are_taken_oldest_first_by_exactly_one_racing_node,
            ANY,
            |h, store| {
                let a = cluster_of(&**store)?;
                let other = second_node(h).await?;
                let b = cluster_of(&*other)?;
                let created = Utc::now();
                let mut all = Vec::new();
                for i in (0..22i64).rev() {
                    let run = request("m", at(i), created + Span::milliseconds(i));
                    a.insert_run(&run).await.map_err(err)?;
                    all.push(run);
                }
                all.reverse();
                let oldest = a.claim_run_requests(A, 2).await.map_err(err)?;
                ensure!(
                    run_ids(&oldest) == run_ids(&all[..2]),
                    "limit 2 took {:?}, not the two oldest requests",
                    run_ids(&oldest)
                );
                let (mut seen, mut taken) = (HashSet::new(), oldest.clone());
                for _ in 0..50 {
                    let (x, y) =
                        tokio::join!(a.claim_run_requests(A, 3), b.claim_run_requests(B, 3));
                    let (x, y) = (x.map_err(err)?, y.map_err(err)?);
                    if x.is_empty() && y.is_empty() {
                        break;
                    }
                    for run in &x {
                        ensure!(run.node.as_deref() == Some(A), "taken by {A}: {run:?}");
                    }
                    for run in &y {
                        ensure!(run.node.as_deref() == Some(B), "taken by {B}: {run:?}");
                    }
                    taken.extend(x);
                    taken.extend(y);
                }
                for run in &taken {
                    ensure!(
                        seen.insert(run.run_id.clone()),
                        "request '{}' was taken twice",
                        run.run_id
                    );
                    ensure!(
                        run.state == RunState::Submitted,
                        "taken as {}: {run:?}",
                        run.state
                    );
                    let stored = get(a, &run.run_id).await?;
                    ensure!(
                        stored.state == RunState::Submitted && stored.node == run.node,
                        "stored {stored:?}, returned {run:?}"
                    );
                }
                ensure!(seen.len() == 22, "{} of 22 requests taken", seen.len());
                Ok(())
            }
        ),
        case!(
            start_run_only_from_submitted_by_its_node_and_attempt_and_again_for_a_retry,
            ANY,
            |h, store| {
                let c = cluster_of(&**store)?;
                let runs = runs_in(
                    c,
                    A,
                    &[
                        ("t", at(0), RunState::Submitted, ABANDON),
                        ("t", at(1), RunState::Requested, ABANDON),
                    ],
                )
                .await?;
                let (run, requested) = (&runs[0], &runs[1]);
                let mine = reference(run)?;
                let started = at_us(1_234_567);
                for (what, r) in [
                    (
                        "another node",
                        RunRef {
                            node: B.into(),
                            ..mine.clone()
                        },
                    ),
                    (
                        "another attempt",
                        RunRef {
                            attempt: 2,
                            ..mine.clone()
                        },
                    ),
                    (
                        "a requested run",
                        RunRef {
                            run_id: requested.run_id.clone(),
                            ..mine.clone()
                        },
                    ),
                    (
                        "a missing run",
                        RunRef {
                            run_id: "no-such-run".into(),
                            ..mine.clone()
                        },
                    ),
                ] {
                    let ok = c.start_run(&r, started).await.map_err(err)?;
                    ensure!(!ok, "start_run for {what} answered true");
                }
                let unchanged = get(c, &run.run_id).await?;
                ensure!(
                    &unchanged == run,
                    "refused starts changed the run: {unchanged:?}"
                );
                ensure!(
                    get(c, &requested.run_id).await?.state == RunState::Requested,
                    "the requested run changed"
                );
                ensure!(
                    c.start_run(&mine, started).await.map_err(err)?,
                    "start_run by its node and attempt answered false"
                );
                let running = get(c, &run.run_id).await?;
                ensure!(
                    running.state == RunState::Running && running.started_at == Some(started),
                    "after start_run: {running:?}"
                );
                // A retry of a start whose answer was lost answers true again, to its owner
                // only.
                let retried = started + Span::microseconds(1);
                ensure!(
                    c.start_run(&mine, retried).await.map_err(err)?,
                    "a retried start by the run's node and attempt answered false"
                );
                for (what, r) in [
                    (
                        "another node",
                        RunRef {
                            node: B.into(),
                            ..mine.clone()
                        },
                    ),
                    (
                        "another attempt",
                        RunRef {
                            attempt: 2,
                            ..mine.clone()
                        },
                    ),
                ] {
                    ensure!(
                        !c.start_run(&r, retried).await.map_err(err)?,
                        "start_run of a running run for {what} answered true"
                    );
                }
                let again = get(c, &run.run_id).await?;
                ensure!(
                    again.state == RunState::Running && again.node.as_deref() == Some(A),
                    "after the retried start: {again:?}"
                );
                let done = RunFinish::new(RunState::Succeeded, retried);
                ensure!(
                    c.finish_run(&mine, &done).await.map_err(err)?,
                    "finish after a retried start answered false"
                );
                ensure!(
                    !c.start_run(&mine, retried).await.map_err(err)?,
                    "a finished run was started again"
                );
                Ok(())
            }
        ),
        case!(
            finish_run_only_from_submitted_or_running_and_leaves_final_records,
            ANY,
            |h, store| {
                let c = cluster_of(&**store)?;
                let runs = runs_in(
                    c,
                    A,
                    &[
                        ("t", at(0), RunState::Submitted, ABANDON),
                        ("t", at(1), RunState::Running, ABANDON),
                        ("t", at(2), RunState::Submitted, ABANDON),
                    ],
                )
                .await?;
                let finished = at_us(9_000_001);
                let failed =
                    RunFinish::new(RunState::Failed, finished).with_error(Some("boom".into()));
                let wrong = RunRef {
                    node: B.into(),
                    ..reference(&runs[0])?
                };
                ensure!(
                    !c.finish_run(&wrong, &failed).await.map_err(err)?,
                    "finish_run by another node answered true"
                );
                ensure!(
                    c.finish_run(&reference(&runs[0])?, &failed)
                        .await
                        .map_err(err)?,
                    "finish_run of a submitted run answered false"
                );
                let r0 = get(c, &runs[0].run_id).await?;
                ensure!(
                    r0.state == RunState::Failed
                        && r0.finished_at == Some(finished)
                        && r0.error.as_deref() == Some("boom"),
                    "after finish_run(failed): {r0:?}"
                );
                let ok = RunFinish::new(RunState::Succeeded, finished);
                ensure!(
                    c.finish_run(&reference(&runs[1])?, &ok)
                        .await
                        .map_err(err)?,
                    "finish_run of a running run answered false"
                );
                ensure!(
                    !c.finish_run(&reference(&runs[0])?, &ok)
                        .await
                        .map_err(err)?,
                    "a failed run was finished again"
                );
                ensure!(
                    get(c, &runs[0].run_id).await? == r0,
                    "the failed run changed"
                );
                let settled = c
                    .settle_runs_of(A, at(100), SettleReason::NodeDead)
                    .await
                    .map_err(err)?;
                ensure!(settled.len() == 1, "settled: {settled:?}");
                let abandoned = get(c, &runs[2].run_id).await?;
                ensure!(
                    abandoned.state == RunState::Abandoned,
                    "settled as {abandoned:?}"
                );
                ensure!(
                    !c.finish_run(&reference(&runs[2])?, &ok)
                        .await
                        .map_err(err)?,
                    "an abandoned run was finished"
                );
                let after = get(c, &runs[2].run_id).await?;
                ensure!(
                    after == abandoned,
                    "the abandoned record changed: {after:?}"
                );
                Ok(())
            }
        ),
        case!(get_run_of_a_missing_id_is_none, ANY, |h, store| {
            let c = cluster_of(&**store)?;
            let missing = c.get_run("no-such-run").await.map_err(err)?;
            ensure!(missing.is_none(), "get_run of a missing id: {missing:?}");
            Ok(())
        }),
        case!(
            history_filters_by_task_state_and_before_newest_first_at_most_limit,
            ANY,
            |h, store| {
                let c = cluster_of(&**store)?;
                let runs = runs_in(
                    c,
                    A,
                    &[
                        ("h", at_us(1_000_001), RunState::Succeeded, ABANDON),
                        ("h", at_us(2_000_002), RunState::Failed, ABANDON),
                        ("h", at_us(3_000_003), RunState::Running, ABANDON),
                        ("other", at_us(2_500_000), RunState::Succeeded, ABANDON),
                        ("h", at_us(4_000_004), RunState::Requested, ABANDON),
                    ],
                )
                .await?;
                let id = |i: usize| runs[i].run_id.as_str();
                let query = |q: HistoryQuery| async move { c.history(&q).await.map_err(err) };
                for (what, q, expected) in [
                    (
                        "every run",
                        HistoryQuery::new(),
                        vec![id(4), id(2), id(3), id(1), id(0)],
                    ),
                    (
                        "task h",
                        HistoryQuery::new().task("h"),
                        vec![id(4), id(2), id(1), id(0)],
                    ),
                    (
                        "succeeded or failed",
                        HistoryQuery::new().states([RunState::Succeeded, RunState::Failed]),
                        vec![id(3), id(1), id(0)],
                    ),
                    (
                        "task h before its third run",
                        HistoryQuery::new().task("h").before(at_us(3_000_003)),
                        vec![id(1), id(0)],
                    ),
                    ("limit 2", HistoryQuery::new().limit(2), vec![id(4), id(2)]),
                ] {
                    let got = query(q).await?;
                    ensure!(
                        run_ids(&got) == expected,
                        "{what}: {:?}, expected {expected:?}",
                        run_ids(&got)
                    );
                }
                Ok(())
            }
        ),
        case!(
            history_reads_times_back_to_the_microsecond,
            ANY,
            |h, store| {
                let c = cluster_of(&**store)?;
                let created = at_us(86_400_000_007);
                let run = RunRecord::new(
                    "t",
                    at_us(123_456_789),
                    RunKind::Manual,
                    RunState::Requested,
                    created,
                )
                .with_on_node_death(RERUN);
                c.insert_run(&run).await.map_err(err)?;
                let taken = c.claim_run_requests(A, 1).await.map_err(err)?;
                let r = reference(taken.first().ok_or("the request was not taken")?)?;
                let (started, finished) = (at_us(223_456_781), at_us(323_456_799));
                ensure!(
                    c.start_run(&r, started).await.map_err(err)?,
                    "start_run refused"
                );
                let finish = RunFinish::new(RunState::Failed, finished)
                    .with_error(Some("ünïcødé error".into()));
                ensure!(
                    c.finish_run(&r, &finish).await.map_err(err)?,
                    "finish_run refused"
                );
                let got = c
                    .history(&HistoryQuery::new().task("t"))
                    .await
                    .map_err(err)?;
                let [back] = got.as_slice() else {
                    return Err(format!("history: {got:?}"));
                };
                ensure!(
                back.scheduled_run_time == run.scheduled_run_time
                    && back.created_at == created
                    && back.started_at == Some(started)
                    && back.finished_at == Some(finished),
                "times read back: scheduled {} created {} started {:?} finished {:?}; written: {} {} {} {}",
                back.scheduled_run_time, back.created_at, back.started_at, back.finished_at,
                run.scheduled_run_time, created, started, finished
            );
                ensure!(
                    back.kind == RunKind::Manual
                        && back.state == RunState::Failed
                        && back.on_node_death == RERUN
                        && back.attempt == 1
                        && back.node.as_deref() == Some(A)
                        && back.error.as_deref() == Some("ünïcødé error"),
                    "fields read back: {back:?}"
                );
                ensure!(
                    get(c, &run.run_id).await? == *back,
                    "get_run and history disagree"
                );
                Ok(())
            }
        ),
        case!(prune_by_age_never_deletes_active_runs, ANY, |h, store| {
            let c = cluster_of(&**store)?;
            let runs = runs_in(
                c,
                A,
                &[
                    ("t", at(1), RunState::Succeeded, ABANDON),
                    ("t", at(2), RunState::Submitted, ABANDON),
                    ("t", at(3), RunState::Running, ABANDON),
                    ("t", at(4), RunState::Skipped, ABANDON),
                    ("t", at(5), RunState::Requested, ABANDON),
                ],
            )
            .await?;
            let none = c.prune_runs(t0(), 100).await.map_err(err)?;
            ensure!(
                none == 0,
                "pruning records older than t0 deleted {none} created now"
            );
            let deleted = c
                .prune_runs(Utc::now() + Span::days(1), 100)
                .await
                .map_err(err)?;
            ensure!(
                deleted == 2,
                "pruning every old record deleted {deleted}, expected the 2 final ones"
            );
            let left = c.history(&HistoryQuery::new()).await.map_err(err)?;
            ensure!(
                run_ids(&left) == [runs[4].run_id.as_str(), &runs[2].run_id, &runs[1].run_id],
                "left after pruning: {left:?}"
            );
            Ok(())
        }),
        case!(
            prune_keeps_the_newest_per_task_and_every_active_run,
            ANY,
            |h, store| {
                let c = cluster_of(&**store)?;
                let mut specs = vec![("x", at(0), RunState::Running, ABANDON)];
                specs.extend((1..=5).map(|i| ("x", at(i), RunState::Succeeded, ABANDON)));
                specs.extend((1..=2).map(|i| ("y", at(i), RunState::Failed, ABANDON)));
                let runs = runs_in(c, A, &specs).await?;
                let deleted = c.prune_runs(t0(), 2).await.map_err(err)?;
                ensure!(
                    deleted == 3,
                    "keeping 2 per task deleted {deleted}, expected 3 of x"
                );
                let x = c
                    .history(&HistoryQuery::new().task("x"))
                    .await
                    .map_err(err)?;
                ensure!(
                    run_ids(&x) == [runs[5].run_id.as_str(), &runs[4].run_id, &runs[0].run_id],
                    "x kept {x:?} (expected its newest two and its running run)"
                );
                let y = c
                    .history(&HistoryQuery::new().task("y"))
                    .await
                    .map_err(err)?;
                ensure!(y.len() == 2, "y kept {y:?}");
                Ok(())
            }
        ),
        case!(
            settle_runs_of_a_dead_node_abandons_or_requeues_once,
            ANY,
            |h, store| {
                let a = cluster_of(&**store)?;
                let other = second_node(h).await?;
                let b = cluster_of(&*other)?;
                let mine = runs_in(
                    a,
                    A,
                    &[
                        ("t", at(1), RunState::Submitted, ABANDON),
                        ("t", at(2), RunState::Submitted, RERUN),
                        ("t", at(3), RunState::Running, ABANDON),
                        ("t", at(4), RunState::Running, RERUN),
                        ("t", at(5), RunState::Succeeded, RERUN),
                    ],
                )
                .await?;
                let theirs = runs_in(b, B, &[("u", at(1), RunState::Running, RERUN)]).await?;
                let now = at_us(600_000_001);
                let mut settled = a
                    .settle_runs_of(A, now, SettleReason::NodeDead)
                    .await
                    .map_err(err)?;
                settled.sort_by_key(|r| r.scheduled_run_time);
                ensure!(
                    run_ids(&settled) == run_ids(&mine[..4]),
                    "settled {:?}, expected the 4 submitted and running runs of {A}",
                    run_ids(&settled)
                );
                for run in &settled {
                    ensure!(
                        get(a, &run.run_id).await? == *run,
                        "returned {run:?} is not as stored"
                    );
                    match run.on_node_death {
                        OnNodeDeath::Abandon => ensure!(
                            run.state == RunState::Abandoned
                                && run.finished_at == Some(now)
                                && run.error.as_deref().is_some_and(|e| e.contains(A)),
                            "abandoned run: {run:?} (expected finished at {now}, an error naming {A})"
                        ),
                        OnNodeDeath::Rerun => ensure!(
                            run.state == RunState::Requested && run.node.is_none() && run.attempt == 2,
                            "rerun: {run:?} (expected requested, no node, attempt 2)"
                        ),
                    }
                }
                ensure!(
                    get(a, &mine[4].run_id).await? == mine[4],
                    "a final run was settled"
                );
                ensure!(
                    get(a, &theirs[0].run_id).await? == theirs[0],
                    "{B}'s run was settled"
                );
                let again = a
                    .settle_runs_of(A, now, SettleReason::NodeDead)
                    .await
                    .map_err(err)?;
                ensure!(again.is_empty(), "a second settle found {again:?}");
                let mut requeued = b.claim_run_requests(B, 10).await.map_err(err)?;
                requeued.sort_by_key(|r| r.scheduled_run_time);
                ensure!(
                    run_ids(&requeued) == [mine[1].run_id.as_str(), &mine[3].run_id]
                        && requeued
                            .iter()
                            .all(|r| r.attempt == 2 && r.node.as_deref() == Some(B)),
                    "the reruns taken by {B}: {requeued:?}"
                );
                ensure!(
                    !a.start_run(&reference(&mine[1])?, now).await.map_err(err)?,
                    "{A}'s first attempt was started after its rerun was requeued"
                );
                ensure!(
                    b.start_run(&reference(&requeued[0])?, now)
                        .await
                        .map_err(err)?,
                    "{B} could not start the second attempt"
                );
                Ok(())
            }
        ),
        case!(
            settle_for_a_dead_node_spares_a_node_that_heartbeated_again,
            ANY,
            |h, store| {
                let c = cluster_of(&**store)?;
                let revived = "revived-node";
                c.heartbeat(&node(revived)).await.map_err(err)?;
                let runs = runs_in(
                    c,
                    revived,
                    &[
                        ("r", at(1), RunState::Submitted, RERUN),
                        ("r", at(2), RunState::Running, ABANDON),
                    ],
                )
                .await?;
                let now = at_us(700_000_000);
                let spared = c
                    .settle_runs_of(revived, now, SettleReason::NodeDead)
                    .await
                    .map_err(err)?;
                ensure!(
                    spared.is_empty(),
                    "settled the runs of a node registered alive: {spared:?}"
                );
                for run in &runs {
                    ensure!(
                        get(c, &run.run_id).await? == *run,
                        "a live node's run changed: {run:?}"
                    );
                }
                c.leave(revived).await.map_err(err)?;
                let settled = c
                    .settle_runs_of(revived, now, SettleReason::NodeDead)
                    .await
                    .map_err(err)?;
                ensure!(
                    settled.len() == 2,
                    "after the node was marked dead, settled {settled:?}"
                );
                Ok(())
            }
        ),
        case!(
            settle_for_a_leaving_node_abandons_its_running_runs_whatever_the_policy,
            ANY,
            |h, store| {
                let c = cluster_of(&**store)?;
                let leaving = "leaving-node";
                c.heartbeat(&node(leaving)).await.map_err(err)?;
                let runs = runs_in(
                    c,
                    leaving,
                    &[
                        ("l", at(1), RunState::Submitted, RERUN),
                        ("l", at(2), RunState::Running, RERUN),
                        ("l", at(3), RunState::Submitted, ABANDON),
                    ],
                )
                .await?;
                let now = at_us(800_000_000);
                let settled = c
                    .settle_runs_of(leaving, now, SettleReason::NodeLeaving)
                    .await
                    .map_err(err)?;
                ensure!(settled.len() == 3, "settled {settled:?}");
                let states: Vec<(RunState, u32)> = {
                    let mut out = Vec::new();
                    for run in &runs {
                        let r = get(c, &run.run_id).await?;
                        out.push((r.state, r.attempt));
                    }
                    out
                };
                ensure!(
                    states
                        == [
                            (RunState::Requested, 2),
                            (RunState::Abandoned, 1),
                            (RunState::Abandoned, 1)
                        ],
                    "after a leaving settle: {states:?} (expected the submitted rerun requested \
                     again, the running rerun and the abandon run abandoned)"
                );
                let running = get(c, &runs[1].run_id).await?;
                ensure!(
                    running
                        .error
                        .as_deref()
                        .is_some_and(|e| e.contains(leaving))
                        && running.finished_at == Some(now),
                    "the abandoned running run: {running:?}"
                );
                Ok(())
            }
        ),
        case!(
            settle_for_a_restarted_node_settles_while_it_is_registered_alive,
            ANY,
            |h, store| {
                let c = cluster_of(&**store)?;
                let restarted = "restarted-node";
                c.heartbeat(&node(restarted)).await.map_err(err)?;
                let runs = runs_in(
                    c,
                    restarted,
                    &[
                        ("s", at(1), RunState::Running, RERUN),
                        ("s", at(2), RunState::Running, ABANDON),
                    ],
                )
                .await?;
                let now = at_us(900_000_000);
                let settled = c
                    .settle_runs_of(restarted, now, SettleReason::NodeRestarted)
                    .await
                    .map_err(err)?;
                ensure!(settled.len() == 2, "settled {settled:?}");
                let first = get(c, &runs[0].run_id).await?;
                let second = get(c, &runs[1].run_id).await?;
                ensure!(
                    first.state == RunState::Requested
                        && first.attempt == 2
                        && second.state == RunState::Abandoned,
                    "after a restart settle: {first:?} {second:?}"
                );
                Ok(())
            }
        ),
        case!(heartbeat_answers_the_state_the_node_had, ANY, |h, store| {
            let c = cluster_of(&**store)?;
            let me = node("hb-node");
            let first = c.heartbeat(&me).await.map_err(err)?;
            ensure!(
                first.is_none(),
                "first heartbeat: {first:?} (expected None: new)"
            );
            let second = c.heartbeat(&me).await.map_err(err)?;
            ensure!(
                second == Some(NodeState::Alive),
                "second heartbeat: {second:?}"
            );
            let listed = node_state(c, "hb-node").await?.ok_or("not listed")?;
            let now = c.store_time().await.map_err(err)?;
            ensure!(
                listed.state == NodeState::Alive
                    && listed.host == "testkit-host"
                    && listed.pid == 4242
                    && listed.started_at == me.started_at
                    && listed.heartbeat_age(now) < Duration::from_secs(5),
                "listed as {listed:?} at store time {now}"
            );
            tokio::time::sleep(Duration::from_millis(400)).await;
            let dead = c
                .mark_dead_nodes(Duration::from_millis(200))
                .await
                .map_err(err)?;
            ensure!(
                dead.iter().any(|n| n.node_id == "hb-node"),
                "mark_dead_nodes(200ms) 400 ms after the heartbeat: {dead:?}"
            );
            let third = c.heartbeat(&me).await.map_err(err)?;
            ensure!(
                third == Some(NodeState::Dead),
                "heartbeat after being marked dead: {third:?}"
            );
            let back = node_state(c, "hb-node").await?.ok_or("not listed")?;
            ensure!(
                back.state == NodeState::Alive,
                "after heartbeating again: {back:?}"
            );
            Ok(())
        }),
        case!(a_heartbeat_publishes_the_node_functions, ANY, |h, store| {
            let c = cluster_of(&**store)?;
            let names = |list: &[&str]| list.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
            let me = node("fn-node").with_functions(names(&["jobs:report", "jobs:clean up"]));
            c.heartbeat(&me).await.map_err(err)?;
            let listed = node_state(c, "fn-node").await?.ok_or("not listed")?;
            ensure!(
                listed.functions == names(&["jobs:clean up", "jobs:report"]),
                "functions after the first heartbeat: {:?}",
                listed.functions
            );
            // A later heartbeat replaces the list (functions registered after the start), and an
            // empty list reads back empty.
            let more = node("fn-node").with_functions(names(&["jobs:report", "$weird.name", "ü"]));
            c.heartbeat(&more).await.map_err(err)?;
            let listed = node_state(c, "fn-node").await?.ok_or("not listed")?;
            ensure!(
                listed.functions == names(&["$weird.name", "jobs:report", "ü"]),
                "functions after the second heartbeat: {:?}",
                listed.functions
            );
            c.heartbeat(&node("fn-node")).await.map_err(err)?;
            let listed = node_state(c, "fn-node").await?.ok_or("not listed")?;
            ensure!(
                listed.functions.is_empty(),
                "functions after a heartbeat with none: {:?}",
                listed.functions
            );
            // Marking a node dead keeps what it published.
            c.heartbeat(&me).await.map_err(err)?;
            tokio::time::sleep(Duration::from_millis(400)).await;
            c.mark_dead_nodes(Duration::from_millis(200))
                .await
                .map_err(err)?;
            let dead = node_state(c, "fn-node").await?.ok_or("not listed")?;
            ensure!(
                dead.state == NodeState::Dead && dead.functions.len() == 2,
                "after being marked dead: {dead:?}"
            );
            Ok(())
        }),
        case!(
            racing_mark_dead_nodes_return_each_death_once,
            ANY,
            |h, store| {
                let a = cluster_of(&**store)?;
                let other = second_node(h).await?;
                let b = cluster_of(&*other)?;
                for round in 0..3 {
                    let stale: HashSet<String> =
                        (0..5).map(|i| format!("stale-{round}-{i}")).collect();
                    for id in &stale {
                        a.heartbeat(&node(id)).await.map_err(err)?;
                    }
                    tokio::time::sleep(Duration::from_millis(900)).await;
                    let fresh = format!("fresh-{round}");
                    let beat = std::time::Instant::now();
                    a.heartbeat(&node(&fresh)).await.map_err(err)?;
                    let timeout = Duration::from_millis(500);
                    let (x, y) =
                        tokio::join!(a.mark_dead_nodes(timeout), b.mark_dead_nodes(timeout));
                    let (x, y) = (x.map_err(err)?, y.map_err(err)?);
                    let mut seen = HashSet::new();
                    for n in x.iter().chain(&y) {
                        ensure!(
                            seen.insert(n.node_id.clone()),
                            "round {round}: '{}' was returned dead twice",
                            n.node_id
                        );
                    }
                    // Earlier rounds' fresh nodes go stale meanwhile; only this round counts.
                    let prefix = format!("stale-{round}-");
                    // The fresh node counts too, unless the race came too late to find it
                    // fresh (a slow machine).
                    let fresh_is_fresh = beat.elapsed() < timeout;
                    seen.retain(|id| id.starts_with(&prefix) || (*id == fresh && fresh_is_fresh));
                    ensure!(
                        seen == stale,
                        "round {round}: marked {seen:?}, expected the five stale nodes (not {fresh})"
                    );
                    let later = a.mark_dead_nodes(timeout).await.map_err(err)?;
                    ensure!(
                        later.iter().all(|n| !stale.contains(&n.node_id)),
                        "round {round}: marked dead again: {later:?}"
                    );
                }
                Ok(())
            }
        ),
        case!(
            forget_dead_nodes_deletes_only_nodes_dead_for_long_enough,
            ANY,
            |h, store| {
                let c = cluster_of(&**store)?;
                for id in ["long-dead", "quiet-alive"] {
                    c.heartbeat(&node(id)).await.map_err(err)?;
                }
                c.leave("long-dead").await.map_err(err)?;
                tokio::time::sleep(Duration::from_millis(600)).await;
                c.heartbeat(&node("just-dead")).await.map_err(err)?;
                c.leave("just-dead").await.map_err(err)?;
                let forgotten = c
                    .forget_dead_nodes(Duration::from_millis(400))
                    .await
                    .map_err(err)?;
                let mut left: Vec<String> = c
                    .list_nodes()
                    .await
                    .map_err(err)?
                    .into_iter()
                    .map(|n| n.node_id)
                    .filter(|id| ["long-dead", "quiet-alive", "just-dead"].contains(&id.as_str()))
                    .collect();
                left.sort();
                ensure!(
                    forgotten >= 1 && left == ["just-dead", "quiet-alive"],
                    "forget_dead_nodes(400ms) deleted {forgotten}, left {left:?} (expected only 'long-dead' gone: 'quiet-alive' is old but alive)"
                );
                let again = c
                    .forget_dead_nodes(Duration::from_millis(400))
                    .await
                    .map_err(err)?;
                ensure!(again == 0, "a second call deleted {again}");
                Ok(())
            }
        ),
        case!(
            leave_marks_the_node_dead_and_lists_it_last,
            ANY,
            |h, store| {
                let c = cluster_of(&**store)?;
                for id in ["leaving", "staying"] {
                    c.heartbeat(&node(id)).await.map_err(err)?;
                }
                c.leave("leaving").await.map_err(err)?;
                let nodes = c.list_nodes().await.map_err(err)?;
                let listed: Vec<(&str, NodeState)> = nodes
                    .iter()
                    .map(|n| (n.node_id.as_str(), n.state))
                    .collect();
                ensure!(
                    listed == [("staying", NodeState::Alive), ("leaving", NodeState::Dead)],
                    "nodes after leave: {listed:?} (expected the alive one first)"
                );
                let back = c.heartbeat(&node("leaving")).await.map_err(err)?;
                ensure!(
                    back == Some(NodeState::Dead),
                    "heartbeat after leave: {back:?}"
                );
                Ok(())
            }
        ),
    ]
}
