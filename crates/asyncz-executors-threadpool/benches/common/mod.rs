//! Benchmark helpers shared by the executor crates' benches (each bench file includes this
//! module): throughput of no-op tasks, latency from due time to start, and a sequential
//! round trip, all through the scheduler, for any executor installed under [`POOL`].

use std::time::{Duration, Instant};

use asyncz_core::chrono::Utc;
use asyncz_core::events::{TASK_ERROR, TASK_EXECUTED};
use asyncz_core::{
    Event, PluginRegistry, RunTaskOptions, Scheduler, SchedulerBuilder, TaskBuilder,
};
use asyncz_triggers::{DateTrigger, IntervalTrigger};
use tokio::sync::mpsc::UnboundedReceiver;

use super::case_functions as f;

pub const POOL: &str = "pool";

/// A scheduler builder with the plugins the benches need (the memory store and the tokio
/// executor as defaults), registered directly: the executor crates do not depend on the
/// `asyncz` facade, which depends on them.
pub fn builder() -> SchedulerBuilder {
    let mut plugins = PluginRegistry::new();
    asyncz_triggers::register(&mut plugins);
    asyncz_stores_memory::register(&mut plugins);
    asyncz_executors_tokio::register(&mut plugins);
    Scheduler::builder().plugins(plugins)
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

pub async fn start(scheduler: &Scheduler) {
    f::register(scheduler.functions()).expect("register");
    scheduler.start().await.expect("start");
}

async fn next_outcome(rx: &mut UnboundedReceiver<Event>) -> Event {
    let event = tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .expect("an outcome within 30 s")
        .expect("open channel");
    if let Event::Execution(e) = &event {
        assert_eq!(e.code, TASK_EXECUTED, "benchmark task failed: {e:?}");
    }
    event
}

/// Adds `n` no-op tasks all due now and returns the time until all have been executed.
pub async fn throughput(scheduler: &Scheduler, n: u64, batch: &mut u64) -> Duration {
    let mut rx = scheduler.subscribe(TASK_EXECUTED | TASK_ERROR);
    let now = Utc::now();
    let start = Instant::now();
    for i in 0..n {
        scheduler
            .add_task(
                TaskBuilder::new()
                    .function(f::OK)
                    .id(format!("t{batch}-{i}"))
                    .executor(POOL)
                    .mistrigger_grace_time(None)
                    .trigger(DateTrigger::new(now)),
            )
            .await
            .expect("add");
    }
    for _ in 0..n {
        next_outcome(&mut rx).await;
    }
    *batch += 1;
    start.elapsed()
}

/// For each of `iters` tasks due shortly, how late its function started (measured inside the
/// function, so for a process pool inside the worker); returns the sum.
pub async fn due_to_start(scheduler: &Scheduler, iters: u64, batch: &mut u64) -> Duration {
    let mut rx = scheduler.subscribe(TASK_EXECUTED | TASK_ERROR);
    let mut total = Duration::ZERO;
    for i in 0..iters {
        let due = Utc::now() + asyncz_core::chrono::Duration::milliseconds(3);
        scheduler
            .add_task(
                TaskBuilder::new()
                    .function(f::LATENESS_US)
                    .id(format!("l{batch}-{i}"))
                    .executor(POOL)
                    .mistrigger_grace_time(None)
                    .trigger(DateTrigger::new(due)),
            )
            .await
            .expect("add");
        let Event::Execution(e) = next_outcome(&mut rx).await else {
            continue;
        };
        let us = e.return_value.and_then(|v| v.as_i64()).unwrap_or(0);
        total += Duration::from_micros(us.max(0) as u64);
    }
    *batch += 1;
    total
}

/// Adds a paused no-op task for [`round_trip`]. Its `max_instances` is high because the
/// slot of a run is released just after its `TASK_EXECUTED` is emitted.
pub async fn add_round_trip_task(scheduler: &Scheduler) {
    scheduler
        .add_task(
            TaskBuilder::new()
                .function(f::OK)
                .id("rt")
                .max_instances(1000)
                .executor(POOL)
                .mistrigger_grace_time(None)
                .trigger(IntervalTrigger::new().every(Duration::from_secs(3600)))
                .paused(),
        )
        .await
        .expect("add");
}

/// `iters` sequential runs of a no-op (`run_task` → `TASK_EXECUTED`); returns the total.
pub async fn round_trip(scheduler: &Scheduler, iters: u64) -> Duration {
    let mut rx = scheduler.subscribe(TASK_EXECUTED | TASK_ERROR);
    let start = Instant::now();
    for _ in 0..iters {
        scheduler
            .run_task("rt", None, RunTaskOptions::default())
            .await
            .expect("run_task");
        next_outcome(&mut rx).await;
    }
    start.elapsed()
}
