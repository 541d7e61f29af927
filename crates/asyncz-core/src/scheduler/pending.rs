//! [`PendingStore`]: where tasks added before `start` wait (spec: pending tasks). It is a
//! [`Store`], so every task operation of a stopped scheduler (lookup, update, pause, resume,
//! delete, listing) is the same code as on a started one; `start` drains it into the real
//! stores. Tasks keep their target store alias; a [`PendingView`] shows the tasks bound for
//! one alias (or all of them).

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::store::{Store, StoreContext};
use crate::task::Task;
use crate::{Error, Result};

/// A task waiting for the scheduler to start, with how `add_task` asked to commit it.
#[derive(Debug, Clone)]
pub(crate) struct PendingTask {
    pub(crate) task: Task,
    /// Replace a task with the same id found in the store at start.
    pub(crate) replace_existing: bool,
    /// Schedule it at start (false: it was added or set paused).
    pub(crate) start_task: bool,
}

/// The tasks added while stopped, in the order they were added. Ids are unique per target
/// store alias only at start (as upstream: a conflict is found when committing).
#[derive(Debug, Default)]
pub(crate) struct PendingStore {
    tasks: Mutex<Vec<PendingTask>>,
    /// Serialises read-modify-write sequences, like a real store's lock.
    lock: Arc<tokio::sync::Mutex<()>>,
}

fn matches(p: &PendingTask, id: &str, alias: Option<&str>) -> bool {
    *p.task.id == *id && alias.is_none_or(|a| *a == *p.task.store_alias)
}

impl PendingStore {
    pub(crate) fn lock_handle(&self) -> Arc<tokio::sync::Mutex<()>> {
        Arc::clone(&self.lock)
    }

    /// Queues a task as `add_task` gave it.
    pub(crate) fn push(&self, task: Task, replace_existing: bool, start_task: bool) {
        super::lock(&self.tasks).push(PendingTask {
            task,
            replace_existing,
            start_task,
        });
    }

    /// Takes every queued task, oldest first (at start).
    pub(crate) fn drain(&self) -> Vec<PendingTask> {
        std::mem::take(&mut *super::lock(&self.tasks))
    }

    /// Marks a queued task to be paused (`false`) or scheduled (`true`) at start: what an
    /// explicit `next_run_time` update means for a task not yet in a store.
    pub(crate) fn set_start(&self, id: &str, alias: Option<&str>, start: bool) {
        let mut tasks = super::lock(&self.tasks);
        if let Some(p) = tasks.iter_mut().find(|p| matches(p, id, alias)) {
            p.start_task = start;
        }
    }

    fn find(&self, id: &str, alias: Option<&str>) -> Option<Task> {
        super::lock(&self.tasks)
            .iter()
            .find(|p| matches(p, id, alias))
            .map(|p| p.task.clone())
    }

    fn all(&self, alias: Option<&str>) -> Vec<Task> {
        super::lock(&self.tasks)
            .iter()
            .filter(|p| alias.is_none_or(|a| *a == *p.task.store_alias))
            .map(|p| p.task.clone())
            .collect()
    }

    fn update(&self, task: &Task, alias: Option<&str>) -> Result<()> {
        let mut tasks = super::lock(&self.tasks);
        let entry = tasks
            .iter_mut()
            .find(|p| matches(p, &task.id, alias))
            .ok_or_else(|| Error::task_lookup(task.id()))?;
        if task.next_run_time.is_some() {
            entry.start_task = true;
        }
        entry.task = task.clone();
        entry.task.pending = true;
        Ok(())
    }

    fn delete(&self, id: &str, alias: Option<&str>) -> Result<()> {
        let mut tasks = super::lock(&self.tasks);
        let index = tasks
            .iter()
            .position(|p| matches(p, id, alias))
            .ok_or_else(|| Error::task_lookup(id))?;
        tasks.remove(index);
        Ok(())
    }

    fn remove_all(&self, alias: Option<&str>) {
        super::lock(&self.tasks).retain(|p| alias.is_some_and(|a| *a != *p.task.store_alias));
    }
}

/// The pending tasks bound for one store alias (`None`: all of them), as a [`Store`].
#[derive(Debug, Clone)]
pub(crate) struct PendingView {
    pub(crate) pending: Arc<PendingStore>,
    pub(crate) alias: Option<String>,
}

