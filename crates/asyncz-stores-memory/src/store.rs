//! The memory store implementation.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use asyncz_core::chrono::{DateTime, Utc};
use asyncz_core::{async_trait, Error, Result, ScheduleChange, Store, StoreContext, Task};

/// Index key: scheduled tasks by time, paused ones (`None`) last, ties by id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    paused: bool,
    time_us: i64,
    id: Arc<str>,
}

impl Key {
    fn of(task: &Task) -> Key {
        let id = Arc::clone(task.shared_id());
        match task.next_run_time() {
            Some(t) => Key {
                paused: false,
                time_us: t.timestamp_micros(),
                id,
            },
            None => Key {
                paused: true,
                time_us: 0,
                id,
            },
        }
    }
}

/// Tasks are boxed so the hash table (which keeps spare capacity) holds only pointers, and
/// the index shares each task's id.
#[derive(Debug, Default)]
struct State {
    tasks: HashMap<Arc<str>, Box<Task>>,
    index: BTreeSet<Key>,
}

impl State {
    fn update(&mut self, task: &Task) -> Result<()> {
        let Some(stored) = self.tasks.get_mut(task.id()) else {
            return Err(Error::task_lookup(task.id()));
        };
        let old_key = Key::of(stored);
        let new_key = Key::of(task);
        **stored = task.clone();
        if new_key != old_key {
            self.index.remove(&old_key);
            self.index.insert(new_key);
        }
        Ok(())
    }

    fn delete(&mut self, task_id: &str) -> Result<()> {
        match self.tasks.remove(task_id) {
            Some(task) => {
                self.index.remove(&Key::of(&task));
                Ok(())
            }
            None => Err(Error::task_lookup(task_id)),
        }
    }
}

/// Keeps tasks in memory (spec: `MemoryStore`).
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many tasks are stored.
    pub fn len(&self) -> usize {
        self.state().tasks.len()
    }

    /// True when no task is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl Store for MemoryStore {
    fn kind(&self) -> &'static str {
        crate::ALIAS
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
        Ok(self.state().tasks.get(task_id).map(|t| Task::clone(t)))
    }

    async fn get_due_tasks(&self, now: DateTime<Utc>) -> Result<Vec<Task>> {
        let state = self.state();
        let now_us = now.timestamp_micros();
        Ok(state
            .index
            .iter()
            .take_while(|k| !k.paused && k.time_us <= now_us)
            .filter_map(|k| state.tasks.get(&k.id).map(|t| Task::clone(t)))
            .collect())
    }

    async fn get_next_run_time(&self) -> Result<Option<DateTime<Utc>>> {
        let state = self.state();
        Ok(state
            .index
            .first()
            .filter(|k| !k.paused)
            .and_then(|k| state.tasks.get(&k.id))
            .and_then(|t| t.next_run_time()))
    }

    async fn get_all_tasks(&self) -> Result<Vec<Task>> {
        let state = self.state();
        Ok(state
            .index
            .iter()
            .filter_map(|k| state.tasks.get(&k.id).map(|t| Task::clone(t)))
            .collect())
    }

    async fn add_task(&self, task: &Task) -> Result<()> {
        let mut state = self.state();
        if state.tasks.contains_key(task.id()) {
            return Err(Error::conflict(task.id()));
        }
        state.index.insert(Key::of(task));
        state
            .tasks
            .insert(Arc::clone(task.shared_id()), Box::new(task.clone()));
        Ok(())
    }

    async fn update_task(&self, task: &Task) -> Result<()> {
        self.state().update(task)
    }

    async fn delete_task(&self, task_id: &str) -> Result<()> {
        self.state().delete(task_id)
    }

    fn batches_schedules(&self) -> bool {
        true
    }

    /// Every change under one lock.
    async fn store_schedules(&self, changes: &[ScheduleChange]) -> Result<Vec<Result<()>>> {
        let mut state = self.state();
        Ok(changes
            .iter()
            .map(|change| match change {
                ScheduleChange::Update(task) => state.update(task),
                ScheduleChange::Delete(id) => state.delete(id),
                other => Err(Error::backend(
                    "store (memory)",
                    format!("unknown schedule change for task {:?}", other.task_id()),
                )),
            })
            .collect())
    }

    async fn remove_all_tasks(&self) -> Result<()> {
        let mut state = self.state();
        state.tasks.clear();
        state.index.clear();
        Ok(())
    }
}
