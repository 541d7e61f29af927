//! The executor cases about typed outcomes: whatever the executor, an error keeps its source
//! chain and a panic its location, in [`RunOutcome`] and in the spec's `exception` /
//! `traceback` fields.
#![allow(clippy::unwrap_used)]

use asyncz_core::events::{TaskExecutionEvent, TASK_ERROR, TASK_EXECUTED, TASK_MISSED};
use asyncz_core::{PanicReport, RunOutcome};

use super::case_functions as f;
use super::cases::{always, started, task};
use super::{assert_no_instance_leaks, outcome, ExecutorCase, ExecutorHarness, PoolOptions};

/// An error returned by the function is `RunOutcome::Failed` with its `Display` and the
/// `Display` of its `source()` chain; `traceback` shows the chain (or a backtrace, when
/// `RUST_BACKTRACE` asked for one).
pub async fn an_error_keeps_its_source_chain(harness: &dyn ExecutorHarness) {
    let scheduler = started(harness, &PoolOptions::default()).await;
    let mut rx = scheduler.subscribe(TASK_EXECUTED | TASK_ERROR | TASK_MISSED);
    scheduler
        .add_task(task(f::FAIL_WITH_CAUSE, "cause"))
        .await
        .unwrap();
    let event = outcome(&mut rx, "cause").await;
    assert_eq!(event.code, TASK_ERROR, "{event:?}");
    let RunOutcome::Failed(failure) = &event.outcome else {
        panic!("expected a failed outcome: {event:?}");
    };
    assert_eq!(failure.message, "cannot load the report");
    assert_eq!(failure.sources, ["disk on fire"]);
    assert_eq!(event.exception.as_deref(), Some("cannot load the report"));
    let traceback = event.traceback.as_deref().unwrap_or_default();
    match &failure.backtrace {
        Some(backtrace) => assert_eq!(traceback, backtrace),
        None => assert_eq!(
            traceback,
            "cannot load the report\n\nCaused by:\n    0: disk on fire"
        ),
    }
    assert_no_instance_leaks(&scheduler, "cause").await;
    scheduler.shutdown(true).await.unwrap();
}

fn assert_panicked_in_the_case_functions(event: &TaskExecutionEvent, message: &str) {
    assert_eq!(event.code, TASK_ERROR, "{event:?}");
    let RunOutcome::Panicked(PanicReport {
        message: said,
        location,
        backtrace,
        ..
    }) = &event.outcome
    else {
        panic!("expected a panicked outcome: {event:?}");
    };
    assert!(said.starts_with(message), "{said}");
    let location = location
        .as_ref()
        .unwrap_or_else(|| panic!("the panic has no location: {event:?}"));
    assert!(
        location.file.ends_with("executor_functions.rs") && location.line > 0,
        "the location is not the panic! in the case functions: {location}"
    );
    let exception = event.exception.as_deref().unwrap_or_default();
    assert!(
        exception.starts_with(&format!("panicked at {location}: {message}")),
        "{exception}"
    );
    let expected = match backtrace {
        Some(backtrace) => backtrace.clone(),
        None => format!("panicked at {location}"),
    };
    assert_eq!(event.traceback.as_deref(), Some(expected.as_str()));
}

/// A panic in a sync function is `RunOutcome::Panicked` with its message and its
/// `file:line:column`.
pub async fn a_panic_reports_its_message_and_location(harness: &dyn ExecutorHarness) {
    let scheduler = started(harness, &PoolOptions::default()).await;
    let mut rx = scheduler.subscribe(TASK_EXECUTED | TASK_ERROR | TASK_MISSED);
    scheduler.add_task(task(f::PANIC, "where")).await.unwrap();
    let event = outcome(&mut rx, "where").await;
    assert_panicked_in_the_case_functions(&event, "deliberate panic");
    assert_no_instance_leaks(&scheduler, "where").await;
    scheduler.shutdown(true).await.unwrap();
}

/// A panic in an async function after it awaited (so in a later poll, possibly on another
/// thread) still reports its location.
pub async fn a_panic_after_an_await_reports_its_location(harness: &dyn ExecutorHarness) {
    let scheduler = started(harness, &PoolOptions::default()).await;
    let mut rx = scheduler.subscribe(TASK_EXECUTED | TASK_ERROR | TASK_MISSED);
    scheduler
        .add_task(task(f::ASYNC_PANIC, "later"))
        .await
        .unwrap();
    let event = outcome(&mut rx, "later").await;
    assert_panicked_in_the_case_functions(&event, "deliberate async panic");
    assert_no_instance_leaks(&scheduler, "later").await;
    scheduler.add_task(task(f::OK, "after")).await.unwrap();
    assert_eq!(outcome(&mut rx, "after").await.code, TASK_EXECUTED);
    scheduler.shutdown(true).await.unwrap();
}

/// The outcome cases, with when they apply.
pub fn outcome_cases() -> Vec<ExecutorCase> {
    vec![
        ExecutorCase {
            name: "an_error_keeps_its_source_chain",
            applies: always,
            run: |harness| Box::pin(an_error_keeps_its_source_chain(harness)),
        },
        ExecutorCase {
            name: "a_panic_reports_its_message_and_location",
            applies: always,
            run: |harness| Box::pin(a_panic_reports_its_message_and_location(harness)),
        },
        ExecutorCase {
            name: "a_panic_after_an_await_reports_its_location",
            applies: always,
            run: |harness| Box::pin(a_panic_after_an_await_reports_its_location(harness)),
        },
    ]
}
