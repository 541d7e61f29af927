//! [`OutageStore`]: a store that a test takes down and brings back, to check what a scheduler,
//! a probe or a dashboard does while its store does not answer.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use asyncz_core::chrono::{DateTime, Utc};
use asyncz_core::{async_trait, Error, Result, Store, StoreContext, Task};

/// Wraps a store; while [`OutageStore::down`] is set every call but `start` and `shutdown`
/// fails with a backend error ("connection refused (test outage)"), as a server gone away
/// would. Its kind is `outage`; it can also report made-up undecodable records. It is not a
/// cluster store (`cluster()` is `None`, whatever `inner` is): a cluster scheduler refuses it.
#[derive(Debug)]
pub struct OutageStore<S> {
    inner: S,
    down: Arc<AtomicBool>,
    undecodable: Vec<(String, String)>,
}

impl<S: Store> OutageStore<S> {
    /// Up, over `inner`.
    pub fn new(inner: S) -> Self {
        OutageStore {
            inner,
            down: Arc::new(AtomicBool::new(false)),
            undecodable: Vec::new(),
        }
    }

    /// Also reports a record `id` that cannot be decoded, for `reason`.
    pub fn with_undecodable(mut self, id: impl Into<String>, reason: impl Into<String>) -> Self {
        self.undecodable.push((id.into(), reason.into()));
        self
    }

    /// The switch: store `true` to take the store down, `false` to bring it back.
    pub fn down(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.down)
    }

    fn check(&self) -> Result<()> {
        if self.down.load(Ordering::SeqCst) {
            return Err(Error::backend("outage", "connection refused (test outage)"));
        }
        Ok(())
    }
}

#[async_trait]
impl<S: Store> Store for OutageStore<S> {
    fn kind(&self) -> &'static str {
        "outage"
    }
    fn is_persistent(&self) -> bool {
        self.inner.is_persistent()
    }
    async fn start(&self, ctx: StoreContext) -> Result<()> {
        self.inner.start(ctx).await
    }
    async fn shutdown(&self) -> Result<()> {
        self.inner.shutdown().await
    }
    async fn lookup_task(&self, task_id: &str) -> Result<Option<Task>> {
        self.check()?;
        self.inner.lookup_task(task_id).await
    }
    async fn get_due_tasks(&self, now: DateTime<Utc>) -> Result<Vec<Task>> {
        self.check()?;
        self.inner.get_due_tasks(now).await
    }
    async fn get_next_run_time(&self) -> Result<Option<DateTime<Utc>>> {
        self.check()?;
        self.inner.get_next_run_time().await
    }
    async fn get_all_tasks(&self) -> Result<Vec<Task>> {
        self.check()?;
        self.inner.get_all_tasks().await
    }
    async fn add_task(&self, task: &Task) -> Result<()> {
        self.check()?;
        self.inner.add_task(task).await
    }
    async fn update_task(&self, task: &Task) -> Result<()> {
        self.check()?;
        self.inner.update_task(task).await
    }
    async fn delete_task(&self, task_id: &str) -> Result<()> {
        self.check()?;
        self.inner.delete_task(task_id).await
    }
    async fn remove_all_tasks(&self) -> Result<()> {
        self.check()?;
        self.inner.remove_all_tasks().await
    }
    fn undecodable_records(&self) -> Vec<(String, String)> {
        let mut records = self.inner.undecodable_records();
        records.extend(self.undecodable.iter().cloned());
        records
    }
    async fn schema_version(&self) -> Result<Option<asyncz_core::SchemaVersion>> {
        self.check()?;
        self.inner.schema_version().await
    }
}
