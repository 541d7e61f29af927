//! The [`Store`] contract: where tasks live between runs. Memory, file, SQL, Redis and MongoDB
//! stores implement it; third-party crates can too, and check themselves with asyncz-testkit.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::clock::{Clock, SystemClock};
use crate::cluster::ClusterStore;
use crate::function::FunctionRegistry;
use crate::plugins::PluginRegistry;
use crate::task::Task;
use crate::Result;

/// What a store receives when the scheduler starts it.
///
/// Build one with [`StoreContext::new`] (a store's own tests do; the scheduler passes its
/// own): fields may be added, so the struct is `#[non_exhaustive]`.
#[derive(Clone)]
#[non_exhaustive]
pub struct StoreContext {
    /// The alias the store is registered under (set it on the tasks it rebuilds).
    pub alias: String,
    /// Trigger factories, to rebuild triggers from their state.
    pub plugins: Arc<PluginRegistry>,
    /// Registered functions.
    pub functions: Arc<FunctionRegistry>,
    /// The scheduler's time zone.
    pub timezone: Tz,
    /// The scheduler's clock: the `now` a store rebuilds triggers with
    /// ([`crate::TriggerContext::now`]), so a stored task sees the same time as the engine.
    pub clock: Arc<dyn Clock>,
}

impl StoreContext {
    /// A context for the store `alias`, in UTC, reading the system clock.
    pub fn new(
        alias: impl Into<String>,
        plugins: Arc<PluginRegistry>,
        functions: Arc<FunctionRegistry>,
    ) -> Self {
        StoreContext {
            alias: alias.into(),
            plugins,
            functions,
            timezone: Tz::UTC,
            clock: Arc::new(SystemClock),
        }
    }

    /// The same context in time zone `timezone`.
    #[must_use]
    pub fn with_timezone(mut self, timezone: Tz) -> Self {
        self.timezone = timezone;
        self
    }

    /// The same context reading `clock`.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }
}

impl fmt::Debug for StoreContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreContext")
            .field("alias", &self.alias)
            .field("timezone", &self.timezone)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

/// Puts tasks in the order `Store::get_all_tasks` promises: scheduled ones by next run time
/// (then id), paused ones last. For stores that cannot have their backend sort.
pub fn sort_tasks(tasks: &mut [Task]) {
    tasks.sort_by(|a, b| {
        (a.next_run_time().is_none(), a.next_run_time(), a.id()).cmp(&(
            b.next_run_time().is_none(),
            b.next_run_time(),
            b.id(),
        ))
    });
}

