//! The tokio and debug executors through the scheduler.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use asyncz::chrono::Utc;
use asyncz::events::*;
use asyncz::{CallContext, IntervalTrigger, TaskBuilder, TokioExecutor, TokioExecutorConfig};

use crate::common::until;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_with_wait_lets_a_running_sync_job_finish() {
    let scheduler = asyncz::builder().build().unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let d = Arc::clone(&done);
    scheduler
        .register("slow", move |_ctx: CallContext| {
            std::thread::sleep(Duration::from_millis(200));
            d.store(true, Ordering::SeqCst);
        })
        .unwrap();
    scheduler.start().await.unwrap();
    let mut rx = scheduler.subscribe(TASK_SUBMITTED);
    scheduler
        .add_task(TaskBuilder::new().function("slow"))
        .await
        .unwrap();
    until(&mut rx, TASK_SUBMITTED, Duration::from_secs(5)).await;
    scheduler.shutdown(true).await.unwrap();
    assert!(
        done.load(Ordering::SeqCst),
        "shutdown(wait=true) returned before the job ended"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocking_sync_task_does_not_delay_async_tasks() {
    let scheduler = asyncz::builder().build().unwrap();
    let ticks = Arc::new(AtomicUsize::new(0));
    let t = Arc::clone(&ticks);
    scheduler
        .register("block", |_ctx: CallContext| {
            std::thread::sleep(Duration::from_millis(600))
        })
        .unwrap();
    scheduler
        .register_async("tick", move |_ctx: CallContext| {
            let t = Arc::clone(&t);
            async move {
                t.fetch_add(1, Ordering::SeqCst);
            }
        })
        .unwrap();
    scheduler.start().await.unwrap();
    let mut rx = scheduler.subscribe(TASK_EXECUTED);
    scheduler
        .add_task(TaskBuilder::new().function("block").id("block"))
        .await
        .unwrap();
    scheduler
        .add_task(
            TaskBuilder::new().function("tick").trigger(
                IntervalTrigger::new()
                    .every(Duration::from_millis(100))
                    .start_at(Utc::now()),
            ),
        )
        .await
        .unwrap();
    loop {
        let events = until(&mut rx, TASK_EXECUTED, Duration::from_secs(5)).await;
        if events.iter().any(|e| e.task_id() == Some("block")) {
            break;
        }
    }
    assert!(
        ticks.load(Ordering::SeqCst) >= 3,
        "only {} ticks while a sync task blocked",
        ticks.load(Ordering::SeqCst)
    );
    scheduler.shutdown(false).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_workers_bounds_concurrent_jobs() {
    let scheduler = asyncz::builder()
        .executor(
            "default",
            TokioExecutor::with_config(TokioExecutorConfig::default().max_workers(1)),
        )
        .build()
        .unwrap();
    let (now, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (n, p) = (Arc::clone(&now), Arc::clone(&peak));
    scheduler
        .register_async("work", move |_ctx: CallContext| {
            let (n, p) = (Arc::clone(&n), Arc::clone(&p));
            async move {
                let running = n.fetch_add(1, Ordering::SeqCst) + 1;
                p.fetch_max(running, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(30)).await;
                n.fetch_sub(1, Ordering::SeqCst);
            }
        })
        .unwrap();
    scheduler.start().await.unwrap();
    let done = Arc::new(AtomicUsize::new(0));
    let d = Arc::clone(&done);
    let notify = Arc::new(tokio::sync::Notify::new());
    let nt = Arc::clone(&notify);
    scheduler.add_listener(TASK_EXECUTED, move |_| {
        if d.fetch_add(1, Ordering::SeqCst) + 1 == 4 {
            nt.notify_one();
        }
    });
    for _ in 0..4 {
        scheduler
            .add_task(
                TaskBuilder::new()
                    .function("work")
                    .mistrigger_grace_time(None),
            )
            .await
            .unwrap();
    }
    tokio::time::timeout(Duration::from_secs(5), notify.notified())
        .await
        .unwrap();
    assert_eq!(peak.load(Ordering::SeqCst), 1);
    scheduler.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn the_debug_executor_runs_jobs_inline() {
    let scheduler = asyncz::builder()
        .executor("default", asyncz::DebugExecutor::new())
        .build()
        .unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let r = Arc::clone(&ran);
    scheduler
        .register("inline", move |_ctx: CallContext| {
            r.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    scheduler.start().await.unwrap();
    scheduler
        .add_task(TaskBuilder::new().function("inline").id("i").paused())
        .await
        .unwrap();
    scheduler
        .run_task("i", None, asyncz::RunTaskOptions::default())
        .await
        .unwrap();
    assert_eq!(
        ran.load(Ordering::SeqCst),
        1,
        "done by the time run_task returns"
    );
    scheduler.shutdown(true).await.unwrap();
}
