//! The executor cases. Each is a plain async function over the harness that panics with what
//! it saw when the executor fails it; [`executor_cases`] lists them with when they apply.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use asyncz_core::chrono::Utc;
use asyncz_core::events::{TaskExecutionEvent, *};
use asyncz_core::{Event, RunOutcome, RunTaskOptions, Scheduler, TaskBuilder};
use asyncz_triggers::IntervalTrigger;

use super::case_functions as f;
use super::{
    assert_no_instance_leaks, assert_no_live_workers, live_workers, outcome, until,
    ExecutorCapabilities, ExecutorCase, ExecutorHarness, PoolOptions, Workers, POOL,
};

pub(super) async fn started(harness: &dyn ExecutorHarness, options: &PoolOptions) -> Scheduler {
    let scheduler = harness
        .scheduler(options)
        .unwrap_or_else(|e| panic!("the harness cannot build a scheduler: {e}"));
    f::register(scheduler.functions()).expect("case functions register");
    scheduler.start().await.expect("scheduler starts");
    scheduler
}

pub(super) fn task(function: &str, id: &str) -> TaskBuilder {
    TaskBuilder::new()
        .function(function)
        .id(id)
        .executor(POOL)
        .mistrigger_grace_time(None)
}

/// `TASK_EXECUTED` carries the function's return value.
pub async fn executed_event_carries_the_return_value(harness: &dyn ExecutorHarness) {
    let scheduler = started(harness, &PoolOptions::default()).await;
    let mut rx = scheduler.subscribe(TASK_EXECUTED | TASK_ERROR | TASK_MISSED);
    scheduler
        .add_task(task(f::OK, "ok").arg(7).arg("seven"))
        .await
        .unwrap();
    let event = outcome(&mut rx, "ok").await;
    assert_eq!(event.code, TASK_EXECUTED, "{event:?}");
    let value = serde_json::json!({"answer": 42, "args": [7, "seven"]});
    assert_eq!(event.return_value.as_ref(), Some(&value));
    assert_eq!(event.outcome, RunOutcome::returned(value));
    assert_no_instance_leaks(&scheduler, "ok").await;
    scheduler.shutdown(true).await.unwrap();
}

