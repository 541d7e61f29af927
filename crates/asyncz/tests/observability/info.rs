//! `Scheduler::info()` and `runs_in_flight()`: the live state an operator's probe reads,
//! including during a store outage.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use asyncz::chrono::Duration as ChronoDuration;
use asyncz::{CallContext, DateTrigger, DebugExecutor, ManualClock, SchedulerState, TaskBuilder};

use crate::common::{flaky_store, t0};

#[tokio::test]
async fn info_reports_a_store_outage_and_its_recovery() {
    let clock = ManualClock::new(t0());
    let store = flaky_store();
    let down = store.down();
    let scheduler = asyncz::builder()
        .clock(clock.clone())
        .store("flaky", store)
        .executor("default", DebugExecutor::new())
        .build()
        .unwrap();
    let before = scheduler.info();
    assert_eq!(before.state, SchedulerState::Stopped);
    assert_eq!(before.started_at, None);
    assert!(
        !before.stores_reachable(),
        "a stopped scheduler is not ready"
    );

    scheduler.start().await.unwrap();
    clock.advance(ChronoDuration::seconds(5));
    scheduler.process_tasks().await;
    let up = scheduler.info();
    assert_eq!(up.state, SchedulerState::Running);
    assert_eq!(up.node_id, None);
    assert_eq!(up.started_at, Some(t0()));
    assert_eq!(up.uptime, Some(Duration::from_secs(5)));
    let round = up.last_round.expect("a round ran");
    assert_eq!(round.at, t0() + ChronoDuration::seconds(5));
    assert!(up.engine_ticked_within(Duration::from_secs(1), round.at));
    assert!(!up.engine_ticked_within(
        Duration::from_secs(1),
        round.at + ChronoDuration::seconds(60)
    ));
    let flaky = up.stores.iter().find(|s| s.alias == "flaky").unwrap();
    assert!(flaky.reachable);
    assert_eq!(flaky.kind, "outage");
    assert_eq!(flaky.last_error, None);
    assert_eq!(flaky.undecodable, 1);
    assert!(up.stores_reachable());
    let default = up.executors.iter().find(|e| e.alias == "default").unwrap();
    assert_eq!((default.kind.as_str(), default.running), ("debug", 0));

    down.store(true, Ordering::SeqCst);
    scheduler.process_tasks().await;
    let outage = scheduler.info();
    let flaky = outage.stores.iter().find(|s| s.alias == "flaky").unwrap();
    assert!(!flaky.reachable);
    let (_, error) = flaky.last_error.clone().expect("the error is kept");
    assert!(
        error.contains("connection refused (test outage)"),
        "{error}"
    );
    assert!(!outage.stores_reachable());
    assert_eq!(
        outage.state,
        SchedulerState::Running,
        "the scheduler keeps running"
    );
    // Task management during the outage gets the error; info() still answers.
    assert!(scheduler.get_tasks(Some("flaky")).await.is_err());

    down.store(false, Ordering::SeqCst);
    scheduler.process_tasks().await;
    let healed = scheduler.info();
    let flaky = healed.stores.iter().find(|s| s.alias == "flaky").unwrap();
    assert!(flaky.reachable);
    assert!(
        flaky.last_error.is_some(),
        "the last error stays for operators"
    );
    assert!(healed.stores_reachable());
    scheduler.shutdown(false).await.unwrap();
    assert_eq!(scheduler.info().uptime, None);
}

#[tokio::test]
async fn runs_in_flight_lists_what_is_running() {
    let scheduler = asyncz::builder().build().unwrap();
    let release = Arc::new(tokio::sync::Notify::new());
    let started = Arc::new(tokio::sync::Notify::new());
    let (gate, go) = (Arc::clone(&release), Arc::clone(&started));
    scheduler
        .register_async("hold", move |_ctx: CallContext| {
            let (gate, go) = (Arc::clone(&gate), Arc::clone(&go));
            async move {
                go.notify_one();
                gate.notified().await;
            }
        })
        .unwrap();
    let scheduled = asyncz::chrono::Utc::now();
    scheduler
        .add_task(
            TaskBuilder::new()
                .id("held")
                .function("hold")
                .trigger(DateTrigger::new(scheduled)),
        )
        .await
        .unwrap();
    scheduler.start().await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), started.notified())
        .await
        .unwrap();
    let runs = scheduler.runs_in_flight();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].task_id, "held");
    assert_eq!(runs[0].executor, "default");
    assert_eq!(runs[0].node, None);
    assert!(runs[0].started >= runs[0].scheduled_run_time);
    assert!(!runs[0].run_id.is_empty());
    let info = scheduler.info();
    let default = info
        .executors
        .iter()
        .find(|e| e.alias == "default")
        .unwrap();
    assert_eq!((default.kind.as_str(), default.running), ("tokio", 1));
    assert_eq!(default.queued, Some(0));
    release.notify_one();
    scheduler.shutdown(true).await.unwrap();
    assert!(scheduler.runs_in_flight().is_empty());
}

#[tokio::test]
async fn an_idle_engine_is_on_time_and_an_overdue_one_is_not() {
    let clock = ManualClock::new(t0());
    let scheduler = asyncz::builder()
        .clock(clock.clone())
        .executor("default", DebugExecutor::new())
        .build()
        .unwrap();
    scheduler.register("noop", |_ctx: CallContext| {}).unwrap();
    assert!(!scheduler
        .info()
        .engine_on_time(Duration::from_secs(30), t0()));
    scheduler.start().await.unwrap();
    scheduler.process_tasks().await;
    let idle = scheduler.info();
    assert_eq!(idle.last_round.unwrap().next_wakeup, None);
    assert!(
        idle.engine_on_time(Duration::from_secs(30), t0() + ChronoDuration::hours(5)),
        "nothing scheduled: the engine waits for a change and is healthy however long"
    );
    assert!(!idle.engine_ticked_within(Duration::from_secs(30), t0() + ChronoDuration::hours(5)));

    let due = t0() + ChronoDuration::seconds(100);
    scheduler
        .add_task(
            TaskBuilder::new()
                .id("later")
                .function("noop")
                .trigger(DateTrigger::new(due)),
        )
        .await
        .unwrap();
    scheduler.process_tasks().await;
    let waiting = scheduler.info();
    assert_eq!(waiting.last_round.unwrap().next_wakeup, Some(due));
    let late = |secs| due + ChronoDuration::seconds(secs);
    assert!(waiting.engine_on_time(Duration::from_secs(30), late(-50)));
    assert!(waiting.engine_on_time(Duration::from_secs(30), late(29)));
    assert!(
        !waiting.engine_on_time(Duration::from_secs(30), late(31)),
        "the planned wakeup is 31 s overdue: the engine is stuck"
    );

    scheduler.pause().unwrap();
    assert!(scheduler
        .info()
        .engine_on_time(Duration::from_secs(30), late(600)));
    scheduler.shutdown(false).await.unwrap();
}
