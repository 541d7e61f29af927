//! Who is asking: a bearer token (`Authorization: Bearer …`) or a browser session cookie
//! (`asyncz_session`, HttpOnly, SameSite=Strict) made by logging in with a token. A request
//! that changes something through a session must also carry the session's CSRF token
//! (`X-CSRF-Token` header, or the `csrf` form field on the dashboard's forms); a bearer token
//! is not ambient, so it needs none. Failed logins are rate-limited.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderName, Method};

use crate::config::constant_time_eq;
use crate::{ApiError, AppState, Role};

/// The cookie that carries a browser session.
pub const SESSION_COOKIE: &str = "asyncz_session";
/// The header that carries the CSRF token of a session.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Its name (the token's principal; `anonymous` with auth off).
    pub name: String,
    /// Its role.
    pub role: Role,
    /// The CSRF token of its session, when it came with a session cookie.
    pub csrf: Option<String>,
}

/// One browser session.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub(crate) principal: String,
    pub(crate) role: Role,
    pub(crate) csrf: String,
    expires: Instant,
}

/// The live sessions and the failed-login window.
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    sessions: Mutex<HashMap<String, Session>>,
    failures: Mutex<Vec<Instant>>,
}

impl Sessions {
    pub(crate) fn create(&self, principal: &str, role: Role, ttl: Duration) -> (String, Session) {
        let id = random_token();
        let session = Session {
            principal: principal.to_owned(),
            role,
            csrf: random_token(),
            expires: Instant::now() + ttl,
        };
        let mut map = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        map.retain(|_, s| s.expires > now);
        map.insert(id.clone(), session.clone());
        (id, session)
    }

    pub(crate) fn get(&self, id: &str) -> Option<Session> {
        let map = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        map.get(id).filter(|s| s.expires > Instant::now()).cloned()
    }

    pub(crate) fn remove(&self, id: &str) {
        self.sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
    }

    /// Whether another failed login is allowed now (at most `per_minute` in the last minute).
    pub(crate) fn login_allowed(&self, per_minute: u32) -> bool {
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        failures.retain(|t| now.duration_since(*t) < Duration::from_secs(60));
        failures.len() < per_minute as usize
    }

    pub(crate) fn login_failed(&self) {
        self.failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Instant::now());
    }
}

/// 128 random bits (two v4 UUIDs' worth of entropy) as hex.
fn random_token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// Who is asking, with what role; `None` when nobody is (no or an unknown credential).
pub(crate) fn identify(state: &AppState, headers: &HeaderMap) -> Option<Principal> {
    if !state.config.auth {
        return Some(Principal {
            name: "anonymous".to_owned(),
            role: Role::Admin,
            csrf: None,
        });
    }
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let token = value.to_str().ok()?.strip_prefix("Bearer ")?.trim();
        let entry = state.config.find_token(token)?;
        return Some(Principal {
            name: entry.principal.clone(),
            role: entry.role,
            csrf: None,
        });
    }
    let id = cookie(headers, SESSION_COOKIE)?;
    let session = state.sessions.get(&id)?;
    Some(Principal {
        name: session.principal,
        role: session.role,
        csrf: Some(session.csrf),
    })
}

/// Checks a request's credential, role and (for a session changing something) CSRF token.
pub(crate) fn authorize(
    state: &AppState,
    headers: &HeaderMap,
    method: &Method,
    needed: Role,
) -> Result<Principal, ApiError> {
    let principal = identify(state, headers).ok_or_else(ApiError::unauthorized)?;
    if principal.role < needed {
        return Err(ApiError::forbidden(needed));
    }
    let changes = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    if changes {
        check_origin(state, headers)?;
        if let Some(expected) = &principal.csrf {
            let given = headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !constant_time_eq(given.as_bytes(), expected.as_bytes()) {
                return Err(ApiError::new(
                    axum::http::StatusCode::FORBIDDEN,
                    "csrf",
                    "missing or wrong X-CSRF-Token for this session",
                ));
            }
        }
    }
    Ok(principal)
}

/// Refuses a state-changing request a browser sent from another site (the `Origin` header
/// names a host other than this one and no configured CORS origin, or `Sec-Fetch-Site` says
/// `cross-site`). Non-browser clients send neither header. This is what protects a server
/// running with auth off (no session, so no CSRF token) from a page that posts to it.
pub(crate) fn check_origin(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &header::HeaderValue| v.to_str().ok())
    };
    let origin = text(header::ORIGIN).filter(|o| *o != "null");
    if let Some(origin) = origin {
        if state.config.cors_origins.iter().any(|o| o == origin) {
            return Ok(());
        }
        let host = text(header::HOST).unwrap_or("");
        let origin_host = origin.split_once("://").map_or(origin, |(_, h)| h);
        if origin_host.eq_ignore_ascii_case(host) {
            return Ok(());
        }
    }
    let cross_site = text(HeaderName::from_static("sec-fetch-site"))
        .is_some_and(|s| s == "cross-site" || s == "same-site");
    if origin.is_some() || cross_site || text(header::ORIGIN) == Some("null") {
        return Err(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "cross_origin",
            "refusing a state-changing request from another origin",
        ));
    }
    Ok(())
}

/// A role a route needs ([`Access`]).
pub trait Needs: Send + Sync + 'static {
    /// The role.
    const ROLE: Role;
}

/// Marker: the route needs [`Role::Read`].
#[derive(Debug)]
pub struct ReadRole;
/// Marker: the route needs [`Role::Operate`].
#[derive(Debug)]
pub struct OperateRole;
/// Marker: the route needs [`Role::Admin`].
#[derive(Debug)]
pub struct AdminRole;

impl Needs for ReadRole {
    const ROLE: Role = Role::Read;
}
impl Needs for OperateRole {
    const ROLE: Role = Role::Operate;
}
impl Needs for AdminRole {
    const ROLE: Role = Role::Admin;
}

/// Extractor: the request's principal, refused (401/403/CSRF) unless it holds `R`'s role.
#[derive(Debug)]
pub struct Access<R: Needs> {
    /// Who is asking.
    pub principal: Principal,
    _role: PhantomData<R>,
}

impl<R: Needs> FromRequestParts<Arc<AppState>> for Access<R> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let principal = authorize(state, &parts.headers, &parts.method, R::ROLE)?;
        Ok(Access {
            principal,
            _role: PhantomData,
        })
    }
}
