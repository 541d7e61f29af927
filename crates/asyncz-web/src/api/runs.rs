//! Run history (the cluster ledger), nodes and the status summary.

use std::collections::BTreeMap;
use std::sync::Arc;

use asyncz_core::cluster::{HistoryQuery, NodeState, RunState};
use asyncz_core::TaskInfoQuery;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;

use super::body::{HistoryParams, Params};
use crate::auth::{Access, ReadRole};
use crate::{ApiError, AppState};

const HISTORY_MAX: usize = 1000;

fn history_query(p: HistoryParams, task: Option<String>) -> Result<HistoryQuery, ApiError> {
    let mut query = HistoryQuery::new();
    if let Some(task) = task.or(p.task).filter(|t| !t.is_empty()) {
        query = query.task(task);
    }
    if let Some(states) = p.state.as_deref().filter(|s| !s.is_empty()) {
        let mut parsed = Vec::new();
        for s in states.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let state: RunState = s.parse().map_err(|_| {
                let all: Vec<&str> = RunState::ALL.iter().map(|s| s.as_str()).collect();
                ApiError::invalid("state", format!("'{s}' is not one of {}", all.join(", ")))
            })?;
            parsed.push(state);
        }
        query = query.states(parsed);
    }
    if let Some(before) = p.before {
        query = query.before(before);
    }
    let limit = p.limit.unwrap_or(100);
    if limit == 0 || limit > HISTORY_MAX {
        return Err(ApiError::invalid(
            "limit",
            format!("{limit} is not between 1 and {HISTORY_MAX}"),
        ));
    }
    Ok(query.limit(limit))
}

pub(crate) async fn history(
    State(state): State<Arc<AppState>>,
    _: Access<ReadRole>,
    Params(p): Params<HistoryParams>,
) -> Result<impl IntoResponse, ApiError> {
    let query = history_query(p, None)?;
    let runs = state.scheduler.history(&query).await?;
    Ok(Json(json!({ "runs": runs })))
}

pub(crate) async fn task_history(
    State(state): State<Arc<AppState>>,
    _: Access<ReadRole>,
    Path(id): Path<String>,
    Params(p): Params<HistoryParams>,
) -> Result<impl IntoResponse, ApiError> {
    if p.task.as_deref().is_some_and(|t| t != id) {
        return Err(ApiError::invalid(
            "task",
            "conflicts with the task id in the path",
        ));
    }
    let query = history_query(p, Some(id))?;
    let runs = state.scheduler.history(&query).await?;
    Ok(Json(json!({ "runs": runs })))
}

pub(crate) async fn run(
    State(state): State<Arc<AppState>>,
    _: Access<ReadRole>,
    Path(run_id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let run = state.scheduler.run_record(&run_id).await?.ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            "not_found",
            format!("no run with the id '{run_id}' was found"),
        )
    })?;
    Ok(Json(json!({ "run": run })))
}

pub(crate) async fn nodes(
    State(state): State<Arc<AppState>>,
    _: Access<ReadRole>,
) -> Result<impl IntoResponse, ApiError> {
    let nodes = state.scheduler.nodes().await?;
    let now = state.scheduler.clock().now();
    let nodes: Vec<_> = nodes
        .into_iter()
        .map(|n| {
            let age = (now - n.last_heartbeat).num_milliseconds() as f64 / 1000.0;
            let mut value = serde_json::to_value(&n).unwrap_or_default();
            if let Some(map) = value.as_object_mut() {
                map.insert("heartbeat_age_seconds".into(), json!(age));
                map.insert("alive".into(), json!(n.state == NodeState::Alive));
            }
            value
        })
        .collect();
    Ok(Json(json!({ "nodes": nodes })))
}

pub(crate) async fn status(
    State(state): State<Arc<AppState>>,
    _: Access<ReadRole>,
) -> Result<impl IntoResponse, ApiError> {
    let infos = state
        .scheduler
        .get_task_infos(&TaskInfoQuery::new())
        .await?;
    let mut by_state: BTreeMap<&str, usize> = BTreeMap::new();
    let mut by_store: BTreeMap<String, usize> = BTreeMap::new();
    for info in &infos {
        *by_state.entry(info.schedule_state.as_str()).or_default() += 1;
        *by_store.entry(info.store_alias.clone()).or_default() += 1;
    }
    let next = infos.iter().filter_map(|i| i.next_run_time).min();
    let nodes = if state.clustered() {
        let nodes = state.scheduler.nodes().await?;
        Some(nodes.iter().filter(|n| n.state == NodeState::Alive).count())
    } else {
        None
    };
    Ok(Json(json!({
        "scheduler": format!("{:?}", state.scheduler.state()).to_lowercase(),
        "node_id": state.scheduler.node_id(),
        "tasks": infos.len(),
        "tasks_by_state": by_state,
        "tasks_by_store": by_store,
        "next_run_time": next,
        "nodes_alive": nodes,
    })))
}
