//! Claims (`findOneAndUpdate` per task) and fire commits (runs first, then the task, guarded
//! by the fence).

use std::time::Duration;

use asyncz_core::cluster::{
    ClaimRequest, ClaimedTask, CommitResult, FireCommit, FireUpdate, RunRecord, RunState,
};
use asyncz_core::{Error, Result};
use futures::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use mongodb::error::ErrorKind;
use mongodb::options::ReturnDocument;

use super::documents::{fence_bson, run_document, task_fence};
use super::{micros_of, now_expr};
use crate::store::{binary, MongoStore, Started};

/// Claims due tasks one `findOneAndUpdate` at a time: each picks the oldest due, unpaused
/// task with no live claim (none, or `claimed_until` at or before the server's now) and sets
/// `claimed_by`, `claimed_until = now + lease` and `fence + 1` in the same write, so two racing
/// nodes never get the same task. A claimed document that does not decode is released at
/// once and left out (it does not use up the limit).
pub(super) async fn claim_due_tasks(
    store: &MongoStore,
    request: ClaimRequest<'_>,
) -> Result<Vec<ClaimedTask>> {
    let s = store.started()?;
    let now = request.now.timestamp_micros();
    let lease = micros_of("cluster.lease", request.lease)?;
    let mut excluded: Vec<Bson> = store
        .started
        .undecodable()
        .list()
        .into_iter()
        .map(|(id, _)| Bson::String(id))
        .collect();
    let mut claims = Vec::new();
    while claims.len() < request.limit {
        let filter = doc! {
            "next_run_time": {"$lte": now},
            "_id": {"$nin": excluded.clone()},
            "$expr": {"$lte": [{"$ifNull": ["$claimed_until", i64::MIN]}, now_expr()]},
        };
        let update = vec![doc! {"$set": {
            "claimed_by": {"$literal": request.node},
            "claimed_until": {"$add": [now_expr(), lease]},
            "fence": {"$add": [{"$ifNull": ["$fence", 0_i64]}, 1_i64]},
        }}];
        let claimed = s
            .backend
            .tasks
            .find_one_and_update(filter, update)
            .sort(doc! {"next_run_time": 1, "_id": 1})
            .return_document(ReturnDocument::After)
            .await
            .map_err(|e| store.err(&s, "cannot claim due tasks", e))?;
        let Some(document) = claimed else { break };
        let id = document.get("_id").cloned().unwrap_or(Bson::Null);
        let fence = task_fence(&document)?;
        match MongoStore::read(&s, &document) {
            Ok(task) => claims.push(ClaimedTask::new(task, fence)),
            Err(_) => {
                // Noted as undecodable by the read; never run, so never held.
                s.backend
                    .tasks
                    .update_one(
                        doc! {"_id": id.clone(), "claimed_by": request.node, "fence": fence_bson(fence)?},
                        doc! {"$unset": {"claimed_by": "", "claimed_until": ""}},
                    )
                    .await
                    .map_err(|e| store.err(&s, "cannot release an undecodable task", e))?;
                excluded.push(id);
            }
        }
    }
    Ok(claims)
}

/// `{claimed_by: node, $or: [{_id, fence}, ...]}`: the claims still held as they were made.
fn held_by(node: &str, claims: &[ClaimedTask]) -> Result<Document> {
    let each = claims
        .iter()
        .map(|c| Ok(doc! {"_id": c.task.id(), "fence": fence_bson(c.fence)?}))
        .collect::<Result<Vec<Document>>>()?;
    Ok(doc! {"claimed_by": node, "$or": each})
}

