//! Runtime modes: inside the caller's tokio runtime, on the scheduler's own runtime, and from
//! plain synchronous code.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use asyncz::chrono::Utc;
use asyncz::events::*;
use asyncz::{CallContext, DateTrigger, Error, IntervalTrigger, TaskBuilder};

#[test]
fn a_blocking_scheduler_runs_tasks_from_plain_sync_code() {
    let scheduler = asyncz::blocking(asyncz::builder()).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    scheduler
        .register("sync-job", move |ctx: CallContext| {
            let _ = tx.send(ctx.task_id);
        })
        .unwrap();
    let id = scheduler
        .add_task(
            TaskBuilder::new().function("sync-job").id("s").trigger(
                IntervalTrigger::new()
                    .every(Duration::from_millis(1000))
                    .start_at(Utc::now()),
            ),
        )
        .unwrap();
    assert_eq!(id, "s");
    {
        let _guard = scheduler.start_guard().unwrap();
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), "s");
        assert!(scheduler.get_task_info("s", None).unwrap().is_some());
    }
    assert_eq!(
        scheduler.state(),
        asyncz::SchedulerState::Stopped,
        "the guard shut it down"
    );
}

#[tokio::test]
async fn a_blocking_call_inside_an_async_runtime_is_an_error_not_a_deadlock() {
    let scheduler = asyncz::blocking(asyncz::builder()).unwrap();
    let err = scheduler.start().unwrap_err();
    assert!(matches!(err, Error::Runtime(_)), "{err}");
}

#[tokio::test(flavor = "current_thread")]
async fn an_isolated_runtime_keeps_running_tasks_while_the_caller_blocks() {
    let scheduler = asyncz::builder().isolated_runtime(true).build().unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let r = Arc::clone(&ran);
    scheduler
        .register("tick", move |_ctx: CallContext| {
            r.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    scheduler
        .add_task(
            TaskBuilder::new()
                .function("tick")
                .trigger(DateTrigger::new(Utc::now())),
        )
        .await
        .unwrap();
    scheduler.start().await.unwrap();
    // Block the caller's only thread: the scheduler's own runtime still runs the task.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while ran.load(Ordering::SeqCst) == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(ran.load(Ordering::SeqCst), 1);
    scheduler.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn a_task_added_while_running_wakes_the_engine_without_polling() {
    let scheduler = asyncz::builder().build().unwrap();
    scheduler.register("tick", |_ctx: CallContext| ()).unwrap();
    scheduler.start().await.unwrap();
    let mut rx = scheduler.subscribe(TASK_EXECUTED);
    // Nothing is scheduled: the engine sleeps until woken, with no polling grid.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let run_at = Utc::now() + asyncz::chrono::Duration::milliseconds(50);
    scheduler
        .add_task(
            TaskBuilder::new()
                .function("tick")
                .trigger(DateTrigger::new(run_at)),
        )
        .await
        .unwrap();
    crate::common::until(&mut rx, TASK_EXECUTED, Duration::from_secs(5)).await;
    assert!(Utc::now() >= run_at, "never early");
    scheduler.shutdown(true).await.unwrap();
}
