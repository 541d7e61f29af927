//! Scheduler benchmarks (issue targets): add_task into a started scheduler holding 100k tasks,
//! and 100k no-op tasks all due at once dispatched and executed on the tokio executor.
//!
//! `cargo bench -p asyncz --bench scheduler`

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use asyncz::chrono::Utc;
use asyncz::events::TASK_EXECUTED;
use asyncz::{CallContext, DateTrigger, Scheduler, TaskBuilder};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

async fn started_with(n: usize) -> Scheduler {
    let scheduler = asyncz::builder().build().expect("scheduler");
    scheduler
        .register("noop", |_ctx: CallContext| ())
        .expect("register");
    scheduler.start().await.expect("start");
    let far = Utc::now() + asyncz::chrono::Duration::days(365);
    for i in 0..n {
        scheduler
            .add_task(
                TaskBuilder::new()
                    .function("noop")
                    .id(format!("pre-{i}"))
                    .trigger(DateTrigger::new(
                        far + asyncz::chrono::Duration::seconds(i as i64),
                    )),
            )
            .await
            .expect("add");
    }
    scheduler
}

fn add_task(c: &mut Criterion) {
    let rt = runtime();
    let scheduler = rt.block_on(started_with(100_000));
    let far = Utc::now() + asyncz::chrono::Duration::days(30);
    let mut group = c.benchmark_group("add_task");
    group.throughput(Throughput::Elements(1));
    let mut n = 0u64;
    group.bench_function("memory_store_100k_tasks", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let scheduler = scheduler.clone();
            let start_n = n;
            n += iters;
            async move {
                let start = Instant::now();
                for i in 0..iters {
                    scheduler
                        .add_task(
                            TaskBuilder::new()
                                .function("noop")
                                .trigger(DateTrigger::new(
                                    far + asyncz::chrono::Duration::milliseconds(
                                        (start_n + i) as i64,
                                    ),
                                )),
                        )
                        .await
                        .expect("add");
                }
                start.elapsed()
            }
        })
    });
    group.finish();
    rt.block_on(async { scheduler.shutdown(false).await.expect("shutdown") });
}

/// A scheduler with 100k due no-op tasks (half sync, half async), paused, and a notify that
/// fires when all have run.
async fn due_100k() -> (Scheduler, Arc<tokio::sync::Notify>) {
    let scheduler = asyncz::builder().build().expect("scheduler");
    scheduler
        .register("noop", |_ctx: CallContext| ())
        .expect("register");
    scheduler
        .register_async("noop-async", |_ctx: CallContext| async {})
        .expect("register");
    scheduler.start_paused().await.expect("start");
    let now = Utc::now();
    for i in 0..100_000 {
        scheduler
            .add_task(
                TaskBuilder::new()
                    .function(if i % 2 == 0 { "noop" } else { "noop-async" })
                    .mistrigger_grace_time(None)
                    .trigger(DateTrigger::new(now)),
            )
            .await
            .expect("add");
    }
    let done = Arc::new(AtomicUsize::new(0));
    let notify = Arc::new(tokio::sync::Notify::new());
    let (d, nt) = (Arc::clone(&done), Arc::clone(&notify));
    scheduler.add_listener(TASK_EXECUTED, move |_e| {
        if d.fetch_add(1, Ordering::Relaxed) + 1 == 100_000 {
            nt.notify_one();
        }
    });
    (scheduler, notify)
}

fn dispatch_once(rt: &tokio::runtime::Runtime, b: &mut criterion::Bencher<'_>) {
    b.iter_batched(
        || rt.block_on(due_100k()),
        |(scheduler, notify)| {
            rt.block_on(async {
                scheduler.resume().expect("resume");
                notify.notified().await;
                scheduler.shutdown(true).await.expect("shutdown");
            })
        },
        BatchSize::PerIteration,
    )
}

/// The 100k dispatch without a metrics recorder, then (with `--features prometheus`) with the
/// Prometheus recorder installed: the cost of the instrumentation off and on (issue 13: off
/// must stay within 5% of the code without it).
fn dispatch_100k_due(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("dispatch");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(100_000));
    group.bench_function("100k_due_noop_tasks_tokio_executor", |b| {
        dispatch_once(&rt, b)
    });
    #[cfg(feature = "prometheus")]
    {
        // Installed once, after the run without a recorder (the order criterion runs them).
        let _metrics = asyncz::prometheus::PrometheusMetrics::install().expect("recorder");
        group.bench_function(
            "100k_due_noop_tasks_tokio_executor_prometheus_recorder",
            |b| dispatch_once(&rt, b),
        );
    }
    group.finish();
}

criterion_group!(benches, add_task, dispatch_100k_due);
criterion_main!(benches);
