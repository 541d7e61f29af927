//! [`TaskBuilder`] (every option of the spec's `add_task`) and [`TaskUpdate`] (the validated
//! changes of `update_task`).

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::function::{CallContext, Callable, IntoTaskOutput};
use crate::trigger::TriggerSpec;
use crate::{Error, Map, Result, Value};

/// When a new task first runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NextRunTime {
    /// Computed from the trigger (the default).
    #[default]
    FromTrigger,
    /// Added paused (the spec's `next_run_time=None`).
    Paused,
    /// At this time, whatever the trigger says.
    At(DateTime<Utc>),
}

/// A task definition, submitted with `Scheduler::add_task`. Every option the builder leaves
/// unset takes the scheduler's `task_defaults` (or the spec's default).
///
/// A definition is submitted once: clones share that fact, and submitting any of them again is
/// [`Error::AlreadySubmitted`]. Use [`TaskBuilder::derive`] to start a new task from a template
/// (the Rust counterpart of the spec's decorator mode).
#[derive(Debug, Clone, Default)]
pub struct TaskBuilder {
    pub(crate) callable: Option<Callable>,
    pub(crate) trigger: Option<TriggerSpec>,
    pub(crate) args: Option<Vec<Value>>,
    pub(crate) kwargs: Option<Map>,
    pub(crate) id: Option<String>,
    pub(crate) name: Option<String>,
    pub(crate) mistrigger_grace_time: Option<Option<Duration>>,
    pub(crate) coalesce: Option<bool>,
    pub(crate) max_instances: Option<u32>,
    pub(crate) on_node_death: Option<crate::cluster::OnNodeDeath>,
    pub(crate) catchup_window: Option<Duration>,
    pub(crate) next_run_time: NextRunTime,
    pub(crate) store: Option<String>,
    pub(crate) executor: Option<String>,
    pub(crate) replace_existing: bool,
    pub(crate) errors: Vec<(String, String)>,
    pub(crate) submitted: Arc<AtomicBool>,
}

impl TaskBuilder {
    /// An empty definition.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs the function registered under `name` (survives restarts).
    pub fn function(mut self, name: impl Into<String>) -> Self {
        self.callable = Some(Callable::Registered(Arc::from(name.into())));
        self
    }

    /// Runs an anonymous synchronous closure (memory store only).
    pub fn closure<F, R>(mut self, f: F) -> Self
    where
        F: Fn(CallContext) -> R + Send + Sync + 'static,
        R: IntoTaskOutput,
    {
        self.callable = Some(Callable::closure(f));
        self
    }

