//! Shutdown-trigger tasks: at shutdown they are taken out of their stores (each under its own
//! store's lock) and run once, with no lock held, so they may manage tasks themselves.

use std::panic::AssertUnwindSafe;

use super::Scheduler;
use crate::function::{CallContext, TaskFunction, TaskOutput};
use crate::store::Store;
use crate::task::Task;

impl Scheduler {
    /// Takes the shutdown-trigger tasks out of every store and runs each once.
    pub(crate) async fn run_shutdown_tasks(&self) {
        let mut tasks = Vec::new();
        for store in self.inner.backends.stores() {
            let _locked = store.lock().await;
            tasks.extend(
                self.take_shutdown_tasks(store.alias(), store.as_ref())
                    .await,
            );
        }
        for task in tasks {
            self.run_shutdown_task(task).await;
        }
    }

    async fn take_shutdown_tasks(&self, alias: &str, store: &dyn Store) -> Vec<Task> {
        let tasks = match store.get_all_tasks().await {
            Ok(tasks) => tasks,
            Err(e) => {
                log!(error, self, store = %alias, error = %e, "cannot list tasks for shutdown triggers");
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for task in tasks.into_iter().filter(|t| t.trigger.is_shutdown()) {
            match store.delete_task(&task.id).await {
                Ok(()) => out.push(task),
                Err(e) => {
                    log!(error, self, task = ?task.id, error = %e, "cannot remove shutdown task")
                }
            }
        }
        out
    }

    async fn run_shutdown_task(&self, task: Task) {
        let function = match self.inner.functions.resolve(&task.callable) {
            Ok(f) => f,
            Err(e) => {
                log!(error, self, task = ?task.id, error = %e, "cannot run shutdown task");
                return;
            }
        };
        let ctx = CallContext {
            task_id: task.id.to_string(),
            scheduled_run_time: self.inner.clock.now(),
            args: task.args.clone(),
            kwargs: task.kwargs.clone(),
            run: None,
        };
        let outcome: std::result::Result<TaskOutput, String> = match function {
            TaskFunction::Async(f) => futures::FutureExt::catch_unwind(AssertUnwindSafe(f(ctx)))
                .await
                .map_err(|p| crate::executor::panic_message(p.as_ref())),
            TaskFunction::Sync(f) => match tokio::task::spawn_blocking(move || f(ctx)).await {
                Ok(output) => Ok(output),
                Err(join) => Err(match join.try_into_panic() {
                    Ok(p) => crate::executor::panic_message(p.as_ref()),
                    Err(e) => e.to_string(),
                }),
            },
        };
        match outcome {
            Ok(Ok(_)) => log!(info, self, task = ?task.id, "shutdown task executed"),
            Ok(Err(e)) => log!(error, self, task = ?task.id, error = %e, "shutdown task failed"),
            Err(p) => log!(error, self, task = ?task.id, error = %p, "shutdown task panicked"),
        }
    }
}
