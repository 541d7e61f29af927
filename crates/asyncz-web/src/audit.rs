//! Audit records: every change made through the API names the principal that made it.

use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::Serialize;

/// One change made through the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditRecord {
    /// When the change was made.
    pub at: DateTime<Utc>,
    /// Who made it (the token's principal; `anonymous` with auth off).
    pub principal: String,
    /// What was done: `add`, `update`, `reschedule`, `pause`, `resume`, `run`, `delete`,
    /// `login`, `logout`.
    pub action: String,
    /// The task id (or empty).
    pub target: String,
    /// Whether it succeeded.
    pub ok: bool,
    /// The error, when it did not.
    pub error: Option<String>,
}

/// Where audit records are written. Implementations must not block for long: they are called
/// on the request path.
pub trait AuditSink: Send + Sync + 'static {
    /// Writes one record.
    fn record(&self, record: &AuditRecord);
}

/// Writes audit records as `tracing` events (target `asyncz::audit`, level info).
#[derive(Debug, Default, Clone, Copy)]
pub struct TracingAudit;

impl AuditSink for TracingAudit {
    fn record(&self, r: &AuditRecord) {
        tracing::info!(
            target: "asyncz::audit",
            principal = %r.principal,
            action = %r.action,
            target_id = %r.target,
            ok = r.ok,
            error = r.error.as_deref().unwrap_or(""),
            "audit"
        );
    }
}

/// Keeps audit records in memory (tests, or a service that ships them elsewhere itself).
#[derive(Debug, Default)]
pub struct MemoryAudit {
    records: Mutex<Vec<AuditRecord>>,
}

impl MemoryAudit {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// The records so far, oldest first.
    pub fn records(&self) -> Vec<AuditRecord> {
        self.records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

impl AuditSink for MemoryAudit {
    fn record(&self, record: &AuditRecord) {
        self.records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(record.clone());
    }
}
