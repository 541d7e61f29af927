//! Store throughput with 10k stored tasks, per store, in one run: add_task, update_task and
//! get_due_tasks (100 of the 10k due). Servers come from `ASYNCZ_TEST_*_URL` (stores whose
//! variable is unset are left out).
//!
//! `cargo bench -p asyncz --features full --bench stores`

use std::sync::Arc;
use std::time::{Duration, Instant};

use asyncz::chrono::{TimeZone, Utc};
use asyncz::{
    Callable, FileStore, FileStoreConfig, IntervalTrigger, MemoryStore, MongoStore,
    MongoStoreConfig, RedisStore, RedisStoreConfig, SqlStore, SqlStoreConfig, Store, StoreContext,
    Task,
};
use criterion::{criterion_group, criterion_main, Criterion};

const STORED: usize = 10_000;

fn context() -> StoreContext {
    StoreContext::new(
        "bench",
        Arc::new(asyncz::default_plugins()),
        Arc::new(asyncz::FunctionRegistry::new()),
    )
}

fn task(id: &str, offset_s: i64) -> Task {
    let t0 = Utc
        .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .expect("date");
    let trigger = Arc::new(IntervalTrigger::new_at(t0).minutes(1).start_at(t0));
    Task::new(id, Callable::registered("bench.noop"), trigger)
        .with_next_run_time(Some(t0 + asyncz::chrono::Duration::seconds(offset_s)))
}

fn stores(dir: &std::path::Path) -> Vec<(&'static str, Arc<dyn Store>)> {
    let mut out: Vec<(&'static str, Arc<dyn Store>)> = vec![
        ("memory", Arc::new(MemoryStore::new())),
        (
            "file",
            Arc::new(FileStore::new(FileStoreConfig::new(dir.join("files")))),
        ),
    ];
    if let Ok(s) = SqlStore::new(SqlStoreConfig::new(format!(
        "sqlite://{}/bench.db",
        dir.display()
    ))) {
        out.push(("sqlite", Arc::new(s)));
    }
    let var = |v: &str| std::env::var(v).ok().filter(|s| !s.is_empty());
    if let Some(url) = var("ASYNCZ_TEST_POSTGRES_URL") {
        let config = SqlStoreConfig::new(url).tablename("asyncz_bench");
        if let Ok(s) = SqlStore::new(config) {
            out.push(("postgres", Arc::new(s)));
        }
    }
    if let Some(url) = var("ASYNCZ_TEST_MYSQL_URL") {
        let config = SqlStoreConfig::new(url).tablename("asyncz_bench");
        if let Ok(s) = SqlStore::new(config) {
            out.push(("mysql", Arc::new(s)));
        }
    }
    if let Some(url) = var("ASYNCZ_TEST_REDIS_URL") {
        let config = RedisStoreConfig::new(url)
            .tasks_key("asyncz.bench.tasks")
            .run_times_key("asyncz.bench.run_times");
        if let Ok(s) = RedisStore::new(config) {
            out.push(("redis", Arc::new(s)));
        }
    }
    if let Some(url) = var("ASYNCZ_TEST_MONGO_URL") {
        let config = MongoStoreConfig::new(url).database("asyncz_bench");
        out.push(("mongo", Arc::new(MongoStore::new(config))));
    }
    out
}

fn bench_stores(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut group = c.benchmark_group("stores_10k");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    for (name, store) in stores(dir.path()) {
        let ready: asyncz::Result<()> = rt.block_on(async {
            store.start(context()).await?;
            store.remove_all_tasks().await?;
            for i in 0..STORED {
                // 100 tasks due at t0 + 50 s; the rest later.
                store
                    .add_task(&task(&format!("s{i:05}"), 100 + i as i64))
                    .await?;
            }
            Ok(())
        });
        if let Err(e) = ready {
            eprintln!("{name}: skipped ({e})");
            continue;
        }
        let mut n = 0u64;
        group.bench_function(format!("{name}/add_task"), |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let store = Arc::clone(&store);
                let first = n;
                n += iters;
                async move {
                    let start = Instant::now();
                    for i in 0..iters {
                        store
                            .add_task(&task(&format!("a{}", first + i), 1_000_000))
                            .await
                            .expect("add");
                    }
                    start.elapsed()
                }
            })
        });
        group.bench_function(format!("{name}/update_task"), |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let store = Arc::clone(&store);
                async move {
                    let start = Instant::now();
                    for i in 0..iters {
                        let id = format!("s{:05}", i as usize % STORED);
                        store
                            .update_task(&task(&id, 100 + (i % 5000) as i64))
                            .await
                            .expect("update");
                    }
                    start.elapsed()
                }
            })
        });
        group.bench_function(format!("{name}/get_due_tasks_100_of_10k"), |b| {
            let due_at = Utc
                .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
                .single()
                .expect("date")
                + asyncz::chrono::Duration::seconds(199);
            b.to_async(&rt).iter(|| {
                let store = Arc::clone(&store);
                async move { store.get_due_tasks(due_at).await.expect("due").len() }
            })
        });
        let _ = rt.block_on(async {
            store.remove_all_tasks().await?;
            store.shutdown().await
        });
    }
    group.finish();
}

criterion_group!(benches, bench_stores);
criterion_main!(benches);
