//! The drain with a timeout: running jobs finish within it, or are cancelled at it and
//! reported as `TASK_ERROR` events.

use std::sync::Arc;
use std::time::{Duration, Instant};

use asyncz::events::{Event, TASK_ERROR, TASK_EXECUTED};
use asyncz::{CallContext, DateTrigger, Scheduler, TaskBuilder, CANCELLED_BY_SHUTDOWN};

/// A started scheduler running one task that sleeps `job`, once it has started.
async fn running_job(job: Duration, timeout: Duration) -> Scheduler {
    let scheduler = asyncz::builder().shutdown_timeout(timeout).build().unwrap();
    let started = Arc::new(tokio::sync::Notify::new());
    let go = Arc::clone(&started);
    scheduler
        .register_async("sleep", move |_ctx: CallContext| {
            let go = Arc::clone(&go);
            async move {
                go.notify_one();
                tokio::time::sleep(job).await;
            }
        })
        .unwrap();
    scheduler
        .add_task(
            TaskBuilder::new()
                .id("sleeper")
                .function("sleep")
                .trigger(DateTrigger::new(asyncz::chrono::Utc::now())),
        )
        .await
        .unwrap();
    scheduler.start().await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), started.notified())
        .await
        .unwrap();
    scheduler
}

#[tokio::test]
async fn a_drain_waits_for_a_job_that_ends_within_the_timeout() {
    let scheduler = running_job(Duration::from_millis(100), Duration::from_secs(5)).await;
    let mut rx = scheduler.subscribe(TASK_EXECUTED | TASK_ERROR);
    let began = Instant::now();
    let report = scheduler.shutdown_gracefully().await.unwrap();
    assert!(began.elapsed() < Duration::from_secs(2));
    assert_eq!(report.finished, 1);
    assert!(report.cancelled.is_empty());
    assert!(report.stopped);
    let event = rx.try_recv().expect("the run's outcome");
    assert_eq!(event.code(), TASK_EXECUTED);
}

#[tokio::test]
async fn a_drain_cancels_what_is_left_at_the_timeout_and_reports_it() {
    let scheduler = running_job(Duration::from_secs(60), Duration::from_millis(200)).await;
    let mut rx = scheduler.subscribe(TASK_EXECUTED | TASK_ERROR);
    let began = Instant::now();
    let report = scheduler.shutdown_gracefully().await.unwrap();
    let took = began.elapsed();
    assert!(took >= Duration::from_millis(200), "{took:?}");
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert_eq!(report.finished, 0);
    assert_eq!(report.cancelled.len(), 1);
    assert_eq!(report.cancelled[0].task_id, "sleeper");
    match rx.try_recv().expect("the cancelled run's outcome") {
        Event::Execution(e) => {
            assert_eq!(e.code, TASK_ERROR);
            assert_eq!(e.exception.as_deref(), Some(CANCELLED_BY_SHUTDOWN));
        }
        other => panic!("unexpected event {other:?}"),
    }
    assert!(scheduler.runs_in_flight().is_empty());
}

#[tokio::test]
async fn shutdown_signal_installs_inside_a_runtime() {
    let scheduler = asyncz::builder().build().unwrap();
    let signal = scheduler.shutdown_signal().unwrap();
    // Not resolved without a signal.
    assert!(tokio::time::timeout(Duration::from_millis(20), signal)
        .await
        .is_err());
}
