//! Typed run outcomes through the public API: what a task function's error or panic becomes,
//! and how an outcome looks on the wire.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use asyncz_core::chrono::{TimeZone, Utc};
use asyncz_core::events::{TaskExecutionEvent, TASK_ERROR, TASK_EXECUTED, TASK_MISSED};
use asyncz_core::{
    catch_panic, catch_panic_async, Event, IntoTaskOutput, PanicReport, RunOutcome, TaskError,
    TaskFailure,
};
use serde_json::json;

/// An error with a cause, as applications write them.
#[derive(Debug)]
struct LoadError(std::io::Error);

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("cannot load the report")
    }
}

impl std::error::Error for LoadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

fn failure_of(output: impl IntoTaskOutput) -> TaskFailure {
    output.into_task_output().unwrap_err().to_failure()
}

#[test]
fn a_returned_error_keeps_its_source_chain() {
    let failure = failure_of(Err::<(), _>(LoadError(std::io::Error::other(
        "disk on fire",
    ))));
    assert_eq!(failure.message, "cannot load the report");
    assert_eq!(failure.sources, ["disk on fire"]);
    assert_eq!(
        failure.chain_text(),
        "cannot load the report\n\nCaused by:\n    0: disk on fire"
    );
}

#[test]
fn strings_boxed_errors_and_task_errors_still_convert() {
    assert_eq!(failure_of(Err::<(), _>("plain")).message, "plain");
    assert_eq!(
        failure_of(Err::<(), _>("owned".to_owned())).message,
        "owned"
    );
    assert_eq!(
        failure_of(Err::<(), _>(TaskError::new("mine"))).message,
        "mine"
    );
    let boxed: Box<dyn std::error::Error + Send + Sync> =
        Box::new(LoadError(std::io::Error::other("inner")));
    let failure = failure_of(Err::<(), _>(boxed));
    assert_eq!(
        (failure.message.as_str(), failure.sources.as_slice()),
        ("cannot load the report", &["inner".to_owned()][..])
    );
}

#[test]
fn question_mark_turns_any_error_into_a_task_error_keeping_its_chain() {
    fn read() -> Result<u32, TaskError> {
        Err(LoadError(std::io::Error::other("gone")))?;
        Ok(1)
    }
    let error = read().unwrap_err();
    assert_eq!(error.to_string(), "cannot load the report");
    assert!(error.as_error().downcast_ref::<LoadError>().is_some());
    assert_eq!(error.to_failure().sources, ["gone"]);
}

#[test]
fn a_caught_panic_reports_its_message_and_location() {
    let (line, caught) = (line!(), catch_panic(|| -> u32 { panic!("kaboom {}", 7) }));
    let report = caught.unwrap_err();
    assert_eq!(report.message, "kaboom 7");
    let location = report.location.clone().unwrap();
    assert_eq!((location.file.as_str(), location.line), (file!(), line));
    assert_eq!(
        RunOutcome::Panicked(report).exception().unwrap(),
        format!("panicked at {location}: kaboom 7")
    );
    assert_eq!(catch_panic(|| 5).unwrap(), 5);
}

#[test]
fn a_panic_in_a_later_poll_of_an_async_run_reports_its_location() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let line = line!() + 4;
    let report = runtime.block_on(async {
        let run = tokio::spawn(catch_panic_async(Box::pin(async {
            tokio::task::yield_now().await;
            panic!("later")
        })));
        run.await.unwrap().unwrap_err()
    });
    assert_eq!(report.message, "later");
    assert_eq!(report.location.unwrap().line, line);
}

#[test]
fn a_non_string_payload_is_named_as_such() {
    let report = catch_panic(|| std::panic::panic_any(42_u8)).unwrap_err();
    assert_eq!(report.message, "non-string panic payload");
}

#[test]
fn each_outcome_has_the_spec_code_and_fields() {
    let at = Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap();
    let event = |outcome| TaskExecutionEvent::new("t", Some("default".into()), at, outcome);
    let ok = event(RunOutcome::returned(json!(7)));
    assert_eq!(
        (ok.code, ok.return_value, ok.exception, ok.traceback),
        (TASK_EXECUTED, Some(json!(7)), None, None)
    );
    let failed = event(RunOutcome::failed(&LoadError(std::io::Error::other("x"))));
    assert_eq!(failed.code, TASK_ERROR);
    assert_eq!(failed.exception.as_deref(), Some("cannot load the report"));
    assert_eq!(
        failed.traceback.as_deref(),
        Some("cannot load the report\n\nCaused by:\n    0: x")
    );
    let timed_out = event(RunOutcome::TimedOut {
        timeout: Duration::from_millis(1500),
        detail: "did not finish within 1.5s".into(),
    });
    assert_eq!(
        (timed_out.code, timed_out.exception.as_deref()),
        (TASK_ERROR, Some("did not finish within 1.5s"))
    );
    let died = event(RunOutcome::WorkerDied {
        signal: Some(9),
        exit_code: None,
        detail: "worker process 12 exited with signal 9 (SIGKILL)".into(),
    });
    assert_eq!(died.code, TASK_ERROR);
    let missed = event(RunOutcome::missed(asyncz_core::chrono::Duration::seconds(
        3,
    )));
    assert_eq!(
        (missed.code, missed.exception, &missed.outcome),
        (
            TASK_MISSED,
            None,
            &RunOutcome::Missed {
                late_by: Duration::from_secs(3)
            }
        )
    );
}

#[test]
fn outcomes_serialize_tagged_by_kind_and_read_back() {
    let cases = [
        (
            RunOutcome::returned(json!({"rows": 3})),
            json!({"kind": "returned", "value": {"rows": 3}}),
        ),
        (
            RunOutcome::Failed(TaskFailure::new("outer").caused_by(&std::io::Error::other("io"))),
            json!({"kind": "failed", "message": "outer", "sources": ["io"], "backtrace": null}),
        ),
        (
            RunOutcome::Panicked(PanicReport::new("boom")),
            json!({"kind": "panicked", "message": "boom", "location": null, "backtrace": null}),
        ),
        (
            RunOutcome::TimedOut {
                timeout: Duration::from_millis(250),
                detail: "slow".into(),
            },
            json!({"kind": "timed_out", "timeout": 0.25, "detail": "slow"}),
        ),
        (
            RunOutcome::WorkerDied {
                signal: Some(6),
                exit_code: None,
                detail: "aborted".into(),
            },
            json!({"kind": "worker_died", "signal": 6, "exit_code": null, "detail": "aborted"}),
        ),
        (
            RunOutcome::Missed {
                late_by: Duration::from_millis(1500),
            },
            json!({"kind": "missed", "late_by": 1.5}),
        ),
    ];
    for (outcome, wire) in cases {
        assert_eq!(serde_json::to_value(&outcome).unwrap(), wire);
        let back: RunOutcome = serde_json::from_value(wire).unwrap();
        assert_eq!(back, outcome);
    }
}

#[test]
fn an_execution_event_serializes_the_spec_fields_and_the_outcome() {
    let at = Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap();
    let event = Event::Execution(TaskExecutionEvent::new(
        "report",
        Some("default".into()),
        at,
        RunOutcome::Failed(TaskFailure::new("disk full")),
    ));
    assert_eq!(
        serde_json::to_value(&event).unwrap(),
        json!({
            "code": TASK_ERROR,
            "task_id": "report",
            "store": "default",
            "scheduled_run_time": "2026-03-01T09:00:00Z",
            "return_value": null,
            "exception": "disk full",
            "traceback": "disk full",
            "outcome": {"kind": "failed", "message": "disk full", "sources": [], "backtrace": null},
        })
    );
}
