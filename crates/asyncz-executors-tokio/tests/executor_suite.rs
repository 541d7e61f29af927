#![allow(clippy::unwrap_used)]
//! The tokio executor through the scheduler: the shared executor suite.

use asyncz_core::{PluginRegistry, Scheduler, SchedulerBuilder};
use asyncz_executors_tokio::{TokioExecutor, TokioExecutorConfig};
use asyncz_testkit::executor::POOL;
use asyncz_testkit::{ExecutorCapabilities, ExecutorHarness, PoolOptions, Workers};

/// The plugins these tests need, registered directly (this crate's tests do not depend on the
/// `asyncz` facade, which depends on this crate): triggers, the memory store for the default
/// store, the tokio executor for the default executor, and this crate's executor.
fn plugins() -> PluginRegistry {
    let mut registry = PluginRegistry::new();
    asyncz_triggers::register(&mut registry);
    asyncz_stores_memory::register(&mut registry);
    asyncz_executors_tokio::register(&mut registry);
    registry
}

/// A scheduler builder with [`plugins`].
fn builder() -> SchedulerBuilder {
    Scheduler::builder().plugins(plugins())
}

struct Tokio;

impl ExecutorHarness for Tokio {
    fn name(&self) -> String {
        "tokio".into()
    }
    fn capabilities(&self) -> ExecutorCapabilities {
        ExecutorCapabilities {
            // Jobs run as tasks of the scheduler's runtime and on its blocking pool.
            workers: Workers::Runtime,
            cancel_futures: false,
            shutdown_without_wait_stops_running_jobs: false,
        }
    }
    fn scheduler(&self, options: &PoolOptions) -> asyncz_core::Result<Scheduler> {
        builder()
            .executor(
                POOL,
                TokioExecutor::with_config(
                    TokioExecutorConfig::default().max_workers(options.max_workers),
                ),
            )
            .build()
    }
}

/// Without `max_workers`, sync jobs take the executor's own lane of blocking workers.
struct TokioUnbounded;

impl ExecutorHarness for TokioUnbounded {
    fn name(&self) -> String {
        "tokio (no max_workers)".into()
    }
    fn capabilities(&self) -> ExecutorCapabilities {
        Tokio.capabilities()
    }
    fn scheduler(&self, options: &PoolOptions) -> asyncz_core::Result<Scheduler> {
        builder()
            .executor(
                POOL,
                TokioExecutor::with_config(
                    TokioExecutorConfig::default().blocking_workers(options.max_workers),
                ),
            )
            .build()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_executor_suite_passes() {
    let report = asyncz_testkit::run_executor_suite(&Tokio).await;
    println!("{report}");
    report.assert_passed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_executor_suite_passes_without_max_workers() {
    let report = asyncz_testkit::run_executor_suite(&TokioUnbounded).await;
    println!("{report}");
    report.assert_passed();
}
