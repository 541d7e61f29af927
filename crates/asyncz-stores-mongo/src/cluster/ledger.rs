//! The run ledger: run requests, a run's transitions (each a conditional single-document
//! write, so it happens only while the record is still that attempt's), history, pruning and
//! settling a dead node's runs.

use asyncz_core::chrono::{DateTime, Utc};
use asyncz_core::cluster::{
    HistoryQuery, NodeState, RunFinish, RunRecord, RunRef, RunState, SettleReason,
};
use asyncz_core::{Error, Result};
use futures::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use mongodb::options::ReturnDocument;

use super::documents::{id_of, run_document, run_of};
use crate::store::{is_duplicate_key, MongoStore};

/// The states that hold a run's node: `submitted` and `running`.
fn active_states() -> Bson {
    Bson::Array(vec![
        RunState::Submitted.as_str().into(),
        RunState::Running.as_str().into(),
    ])
}

/// The final states (the ones pruning may delete).
fn final_states() -> Bson {
    Bson::Array(
        RunState::ALL
            .into_iter()
            .filter(|s| s.is_final())
            .map(|s| Bson::String(s.as_str().to_owned()))
            .collect(),
    )
}

/// A count or limit as BSON's `i64`.
fn as_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(super) async fn insert_run(store: &MongoStore, run: &RunRecord) -> Result<()> {
    let s = store.started()?;
    match s.backend.runs.insert_one(run_document(run)?).await {
        Ok(_) => Ok(()),
        Err(e) if is_duplicate_key(&e) => Err(Error::ConflictRun {
            task_id: run.task_id.clone(),
            scheduled_run_time: run.scheduled_run_time,
        }),
        Err(e) => Err(store.err(&s, &format!("cannot insert run '{}'", run.run_id), e)),
    }
}

/// One `findOneAndUpdate` per request, oldest first: each is taken by exactly one caller.
pub(super) async fn claim_run_requests(
    store: &MongoStore,
    node: &str,
    limit: usize,
) -> Result<Vec<RunRecord>> {
    let s = store.started()?;
    let mut taken = Vec::new();
    // A read first: an idle poll (no request waiting) writes nothing.
    let waiting = s
        .backend
        .runs
        .find_one(doc! {"state": RunState::Requested.as_str()})
        .projection(doc! {"_id": 1})
        .await
        .map_err(|e| store.err(&s, "cannot read run requests", e))?;
    if waiting.is_none() {
        return Ok(taken);
    }
    while taken.len() < limit {
        let document = s
            .backend
            .runs
            .find_one_and_update(
                doc! {"state": RunState::Requested.as_str()},
                doc! {"$set": {"state": RunState::Submitted.as_str(), "node": node}},
            )
            .sort(doc! {"created_at": 1, "scheduled_run_time": 1, "_id": 1})
            .return_document(ReturnDocument::After)
            .await
            .map_err(|e| store.err(&s, "cannot take run requests", e))?;
        let Some(document) = document else { break };
        taken.push(run_of(&document)?);
    }
    Ok(taken)
}

/// The filter of a run still owned by `run`'s node and attempt, in one of `states`.
fn owned(run: &RunRef, states: Bson) -> Document {
    doc! {
        "_id": &run.run_id,
        "node": &run.node,
        "attempt": i64::from(run.attempt),
        "state": {"$in": states},
    }
}

/// One state, as the `$in` list [`owned`] takes.
fn only(state: RunState) -> Bson {
    Bson::Array(vec![state.as_str().into()])
}

/// Starts a run still `submitted` (stamping its start time); a run already `running` under
/// the same owner and attempt (a retried start) answers `true` and keeps its start time.
pub(super) async fn start_run(
    store: &MongoStore,
    run: &RunRef,
    started_at: DateTime<Utc>,
) -> Result<bool> {
    let s = store.started()?;
    let result = s
        .backend
        .runs
        .update_one(
            owned(run, only(RunState::Submitted)),
            doc! {"$set": {
                "state": RunState::Running.as_str(),
                "started_at": asyncz_core::truncate_to_micros(started_at).timestamp_micros(),
            }},
        )
        .await
        .map_err(|e| store.err(&s, &format!("cannot start run '{}'", run.run_id), e))?;
    if result.matched_count == 1 {
        return Ok(true);
    }
    let running = s
        .backend
        .runs
        .count_documents(owned(run, only(RunState::Running)))
        .await
        .map_err(|e| store.err(&s, &format!("cannot read run '{}'", run.run_id), e))?;
    Ok(running == 1)
}

