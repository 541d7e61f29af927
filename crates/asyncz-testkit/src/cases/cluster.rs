//! The cluster cases, part one: the `# Behavior` bullets of `ClusterStore`'s claims
//! (`claim_due_tasks`, `renew_claims`, `release_claims`) and fire commits (`commit_fires`,
//! and the promise that `update_task` / `delete_task` invalidate a claim). Two "nodes" are
//! two stores over the same data set ([`Fixture::reopen`]), each with its own connections.
//! The ledger and node registry cases are in `cluster_ledger`.

use std::collections::HashSet;
use std::time::Duration;

use asyncz_core::chrono::{DateTime, Duration as Span, Utc};
use asyncz_core::cluster::{
    ClaimRequest, ClaimedTask, ClusterStore, CommitResult, FireCommit, FireUpdate, HistoryQuery,
    RunKind, RunRecord, RunState,
};
use asyncz_core::Store;

use super::{err, StoreCase, ANY, CORRUPTIBLE};
use crate::harness::{sample_task, store_context, t0, Fixture, StoreHarness};

/// The claiming nodes.
pub(super) const A: &str = "node-a";
pub(super) const B: &str = "node-b";
/// A lease that expires within a case.
pub(super) const SHORT: Duration = Duration::from_millis(300);
/// Longer than a case.
pub(super) const LONG: Duration = Duration::from_secs(60);
/// Past [`SHORT`] with a margin for a slow server.
pub(super) const PAST_SHORT: Duration = Duration::from_millis(500);

/// The store's cluster half, or why there is none.
pub(super) fn cluster_of<S: Store + ?Sized>(store: &S) -> Result<&dyn ClusterStore, String> {
    store.cluster().ok_or_else(|| {
        format!(
            "store kind '{}' answers None to Store::cluster(): it offers no ClusterStore, so the cluster suite cannot run",
            store.kind()
        )
    })
}

/// A second node: another store over the case's data set.
pub(super) async fn second_node<H: StoreHarness>(
    h: &Fixture<'_, H>,
) -> Result<std::sync::Arc<H::Store>, String> {
    h.reopen(store_context())
        .await
        .map_err(|e| format!("cannot open a second store over the same data: {e}"))
}

/// `t0 + secs`.
pub(super) fn at(secs: i64) -> DateTime<Utc> {
    t0() + Span::seconds(secs)
}

/// Late enough that every sample task of a case is due.
fn late() -> DateTime<Utc> {
    at(24 * 3600)
}

pub(super) async fn claim(
    c: &dyn ClusterStore,
    node: &str,
    now: DateTime<Utc>,
    lease: Duration,
    limit: usize,
) -> Result<Vec<ClaimedTask>, String> {
    c.claim_due_tasks(ClaimRequest::new(node, now, lease, limit))
        .await
        .map_err(|e| format!("claim_due_tasks({node}): {e}"))
}

pub(super) fn claim_ids(claims: &[ClaimedTask]) -> Vec<String> {
    claims.iter().map(|c| c.task.id().to_owned()).collect()
}

fn fence_of(claims: &[ClaimedTask], id: &str) -> Result<u64, String> {
    claims
        .iter()
        .find(|c| c.task.id() == id)
        .map(|c| c.fence)
        .ok_or_else(|| format!("'{id}' is not among the claims {:?}", claim_ids(claims)))
}

/// A `submitted` run of `task_id` at `time`, owned by `node` under `fence`.
pub(super) fn submitted(task_id: &str, time: DateTime<Utc>, node: &str, fence: u64) -> RunRecord {
    RunRecord::new(
        task_id,
        time,
        RunKind::Scheduled,
        RunState::Submitted,
        Utc::now(),
    )
    .with_owner(node, fence)
}

/// The fire of `claimed` that moves its task to `next`, with `runs`.
fn reschedule(
    claimed: &ClaimedTask,
    next: Option<DateTime<Utc>>,
    runs: Vec<RunRecord>,
) -> FireCommit {
    FireCommit::new(
        claimed.task.id(),
        claimed.fence,
        FireUpdate::Reschedule(Box::new(claimed.task.clone().with_next_run_time(next))),
    )
    .with_runs(runs)
}

