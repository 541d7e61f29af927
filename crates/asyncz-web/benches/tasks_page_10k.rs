//! The dashboard's task list and the API's list over 10 000 tasks, server time (the router
//! through `tower::ServiceExt::oneshot`, body collected): in memory and in SQLite, the first
//! page, a late page and a sorted page. The target is under 200 ms a page. A bench binary
//! (`harness = false`), not a timed test: `cargo bench -p asyncz-web --bench tasks_page_10k`.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use asyncz::{CallContext, IntervalTrigger, Scheduler, SqlStore, SqlStoreConfig, TaskBuilder};
use asyncz_web::{router, WebConfig};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

const TASKS: usize = 10_000;
const ROUNDS: usize = 15;

async fn seed(scheduler: &Scheduler) {
    scheduler.register("f", |_: CallContext| {}).unwrap();
    scheduler.start_paused().await.unwrap();
    let began = Instant::now();
    for i in 0..TASKS {
        let mut task = TaskBuilder::new()
            .id(format!("task-{i:05}"))
            .name(format!("report {}", i % 97))
            .function("f")
            .trigger(IntervalTrigger::new().every(Duration::from_secs(60 + i as u64)));
        if i % 10 == 0 {
            task = task.paused();
        }
        scheduler.add_task(task).await.unwrap();
    }
    println!("  seeded {TASKS} tasks in {:?}", began.elapsed());
}

async fn measure(app: &axum::Router, path: &str) {
    let mut times = Vec::new();
    let mut bytes = 0;
    for _ in 0..ROUNDS {
        let began = Instant::now();
        let response = app
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        bytes = response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .len();
        times.push(began.elapsed());
    }
    times.sort();
    println!(
        "  GET {path:<45} min {:>9.2?}  median {:>9.2?}  max {:>9.2?}  ({bytes} bytes)",
        times[0],
        times[ROUNDS / 2],
        times[ROUNDS - 1]
    );
}

async fn bench(label: &str, scheduler: Scheduler) {
    println!("{label}:");
    seed(&scheduler).await;
    let app = router(scheduler.clone(), WebConfig::new().without_auth());
    for path in [
        "/tasks",
        "/tasks?page=190",
        "/tasks?sort_by=name&desc=true",
        "/tasks?q=report%2042&state=scheduled",
        "/api/v1/tasks?per_page=50",
    ] {
        measure(&app, path).await;
    }
    scheduler.remove_all_tasks(None).await.unwrap();
    scheduler.shutdown(false).await.unwrap();
}

fn main() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        bench("memory", asyncz::builder().build().unwrap()).await;
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("tasks.db").display());
        let scheduler = asyncz::builder()
            .store("default", SqlStore::new(SqlStoreConfig::new(url)).unwrap())
            .build()
            .unwrap();
        bench("sqlite", scheduler).await;
    });
}
