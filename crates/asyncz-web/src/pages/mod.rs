//! The dashboard: server-rendered HTML (maud escapes every value), assets embedded in the
//! binary, working without JavaScript; `app.js` only adds live updates over the events stream
//! and the viewer's time zone. Forms post to fixed paths and redirect to fixed paths (no
//! redirect target is ever taken from the request), and carry the session's CSRF token.

// Handlers answer a page or a ready response (a redirect, an error page): the large error
// variant is the response itself, returned once per request.
#![allow(clippy::result_large_err)]

mod layout;
mod overview;
mod runs;
mod tasks;

use std::sync::Arc;

use axum::extract::{FromRequestParts, NestedPath};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::auth::{check_origin, cookie, identify};
use crate::config::constant_time_eq;
use crate::{ApiError, AppState, Principal, Role};

pub(crate) use layout::page;

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(overview::show))
        .route("/login", get(layout::login_form).post(layout::login))
        .route("/logout", post(layout::logout))
        .route("/tasks", get(tasks::list))
        .route("/tasks/bulk", post(tasks::bulk))
        .route("/tasks/{id}", get(tasks::detail))
        .route("/tasks/{id}/action", post(tasks::action))
        .route("/tasks/{id}/schedule", post(tasks::schedule))
        .route("/history", get(runs::history))
        .route("/runs/{run_id}", get(runs::run))
        .route("/nodes", get(runs::nodes))
        .route("/timeline", get(tasks::timeline))
        .route("/assets/app.css", get(layout::css))
        .route("/assets/app.js", get(layout::js))
}

/// What every page knows about its request: where the dashboard is mounted, who is looking,
/// and in which zone to show times.
pub(crate) struct Viewer {
    pub(crate) base: String,
    pub(crate) principal: Option<Principal>,
    pub(crate) tz: Tz,
    pub(crate) now: DateTime<Utc>,
}

impl Viewer {
    /// A path inside the dashboard.
    pub(crate) fn href(&self, path: &str) -> String {
        // A nested router answers its root at `/asyncz`, not `/asyncz/`.
        if path == "/" && !self.base.is_empty() {
            return self.base.clone();
        }
        format!("{}{}", self.base, path)
    }

    /// The principal, or a redirect to the login page.
    pub(crate) fn require(&self, role: Role) -> Result<&Principal, Response> {
        match &self.principal {
            None => Err(Redirect::to(&self.href("/login")).into_response()),
            Some(p) if p.role < role => Err(page_error(
                self,
                StatusCode::FORBIDDEN,
                &format!("this needs the '{role}' role"),
            )),
            Some(p) => Ok(p),
        }
    }

    /// A time in the viewer's zone.
    pub(crate) fn time(&self, t: DateTime<Utc>) -> String {
        t.with_timezone(&self.tz)
            .format("%Y-%m-%d %H:%M:%S %Z")
            .to_string()
    }

    /// "in 4m", "3h ago".
    pub(crate) fn relative(&self, t: DateTime<Utc>) -> String {
        let secs = (t - self.now).num_seconds();
        let span = humanize(secs.unsigned_abs());
        if secs >= 0 {
            format!("in {span}")
        } else {
            format!("{span} ago")
        }
    }
}

/// A compact span: `45s`, `4m`, `3h 5m`, `2d 4h`.
pub(crate) fn humanize(secs: u64) -> String {
    match secs {
        0..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m", secs / 60),
        3600..=86_399 => format!("{}h {}m", secs / 3600, secs % 3600 / 60),
        _ => format!("{}d {}h", secs / 86_400, secs % 86_400 / 3600),
    }
}

impl FromRequestParts<Arc<AppState>> for Viewer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let base = NestedPath::from_request_parts(parts, state)
            .await
            .map(|n| n.as_str().trim_end_matches('/').to_owned())
            .unwrap_or_default();
        let tz = viewer_zone(&parts.headers, &parts.uri).unwrap_or(state.scheduler.timezone());
        Ok(Viewer {
            base,
            principal: identify(state, &parts.headers),
            tz,
            now: state.scheduler.clock().now(),
        })
    }
}

/// `?tz=Europe/Berlin`, else the `asyncz_tz` cookie `app.js` sets from the browser.
fn viewer_zone(headers: &HeaderMap, uri: &axum::http::Uri) -> Option<Tz> {
    let from_query = uri.query().and_then(|q| {
        q.split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == "tz")
            .map(|(_, v)| v.replace("%2F", "/").replace("%2f", "/"))
    });
    from_query
        .or_else(|| cookie(headers, "asyncz_tz").map(|v| v.replace("%2F", "/")))
        .and_then(|name| name.parse().ok())
}

/// Checks a dashboard form: the principal holds `role`, the request comes from this origin,
/// and the form's `csrf` field is the session's token.
pub(crate) fn check_form(
    state: &AppState,
    viewer: &Viewer,
    headers: &HeaderMap,
    role: Role,
    csrf: &str,
) -> Result<Principal, Response> {
    let principal = viewer.require(role)?.clone();
    if let Err(e) = check_origin(state, headers) {
        return Err(page_error(viewer, e.status, &e.message));
    }
    if let Some(expected) = &principal.csrf {
        if !constant_time_eq(expected.as_bytes(), csrf.as_bytes()) {
            return Err(page_error(
                viewer,
                StatusCode::FORBIDDEN,
                "this form is stale or was not sent by the dashboard (CSRF token mismatch); reload the page",
            ));
        }
    }
    Ok(principal)
}

/// An error page.
pub(crate) fn page_error(viewer: &Viewer, status: StatusCode, message: &str) -> Response {
    let body = page(
        viewer,
        "Error",
        maud::html! {
            section.card.error {
                h2 { (status.as_u16()) " " (status.canonical_reason().unwrap_or("")) }
                p { (message) }
                p { a href=(viewer.href("/")) { "Back to the overview" } }
            }
        },
    );
    (status, body).into_response()
}

/// An API error shown as a page.
pub(crate) fn api_error_page(viewer: &Viewer, e: ApiError) -> Response {
    page_error(viewer, e.status, &e.message)
}

/// A 303 to a fixed path inside the dashboard, naming a notice by code ([`notice_text`]): no
/// text and no target is taken from the request.
pub(crate) fn back(viewer: &Viewer, path: &str, notice: &'static str) -> Response {
    let location = format!("{}?notice={notice}", viewer.href(path));
    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
}

/// The text of a notice code; unknown codes show nothing.
pub(crate) fn notice_text(code: &str) -> Option<&'static str> {
    Some(match code {
        "paused" => "Paused.",
        "resumed" => "Resumed.",
        "run" => "Run started (or requested from a live node).",
        "removed" => "Removed.",
        "rescheduled" => "Schedule saved.",
        "finished" => "Its schedule is over: the task was removed.",
        "bulk" => "Done for the selected tasks.",
        "none" => "No task was selected.",
        "logged-out" => "Logged out.",
        _ => return None,
    })
}
