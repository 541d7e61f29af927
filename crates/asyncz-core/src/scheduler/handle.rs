//! [`TaskHandle`]: what `add_task` returns; the spec's task methods (`pause`, `resume`,
//! `update`, `reschedule`, `delete`, `run`, `snapshot`) bound to one task id.

use chrono::{DateTime, Utc};

use super::{RunTaskOptions, Scheduler};
use crate::builder::TaskUpdate;
use crate::task::TaskInfo;
use crate::trigger::TriggerSpec;
use crate::{Error, Result};

/// A reference to a submitted task.
#[derive(Debug, Clone)]
pub struct TaskHandle {
    scheduler: Scheduler,
    id: String,
    store: String,
}

impl TaskHandle {
    pub(crate) fn new(scheduler: Scheduler, id: &str, store: &str) -> Self {
        TaskHandle {
            scheduler,
            id: id.to_owned(),
            store: store.to_owned(),
        }
    }
    /// The task id.
    pub fn id(&self) -> &str {
        &self.id
    }
    /// The store alias.
    pub fn store(&self) -> &str {
        &self.store
    }
    /// The scheduler.
    pub fn scheduler(&self) -> &Scheduler {
        &self.scheduler
    }
    /// A fresh snapshot ([`Error::TaskLookup`] once the task is gone).
    pub async fn snapshot(&self) -> Result<TaskInfo> {
        self.scheduler
            .get_task_info(&self.id, Some(&self.store))
            .await?
            .ok_or_else(|| Error::task_lookup(&self.id))
    }
    /// Pauses the task.
    pub async fn pause(&self) -> Result<TaskInfo> {
        self.scheduler.pause_task(&self.id, Some(&self.store)).await
    }
    /// Resumes the task (`None`: its schedule was over and it was removed).
    pub async fn resume(&self) -> Result<Option<TaskInfo>> {
        self.scheduler
            .resume_task(&self.id, Some(&self.store))
            .await
    }
    /// Changes the task.
    pub async fn update(&self, update: TaskUpdate) -> Result<TaskInfo> {
        self.scheduler
            .update_task(&self.id, Some(&self.store), update)
            .await
    }
    /// Gives the task a new trigger.
    pub async fn reschedule(&self, trigger: impl Into<TriggerSpec>) -> Result<TaskInfo> {
        self.scheduler
            .reschedule_task(&self.id, Some(&self.store), trigger)
            .await
    }
    /// Deletes the task.
    pub async fn delete(&self) -> Result<()> {
        self.scheduler
            .delete_task(&self.id, Some(&self.store))
            .await
    }
    /// Runs the task now.
    pub async fn run(&self, options: RunTaskOptions) -> Result<Option<TaskInfo>> {
        self.scheduler
            .run_task(&self.id, Some(&self.store), options)
            .await
    }
    /// The next `count` run times (1..=1000): from the next run time, or, for a paused or
    /// pending task, from what its trigger would give now (spec: `preview_task_runs`).
    pub async fn preview(&self, count: usize) -> Result<Vec<DateTime<Utc>>> {
        super::tasks::check_preview_count(count)?;
        let task = self
            .scheduler
            .get_task(&self.id, Some(&self.store))
            .await?
            .ok_or_else(|| Error::task_lookup(&self.id))?;
        let tz = self.scheduler.schedule().tz;
        if task.next_run_time().is_some() {
            return Ok(task.preview_run_times(tz, count));
        }
        let now = self.scheduler.clock().now();
        Ok(crate::trigger::preview_fire_times(
            task.trigger().as_ref(),
            tz,
            now,
            count,
        ))
    }
}
