//! [`WebConfig`]: who may do what ([`Role`], hashed tokens), CORS origins, sessions and the
//! audit sink. Auth is on by default: a config with no tokens lets nobody in until
//! [`WebConfig::without_auth`] says otherwise, and [`WebConfig::check_bind`] refuses to serve
//! an unauthenticated API beyond the loopback interface.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::audit::{AuditSink, TracingAudit};
use crate::WebError;

/// What a principal may do. Each role includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read tasks, runs, nodes, status and events.
    Read,
    /// Also run now, pause and resume.
    Operate,
    /// Also add, update, reschedule and delete.
    Admin,
}

impl Role {
    /// `read`, `operate` or `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Operate => "operate",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = WebError;
    fn from_str(s: &str) -> Result<Self, WebError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "read" => Ok(Role::Read),
            "operate" => Ok(Role::Operate),
            "admin" => Ok(Role::Admin),
            other => Err(WebError::Config(format!(
                "role: '{other}' is not one of read, operate, admin"
            ))),
        }
    }
}

/// The SHA-256 of a token, in lower-case hex: what a [`WebConfig`] stores instead of the token.
///
/// ```
/// assert_eq!(
///     asyncz_web::hash_token("secret"),
///     "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"
/// );
/// ```
pub fn hash_token(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    let mut out = String::with_capacity(64);
    for byte in digest {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

/// One accepted token: its hash, the principal it names (written in audit records) and its role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenEntry {
    /// Who the token belongs to.
    pub principal: String,
    /// What it may do.
    pub role: Role,
    /// [`hash_token`] of the token.
    pub sha256: String,
}

/// Configuration of [`crate::router`].
#[derive(Clone)]
pub struct WebConfig {
    pub(crate) tokens: Vec<TokenEntry>,
    pub(crate) auth: bool,
    pub(crate) cors_origins: Vec<String>,
    pub(crate) session_ttl: Duration,
    pub(crate) login_attempts_per_minute: u32,
    pub(crate) audit: Arc<dyn AuditSink>,
    pub(crate) page_size_max: usize,
    pub(crate) metrics: Option<MetricsRenderer>,
    pub(crate) health_max_late: Duration,
    pub(crate) control_plane: bool,
}

/// What `/metrics` answers: the text exposition of the application's recorder.
pub(crate) type MetricsRenderer = Arc<dyn Fn() -> String + Send + Sync>;

impl fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebConfig")
            .field("tokens", &self.tokens.len())
            .field("auth", &self.auth)
            .field("cors_origins", &self.cors_origins)
            .field("session_ttl", &self.session_ttl)
            .field("metrics", &self.metrics.is_some())
            .field("health_max_late", &self.health_max_late)
            .finish_non_exhaustive()
    }
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            tokens: Vec::new(),
            auth: true,
            cors_origins: Vec::new(),
            session_ttl: Duration::from_secs(8 * 3600),
            login_attempts_per_minute: 10,
            audit: Arc::new(TracingAudit),
            page_size_max: 1000,
            metrics: None,
            health_max_late: Duration::from_secs(30),
            control_plane: false,
        }
    }
}

impl WebConfig {
    /// Auth on, no tokens yet (nobody is let in), no CORS, sessions of 8 hours.
    pub fn new() -> Self {
        Self::default()
    }

