//! The tokio executor implementation.
//!
//! Async jobs are tokio tasks. Sync jobs go through a queue to a bounded set of long-lived
//! workers on the runtime's blocking pool (upstream's default: `min(32, cpus + 4)` threads),
//! instead of one `spawn_blocking` per job: a burst of 100k due sync tasks would otherwise spend
//! most of its time waking and parking blocking threads.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use asyncz_core::{async_trait, Error, Executor, ExecutorContext, Job, Result};
use tokio::runtime::Handle;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::TokioExecutorConfig;

/// The queue of sync jobs and the workers draining it.
#[derive(Debug)]
struct BlockingLane {
    sender: Mutex<Option<mpsc::Sender<Job>>>,
    receiver: Arc<Mutex<mpsc::Receiver<Job>>>,
    workers: AtomicUsize,
    idle: Arc<AtomicUsize>,
    /// Jobs sent and not yet taken by a worker.
    queued: Arc<AtomicUsize>,
    max_workers: usize,
}

#[derive(Debug)]
struct Running {
    runtime: Handle,
    tracker: TaskTracker,
    cancel: CancellationToken,
    slots: Option<Arc<Semaphore>>,
    lane: Arc<BlockingLane>,
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

fn default_blocking_workers() -> usize {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cpus + 4).min(32)
}

impl BlockingLane {
    fn new(max_workers: usize) -> Self {
        let (tx, rx) = mpsc::channel();
        BlockingLane {
            sender: Mutex::new(Some(tx)),
            receiver: Arc::new(Mutex::new(rx)),
            workers: AtomicUsize::new(0),
            idle: Arc::new(AtomicUsize::new(0)),
            queued: Arc::new(AtomicUsize::new(0)),
            max_workers: max_workers.max(1),
        }
    }

    fn send(&self, job: Job, running: &Running) -> Result<()> {
        self.queued.fetch_add(1, Ordering::AcqRel);
        let sent = {
            let sender = self.sender.lock().unwrap_or_else(|e| e.into_inner());
            match sender.as_ref() {
                Some(tx) => tx.send(job).is_ok(),
                None => false,
            }
        };
        if !sent {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(Error::backend(
                "executor (tokio)",
                "the executor is shut down",
            ));
        }
        // Grow the pool while queued jobs outnumber idle workers, up to the limit, so a job
        // never waits behind a long one while there is room for another worker.
        while self.queued.load(Ordering::Acquire) > self.idle.load(Ordering::Acquire) {
            let n = self.workers.load(Ordering::Acquire);
            if n >= self.max_workers {
                break;
            }
            if self
                .workers
                .compare_exchange(n, n + 1, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                // Counted idle until it takes a job, so one burst does not overshoot.
                self.idle.fetch_add(1, Ordering::AcqRel);
                self.spawn_worker(running);
            }
        }
        Ok(())
    }

    fn spawn_worker(&self, running: &Running) {
        let receiver = Arc::clone(&self.receiver);
        let idle = Arc::clone(&self.idle);
        let queued = Arc::clone(&self.queued);
        let cancel = running.cancel.clone();
        let token = running.tracker.token();
        let handle = running.runtime.clone();
        running.runtime.spawn_blocking(move || {
            let _token = token;
            loop {
                let next = receiver.lock().unwrap_or_else(|e| e.into_inner()).recv();
                let Ok(job) = next else {
                    idle.fetch_sub(1, Ordering::AcqRel);
                    return;
                };
                queued.fetch_sub(1, Ordering::AcqRel);
                idle.fetch_sub(1, Ordering::AcqRel);
                if cancel.is_cancelled() {
                    // shutdown(wait = false): queued work is dropped, releasing its slot.
                    job.finish();
                    idle.fetch_add(1, Ordering::AcqRel);
                    continue;
                }
                job.run_blocking(Some(&handle));
                idle.fetch_add(1, Ordering::AcqRel);
            }
        });
    }

    fn close(&self) {
        self.sender.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}

#[async_trait]
impl Executor for TokioExecutor {
    fn kind(&self) -> &'static str {
        crate::ALIAS
    }

    async fn start(&self, ctx: ExecutorContext) -> Result<()> {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        let blocking = self
            .config
            .blocking_workers
            .map_or_else(default_blocking_workers, |n| n as usize);
        *running = Some(Running {
            runtime: ctx.runtime,
            tracker: TaskTracker::new(),
            cancel: CancellationToken::new(),
            slots: self
                .config
                .max_workers
                .map(|n| Arc::new(Semaphore::new(n as usize))),
            lane: Arc::new(BlockingLane::new(blocking)),
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
        if !wait {
            running.cancel.cancel();
        }
        running.lane.close();
        if wait {
            running.tracker.wait().await;
        }
        Ok(())
    }

    /// Sync jobs waiting for a blocking worker (async jobs are tokio tasks, not counted).
    fn queued(&self) -> Option<usize> {
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|r| r.lane.queued.load(Ordering::Acquire))
    }

    async fn send_task(&self, job: Job) -> Result<()> {
        let running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        let Some(r) = running.as_ref() else {
            return Err(Error::backend(
                "executor (tokio)",
                "the executor is not started",
            ));
        };
        if !job.is_async() && r.slots.is_none() {
            return r.lane.send(job, r);
        }
        let (tracker, cancel, slots) = (r.tracker.clone(), r.cancel.clone(), r.slots.clone());
        let runtime = r.runtime.clone();
        drop(running);
        let fut = async move {
            let _permit = match &slots {
                Some(s) => tokio::select! {
                    biased;
                    _ = cancel.cancelled() => return,
                    permit = Arc::clone(s).acquire_owned() => match permit {
                        Ok(p) => Some(p),
                        Err(_) => return,
                    },
                },
                None => None,
            };
            if cancel.is_cancelled() {
                return;
            }
            if job.is_async() {
                tokio::select! {
                    biased;
                    _ = cancel.cancelled() => {
                        tracing::warn!(target: "asyncz.executors", "job cancelled by shutdown");
                    }
                    _ = job.run() => {}
                }
            } else {
                // With max_workers, the permit is held until the blocking run ends.
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
