//! The probes and the metrics endpoint, at the router's root (`/healthz`, `/readyz`,
//! `/metrics`). The probes need no token, so a load balancer or a kubelet can call them, and
//! say nothing an anonymous caller should not learn: the state, the times of the last engine
//! round and of its planned next look (the next due time), and the aliases of unreachable
//! stores; never an error text (it may hold a URL with a password). `/metrics` needs the
//! `read` role when auth is on.
//!
//! In front of stores alone ([`crate::WebConfig::control_plane`]) the scheduler is paused and
//! makes no rounds: `/healthz` says it is alive, and `/readyz` asks each store for its next run
//! time (bounded by the store timeout) instead of trusting the last call.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::{Access, ApiError, AppState, ReadRole};

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

fn state_name(state: asyncz_core::SchedulerState) -> &'static str {
    match state {
        asyncz_core::SchedulerState::Stopped => "stopped",
        asyncz_core::SchedulerState::Running => "running",
        asyncz_core::SchedulerState::Paused => "paused",
    }
}

/// 200 while the engine keeps its own schedule ([`asyncz_core::SchedulerInfo::engine_on_time`]
/// with [`crate::WebConfig::health_max_late`]), 503 otherwise.
async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    let info = state.scheduler.info();
    let now = state.scheduler.clock().now();
    let ok = info.engine_on_time(state.config.health_max_late, now);
    let body = json!({
        "status": if ok { "ok" } else { "unhealthy" },
        "state": state_name(info.state),
        "last_round_at": info.last_round.map(|r| r.at),
        "next_wakeup": info.last_round.and_then(|r| r.next_wakeup),
    });
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body)).into_response()
}

/// 200 while the scheduler is started and every store answered its last call, 503 otherwise.
async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if state.config.control_plane {
        // No engine rounds call the stores here: ask them now. The scheduler's store wrapper
        // records the answer, which info() then reports.
        let stores = state.scheduler.info().stores;
        let probes = stores
            .iter()
            .filter_map(|s| state.scheduler.lookup_store(&s.alias).ok());
        futures::future::join_all(probes.map(|store| async move {
            let _ = store.get_next_run_time().await;
        }))
        .await;
    }
    let info = state.scheduler.info();
    let ready = info.stores_reachable();
    let down: Vec<&str> = info
        .stores
        .iter()
        .filter(|s| !s.reachable)
        .map(|s| s.alias.as_str())
        .collect();
    let body = json!({
        "status": if ready { "ready" } else { "not_ready" },
        "state": state_name(info.state),
        "unreachable_stores": down,
    });
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body)).into_response()
}

/// The text exposition of [`crate::WebConfig::metrics`], with the `asyncz_tasks{state}` gauges
/// refreshed first; 404 when no renderer was configured.
async fn metrics(
    State(state): State<Arc<AppState>>,
    _access: Access<ReadRole>,
) -> Result<Response, ApiError> {
    let Some(render) = state.config.metrics.clone() else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no metrics renderer is configured (WebConfig::metrics)",
        ));
    };
    if let Err(e) = state.scheduler.record_task_metrics().await {
        tracing::warn!(target: "asyncz.metrics", error = %e, "cannot count the tasks of a store for asyncz_tasks");
    }
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        render(),
    )
        .into_response())
}
