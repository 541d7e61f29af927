//! [`ClusterConfig`]: a node's settings.

use std::time::Duration;

use crate::{Error, Result};

/// How a scheduler takes part in a cluster (`SchedulerBuilder::cluster`).
///
/// Defaults: a node id of host-pid-random, lease 15 s, heartbeat every 5 s, a node dead after
/// 15 s without one, poll every second, claims of up to 500 tasks per round, history kept 7
/// days and at most 100 runs per task, pruned every minute.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ClusterConfig {
    /// This node's id (`None`: `<host>-<pid>-<random>`, new at every start).
    pub node_id: Option<String>,
    /// How long a claim holds before another node may take the task over.
    pub lease: Duration,
    /// How often the node refreshes its heartbeat.
    pub heartbeat_interval: Duration,
    /// A node whose heartbeat is older than this is dead.
    pub node_timeout: Duration,
    /// How often an idle node looks for due tasks and run requests.
    pub poll_interval: Duration,
    /// At most this many tasks claimed per store and round.
    pub batch_size: usize,
    /// Run records older than this are pruned.
    pub history_max_age: Duration,
    /// At most this many run records are kept per task.
    pub history_max_runs: usize,
    /// How often the ledger is pruned (by one node at a time: the live node with the smallest
    /// id).
    pub prune_interval: Duration,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            node_id: None,
            lease: Duration::from_secs(15),
            heartbeat_interval: Duration::from_secs(5),
            node_timeout: Duration::from_secs(15),
            poll_interval: Duration::from_secs(1),
            batch_size: 500,
            history_max_age: Duration::from_secs(7 * 24 * 3600),
            history_max_runs: 100,
            prune_interval: Duration::from_secs(60),
        }
    }
}

macro_rules! setter {
    ($(#[$doc:meta])* $name:ident: $ty:ty) => {
        $(#[$doc])*
        #[must_use]
        pub fn $name(mut self, $name: $ty) -> Self {
            self.$name = $name;
            self
        }
    };
}

impl ClusterConfig {
    /// The defaults.
    pub fn new() -> Self {
        ClusterConfig::default()
    }

    /// This node's id.
    #[must_use]
    pub fn node_id(mut self, node_id: impl Into<String>) -> Self {
        self.node_id = Some(node_id.into());
        self
    }

    setter!(/// The claim lease.
        lease: Duration);
    setter!(/// The heartbeat interval.
        heartbeat_interval: Duration);
    setter!(/// The node timeout.
        node_timeout: Duration);
    setter!(/// The poll interval.
        poll_interval: Duration);
    setter!(/// The claim batch size.
        batch_size: usize);
    setter!(/// The history age limit.
        history_max_age: Duration);
    setter!(/// The history count limit per task.
        history_max_runs: usize);
    setter!(/// The prune interval.
        prune_interval: Duration);

    /// Checks the settings, naming the first bad one.
    pub fn validate(&self) -> Result<()> {
        let positive = [
            ("cluster.lease", self.lease),
            ("cluster.heartbeat_interval", self.heartbeat_interval),
            ("cluster.node_timeout", self.node_timeout),
            ("cluster.poll_interval", self.poll_interval),
            ("cluster.prune_interval", self.prune_interval),
        ];
        for (field, value) in positive {
            if value.is_zero() {
                return Err(Error::invalid(field, "must be greater than zero, got 0s"));
            }
        }
        if self.heartbeat_interval >= self.node_timeout {
            return Err(Error::invalid(
                "cluster.heartbeat_interval",
                format!(
                    "must be shorter than cluster.node_timeout ({:?}), got {:?}: a live node would be declared dead",
                    self.node_timeout, self.heartbeat_interval
                ),
            ));
        }
        if self.batch_size == 0 {
            return Err(Error::invalid(
                "cluster.batch_size",
                "must be at least 1, got 0",
            ));
        }
        if let Some(id) = &self.node_id {
            if id.is_empty() || id.len() > 200 || id.chars().any(char::is_control) {
                return Err(Error::invalid(
                    "cluster.node_id",
                    format!("must be 1 to 200 printable characters, got {id:?}"),
                ));
            }
        }
        Ok(())
    }

    /// The node id to use for one start: the configured one, or `<host>-<pid>-<random>`.
    pub fn resolve_node_id(&self) -> String {
        self.node_id.clone().unwrap_or_else(|| {
            let random = uuid::Uuid::new_v4().simple().to_string();
            format!("{}-{}-{}", host_name(), std::process::id(), &random[..8])
        })
    }
}

/// This machine's host name, best effort (`HOSTNAME`, `/etc/hostname`, `COMPUTERNAME`, else
/// `localhost`).
pub(crate) fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
        })
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .unwrap_or_else(|| "localhost".to_owned())
}
