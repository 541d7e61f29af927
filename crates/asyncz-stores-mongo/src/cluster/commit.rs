//! Fire commits without multi-document transactions: the runs first, under the ledger's
//! unique key, then the task, guarded by the claim's fence.

use asyncz_core::cluster::{CommitResult, FireCommit, FireUpdate, RunRecord, RunState};
use asyncz_core::{Error, Result};
use mongodb::bson::doc;
use mongodb::error::ErrorKind;

use super::documents::{committed_fence, fence_bson, run_document, run_of};
use crate::store::{binary, is_duplicate_key, MongoStore, Started};

/// Commits each fire in turn; a fire that fails is undone as far as it can be, logged, and
/// reported `Stale` (its runs are not run), so it does not stop the others.
pub(super) async fn commit_fires(
    store: &MongoStore,
    node: &str,
    fires: &[FireCommit],
) -> Result<Vec<CommitResult>> {
    let s = store.started()?;
    let mut results = Vec::with_capacity(fires.len());
    for fire in fires {
        match commit_fire(store, &s, node, fire).await {
            Ok(result) => results.push(result),
            Err(e) => {
                tracing::warn!(
                    target: "asyncz.stores.mongo",
                    store = %s.alias(),
                    task = %fire.task_id,
                    fence = fire.fence,
                    error = %e,
                    "cannot commit a fire; its runs are not run"
                );
                results.push(CommitResult::Stale);
            }
        }
    }
    Ok(results)
}

/// Applies `max_active`: the fire is one instance (one job runs its runs in turn); with
/// `active` instances of the task already active, all its `submitted` runs become `skipped`
/// (finished when recorded), with an error naming the limit, or none do.
fn limit_active(runs: &mut [RunRecord], task_id: &str, active: u64, max_active: u32) {
    if active < u64::from(max_active) {
        return;
    }
    for run in runs.iter_mut().filter(|r| r.state == RunState::Submitted) {
        run.state = RunState::Skipped;
        run.finished_at = Some(run.created_at);
        run.error = Some(format!(
            "skipped: task '{task_id}' already has {active} active instance(s) across the cluster (max_instances = {max_active})"
        ));
    }
}

/// The indexes (in the batch) of the runs an `insert_many` refused as duplicates, or `None`
/// when it failed for another reason too.
fn duplicates(e: &mongodb::error::Error) -> Option<Vec<usize>> {
    match e.kind.as_ref() {
        ErrorKind::InsertMany(failure) if failure.write_concern_error.is_none() => {
            let errors = failure.write_errors.as_deref().unwrap_or_default();
            errors
                .iter()
                .all(|w| w.code == 11000)
                .then(|| errors.iter().map(|w| w.index).collect())
        }
        _ => None,
    }
}