/// Keeps tasks. All methods may be called concurrently; the scheduler serialises the
/// read-modify-write of its engine loop itself.
#[async_trait]
pub trait Store: fmt::Debug + Send + Sync + 'static {
    /// The plugin alias of this store type (`memory`, `sql`, ...).
    fn kind(&self) -> &'static str;

    /// True when tasks outlive the process. Closure tasks are refused by persistent stores
    /// (the scheduler checks this at add time).
    fn is_persistent(&self) -> bool;

    /// Prepares the store (connect, create tables, ...).
    ///
    /// # Behavior
    /// - Called once per scheduler start, before any other method.
    async fn start(&self, ctx: StoreContext) -> Result<()>;

    /// Releases resources. Tasks stay stored (except in a memory store, which keeps them in
    /// memory until dropped).
    async fn shutdown(&self) -> Result<()>;

    /// The task with this id.
    ///
    /// # Behavior
    /// - A missing id is `Ok(None)`, not an error.
    async fn lookup_task(&self, task_id: &str) -> Result<Option<Task>>;

    /// Tasks whose next run time is at or before `now`.
    ///
    /// # Behavior
    /// - A task's times (next run time, trigger times) read back exactly as written.
    /// - Sorted by next run time, ascending (ties in any stable order).
    /// - Paused tasks (no next run time) are never due.
    async fn get_due_tasks(&self, now: DateTime<Utc>) -> Result<Vec<Task>>;

    /// The earliest next run time of any task.
    ///
    /// # Behavior
    /// - Paused tasks are ignored; `None` when no task is scheduled.
    /// - Records listed by [`Store::undecodable_records`] are ignored: a record that cannot be
    ///   decoded is never run, so its time must not wake the engine (it would spin).
    /// - Times read back exactly as written (whole microseconds, see
    ///   [`crate::truncate_to_micros`]).
    async fn get_next_run_time(&self) -> Result<Option<DateTime<Utc>>>;

    /// Every task.
    ///
    /// # Behavior
    /// - Scheduled tasks sorted by next run time, then paused tasks last.
    async fn get_all_tasks(&self) -> Result<Vec<Task>>;

    /// Adds a task.
    ///
    /// # Behavior
    /// - An existing id is [`crate::Error::ConflictId`] and leaves the stored task unchanged.
    async fn add_task(&self, task: &Task) -> Result<()>;

    /// Replaces the stored task with the same id.
    ///
    /// # Behavior
    /// - A missing id is [`crate::Error::TaskLookup`].
    async fn update_task(&self, task: &Task) -> Result<()>;

    /// Deletes a task.
    ///
    /// # Behavior
    /// - A missing id is [`crate::Error::TaskLookup`].
    async fn delete_task(&self, task_id: &str) -> Result<()>;

    /// Deletes every task.
    async fn remove_all_tasks(&self) -> Result<()>;

    /// Writes the new schedules of a round's due tasks: each change as
    /// [`Store::update_task`] or [`Store::delete_task`] would. The engine calls it with up to
    /// a thousand changes at a time, so a store that can should write them in one transaction
    /// (one pipeline, one lock): a persistent store writing them one by one makes the last
    /// due task of a round late by a round trip (and an fsync) per task before it.
    ///
    /// # Behavior
    /// - `Ok` holds one result per change, in order. A missing id is
    ///   [`crate::Error::TaskLookup`] for that change only and does not stop the others.
    /// - `Err` must mean that **nothing** of the batch was written: the engine runs none of its
    ///   tasks and retries them after the store retry interval (a task written but not run
    ///   would lose that run). A store that cannot promise it (no transaction across the
    ///   batch) answers `Ok` with an error for each change it could not write.
    /// - The default writes the changes one by one ([`store_schedules_one_by_one`]).
    /// - The engine calls it only when [`Store::batches_schedules`] is true; otherwise it
    ///   writes each change with its own call (each under its own store timeout).
    async fn store_schedules(&self, changes: &[ScheduleChange]) -> Result<Vec<Result<()>>> {
        Ok(store_schedules_one_by_one(self, changes).await)
    }

    /// True when the store implements [`Store::store_schedules`] as a batch of its own (one
    /// transaction, one pipeline, one lock). The engine then hands it up to 1,024 changes in
    /// one call, under one store timeout. `false` (the default) keeps one call per change.
    fn batches_schedules(&self) -> bool {
        false
    }

    /// Records this store could not decode (corrupt, written with another encryption key, a
    /// newer format), as `(task id, why)`.
    ///
    /// # Behavior
    /// - An undecodable record is skipped by every read, logged with its id, listed here, and
    ///   **never deleted** (a wrong key must not turn into data loss).
    fn undecodable_records(&self) -> Vec<(String, String)> {
        Vec::new()
    }

    /// The store's cluster half, when several schedulers can share it safely
    /// ([`crate::cluster::ClusterStore`]); `None` (the default) when they cannot. A
    /// scheduler built with `.cluster(...)` refuses a store that answers `None`.
    fn cluster(&self) -> Option<&dyn ClusterStore> {
        None
    }

    /// The version of the store's layout (its tables, keys or collections), for stores that
    /// keep a versioned schema; `None` (the default) for stores whose records carry their own
    /// format version instead. Operators see it in `asyncz doctor`.
    ///
    /// # Behavior
    /// - Read from the store when called (not remembered from `start`), so it shows what
    ///   another process may have upgraded meanwhile.
    /// - An unreachable store is an error, never a made-up version.
    async fn schema_version(&self) -> Result<Option<SchemaVersion>> {
        Ok(None)
    }
}

/// A due task's new schedule, as a round writes it ([`Store::store_schedules`]).
// Not boxed: almost every change of a round is an update, so a box would cost an allocation
// per change and save no memory in the batch.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ScheduleChange {
    /// Replace the stored task with this one (its next run time moved on).
    Update(Task),
    /// The task's schedule is over: delete the task with this id.
    Delete(String),
}

impl ScheduleChange {
    /// The id of the task the change is about.
    pub fn task_id(&self) -> &str {
        match self {
            ScheduleChange::Update(task) => task.id(),
            ScheduleChange::Delete(id) => id,
        }
    }
}

