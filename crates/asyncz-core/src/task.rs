//! [`Task`]: a callable, its arguments, its trigger and its scheduling options, plus the
//! immutable [`TaskInfo`] snapshot operators see, and the versioned [`TaskState`] that
//! persistent stores keep.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::clock::truncate_to_micros;
use crate::cluster::OnNodeDeath;
use crate::function::Callable;
use crate::trigger::{Trigger, TriggerContext};
use crate::{Error, Map, Result, Value};

pub use crate::task_info::{ScheduleState, TaskDefaults, TaskInfo};

/// At most this many missed run times are handed to an executor in one submission; older
/// ones are counted in `coalesced_run_count`. A task a year behind on a 1-second interval
/// must not allocate 31 million entries.
pub const MAX_RUN_TIMES_PER_SUBMISSION: usize = 1000;

/// A scheduled unit of work. Cloning is cheap (the trigger and closure are shared).
#[derive(Clone)]
pub struct Task {
    pub(crate) id: Arc<str>,
    pub(crate) name: Arc<str>,
    pub(crate) callable: Callable,
    pub(crate) args: Vec<Value>,
    pub(crate) kwargs: Map,
    pub(crate) trigger: Arc<dyn Trigger>,
    pub(crate) executor: Arc<str>,
    pub(crate) store_alias: Arc<str>,
    pub(crate) mistrigger_grace_time: Option<Duration>,
    pub(crate) catchup_window: Option<Duration>,
    pub(crate) coalesce: bool,
    pub(crate) max_instances: u32,
    pub(crate) on_node_death: OnNodeDeath,
    pub(crate) next_run_time: Option<DateTime<Utc>>,
    pub(crate) pending: bool,
    pub(crate) submitted: bool,
}

impl fmt::Debug for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("callable", &self.callable.name())
            .field("trigger", &self.trigger.to_string())
            .field("executor", &self.executor)
            .field("store", &self.store_alias)
            .field("next_run_time", &self.next_run_time)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.next_run_time {
            Some(t) => write!(
                f,
                "{} (trigger: {}, next run at: {t})",
                self.name, self.trigger
            ),
            None if self.pending => write!(f, "{} (trigger: {}, pending)", self.name, self.trigger),
            None => write!(f, "{} (trigger: {}, paused)", self.name, self.trigger),
        }
    }
}

/// What a trigger answered for a task's next fire time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FireTime {
    /// The next fire time, in whole microseconds.
    At(DateTime<Utc>),
    /// The schedule is over.
    Over,
    /// The trigger returned a time not after `previous`: treated as over, and logged.
    NotAdvancing {
        previous: DateTime<Utc>,
        next: DateTime<Utc>,
    },
}

/// The run times due for a task at `now`, bounded: see [`Task::run_times`].
#[derive(Debug, Clone, PartialEq)]
pub struct RunTimes {
    /// The run times to submit, oldest first (at most [`MAX_RUN_TIMES_PER_SUBMISSION`], one
    /// when coalescing).
    pub run_times: Vec<DateTime<Utc>>,
    /// Due run times not in `run_times` (folded by coalescing, beyond the bound, or older
    /// than the task's `catchup_window`).
    pub coalesced_run_count: u64,
    /// The latest due run time, in `run_times` or not: the schedule goes on from it (with a
    /// `catchup_window`, every due time may have been dropped and `run_times` be empty).
    pub latest: Option<DateTime<Utc>>,
}

impl Task {
    /// A task outside any scheduler, with the spec's defaults (executor and store `default`,
    /// grace time 1 s, coalesce, one instance, paused). Store implementations and their tests
    /// use it; applications add tasks with `Scheduler::add_task`.
    pub fn new(id: &str, callable: Callable, trigger: Arc<dyn Trigger>) -> Task {
        let defaults = TaskDefaults::default();
        Task {
            id: Arc::from(id),
            name: Arc::from(callable.name()),
            callable,
            args: Vec::new(),
            kwargs: Map::new(),
            trigger,
            executor: Arc::from("default"),
            store_alias: Arc::from("default"),
            mistrigger_grace_time: defaults.mistrigger_grace_time,
            catchup_window: None,
            coalesce: defaults.coalesce,
            max_instances: defaults.max_instances,
            on_node_death: OnNodeDeath::default(),
            next_run_time: None,
            pending: false,
            submitted: false,
        }
    }

    /// The same task with this next run time.
    pub fn with_next_run_time(mut self, next: Option<DateTime<Utc>>) -> Task {
        self.next_run_time = next.map(truncate_to_micros);
        self
    }

