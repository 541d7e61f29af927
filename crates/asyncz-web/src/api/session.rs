//! Browser login: a token exchanged for a session cookie (HttpOnly, SameSite=Strict) and the
//! session's CSRF token, which every state-changing request through the cookie must echo.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::audited;
use super::body::Body;
use crate::auth::{authorize, cookie, SESSION_COOKIE};
use crate::{ApiError, AppState, Principal, Role};

/// `POST /session`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Login {
    token: String,
}

/// Checks a login token and opens a session: the `Set-Cookie` value and the principal (whose
/// `csrf` is the session's token). Refused while failed logins are over the limit.
pub(crate) fn login_session(
    state: &AppState,
    token: &str,
) -> Result<(String, Principal), ApiError> {
    if !state.config.auth {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "auth_off",
            "auth is off: there is nothing to log in to",
        ));
    }
    if !state
        .sessions
        .login_allowed(state.config.login_attempts_per_minute)
    {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many failed logins; try again in a minute",
        ));
    }
    let Some(entry) = state.config.find_token(token.trim()).cloned() else {
        state.sessions.login_failed();
        let nobody = Principal {
            name: "unknown".to_owned(),
            role: Role::Read,
            csrf: None,
        };
        let refused = audited::<()>(state, &nobody, "login", "", Err(ApiError::unauthorized()));
        return Err(refused.err().unwrap_or_else(ApiError::unauthorized));
    };
    let (id, session) =
        state
            .sessions
            .create(&entry.principal, entry.role, state.config.session_ttl);
    let principal = Principal {
        name: entry.principal.clone(),
        role: entry.role,
        csrf: Some(session.csrf.clone()),
    };
    audited(state, &principal, "login", "", Ok(()))?;
    let cookie = format!(
        "{SESSION_COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
        state.config.session_ttl.as_secs()
    );
    Ok((cookie, principal))
}

pub(crate) async fn login(
    State(state): State<Arc<AppState>>,
    Body(body): Body<Login>,
) -> Result<impl IntoResponse, ApiError> {
    let (cookie, principal) = login_session(&state, &body.token)?;
    Ok((
        [(header::SET_COOKIE, cookie)],
        Json(json!({
            "principal": principal.name,
            "role": principal.role,
            "csrf": principal.csrf,
        })),
    ))
}

pub(crate) async fn logout(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let principal = authorize(&state, &headers, &Method::DELETE, Role::Read)?;
    if let Some(id) = cookie(&headers, SESSION_COOKIE) {
        state.sessions.remove(&id);
    }
    audited(&state, &principal, "logout", "", Ok(()))?;
    let clear = format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, clear)]))
}