/// Commits one fire without a multi-document transaction:
///
/// 1. with `max_active`, count the task's active runs (one `countDocuments`) and mark the
///    runs beyond the limit `skipped`;
/// 2. insert the fire's runs in one unordered `insertMany`. A duplicate-key error on
///    `(task_id, scheduled_run_time)` means "already recorded": that run is left out, unless
///    the record is an orphan of a fire that never committed ([`adopt_orphan`]), which this
///    run replaces;
/// 3. update (or delete) the task, filtered on `_id` + `claimed_by` + `fence`, clearing the
///    claim and setting `committed_fence`; when that matches nothing the claim is stale: the
///    runs this call inserted are deleted again and the fire is `Stale`.
///
/// Two or three round trips per fire; more only on a collision.
///
/// # Crash windows
/// - Dying before step 2 writes nothing: the claim expires, another node fires the same
///   scheduled time.
/// - Dying between steps 2 and 3 leaves run records owned by the dead node (never run: the
///   node had no commit) and the task unadvanced. Whichever comes first settles them: the
///   node's death (`settle_runs_of`: abandoned, or requested again), or the re-fire of the
///   same scheduled time by the next claimant, which collides on the unique key, finds the
///   record newer than the task's `committed_fence`, and replaces it with its own run. Either
///   way the fire is recorded, and run, at most once (exactly once in the second case).
/// - Dying after step 3 is a complete commit.
/// - A node that pauses past its lease between steps 2 and 3 while another node claims and
///   fires the same scheduled time is the same orphan, seen by a live owner: the other node
///   replaces the record (its conditional delete wins, or the paused node's undo already
///   removed it), and the paused node's step 3 finds a stale fence.
/// - An error in step 3 (the server away, the answer lost) is resolved by reading the task
///   back: carrying this fire's fence as `committed_fence` it committed (and runs); not
///   carrying it, the runs inserted are deleted and the fire is `Stale`; unreadable, the
///   runs stay as orphans (the next claimant adopts them, or settling ends them) and the
///   fire is not run.
async fn commit_fire(
    store: &MongoStore,
    s: &Started,
    node: &str,
    fire: &FireCommit,
) -> Result<CommitResult> {
    let fence = fence_bson(fire.fence)?;
    let task_id = fire.task_id.as_str();
    // Everything that can fail without writing is done first.
    let task_update = match &fire.update {
        FireUpdate::Reschedule(task) => {
            if task.id() != task_id {
                return Err(Error::invalid(
                    "fire",
                    format!(
                        "the fire of task '{task_id}' reschedules task '{}'",
                        task.id()
                    ),
                ));
            }
            let state = binary(s.records.encode(task)?);
            Some(match task.next_run_time() {
                Some(t) => doc! {
                    "$set": {
                        "state": state,
                        "next_run_time": t.timestamp_micros(),
                        "committed_fence": fence,
                    },
                    "$unset": {"claimed_by": "", "claimed_until": ""},
                },
                None => doc! {
                    "$set": {"state": state, "committed_fence": fence},
                    "$unset": {"next_run_time": "", "claimed_by": "", "claimed_until": ""},
                },
            })
        }
        FireUpdate::Remove => None,
    };
    let mut runs = fire.runs.clone();
    if let Some(run) = runs.iter().find(|r| r.task_id != task_id) {
        return Err(Error::invalid(
            "fire",
            format!(
                "the fire of task '{task_id}' carries run '{}' of task '{}'",
                run.run_id, run.task_id
            ),
        ));
    }
    if let Some(max_active) = fire.max_active {
        if runs.iter().any(|r| r.state == RunState::Submitted) {
            // Active instances: active runs by distinct fence (a fire's runs share theirs).
            let active = s
                .backend
                .runs
                .distinct(
                    "fence",
                    doc! {
                        "task_id": task_id,
                        "state": {"$in": [RunState::Submitted.as_str(), RunState::Running.as_str()]},
                    },
                )
                .await
                .map_err(|e| store.err(s, "cannot count active runs", e))?
                .len() as u64;
            limit_active(&mut runs, task_id, active, max_active);
        }
    }
    let documents = runs.iter().map(run_document).collect::<Result<Vec<_>>>()?;

    let mut inserted = vec![true; runs.len()];
    if !documents.is_empty() {
        if let Err(e) = s.backend.runs.insert_many(documents).ordered(false).await {
            let Some(refused) = duplicates(&e) else {
                undo(store, s, fire, &runs).await;
                return Err(store.err(s, "cannot insert run records", e));
            };
            let mut committed = None;
            for i in refused {
                let Some(run) = runs.get(i) else { continue };
                let adopted = adopt_orphan(store, s, fire, run, &mut committed)
                    .await
                    .unwrap_or_else(|e| {
                        tracing::warn!(
                            target: "asyncz.stores.mongo",
                            store = %s.alias(),
                            task = %task_id,
                            error = %e,
                            "cannot check a run already recorded; it is left out"
                        );
                        false
                    });
                if let Some(flag) = inserted.get_mut(i) {
                    *flag = adopted;
                }
            }
        }
    }
    let ours: Vec<RunRecord> = runs
        .into_iter()
        .zip(inserted)
        .filter_map(|(run, inserted)| inserted.then_some(run))
        .collect();

    let claim = doc! {"_id": task_id, "claimed_by": node, "fence": fence};
    let matched = match task_update {
        Some(update) => s
            .backend
            .tasks
            .update_one(claim, update)
            .await
            .map(|r| r.matched_count == 1),
        None => s
            .backend
            .tasks
            .delete_one(claim)
            .await
            .map(|r| r.deleted_count == 1),
    };
    match matched {
        Ok(true) => {
            store.started.undecodable().clear(task_id);
            Ok(CommitResult::Committed(ours))
        }
        Ok(false) => {
            undo(store, s, fire, &ours).await;
            Ok(CommitResult::Stale)
        }
        // The update's answer was lost: it may have applied. The task tells (its
        // `committed_fence` is this fire's only if it did); undoing without knowing could
        // drop a committed fire.
        Err(e) => match applied(store, s, fire).await {
            Ok(true) => {
                store.started.undecodable().clear(task_id);
                Ok(CommitResult::Committed(ours))
            }
            Ok(false) => {
                undo(store, s, fire, &ours).await;
                Err(store.err(s, "cannot advance the task", e))
            }
            Err(read) => {
                tracing::warn!(
                    target: "asyncz.stores.mongo",
                    store = %s.alias(),
                    task = %task_id,
                    fence = fire.fence,
                    error = %read,
                    "cannot tell whether a fire's task update applied; its records stay for the next claimant to adopt (or for settling when this node leaves)"
                );
                Err(store.err(s, "cannot advance the task", e))
            }
        },
    }
}