    /// Runs an anonymous async closure (memory store only).
    pub fn closure_async<F, Fut, R>(mut self, f: F) -> Self
    where
        F: Fn(CallContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: IntoTaskOutput,
    {
        self.callable = Some(Callable::closure_async(f));
        self
    }

    /// Sets the callable directly.
    pub fn callable(mut self, callable: Callable) -> Self {
        self.callable = Some(callable);
        self
    }

    /// The trigger instance (default: a date trigger firing now).
    pub fn trigger(mut self, trigger: impl Into<TriggerSpec>) -> Self {
        self.trigger = Some(trigger.into());
        self
    }

    /// A trigger by plugin alias and arguments, e.g. `("interval", json!({"minutes": 5}))`.
    pub fn trigger_alias(mut self, alias: &str, args: Value) -> Self {
        match TriggerSpec::alias(alias, args) {
            Ok(spec) => self.trigger = Some(spec),
            Err(e) => self.errors.push(("trigger".to_owned(), e.to_string())),
        }
        self
    }

    /// Positional arguments.
    pub fn args(mut self, args: Vec<Value>) -> Self {
        self.args = Some(args);
        self
    }

    /// Appends one positional argument.
    pub fn arg(mut self, arg: impl Serialize) -> Self {
        match serde_json::to_value(arg) {
            Ok(v) => self.args.get_or_insert_with(Vec::new).push(v),
            Err(e) => self.errors.push(("args".to_owned(), e.to_string())),
        }
        self
    }

    /// Keyword arguments.
    pub fn kwargs(mut self, kwargs: Map) -> Self {
        self.kwargs = Some(kwargs);
        self
    }

    /// Sets one keyword argument.
    pub fn kwarg(mut self, key: &str, value: impl Serialize) -> Self {
        match serde_json::to_value(value) {
            Ok(v) => {
                self.kwargs
                    .get_or_insert_with(Map::new)
                    .insert(key.to_owned(), v);
            }
            Err(e) => self.errors.push((format!("kwargs.{key}"), e.to_string())),
        }
        self
    }

    /// The task id (default: a random uuid4 in hex).
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// The readable name (default: the callable's name).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// How late a run may start; `None` runs it no matter how late.
    pub fn mistrigger_grace_time(mut self, grace: Option<Duration>) -> Self {
        self.mistrigger_grace_time = Some(grace);
        self
    }

    /// Run once instead of many times when several run times are due.
    pub fn coalesce(mut self, coalesce: bool) -> Self {
        self.coalesce = Some(coalesce);
        self
    }

    /// The maximum number of concurrent runs.
    pub fn max_instances(mut self, max_instances: u32) -> Self {
        self.max_instances = Some(max_instances);
        self
    }

    /// In a cluster, what happens to a run left unfinished by a node that died (default
    /// [`crate::cluster::OnNodeDeath::Abandon`]: at most once).
    pub fn on_node_death(mut self, policy: crate::cluster::OnNodeDeath) -> Self {
        self.on_node_death = Some(policy);
        self
    }

    /// Replays missed fire times only this far back after downtime (default: no bound; a
    /// task down for a day on a 1-minute cron then gets one run when coalescing, or up to
    /// 1000 missed ones when not). Older fire times are dropped and counted as coalesced;
    /// the schedule goes on from the latest.
    pub fn catchup_window(mut self, window: Duration) -> Self {
        self.catchup_window = Some(window);
        self
    }

    /// First run at this time, whatever the trigger says.
    pub fn next_run_time(mut self, at: DateTime<Utc>) -> Self {
        self.next_run_time = NextRunTime::At(crate::clock::truncate_to_micros(at));
        self
    }

    /// Adds the task paused (the spec's `next_run_time=None`).
    pub fn paused(mut self) -> Self {
        self.next_run_time = NextRunTime::Paused;
        self
    }

    /// The store alias (default `default`).
    pub fn store(mut self, alias: impl Into<String>) -> Self {
        self.store = Some(alias.into());
        self
    }

    /// The executor alias (default `default`).
    pub fn executor(mut self, alias: impl Into<String>) -> Self {
        self.executor = Some(alias.into());
        self
    }

    /// Replace a task with the same id instead of failing with `ConflictId`.
    pub fn replace_existing(mut self, replace: bool) -> Self {
        self.replace_existing = replace;
        self
    }

    /// A new, unsubmitted definition with the same options but no id: the template pattern
    /// (spec: decorator mode creates a submitted copy per decorated function).
    pub fn derive(&self) -> Self {
        TaskBuilder {
            id: None,
            submitted: Arc::new(AtomicBool::new(false)),
            ..self.clone()
        }
    }

    /// Marks the definition submitted; fails when it already was.
    pub(crate) fn mark_submitted(&self) -> Result<()> {
        if self.submitted.swap(true, Ordering::SeqCst) {
            return Err(Error::AlreadySubmitted {
                task_id: self.id.clone().unwrap_or_else(|| "<no id>".to_owned()),
            });
        }
        Ok(())
    }
}

/// Changes to a task, validated all together before any is applied (spec: `update_task`).
#[derive(Debug, Clone, Default)]
pub struct TaskUpdate {
    pub(crate) name: Option<Arc<str>>,
    pub(crate) callable: Option<Callable>,
    pub(crate) args: Option<Vec<Value>>,
    pub(crate) kwargs: Option<Map>,
    pub(crate) trigger: Option<TriggerSpec>,
    pub(crate) executor: Option<Arc<str>>,
    pub(crate) mistrigger_grace_time: Option<Option<Duration>>,
    pub(crate) coalesce: Option<bool>,
    pub(crate) max_instances: Option<u32>,
    pub(crate) next_run_time: Option<Option<DateTime<Utc>>>,
}

impl TaskUpdate {
    /// No changes.
    pub fn new() -> Self {
        Self::default()
    }
    /// A new name (must not be empty).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(Arc::from(name.into()));
        self
    }
    /// Run another registered function.
    pub fn function(mut self, name: impl Into<String>) -> Self {
        self.callable = Some(Callable::Registered(Arc::from(name.into())));
        self
    }
    /// New positional arguments.
    pub fn args(mut self, args: Vec<Value>) -> Self {
        self.args = Some(args);
        self
    }
    /// New keyword arguments.
    pub fn kwargs(mut self, kwargs: Map) -> Self {
        self.kwargs = Some(kwargs);
        self
    }
    /// A new trigger (the next run time is kept; use `reschedule_task` to recompute it).
    pub fn trigger(mut self, trigger: impl Into<TriggerSpec>) -> Self {
        self.trigger = Some(trigger.into());
        self
    }
    /// Another executor alias.
    pub fn executor(mut self, alias: impl Into<String>) -> Self {
        self.executor = Some(Arc::from(alias.into()));
        self
    }
    /// A new grace time (`None`: no limit; zero is rejected).
    pub fn mistrigger_grace_time(mut self, grace: Option<Duration>) -> Self {
        self.mistrigger_grace_time = Some(grace);
        self
    }
    /// A new coalesce flag.
    pub fn coalesce(mut self, coalesce: bool) -> Self {
        self.coalesce = Some(coalesce);
        self
    }
    /// A new concurrency limit (must be above zero).
    pub fn max_instances(mut self, max_instances: u32) -> Self {
        self.max_instances = Some(max_instances);
        self
    }
    /// A new next run time (`None` pauses).
    pub fn next_run_time(mut self, next: Option<DateTime<Utc>>) -> Self {
        self.next_run_time = Some(next.map(crate::clock::truncate_to_micros));
        self
    }