    /// The same task with these arguments.
    pub fn with_args(mut self, args: Vec<Value>, kwargs: Map) -> Task {
        self.args = args;
        self.kwargs = kwargs;
        self
    }

    /// The same task with this name.
    pub fn with_name(mut self, name: &str) -> Task {
        self.name = Arc::from(name);
        self
    }

    /// The unique id.
    pub fn id(&self) -> &str {
        &self.id
    }
    /// The readable name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The callable.
    pub fn callable(&self) -> &Callable {
        &self.callable
    }
    /// Positional arguments.
    pub fn args(&self) -> &[Value] {
        &self.args
    }
    /// Keyword arguments.
    pub fn kwargs(&self) -> &Map {
        &self.kwargs
    }
    /// The trigger.
    pub fn trigger(&self) -> &Arc<dyn Trigger> {
        &self.trigger
    }
    /// The executor alias.
    pub fn executor(&self) -> &str {
        &self.executor
    }
    /// The store alias.
    pub fn store_alias(&self) -> &str {
        &self.store_alias
    }
    /// How late a run may start (`None`: no matter how late).
    pub fn mistrigger_grace_time(&self) -> Option<Duration> {
        self.mistrigger_grace_time
    }
    /// How far back missed fire times are replayed after downtime (`None`: no bound).
    pub fn catchup_window(&self) -> Option<Duration> {
        self.catchup_window
    }
    /// Whether several due runs collapse into one.
    pub fn coalesce(&self) -> bool {
        self.coalesce
    }
    /// The maximum number of concurrent runs.
    pub fn max_instances(&self) -> u32 {
        self.max_instances
    }
    /// In a cluster, what happens to a run left unfinished by a node that died.
    pub fn on_node_death(&self) -> OnNodeDeath {
        self.on_node_death
    }
    /// The next run time (`None`: paused, or pending and not yet computed).
    pub fn next_run_time(&self) -> Option<DateTime<Utc>> {
        self.next_run_time
    }
    /// Whether the task still waits for the scheduler to start.
    pub fn pending(&self) -> bool {
        self.pending
    }
    /// Whether the task was submitted to a scheduler.
    pub fn submitted(&self) -> bool {
        self.submitted
    }
    /// Paused: committed to a store, with no next run time.
    pub fn paused(&self) -> bool {
        !self.pending && self.next_run_time.is_none()
    }

    /// Sets the next run time. Stores call this nowhere; the scheduler does, then writes the
    /// task back with `Store::update_task`.
    pub fn set_next_run_time(&mut self, next: Option<DateTime<Utc>>) {
        self.next_run_time = next.map(truncate_to_micros);
    }

    /// Sets the store alias (stores set it on tasks they rebuild).
    pub fn set_store_alias(&mut self, alias: &str) {
        if &*self.store_alias != alias {
            self.store_alias = Arc::from(alias);
        }
    }

    /// The id as a shared string (stores can key their indexes by it without copying).
    pub fn shared_id(&self) -> &Arc<str> {
        &self.id
    }

    /// The derived scheduling state.
    pub fn schedule_state(&self) -> ScheduleState {
        if self.pending {
            ScheduleState::Pending
        } else if self.next_run_time.is_none() {
            ScheduleState::Paused
        } else {
            ScheduleState::Scheduled
        }
    }

    /// The task's next fire time after `previous` (its first one when `previous` is `None`), in
    /// whole microseconds: the one place the scheduler asks a trigger for a fire time.
    ///
    /// A trigger may compute finer times than a store keeps; truncated, two of them can fall on
    /// the same microsecond as `previous`. Those are skipped, so a fire time is never repeated
    /// (which would run the task twice).
    pub fn next_fire_time(
        &self,
        tz: Tz,
        previous: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        match self.fire_time_after(tz, previous, now) {
            FireTime::At(t) => Some(t),
            FireTime::Over => None,
            FireTime::NotAdvancing { previous, next } => {
                tracing::error!(target: "asyncz.scheduler", task = ?self.id, trigger = %self.trigger, previous = %previous, next = %next, "the trigger's next fire time does not advance; treating the schedule as over");
                None
            }
        }
    }

