//! Event codes, order and fields.

use std::time::Duration;

use asyncz::chrono::Utc;
use asyncz::events::*;
use asyncz::{CallContext, DateTrigger, Event, TaskBuilder};

use crate::common::{names, until};

#[test]
fn event_codes_have_the_spec_bit_values() {
    let codes = [
        SCHEDULER_STARTED,
        SCHEDULER_SHUTDOWN,
        SCHEDULER_PAUSED,
        SCHEDULER_RESUMED,
        EXECUTOR_ADDED,
        EXECUTOR_REMOVED,
        STORE_ADDED,
        STORE_REMOVED,
        ALL_TASKS_REMOVED,
        TASK_ADDED,
        TASK_REMOVED,
        TASK_MODIFIED,
        TASK_EXECUTED,
        TASK_ERROR,
        TASK_MISSED,
        TASK_SUBMITTED,
        TASK_MAX_INSTANCES,
    ];
    for (i, code) in codes.iter().enumerate() {
        assert_eq!(*code, 1 << i);
    }
    assert_eq!(SCHEDULER_START, SCHEDULER_STARTED);
    assert_eq!(ALL_EVENTS, 131071);
    assert_eq!(codes.iter().fold(0, |a, c| a | c), ALL_EVENTS);
}

#[tokio::test]
async fn a_one_off_task_emits_added_started_submitted_executed_removed_in_order() {
    let scheduler = asyncz::builder().build().unwrap();
    scheduler
        .register("hello", |_ctx: CallContext| Ok::<_, String>("hi"))
        .unwrap();
    let mask = STORE_ADDED
        | TASK_ADDED
        | SCHEDULER_STARTED
        | TASK_SUBMITTED
        | TASK_EXECUTED
        | TASK_REMOVED;
    let mut rx = scheduler.subscribe(mask);
    let run_at = Utc::now() + asyncz::chrono::Duration::milliseconds(30);
    scheduler
        .add_task(
            TaskBuilder::new()
                .function("hello")
                .id("one-off")
                .trigger(DateTrigger::new(run_at)),
        )
        .await
        .unwrap();
    scheduler.start().await.unwrap();
    let events = until(&mut rx, TASK_REMOVED, Duration::from_secs(5)).await;
    assert_eq!(
        names(&events),
        [
            "STORE_ADDED",
            "TASK_ADDED",
            "SCHEDULER_STARTED",
            "TASK_SUBMITTED",
            "TASK_EXECUTED",
            "TASK_REMOVED"
        ]
    );
    match &events[4] {
        Event::Execution(e) => {
            assert_eq!(e.task_id, "one-off");
            // Scheduled times are whole microseconds, like every time asyncz keeps.
            assert_eq!(e.scheduled_run_time, asyncz::truncate_to_micros(run_at));
            assert_eq!(e.return_value, Some(serde_json::json!("hi")));
            assert_eq!(e.store.as_deref(), Some("default"));
        }
        other => panic!("expected an execution event, got {other:?}"),
    }
    match &events[3] {
        Event::Submission(s) => {
            assert_eq!(
                s.scheduled_run_times,
                vec![asyncz::truncate_to_micros(run_at)]
            );
            assert_eq!(s.source, SubmissionSource::Scheduled);
        }
        other => panic!("expected a submission event, got {other:?}"),
    }
    scheduler.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn listeners_only_see_codes_in_their_mask_and_can_be_removed() {
    let scheduler = asyncz::builder().build().unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let s = seen.clone();
    let id = scheduler.add_listener(SCHEDULER_STARTED | SCHEDULER_PAUSED, move |e| {
        s.lock().unwrap().push(e.code())
    });
    scheduler.start().await.unwrap();
    scheduler.pause().unwrap();
    assert!(scheduler.remove_listener(id));
    assert!(!scheduler.remove_listener(id));
    scheduler.resume().unwrap();
    scheduler.shutdown(true).await.unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        vec![SCHEDULER_STARTED, SCHEDULER_PAUSED]
    );
}

#[tokio::test]
async fn scheduler_events_name_the_store_or_executor_alias() {
    let scheduler = asyncz::builder().build().unwrap();
    let mut rx =
        scheduler.subscribe(STORE_ADDED | STORE_REMOVED | EXECUTOR_ADDED | EXECUTOR_REMOVED);
    scheduler.start().await.unwrap();
    scheduler
        .add_store("extra", std::sync::Arc::new(asyncz::MemoryStore::new()))
        .await
        .unwrap();
    scheduler.remove_store("extra", true).await.unwrap();
    let events = crate::common::drain(&mut rx);
    let described: Vec<(&str, Option<String>)> = events
        .iter()
        .map(|e| match e {
            Event::Scheduler(s) => (e.name(), s.alias.clone()),
            _ => (e.name(), None),
        })
        .collect();
    assert_eq!(
        described,
        vec![
            ("EXECUTOR_ADDED", Some("default".to_owned())),
            ("STORE_ADDED", Some("default".to_owned())),
            ("STORE_ADDED", Some("extra".to_owned())),
            ("STORE_REMOVED", Some("extra".to_owned())),
        ]
    );
    scheduler.shutdown(true).await.unwrap();
}