/// Whether this fire's task update applied, read back after its answer was lost: the task
/// carries the fire's fence as `committed_fence`, or (a final fire) the task is gone.
async fn applied(store: &MongoStore, s: &Started, fire: &FireCommit) -> Result<bool> {
    let task = s
        .backend
        .tasks
        .find_one(doc! {"_id": fire.task_id.as_str()})
        .projection(doc! {"committed_fence": 1})
        .await
        .map_err(|e| store.err(s, "cannot read the task back", e))?;
    match (task, &fire.update) {
        (Some(task), _) => Ok(committed_fence(&task)? == fire.fence),
        (None, FireUpdate::Remove) => Ok(true),
        (None, FireUpdate::Reschedule(_)) => Ok(false),
    }
}

/// How many times a fire tries to adopt one orphaned record (each try loses only to another
/// writer that changed the record meanwhile).
const ADOPT_TRIES: usize = 3;

/// Whether `run`, refused as already recorded, replaced the record in the ledger because that
/// record is an *orphan*: the half-written fire of a claim that can no longer commit.
///
/// A record is an orphan when it is still `submitted` (or was settled `abandoned` before it
/// ever started, its node found dead first; first attempt, owned by a node) under
/// a fence older than this fire's and newer than the task's `committed_fence` (the fence of
/// its last completed commit, set by the same write that advances the task). Fences only grow
/// and this fire's claim came after the orphan's, so the orphan's commit never completed and
/// never will (its fence-guarded task update cannot match any more), and its node never ran
/// it. The orphan is deleted conditionally (same id, node, fence and state; a racing
/// `settle_runs_of` or adopter wins otherwise) and this fire's run inserted in its place.
/// `committed` caches the task's committed fence for the fire.
async fn adopt_orphan(
    store: &MongoStore,
    s: &Started,
    fire: &FireCommit,
    run: &RunRecord,
    committed: &mut Option<Option<u64>>,
) -> Result<bool> {
    let task_id = fire.task_id.as_str();
    let committed = match committed {
        Some(known) => *known,
        None => {
            let task = s
                .backend
                .tasks
                .find_one(doc! {"_id": task_id})
                .projection(doc! {"committed_fence": 1})
                .await
                .map_err(|e| store.err(s, "cannot read the task's committed fence", e))?;
            let known = match task {
                Some(task) => Some(committed_fence(&task)?),
                None => None,
            };
            *committed = Some(known);
            known
        }
    };
    // A task deleted meanwhile: nothing to fire, nothing to adopt.
    let Some(committed) = committed else {
        return Ok(false);
    };
    let key = doc! {
        "task_id": task_id,
        "scheduled_run_time": run.scheduled_run_time.timestamp_micros(),
    };
    for _ in 0..ADOPT_TRIES {
        let Some(existing) = s
            .backend
            .runs
            .find_one(key.clone())
            .await
            .map_err(|e| store.err(s, "cannot read the recorded run", e))?
        else {
            // Deleted meanwhile (its own node undid it): the key is free again.
            match s.backend.runs.insert_one(run_document(run)?).await {
                Ok(_) => return Ok(true),
                Err(e) if is_duplicate_key(&e) => continue,
                Err(e) => return Err(store.err(s, "cannot insert a run record", e)),
            }
        };
        let existing = run_of(&existing)?;
        // Settled while orphaned (its node found dead first): abandoned, never started.
        let never_run = existing.state == RunState::Submitted
            || (existing.state == RunState::Abandoned && existing.started_at.is_none());
        let orphan = never_run
            && existing.attempt == 1
            && existing.fence > committed
            && existing.fence < fire.fence;
        let Some(owner) = existing.node.as_deref().filter(|_| orphan) else {
            return Ok(false);
        };
        let deleted = s
            .backend
            .runs
            .delete_one(doc! {
                "_id": &existing.run_id,
                "node": owner,
                "fence": fence_bson(existing.fence)?,
                "attempt": 1_i64,
                "state": existing.state.as_str(),
            })
            .await
            .map_err(|e| store.err(s, "cannot delete an orphaned run record", e))?;
        if deleted.deleted_count == 0 {
            continue;
        }
        tracing::info!(
            target: "asyncz.stores.mongo",
            store = %s.alias(),
            task = %task_id,
            run = %existing.run_id,
            node = %owner,
            fence = existing.fence,
            "replaced the run record of a fire that never committed"
        );
        match s.backend.runs.insert_one(run_document(run)?).await {
            Ok(_) => return Ok(true),
            Err(e) if is_duplicate_key(&e) => continue,
            Err(e) => return Err(store.err(s, "cannot insert a run record", e)),
        }
    }
    Ok(false)
}

