//! The memory store implementation.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use asyncz_core::chrono::{DateTime, Utc};
use asyncz_core::{async_trait, Error, Result, Store, StoreContext, Task};

/// Index key: scheduled tasks by time, paused ones (`None`) last, ties by id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    paused: bool,
    time_us: i64,
    id: Arc<str>,
}

impl Key {
    fn of(task: &Task, id: Arc<str>) -> Key {
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

#[derive(Debug, Default)]
struct State {
    tasks: HashMap<Arc<str>, (Task, Key)>,
    index: BTreeSet<Key>,
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
        Ok(self.state().tasks.get(task_id).map(|(t, _)| t.clone()))
    }

    async fn get_due_tasks(&self, now: DateTime<Utc>) -> Result<Vec<Task>> {
        let state = self.state();
        let now_us = now.timestamp_micros();
        Ok(state
            .index
            .iter()
            .take_while(|k| !k.paused && k.time_us <= now_us)
            .filter_map(|k| state.tasks.get(&k.id).map(|(t, _)| t.clone()))
            .collect())
    }

    async fn get_next_run_time(&self) -> Result<Option<DateTime<Utc>>> {
        let state = self.state();
        Ok(state
            .index
            .first()
            .filter(|k| !k.paused)
            .and_then(|k| state.tasks.get(&k.id))
            .and_then(|(t, _)| t.next_run_time()))
    }

    async fn get_all_tasks(&self) -> Result<Vec<Task>> {
        let state = self.state();
        Ok(state
            .index
            .iter()
            .filter_map(|k| state.tasks.get(&k.id).map(|(t, _)| t.clone()))
            .collect())
    }

    async fn add_task(&self, task: &Task) -> Result<()> {
        let mut state = self.state();
        if state.tasks.contains_key(task.id()) {
            return Err(Error::conflict(task.id()));
        }
        let id: Arc<str> = Arc::from(task.id());
        let key = Key::of(task, Arc::clone(&id));
        state.index.insert(key.clone());
        state.tasks.insert(id, (task.clone(), key));
        Ok(())
    }

    async fn update_task(&self, task: &Task) -> Result<()> {
        let mut state = self.state();
        let State { tasks, index } = &mut *state;
        let Some(key) = tasks.get(task.id()).map(|(_, k)| k.clone()) else {
            return Err(Error::task_lookup(task.id()));
        };
        let id = Arc::clone(&key.id);
        let new_key = Key::of(task, Arc::clone(&id));
        if new_key != key {
            index.remove(&key);
            index.insert(new_key.clone());
        }
        tasks.insert(id, (task.clone(), new_key));
        Ok(())
    }

    async fn delete_task(&self, task_id: &str) -> Result<()> {
        let mut state = self.state();
        match state.tasks.remove(task_id) {
            Some((_, key)) => {
                state.index.remove(&key);
                Ok(())
            }
            None => Err(Error::task_lookup(task_id)),
        }
    }

    async fn remove_all_tasks(&self) -> Result<()> {
        let mut state = self.state();
        state.tasks.clear();
        state.index.clear();
        Ok(())
    }
}
