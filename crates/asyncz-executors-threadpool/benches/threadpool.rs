//! The thread-pool executor beside the tokio executor, through the scheduler: throughput of
//! no-op tasks, latency from due time to start, and a sequential no-op round trip.
//!
//! `CARGO_TARGET_DIR=... cargo bench -p asyncz-executors-threadpool`

#![allow(missing_docs)]

use asyncz_testkit::executor::case_functions;
#[path = "common/mod.rs"]
#[allow(dead_code)]
mod common;

use std::time::Duration;

use asyncz_core::Scheduler;
use asyncz_executors_threadpool::ThreadPoolExecutor;
use asyncz_executors_tokio::TokioExecutor;
use common::*;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const BURST: u64 = 1000;

fn executors() -> Vec<(&'static str, Scheduler)> {
    vec![
        (
            "tokio",
            builder()
                .executor(POOL, TokioExecutor::new())
                .build()
                .expect("build"),
        ),
        (
            "threadpool",
            builder()
                .executor(POOL, ThreadPoolExecutor::new())
                .build()
                .expect("build"),
        ),
    ]
}

fn bench(c: &mut Criterion) {
    let rt = runtime();
    for (name, scheduler) in executors() {
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
        group.bench_function(name, |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let scheduler = scheduler.clone();
                async move { round_trip(&scheduler, iters).await }
            })
        });
        group.finish();
        rt.block_on(scheduler.shutdown(true)).expect("shutdown");
    }
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
