//! The thread-pool executor: jobs run on a dedicated rayon pool whose threads this executor
//! spawns itself (so shutdown can join them and no thread outlives a waiting shutdown).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use asyncz_core::{async_trait, panic_message, Error, Executor, ExecutorContext, Job, Result};
use tokio::runtime::Handle;

use crate::ThreadPoolExecutorConfig;

#[derive(Debug)]
struct Running {
    alias: String,
    pool: rayon::ThreadPool,
    threads: Vec<JoinHandle<()>>,
    /// Set by a shutdown with `cancel_futures`: queued jobs are dropped instead of run.
    cancelled: Arc<AtomicBool>,
    runtime: Handle,
    /// Jobs handed to the pool and not yet started on a thread.
    queued: Arc<std::sync::atomic::AtomicUsize>,
}

/// Runs jobs on a dedicated pool of threads (spec: `ThreadPoolExecutor`, aliases `threadpool`
/// and `pool`).
///
/// Sync functions are called on a pool thread; async functions are driven to completion on a
/// pool thread with the scheduler's runtime handle (so tokio timers and I/O work), without
/// occupying a runtime worker. A blocking job therefore never delays the scheduler's timers or
/// other executors.
///
/// # Behavior
/// - At most `max_workers` jobs run at once; further jobs wait in the pool's queue, and the
///   wait counts against `mistrigger_grace_time` (`TASK_MISSED` when exceeded).
/// - `shutdown(wait = true)` returns once every running and queued job has ended and every
///   pool thread has exited.
/// - `shutdown(wait = false)` returns at once; running jobs finish on their threads, queued
///   jobs still run unless `cancel_futures` is set, in which case they are dropped (their
///   `max_instances` slots are released and no execution event is emitted for them).
/// - `overwrite_wait`, when set, replaces the `wait` argument of every shutdown.
/// - The executor can be started again after a shutdown; it builds a new pool.
#[derive(Debug, Default)]
pub struct ThreadPoolExecutor {
    config: ThreadPoolExecutorConfig,
    running: Mutex<Option<Running>>,
}

impl ThreadPoolExecutor {
    /// An executor with the spec's defaults (10 threads).
    pub fn new() -> Self {
        Self::default()
    }

    /// An executor with `max_workers` threads and the other options at their defaults.
    pub fn with_max_workers(max_workers: u32) -> Self {
        Self::with_config(ThreadPoolExecutorConfig::default().max_workers(max_workers.max(1)))
    }

    /// An executor with these options.
    pub fn with_config(config: ThreadPoolExecutorConfig) -> Self {
        ThreadPoolExecutor {
            config,
            running: Mutex::new(None),
        }
    }

    /// The options this executor was built with.
    pub fn config(&self) -> &ThreadPoolExecutorConfig {
        &self.config
    }

    fn build(&self, ctx: &ExecutorContext) -> Result<Running> {
        let backend = || format!("executor '{}' (threadpool)", ctx.alias);
        let threads = Arc::new(Mutex::new(Vec::new()));
        let spawned = Arc::clone(&threads);
        let prefix = self.config.thread_name_prefix.clone();
        let stack_size = self.config.stack_size;
        let alias = ctx.alias.clone();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(self.config.pool.max_workers.max(1) as usize)
            .spawn_handler(move |thread| {
                let mut builder =
                    std::thread::Builder::new().name(format!("{prefix}{}", thread.index()));
                if let Some(bytes) = stack_size {
                    builder = builder.stack_size(bytes);
                }
                let handle = builder.spawn(move || thread.run())?;
                lock(&spawned).push(handle);
                Ok(())
            })
            .panic_handler(move |payload| {
                // Job::run_blocking catches the function's panics; this is a panic in an event
                // listener or in the executor itself. Rayon would abort the process.
                tracing::error!(target: "asyncz.executors", executor = %alias, error = %panic_message(payload.as_ref()), "panic on a thread-pool thread");
            })
            .build()
            .map_err(|e| Error::backend(backend(), e))?;
        let threads = std::mem::take(&mut *lock(&threads));
        Ok(Running {
            alias: ctx.alias.clone(),
            pool,
            threads,
            cancelled: Arc::new(AtomicBool::new(false)),
            runtime: ctx.runtime.clone(),
            queued: Arc::default(),
        })
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[async_trait]
impl Executor for ThreadPoolExecutor {
    fn kind(&self) -> &'static str {
        crate::ALIAS
    }

    async fn start(&self, ctx: ExecutorContext) -> Result<()> {
        let mut running = lock(&self.running);
        if running.is_none() {
            *running = Some(self.build(&ctx)?);
        }
        Ok(())
    }

    async fn shutdown(&self, wait: bool) -> Result<()> {
        let wait = self.config.pool.overwrite_wait.unwrap_or(wait);
        let Some(running) = lock(&self.running).take() else {
            return Ok(());
        };
        if self.config.pool.cancel_futures {
            running.cancelled.store(true, Ordering::SeqCst);
        }
        let Running {
            alias,
            pool,
            threads,
            ..
        } = running;
        // Dropping the pool tells its threads to finish the queued work and exit.
        drop(pool);
        if !wait {
            return Ok(());
        }
        let join = move || {
            for thread in threads {
                if thread.join().is_err() {
                    tracing::error!(target: "asyncz.executors", executor = %alias, "a thread-pool thread panicked");
                }
            }
        };
        match Handle::try_current() {
            Ok(handle) => handle
                .spawn_blocking(join)
                .await
                .map_err(|e| Error::backend("executor (threadpool)", e)),
            Err(_) => {
                join();
                Ok(())
            }
        }
    }

    fn queued(&self) -> Option<usize> {
        lock(&self.running)
            .as_ref()
            .map(|r| r.queued.load(Ordering::Relaxed))
    }

    async fn send_task(&self, job: Job) -> Result<()> {
        let running = lock(&self.running);
        let Some(r) = running.as_ref() else {
            return Err(Error::backend(
                "executor (threadpool)",
                "the executor is not started (or was shut down)",
            ));
        };
        let cancelled = Arc::clone(&r.cancelled);
        let runtime = r.runtime.clone();
        let alias = r.alias.clone();
        let queued = Arc::clone(&r.queued);
        queued.fetch_add(1, Ordering::Relaxed);
        r.pool.spawn(move || {
            queued.fetch_sub(1, Ordering::Relaxed);
            if cancelled.load(Ordering::SeqCst) {
                tracing::warn!(target: "asyncz.executors", executor = %alias, task = ?job.task_id(), "queued job dropped by shutdown (cancel_futures)");
                job.finish();
                return;
            }
            job.run_blocking(Some(&runtime));
        });
        Ok(())
    }
}
