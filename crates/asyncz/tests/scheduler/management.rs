//! Task management through the public API: add_task options, update_task validation,
//! reschedule, pause, resume, run_task, delete, inspection and the task handle.

use std::time::Duration;

use asyncz::chrono::{self, Utc};
use asyncz::events::*;
use asyncz::{
    CallContext, DateTrigger, Error, Event, IntervalTrigger, RunTaskOptions, ScheduleState,
    TaskBuilder, TaskInfoQuery, TaskUpdate,
};
use serde_json::json;

use crate::common::{drain, manual_scheduler, t0};

fn mins(m: i64) -> chrono::Duration {
    chrono::Duration::minutes(m)
}

async fn started() -> (asyncz::Scheduler, asyncz::ManualClock) {
    let (scheduler, clock) = manual_scheduler(t0());
    scheduler.register("job", |_ctx: CallContext| ()).unwrap();
    scheduler.register("other", |_ctx: CallContext| ()).unwrap();
    scheduler.start().await.unwrap();
    (scheduler, clock)
}

#[tokio::test]
async fn add_task_applies_defaults_id_name_and_trigger_first_run() {
    let (s, _c) = started().await;
    let h = s
        .add_task(
            TaskBuilder::new()
                .function("job")
                .trigger(IntervalTrigger::new().minutes(10).start_at(t0())),
        )
        .await
        .unwrap();
    assert_eq!(h.id().len(), 32, "the default id is a uuid4 in hex");
    assert!(h.id().chars().all(|c| c.is_ascii_hexdigit()));
    let info = h.snapshot().await.unwrap();
    assert_eq!(info.name, "job", "the default name is the function's name");
    assert_eq!(info.callable_reference.as_deref(), Some("job"));
    assert_eq!(info.executor, "default");
    assert_eq!(info.store_alias, "default");
    assert_eq!(info.schedule_state, ScheduleState::Scheduled);
    assert_eq!(info.next_run_time, Some(t0()));
    assert!(info.coalesce);
    assert_eq!(info.max_instances, 1);
    assert_eq!(info.mistrigger_grace_time, Some(Duration::from_secs(1)));
    assert_eq!(info.trigger_alias, "interval");
    assert_eq!(info.trigger_name, "IntervalTrigger");
    assert!(info.submitted && !info.pending && !info.paused);
    s.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn add_task_takes_every_option_of_the_spec() {
    let (s, _c) = started().await;
    let at = t0() + mins(3);
    let h = s
        .add_task(
            TaskBuilder::new()
                .function("job")
                .trigger_alias(
                    "interval",
                    json!({"minutes": 5, "start_at": "2026-03-01T12:00:00Z"}),
                )
                .arg(1)
                .arg("two")
                .kwarg("three", json!({"nested": [3]}))
                .id("full")
                .name("Full options")
                .mistrigger_grace_time(None)
                .coalesce(false)
                .max_instances(4)
                .next_run_time(at)
                .store("default")
                .executor("default"),
        )
        .await
        .unwrap();
    let task = s.get_task("full", None).await.unwrap().unwrap();
    assert_eq!(task.args(), [json!(1), json!("two")]);
    assert_eq!(task.kwargs().get("three"), Some(&json!({"nested": [3]})));
    let info = h.snapshot().await.unwrap();
    assert_eq!(info.name, "Full options");
    assert_eq!(info.mistrigger_grace_time, None);
    assert!(!info.coalesce);
    assert_eq!(info.max_instances, 4);
    assert_eq!(
        info.next_run_time,
        Some(at),
        "next_run_time overrides the trigger"
    );
    s.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn a_task_added_paused_has_no_next_run_time() {
    let (s, _c) = started().await;
    let h = s
        .add_task(
            TaskBuilder::new()
                .function("job")
                .id("p")
                .trigger(IntervalTrigger::new().minutes(1).start_at(t0()))
                .paused(),
        )
        .await
        .unwrap();
    let info = h.snapshot().await.unwrap();
    assert_eq!(info.schedule_state, ScheduleState::Paused);
    assert!(info.paused && info.next_run_time.is_none());
    s.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn duplicate_ids_conflict_unless_replace_existing() {
    let (s, _c) = started().await;
    let def = || {
        TaskBuilder::new()
            .function("job")
            .id("dup")
            .trigger(DateTrigger::new(t0() + mins(1)))
    };
    s.add_task(def()).await.unwrap();
    let err = s.add_task(def()).await.unwrap_err();
    assert!(
        matches!(err, Error::ConflictId { ref task_id } if task_id == "dup"),
        "{err}"
    );
    s.add_task(def().name("replaced").replace_existing(true))
        .await
        .unwrap();
    let info = s.get_task_info("dup", None).await.unwrap().unwrap();
    assert_eq!(info.name, "replaced");
    s.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn a_task_definition_can_be_submitted_only_once() {
    let (s, _c) = started().await;
    let def = TaskBuilder::new()
        .function("job")
        .id("once")
        .trigger(DateTrigger::new(t0() + mins(1)));
    s.add_task(def.clone()).await.unwrap();
    let err = s.add_task(def.clone()).await.unwrap_err();
    assert!(matches!(err, Error::AlreadySubmitted { .. }), "{err}");
    // A template derives fresh definitions (the decorator-mode counterpart).
    let derived = def.derive().id("twice");
    s.add_task(derived).await.unwrap();
    assert_eq!(s.get_tasks(None).await.unwrap().len(), 2);
    s.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn bad_task_definitions_are_clear_errors() {
    let (s, _c) = started().await;
    let cases: Vec<(TaskBuilder, &str)> = vec![
        (TaskBuilder::new(), "function"),
        (
            TaskBuilder::new().function("nope"),
            "no function is registered under the name 'nope'",
        ),
        (
            TaskBuilder::new().function("job").store("missing"),
            "store 'missing': no such store",
        ),
        (
            TaskBuilder::new().function("job").executor("missing"),
            "executor 'missing': no such executor",
        ),
        (
            TaskBuilder::new().function("job").max_instances(0),
            "invalid max_instances",
        ),
        (
            TaskBuilder::new()
                .function("job")
                .mistrigger_grace_time(Some(Duration::ZERO)),
            "invalid mistrigger_grace_time",
        ),
        (TaskBuilder::new().function("job").id(""), "invalid id"),
        (TaskBuilder::new().function("job").name(" "), "invalid name"),
        (
            TaskBuilder::new()
                .function("job")
                .trigger_alias("nosuch", json!({})),
            "trigger 'nosuch'",
        ),
        (
            TaskBuilder::new()
                .function("job")
                .trigger_alias("interval", json!(5)),
            "invalid trigger",
        ),
    ];
    for (builder, expected) in cases {
        let err = s.add_task(builder).await.unwrap_err().to_string();
        assert!(err.contains(expected), "expected '{expected}' in '{err}'");
    }
    assert!(
        s.get_tasks(None).await.unwrap().is_empty(),
        "nothing was added"
    );
    s.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn update_task_validates_like_the_spec() {
    let (s, _c) = started().await;
    s.add_task(
        TaskBuilder::new()
            .function("job")
            .id("u")
            .trigger(DateTrigger::new(t0() + mins(1))),
    )
    .await
    .unwrap();
    let bad = [
        (TaskUpdate::new().name(""), "invalid name"),
        (
            TaskUpdate::new().mistrigger_grace_time(Some(Duration::ZERO)),
            "invalid mistrigger_grace_time",
        ),
        (TaskUpdate::new().max_instances(0), "invalid max_instances"),
        (TaskUpdate::new().function("nope"), "'nope'"),
        (TaskUpdate::new().executor("nope"), "executor 'nope'"),
    ];
    for (update, expected) in bad {
        let err = s
            .update_task("u", None, update)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains(expected), "expected '{expected}' in '{err}'");
    }
    let from_map = |v: serde_json::Value| TaskUpdate::from_map(v.as_object().unwrap());
    let err = from_map(json!({"id": "new"})).unwrap_err().to_string();
    assert!(
        err.contains("id") && err.contains("may not be changed"),
        "{err}"
    );
    let err = from_map(json!({"bogus": 1, "also": 2}))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("not modifiable attributes of Task: also, bogus"),
        "{err}"
    );
    let err = from_map(json!({"max_instances": "0"}))
        .unwrap_err()
        .to_string();
    assert!(err.contains("max_instances"), "{err}");
    assert_eq!(
        s.get_task_info("u", None).await.unwrap().unwrap().name,
        "job",
        "nothing changed"
    );

    let mut rx = s.subscribe(TASK_MODIFIED);
    let update = from_map(
        json!({"name": "renamed", "coalesce": "false", "max_instances": "3",
                                  "mistrigger_grace_time": "2.5", "function": "other"}),
    )
    .unwrap();
    let info = s.update_task("u", None, update).await.unwrap();
    assert_eq!(info.name, "renamed");
    assert!(!info.coalesce);
    assert_eq!(info.max_instances, 3);
    assert_eq!(
        info.mistrigger_grace_time,
        Some(Duration::from_millis(2500))
    );
    assert_eq!(info.callable_reference.as_deref(), Some("other"));
    assert_eq!(drain(&mut rx).len(), 1);
    let err = s
        .update_task("missing", None, TaskUpdate::new().coalesce(true))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TaskLookup { .. }));
    s.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn reschedule_pause_and_resume() {
    let (s, clock) = started().await;
    let h = s
        .add_task(
            TaskBuilder::new()
                .function("job")
                .id("r")
                .trigger(IntervalTrigger::new().minutes(10).start_at(t0() + mins(10))),
        )
        .await
        .unwrap();
    let info = h
        .reschedule(IntervalTrigger::new().minutes(1).start_at(t0() + mins(1)))
        .await
        .unwrap();
    assert_eq!(info.next_run_time, Some(t0() + mins(1)));
    assert_eq!(
        info.trigger_description,
        IntervalTrigger::new()
            .minutes(1)
            .start_at(t0() + mins(1))
            .to_string()
    );
    let info = s
        .reschedule_task(
            "r",
            None,
            asyncz::TriggerSpec::alias(
                "interval",
                json!({"minutes": 2, "start_at": "2026-03-01T12:02:00Z"}),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(info.next_run_time, Some(t0() + mins(2)));
    let info = h.pause().await.unwrap();
    assert_eq!(info.schedule_state, ScheduleState::Paused);
    clock.set(t0() + mins(5) + chrono::Duration::seconds(30));
    let info = h.resume().await.unwrap().unwrap();
    assert_eq!(
        info.next_run_time,
        Some(t0() + mins(6)),
        "resumed from now on the trigger's grid"
    );
    s.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn resuming_a_task_whose_schedule_is_over_removes_it() {
    let (s, clock) = started().await;
    s.add_task(
        TaskBuilder::new()
            .function("job")
            .id("ending")
            .trigger(
                IntervalTrigger::new()
                    .minutes(1)
                    .start_at(t0())
                    .end_at(t0() + mins(2)),
            )
            .paused(),
    )
    .await
    .unwrap();
    clock.set(t0() + mins(5));
    let mut rx = s.subscribe(TASK_REMOVED);
    assert!(s.resume_task("ending", None).await.unwrap().is_none());
    assert_eq!(drain(&mut rx).len(), 1);
    assert!(s.get_task("ending", None).await.unwrap().is_none());
    s.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn run_task_runs_now_and_moves_the_next_run_strictly_forward() {
    let (s, _clock) = started().await;
    s.add_task(
        TaskBuilder::new()
            .function("job")
            .id("now")
            .trigger(IntervalTrigger::new().minutes(30).start_at(t0() + mins(30))),
    )
    .await
    .unwrap();
    let mut rx = s.subscribe(TASK_SUBMITTED | TASK_EXECUTED);
    let unforced = s
        .run_task(
            "now",
            None,
            RunTaskOptions {
                force: false,
                remove_finished: true,
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(unforced.next_run_time, Some(t0() + mins(30)));
    assert!(
        drain(&mut rx).is_empty(),
        "nothing due and not forced: nothing runs"
    );
    let info = s
        .run_task("now", None, RunTaskOptions::default())
        .await
        .unwrap()
        .unwrap();
    let events = drain(&mut rx);
    assert_eq!(
        crate::common::names(&events),
        ["TASK_SUBMITTED", "TASK_EXECUTED"]
    );
    match &events[0] {
        Event::Submission(sub) => {
            assert_eq!(sub.source, SubmissionSource::Manual);
            assert_eq!(sub.scheduled_run_times, vec![t0()]);
        }
        other => panic!("{other:?}"),
    }
    assert!(info.next_run_time.unwrap() > t0(), "strictly forward");
    s.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn run_task_on_a_finished_schedule_removes_or_pauses() {
    let (s, _clock) = started().await;
    for id in ["remove", "keep"] {
        s.add_task(
            TaskBuilder::new()
                .function("job")
                .id(id)
                .trigger(DateTrigger::new(t0() + mins(1))),
        )
        .await
        .unwrap();
    }
    assert!(s
        .run_task("remove", None, RunTaskOptions::default())
        .await
        .unwrap()
        .is_none());
    assert!(s.get_task("remove", None).await.unwrap().is_none());
    let kept = s
        .run_task(
            "keep",
            None,
            RunTaskOptions {
                force: true,
                remove_finished: false,
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.schedule_state, ScheduleState::Paused);
    assert!(matches!(
        s.run_task("missing", None, RunTaskOptions::default()).await,
        Err(Error::TaskLookup { .. })
    ));
    s.shutdown(true).await.unwrap();
    assert!(matches!(
        s.run_task("keep", None, RunTaskOptions::default()).await,
        Err(Error::SchedulerNotRunning)
    ));
}

#[tokio::test]
async fn delete_and_remove_all_tasks() {
    let (s, _clock) = started().await;
    s.add_store("second", std::sync::Arc::new(asyncz::MemoryStore::new()))
        .await
        .unwrap();
    for (id, store) in [("a", "default"), ("b", "default"), ("c", "second")] {
        s.add_task(
            TaskBuilder::new()
                .function("job")
                .id(id)
                .store(store)
                .trigger(DateTrigger::new(t0() + mins(1))),
        )
        .await
        .unwrap();
    }
    let mut rx = s.subscribe(TASK_REMOVED | ALL_TASKS_REMOVED);
    s.delete_task("a", None).await.unwrap();
    assert!(matches!(
        s.delete_task("a", None).await,
        Err(Error::TaskLookup { .. })
    ));
    assert!(matches!(
        s.delete_task("c", Some("default")).await,
        Err(Error::TaskLookup { .. })
    ));
    s.remove_all_tasks(Some("default")).await.unwrap();
    let left: Vec<String> = s
        .get_tasks(None)
        .await
        .unwrap()
        .iter()
        .map(|t| t.id().to_owned())
        .collect();
    assert_eq!(left, ["c"]);
    s.remove_all_tasks(None).await.unwrap();
    assert!(s.get_tasks(None).await.unwrap().is_empty());
    assert_eq!(
        crate::common::names(&drain(&mut rx)),
        ["TASK_REMOVED", "ALL_TASKS_REMOVED", "ALL_TASKS_REMOVED"]
    );
    s.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn get_task_infos_filters_and_sorts() {
    let (s, _clock) = started().await;
    s.add_executor("pool", std::sync::Arc::new(asyncz::DebugExecutor::new()))
        .await
        .unwrap();
    s.add_task(
        TaskBuilder::new()
            .function("job")
            .id("b-cleanup")
            .name("Cleanup")
            .trigger(IntervalTrigger::new().minutes(5).start_at(t0() + mins(5))),
    )
    .await
    .unwrap();
    s.add_task(
        TaskBuilder::new()
            .function("other")
            .id("a-report")
            .name("report")
            .executor("pool")
            .trigger(DateTrigger::new(t0() + mins(1))),
    )
    .await
    .unwrap();
    s.add_task(
        TaskBuilder::new()
            .function("job")
            .id("c-paused")
            .name("zzz")
            .trigger(IntervalTrigger::new().minutes(1).start_at(t0()))
            .paused(),
    )
    .await
    .unwrap();
    let ids = |infos: Vec<asyncz::TaskInfo>| infos.into_iter().map(|i| i.id).collect::<Vec<_>>();
    assert_eq!(
        ids(s.get_task_infos(&TaskInfoQuery::new()).await.unwrap()),
        ["a-report", "b-cleanup", "c-paused"]
    );
    assert_eq!(
        ids(s
            .get_task_infos(&TaskInfoQuery::new().descending(true))
            .await
            .unwrap()),
        ["c-paused", "b-cleanup", "a-report"]
    );
    assert_eq!(
        ids(s
            .get_task_infos(&TaskInfoQuery::new().sort_by("name").unwrap())
            .await
            .unwrap()),
        ["b-cleanup", "a-report", "c-paused"]
    );
    assert_eq!(
        ids(s
            .get_task_infos(&TaskInfoQuery::new().sort_by("executor").unwrap())
            .await
            .unwrap()),
        ["b-cleanup", "c-paused", "a-report"]
    );
    assert_eq!(
        ids(s
            .get_task_infos(&TaskInfoQuery::new().sort_by("trigger").unwrap())
            .await
            .unwrap()),
        ["a-report", "b-cleanup", "c-paused"]
    );
    assert_eq!(
        ids(s
            .get_task_infos(&TaskInfoQuery::new().sort_by("schedule_state").unwrap())
            .await
            .unwrap()),
        ["c-paused", "a-report", "b-cleanup"]
    );
    assert_eq!(
        ids(s
            .get_task_infos(&TaskInfoQuery::new().schedule_state(ScheduleState::Paused))
            .await
            .unwrap()),
        ["c-paused"]
    );
    assert_eq!(
        ids(s
            .get_task_infos(&TaskInfoQuery::new().executor("pool"))
            .await
            .unwrap()),
        ["a-report"]
    );
    assert_eq!(
        ids(s
            .get_task_infos(&TaskInfoQuery::new().trigger("IntervalTrigger"))
            .await
            .unwrap()),
        ["b-cleanup", "c-paused"]
    );
    assert_eq!(
        ids(s
            .get_task_infos(&TaskInfoQuery::new().trigger("date"))
            .await
            .unwrap()),
        ["a-report"]
    );
    assert_eq!(
        ids(s
            .get_task_infos(&TaskInfoQuery::new().q("CLEAN"))
            .await
            .unwrap()),
        ["b-cleanup"]
    );
    assert_eq!(
        ids(s
            .get_task_infos(&TaskInfoQuery::new().q("paused"))
            .await
            .unwrap()),
        ["c-paused"]
    );
    let err = TaskInfoQuery::new()
        .sort_by("colour")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("sort_by") && err.contains("'colour'") && err.contains("next_run_time"),
        "{err}"
    );
    let state: ScheduleState = "Scheduled".parse().unwrap();
    assert_eq!(state, ScheduleState::Scheduled);
    assert!("later"
        .parse::<ScheduleState>()
        .unwrap_err()
        .to_string()
        .contains("'later'"));
    s.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn preview_lists_the_next_run_times() {
    let (s, _clock) = started().await;
    let times = s
        .preview(
            IntervalTrigger::new().minutes(15).start_at(t0()),
            3,
            Some(t0()),
        )
        .unwrap();
    assert_eq!(times, vec![t0(), t0() + mins(15), t0() + mins(30)]);
    let h = s
        .add_task(
            TaskBuilder::new()
                .function("job")
                .trigger(IntervalTrigger::new().hours(1).start_at(t0() + mins(60))),
        )
        .await
        .unwrap();
    assert_eq!(
        h.preview(2).await.unwrap(),
        vec![t0() + mins(60), t0() + mins(120)]
    );
    let once = s.preview(DateTrigger::new(t0()), 5, Some(t0())).unwrap();
    assert_eq!(once, vec![t0()], "an exhausted trigger stops the preview");
    s.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn the_task_handle_manages_its_task() {
    let (s, _clock) = started().await;
    let h = s
        .add_task(
            TaskBuilder::new()
                .function("job")
                .id("h")
                .trigger(IntervalTrigger::new().minutes(1).start_at(t0() + mins(1))),
        )
        .await
        .unwrap();
    assert_eq!(
        h.update(TaskUpdate::new().name("handled"))
            .await
            .unwrap()
            .name,
        "handled"
    );
    assert_eq!(
        h.pause().await.unwrap().schedule_state,
        ScheduleState::Paused
    );
    assert_eq!(
        h.resume().await.unwrap().unwrap().schedule_state,
        ScheduleState::Scheduled
    );
    assert!(h.run(RunTaskOptions::default()).await.unwrap().is_some());
    h.delete().await.unwrap();
    assert!(matches!(h.snapshot().await, Err(Error::TaskLookup { .. })));
    s.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn closures_run_in_the_memory_store() {
    let (s, clock) = started().await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    s.add_task(
        TaskBuilder::new()
            .closure(move |ctx: CallContext| {
                let _ = tx.send(ctx.scheduled_run_time);
            })
            .trigger(DateTrigger::new(t0() + mins(1))),
    )
    .await
    .unwrap();
    clock.set(t0() + mins(1));
    s.process_tasks().await;
    assert_eq!(rx.try_recv().unwrap(), t0() + mins(1));
    let _ = Utc::now();
    s.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn register_task_is_the_decorator_mode_counterpart() {
    let (s, clock) = started().await;
    let every_minute = TaskBuilder::new()
        .trigger(IntervalTrigger::new().minutes(1).start_at(t0() + mins(1)))
        .max_instances(2);
    let a = s
        .register_task("dec.a", &every_minute, |_ctx: CallContext| ())
        .await
        .unwrap();
    let b = s
        .register_task_async("dec.b", &every_minute, |_ctx: CallContext| async {
            Ok::<_, String>(1)
        })
        .await
        .unwrap();
    assert_ne!(
        a.id(),
        b.id(),
        "each function gets its own task from the template"
    );
    let info = a.snapshot().await.unwrap();
    assert_eq!((info.name.as_str(), info.max_instances), ("dec.a", 2));
    let mut rx = s.subscribe(TASK_EXECUTED);
    clock.set(t0() + mins(1));
    s.process_tasks().await;
    assert_eq!(drain(&mut rx).len(), 2);
    s.shutdown(true).await.unwrap();
}