/// Writes `changes` with one [`Store::update_task`] or [`Store::delete_task`] call each: the
/// default of [`Store::store_schedules`], for stores with nothing better (and for a store's
/// own batch to fall back on).
pub async fn store_schedules_one_by_one<S: Store + ?Sized>(
    store: &S,
    changes: &[ScheduleChange],
) -> Vec<Result<()>> {
    let mut results = Vec::with_capacity(changes.len());
    for change in changes {
        results.push(match change {
            ScheduleChange::Update(task) => store.update_task(task).await,
            ScheduleChange::Delete(id) => store.delete_task(id).await,
        });
    }
    results
}

/// Splits `items` into runs of at most `max_items` and about `max_bytes` (by `size` of each;
/// an item larger than `max_bytes` goes alone), in order: the statements or commands of a
/// store's [`Store::store_schedules`], kept under the server's limits on parameters and on the
/// size of a packet or command.
pub fn chunks_by<T>(
    items: &[T],
    max_items: usize,
    max_bytes: usize,
    size: impl Fn(&T) -> usize,
) -> Vec<&[T]> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0usize);
    for (i, item) in items.iter().enumerate() {
        let n = size(item);
        if i > start && (i - start >= max_items.max(1) || bytes.saturating_add(n) > max_bytes) {
            out.push(&items[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes = bytes.saturating_add(n);
    }
    if start < items.len() {
        out.push(&items[start..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::chunks_by;

    #[test]
    fn chunks_keep_order_and_both_limits() {
        let items = [1usize, 1, 1, 5, 1, 9, 1];
        let runs = chunks_by(&items, 3, 6, |n| *n);
        assert_eq!(runs, [&[1, 1, 1][..], &[5, 1], &[9], &[1]]);
        assert!(chunks_by(&[] as &[usize], 3, 6, |n| *n).is_empty());
        assert_eq!(chunks_by(&items, 0, usize::MAX, |n| *n).len(), items.len());
    }
}

/// A store's schema version ([`Store::schema_version`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SchemaVersion {
    /// The version the stored layout has.
    pub stored: u32,
    /// The newest version this build of the store writes (a `start` upgrades an older layout
    /// to it).
    pub supported: u32,
}

impl SchemaVersion {
    /// A store at `stored`, of a build that writes up to `supported`.
    pub fn new(stored: u32, supported: u32) -> Self {
        SchemaVersion { stored, supported }
    }
}

/// An `Arc<S>` is a store too, so an application can keep a handle on the store it gave the
/// scheduler.
#[async_trait]
impl<S: Store + ?Sized> Store for Arc<S> {
    fn kind(&self) -> &'static str {
        (**self).kind()
    }
    fn is_persistent(&self) -> bool {
        (**self).is_persistent()
    }
    async fn start(&self, ctx: StoreContext) -> Result<()> {
        (**self).start(ctx).await
    }
    async fn shutdown(&self) -> Result<()> {
        (**self).shutdown().await
    }
    async fn lookup_task(&self, task_id: &str) -> Result<Option<Task>> {
        (**self).lookup_task(task_id).await
    }
    async fn get_due_tasks(&self, now: DateTime<Utc>) -> Result<Vec<Task>> {
        (**self).get_due_tasks(now).await
    }
    async fn get_next_run_time(&self) -> Result<Option<DateTime<Utc>>> {
        (**self).get_next_run_time().await
    }
    async fn get_all_tasks(&self) -> Result<Vec<Task>> {
        (**self).get_all_tasks().await
    }
    async fn add_task(&self, task: &Task) -> Result<()> {
        (**self).add_task(task).await
    }
    async fn update_task(&self, task: &Task) -> Result<()> {
        (**self).update_task(task).await
    }
    async fn delete_task(&self, task_id: &str) -> Result<()> {
        (**self).delete_task(task_id).await
    }
    async fn remove_all_tasks(&self) -> Result<()> {
        (**self).remove_all_tasks().await
    }
    async fn store_schedules(&self, changes: &[ScheduleChange]) -> Result<Vec<Result<()>>> {
        (**self).store_schedules(changes).await
    }
    fn batches_schedules(&self) -> bool {
        (**self).batches_schedules()
    }
    fn undecodable_records(&self) -> Vec<(String, String)> {
        (**self).undecodable_records()
    }
    fn cluster(&self) -> Option<&dyn ClusterStore> {
        (**self).cluster()
    }
    async fn schema_version(&self) -> Result<Option<SchemaVersion>> {
        (**self).schema_version().await
    }
}
