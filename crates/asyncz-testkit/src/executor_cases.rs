//! The shared executor cases (issue 5, "Shared executor behaviour"), written once and run by
//! every executor crate against its own executor, through the scheduler. This module is meant
//! to move into `asyncz-testkit` as it is: each case is a plain `pub async fn` taking a
//! factory that builds a (stopped) scheduler whose executor under [`POOL`] is the one under
//! test, with the case functions of `case_functions` registered (in the parent, and for a
//! process pool in its workers too).

use std::time::{Duration, Instant};

use asyncz::chrono::Utc;
use asyncz::events::*;
use asyncz::{Event, IntervalTrigger, RunTaskOptions, Scheduler, TaskBuilder};
use tokio::sync::mpsc::UnboundedReceiver;

use super::case_functions as f;

/// The alias under which the factory installs the executor under test.
pub const POOL: &str = "pool";

/// What a case needs from the executor under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolOptions {
    /// Jobs that may run at once.
    pub max_workers: u32,
    /// Whether shutdown drops queued jobs.
    pub cancel_futures: bool,
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions {
            max_workers: 4,
            cancel_futures: false,
        }
    }
}

/// Builds a stopped scheduler with the executor under test at [`POOL`].
pub type Factory = dyn Fn(PoolOptions) -> Scheduler + Send + Sync;

async fn started(make: &Factory, options: PoolOptions) -> Scheduler {
    let scheduler = make(options);
    f::register(scheduler.functions()).expect("case functions register");
    scheduler.start().await.expect("scheduler starts");
    scheduler
}

fn task(function: &str, id: &str) -> TaskBuilder {
    TaskBuilder::new()
        .function(function)
        .id(id)
        .executor(POOL)
        .mistrigger_grace_time(None)
}

/// Events until `done` says so; panics after `timeout` with what was seen.
pub async fn until(
    rx: &mut UnboundedReceiver<Event>,
    timeout: Duration,
    mut done: impl FnMut(&Event) -> bool,
) -> Vec<Event> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut seen = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(e)) => {
                let stop = done(&e);
                seen.push(e);
                if stop {
                    return seen;
                }
            }
            Ok(None) => panic!("event channel closed; got {seen:?}"),
            Err(_) => panic!("timed out; got {seen:?}"),
        }
    }
}

/// The first execution outcome (`TASK_EXECUTED`, `TASK_ERROR`, `TASK_MISSED`) of `task_id`.
pub async fn outcome(
    rx: &mut UnboundedReceiver<Event>,
    task_id: &str,
) -> asyncz::events::TaskExecutionEvent {
    let events = until(
        rx,
        Duration::from_secs(20),
        |e| matches!(e, Event::Execution(x) if x.task_id == task_id),
    )
    .await;
    match events.into_iter().last() {
        Some(Event::Execution(x)) => x,
        other => panic!("expected an execution event, got {other:?}"),
    }
}

