//! The node registry: who takes part in a cluster, and who is still alive.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Whether a node is taking part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeState {
    /// Heartbeating.
    Alive,
    /// Its heartbeat went older than the node timeout and another node marked it dead (or it
    /// left on shutdown).
    Dead,
}

impl NodeState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeState::Alive => "alive",
            NodeState::Dead => "dead",
        }
    }
}

/// One node, as registered in the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct NodeInfo {
    /// The node id (unique per process start).
    pub node_id: String,
    /// The host name.
    pub host: String,
    /// The process id.
    pub pid: u32,
    /// When the node started.
    pub started_at: DateTime<Utc>,
    /// Its last heartbeat, on the store's clock.
    pub last_heartbeat: DateTime<Utc>,
    /// Alive or dead.
    pub state: NodeState,
    /// The names of the functions the node has registered, sorted, refreshed with each
    /// heartbeat. Operators use it to find tasks that no live node can run (`asyncz doctor`).
    /// Empty for a node of an asyncz version that did not publish them.
    #[serde(default)]
    pub functions: Vec<String>,
}

impl NodeInfo {
    /// A node record.
    pub fn new(
        node_id: impl Into<String>,
        host: impl Into<String>,
        pid: u32,
        started_at: DateTime<Utc>,
    ) -> Self {
        let started_at = crate::truncate_to_micros(started_at);
        NodeInfo {
            node_id: node_id.into(),
            host: host.into(),
            pid,
            started_at,
            last_heartbeat: started_at,
            state: NodeState::Alive,
            functions: Vec::new(),
        }
    }

    /// The same node publishing `functions` (stored sorted and without repeats).
    #[must_use]
    pub fn with_functions(mut self, functions: impl IntoIterator<Item = String>) -> Self {
        let mut functions: Vec<String> = functions.into_iter().collect();
        functions.sort_unstable();
        functions.dedup();
        self.functions = functions;
        self
    }

    /// How old its heartbeat is at `now` (zero for a heartbeat in the future).
    pub fn heartbeat_age(&self, now: DateTime<Utc>) -> Duration {
        (now - self.last_heartbeat)
            .to_std()
            .unwrap_or(Duration::ZERO)
    }

    /// Whether it is alive and its heartbeat is at most `timeout` old at `now`.
    pub fn is_alive(&self, now: DateTime<Utc>, timeout: Duration) -> bool {
        self.state == NodeState::Alive && self.heartbeat_age(now) <= timeout
    }
}
