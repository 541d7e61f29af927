//! The engine loop: missed runs, coalescing, grace times, max_instances, finished tasks, store
//! failures, panics.

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use asyncz::chrono::{self, DateTime, Utc};
use asyncz::events::*;
use asyncz::{
    async_trait, CallContext, DateTrigger, Error, Event, IntervalTrigger, MemoryStore,
    RunTaskOptions, Store, StoreContext, Task, TaskBuilder,
};

use crate::common::{drain, manual_scheduler, names, t0, until};

fn secs(s: i64) -> chrono::Duration {
    chrono::Duration::seconds(s)
}

/// Upstream's table: a 1-minute interval task 3m10s overdue.
async fn overdue_by_3m10s(
    coalesce: bool,
    grace: Option<Duration>,
) -> (Vec<Event>, Option<DateTime<Utc>>) {
    let (scheduler, clock) = manual_scheduler(t0() - secs(10));
    scheduler.register("tick", |_ctx: CallContext| ()).unwrap();
    scheduler
        .add_task(
            TaskBuilder::new()
                .function("tick")
                .id("tick")
                .trigger(IntervalTrigger::new().minutes(1).start_at(t0()))
                .next_run_time(t0())
                .coalesce(coalesce)
                .mistrigger_grace_time(grace),
        )
        .await
        .unwrap();
    scheduler.start().await.unwrap();
    let mut rx = scheduler.subscribe(ALL_EVENTS);
    clock.set(t0() + chrono::Duration::seconds(190));
    scheduler.process_tasks().await;
    let events = drain(&mut rx);
    let next = scheduler
        .get_task("tick", None)
        .await
        .unwrap()
        .unwrap()
        .next_run_time();
    scheduler.shutdown(true).await.unwrap();
    (events, next)
}

fn count(events: &[Event], code: u32) -> usize {
    events.iter().filter(|e| e.code() == code).count()
}

fn submission(events: &[Event]) -> &TaskSubmissionEvent {
    events
        .iter()
        .find_map(|e| match e {
            Event::Submission(s) if s.code == TASK_SUBMITTED => Some(s),
            _ => None,
        })
        .expect("a TASK_SUBMITTED event")
}

#[tokio::test]
async fn missed_runs_without_coalesce_and_one_second_grace_are_all_missed() {
    let (events, next) = overdue_by_3m10s(false, Some(Duration::from_secs(1))).await;
    let s = submission(&events);
    assert_eq!(
        s.scheduled_run_times,
        (0..4).map(|m| t0() + secs(60 * m)).collect::<Vec<_>>()
    );
    assert_eq!(s.coalesced_run_count, 0);
    assert_eq!(count(&events, TASK_MISSED), 4);
    assert_eq!(count(&events, TASK_EXECUTED), 0);
    assert_eq!(
        next,
        Some(t0() + secs(240)),
        "next fire time follows the last run time"
    );
}

#[tokio::test]
async fn missed_runs_without_grace_limit_all_execute() {
    let (events, _) = overdue_by_3m10s(false, None).await;
    assert_eq!(submission(&events).scheduled_run_times.len(), 4);
    assert_eq!(count(&events, TASK_EXECUTED), 4);
    assert_eq!(count(&events, TASK_MISSED), 0);
}

#[tokio::test]
async fn missed_runs_with_thirty_second_grace_execute_only_the_last() {
    let (events, _) = overdue_by_3m10s(false, Some(Duration::from_secs(30))).await;
    assert_eq!(count(&events, TASK_EXECUTED), 1);
    assert_eq!(count(&events, TASK_MISSED), 3);
    let executed = events
        .iter()
        .find_map(|e| match e {
            Event::Execution(x) if x.code == TASK_EXECUTED => Some(x.scheduled_run_time),
            _ => None,
        })
        .unwrap();
    assert_eq!(executed, t0() + secs(180));
}

#[tokio::test]
async fn coalesce_runs_missed_fire_times_once() {
    let (events, next) = overdue_by_3m10s(true, None).await;
    assert_eq!(count(&events, TASK_SUBMITTED), 1);
    let s = submission(&events);
    assert_eq!(s.scheduled_run_times, vec![t0() + secs(180)]);
    assert_eq!(s.coalesced_run_count, 3);
    assert_eq!(count(&events, TASK_EXECUTED), 1);
    assert_eq!(next, Some(t0() + secs(240)));
}

