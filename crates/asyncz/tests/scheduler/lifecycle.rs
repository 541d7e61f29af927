//! Start, shutdown, pause, resume, nesting, pending tasks, stores and executors at runtime.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use asyncz::events::*;
use asyncz::{
    CallContext, Error, MemoryStore, ScheduleState, SchedulerState, ShutdownTrigger, TaskBuilder,
    TokioExecutor,
};

use crate::common::{drain, manual_scheduler, t0};

#[tokio::test]
async fn start_and_shutdown_are_reference_counted() {
    let scheduler = asyncz::builder().build().unwrap();
    assert!(
        scheduler.start().await.unwrap(),
        "the outermost start starts"
    );
    assert!(
        !scheduler.start().await.unwrap(),
        "a nested start is a no-op"
    );
    assert!(
        !scheduler.shutdown(true).await.unwrap(),
        "the inner shutdown keeps it running"
    );
    assert_eq!(scheduler.state(), SchedulerState::Running);
    assert!(scheduler.shutdown(true).await.unwrap());
    assert_eq!(scheduler.state(), SchedulerState::Stopped);
    assert!(matches!(
        scheduler.shutdown(true).await,
        Err(Error::SchedulerNotRunning)
    ));
    assert!(
        scheduler.start().await.unwrap(),
        "a stopped scheduler starts again"
    );
    scheduler.shutdown(false).await.unwrap();
}

