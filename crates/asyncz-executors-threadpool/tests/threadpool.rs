#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The thread-pool executor through the scheduler: the shared executor suite, then what is
//! particular to a thread pool.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use asyncz_core::chrono::Utc;
use asyncz_core::events::*;
use asyncz_core::{
    CallContext, Map, PluginRegistry, Scheduler, SchedulerBuilder, TaskBuilder, Value,
};
use asyncz_executors_threadpool::{PoolConfig, ThreadPoolExecutor, ThreadPoolExecutorConfig};
use asyncz_testkit::executor::{self as executor_cases, case_functions, outcome, POOL};
use asyncz_testkit::{ExecutorCapabilities, ExecutorHarness, PoolOptions, Workers};
use asyncz_triggers::IntervalTrigger;

/// The plugins these tests need, registered directly (this crate's tests do not depend on the
/// `asyncz` facade, which depends on this crate): triggers, the memory store for the default
/// store, the tokio executor for the default executor, and this crate's executor.
fn plugins() -> PluginRegistry {
    let mut registry = PluginRegistry::new();
    asyncz_triggers::register(&mut registry);
    asyncz_stores_memory::register(&mut registry);
    asyncz_executors_tokio::register(&mut registry);
    asyncz_executors_threadpool::register(&mut registry);
    registry
}

/// A scheduler builder with [`plugins`].
fn builder() -> SchedulerBuilder {
    Scheduler::builder().plugins(plugins())
}

struct ThreadPool;