    /// [`Task::next_fire_time`] without logging: the scheduler logs a non-advancing trigger
    /// itself, with its `logger_name`.
    pub(crate) fn fire_time_after(
        &self,
        tz: Tz,
        previous: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> FireTime {
        let Some(previous) = previous else {
            return match self.trigger.next_fire_time(tz, None, now) {
                Some(t) => FireTime::At(truncate_to_micros(t)),
                None => FireTime::Over,
            };
        };
        let mut after = previous;
        // A well-behaved trigger returns a time past `previous` at once. One stepping in
        // nanoseconds needs at most a thousand asks to leave the microsecond; past that, the
        // next microsecond is its next fire time (never a deletion of the task).
        for _ in 0..=1000 {
            let Some(next) = self.trigger.next_fire_time(tz, Some(after), now) else {
                return FireTime::Over;
            };
            if next <= after {
                // Not advancing: the schedule would repeat this instant forever.
                return FireTime::NotAdvancing {
                    previous: after,
                    next,
                };
            }
            let truncated = truncate_to_micros(next);
            if truncated > previous {
                return FireTime::At(truncated);
            }
            after = next;
        }
        match previous.checked_add_signed(chrono::Duration::microseconds(1)) {
            Some(t) => FireTime::At(t),
            None => FireTime::Over,
        }
    }

    /// The due run times from `next_run_time` up to `now` inclusive, bounded. With `coalesce`
    /// only the last one is kept; otherwise at most [`MAX_RUN_TIMES_PER_SUBMISSION`] of the
    /// latest ones. Everything dropped is counted, never stored.
    pub fn run_times(&self, tz: Tz, now: DateTime<Utc>) -> RunTimes {
        let keep = if self.coalesce {
            1
        } else {
            MAX_RUN_TIMES_PER_SUBMISSION
        };
        let Some(first) = self.next_run_time.filter(|t| *t <= now) else {
            return RunTimes {
                run_times: Vec::new(),
                coalesced_run_count: 0,
                latest: None,
            };
        };
        let (mut run_times, total) = self.trigger.fire_times_until(tz, first, now, keep);
        for t in &mut run_times {
            *t = truncate_to_micros(*t);
        }
        run_times.dedup();
        let latest = run_times.last().copied();
        if let Some(window) = self.catchup_window {
            let window = chrono::Duration::from_std(window).unwrap_or(chrono::Duration::MAX);
            if let Some(cutoff) = now.checked_sub_signed(window) {
                run_times.retain(|t| *t >= cutoff);
            }
        }
        RunTimes {
            coalesced_run_count: total.saturating_sub(run_times.len() as u64),
            run_times,
            latest,
        }
    }

    /// The next `count` run times from the task's next run time on (a preview for operators).
    pub fn preview_run_times(&self, tz: Tz, count: usize) -> Vec<DateTime<Utc>> {
        let mut out = Vec::new();
        let mut next = self.next_run_time;
        while let Some(t) = next {
            if out.len() >= count {
                break;
            }
            out.push(t);
            // A preview simply ends at a trigger that does not advance; the engine logs that
            // when it matters, with its scheduler's `logger_name`.
            next = match self.fire_time_after(tz, Some(t), t) {
                FireTime::At(next) => Some(next),
                FireTime::Over | FireTime::NotAdvancing { .. } => None,
            };
        }
        out
    }

    /// An immutable snapshot for dashboards, CLIs, logs and tests.
    pub fn snapshot(&self) -> TaskInfo {
        TaskInfo {
            id: self.id.to_string(),
            name: self.name.to_string(),
            callable_name: self.callable.name().to_owned(),
            callable_reference: self.callable.reference().map(str::to_owned),
            trigger_alias: self.trigger.alias().to_owned(),
            trigger_name: self.trigger.type_name().to_owned(),
            trigger_description: self.trigger.to_string(),
            executor: self.executor.to_string(),
            store_alias: self.store_alias.to_string(),
            schedule_state: self.schedule_state(),
            next_run_time: self.next_run_time,
            coalesce: self.coalesce,
            max_instances: self.max_instances,
            on_node_death: self.on_node_death,
            mistrigger_grace_time: self.mistrigger_grace_time,
            catchup_window: self.catchup_window,
            pending: self.pending,
            paused: self.paused(),
            submitted: self.submitted,
            args: self.args.clone(),
            kwargs: self.kwargs.clone(),
        }
    }

    /// The persistent form of this task. Fails for closures, which cannot be persisted.
    pub fn to_state(&self) -> Result<TaskState> {
        let function = match &self.callable {
            Callable::Registered(name) => name.to_string(),
            Callable::Closure { name, .. } => {
                return Err(Error::invalid(
                    "function",
                    format!(
                        "task '{}' runs the closure '{name}', which cannot be persisted; register \
                         the function by name (Scheduler::register) or use a memory store",
                        self.id
                    ),
                ))
            }
        };
        Ok(TaskState {
            version: TaskState::VERSION,
            id: self.id.to_string(),
            name: self.name.to_string(),
            function,
            args: self.args.clone(),
            kwargs: self.kwargs.clone(),
            trigger_alias: self.trigger.alias().to_owned(),
            trigger_state: self.trigger.state(),
            executor: self.executor.to_string(),
            mistrigger_grace_time_us: self
                .mistrigger_grace_time
                .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX)),
            coalesce: self.coalesce,
            max_instances: self.max_instances,
            on_node_death: self.on_node_death,
            catchup_window_us: self
                .catchup_window
                .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX)),
            next_run_time_us: self.next_run_time.map(|t| t.timestamp_micros()),
        })
    }

    /// Rebuilds a task that the store started with `ctx` read back: the trigger goes through
    /// `ctx.plugins`, in `ctx.timezone`, at `ctx.clock`'s now (the scheduler's time, not the
    /// system's: a trigger whose state leaves a time open fills it in with that now).
    pub fn from_state(state: TaskState, ctx: &crate::StoreContext) -> Result<Task> {
        if state.version > TaskState::VERSION {
            return Err(Error::invalid(
                "version",
                format!(
                    "task '{}' was stored in format version {}, newer than this build reads ({})",
                    state.id,
                    state.version,
                    TaskState::VERSION
                ),
            ));
        }
        let trigger_ctx = TriggerContext::new(ctx.timezone, truncate_to_micros(ctx.clock.now()));
        let trigger =
            ctx.plugins
                .create_trigger(&state.trigger_alias, &state.trigger_state, &trigger_ctx)?;
        let next_run_time = match state.next_run_time_us {
            Some(us) => Some(DateTime::<Utc>::from_timestamp_micros(us).ok_or_else(|| {
                Error::invalid("next_run_time", format!("{us} µs is out of range"))
            })?),
            None => None,
        };
        Ok(Task {
            id: Arc::from(state.id),
            name: Arc::from(state.name),
            callable: Callable::Registered(Arc::from(state.function)),
            args: state.args,
            kwargs: state.kwargs,
            trigger,
            executor: Arc::from(state.executor),
            store_alias: Arc::from(ctx.alias.as_str()),
            mistrigger_grace_time: state.mistrigger_grace_time_us.map(Duration::from_micros),
            catchup_window: state.catchup_window_us.map(Duration::from_micros),
            coalesce: state.coalesce,
            max_instances: state.max_instances,
            on_node_death: state.on_node_death,
            next_run_time,
            pending: false,
            submitted: true,
        })
    }
}