/// Waits until no run of `task_id` is counted as running (the slot is released when the job
/// ends, right after its last event).
pub async fn assert_no_instance_leaks(scheduler: &Scheduler, task_id: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while scheduler.running_instances(task_id) != 0 {
        assert!(
            Instant::now() < deadline,
            "task '{task_id}' still counts {} running instance(s)",
            scheduler.running_instances(task_id)
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// `TASK_EXECUTED` carries the function's return value.
pub async fn executed_event_carries_the_return_value(make: &Factory) {
    let scheduler = started(make, PoolOptions::default()).await;
    let mut rx = scheduler.subscribe(TASK_EXECUTED | TASK_ERROR | TASK_MISSED);
    scheduler
        .add_task(task(f::OK, "ok").arg(7).arg("seven"))
        .await
        .unwrap();
    let event = outcome(&mut rx, "ok").await;
    assert_eq!(event.code, TASK_EXECUTED, "{event:?}");
    assert_eq!(
        event.return_value,
        Some(serde_json::json!({"answer": 42, "args": [7, "seven"]}))
    );
    assert_no_instance_leaks(&scheduler, "ok").await;
    scheduler.shutdown(true).await.unwrap();
}

/// An async function runs to completion and reports its value.
pub async fn async_function_runs_to_completion(make: &Factory) {
    let scheduler = started(make, PoolOptions::default()).await;
    let mut rx = scheduler.subscribe(TASK_EXECUTED | TASK_ERROR | TASK_MISSED);
    scheduler
        .add_task(task(f::ASYNC_SLEEP, "async").arg(20))
        .await
        .unwrap();
    let event = outcome(&mut rx, "async").await;
    assert_eq!(event.code, TASK_EXECUTED, "{event:?}");
    assert_eq!(event.return_value, Some(serde_json::json!(20)));
    scheduler.shutdown(true).await.unwrap();
}

/// `TASK_ERROR` carries the error text, and the slot is released.
pub async fn error_event_carries_the_error_text(make: &Factory) {
    let scheduler = started(make, PoolOptions::default()).await;
    let mut rx = scheduler.subscribe(TASK_EXECUTED | TASK_ERROR | TASK_MISSED);
    scheduler.add_task(task(f::FAIL, "fail")).await.unwrap();
    let event = outcome(&mut rx, "fail").await;
    assert_eq!(event.code, TASK_ERROR, "{event:?}");
    assert_eq!(event.exception.as_deref(), Some("deliberate failure"));
    assert_eq!(event.traceback.as_deref(), Some("error"));
    assert_no_instance_leaks(&scheduler, "fail").await;
    scheduler.shutdown(true).await.unwrap();
}

/// A panic is a `TASK_ERROR` with the panic message; the executor keeps running.
pub async fn panic_is_an_error_with_the_panic_message(make: &Factory) {
    let scheduler = started(make, PoolOptions::default()).await;
    let mut rx = scheduler.subscribe(TASK_EXECUTED | TASK_ERROR | TASK_MISSED);
    scheduler.add_task(task(f::PANIC, "panic")).await.unwrap();
    let event = outcome(&mut rx, "panic").await;
    assert_eq!(event.code, TASK_ERROR, "{event:?}");
    let text = event.exception.unwrap_or_default();
    assert!(text.contains("deliberate panic"), "{text}");
    assert_eq!(event.traceback.as_deref(), Some("panic"));
    assert_no_instance_leaks(&scheduler, "panic").await;
    scheduler.add_task(task(f::OK, "after")).await.unwrap();
    assert_eq!(outcome(&mut rx, "after").await.code, TASK_EXECUTED);
    scheduler.shutdown(true).await.unwrap();
}

/// With `max_instances = 1`, a run due while the previous one still runs is
/// `TASK_MAX_INSTANCES`; once the task is gone no instance is counted.
pub async fn run_beyond_max_instances_is_skipped(make: &Factory) {
    let scheduler = started(make, PoolOptions::default()).await;
    let mut rx = scheduler.subscribe(TASK_MAX_INSTANCES | TASK_EXECUTED);
    scheduler
        .add_task(
            task(f::SLEEP, "slow").arg(400).max_instances(1).trigger(
                IntervalTrigger::new()
                    .every(Duration::from_millis(100))
                    .start_at(Utc::now()),
            ),
        )
        .await
        .unwrap();
    until(&mut rx, Duration::from_secs(20), |e| {
        e.code() == TASK_MAX_INSTANCES && e.task_id() == Some("slow")
    })
    .await;
    scheduler.delete_task("slow", None).await.unwrap();
    assert_no_instance_leaks(&scheduler, "slow").await;
    scheduler.shutdown(true).await.unwrap();
}

/// Failed and panicking runs release their slot: with `max_instances = 1`, run after run is
/// executed, never skipped.
pub async fn failed_runs_never_leak_instances(make: &Factory) {
    let scheduler = started(make, PoolOptions::default()).await;
    let mut rx = scheduler.subscribe(TASK_EXECUTED | TASK_ERROR | TASK_MAX_INSTANCES);
    for (function, id) in [(f::FAIL, "fails"), (f::PANIC, "panics")] {
        scheduler
            .add_task(
                task(function, id)
                    .max_instances(1)
                    .trigger(IntervalTrigger::new().every(Duration::from_secs(3600)))
                    .paused(),
            )
            .await
            .unwrap();
        for _ in 0..3 {
            scheduler
                .run_task(id, None, RunTaskOptions::default())
                .await
                .unwrap();
            let event = outcome(&mut rx, id).await;
            assert_eq!(event.code, TASK_ERROR, "{event:?}");
            assert_no_instance_leaks(&scheduler, id).await;
        }
    }
    scheduler.shutdown(true).await.unwrap();
}

/// A run that waits in the executor's queue past its `mistrigger_grace_time` is
/// `TASK_MISSED` (queueing delay counts, as upstream).
pub async fn run_queued_past_its_grace_time_is_missed(make: &Factory) {
    let options = PoolOptions {
        max_workers: 1,
        ..PoolOptions::default()
    };
    let scheduler = started(make, options).await;
    let mut rx = scheduler.subscribe(TASK_EXECUTED | TASK_ERROR | TASK_MISSED);
    let mut submitted = scheduler.subscribe(TASK_SUBMITTED);
    scheduler
        .add_task(task(f::SLEEP, "busy").arg(600))
        .await
        .unwrap();
    // Let "busy" take the only worker before "late" queues behind it.
    until(&mut submitted, Duration::from_secs(5), |e| {
        e.code() == TASK_SUBMITTED
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    scheduler
        .add_task(task(f::OK, "late").mistrigger_grace_time(Some(Duration::from_millis(150))))
        .await
        .unwrap();
    let event = outcome(&mut rx, "late").await;
    assert_eq!(event.code, TASK_MISSED, "{event:?}");
    assert_no_instance_leaks(&scheduler, "late").await;
    scheduler.shutdown(true).await.unwrap();
}

/// `shutdown(wait = true)` returns only after running and queued jobs have ended.
pub async fn shutdown_with_wait_waits_for_running_and_queued_jobs(make: &Factory) {
    let options = PoolOptions {
        max_workers: 1,
        ..PoolOptions::default()
    };
    let scheduler = started(make, options).await;
    let mut rx = scheduler.subscribe(TASK_EXECUTED | TASK_ERROR | TASK_MISSED);
    scheduler
        .add_task(task(f::SLEEP, "running").arg(300))
        .await
        .unwrap();
    scheduler.add_task(task(f::OK, "queued")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    scheduler.shutdown(true).await.unwrap();
    let mut executed = Vec::new();
    while let Ok(e) = rx.try_recv() {
        assert_eq!(e.code(), TASK_EXECUTED, "{e:?}");
        executed.extend(e.task_id().map(str::to_owned));
    }
    // Which of the two starts first is the executor's business (tokio's is not FIFO).
    executed.sort();
    assert_eq!(executed, ["queued", "running"]);
    assert_no_instance_leaks(&scheduler, "running").await;
}

/// `shutdown(wait = false)` returns promptly while a job still runs; the job ends on its own
/// and releases its slot.
pub async fn shutdown_without_wait_returns_promptly(make: &Factory) {
    let scheduler = started(make, PoolOptions::default()).await;
    let mut rx = scheduler.subscribe(TASK_EXECUTED | TASK_ERROR | TASK_MISSED);
    scheduler
        .add_task(task(f::SLEEP, "long").arg(800))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let started_at = Instant::now();
    scheduler.shutdown(false).await.unwrap();
    let took = started_at.elapsed();
    assert!(
        took < Duration::from_millis(300),
        "shutdown(false) took {took:?}"
    );
    assert_eq!(outcome(&mut rx, "long").await.code, TASK_EXECUTED);
    assert_no_instance_leaks(&scheduler, "long").await;
}

/// With `cancel_futures`, shutdown drops the queued jobs (no execution event, slot released)
/// and still waits for the running one.
pub async fn cancel_futures_drops_queued_jobs(make: &Factory) {
    let options = PoolOptions {
        max_workers: 1,
        cancel_futures: true,
    };
    let scheduler = started(make, options).await;
    let mut rx = scheduler.subscribe(TASK_EXECUTED | TASK_ERROR | TASK_MISSED);
    scheduler
        .add_task(task(f::SLEEP, "running").arg(300))
        .await
        .unwrap();
    for id in ["queued-1", "queued-2"] {
        scheduler.add_task(task(f::OK, id)).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    scheduler.shutdown(true).await.unwrap();
    let mut executed = Vec::new();
    while let Ok(e) = rx.try_recv() {
        executed.extend(e.task_id().map(str::to_owned));
    }
    assert_eq!(executed, ["running"]);
    for id in ["running", "queued-1", "queued-2"] {
        assert_no_instance_leaks(&scheduler, id).await;
    }
}

/// Declares one `#[tokio::test]` per shared case, each calling the case with `$factory`
/// (an expression of type `&Factory`).
macro_rules! executor_cases {
    ($factory:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                executor_cases::$case($factory).await;
            }
        )*
    };
}

/// Every case that every executor must pass.
macro_rules! common_executor_cases {
    ($factory:expr) => {
        executor_cases!($factory;
            executed_event_carries_the_return_value,
            async_function_runs_to_completion,
            error_event_carries_the_error_text,
            panic_is_an_error_with_the_panic_message,
            run_beyond_max_instances_is_skipped,
            failed_runs_never_leak_instances,
            run_queued_past_its_grace_time_is_missed,
            shutdown_with_wait_waits_for_running_and_queued_jobs,
            shutdown_without_wait_returns_promptly,
        );
    };
}
