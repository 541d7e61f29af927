//! # asyncz-web
//!
//! An HTTP management API for an asyncz [`Scheduler`]: [`router`] returns an
//! [`axum::Router`] a service nests under a path of its choice, over its own live scheduler:
//!
//! ```no_run
//! # async fn demo(scheduler: asyncz_core::Scheduler) -> Result<(), Box<dyn std::error::Error>> {
//! use asyncz_web::{router, Role, WebConfig};
//!
//! let config = WebConfig::new()
//!     .token_hash("ops", Role::Operate, std::env::var("ASYNCZ_OPS_TOKEN_SHA256")?)?;
//! let app = axum::Router::new().nest("/asyncz", router(scheduler, config));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```
//!
//! Routes (all JSON, under `/api/v1`; the roles are [`Role`]):
//!
//! | method and path | role | what |
//! |---|---|---|
//! | `GET /tasks` | read | tasks: `state`, `executor`, `trigger`, `store`, `q`, `sort_by`, `desc`, `page`, `per_page` |
//! | `POST /tasks` | admin | add a task naming a registered function |
//! | `GET /tasks/{id}` | read | one task, its next fire times and its `version` |
//! | `PATCH /tasks/{id}` | admin | change fields; `If-Match: <version>` refuses a stale edit with 412 |
//! | `POST /tasks/{id}/reschedule` | admin | a new trigger |
//! | `POST /tasks/{id}/pause`, `/resume`, `/run` | operate | pause, resume, run now |
//! | `DELETE /tasks/{id}` | admin | remove |
//! | `GET /tasks/{id}/preview`, `POST /preview` | read | fire times of a task or a trigger |
//! | `GET /tasks/{id}/history`, `GET /history` | read | run records (cluster ledger) |
//! | `GET /runs/{run_id}` | read | one run record |
//! | `GET /nodes` | read | cluster nodes |
//! | `GET /status` | read | counts by state, next fire, nodes alive |
//! | `GET /events` | read | scheduler events as Server-Sent Events |
//! | `POST /session`, `DELETE /session` | — | browser login with a token (session cookie), logout |
//! | `GET /openapi.json` | — | the OpenAPI 3.1 document ([`OPENAPI`]) |
//!
//! At the router's root, beside the dashboard's pages:
//!
//! | method and path | role | what |
//! |---|---|---|
//! | `GET /healthz` | — | 200 while the engine keeps its schedule, else 503 ([`WebConfig::health_max_late`]) |
//! | `GET /readyz` | — | 200 while started with every store reachable, else 503 naming the stores |
//! | `GET /metrics` | read | the text exposition of [`WebConfig::metrics`] (404 without it) |
//!
//! Errors are `{"error": {"code", "message", "field"}}` with a 4xx for bad input ([`ApiError`]).
//! Auth is on by default ([`WebConfig`]); every change is written to the [`AuditSink`].
#![deny(missing_docs)]

mod api;
mod audit;
mod auth;
mod config;
mod error;
mod health;
mod pages;

use std::sync::Arc;

use asyncz_core::Scheduler;
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::Router;
use tower_http::cors::{AllowOrigin, CorsLayer};

pub use api::OPENAPI;
pub use audit::{AuditRecord, AuditSink, MemoryAudit, TracingAudit};
pub use auth::{
    Access, AdminRole, Needs, OperateRole, Principal, ReadRole, CSRF_HEADER, SESSION_COOKIE,
};
pub use config::{hash_token, Role, TokenEntry, WebConfig};
pub use error::{ApiError, WebError};

/// What every handler shares.
#[derive(Debug)]
pub struct AppState {
    pub(crate) scheduler: Scheduler,
    pub(crate) config: WebConfig,
    pub(crate) sessions: auth::Sessions,
}

impl AppState {
    /// Whether runs go through the store's ledger and nodes are shown: on a cluster node, or
    /// in front of a store alone ([`WebConfig::control_plane`]).
    pub(crate) fn clustered(&self) -> bool {
        self.config.control_plane || self.scheduler.node_id().is_some()
    }
}

/// The management API over `scheduler`, to nest under a path of the service's choice.
pub fn router(scheduler: Scheduler, config: WebConfig) -> Router {
    let cors = cors_layer(&config.cors_origins);
    let state = Arc::new(AppState {
        scheduler,
        config,
        sessions: auth::Sessions::default(),
    });
    let router = Router::new()
        .nest("/api/v1", api::routes())
        .merge(pages::routes())
        .merge(health::routes())
        .with_state(state);
    match cors {
        Some(layer) => router.layer(layer),
        None => router,
    }
}

/// No CORS unless origins were configured; then exactly those, with credentials.
fn cors_layer(origins: &[String]) -> Option<CorsLayer> {
    let values: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    if values.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(values))
            .allow_credentials(true)
            .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::IF_MATCH,
                HeaderName::from_static(CSRF_HEADER),
            ]),
    )
}