/// Deletes the run records of `runs` (fresh run ids this fire inserted), best effort: a
/// failure is logged, and leaves records for `settle_runs_of` when the node dies.
async fn undo(store: &MongoStore, s: &Started, fire: &FireCommit, runs: &[RunRecord]) {
    if runs.is_empty() {
        return;
    }
    let ids: Vec<&str> = runs.iter().map(|r| r.run_id.as_str()).collect();
    let filter = doc! {"_id": {"$in": ids}, "task_id": &fire.task_id};
    if let Err(e) = s.backend.runs.delete_many(filter).await {
        tracing::warn!(
            target: "asyncz.stores.mongo",
            store = %s.alias(),
            task = %fire.task_id,
            error = %store.err(s, "cannot delete the runs of a stale fire", e),
            "run records of an uncommitted fire are left for settling"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use asyncz_core::chrono::{DateTime, Utc};
    use asyncz_core::cluster::RunKind;

    fn run(state: RunState, second: i64) -> RunRecord {
        let t = DateTime::<Utc>::from_timestamp(second, 0).unwrap_or_default();
        RunRecord::new("t", t, RunKind::Scheduled, state, t)
    }

    #[test]
    fn a_fire_at_the_limit_is_skipped_whole_naming_the_limit() {
        let mut runs = vec![
            run(RunState::Submitted, 1),
            run(RunState::Missed, 2),
            run(RunState::Submitted, 3),
        ];
        limit_active(&mut runs, "t", 2, 2);
        let states: Vec<RunState> = runs.iter().map(|r| r.state).collect();
        assert_eq!(
            states,
            [RunState::Skipped, RunState::Missed, RunState::Skipped]
        );
        let error = runs[2].error.as_deref().unwrap_or_default();
        assert!(
            error.contains("max_instances = 2") && error.contains("'t'"),
            "{error}"
        );
        assert_eq!(runs[2].finished_at, Some(runs[2].created_at));
        assert_eq!(
            runs[1].error, None,
            "a missed run is not counted nor changed"
        );
    }

    #[test]
    fn no_run_is_skipped_below_max_active() {
        let mut runs = vec![run(RunState::Submitted, 1), run(RunState::Submitted, 2)];
        limit_active(&mut runs, "t", 1, 2);
        assert!(runs.iter().all(|r| r.state == RunState::Submitted));
    }
}