/// Starts many runs in two round trips: one `updateMany` over every run still `submitted`
/// and owned by its node and attempt, then one read of which of them are now `running`
/// under their owner (started by this call, or before by a start whose answer was lost).
pub(super) async fn start_runs(
    store: &MongoStore,
    runs: &[RunRef],
    started_at: DateTime<Utc>,
) -> Result<Vec<bool>> {
    let s = store.started()?;
    if runs.is_empty() {
        return Ok(Vec::new());
    }
    let submitted: Vec<Document> = runs
        .iter()
        .map(|r| owned(r, only(RunState::Submitted)))
        .collect();
    s.backend
        .runs
        .update_many(
            doc! {"$or": submitted},
            doc! {"$set": {
                "state": RunState::Running.as_str(),
                "started_at": asyncz_core::truncate_to_micros(started_at).timestamp_micros(),
            }},
        )
        .await
        .map_err(|e| store.err(&s, &format!("cannot start {} runs", runs.len()), e))?;
    let running: Vec<Document> = runs
        .iter()
        .map(|r| owned(r, only(RunState::Running)))
        .collect();
    let started: Vec<Document> = s
        .backend
        .runs
        .find(doc! {"$or": running})
        .projection(doc! {"_id": 1})
        .await
        .map_err(|e| store.err(&s, "cannot read the runs started", e))?
        .try_collect()
        .await
        .map_err(|e| store.err(&s, "cannot read the runs started", e))?;
    let started: Vec<&str> = started
        .iter()
        .filter_map(|d| d.get_str("_id").ok())
        .collect();
    Ok(runs
        .iter()
        .map(|r| started.contains(&r.run_id.as_str()))
        .collect())
}

pub(super) async fn finish_run(
    store: &MongoStore,
    run: &RunRef,
    finish: &RunFinish,
) -> Result<bool> {
    if !finish.state.is_final() {
        return Err(Error::invalid(
            "run finish state",
            format!(
                "'{}' is not a final state (run '{}')",
                finish.state, run.run_id
            ),
        ));
    }
    let s = store.started()?;
    let result = s
        .backend
        .runs
        .update_one(
            owned(run, active_states()),
            doc! {"$set": {
                "state": finish.state.as_str(),
                "finished_at": finish.finished_at.timestamp_micros(),
                "error": finish.error.clone(),
            }},
        )
        .await
        .map_err(|e| store.err(&s, &format!("cannot finish run '{}'", run.run_id), e))?;
    Ok(result.matched_count == 1)
}

pub(super) async fn get_run(store: &MongoStore, run_id: &str) -> Result<Option<RunRecord>> {
    let s = store.started()?;
    s.backend
        .runs
        .find_one(doc! {"_id": run_id})
        .await
        .map_err(|e| store.err(&s, &format!("cannot read run '{run_id}'"), e))?
        .map(|d| run_of(&d))
        .transpose()
}

async fn find_runs(
    store: &MongoStore,
    filter: Document,
    sort: Document,
    skip: u64,
    limit: Option<i64>,
) -> Result<Vec<Document>> {
    let s = store.started()?;
    let mut find = s.backend.runs.find(filter).sort(sort).skip(skip);
    if let Some(limit) = limit {
        find = find.limit(limit);
    }
    find.await
        .map_err(|e| store.err(&s, "cannot read run records", e))?
        .try_collect()
        .await
        .map_err(|e| store.err(&s, "cannot read run records", e))
}

pub(super) async fn history(store: &MongoStore, query: &HistoryQuery) -> Result<Vec<RunRecord>> {
    let mut filter = Document::new();
    if let Some(task_id) = &query.task_id {
        filter.insert("task_id", task_id);
    }
    if !query.states.is_empty() {
        let states: Vec<&str> = query.states.iter().map(|s| s.as_str()).collect();
        filter.insert("state", doc! {"$in": states});
    }
    if let Some(before) = query.before {
        filter.insert(
            "scheduled_run_time",
            doc! {"$lt": asyncz_core::truncate_to_micros(before).timestamp_micros()},
        );
    }
    let limit = query.effective_limit();
    if limit == 0 {
        return Ok(Vec::new());
    }
    let documents = find_runs(
        store,
        filter,
        doc! {"scheduled_run_time": -1, "_id": -1},
        0,
        Some(as_i64(limit)),
    )
    .await?;
    documents.iter().map(run_of).collect()
}