#[async_trait]
impl Store for PendingView {
    fn kind(&self) -> &'static str {
        "pending"
    }
    fn is_persistent(&self) -> bool {
        false
    }
    async fn start(&self, _ctx: StoreContext) -> Result<()> {
        Ok(())
    }
    async fn shutdown(&self) -> Result<()> {
        Ok(())
    }
    async fn lookup_task(&self, task_id: &str) -> Result<Option<Task>> {
        Ok(self.pending.find(task_id, self.alias.as_deref()))
    }
    /// Nothing is due before start.
    async fn get_due_tasks(&self, _now: DateTime<Utc>) -> Result<Vec<Task>> {
        Ok(Vec::new())
    }
    async fn get_next_run_time(&self) -> Result<Option<DateTime<Utc>>> {
        Ok(None)
    }
    async fn get_all_tasks(&self) -> Result<Vec<Task>> {
        Ok(self.pending.all(self.alias.as_deref()))
    }
    /// Queues the task to be scheduled at start (the scheduler's `add_task` uses
    /// [`PendingStore::push`] to say how).
    async fn add_task(&self, task: &Task) -> Result<()> {
        if self
            .pending
            .find(task.id(), Some(task.store_alias()))
            .is_some()
        {
            return Err(Error::conflict(task.id()));
        }
        self.pending.push(task.clone(), false, true);
        Ok(())
    }
    async fn update_task(&self, task: &Task) -> Result<()> {
        self.pending.update(task, self.alias.as_deref())
    }
    async fn delete_task(&self, task_id: &str) -> Result<()> {
        self.pending.delete(task_id, self.alias.as_deref())
    }
    async fn remove_all_tasks(&self) -> Result<()> {
        self.pending.remove_all(self.alias.as_deref());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::function::Callable;
    use crate::trigger::Trigger;
    use crate::Map;

    #[derive(Debug)]
    struct Never;
    impl std::fmt::Display for Never {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("never")
        }
    }
    impl Trigger for Never {
        fn alias(&self) -> &'static str {
            "never"
        }
        fn type_name(&self) -> &'static str {
            "Never"
        }
        fn next_fire_time(
            &self,
            _: chrono_tz::Tz,
            _: Option<DateTime<Utc>>,
            _: DateTime<Utc>,
        ) -> Option<DateTime<Utc>> {
            None
        }
        fn state(&self) -> Map {
            Map::new()
        }
    }

    fn task(id: &str, store: &str) -> Task {
        let mut t = Task::new(id, Callable::Registered(Arc::from("f")), Arc::new(Never));
        t.set_store_alias(store);
        t.pending = true;
        t
    }

    fn view(pending: &Arc<PendingStore>, alias: Option<&str>) -> PendingView {
        PendingView {
            pending: Arc::clone(pending),
            alias: alias.map(str::to_owned),
        }
    }

    #[tokio::test]
    async fn a_view_shows_only_the_tasks_bound_for_its_store() {
        let pending = Arc::new(PendingStore::default());
        pending.push(task("a", "default"), false, true);
        pending.push(task("b", "other"), false, true);
        assert_eq!(view(&pending, None).get_all_tasks().await.unwrap().len(), 2);
        let other = view(&pending, Some("other"));
        assert_eq!(other.get_all_tasks().await.unwrap()[0].id(), "b");
        assert!(other.lookup_task("a").await.unwrap().is_none());
        assert!(matches!(
            other.delete_task("a").await,
            Err(Error::TaskLookup { .. })
        ));
        other.remove_all_tasks().await.unwrap();
        assert_eq!(pending.drain().len(), 1, "only 'other' was cleared");
    }

    #[tokio::test]
    async fn updates_keep_the_task_pending_and_a_time_means_scheduled_at_start() {
        let pending = Arc::new(PendingStore::default());
        pending.push(task("a", "default"), true, false);
        let all = view(&pending, None);
        let mut t = all.lookup_task("a").await.unwrap().unwrap();
        t.pending = false;
        t.next_run_time = Some(Utc::now());
        all.update_task(&t).await.unwrap();
        let drained = pending.drain();
        assert!(drained[0].task.pending() && drained[0].start_task && drained[0].replace_existing);
        assert!(pending.drain().is_empty(), "drain empties the queue");
    }

    #[tokio::test]
    async fn set_start_marks_a_task_paused_for_start() {
        let pending = Arc::new(PendingStore::default());
        pending.push(task("a", "default"), false, true);
        pending.set_start("a", None, false);
        assert!(!pending.drain()[0].start_task);
    }

    #[tokio::test]
    async fn nothing_is_due_before_start() {
        let pending = Arc::new(PendingStore::default());
        pending.push(
            task("a", "default").with_next_run_time(Some(Utc::now())),
            false,
            true,
        );
        let all = view(&pending, None);
        assert!(all.get_due_tasks(Utc::now()).await.unwrap().is_empty());
        assert_eq!(all.get_next_run_time().await.unwrap(), None);
        assert!(matches!(
            all.add_task(&task("a", "default")).await,
            Err(Error::ConflictId { .. })
        ));
    }
}
