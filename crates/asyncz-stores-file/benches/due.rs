//! `get_due_tasks` with 100 of 10k tasks due, through the index, beside `get_all_tasks`, which
//! reads every file as `get_due_tasks` did before the index (the "before" number, measured in
//! the same run).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use asyncz_core::chrono::Duration;
use asyncz_core::Store;
use asyncz_stores_file::{FileStore, FileStoreConfig};
use asyncz_testkit::{sample_task, store_context, t0};
use criterion::{criterion_group, criterion_main, Criterion};

const STORED: usize = 10_000;
const DUE: usize = 100;

fn bench_due(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::new(FileStoreConfig::new(dir.path()));
    runtime.block_on(async {
        store.start(store_context()).await.unwrap();
        for i in 0..STORED {
            // 100 tasks due at t0 + 50 s, the rest an hour later.
            let offset = if i % (STORED / DUE) == 0 {
                50
            } else {
                3600 + i as i64
            };
            let task = sample_task(
                &format!("task-{i:05}"),
                Some(t0() + Duration::seconds(offset)),
            );
            store.add_task(&task).await.unwrap();
        }
    });
    let due_at = t0() + Duration::seconds(60);
    let mut group = c.benchmark_group("file");
    group.sample_size(10);
    group.bench_function("get_due_tasks_100_of_10k", |b| {
        b.to_async(&runtime).iter(|| {
            let store = store.clone();
            async move {
                let due = store.get_due_tasks(due_at).await.unwrap();
                assert_eq!(due.len(), DUE);
            }
        });
    });
    group.bench_function("get_next_run_time_of_10k", |b| {
        b.to_async(&runtime).iter(|| {
            let store = store.clone();
            async move { store.get_next_run_time().await.unwrap() }
        });
    });
    group.bench_function(
        "read_every_file_10k (get_all_tasks, the old get_due_tasks)",
        |b| {
            b.to_async(&runtime).iter(|| {
                let store = store.clone();
                async move { store.get_all_tasks().await.unwrap().len() }
            });
        },
    );
    group.finish();
}

criterion_group!(benches, bench_due);
criterion_main!(benches);