/// Deletes final runs created before `older_than` (one `deleteMany`), then, for each task
/// with more than `keep_per_task` records (one `$group`), its final runs beyond the newest
/// `keep_per_task` by scheduled run time.
pub(super) async fn prune_runs(
    store: &MongoStore,
    older_than: DateTime<Utc>,
    keep_per_task: usize,
) -> Result<u64> {
    let s = store.started()?;
    let runs = &s.backend.runs;
    let old = runs
        .delete_many(doc! {
            "state": {"$in": final_states()},
            "created_at": {"$lt": older_than.timestamp_micros()},
        })
        .await
        .map_err(|e| store.err(&s, "cannot prune old runs", e))?;
    let mut deleted = old.deleted_count;
    let crowded: Vec<Document> = runs
        .aggregate([
            doc! {"$group": {"_id": "$task_id", "n": {"$sum": 1}}},
            doc! {"$match": {"n": {"$gt": as_i64(keep_per_task)}}},
        ])
        .await
        .map_err(|e| store.err(&s, "cannot count runs per task", e))?
        .try_collect()
        .await
        .map_err(|e| store.err(&s, "cannot count runs per task", e))?;
    for task in crowded {
        let Some(task_id) = task.get("_id").cloned() else {
            continue;
        };
        let beyond = find_runs(
            store,
            doc! {"task_id": task_id.clone()},
            doc! {"scheduled_run_time": -1, "_id": -1},
            u64::try_from(keep_per_task).unwrap_or(u64::MAX),
            None,
        )
        .await?;
        let ids: Vec<Bson> = beyond
            .iter()
            .filter_map(|d| d.get("_id").cloned())
            .collect();
        if ids.is_empty() {
            continue;
        }
        let result = runs
            .delete_many(doc! {"_id": {"$in": ids}, "state": {"$in": final_states()}})
            .await
            .map_err(|e| store.err(&s, &format!("cannot prune the runs of task {task_id}"), e))?;
        deleted += result.deleted_count;
    }
    Ok(deleted)
}

/// Settles each active run of `node_id` with a conditional `findOneAndUpdate` (same node,
/// attempt and an active state), so a second call, or a racing one, finds nothing left.
/// For a dead node, the registry is read first: a node alive again keeps its runs. (Without
/// transactions the check and the writes are not one step: a node reviving in between
/// loses the runs settled after it; its own starts and finishes are then refused.)
pub(super) async fn settle_runs_of(
    store: &MongoStore,
    node_id: &str,
    now: DateTime<Utc>,
    reason: SettleReason,
) -> Result<Vec<RunRecord>> {
    let s = store.started()?;
    if reason == SettleReason::NodeDead {
        let alive = s
            .backend
            .nodes
            .find_one(doc! {"_id": node_id, "state": NodeState::Alive.as_str()})
            .await
            .map_err(|e| store.err(&s, &format!("cannot read node '{node_id}'"), e))?;
        if alive.is_some() {
            return Ok(Vec::new());
        }
    }
    let left = find_runs(
        store,
        doc! {"node": node_id, "state": {"$in": active_states()}},
        doc! {"scheduled_run_time": 1, "_id": 1},
        0,
        None,
    )
    .await?;
    let mut settled = Vec::with_capacity(left.len());
    for document in left {
        let mut run = match run_of(&document) {
            Ok(run) => run,
            Err(e) => {
                tracing::warn!(
                    target: "asyncz.stores.mongo",
                    store = %s.alias(),
                    run = %id_of(&document),
                    error = %e,
                    "cannot settle an unreadable run record of a node; left as it is"
                );
                continue;
            }
        };
        let Some(reference) = run.as_ref() else {
            continue;
        };
        run.settle(node_id, now, reason);
        let update = doc! {"$set": {
            "state": run.state.as_str(),
            "node": run.node.as_deref().map_or(Bson::Null, Bson::from),
            "attempt": i64::from(run.attempt),
            "started_at": run.started_at.map_or(Bson::Null, |t| Bson::Int64(t.timestamp_micros())),
            "finished_at": run.finished_at.map_or(Bson::Null, |t| Bson::Int64(t.timestamp_micros())),
            "error": run.error.as_deref().map_or(Bson::Null, Bson::from),
        }};
        let written = s
            .backend
            .runs
            .find_one_and_update(owned(&reference, active_states()), update)
            .return_document(ReturnDocument::After)
            .await
            .map_err(|e| store.err(&s, &format!("cannot settle run '{}'", run.run_id), e))?;
        if let Some(document) = written {
            settled.push(run_of(&document)?);
        }
    }
    Ok(settled)
}
