//! The JSON API under `/api/v1`: one module per resource.

pub(crate) mod body;
mod events;
mod runs;
mod session;
mod tasks;

pub(crate) use session::login_session;

use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;

use crate::audit::AuditRecord;
use crate::{ApiError, AppState, Principal};

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/tasks", get(tasks::list).post(tasks::add))
        .route(
            "/tasks/{id}",
            get(tasks::get).patch(tasks::update).delete(tasks::delete),
        )
        .route("/tasks/{id}/pause", post(tasks::pause))
        .route("/tasks/{id}/resume", post(tasks::resume))
        .route("/tasks/{id}/run", post(tasks::run))
        .route("/tasks/{id}/reschedule", post(tasks::reschedule))
        .route("/tasks/{id}/preview", get(tasks::preview_task))
        .route("/tasks/{id}/history", get(runs::task_history))
        .route("/preview", post(tasks::preview_trigger))
        .route("/history", get(runs::history))
        .route("/runs/{run_id}", get(runs::run))
        .route("/nodes", get(runs::nodes))
        .route("/status", get(runs::status))
        .route("/events", get(events::stream))
        .route("/session", post(session::login).delete(session::logout))
        .route("/openapi.json", get(openapi))
        .fallback(|| async {
            ApiError::new(
                axum::http::StatusCode::NOT_FOUND,
                "not_found",
                "no such API route",
            )
        })
}

/// The OpenAPI 3.1 document of this API (`openapi/openapi.json`; a test checks it against the
/// routes and the bodies they answer).
pub const OPENAPI: &str = include_str!("../../openapi/openapi.json");

async fn openapi() -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        OPENAPI,
    )
}

/// Writes the audit record of a change and passes its result through.
pub(crate) fn audited<T>(
    state: &AppState,
    principal: &Principal,
    action: &str,
    target: &str,
    result: Result<T, ApiError>,
) -> Result<T, ApiError> {
    let record = AuditRecord {
        at: state.scheduler.clock().now(),
        principal: principal.name.clone(),
        action: action.to_owned(),
        target: target.to_owned(),
        ok: result.is_ok(),
        error: result.as_ref().err().map(|e| e.message.clone()),
    };
    state.config.audit.record(&record);
    result
}
