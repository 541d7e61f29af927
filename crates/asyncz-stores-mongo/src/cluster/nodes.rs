//! The node registry: heartbeats on the server's clock, and deaths each returned once.

use std::time::Duration;

use asyncz_core::cluster::{NodeInfo, NodeState};
use asyncz_core::Result;
use futures::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use mongodb::options::ReturnDocument;

use super::documents::{node_of, node_state_of};
use super::{micros_of, now_expr};
use crate::store::MongoStore;

/// Upserts the node with `last_heartbeat = $$NOW` and `alive` in one `findOneAndUpdate`
/// returning the document as it was before.
pub(super) async fn heartbeat(store: &MongoStore, node: &NodeInfo) -> Result<Option<NodeState>> {
    let s = store.started()?;
    let update = vec![doc! {"$set": {
        "host": {"$literal": &node.host},
        "pid": i64::from(node.pid),
        "started_at": asyncz_core::truncate_to_micros(node.started_at).timestamp_micros(),
        "last_heartbeat": now_expr(),
        "state": NodeState::Alive.as_str(),
    }}];
    let before = s
        .backend
        .nodes
        .find_one_and_update(doc! {"_id": &node.node_id}, update)
        .upsert(true)
        .return_document(ReturnDocument::Before)
        .await
        .map_err(|e| {
            store.err(
                &s,
                &format!("cannot record the heartbeat of node '{}'", node.node_id),
                e,
            )
        })?;
    // The functions change rarely (at the start, or when one is registered later): they are
    // written by a plain `$set` only when they differ from what the node published before,
    // outside the heartbeat's pipeline: with the array inside the pipeline, the chaos test's
    // takeover on the wire-compatible stand-in went from ~0.1 s to ~4.9 s, past its limit.
    let published = before
        .as_ref()
        .map(super::documents::functions_of)
        .unwrap_or_default();
    if published != node.functions {
        s.backend
            .nodes
            .update_one(
                doc! {"_id": &node.node_id},
                doc! {"$set": {"functions": &node.functions}},
            )
            .await
            .map_err(|e| {
                store.err(
                    &s,
                    &format!("cannot record the functions of node '{}'", node.node_id),
                    e,
                )
            })?;
    }
    before.map(|d| node_state_of(&d)).transpose()
}

async fn find_nodes(store: &MongoStore, filter: Document) -> Result<Vec<Document>> {
    let s = store.started()?;
    s.backend
        .nodes
        .find(filter)
        .sort(doc! {"state": 1, "_id": 1})
        .await
        .map_err(|e| store.err(&s, "cannot read the nodes", e))?
        .try_collect()
        .await
        .map_err(|e| store.err(&s, "cannot read the nodes", e))
}

/// Every node, alive ones first (`alive` sorts before `dead`), then by id.
pub(super) async fn list_nodes(store: &MongoStore) -> Result<Vec<NodeInfo>> {
    find_nodes(store, doc! {})
        .await?
        .iter()
        .map(node_of)
        .collect()
}

/// Finds the alive nodes whose heartbeat is older than `timeout` on the server's clock, then
/// marks each dead only if it is still alive with the heartbeat seen: of racing callers,
/// exactly one wins each death.
pub(super) async fn mark_dead_nodes(
    store: &MongoStore,
    timeout: Duration,
) -> Result<Vec<NodeInfo>> {
    let s = store.started()?;
    let timeout = micros_of("cluster.node_timeout", timeout)?;
    let stale = find_nodes(
        store,
        doc! {
            "state": NodeState::Alive.as_str(),
            "$expr": {"$lt": ["$last_heartbeat", {"$subtract": [now_expr(), timeout]}]},
        },
    )
    .await?;
    let mut marked = Vec::new();
    for node in stale {
        let heartbeat = node.get("last_heartbeat").cloned().unwrap_or(Bson::Null);
        let filter = doc! {
            "_id": node.get("_id").cloned().unwrap_or(Bson::Null),
            "state": NodeState::Alive.as_str(),
            "last_heartbeat": heartbeat,
        };
        let written = s
            .backend
            .nodes
            .find_one_and_update(filter, doc! {"$set": {"state": NodeState::Dead.as_str()}})
            .return_document(ReturnDocument::After)
            .await
            .map_err(|e| store.err(&s, "cannot mark a node dead", e))?;
        if let Some(document) = written {
            marked.push(node_of(&document)?);
        }
    }
    Ok(marked)
}

/// Marks the node dead (a node that never registered is left unregistered).
pub(super) async fn leave(store: &MongoStore, node_id: &str) -> Result<()> {
    let s = store.started()?;
    s.backend
        .nodes
        .update_one(
            doc! {"_id": node_id},
            doc! {"$set": {"state": NodeState::Dead.as_str()}},
        )
        .await
        .map_err(|e| store.err(&s, &format!("cannot remove node '{node_id}'"), e))?;
    Ok(())
}

/// Deletes the nodes dead for longer than `dead_for` on the server's clock.
pub(super) async fn forget_dead_nodes(store: &MongoStore, dead_for: Duration) -> Result<u64> {
    let s = store.started()?;
    let dead_for = micros_of("dead_for", dead_for)?;
    let deleted = s
        .backend
        .nodes
        .delete_many(doc! {
            "state": NodeState::Dead.as_str(),
            "$expr": {"$lt": ["$last_heartbeat", {"$subtract": [now_expr(), dead_for]}]},
        })
        .await
        .map_err(|e| store.err(&s, "cannot forget dead nodes", e))?;
    Ok(deleted.deleted_count)
}
