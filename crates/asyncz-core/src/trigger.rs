//! The [`Trigger`] contract: a trigger decides *when* a task runs. Triggers are plain data
//! (`Send + Sync + Debug`), describe themselves for operators (`Display`), and serialize to a
//! state map that the plugin registry turns back into an equal trigger.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::plugins::PluginRegistry;
use crate::{Error, Map, Result, Value};

/// Decides the fire times of a task.
///
/// # Behavior
/// - `next_fire_time(tz, None, now)` is the first fire time, at or after `now` (a date trigger
///   may return a time in the past: it is then due at once).
/// - `next_fire_time(tz, Some(previous), now)` is the first fire time strictly after
///   `previous`; `None` means the schedule is exhausted and the task is removed.
/// - `previous` may carry jitter; implementations compute from their own grid so jitter never
///   drifts the series.
/// - `tz` is the scheduler's zone; a trigger with its own zone uses that instead.
/// - `state()` fed to this trigger's factory (see [`crate::PluginRegistry::add_trigger`])
///   yields an equal trigger: that is how persistent stores keep triggers.
pub trait Trigger: fmt::Debug + fmt::Display + Send + Sync + 'static {
    /// The plugin alias (`date`, `interval`, `cron`, ...).
    fn alias(&self) -> &'static str;

    /// The type name shown as `TaskInfo::trigger_name` (`CronTrigger`, ...).
    fn type_name(&self) -> &'static str;

    /// The next fire time after `previous` (or the first one when `previous` is `None`).
    fn next_fire_time(
        &self,
        tz: Tz,
        previous: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>>;

    /// The arguments that rebuild this trigger through its factory.
    fn state(&self) -> Map;

    /// When true, tasks added with this trigger default to `mistrigger_grace_time = None`
    /// (a date trigger with no `run_at` means "now", and must not be missed).
    fn allow_mistrigger_by_default(&self) -> bool {
        false
    }

    /// True for the shutdown trigger: the task runs once, when the scheduler shuts down.
    fn is_shutdown(&self) -> bool {
        false
    }

    /// The fire times from `first` (a fire time) up to `now` inclusive: how many there are,
    /// and the latest `keep` of them, oldest first. The engine uses it to enumerate missed
    /// runs without materialising them all.
    ///
    /// The default walks [`Trigger::next_fire_time`]; a trigger on an arithmetic grid
    /// (interval) overrides it to answer without walking, so a task a year behind on a
    /// one-second interval costs O(keep), not 31 million steps.
    fn fire_times_until(
        &self,
        tz: Tz,
        first: DateTime<Utc>,
        now: DateTime<Utc>,
        keep: usize,
    ) -> (Vec<DateTime<Utc>>, u64) {
        walk_fire_times(self, tz, first, now, keep)
    }
}

/// The default of [`Trigger::fire_times_until`]: walks [`Trigger::next_fire_time`] from `first`
/// to `now`, keeping the latest `keep` fire times and counting all of them.
pub fn walk_fire_times<T: Trigger + ?Sized>(
    trigger: &T,
    tz: Tz,
    first: DateTime<Utc>,
    now: DateTime<Utc>,
    keep: usize,
) -> (Vec<DateTime<Utc>>, u64) {
    let mut kept: std::collections::VecDeque<DateTime<Utc>> = std::collections::VecDeque::new();
    let mut total: u64 = 0;
    let mut next = Some(first);
    while let Some(t) = next {
        if t > now {
            break;
        }
        total += 1;
        if keep > 0 {
            if kept.len() == keep {
                kept.pop_front();
            }
            kept.push_back(t);
        }
        next = trigger.next_fire_time(tz, Some(t), now);
        if next.is_some_and(|n| n <= t) {
            // A trigger that does not advance would spin here forever.
            break;
        }
    }
    (kept.into(), total)
}

/// What a trigger factory knows besides its arguments.
///
/// Built with [`TriggerContext::new`]; `#[non_exhaustive]` so that what a factory may know can
/// grow without breaking callers.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TriggerContext {
    /// The scheduler's time zone, used when the arguments name none.
    pub timezone: Tz,
    /// The current time (a date trigger without `run_at` fires now).
    pub now: DateTime<Utc>,
    plugins: Option<PluginRegistry>,
}

impl TriggerContext {
    /// A context in `timezone` at `now`, with no plugin registry.
    pub fn new(timezone: Tz, now: DateTime<Utc>) -> Self {
        TriggerContext {
            timezone,
            now,
            plugins: None,
        }
    }

    /// The same context with `plugins` as the registry that nested triggers (the children of
    /// `and` / `or`) are built from.
    /// [`PluginRegistry::create_trigger`] sets itself here, so a factory it calls sees the
    /// registry of the scheduler (or store) that asked for the trigger.
    pub fn with_plugins(mut self, plugins: PluginRegistry) -> Self {
        self.plugins = Some(plugins);
        self
    }

    /// The registry nested triggers are built from, when there is one.
    pub fn plugins(&self) -> Option<&PluginRegistry> {
        self.plugins.as_ref()
    }
}

/// A trigger given to `add_task` / `reschedule_task`: an instance, or an alias plus arguments
/// resolved through the scheduler's plugin registry.
#[derive(Debug, Clone)]
pub enum TriggerSpec {
    /// A ready trigger.
    Instance(Arc<dyn Trigger>),
    /// A plugin alias and its arguments, e.g. `("interval", {"minutes": 5})`.
    Alias {
        /// The trigger plugin alias.
        alias: String,
        /// Constructor arguments.
        args: Map,
    },
}

impl TriggerSpec {
    /// A trigger by plugin alias. `args` must be a JSON object (or null for none).
    pub fn alias(alias: impl Into<String>, args: Value) -> Result<Self> {
        let alias = alias.into();
        let args = match args {
            Value::Object(map) => map,
            Value::Null => Map::new(),
            other => {
                return Err(Error::invalid(
                    "trigger_args",
                    format!("expected an object of arguments for trigger '{alias}', got {other}"),
                ))
            }
        };
        Ok(TriggerSpec::Alias { alias, args })
    }
}

impl<T: Trigger> From<T> for TriggerSpec {
    fn from(trigger: T) -> Self {
        TriggerSpec::Instance(Arc::new(trigger))
    }
}

impl From<Arc<dyn Trigger>> for TriggerSpec {
    fn from(trigger: Arc<dyn Trigger>) -> Self {
        TriggerSpec::Instance(trigger)
    }
}

/// The next `count` fire times of `trigger`, chained as upstream's preview does:
/// first = next(None, from), then next(previous, previous). Stops early when exhausted.
pub fn preview_fire_times(
    trigger: &dyn Trigger,
    tz: Tz,
    from: DateTime<Utc>,
    count: usize,
) -> Vec<DateTime<Utc>> {
    let mut out = Vec::with_capacity(count.min(1024));
    let mut previous: Option<DateTime<Utc>> = None;
    while out.len() < count {
        let now = previous.unwrap_or(from);
        match trigger.next_fire_time(tz, previous, now) {
            Some(next) => {
                if previous.is_some_and(|p| next <= p) {
                    // A trigger that does not move forward would loop forever.
                    break;
                }
                out.push(next);
                previous = Some(next);
            }
            None => break,
        }
    }
    out
}
