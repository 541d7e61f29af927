//! The tokio executor implementation.

use std::sync::{Arc, Mutex};

use asyncz_core::{async_trait, Error, Executor, ExecutorContext, Job, Result};
use tokio::runtime::Handle;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::TokioExecutorConfig;

#[derive(Debug)]
struct Running {
    runtime: Handle,
    tracker: TaskTracker,
    cancel: CancellationToken,
    slots: Option<Arc<Semaphore>>,
}

/// Runs jobs on the scheduler's tokio runtime (spec: `AsyncIOExecutor`).
#[derive(Debug, Default)]
pub struct TokioExecutor {
    config: TokioExecutorConfig,
    running: Mutex<Option<Running>>,
}

impl TokioExecutor {
    /// An executor with default options.
    pub fn new() -> Self {
        Self::default()
    }

    /// An executor with these options.
    pub fn with_config(config: TokioExecutorConfig) -> Self {
        TokioExecutor {
            config,
            running: Mutex::new(None),
        }
    }
}

#[async_trait]
impl Executor for TokioExecutor {
    fn kind(&self) -> &'static str {
        crate::ALIAS
    }

    async fn start(&self, ctx: ExecutorContext) -> Result<()> {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        *running = Some(Running {
            runtime: ctx.runtime,
            tracker: TaskTracker::new(),
            cancel: CancellationToken::new(),
            slots: self
                .config
                .max_workers
                .map(|n| Arc::new(Semaphore::new(n as usize))),
        });
        Ok(())
    }

    async fn shutdown(&self, wait: bool) -> Result<()> {
        let running = self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let Some(running) = running else {
            return Ok(());
        };
        running.tracker.close();
        if wait {
            running.tracker.wait().await;
        } else {
            running.cancel.cancel();
        }
        Ok(())
    }

    async fn send_task(&self, job: Job) -> Result<()> {
        let (runtime, tracker, cancel, slots) = {
            let running = self.running.lock().unwrap_or_else(|e| e.into_inner());
            let Some(r) = running.as_ref() else {
                return Err(Error::backend(
                    "executor (tokio)",
                    "the executor is not started",
                ));
            };
            (r.runtime.clone(), r.tracker.clone(), r.cancel.clone(), r.slots.clone())
        };
        let fut = async move {
            let _permit = match &slots {
                Some(s) => match Arc::clone(s).acquire_owned().await {
                    Ok(p) => Some(p),
                    Err(_) => return,
                },
                None => None,
            };
            if job.is_async() {
                tokio::select! {
                    _ = cancel.cancelled() => {
                        tracing::warn!(target: "asyncz.executors", "job cancelled by shutdown");
                    }
                    _ = job.run() => {}
                }
            } else {
                let handle = Handle::current();
                let blocking = tokio::task::spawn_blocking(move || job.run_blocking(Some(&handle)));
                if let Err(e) = blocking.await {
                    tracing::error!(target: "asyncz.executors", error = %e, "blocking job did not complete");
                }
            }
        };
        runtime.spawn(tracker.track_future(fut));
        Ok(())
    }
}