    /// Accepts the token whose SHA-256 hex is `sha256` ([`hash_token`]) as `principal` with
    /// `role`. A hash that is not 64 hex digits is an error naming it.
    pub fn token_hash(
        mut self,
        principal: impl Into<String>,
        role: Role,
        sha256: impl Into<String>,
    ) -> Result<Self, WebError> {
        let sha256 = sha256.into().trim().to_ascii_lowercase();
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(WebError::Config(format!(
                "token sha256: '{sha256}' is not 64 hex digits (use asyncz_web::hash_token)"
            )));
        }
        self.tokens.push(TokenEntry {
            principal: principal.into(),
            role,
            sha256,
        });
        Ok(self)
    }

    /// Accepts `token` (hashed here; the plain token is not kept) as `principal` with `role`.
    pub fn token(mut self, principal: impl Into<String>, role: Role, token: &str) -> Self {
        self.tokens.push(TokenEntry {
            principal: principal.into(),
            role,
            sha256: hash_token(token),
        });
        self
    }

    /// No authentication: every request acts as the `anonymous` admin. Only for loopback:
    /// [`WebConfig::check_bind`] refuses anything else.
    pub fn without_auth(mut self) -> Self {
        self.auth = false;
        self
    }

    /// Allows cross-origin requests (with credentials) from exactly these origins
    /// (`https://ops.example.com`). None by default; `*` is refused.
    pub fn cors_origins<I, S>(mut self, origins: I) -> Result<Self, WebError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut list = Vec::new();
        for origin in origins {
            let origin: String = origin.into();
            let ok = (origin.starts_with("https://") || origin.starts_with("http://"))
                && !origin.contains('*')
                && !origin
                    .trim_end_matches('/')
                    .contains(|c: char| c.is_whitespace())
                && axum::http::HeaderValue::from_str(&origin).is_ok();
            if !ok {
                return Err(WebError::Config(format!(
                    "cors origin: '{}' is not an http(s) origin like https://ops.example.com",
                    origin.escape_debug()
                )));
            }
            list.push(origin.trim_end_matches('/').to_owned());
        }
        self.cors_origins = list;
        Ok(self)
    }

    /// How long a browser session lasts (default 8 hours).
    pub fn session_ttl(mut self, ttl: Duration) -> Self {
        self.session_ttl = ttl;
        self
    }

    /// Failed logins allowed per minute before `/login` answers 429 (default 10).
    pub fn login_attempts_per_minute(mut self, attempts: u32) -> Self {
        self.login_attempts_per_minute = attempts.max(1);
        self
    }

    /// Where audit records go (default: `tracing` events with target `asyncz::audit`).
    pub fn audit(mut self, sink: Arc<dyn AuditSink>) -> Self {
        self.audit = sink;
        self
    }

    /// Serves `/metrics` (role `read` when auth is on) with what `render` returns, after
    /// refreshing the `asyncz_tasks{state}` gauges. With the facade's Prometheus helper:
    /// `let m = asyncz::prometheus::PrometheusMetrics::install()?;`
    /// `config.metrics(move || m.render_only())`. Without it `/metrics` answers 404.
    pub fn metrics<F>(mut self, render: F) -> Self
    where
        F: Fn() -> String + Send + Sync + 'static,
    {
        self.metrics = Some(Arc::new(render));
        self
    }

    /// How far past its planned wakeup the engine may be before `/healthz` answers 503
    /// (default 30 s; see `SchedulerInfo::engine_on_time`). Keep it above the scheduler's
    /// store timeout: a round waits that long for a store that hangs.
    pub fn health_max_late(mut self, max_late: Duration) -> Self {
        self.health_max_late = max_late;
        self
    }

    /// The scheduler only reads and writes the stores, for other processes to run the tasks
    /// (`asyncz serve`): run now writes a run request for a live cluster node (202), as on a
    /// cluster node, instead of running the task in this process, and the status and overview
    /// count the stores' cluster nodes.
    pub fn control_plane(mut self) -> Self {
        self.control_plane = true;
        self
    }

    /// Whether auth is on.
    pub fn auth_enabled(&self) -> bool {
        self.auth
    }

    /// Refuses to serve on a non-loopback address with auth off.
    pub fn check_bind(&self, addr: SocketAddr) -> Result<(), WebError> {
        if !self.auth && !addr.ip().is_loopback() {
            return Err(WebError::Config(format!(
                "bind: refusing to serve {addr} with auth off; bind to 127.0.0.1 or configure tokens"
            )));
        }
        Ok(())
    }

    pub(crate) fn find_token(&self, token: &str) -> Option<&TokenEntry> {
        let hash = hash_token(token);
        // Compare every entry in full so the time taken does not tell which prefix matched.
        let mut found = None;
        for entry in &self.tokens {
            if constant_time_eq(entry.sha256.as_bytes(), hash.as_bytes()) {
                found = Some(entry);
            }
        }
        found
    }
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