async fn commit(
    c: &dyn ClusterStore,
    node: &str,
    fires: &[FireCommit],
) -> Result<Vec<CommitResult>, String> {
    let results = c
        .commit_fires(node, fires)
        .await
        .map_err(|e| format!("commit_fires({node}): {e}"))?;
    ensure!(
        results.len() == fires.len(),
        "{} fires gave {} results",
        fires.len(),
        results.len()
    );
    Ok(results)
}

pub(super) async fn history_of(
    c: &dyn ClusterStore,
    task_id: &str,
) -> Result<Vec<RunRecord>, String> {
    c.history(&HistoryQuery::new().task(task_id))
        .await
        .map_err(|e| format!("history({task_id}): {e}"))
}

async fn add(store: &dyn Store, id: &str, next: Option<DateTime<Utc>>) -> Result<(), String> {
    store.add_task(&sample_task(id, next)).await.map_err(err)
}

async fn next_run_time_of(store: &dyn Store, id: &str) -> Result<Option<DateTime<Utc>>, String> {
    Ok(store
        .lookup_task(id)
        .await
        .map_err(err)?
        .ok_or_else(|| format!("task '{id}' vanished"))?
        .next_run_time())
}

pub(super) fn cases<H: StoreHarness>() -> Vec<StoreCase<H>> {
    vec![
        case!(
            claim_takes_due_unpaused_tasks_oldest_first_at_most_limit,
            ANY,
            |h, store| {
                let c = cluster_of(&**store)?;
                for (id, next) in [
                    ("a", Some(at(3))),
                    ("b", Some(at(1))),
                    ("c", Some(at(2))),
                    ("edge", Some(at(10))),
                    ("later", Some(at(11))),
                    ("paused", None),
                ] {
                    add(&**store, id, next).await?;
                }
                let first = claim(c, A, at(10), LONG, 2).await?;
                ensure!(
                    claim_ids(&first) == ["b", "c"],
                    "limit 2 at t0+10s: {:?} (expected the two oldest, b and c)",
                    claim_ids(&first)
                );
                let rest = claim(c, A, at(10), LONG, 10).await?;
                ensure!(
                    claim_ids(&rest) == ["a", "edge"],
                    "the rest due at t0+10s: {:?} (expected a and edge, due exactly then; not later, paused or the held b, c)",
                    claim_ids(&rest)
                );
                for claimed in first.iter().chain(&rest) {
                    ensure!(
                        claimed.fence > 0,
                        "'{}' claimed with fence 0: a claim's fence is greater than the task's fence before (0)",
                        claimed.task.id()
                    );
                }
                ensure!(
                    rest.first().and_then(|c| c.task.next_run_time()) == Some(at(3)),
                    "the claimed task is not the stored one: {:?}",
                    rest.first().map(|c| c.task.next_run_time())
                );
                let none = claim(c, A, at(10), LONG, 10).await?;
                ensure!(
                    none.is_empty(),
                    "held tasks claimed again: {:?}",
                    claim_ids(&none)
                );
                Ok(())
            }
        ),
        case!(
            undecodable_records_are_never_claimed,
            CORRUPTIBLE,
            |h, store| {
                let c = cluster_of(&**store)?;
                add(&**store, "bad", Some(at(0))).await?;
                add(&**store, "good", Some(at(1))).await?;
                h.corrupt_record("bad").await.map_err(err)?;
                let claims = claim(c, A, late(), LONG, 1).await?;
                ensure!(
                claim_ids(&claims) == ["good"],
                "claims with limit 1: {:?} (the undecodable 'bad' is older but never claimed, and does not use up the limit)",
                claim_ids(&claims)
            );
                let again = claim(c, B, late(), LONG, 10).await?;
                ensure!(again.is_empty(), "claimed: {:?}", claim_ids(&again));
                ensure!(
                    h.record_exists("bad").await.map_err(err)?,
                    "the undecodable record was deleted"
                );
                Ok(())
            }
        ),
        case!(
            racing_claims_never_return_the_same_task_twice,
            ANY,
            |h, store| {
                let a = cluster_of(&**store)?;
                let other = second_node(h).await?;
                let b = cluster_of(&*other)?;
                let all: HashSet<String> = (0..200).map(|i| format!("r{i:03}")).collect();
                for (i, id) in all.iter().enumerate() {
                    add(&**store, id, Some(t0() + Span::milliseconds(i as i64))).await?;
                }
                for round in 0..3 {
                    let (mut mine, mut theirs) = (Vec::new(), Vec::new());
                    for _ in 0..100 {
                        let (x, y) = tokio::join!(
                            claim(a, A, late(), LONG, 30),
                            claim(b, B, late(), LONG, 30)
                        );
                        let (x, y) = (x?, y?);
                        if x.is_empty() && y.is_empty() {
                            break;
                        }
                        mine.extend(x);
                        theirs.extend(y);
                    }
                    let mut seen = HashSet::new();
                    for id in claim_ids(&mine).into_iter().chain(claim_ids(&theirs)) {
                        ensure!(
                            seen.insert(id.clone()),
                            "round {round}: '{id}' was claimed twice ({} by {A}, {} by {B})",
                            mine.len(),
                            theirs.len()
                        );
                    }
                    ensure!(
                        seen == all,
                        "round {round}: {} of 200 tasks claimed",
                        seen.len()
                    );
                    a.release_claims(A, &mine).await.map_err(err)?;
                    b.release_claims(B, &theirs).await.map_err(err)?;
                }
                Ok(())
            }
        ),
        case!(
            a_claim_expires_after_its_lease_and_the_reclaim_has_a_larger_fence,
            ANY,
            |h, store| {
                let a = cluster_of(&**store)?;
                let other = second_node(h).await?;
                let b = cluster_of(&*other)?;
                add(&**store, "t", Some(at(0))).await?;
                let first = claim(a, A, late(), SHORT, 10).await?;
                let f1 = fence_of(&first, "t")?;
                let during = claim(b, B, late(), LONG, 10).await?;
                ensure!(
                    during.is_empty(),
                    "claimed by {B} while {A}'s lease holds: {:?}",
                    claim_ids(&during)
                );
                tokio::time::sleep(PAST_SHORT).await;
                let after = claim(b, B, late(), LONG, 10).await?;
                let f2 =
                    fence_of(&after, "t").map_err(|e| format!("after the {SHORT:?} lease: {e}"))?;
                ensure!(f2 > f1, "re-claim fence {f2} is not greater than {f1}");
                let back = claim(a, A, late(), SHORT, 10).await?;
                ensure!(
                    back.is_empty(),
                    "{A} took the task back from {B}: {:?}",
                    claim_ids(&back)
                );
                Ok(())
            }
        ),
        case!(
            every_claim_gets_a_fence_greater_than_any_before,
            ANY,
            |h, store| {
                let c = cluster_of(&**store)?;
                add(&**store, "t", Some(at(0))).await?;
                let mut last = 0;
                for step in [
                    "claim",
                    "after release",
                    "after commit",
                    "after update_task",
                ] {
                    let claims = claim(c, A, late(), LONG, 10).await?;
                    let fence = fence_of(&claims, "t").map_err(|e| format!("{step}: {e}"))?;
                    ensure!(
                        fence > last,
                        "{step}: fence {fence} is not greater than the previous {last}"
                    );
                    last = fence;
                    match step {
                        "claim" => c.release_claims(A, &claims).await.map_err(err)?,
                        "after release" => {
                            let results =
                                commit(c, A, &[reschedule(&claims[0], Some(at(0)), vec![])])
                                    .await?;
                            ensure!(
                                matches!(results[0], CommitResult::Committed(_)),
                                "commit: {results:?}"
                            );
                        }
                        "after commit" => store
                            .update_task(&sample_task("t", Some(at(0))))
                            .await
                            .map_err(err)?,
                        _ => {}
                    }
                }
                Ok(())
            }
        ),
        case!(renew_extends_only_claims_still_held, ANY, |h, store| {
            let a = cluster_of(&**store)?;
            let other = second_node(h).await?;
            let b = cluster_of(&*other)?;
            add(&**store, "kept", Some(at(0))).await?;
            add(&**store, "changed", Some(at(1))).await?;
            let claims = claim(a, A, late(), SHORT, 10).await?;
            ensure!(
                claim_ids(&claims) == ["kept", "changed"],
                "claims: {:?}",
                claim_ids(&claims)
            );
            store
                .update_task(&sample_task("changed", Some(at(1))))
                .await
                .map_err(err)?;
            let not_theirs = b.renew_claims(B, &claims, LONG).await.map_err(err)?;
            ensure!(
                not_theirs.is_empty(),
                "{B} renewed {A}'s claims: {not_theirs:?}"
            );
            let held = a.renew_claims(A, &claims, LONG).await.map_err(err)?;
            ensure!(
                held == ["kept"],
                "renewed: {held:?} (expected only 'kept': 'changed' was updated, which moves its fence)"
            );
            tokio::time::sleep(PAST_SHORT).await;
            let taken = claim(b, B, late(), LONG, 10).await?;
            ensure!(
                claim_ids(&taken) == ["changed"],
                "after the first lease ran out, {B} claimed {:?} (expected only 'changed'; 'kept' was renewed)",
                claim_ids(&taken)
            );
            Ok(())
        }),
        case!(
            release_makes_only_own_current_claims_claimable_at_once,
            ANY,
            |h, store| {
                let a = cluster_of(&**store)?;
                let other = second_node(h).await?;
                let b = cluster_of(&*other)?;
                add(&**store, "t", Some(at(0))).await?;
                let claims = claim(a, A, late(), LONG, 10).await?;
                let fence = fence_of(&claims, "t")?;
                b.release_claims(B, &claims).await.map_err(err)?;
                let wrong_fence = [ClaimedTask::new(claims[0].task.clone(), fence + 1)];
                a.release_claims(A, &wrong_fence).await.map_err(err)?;
                let none = claim(b, B, late(), LONG, 10).await?;
                ensure!(
                    none.is_empty(),
                    "a release by another node or with another fence freed the claim: {B} claimed {:?}",
                    claim_ids(&none)
                );
                a.release_claims(A, &claims).await.map_err(err)?;
                let taken = claim(b, B, late(), LONG, 10).await?;
                ensure!(
                    claim_ids(&taken) == ["t"],
                    "after {A} released its {LONG:?} claim, {B} claimed {:?}",
                    claim_ids(&taken)
                );
                Ok(())
            }
        ),
        case!(
            commit_with_the_current_fence_inserts_runs_advances_and_clears_the_claim,
            ANY,
            |h, store| {
                let a = cluster_of(&**store)?;
                let other = second_node(h).await?;
                let b = cluster_of(&*other)?;
                add(&**store, "t", Some(at(0))).await?;
                let claims = claim(a, A, late(), LONG, 10).await?;
                let fence = fence_of(&claims, "t")?;
                let run = submitted("t", at(0), A, fence);
                let results = commit(
                    a,
                    A,
                    &[reschedule(&claims[0], Some(at(60)), vec![run.clone()])],
                )
                .await?;
                ensure!(
                    results == [CommitResult::Committed(vec![run.clone()])],
                    "commit: {results:?}"
                );
                let next = next_run_time_of(&**store, "t").await?;
                ensure!(
                    next == Some(at(60)),
                    "next run time after the commit: {next:?}"
                );
                let stored = a.get_run(&run.run_id).await.map_err(err)?;
                ensure!(stored.as_ref() == Some(&run), "run as stored: {stored:?}");
                let early = claim(b, B, at(59), LONG, 10).await?;
                ensure!(
                    early.is_empty(),
                    "claimed before due: {:?}",
                    claim_ids(&early)
                );
                let due = claim(b, B, at(60), LONG, 10).await?;
                let again = fence_of(&due, "t")
                    .map_err(|e| format!("the commit did not clear the {LONG:?} claim: {e}"))?;
                ensure!(again > fence, "fence {again} after {fence}");
                Ok(())
            }
        ),
        case!(commit_with_a_stale_fence_writes_nothing, ANY, |h, store| {
            let a = cluster_of(&**store)?;
            let other = second_node(h).await?;
            let b = cluster_of(&*other)?;
            add(&**store, "t", Some(at(0))).await?;
            let mine = claim(a, A, late(), SHORT, 10).await?;
            let f1 = fence_of(&mine, "t")?;
            tokio::time::sleep(PAST_SHORT).await;
            let theirs = claim(b, B, late(), LONG, 10).await?;
            let f2 = fence_of(&theirs, "t")?;
            let stale_run = submitted("t", at(0), A, f1);
            let stale = commit(
                a,
                A,
                &[reschedule(&mine[0], Some(at(60)), vec![stale_run.clone()])],
            )
            .await?;
            ensure!(
                stale == [CommitResult::Stale],
                "commit by {A} with its expired fence {f1} (now {B}'s {f2}): {stale:?}"
            );
            let wrong_node = commit(
                a,
                A,
                &[reschedule(
                    &theirs[0],
                    Some(at(60)),
                    vec![submitted("t", at(0), A, f2)],
                )],
            )
            .await?;
            ensure!(
                wrong_node == [CommitResult::Stale],
                "commit by {A} with {B}'s fence: {wrong_node:?}"
            );
            let next = next_run_time_of(&**store, "t").await?;
            ensure!(
                next == Some(at(0)),
                "a stale commit moved the task to {next:?}"
            );
            let runs = history_of(a, "t").await?;
            ensure!(runs.is_empty(), "a stale commit inserted runs: {runs:?}");
            let run = submitted("t", at(0), B, f2);
            let fresh = commit(
                b,
                B,
                &[reschedule(&theirs[0], Some(at(60)), vec![run.clone()])],
            )
            .await?;
            ensure!(
                fresh == [CommitResult::Committed(vec![run])],
                "commit by the current owner: {fresh:?}"
            );
            Ok(())
        }),
        case!(
            update_and_delete_make_a_claim_stale_and_a_stale_fire_stops_no_other,
            ANY,
            |h, store| {
                let c = cluster_of(&**store)?;
                for (id, next) in [("updated", 0), ("deleted", 1), ("untouched", 2)] {
                    add(&**store, id, Some(at(next))).await?;
                }
                let claims = claim(c, A, late(), LONG, 10).await?;
                ensure!(claims.len() == 3, "claims: {:?}", claim_ids(&claims));
                store
                    .update_task(&sample_task("updated", Some(at(500))))
                    .await
                    .map_err(err)?;
                store.delete_task("deleted").await.map_err(err)?;
                let fires: Vec<FireCommit> = claims
                    .iter()
                    .map(|claimed| {
                        let run = submitted(claimed.task.id(), at(0), A, claimed.fence);
                        reschedule(claimed, Some(at(60)), vec![run])
                    })
                    .collect();
                let results = commit(c, A, &fires).await?;
                ensure!(
                    results[0] == CommitResult::Stale && results[1] == CommitResult::Stale,
                    "commits over update_task and delete_task: {:?}",
                    &results[..2]
                );
                ensure!(
                    matches!(&results[2], CommitResult::Committed(runs) if runs.len() == 1),
                    "the fire after two stale ones: {:?}",
                    results[2]
                );
                let next = next_run_time_of(&**store, "updated").await?;
                ensure!(
                    next == Some(at(500)),
                    "the operator's update was overwritten: next run time {next:?}"
                );
                ensure!(
                    store.lookup_task("deleted").await.map_err(err)?.is_none(),
                    "the stale commit re-created the deleted task"
                );
                for id in ["updated", "deleted"] {
                    let runs = history_of(c, id).await?;
                    ensure!(runs.is_empty(), "stale fire of '{id}' inserted {runs:?}");
                }
                Ok(())
            }
        ),
        case!(
            a_run_already_in_the_ledger_is_not_inserted_twice,
            ANY,
            |h, store| {
                let a = cluster_of(&**store)?;
                let other = second_node(h).await?;
                let b = cluster_of(&*other)?;
                add(&**store, "t", Some(at(0))).await?;
                let first = claim(a, A, late(), LONG, 10).await?;
                let r1 = submitted("t", at(0), A, first[0].fence);
                // The task keeps its next run time, as if the advance had been lost: the next
                // node fires the same scheduled time again.
                let results = commit(
                    a,
                    A,
                    &[reschedule(&first[0], Some(at(0)), vec![r1.clone()])],
                )
                .await?;
                ensure!(
                    results == [CommitResult::Committed(vec![r1.clone()])],
                    "first commit: {results:?}"
                );
                let second = claim(b, B, late(), LONG, 10).await?;
                let f2 = fence_of(&second, "t")?;
                let again = submitted("t", at(0), B, f2);
                let r2 = submitted("t", at(60), B, f2);
                let results = commit(
                    b,
                    B,
                    &[reschedule(
                        &second[0],
                        Some(at(120)),
                        vec![again.clone(), r2.clone()],
                    )],
                )
                .await?;
                ensure!(
                    results == [CommitResult::Committed(vec![r2.clone()])],
                    "second commit with the already recorded run at t0: {results:?} (expected only the run at t0+60s)"
                );
                let next = next_run_time_of(&**store, "t").await?;
                ensure!(
                    next == Some(at(120)),
                    "the second commit did not reschedule: {next:?}"
                );
                let runs = history_of(a, "t").await?;
                ensure!(
                    runs == [r2, r1],
                    "ledger of t: {runs:?} (expected the t0+60s run, then {A}'s t0 run)"
                );
                ensure!(
                    a.get_run(&again.run_id).await.map_err(err)?.is_none(),
                    "the duplicate run was stored under its own id"
                );
                Ok(())
            }
        ),
        case!(
            max_active_stores_runs_beyond_the_limit_as_skipped,
            ANY,
            |h, store| {
                let c = cluster_of(&**store)?;
                add(&**store, "t", Some(at(0))).await?;
                add(&**store, "pair", Some(at(1))).await?;
                let claims = claim(c, A, at(1), LONG, 10).await?;
                let (t, pair) = (&claims[0], &claims[1]);
                let active = submitted("t", at(0), A, t.fence);
                let two = [
                    submitted("pair", at(0), A, pair.fence),
                    submitted("pair", at(1), A, pair.fence),
                ];
                let fires = [
                    reschedule(t, Some(at(60)), vec![active.clone()]).with_max_active(Some(1)),
                    reschedule(pair, Some(at(60)), two.to_vec()).with_max_active(Some(1)),
                ];
                let results = commit(c, A, &fires).await?;
                ensure!(
                    results[0] == CommitResult::Committed(vec![active.clone()]),
                    "the first run under max_active 1: {:?}",
                    results[0]
                );
                let CommitResult::Committed(pair_runs) = &results[1] else {
                    return Err(format!("two runs under max_active 1: {:?}", results[1]));
                };
                let states: Vec<RunState> = pair_runs.iter().map(|r| r.state).collect();
                ensure!(
                    states == [RunState::Submitted, RunState::Skipped],
                    "two runs in one fire under max_active 1: {states:?}"
                );
                let claims = claim(c, A, at(60), LONG, 10).await?;
                let t = claims
                    .iter()
                    .find(|c| c.task.id() == "t")
                    .ok_or("t is not claimable at t0+60s")?;
                let beyond = submitted("t", at(60), A, t.fence);
                let results = commit(
                    c,
                    A,
                    &[reschedule(t, Some(at(120)), vec![beyond.clone()]).with_max_active(Some(1))],
                )
                .await?;
                let CommitResult::Committed(runs) = &results[0] else {
                    return Err(format!("commit beyond max_active: {:?}", results[0]));
                };
                let [run] = runs.as_slice() else {
                    return Err(format!("commit beyond max_active stored {runs:?}"));
                };
                ensure!(
                    run.run_id == beyond.run_id && run.state == RunState::Skipped,
                    "a run beyond max_active 1 with one active run: {run:?} (expected skipped)"
                );
                ensure!(
                    run.error.as_deref().is_some_and(|e| e.contains('1')),
                    "the skipped run's error does not name the limit 1: {:?}",
                    run.error
                );
                let stored = c.get_run(&beyond.run_id).await.map_err(err)?;
                ensure!(
                    stored.as_ref() == Some(run),
                    "stored: {stored:?}, returned: {run:?}"
                );
                Ok(())
            }
        ),
        case!(
            a_remove_fire_deletes_the_task_and_keeps_its_runs,
            ANY,
            |h, store| {
                let c = cluster_of(&**store)?;
                add(&**store, "once", Some(at(0))).await?;
                let claims = claim(c, A, late(), LONG, 10).await?;
                let run = submitted("once", at(0), A, claims[0].fence);
                let fire = FireCommit::new("once", claims[0].fence, FireUpdate::Remove)
                    .with_runs(vec![run.clone()]);
                let results = commit(c, A, &[fire]).await?;
                ensure!(
                    results == [CommitResult::Committed(vec![run.clone()])],
                    "remove fire: {results:?}"
                );
                ensure!(
                    store.lookup_task("once").await.map_err(err)?.is_none(),
                    "the task is still stored after FireUpdate::Remove"
                );
                let stored = c.get_run(&run.run_id).await.map_err(err)?;
                ensure!(stored == Some(run), "its run: {stored:?}");
                Ok(())
            }
        ),
        case!(store_time_is_close_to_the_real_time, ANY, |h, store| {
            let c = cluster_of(&**store)?;
            let before = Utc::now();
            let time = c.store_time().await.map_err(err)?;
            let skew = (time - before).num_milliseconds().abs();
            ensure!(
                skew < 5_000,
                "store_time {time} is {skew} ms off the system clock ({before})"
            );
            Ok(())
        }),
    ]
}
