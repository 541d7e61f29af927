//! A scheduler over the store under test, for the cases that are about what the engine does
//! with a store (how often a task fires, whether the engine idles), stepped with a manual clock.

use std::sync::{Arc, Mutex};

use asyncz_core::chrono::{DateTime, Utc};
use asyncz_core::{
    async_trait, CallContext, DebugExecutor, ManualClock, PluginRegistry, Result, Scheduler, Store,
    StoreContext, Task,
};

/// The store under test, already started by the suite: the scheduler's own start and shutdown
/// must not start it a second time or close it under the suite.
#[derive(Debug)]
pub(super) struct Started(pub(super) Arc<dyn Store>);

#[async_trait]
impl Store for Started {
    fn kind(&self) -> &'static str {
        self.0.kind()
    }
    fn is_persistent(&self) -> bool {
        self.0.is_persistent()
    }
    async fn start(&self, _ctx: StoreContext) -> Result<()> {
        Ok(())
    }
    async fn shutdown(&self) -> Result<()> {
        Ok(())
    }
    async fn lookup_task(&self, task_id: &str) -> Result<Option<Task>> {
        self.0.lookup_task(task_id).await
    }
    async fn get_due_tasks(&self, now: DateTime<Utc>) -> Result<Vec<Task>> {
        self.0.get_due_tasks(now).await
    }
    async fn get_next_run_time(&self) -> Result<Option<DateTime<Utc>>> {
        self.0.get_next_run_time().await
    }
    async fn get_all_tasks(&self) -> Result<Vec<Task>> {
        self.0.get_all_tasks().await
    }
    async fn add_task(&self, task: &Task) -> Result<()> {
        self.0.add_task(task).await
    }
    async fn update_task(&self, task: &Task) -> Result<()> {
        self.0.update_task(task).await
    }
    async fn delete_task(&self, task_id: &str) -> Result<()> {
        self.0.delete_task(task_id).await
    }
    async fn remove_all_tasks(&self) -> Result<()> {
        self.0.remove_all_tasks().await
    }
    fn undecodable_records(&self) -> Vec<(String, String)> {
        self.0.undecodable_records()
    }
}

/// The runs a scheduler made, as `(task id, scheduled run time)`, in order.
pub(super) type Runs = Arc<Mutex<Vec<(String, DateTime<Utc>)>>>;

/// A started scheduler over `store` (its `default` store, in UTC) with the inline debug
/// executor, reading `clock`; `testkit.noop` and `testkit.other` record their runs in the
/// returned list.
pub(super) async fn scheduler_over<S: Store>(
    store: &Arc<S>,
    clock: &ManualClock,
) -> std::result::Result<(Scheduler, Runs), String> {
    scheduler_logging_as(store, clock, "testkit").await
}

/// [`scheduler_over`], with `logger_name` on the scheduler's log lines (to tell them apart).
pub(super) async fn scheduler_logging_as<S: Store>(
    store: &Arc<S>,
    clock: &ManualClock,
    logger_name: &str,
) -> std::result::Result<(Scheduler, Runs), String> {
    let store: Arc<dyn Store> = Arc::clone(store) as Arc<dyn Store>;
    let mut plugins = PluginRegistry::new();
    asyncz_triggers::register(&mut plugins);
    let scheduler = Scheduler::builder()
        .plugins(plugins)
        .logger_name(logger_name)
        .clock(clock.clone())
        .store("default", Started(store))
        .executor("default", DebugExecutor::new())
        .build()
        .map_err(|e| format!("cannot build a scheduler over the store: {e}"))?;
    let runs: Runs = Arc::default();
    for name in ["testkit.noop", "testkit.other"] {
        let runs = Arc::clone(&runs);
        scheduler
            .register(name, move |ctx: CallContext| {
                runs.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((ctx.task_id.clone(), ctx.scheduled_run_time));
            })
            .map_err(|e| format!("cannot register {name}: {e}"))?;
    }
    scheduler
        .start()
        .await
        .map_err(|e| format!("cannot start a scheduler over the store: {e}"))?;
    Ok((scheduler, runs))
}

/// The recorded runs of `task_id`.
pub(super) fn runs_of(runs: &Runs, task_id: &str) -> Vec<DateTime<Utc>> {
    runs.lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|(id, _)| id == task_id)
        .map(|(_, t)| *t)
        .collect()
}