#[tokio::test]
async fn a_catchup_window_replays_only_the_missed_fire_times_inside_it() {
    let (scheduler, clock) = manual_scheduler(t0() - secs(1));
    scheduler.register("tick", |_ctx: CallContext| ()).unwrap();
    scheduler
        .add_task(
            TaskBuilder::new()
                .function("tick")
                .id("minutely")
                .trigger(IntervalTrigger::new().minutes(1).start_at(t0()))
                .coalesce(false)
                .mistrigger_grace_time(None)
                .catchup_window(Duration::from_secs(300)),
        )
        .await
        .unwrap();
    scheduler.start().await.unwrap();
    let mut rx = scheduler.subscribe(TASK_SUBMITTED);
    // Down for a day: 1441 fire times are due; only the last five minutes' are replayed.
    clock.set(t0() + chrono::Duration::days(1) + secs(10));
    scheduler.process_tasks().await;
    let events = drain(&mut rx);
    let s = submission(&events);
    let day = t0() + chrono::Duration::days(1);
    assert_eq!(
        s.scheduled_run_times,
        (0..=4)
            .rev()
            .map(|m| day - secs(60 * m))
            .collect::<Vec<_>>(),
        "the fire times at most 300 s before now (day + 10 s)"
    );
    assert_eq!(s.coalesced_run_count, 1441 - 5);
    let task = scheduler.get_task("minutely", None).await.unwrap().unwrap();
    assert_eq!(task.next_run_time(), Some(day + secs(60)));
    scheduler.shutdown(false).await.unwrap();
}