/// Extends the claims still held (same node, same fence) in one write, then reads which
/// those are.
pub(super) async fn renew_claims(
    store: &MongoStore,
    node: &str,
    claims: &[ClaimedTask],
    lease: Duration,
) -> Result<Vec<String>> {
    let s = store.started()?;
    if claims.is_empty() {
        return Ok(Vec::new());
    }
    let lease = micros_of("cluster.lease", lease)?;
    let filter = held_by(node, claims)?;
    s.backend
        .tasks
        .update_many(
            filter.clone(),
            vec![doc! {"$set": {"claimed_until": {"$add": [now_expr(), lease]}}}],
        )
        .await
        .map_err(|e| store.err(&s, "cannot renew claims", e))?;
    let held: Vec<Document> = s
        .backend
        .tasks
        .find(filter)
        .projection(doc! {"_id": 1})
        .await
        .map_err(|e| store.err(&s, "cannot read renewed claims", e))?
        .try_collect()
        .await
        .map_err(|e| store.err(&s, "cannot read renewed claims", e))?;
    let held: Vec<&str> = held.iter().filter_map(|d| d.get_str("_id").ok()).collect();
    Ok(claims
        .iter()
        .map(|c| c.task.id())
        .filter(|id| held.contains(id))
        .map(str::to_owned)
        .collect())
}

/// Clears the claims still held (same node, same fence) in one write.
pub(super) async fn release_claims(
    store: &MongoStore,
    node: &str,
    claims: &[ClaimedTask],
) -> Result<()> {
    let s = store.started()?;
    if claims.is_empty() {
        return Ok(());
    }
    s.backend
        .tasks
        .update_many(
            held_by(node, claims)?,
            doc! {"$unset": {"claimed_by": "", "claimed_until": ""}},
        )
        .await
        .map_err(|e| store.err(&s, "cannot release claims", e))?;
    Ok(())
}

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

/// Applies `max_active`: with `active` runs of the task already active, a `submitted` run
/// beyond the limit becomes `skipped` (finished when recorded), with an error naming it.
fn limit_active(runs: &mut [RunRecord], task_id: &str, mut active: u64, max_active: u32) {
    for run in runs.iter_mut().filter(|r| r.state == RunState::Submitted) {
        if active < u64::from(max_active) {
            active += 1;
            continue;
        }
        run.state = RunState::Skipped;
        run.finished_at = Some(run.created_at);
        run.error = Some(format!(
            "skipped: task '{task_id}' already has {active} active runs across the cluster (max_active = {max_active})"
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
/// 2. insert the fire's runs in one unordered `insertMany`; a duplicate-key error on
///    `(task_id, scheduled_run_time)` means "already recorded": that run is left out;
/// 3. update (or delete) the task, filtered on `_id` + `claimed_by` + `fence`, clearing the
///    claim; when that matches nothing the claim is stale: the runs this call inserted are
///    deleted again and the fire is `Stale`.
///
/// # Crash windows
/// - Dying before step 2 writes nothing: the claim expires, another node fires the same
///   scheduled time.
/// - Dying between steps 2 and 3 leaves run records owned by the dead node and the task
///   unadvanced. The records are settled by the node's death (`settle_runs_of`: abandoned, or
///   requested again); the task's claim expires and the node that fires it again collides on
///   the unique key, so the scheduled time is not recorded (nor run) twice.
/// - Dying after step 3 is a complete commit.
/// - A node that paused past its lease *between* steps 2 and 3, while another node claimed
///   and committed the same scheduled time, makes the other node leave that run out as
///   already recorded; its own step 3 then finds a stale fence and deletes the record, so
///   that one fire is not run. Only a transaction closes this window; it needs a pause
///   longer than the lease in the middle of one commit.
/// - An error in step 3 (the server away) is reported as `Stale` after deleting the runs
///   inserted: if the update did apply, that fire is dropped rather than run twice.
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
                    "$set": {"state": state, "next_run_time": t.timestamp_micros()},
                    "$unset": {"claimed_by": "", "claimed_until": ""},
                },
                None => doc! {
                    "$set": {"state": state},
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
            let active = s
                .backend
                .runs
                .count_documents(doc! {
                    "task_id": task_id,
                    "state": {"$in": [RunState::Submitted.as_str(), RunState::Running.as_str()]},
                })
                .await
                .map_err(|e| store.err(s, "cannot count active runs", e))?;
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
            for i in refused {
                if let Some(flag) = inserted.get_mut(i) {
                    *flag = false;
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
        Err(e) => {
            undo(store, s, fire, &ours).await;
            Err(store.err(s, "cannot advance the task", e))
        }
    }
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
