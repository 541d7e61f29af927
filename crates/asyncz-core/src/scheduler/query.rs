//! `get_task_infos`: filters and sort keys of the spec, for dashboards, CLIs and health checks.

use std::cmp::Ordering;
use std::str::FromStr;

use super::Scheduler;
use crate::task::{ScheduleState, TaskInfo};
use crate::{Error, Result};

/// A sort key of [`TaskInfoQuery`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    /// By id.
    Id,
    /// By name, then id.
    Name,
    /// By next run time (paused last), then name, then id. The default.
    #[default]
    NextRunTime,
    /// By state, then next run time, then id.
    ScheduleState,
    /// By executor alias, then id.
    Executor,
    /// By store alias, then id.
    Store,
    /// By trigger alias, then id.
    Trigger,
}

impl FromStr for SortKey {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "id" => SortKey::Id,
            "name" => SortKey::Name,
            "next_run_time" => SortKey::NextRunTime,
            "schedule_state" => SortKey::ScheduleState,
            "executor" => SortKey::Executor,
            "store" => SortKey::Store,
            "trigger" => SortKey::Trigger,
            other => {
                return Err(Error::invalid(
                    "sort_by",
                    format!("'{other}' is not one of: id, name, next_run_time, schedule_state, executor, store, trigger"),
                ))
            }
        })
    }
}

/// Filters and ordering for [`Scheduler::get_task_infos`].
#[derive(Debug, Clone, Default)]
pub struct TaskInfoQuery {
    /// Only this store.
    pub store: Option<String>,
    /// Only tasks in this state.
    pub schedule_state: Option<ScheduleState>,
    /// Only tasks on this executor.
    pub executor: Option<String>,
    /// Only tasks whose trigger alias or type name is this (case-insensitive).
    pub trigger: Option<String>,
    /// Case-insensitive text searched in ids, names, callable, trigger, executor, store, state.
    pub q: Option<String>,
    /// Sort key (default: next run time).
    pub sort_by: SortKey,
    /// Reverse the final order.
    pub descending: bool,
}

impl TaskInfoQuery {
    /// Every task, by next run time.
    pub fn new() -> Self {
        Self::default()
    }
    /// Restrict to one store.
    pub fn store(mut self, alias: impl Into<String>) -> Self {
        self.store = Some(alias.into());
        self
    }
    /// Restrict to one state.
    pub fn schedule_state(mut self, state: ScheduleState) -> Self {
        self.schedule_state = Some(state);
        self
    }
    /// Restrict to one executor.
    pub fn executor(mut self, alias: impl Into<String>) -> Self {
        self.executor = Some(alias.into());
        self
    }
    /// Restrict to one trigger alias or type name.
    pub fn trigger(mut self, trigger: impl Into<String>) -> Self {
        self.trigger = Some(trigger.into());
        self
    }
    /// Free-text search.
    pub fn q(mut self, q: impl Into<String>) -> Self {
        self.q = Some(q.into());
        self
    }
    /// Sort key by name (`id`, `name`, `next_run_time`, `schedule_state`, `executor`, `store`,
    /// `trigger`); an unknown key is an error naming it.
    pub fn sort_by(mut self, key: &str) -> Result<Self> {
        self.sort_by = key.parse()?;
        Ok(self)
    }
    /// Reverse order.
    pub fn descending(mut self, descending: bool) -> Self {
        self.descending = descending;
        self
    }

    fn matches(&self, info: &TaskInfo) -> bool {
        if self
            .schedule_state
            .is_some_and(|s| s != info.schedule_state)
        {
            return false;
        }
        if self
            .executor
            .as_ref()
            .is_some_and(|e| !e.is_empty() && *e != info.executor)
        {
            return false;
        }
        if let Some(t) = self.trigger.as_ref().map(|t| t.trim().to_lowercase()) {
            if !t.is_empty()
                && info.trigger_alias.to_lowercase() != t
                && info.trigger_name.to_lowercase() != t
            {
                return false;
            }
        }
        if let Some(q) = self.q.as_ref().map(|q| q.trim().to_lowercase()) {
            if !q.is_empty() {
                let fields = [
                    info.id.as_str(),
                    info.name.as_str(),
                    info.callable_name.as_str(),
                    info.callable_reference.as_deref().unwrap_or(""),
                    info.trigger_alias.as_str(),
                    info.trigger_name.as_str(),
                    info.trigger_description.as_str(),
                    info.executor.as_str(),
                    info.store_alias.as_str(),
                    info.schedule_state.as_str(),
                ];
                if !fields.iter().any(|f| f.to_lowercase().contains(&q)) {
                    return false;
                }
            }
        }
        true
    }

    fn compare(&self, a: &TaskInfo, b: &TaskInfo) -> Ordering {
        let id = |x: &TaskInfo| x.id.to_lowercase();
        let name = |x: &TaskInfo| x.name.to_lowercase();
        // Scheduled before paused/pending, then by time.
        let time = |x: &TaskInfo| (x.next_run_time.is_none(), x.next_run_time);
        match self.sort_by {
            SortKey::Id => id(a).cmp(&id(b)),
            SortKey::Name => (name(a), id(a)).cmp(&(name(b), id(b))),
            SortKey::NextRunTime => (time(a), name(a), id(a)).cmp(&(time(b), name(b), id(b))),
            SortKey::ScheduleState => (a.schedule_state.as_str(), time(a), id(a)).cmp(&(
                b.schedule_state.as_str(),
                time(b),
                id(b),
            )),
            SortKey::Executor => {
                (a.executor.to_lowercase(), id(a)).cmp(&(b.executor.to_lowercase(), id(b)))
            }
            SortKey::Store => {
                (a.store_alias.to_lowercase(), id(a)).cmp(&(b.store_alias.to_lowercase(), id(b)))
            }
            SortKey::Trigger => (a.trigger_alias.to_lowercase(), id(a))
                .cmp(&(b.trigger_alias.to_lowercase(), id(b))),
        }
    }
}

impl Scheduler {
    /// Snapshots of the tasks matching `query`, sorted (spec: `get_task_infos`).
    pub async fn get_task_infos(&self, query: &TaskInfoQuery) -> Result<Vec<TaskInfo>> {
        let tasks = self.get_tasks(query.store.as_deref()).await?;
        let mut infos: Vec<TaskInfo> = tasks
            .iter()
            .map(|t| t.snapshot())
            .filter(|i| query.matches(i))
            .collect();
        // A stable sort with the comparison reversed keeps ties in order, like Python's
        // sorted(reverse=True).
        infos.sort_by(|a, b| {
            let order = query.compare(a, b);
            if query.descending {
                order.reverse()
            } else {
                order
            }
        });
        Ok(infos)
    }
}
