//! The task's operator-facing types: its [`ScheduleState`], the immutable [`TaskInfo`]
//! snapshot dashboards and CLIs show, and the [`TaskDefaults`] applied to options a task
//! leaves unset.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::{Error, Map, Result, Value};

/// The scheduler-facing state of a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleState {
    /// Added before the scheduler started; committed to its store at start.
    Pending,
    /// In a store, with no next run time.
    Paused,
    /// In a store, with a next run time.
    Scheduled,
}

impl ScheduleState {
    /// `pending`, `paused` or `scheduled`.
    pub fn as_str(&self) -> &'static str {
        match self {
            ScheduleState::Pending => "pending",
            ScheduleState::Paused => "paused",
            ScheduleState::Scheduled => "scheduled",
        }
    }
}

impl fmt::Display for ScheduleState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ScheduleState {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "pending" => Ok(ScheduleState::Pending),
            "paused" => Ok(ScheduleState::Paused),
            "scheduled" => Ok(ScheduleState::Scheduled),
            other => Err(Error::invalid(
                "schedule_state",
                format!("'{other}' is not one of pending, paused, scheduled"),
            )),
        }
    }
}

/// An immutable inspection snapshot of a task (spec: `TaskInfo`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskInfo {
    /// Task id.
    pub id: String,
    /// Task name.
    pub name: String,
    /// The callable's readable name.
    pub callable_name: String,
    /// The registered function name (`None` for closures).
    pub callable_reference: Option<String>,
    /// Trigger alias (`cron`, ...).
    pub trigger_alias: String,
    /// Trigger type name (`CronTrigger`, ...).
    pub trigger_name: String,
    /// The trigger's description (`interval[0:05:00]`, ...).
    pub trigger_description: String,
    /// Executor alias.
    pub executor: String,
    /// Store alias.
    pub store_alias: String,
    /// Pending, paused or scheduled.
    pub schedule_state: ScheduleState,
    /// Next run time.
    pub next_run_time: Option<DateTime<Utc>>,
    /// Coalesce flag.
    pub coalesce: bool,
    /// Concurrency limit.
    pub max_instances: u32,
    /// In a cluster, what happens to a run left unfinished by a node that died.
    pub on_node_death: crate::cluster::OnNodeDeath,
    /// Grace time.
    pub mistrigger_grace_time: Option<Duration>,
    /// How far back missed fire times are replayed after downtime (`None`: no bound).
    pub catchup_window: Option<Duration>,
    /// Still pending.
    pub pending: bool,
    /// Paused.
    pub paused: bool,
    /// Submitted to a scheduler.
    pub submitted: bool,
    /// Positional arguments the function is called with.
    pub args: Vec<Value>,
    /// Keyword arguments the function is called with.
    pub kwargs: Map,
}

/// Defaults applied to options a task does not set (spec: `task_defaults`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskDefaults {
    /// Default `mistrigger_grace_time` (upstream: 1 second).
    pub mistrigger_grace_time: Option<Duration>,
    /// Default `coalesce` (upstream: true).
    pub coalesce: bool,
    /// Default `max_instances` (upstream: 1).
    pub max_instances: u32,
    /// The zone a task's trigger computes in when the trigger has none of its own (`None`: the
    /// scheduler's `timezone`). The spec's example config sets it (`task_defaults.timezone`).
    pub timezone: Option<Tz>,
}

impl Default for TaskDefaults {
    fn default() -> Self {
        TaskDefaults {
            mistrigger_grace_time: Some(Duration::from_secs(1)),
            coalesce: true,
            max_instances: 1,
            timezone: None,
        }
    }
}
