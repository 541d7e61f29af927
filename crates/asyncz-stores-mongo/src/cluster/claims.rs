//! Claims: read the due candidates, take each with one conditional `findOneAndUpdate`;
//! renewals and releases in one write each.

use std::time::Duration;

use asyncz_core::cluster::{ClaimRequest, ClaimedTask};
use asyncz_core::Result;
use futures::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use mongodb::options::ReturnDocument;

use super::documents::{fence_bson, task_fence};
use super::{micros_of, now_expr};
use crate::store::MongoStore;

/// How many times one call reads candidates again after racing nodes took all it read.
const CLAIM_PASSES: usize = 8;

/// Claims due tasks one `findOneAndUpdate` at a time: each takes one due, unpaused task with
/// no live claim (none, or `claimed_until` at or before the server's now) and sets
/// `claimed_by`, `claimed_until = now + lease` and `fence + 1` in the same write, so two racing
/// nodes never get the same task. The candidates, oldest next run time first, are read first
/// (a read is cheap where a write is not, so an idle poll writes nothing); a candidate another
/// node took meanwhile no longer matches and is passed over. A claimed document that does not
/// decode is released at once and left out (it does not use up the limit).
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
    let claimable = |ids: Document| {
        doc! {
            "next_run_time": {"$lte": now},
            "_id": ids,
            "$expr": {"$lte": [{"$ifNull": ["$claimed_until", i64::MIN]}, now_expr()]},
        }
    };
    let update = vec![doc! {"$set": {
        "claimed_by": {"$literal": request.node},
        "claimed_until": {"$add": [now_expr(), lease]},
        // One more, and at least the server's time in µs (milliseconds × 1000): a task
        // deleted and added again (its fence back to 0) still gets fences above the old
        // document's — unless deleted, added and claimed within one millisecond — so a
        // commit computed under an old claim stays stale.
        "fence": {"$max": [
            {"$add": [{"$ifNull": ["$fence", 0_i64]}, 1_i64]},
            {"$multiply": [{"$toLong": "$$NOW"}, 1000_i64]},
        ]},
    }}];
    let mut claims = Vec::new();
    for _ in 0..CLAIM_PASSES {
        let wanted = request.limit.saturating_sub(claims.len());
        if wanted == 0 {
            break;
        }
        let candidates: Vec<Document> = s
            .backend
            .tasks
            .find(claimable(doc! {"$nin": excluded.clone()}))
            .sort(doc! {"next_run_time": 1, "_id": 1})
            .limit(i64::try_from(wanted).unwrap_or(i64::MAX))
            .projection(doc! {"_id": 1})
            .await
            .map_err(|e| store.err(&s, "cannot read due tasks", e))?
            .try_collect()
            .await
            .map_err(|e| store.err(&s, "cannot read due tasks", e))?;
        let more = candidates.len() == wanted;
        for candidate in candidates {
            let id = candidate.get("_id").cloned().unwrap_or(Bson::Null);
            let claimed = s
                .backend
                .tasks
                .find_one_and_update(claimable(doc! {"$eq": id.clone()}), update.clone())
                .return_document(ReturnDocument::After)
                .await
                .map_err(|e| store.err(&s, "cannot claim due tasks", e))?;
            let Some(document) = claimed else { continue };
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
        if !more {
            break;
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