#[tokio::test]
async fn pause_and_resume_need_a_started_scheduler() {
    let scheduler = asyncz::builder().build().unwrap();
    assert!(matches!(scheduler.pause(), Err(Error::SchedulerNotRunning)));
    assert!(matches!(
        scheduler.resume(),
        Err(Error::SchedulerNotRunning)
    ));
    scheduler.start_paused().await.unwrap();
    assert_eq!(scheduler.state(), SchedulerState::Paused);
    scheduler.resume().unwrap();
    assert_eq!(scheduler.state(), SchedulerState::Running);
    scheduler.pause().unwrap();
    assert_eq!(scheduler.state(), SchedulerState::Paused);
    scheduler.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn a_paused_scheduler_runs_nothing_until_resumed() {
    let (scheduler, clock) = manual_scheduler(t0());
    scheduler.register("tick", |_ctx: CallContext| ()).unwrap();
    scheduler
        .add_task(
            TaskBuilder::new()
                .function("tick")
                .id("t")
                .trigger(asyncz::DateTrigger::new(t0())),
        )
        .await
        .unwrap();
    let mut rx = scheduler.subscribe(TASK_EXECUTED);
    scheduler.start_paused().await.unwrap();
    clock.advance(asyncz::chrono::Duration::seconds(1));
    scheduler.process_tasks().await;
    assert!(drain(&mut rx).is_empty());
    scheduler.resume().unwrap();
    scheduler.process_tasks().await;
    assert_eq!(drain(&mut rx).len(), 1);
    scheduler.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn tasks_added_before_start_are_pending_and_committed_at_start() {
    let (scheduler, _clock) = manual_scheduler(t0());
    scheduler.register("tick", |_ctx: CallContext| ()).unwrap();
    let handle = scheduler
        .add_task(
            TaskBuilder::new().function("tick").id("p").trigger(
                asyncz::IntervalTrigger::new()
                    .minutes(5)
                    .start_at(t0() + asyncz::chrono::Duration::minutes(5)),
            ),
        )
        .await
        .unwrap();
    let info = handle.snapshot().await.unwrap();
    assert_eq!(info.schedule_state, ScheduleState::Pending);
    assert!(info.pending && !info.paused && info.next_run_time.is_none());
    assert_eq!(scheduler.get_tasks(None).await.unwrap().len(), 1);
    scheduler.start().await.unwrap();
    let info = handle.snapshot().await.unwrap();
    assert_eq!(info.schedule_state, ScheduleState::Scheduled);
    assert_eq!(
        info.next_run_time,
        Some(t0() + asyncz::chrono::Duration::minutes(5))
    );
    scheduler.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn setup_is_refused_while_running() {
    let scheduler = asyncz::builder().build().unwrap();
    scheduler.start().await.unwrap();
    let config = serde_json::json!({"asyncz.timezone": "Europe/Berlin"});
    let err = scheduler.setup(config.as_object().unwrap()).unwrap_err();
    assert!(matches!(err, Error::SchedulerAlreadyRunning));
    scheduler.shutdown(true).await.unwrap();
    scheduler.setup(config.as_object().unwrap()).unwrap();
    assert_eq!(scheduler.timezone(), asyncz::chrono_tz::Europe::Berlin);
}

#[tokio::test]
async fn stores_and_executors_can_be_added_and_removed_while_running() {
    let scheduler = asyncz::builder().build().unwrap();
    scheduler.start().await.unwrap();
    scheduler
        .add_store("b", Arc::new(MemoryStore::new()))
        .await
        .unwrap();
    let dup = scheduler
        .add_store("b", Arc::new(MemoryStore::new()))
        .await
        .unwrap_err();
    assert!(
        dup.to_string()
            .contains("store 'b': this scheduler already has a store"),
        "{dup}"
    );
    scheduler
        .add_store_plugin("c", "memory", &asyncz::Map::new())
        .await
        .unwrap();
    let unknown = scheduler
        .add_store_plugin("d", "nosuch", &asyncz::Map::new())
        .await
        .unwrap_err();
    assert!(unknown.to_string().contains("store 'nosuch'"), "{unknown}");
    scheduler
        .add_executor("pool", Arc::new(TokioExecutor::new()))
        .await
        .unwrap();
    assert!(scheduler
        .add_executor("pool", Arc::new(TokioExecutor::new()))
        .await
        .is_err());
    scheduler
        .add_executor_plugin("other", "asyncio", &asyncz::Map::new())
        .await
        .unwrap();
    assert_eq!(scheduler.store_aliases(), ["default", "b", "c"]);
    assert_eq!(scheduler.executor_aliases(), ["default", "pool", "other"]);
    scheduler.remove_store("b", true).await.unwrap();
    scheduler.remove_executor("pool", true).await.unwrap();
    let missing = scheduler.remove_store("b", true).await.unwrap_err();
    assert!(missing.to_string().contains("no such store"), "{missing}");
    assert!(scheduler.remove_executor("nope", true).await.is_err());
    scheduler.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn a_task_on_an_added_store_and_executor_runs() {
    let scheduler = asyncz::builder().build().unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let r = Arc::clone(&ran);
    scheduler.start().await.unwrap();
    scheduler
        .add_store("late", Arc::new(MemoryStore::new()))
        .await
        .unwrap();
    scheduler
        .add_executor("late", Arc::new(TokioExecutor::new()))
        .await
        .unwrap();
    let mut rx = scheduler.subscribe(TASK_EXECUTED);
    scheduler
        .add_task(
            TaskBuilder::new()
                .closure(move |_ctx| {
                    r.fetch_add(1, Ordering::SeqCst);
                })
                .store("late")
                .executor("late"),
        )
        .await
        .unwrap();
    crate::common::until(&mut rx, TASK_EXECUTED, Duration::from_secs(5)).await;
    assert_eq!(ran.load(Ordering::SeqCst), 1);
    scheduler.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn shutdown_trigger_tasks_run_once_at_shutdown() {
    let scheduler = asyncz::builder().build().unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let r = Arc::clone(&ran);
    scheduler
        .register("cleanup", move |_ctx: CallContext| {
            r.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    scheduler
        .add_task(
            TaskBuilder::new()
                .function("cleanup")
                .id("cleanup")
                .trigger(ShutdownTrigger::new()),
        )
        .await
        .unwrap();
    scheduler.start().await.unwrap();
    let info = scheduler
        .get_task_info("cleanup", None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        info.schedule_state,
        ScheduleState::Paused,
        "a shutdown task waits, paused"
    );
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    scheduler.shutdown(true).await.unwrap();
    assert_eq!(ran.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn scope_starts_and_shuts_down_around_a_block() {
    let scheduler = asyncz::builder().build().unwrap();
    let state_inside = scheduler.scope(|s| async move { s.state() }).await.unwrap();
    assert_eq!(state_inside, SchedulerState::Running);
    assert_eq!(scheduler.state(), SchedulerState::Stopped);
}

#[tokio::test]
async fn shutdown_without_wait_returns_while_a_job_is_still_running() {
    let scheduler = asyncz::builder().build().unwrap();
    scheduler
        .register_async("forever", |_ctx: CallContext| async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        })
        .unwrap();
    scheduler.start().await.unwrap();
    let mut rx = scheduler.subscribe(TASK_SUBMITTED);
    scheduler
        .add_task(TaskBuilder::new().function("forever").id("f"))
        .await
        .unwrap();
    crate::common::until(&mut rx, TASK_SUBMITTED, Duration::from_secs(5)).await;
    tokio::time::timeout(Duration::from_secs(2), scheduler.shutdown(false))
        .await
        .expect("shutdown(wait=false) returns promptly")
        .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(
        scheduler.running_instances("f"),
        0,
        "the cancelled job released its slot"
    );
}

#[tokio::test]
async fn pending_tasks_can_be_paused_and_resumed_before_start() {
    let (scheduler, _clock) = manual_scheduler(t0());
    scheduler.register("tick", |_ctx: CallContext| ()).unwrap();
    let every = asyncz::IntervalTrigger::new().minutes(5).start_at(t0());
    scheduler
        .add_task(TaskBuilder::new().function("tick").id("p").trigger(every))
        .await
        .unwrap();
    scheduler.pause_task("p", None).await.unwrap();
    let resumed = scheduler.resume_task("p", None).await.unwrap().unwrap();
    assert_eq!(resumed.schedule_state, ScheduleState::Pending);
    assert_eq!(resumed.next_run_time, Some(t0()));
    scheduler.start().await.unwrap();
    let info = scheduler.get_task_info("p", None).await.unwrap().unwrap();
    assert_eq!(
        (info.schedule_state, info.next_run_time),
        (ScheduleState::Scheduled, Some(t0()))
    );
    scheduler.shutdown(true).await.unwrap();
}