/// An async function runs to completion and reports its value.
pub async fn async_function_runs_to_completion(harness: &dyn ExecutorHarness) {
    let scheduler = started(harness, &PoolOptions::default()).await;
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
pub async fn error_event_carries_the_error_text(harness: &dyn ExecutorHarness) {
    let scheduler = started(harness, &PoolOptions::default()).await;
    let mut rx = scheduler.subscribe(TASK_EXECUTED | TASK_ERROR | TASK_MISSED);
    scheduler.add_task(task(f::FAIL, "fail")).await.unwrap();
    let event = outcome(&mut rx, "fail").await;
    assert_eq!(event.code, TASK_ERROR, "{event:?}");
    assert_eq!(event.exception.as_deref(), Some("deliberate failure"));
    let RunOutcome::Failed(failure) = &event.outcome else {
        panic!("expected a failed outcome: {event:?}");
    };
    assert_eq!(failure.message, "deliberate failure");
    assert!(failure.sources.is_empty(), "{failure:?}");
    // A backtrace when RUST_BACKTRACE asks for one, else the source chain (here the message).
    let expected = failure.backtrace.as_deref().unwrap_or("deliberate failure");
    assert_eq!(event.traceback.as_deref(), Some(expected));
    assert_no_instance_leaks(&scheduler, "fail").await;
    scheduler.shutdown(true).await.unwrap();
}

/// A panic is a `TASK_ERROR` with the panic message; the executor keeps running.
pub async fn panic_is_an_error_with_the_panic_message(harness: &dyn ExecutorHarness) {
    let scheduler = started(harness, &PoolOptions::default()).await;
    let mut rx = scheduler.subscribe(TASK_EXECUTED | TASK_ERROR | TASK_MISSED);
    scheduler.add_task(task(f::PANIC, "panic")).await.unwrap();
    let event = outcome(&mut rx, "panic").await;
    assert_eq!(event.code, TASK_ERROR, "{event:?}");
    let text = event.exception.clone().unwrap_or_default();
    assert!(text.contains("deliberate panic"), "{text}");
    assert!(
        matches!(&event.outcome, RunOutcome::Panicked(p) if p.message.starts_with("deliberate panic")),
        "{event:?}"
    );
    assert_no_instance_leaks(&scheduler, "panic").await;
    scheduler.add_task(task(f::OK, "after")).await.unwrap();
    assert_eq!(outcome(&mut rx, "after").await.code, TASK_EXECUTED);
    scheduler.shutdown(true).await.unwrap();
}

/// With `max_instances = 1`, a run due while the previous one still runs is
/// `TASK_MAX_INSTANCES`; once the task is gone no instance is counted.
pub async fn run_beyond_max_instances_is_skipped(harness: &dyn ExecutorHarness) {
    let scheduler = started(harness, &PoolOptions::default()).await;
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
pub async fn failed_runs_never_leak_instances(harness: &dyn ExecutorHarness) {
    let scheduler = started(harness, &PoolOptions::default()).await;
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
pub async fn run_queued_past_its_grace_time_is_missed(harness: &dyn ExecutorHarness) {
    let options = PoolOptions {
        max_workers: 1,
        ..PoolOptions::default()
    };
    let scheduler = started(harness, &options).await;
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
    match event.outcome {
        RunOutcome::Missed { late_by } => assert!(
            late_by > Duration::from_millis(150),
            "missed by {late_by:?}, within its grace time"
        ),
        other => panic!("expected a missed outcome: {other:?}"),
    }
    assert_no_instance_leaks(&scheduler, "late").await;
    scheduler.shutdown(true).await.unwrap();
}

/// `shutdown(wait = true)` returns only after running and queued jobs have ended.
pub async fn shutdown_with_wait_waits_for_running_and_queued_jobs(harness: &dyn ExecutorHarness) {
    let options = PoolOptions {
        max_workers: 1,
        ..PoolOptions::default()
    };
    let scheduler = started(harness, &options).await;
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
/// (or, for an executor that stops running jobs, is reported stopped by the shutdown) and
/// releases its slot.
pub async fn shutdown_without_wait_returns_promptly(harness: &dyn ExecutorHarness) {
    let stops = harness
        .capabilities()
        .shutdown_without_wait_stops_running_jobs;
    let scheduler = started(harness, &PoolOptions::default()).await;
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
    let event = outcome(&mut rx, "long").await;
    if stops {
        assert_stopped_by_shutdown(&event);
    } else {
        assert_eq!(event.code, TASK_EXECUTED, "{event:?}");
    }
    assert_no_instance_leaks(&scheduler, "long").await;
}

fn assert_stopped_by_shutdown(event: &TaskExecutionEvent) {
    assert_eq!(event.code, TASK_ERROR, "{event:?}");
    let text = event.exception.as_deref().unwrap_or_default();
    assert!(
        text.contains("stopped by shutdown(wait = false)"),
        "the error does not say the shutdown stopped the run: {text}"
    );
}

/// With `cancel_futures`, shutdown drops the queued jobs (no execution event, slot released)
/// and still waits for the running one.
pub async fn cancel_futures_drops_queued_jobs(harness: &dyn ExecutorHarness) {
    let options = PoolOptions {
        max_workers: 1,
        cancel_futures: true,
        ..PoolOptions::default()
    };
    let scheduler = started(harness, &options).await;
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

/// The `max_instances` slot is free when a run's outcome event is emitted, so a listener that
/// re-runs the task at once is never refused: with `max_instances = 1`, 20 runs in a chain,
/// each started from the previous one's outcome listener, all execute.
pub async fn an_outcome_listener_can_rerun_the_task_at_once(harness: &dyn ExecutorHarness) {
    const RUNS: usize = 20;
    let scheduler = started(harness, &PoolOptions::default()).await;
    scheduler
        .add_task(
            task(f::OK, "again")
                .max_instances(1)
                .trigger(IntervalTrigger::new().every(Duration::from_secs(3600)))
                .paused(),
        )
        .await
        .unwrap();
    let mut rx = scheduler.subscribe(TASK_EXECUTED | TASK_ERROR | TASK_MAX_INSTANCES);
    let (refused_tx, mut refused) = tokio::sync::mpsc::unbounded_channel::<String>();
    let running_at_outcome = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&running_at_outcome);
    let weak = scheduler.clone();
    let runtime = tokio::runtime::Handle::current();
    let listener = scheduler.add_listener(TASK_EXECUTED | TASK_ERROR, move |event| {
        if event.task_id() != Some("again") {
            return;
        }
        let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.push(weak.running_instances("again"));
        if seen.len() < RUNS {
            let (scheduler, refused) = (weak.clone(), refused_tx.clone());
            runtime.spawn(async move {
                if let Err(e) = scheduler
                    .run_task("again", None, RunTaskOptions::default())
                    .await
                {
                    let _ = refused.send(e.to_string());
                }
            });
        }
    });
    scheduler
        .run_task("again", None, RunTaskOptions::default())
        .await
        .unwrap();
    let mut executed = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while executed < RUNS {
        tokio::select! {
            event = rx.recv() => match event {
                Some(Event::Execution(e)) if e.code == TASK_EXECUTED => executed += 1,
                Some(other) => panic!("run {} of {RUNS}: {other:?}", executed + 1),
                None => panic!("event channel closed after {executed} runs"),
            },
            Some(why) = refused.recv() => {
                panic!("run {} of {RUNS} was refused from the outcome listener: {why}", executed + 1)
            }
            _ = tokio::time::sleep_until(deadline) => panic!("only {executed} of {RUNS} runs in 30 s"),
        }
    }
    scheduler.remove_listener(listener);
    let counts = running_at_outcome
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    assert!(
        counts.iter().all(|&n| n == 0),
        "running instances seen by the outcome listener (must be 0: the slot is released \
         before the outcome event): {counts:?}"
    );
    scheduler.shutdown(true).await.unwrap();
}

/// Waits until the executor's workers show up (so the reaping checks cannot pass on an
/// executor whose workers the suite does not see).
async fn until_workers_appear(workers: Workers, marker: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match live_workers(workers, marker) {
            Some(live) if !live.is_empty() => return,
            None => return,
            Some(_) => {}
        }
        assert!(
            Instant::now() < deadline,
            "no worker (thread name prefix or {}={marker}) seen within 10 s",
            super::MARKER_ENV
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// After `shutdown(wait = true)` returns, nothing of the executor is alive: no thread, no
/// worker process.
pub async fn no_worker_is_left_after_a_waiting_shutdown(harness: &dyn ExecutorHarness) {
    let workers = harness.capabilities().workers;
    let options = PoolOptions {
        max_workers: 3,
        ..PoolOptions::default()
    };
    let scheduler = started(harness, &options).await;
    let mut rx = scheduler.subscribe(TASK_EXECUTED | TASK_ERROR | TASK_MISSED);
    let mut submitted = scheduler.subscribe(TASK_SUBMITTED);
    for i in 0..3 {
        scheduler
            .add_task(task(f::SLEEP, &format!("reap-{i}")).arg(200))
            .await
            .unwrap();
    }
    let mut count = 0;
    until(&mut submitted, Duration::from_secs(10), |e| {
        count += usize::from(e.code() == TASK_SUBMITTED);
        count == 3
    })
    .await;
    until_workers_appear(workers, &options.marker).await;
    scheduler.shutdown(true).await.unwrap();
    // A joined thread can linger in /proc for a moment while the kernel finishes its exit;
    // one that was not joined would stay.
    assert_no_live_workers(workers, &options.marker, Duration::from_secs(1)).await;
    let mut executed = Vec::new();
    while let Ok(e) = rx.try_recv() {
        assert_eq!(e.code(), TASK_EXECUTED, "{e:?}");
        executed.extend(e.task_id().map(str::to_owned));
    }
    executed.sort();
    assert_eq!(executed, ["reap-0", "reap-1", "reap-2"]);
}

/// After `shutdown(wait = false)`, nothing of the executor outlives the running job: an
/// executor that stops running jobs leaves nothing within 5 s of the shutdown (the job would
/// run for 30 s); one that lets them finish leaves nothing within 5 s of the job's end.
pub async fn no_worker_outlives_a_shutdown_without_wait(harness: &dyn ExecutorHarness) {
    let caps = harness.capabilities();
    let stops = caps.shutdown_without_wait_stops_running_jobs;
    let options = PoolOptions::default();
    let scheduler = started(harness, &options).await;
    let mut rx = scheduler.subscribe(TASK_EXECUTED | TASK_ERROR | TASK_MISSED);
    let mut submitted = scheduler.subscribe(TASK_SUBMITTED);
    let ms: u64 = if stops { 30_000 } else { 300 };
    scheduler
        .add_task(task(f::SLEEP, "running").arg(ms))
        .await
        .unwrap();
    until(&mut submitted, Duration::from_secs(10), |e| {
        e.code() == TASK_SUBMITTED
    })
    .await;
    until_workers_appear(caps.workers, &options.marker).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    scheduler.shutdown(false).await.unwrap();
    if stops {
        assert_no_live_workers(caps.workers, &options.marker, Duration::from_secs(5)).await;
        assert_stopped_by_shutdown(&outcome(&mut rx, "running").await);
    } else {
        assert_eq!(outcome(&mut rx, "running").await.code, TASK_EXECUTED);
        assert_no_live_workers(caps.workers, &options.marker, Duration::from_secs(5)).await;
    }
    assert_no_instance_leaks(&scheduler, "running").await;
}

pub(super) fn always(_: &ExecutorCapabilities) -> bool {
    true
}

fn has_cancel_futures(caps: &ExecutorCapabilities) -> bool {
    caps.cancel_futures
}

fn has_own_workers(caps: &ExecutorCapabilities) -> bool {
    caps.workers != Workers::Runtime
}

macro_rules! cases {
    ($($case:ident if $applies:expr),* $(,)?) => {
        vec![$(ExecutorCase {
            name: stringify!($case),
            applies: $applies,
            run: |harness| Box::pin($case(harness)),
        }),*]
    };
}

/// Every executor case, with when it applies.
pub fn executor_cases() -> Vec<ExecutorCase> {
    let mut cases = cases![
        executed_event_carries_the_return_value if always,
        async_function_runs_to_completion if always,
        error_event_carries_the_error_text if always,
        panic_is_an_error_with_the_panic_message if always,
        run_beyond_max_instances_is_skipped if always,
        failed_runs_never_leak_instances if always,
        an_outcome_listener_can_rerun_the_task_at_once if always,
        run_queued_past_its_grace_time_is_missed if always,
        shutdown_with_wait_waits_for_running_and_queued_jobs if always,
        shutdown_without_wait_returns_promptly if always,
        cancel_futures_drops_queued_jobs if has_cancel_futures,
        no_worker_is_left_after_a_waiting_shutdown if has_own_workers,
        no_worker_outlives_a_shutdown_without_wait if has_own_workers,
    ];
    cases.extend(super::outcome_cases::outcome_cases());
    cases
}