    /// Reads changes from a map of field names to values, as a CLI or dashboard sends them.
    /// Values are coerced as upstream does (`"false"`, `"3"`); `id` and unknown fields are
    /// rejected by name.
    pub fn from_map(map: &Map) -> Result<Self> {
        let mut update = TaskUpdate::new();
        let mut unknown = Vec::new();
        for (key, value) in map {
            match key.as_str() {
                "id" => return Err(Error::invalid("id", "the task id may not be changed")),
                "name" if value.is_null() => {}
                "name" => {
                    let name = expect(key, value, Value::as_str, "a non-empty string")?;
                    update.name = Some(Arc::from(name));
                }
                "function" | "fn" | "fn_reference" => {
                    let name = expect(key, value, Value::as_str, "a registered function name")?;
                    update.callable = Some(Callable::registered(name));
                }
                "args" => {
                    update.args = Some(expect(key, value, Value::as_array, "a list")?.clone())
                }
                "kwargs" => {
                    update.kwargs = Some(expect(key, value, Value::as_object, "an object")?.clone())
                }
                "executor" => {
                    let alias = expect(key, value, Value::as_str, "a string")?;
                    update.executor = Some(Arc::from(alias));
                }
                "mistrigger_grace_time" => {
                    update.mistrigger_grace_time = Some(crate::config::grace_time(key, value)?)
                }
                "coalesce" => update.coalesce = Some(crate::config::as_bool(key, value)?),
                "max_instances" => update.max_instances = Some(crate::config::as_u32(key, value)?),
                "next_run_time" => update.next_run_time = Some(next_run_time(value)?),
                other => unknown.push(other.to_owned()),
            }
        }
        if !unknown.is_empty() {
            unknown.sort();
            return Err(Error::invalid(
                "update",
                format!(
                    "the following are not modifiable attributes of Task: {}",
                    unknown.join(", ")
                ),
            ));
        }
        Ok(update)
    }

    /// Checks the changes that need no scheduler (name, grace time, max_instances).
    pub(crate) fn validate(&self) -> Result<()> {
        if let Some(name) = &self.name {
            if name.trim().is_empty() {
                return Err(Error::invalid("name", "must be a non-empty string, got ''"));
            }
        }
        if let Some(Some(grace)) = self.mistrigger_grace_time {
            if grace.is_zero() {
                return Err(Error::invalid(
                    "mistrigger_grace_time",
                    "must be None or a positive duration, got 0s",
                ));
            }
        }
        if self.max_instances == Some(0) {
            return Err(Error::invalid(
                "max_instances",
                "must be a positive integer, got 0",
            ));
        }
        Ok(())
    }
}

/// The value of `key` as `pick` reads it, or an error saying what it must be.
fn expect<'a, T: ?Sized>(
    key: &str,
    value: &'a Value,
    pick: impl Fn(&'a Value) -> Option<&'a T>,
    what: &str,
) -> Result<&'a T> {
    pick(value).ok_or_else(|| Error::invalid(key, format!("must be {what}, got {value}")))
}

/// A `next_run_time` update: null (pause) or an RFC 3339 date-time.
fn next_run_time(value: &Value) -> Result<Option<DateTime<Utc>>> {
    let s = match value {
        Value::Null => return Ok(None),
        Value::String(s) => s,
        other => {
            return Err(Error::invalid(
                "next_run_time",
                format!("must be null or an RFC 3339 string, got {other}"),
            ))
        }
    };
    let parsed = DateTime::parse_from_rfc3339(s).map_err(|e| {
        Error::invalid(
            "next_run_time",
            format!("'{s}' is not an RFC 3339 date-time: {e}"),
        )
    })?;
    Ok(Some(crate::clock::truncate_to_micros(
        parsed.with_timezone(&Utc),
    )))
}