/// The persistent, versioned form of a task (MessagePack with `version` first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskState {
    /// Format version, so a future format can read an old one.
    pub version: u32,
    /// Task id.
    pub id: String,
    /// Task name.
    pub name: String,
    /// The registered function name.
    pub function: String,
    /// Positional arguments.
    pub args: Vec<Value>,
    /// Keyword arguments.
    pub kwargs: Map,
    /// Trigger plugin alias.
    pub trigger_alias: String,
    /// Trigger arguments (see [`Trigger::state`]).
    pub trigger_state: Map,
    /// Executor alias.
    pub executor: String,
    /// Grace time in microseconds (`None`: unlimited).
    pub mistrigger_grace_time_us: Option<u64>,
    /// Coalesce flag.
    pub coalesce: bool,
    /// Concurrency limit.
    pub max_instances: u32,
    /// Next run time, microseconds since the Unix epoch, UTC.
    pub next_run_time_us: Option<i64>,
    /// In a cluster, what happens to a run left unfinished by a node that died (absent in
    /// records written before cluster mode: `abandon`).
    #[serde(default)]
    pub on_node_death: OnNodeDeath,
    /// The catch-up window in microseconds (`None`, and in older records: no bound).
    #[serde(default)]
    pub catchup_window_us: Option<u64>,
}

impl TaskState {
    /// The format version this build writes.
    pub const VERSION: u32 = 1;

    /// Encodes to MessagePack.
    pub fn encode(&self) -> Result<Vec<u8>> {
        rmp_serde::to_vec_named(self).map_err(|e| Error::invalid("task state", e))
    }

    /// Decodes from MessagePack.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        rmp_serde::from_slice(bytes).map_err(|e| Error::invalid("task state", e))
    }
}
