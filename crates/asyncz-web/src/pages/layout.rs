//! The frame every page shares (navigation, notices, assets), the login page, and the assets.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup, DOCTYPE};
use serde::Deserialize;

use super::{back, check_form, notice_text, page_error, Viewer};
use crate::auth::{cookie, SESSION_COOKIE};
use crate::{AppState, Role};

const CSS: &str = include_str!("../../assets/app.css");
const JS: &str = include_str!("../../assets/app.js");

/// A whole page around `content`.
pub(crate) fn page(viewer: &Viewer, title: &str, content: Markup) -> Html<String> {
    let nav = [
        ("/", "Overview"),
        ("/tasks", "Tasks"),
        ("/timeline", "Timeline"),
        ("/history", "History"),
        ("/nodes", "Nodes"),
    ];
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                title { (title) " · asyncz" }
                link rel="stylesheet" href=(viewer.href("/assets/app.css"));
                script src=(viewer.href("/assets/app.js")) defer {}
            }
            body data-base=(viewer.base) data-live=(viewer.principal.is_some()) {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href=(viewer.href("/")) { "asyncz" }
                    @if viewer.principal.is_some() {
                        nav aria-label="Main" {
                            @for (path, label) in nav {
                                a href=(viewer.href(path)) { (label) }
                            }
                        }
                    }
                    @if let Some(p) = &viewer.principal {
                        form.logout method="post" action=(viewer.href("/logout")) {
                            span.who { (p.name) " · " (p.role) }
                            input type="hidden" name="csrf" value=(p.csrf.clone().unwrap_or_default());
                            @if p.csrf.is_some() {
                                button type="submit" { "Log out" }
                            }
                        }
                    }
                }
                main #main tabindex="-1" {
                    h1 { (title) }
                    (content)
                }
                footer { "Times in " (viewer.tz.name()) }
            }
        }
    };
    Html(markup.into_string())
}

/// The notice named in `?notice=`, if it is a known one.
pub(crate) fn notice(code: Option<&str>) -> Markup {
    html! {
        @if let Some(text) = code.and_then(notice_text) {
            p.notice role="status" { (text) }
        }
    }
}

/// The hidden CSRF field of a form.
pub(crate) fn csrf_field(viewer: &Viewer) -> Markup {
    let token = viewer
        .principal
        .as_ref()
        .and_then(|p| p.csrf.clone())
        .unwrap_or_default();
    html! { input type="hidden" name="csrf" value=(token); }
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct LoginQuery {
    notice: Option<String>,
    failed: Option<String>,
}

pub(crate) async fn login_form(viewer: Viewer, Query(q): Query<LoginQuery>) -> Response {
    if viewer.principal.is_some() {
        return Redirect::to(&viewer.href("/")).into_response();
    }
    let content = html! {
        (notice(q.notice.as_deref()))
        @if q.failed.is_some() {
            p.notice.bad role="alert" { "That token was not accepted." }
        }
        form.card.login method="post" action=(viewer.href("/login")) {
            label for="token" { "Access token" }
            input #token type="password" name="token" autocomplete="current-password" required autofocus;
            button type="submit" { "Log in" }
        }
    };
    page(&viewer, "Log in", content).into_response()
}

#[derive(Debug, Deserialize)]
pub(crate) struct LoginForm {
    token: String,
}

pub(crate) async fn login(
    State(state): State<Arc<AppState>>,
    viewer: Viewer,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    if let Err(e) = crate::auth::check_origin(&state, &headers) {
        return page_error(&viewer, e.status, &e.message);
    }
    match crate::api::login_session(&state, &form.token) {
        Ok((cookie_value, _)) => (
            StatusCode::SEE_OTHER,
            [
                (header::SET_COOKIE, cookie_value),
                (header::LOCATION, viewer.href("/")),
            ],
        )
            .into_response(),
        Err(e) if e.status == StatusCode::UNAUTHORIZED => {
            Redirect::to(&viewer.href("/login?failed=1")).into_response()
        }
        Err(e) => page_error(&viewer, e.status, &e.message),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub(crate) async fn logout(
    State(state): State<Arc<AppState>>,
    viewer: Viewer,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    let principal = match check_form(&state, &viewer, &headers, Role::Read, &form.csrf) {
        Ok(p) => p,
        Err(response) => return response,
    };
    if let Some(id) = cookie(&headers, SESSION_COOKIE) {
        state.sessions.remove(&id);
    }
    let _ = crate::api::audited(&state, &principal, "logout", "", Ok(()));
    let mut response = back(&viewer, "/login", "logged-out");
    if let Ok(clear) =
        format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0").parse()
    {
        response.headers_mut().insert(header::SET_COOKIE, clear);
    }
    response
}

pub(crate) async fn css() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        CSS,
    )
}

pub(crate) async fn js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        JS,
    )
}

/// An inline SVG sparkline of `values` (seconds), or nothing when there are fewer than two.
pub(crate) fn sparkline(label: &str, values: &[f64]) -> Markup {
    if values.len() < 2 {
        return html! {};
    }
    let max = values.iter().cloned().fold(f64::MIN_POSITIVE, f64::max);
    let (w, h) = (160.0, 32.0);
    let step = w / (values.len() - 1) as f64;
    let points: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            format!(
                "{:.1},{:.1}",
                i as f64 * step,
                h - (v / max) * (h - 2.0) - 1.0
            )
        })
        .collect();
    html! {
        figure.spark {
            svg width="160" height="32" viewBox="0 0 160 32" role="img" aria-label=(format!("{label}, up to {max:.3} s")) {
                polyline fill="none" stroke="currentColor" stroke-width="1.5" points=(points.join(" ")) {}
            }
            figcaption { (label) " (max " (format!("{max:.3}")) " s)" }
        }
    }
}
