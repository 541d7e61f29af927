//! The process-pool executor through the scheduler, with the test worker binary: throughput of
//! no-op tasks, latency from due time to start (measured inside the worker), the per-task
//! round trip with warm workers (target ≤ 200 µs), and cold start (a new pool's first task).
//!
//! `CARGO_TARGET_DIR=... cargo bench -p asyncz-executors-process`

#![allow(missing_docs)]

use asyncz_testkit::executor::case_functions;
#[path = "../../asyncz-executors-threadpool/benches/common/mod.rs"]
#[allow(dead_code)]
mod common;

use std::time::{Duration, Instant};

use asyncz_core::events::{TASK_ERROR, TASK_EXECUTED};
use asyncz_core::{RunTaskOptions, Scheduler};
use asyncz_executors_process::{ProcessPoolExecutor, ProcessPoolExecutorConfig};
use common::*;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const WORKER: &str = env!("CARGO_BIN_EXE_asyncz-process-test-worker");
const BURST: u64 = 1000;

fn process_pool(max_workers: u32) -> Scheduler {
    builder()
        .executor(
            POOL,
            ProcessPoolExecutor::with_config(
                ProcessPoolExecutorConfig::default()
                    .max_workers(max_workers)
                    .program(WORKER),
            ),
        )
        .build()
        .expect("build")
}

fn bench(c: &mut Criterion) {
    let rt = runtime();
    let name = "processpool";
    let scheduler = process_pool(2);
    rt.block_on(start(&scheduler));
    rt.block_on(add_round_trip_task(&scheduler));

    let mut group = c.benchmark_group("noop_throughput");
    group.throughput(Throughput::Elements(BURST));
    let mut batch = 0;
    group.bench_function(name, |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let scheduler = scheduler.clone();
            let mut total = Duration::ZERO;
            let mut n = batch;
            batch += iters;
            async move {
                for _ in 0..iters {
                    total += throughput(&scheduler, BURST, &mut n).await;
                }
                total
            }
        })
    });
    group.finish();

    let mut group = c.benchmark_group("due_to_start_latency");
    let mut batch = 0;
    group.bench_function(name, |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let scheduler = scheduler.clone();
            let mut n = batch;
            batch += 1;
            async move { due_to_start(&scheduler, iters, &mut n).await }
        })
    });
    group.finish();

    let mut group = c.benchmark_group("noop_round_trip");
    group.bench_function("processpool_warm", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let scheduler = scheduler.clone();
            async move { round_trip(&scheduler, iters).await }
        })
    });
    group.finish();
    rt.block_on(scheduler.shutdown(true)).expect("shutdown");

    let mut group = c.benchmark_group("processpool_cold_start");
    group.bench_function("first_task_of_a_new_pool", |b| {
        b.to_async(&rt).iter_custom(|iters| async move {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let scheduler = process_pool(1);
                start(&scheduler).await;
                add_round_trip_task(&scheduler).await;
                let mut rx = scheduler.subscribe(TASK_EXECUTED | TASK_ERROR);
                let started = Instant::now();
                scheduler
                    .run_task("rt", None, RunTaskOptions::default())
                    .await
                    .expect("run_task");
                let event = rx.recv().await.expect("an outcome");
                total += started.elapsed();
                assert_eq!(event.code(), TASK_EXECUTED, "{event:?}");
                scheduler.shutdown(true).await.expect("shutdown");
            }
            total
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