impl ExecutorHarness for ThreadPool {
    fn name(&self) -> String {
        "threadpool".into()
    }
    fn capabilities(&self) -> ExecutorCapabilities {
        ExecutorCapabilities {
            workers: Workers::Threads,
            cancel_futures: true,
            shutdown_without_wait_stops_running_jobs: false,
        }
    }
    fn scheduler(&self, options: &PoolOptions) -> asyncz_core::Result<Scheduler> {
        builder()
            .executor(
                POOL,
                ThreadPoolExecutor::with_config(
                    ThreadPoolExecutorConfig::default()
                        .pool(
                            PoolConfig::with_max_workers(options.max_workers)
                                .cancel_futures(options.cancel_futures),
                        )
                        .thread_name_prefix(options.marker.clone()),
                ),
            )
            .build()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_executor_suite_passes() {
    let report = asyncz_testkit::run_executor_suite(&ThreadPool).await;
    println!("{report}");
    report.assert_passed();
}

/// Threads of this process whose name starts with `prefix` (Linux: /proc/self/task/*/comm).
fn threads_named(prefix: &str) -> usize {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(|t| t.ok())
        .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
        .filter(|name| name.starts_with(prefix))
        .count()
}

/// Waits until exactly `n` threads are named with `prefix` (a new thread names itself once it
/// runs, so the count lags the spawn).
async fn until_threads_named(prefix: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while threads_named(prefix) != n {
        assert!(
            Instant::now() < deadline,
            "{} threads named {prefix}*, expected {n}",
            threads_named(prefix)
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn named_pool(prefix: &str, max_workers: u32) -> ThreadPoolExecutor {
    ThreadPoolExecutor::with_config(
        ThreadPoolExecutorConfig::default()
            .max_workers(max_workers)
            .thread_name_prefix(prefix),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_threads_are_named_and_gone_after_a_waiting_shutdown() {
    if !std::path::Path::new("/proc/self/task").exists() {
        eprintln!("skipped: no /proc/self/task on this platform");
        return;
    }
    let scheduler = builder()
        .executor(POOL, named_pool("tp-named-", 3))
        .build()
        .unwrap();
    case_functions::register(scheduler.functions()).unwrap();
    scheduler.start().await.unwrap();
    until_threads_named("tp-named-", 3).await;
    let mut rx = scheduler.subscribe(TASK_SUBMITTED | TASK_EXECUTED);
    scheduler
        .add_task(
            TaskBuilder::new()
                .function(case_functions::SLEEP)
                .arg(100)
                .executor(POOL),
        )
        .await
        .unwrap();
    executor_cases::until(&mut rx, Duration::from_secs(5), |e| {
        e.code() == TASK_SUBMITTED
    })
    .await;
    scheduler.shutdown(true).await.unwrap();
    assert_eq!(rx.try_recv().map(|e| e.code()).ok(), Some(TASK_EXECUTED));
    // A joined thread can linger in /proc for a moment while the kernel finishes its exit.
    let deadline = Instant::now() + Duration::from_secs(1);
    while threads_named("tp-named-") != 0 {
        assert!(Instant::now() < deadline, "stray pool threads");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn threads_end_after_a_shutdown_without_wait_once_their_job_ends() {
    if !std::path::Path::new("/proc/self/task").exists() {
        return;
    }
    let scheduler = builder()
        .executor(POOL, named_pool("tp-nowait-", 2))
        .build()
        .unwrap();
    case_functions::register(scheduler.functions()).unwrap();
    scheduler.start().await.unwrap();
    let mut rx = scheduler.subscribe(TASK_SUBMITTED);
    scheduler
        .add_task(
            TaskBuilder::new()
                .function(case_functions::SLEEP)
                .arg(200)
                .executor(POOL),
        )
        .await
        .unwrap();
    executor_cases::until(&mut rx, Duration::from_secs(5), |e| {
        e.code() == TASK_SUBMITTED
    })
    .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    scheduler.shutdown(false).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while threads_named("tp-nowait-") != 0 {
        assert!(Instant::now() < deadline, "pool threads outlived their job");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A job blocking a pool thread never delays the timers: an interval task on the tokio
/// executor keeps firing on time, even on a single-threaded runtime.
#[tokio::test(flavor = "current_thread")]
async fn a_blocking_job_never_delays_an_interval_task_on_the_tokio_executor() {
    let scheduler = builder()
        .executor(POOL, ThreadPoolExecutor::with_max_workers(2))
        .build()
        .unwrap();
    let lateness = Arc::new(Mutex::new(Vec::new()));
    let l = Arc::clone(&lateness);
    scheduler
        .register_async("tick", move |ctx: CallContext| {
            let l = Arc::clone(&l);
            async move {
                let late = Utc::now() - ctx.scheduled_run_time;
                l.lock().unwrap().push(late.num_milliseconds());
            }
        })
        .unwrap();
    scheduler
        .register("block", |_ctx: CallContext| {
            std::thread::sleep(Duration::from_millis(800))
        })
        .unwrap();
    scheduler.start().await.unwrap();
    let mut rx = scheduler.subscribe(TASK_EXECUTED);
    scheduler
        .add_task(
            TaskBuilder::new()
                .function("block")
                .id("block")
                .executor(POOL),
        )
        .await
        .unwrap();
    scheduler
        .add_task(
            TaskBuilder::new().function("tick").id("tick").trigger(
                IntervalTrigger::new()
                    .every(Duration::from_millis(100))
                    .start_at(Utc::now()),
            ),
        )
        .await
        .unwrap();
    executor_cases::until(&mut rx, Duration::from_secs(10), |e| {
        e.task_id() == Some("block")
    })
    .await;
    scheduler.shutdown(false).await.unwrap();
    let lateness = lateness.lock().unwrap().clone();
    // Blocked timers would show as one tick ~800 ms late; allow for a loaded machine.
    assert!(
        lateness.len() >= 5,
        "only {} ticks in 800 ms: {lateness:?}",
        lateness.len()
    );
    assert!(
        lateness.iter().all(|&ms| ms < 250),
        "ticks were late (ms): {lateness:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_workers_bounds_concurrent_jobs() {
    let scheduler = builder()
        .executor(POOL, ThreadPoolExecutor::with_max_workers(2))
        .build()
        .unwrap();
    let (now, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (n, p) = (Arc::clone(&now), Arc::clone(&peak));
    scheduler
        .register("work", move |_ctx: CallContext| {
            let running = n.fetch_add(1, Ordering::SeqCst) + 1;
            p.fetch_max(running, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(40));
            n.fetch_sub(1, Ordering::SeqCst);
        })
        .unwrap();
    scheduler.start().await.unwrap();
    for _ in 0..6 {
        scheduler
            .add_task(TaskBuilder::new().function("work").executor(POOL))
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    scheduler.shutdown(true).await.unwrap();
    assert_eq!(peak.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plugin_is_configured_by_alias_from_a_config_map() {
    let mut plugins = plugins();
    asyncz_executors_threadpool::register(&mut plugins);
    let config: Map = serde_json::from_value(serde_json::json!({
        "asyncz.executors.pool.type": "threadpool",
        "asyncz.executors.pool.max_workers": "2",
        "asyncz.executors.pool.pool_kwargs": {"thread_name_prefix": "tp-config-"},
        "asyncz.executors.other.type": "pool",
    }))
    .unwrap();
    let scheduler = builder().plugins(plugins).config(config).build().unwrap();
    case_functions::register(scheduler.functions()).unwrap();
    scheduler.start().await.unwrap();
    if std::path::Path::new("/proc/self/task").exists() {
        until_threads_named("tp-config-", 2).await;
    }
    let mut rx = scheduler.subscribe(TASK_EXECUTED | TASK_ERROR);
    scheduler
        .add_task(
            TaskBuilder::new()
                .function(case_functions::OK)
                .id("ok")
                .executor("other"),
        )
        .await
        .unwrap();
    assert_eq!(outcome(&mut rx, "ok").await.code, TASK_EXECUTED);
    scheduler.shutdown(true).await.unwrap();
}

#[test]
fn a_bad_option_is_an_error_naming_it() {
    let mut plugins = PluginRegistry::new();
    asyncz_executors_threadpool::register(&mut plugins);
    let mut config = Map::new();
    config.insert("max_workers".into(), Value::from("many"));
    let err = plugins
        .create_executor("threadpool", &config)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("invalid max_workers:") && err.contains("many"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overwrite_wait_replaces_the_wait_argument_of_shutdown() {
    let scheduler = builder()
        .executor(
            POOL,
            ThreadPoolExecutor::with_config(
                ThreadPoolExecutorConfig::default()
                    .pool(PoolConfig::default().overwrite_wait(false)),
            ),
        )
        .build()
        .unwrap();
    case_functions::register(scheduler.functions()).unwrap();
    scheduler.start().await.unwrap();
    let mut rx = scheduler.subscribe(TASK_SUBMITTED | TASK_EXECUTED);
    scheduler
        .add_task(
            TaskBuilder::new()
                .function(case_functions::SLEEP)
                .id("long")
                .arg(600)
                .executor(POOL),
        )
        .await
        .unwrap();
    executor_cases::until(&mut rx, Duration::from_secs(5), |e| {
        e.code() == TASK_SUBMITTED
    })
    .await;
    let started_at = Instant::now();
    scheduler.shutdown(true).await.unwrap();
    assert!(started_at.elapsed() < Duration::from_millis(300));
    assert_eq!(outcome(&mut rx, "long").await.code, TASK_EXECUTED);
}