#[tokio::test]
async fn a_catchup_window_older_than_every_due_time_moves_the_schedule_on_without_a_run() {
    let (scheduler, clock) = manual_scheduler(t0() - secs(1));
    let runs = Arc::new(AtomicU32::new(0));
    let counted = Arc::clone(&runs);
    scheduler
        .register("tick", move |_ctx: CallContext| {
            counted.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    scheduler
        .add_task(
            TaskBuilder::new()
                .function("tick")
                .id("hourly")
                .trigger(IntervalTrigger::new().hours(1).start_at(t0()))
                .catchup_window(Duration::from_secs(60)),
        )
        .await
        .unwrap();
    scheduler.start().await.unwrap();
    clock.set(t0() + secs(3 * 3600 + 120));
    let wait = scheduler.process_tasks().await;
    assert_eq!(
        runs.load(Ordering::SeqCst),
        0,
        "the last fire was 2 minutes ago"
    );
    let task = scheduler.get_task("hourly", None).await.unwrap().unwrap();
    assert_eq!(task.next_run_time(), Some(t0() + secs(4 * 3600)));
    assert_eq!(wait, Some(Duration::from_secs(3600 - 120)), "no spinning");
    scheduler.shutdown(false).await.unwrap();
}

/// A year: the interval trigger answers `fire_times_until` arithmetically, so this is instant.
const DAYS_BEHIND: i64 = 365;

#[tokio::test]
async fn a_task_a_year_behind_on_a_one_second_interval_is_bounded() {
    let (scheduler, clock) = manual_scheduler(t0() - secs(1));
    scheduler.register("tick", |_ctx: CallContext| ()).unwrap();
    scheduler
        .add_task(
            TaskBuilder::new()
                .function("tick")
                .id("fast")
                .trigger(IntervalTrigger::new().seconds(1).start_at(t0()))
                .coalesce(false)
                .mistrigger_grace_time(Some(Duration::from_secs(3600 * 24 * 400))),
        )
        .await
        .unwrap();
    scheduler.start().await.unwrap();
    let mut rx = scheduler.subscribe(TASK_SUBMITTED);
    clock.set(t0() + chrono::Duration::days(DAYS_BEHIND));
    scheduler.process_tasks().await;
    let events = drain(&mut rx);
    let s = submission(&events);
    assert_eq!(
        s.scheduled_run_times.len(),
        asyncz::MAX_RUN_TIMES_PER_SUBMISSION
    );
    assert_eq!(
        s.scheduled_run_times.len() as u64 + s.coalesced_run_count,
        DAYS_BEHIND as u64 * 86400 + 1,
        "every missed fire time is accounted for"
    );
    assert_eq!(
        *s.scheduled_run_times.last().unwrap(),
        t0() + chrono::Duration::days(DAYS_BEHIND)
    );
    scheduler.shutdown(false).await.unwrap();
}

/// The cron trigger counts missed fires by the day too (asyncz-triggers `cron/count.rs`), so a
/// one-second cron in a zone with daylight saving time catches up a year in one round.
#[tokio::test]
async fn a_task_a_year_behind_on_a_one_second_cron_coalesces_in_one_round() {
    let (scheduler, clock) = manual_scheduler(t0() - secs(1));
    scheduler.register("tick", |_ctx: CallContext| ()).unwrap();
    let cron = asyncz::CronTrigger::builder()
        .second("*")
        .timezone(asyncz::chrono_tz::Europe::Berlin)
        .start_at(t0())
        .build()
        .unwrap();
    scheduler
        .add_task(
            TaskBuilder::new()
                .function("tick")
                .id("every-second")
                .trigger(cron)
                .coalesce(true)
                .mistrigger_grace_time(None),
        )
        .await
        .unwrap();
    scheduler.start().await.unwrap();
    let mut rx = scheduler.subscribe(TASK_SUBMITTED);
    let now = t0() + chrono::Duration::days(DAYS_BEHIND);
    clock.set(now);
    scheduler.process_tasks().await;
    let events = drain(&mut rx);
    let s = submission(&events);
    assert_eq!(s.scheduled_run_times, [now], "coalesced into the latest");
    // Every second of the year fires once, except the hour repeated when Berlin's clocks went
    // back (2026-10-25): its wall times fire once, in the first pass.
    assert_eq!(
        s.coalesced_run_count + 1,
        DAYS_BEHIND as u64 * 86400 + 1 - 3600,
        "every missed fire time is counted"
    );
    let task = scheduler
        .get_task("every-second", None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(task.next_run_time(), Some(now + secs(1)));
    scheduler.shutdown(false).await.unwrap();
}

#[tokio::test]
async fn a_finished_task_is_removed_after_its_last_run() {
    let (scheduler, clock) = manual_scheduler(t0() - secs(5));
    scheduler.register("once", |_ctx: CallContext| ()).unwrap();
    scheduler
        .add_task(
            TaskBuilder::new()
                .function("once")
                .id("once")
                .trigger(DateTrigger::new(t0())),
        )
        .await
        .unwrap();
    scheduler.start().await.unwrap();
    let mut rx = scheduler.subscribe(TASK_SUBMITTED | TASK_EXECUTED | TASK_REMOVED);
    clock.set(t0());
    scheduler.process_tasks().await;
    assert_eq!(
        names(&drain(&mut rx)),
        ["TASK_SUBMITTED", "TASK_EXECUTED", "TASK_REMOVED"]
    );
    assert!(scheduler.get_task("once", None).await.unwrap().is_none());
    scheduler.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn process_tasks_reports_the_wait_until_the_next_run() {
    let (scheduler, _clock) = manual_scheduler(t0());
    scheduler.register("tick", |_ctx: CallContext| ()).unwrap();
    scheduler.start().await.unwrap();
    assert_eq!(
        scheduler.process_tasks().await,
        None,
        "no task: wait until one is added"
    );
    scheduler
        .add_task(
            TaskBuilder::new()
                .function("tick")
                .trigger(DateTrigger::new(t0() + secs(42))),
        )
        .await
        .unwrap();
    assert_eq!(
        scheduler.process_tasks().await,
        Some(Duration::from_secs(42))
    );
    scheduler.pause().unwrap();
    assert_eq!(
        scheduler.process_tasks().await,
        None,
        "paused schedulers do not process"
    );
    scheduler.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn a_panicking_task_is_a_task_error_and_the_scheduler_keeps_running() {
    let (scheduler, clock) = manual_scheduler(t0() - secs(1));
    scheduler
        .register("boom", |_ctx: CallContext| -> Result<(), String> {
            panic!("kaboom")
        })
        .unwrap();
    scheduler
        .register("fails", |_ctx: CallContext| -> Result<(), String> {
            Err("disk full".into())
        })
        .unwrap();
    scheduler
        .register("fine", |_ctx: CallContext| Ok::<_, String>(7))
        .unwrap();
    for (id, f) in [("boom", "boom"), ("fails", "fails"), ("fine", "fine")] {
        scheduler
            .add_task(
                TaskBuilder::new()
                    .function(f)
                    .id(id)
                    .trigger(DateTrigger::new(t0())),
            )
            .await
            .unwrap();
    }
    scheduler.start().await.unwrap();
    let mut rx = scheduler.subscribe(TASK_EXECUTED | TASK_ERROR);
    clock.set(t0());
    scheduler.process_tasks().await;
    let events = drain(&mut rx);
    let by_id = |id: &str| {
        events
            .iter()
            .find_map(|e| match e {
                Event::Execution(x) if x.task_id == id => Some(x.clone()),
                _ => None,
            })
            .unwrap()
    };
    let boom = by_id("boom");
    assert_eq!(boom.code, TASK_ERROR);
    assert!(
        boom.exception.as_deref().unwrap().contains("kaboom"),
        "{boom:?}"
    );
    assert!(
        matches!(&boom.outcome, asyncz::RunOutcome::Panicked(p) if p.message == "kaboom"),
        "{boom:?}"
    );
    let fails = by_id("fails");
    assert_eq!(
        (fails.code, fails.exception.as_deref()),
        (TASK_ERROR, Some("disk full"))
    );
    let fine = by_id("fine");
    assert_eq!(
        (fine.code, fine.return_value),
        (TASK_EXECUTED, Some(serde_json::json!(7)))
    );
    assert_eq!(scheduler.state(), asyncz::SchedulerState::Running);
    scheduler.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn a_panicking_listener_is_logged_and_other_listeners_still_run() {
    let (scheduler, clock) = manual_scheduler(t0() - secs(1));
    scheduler.register("tick", |_ctx: CallContext| ()).unwrap();
    scheduler.add_listener(TASK_EXECUTED, |_e| panic!("listener bug"));
    let seen = Arc::new(AtomicUsize::new(0));
    let s2 = Arc::clone(&seen);
    scheduler.add_listener(TASK_EXECUTED, move |_e| {
        s2.fetch_add(1, Ordering::SeqCst);
    });
    scheduler
        .add_task(
            TaskBuilder::new()
                .function("tick")
                .trigger(IntervalTrigger::new().seconds(1).start_at(t0())),
        )
        .await
        .unwrap();
    scheduler.start().await.unwrap();
    clock.set(t0());
    scheduler.process_tasks().await;
    clock.set(t0() + secs(1));
    scheduler.process_tasks().await;
    assert_eq!(seen.load(Ordering::SeqCst), 2);
    scheduler.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn max_instances_skips_a_run_and_the_counter_never_leaks() {
    let scheduler = asyncz::builder().build().unwrap();
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let g = Arc::clone(&gate);
    scheduler
        .register_async("slow", move |_ctx: CallContext| {
            let g = Arc::clone(&g);
            async move {
                let _permit = g.acquire().await.map_err(|e| e.to_string())?;
                Ok::<_, String>(())
            }
        })
        .unwrap();
    scheduler
        .add_task(
            TaskBuilder::new()
                .function("slow")
                .id("slow")
                .paused()
                .max_instances(1),
        )
        .await
        .unwrap();
    scheduler.start().await.unwrap();
    let mut rx = scheduler.subscribe(TASK_MAX_INSTANCES | TASK_EXECUTED);
    scheduler
        .run_task(
            "slow",
            None,
            RunTaskOptions {
                force: true,
                remove_finished: false,
            },
        )
        .await
        .unwrap();
    let err = scheduler
        .run_task(
            "slow",
            None,
            RunTaskOptions {
                force: true,
                remove_finished: false,
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::MaximumInstances { ref task_id, max_instances: 1 } if task_id == "slow"),
        "{err}"
    );
    assert_eq!(scheduler.running_instances("slow"), 1);
    gate.add_permits(1);
    let events = until(&mut rx, TASK_EXECUTED, Duration::from_secs(5)).await;
    assert_eq!(names(&events), ["TASK_MAX_INSTANCES", "TASK_EXECUTED"]);
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(
        scheduler.running_instances("slow"),
        0,
        "the slot is released after the run"
    );
    scheduler.shutdown(true).await.unwrap();
}

/// A store whose reads fail while `failures` is above zero.
#[derive(Debug, Clone)]
struct FlakyStore {
    inner: MemoryStore,
    failures: Arc<AtomicU32>,
}

#[async_trait]
impl Store for FlakyStore {
    fn kind(&self) -> &'static str {
        "flaky"
    }
    fn is_persistent(&self) -> bool {
        false
    }
    async fn start(&self, ctx: StoreContext) -> asyncz::Result<()> {
        self.inner.start(ctx).await
    }
    async fn shutdown(&self) -> asyncz::Result<()> {
        self.inner.shutdown().await
    }
    async fn lookup_task(&self, id: &str) -> asyncz::Result<Option<Task>> {
        self.inner.lookup_task(id).await
    }
    async fn get_due_tasks(&self, now: DateTime<Utc>) -> asyncz::Result<Vec<Task>> {
        if self.failures.load(Ordering::SeqCst) > 0 {
            self.failures.fetch_sub(1, Ordering::SeqCst);
            return Err(Error::backend("store 'flaky'", "connection refused"));
        }
        self.inner.get_due_tasks(now).await
    }
    async fn get_next_run_time(&self) -> asyncz::Result<Option<DateTime<Utc>>> {
        self.inner.get_next_run_time().await
    }
    async fn get_all_tasks(&self) -> asyncz::Result<Vec<Task>> {
        self.inner.get_all_tasks().await
    }
    async fn add_task(&self, task: &Task) -> asyncz::Result<()> {
        self.inner.add_task(task).await
    }
    async fn update_task(&self, task: &Task) -> asyncz::Result<()> {
        self.inner.update_task(task).await
    }
    async fn delete_task(&self, id: &str) -> asyncz::Result<()> {
        self.inner.delete_task(id).await
    }
    async fn remove_all_tasks(&self) -> asyncz::Result<()> {
        self.inner.remove_all_tasks().await
    }
}

#[tokio::test]
async fn a_failing_store_is_retried_after_store_retry_interval_and_others_keep_running() {
    let clock = asyncz::ManualClock::new(t0() - secs(1));
    let failures = Arc::new(AtomicU32::new(0));
    let flaky = FlakyStore {
        inner: MemoryStore::new(),
        failures: Arc::clone(&failures),
    };
    let scheduler = asyncz::builder()
        .clock(clock.clone())
        .executor("default", asyncz::DebugExecutor::new())
        .store("default", MemoryStore::new())
        .store("flaky", flaky)
        .store_retry_interval(Duration::from_secs(5))
        .build()
        .unwrap();
    scheduler.register("tick", |_ctx: CallContext| ()).unwrap();
    for (id, store) in [("healthy", "default"), ("on-flaky", "flaky")] {
        scheduler
            .add_task(
                TaskBuilder::new()
                    .function("tick")
                    .id(id)
                    .store(store)
                    .mistrigger_grace_time(None)
                    .trigger(IntervalTrigger::new().minutes(1).start_at(t0())),
            )
            .await
            .unwrap();
    }
    scheduler.start().await.unwrap();
    let mut rx = scheduler.subscribe(TASK_EXECUTED);
    failures.store(1_000_000, Ordering::SeqCst);
    clock.set(t0());
    let wait = scheduler.process_tasks().await;
    assert_eq!(
        wait,
        Some(Duration::from_secs(5)),
        "retry the failed store after store_retry_interval"
    );
    let ran: Vec<_> = drain(&mut rx)
        .iter()
        .filter_map(|e| e.task_id().map(str::to_owned))
        .collect();
    assert_eq!(ran, ["healthy"], "the healthy store keeps running");
    failures.store(0, Ordering::SeqCst);
    clock.set(t0() + secs(5));
    scheduler.process_tasks().await;
    let ran: Vec<_> = drain(&mut rx)
        .iter()
        .filter_map(|e| e.task_id().map(str::to_owned))
        .collect();
    assert_eq!(
        ran,
        ["on-flaky"],
        "the store's task runs once it answers again"
    );
    scheduler.shutdown(true).await.unwrap();
}
