//! The scheduler's parts through the public API: per-store locks and timeouts, the pending
//! store, start and scope failures, re-entrant inline jobs, `run_task` ordering, and the
//! fixes of issue 9 (task-default time zone, `logger_name` on every line, lookups past a
//! failing store, `TaskInfo` arguments, plugin errors naming the alias).

use std::io::Write;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use asyncz::chrono::{DateTime, TimeZone, Utc};
use asyncz::{
    async_trait, CallContext, DateTrigger, DebugExecutor, Error, Executor, ExecutorContext, Job,
    MemoryStore, RunTaskOptions, Store, StoreContext, Task, TaskBuilder,
};
use serde_json::json;

use crate::common::{manual_scheduler, t0};

/// How a [`Faulty`] store misbehaves.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    /// Every read and write hangs (an unreachable server); start succeeds.
    Hangs,
    /// Lookups fail with a decode error; everything else is an empty store.
    Undecodable,
    /// `start` fails.
    FailsToStart,
}

#[derive(Debug)]
struct Faulty(Fault);

impl Faulty {
    async fn answer<T: Default>(&self) -> asyncz::Result<T> {
        if self.0 == Fault::Hangs {
            std::future::pending::<()>().await;
        }
        Ok(T::default())
    }
}

#[async_trait]
impl Store for Faulty {
    fn kind(&self) -> &'static str {
        "faulty"
    }
    fn is_persistent(&self) -> bool {
        false
    }
    async fn start(&self, _ctx: StoreContext) -> asyncz::Result<()> {
        if self.0 == Fault::FailsToStart {
            return Err(Error::backend("store 'faulty'", "cannot connect"));
        }
        Ok(())
    }
    async fn shutdown(&self) -> asyncz::Result<()> {
        Ok(())
    }
    async fn lookup_task(&self, id: &str) -> asyncz::Result<Option<Task>> {
        if self.0 == Fault::Undecodable {
            return Err(Error::Decode {
                store: "broken".into(),
                task_id: id.into(),
                message: "corrupt record".into(),
            });
        }
        self.answer().await
    }
    async fn get_due_tasks(&self, _now: DateTime<Utc>) -> asyncz::Result<Vec<Task>> {
        self.answer().await
    }
    async fn get_next_run_time(&self) -> asyncz::Result<Option<DateTime<Utc>>> {
        self.answer().await
    }
    async fn get_all_tasks(&self) -> asyncz::Result<Vec<Task>> {
        self.answer().await
    }
    async fn add_task(&self, _task: &Task) -> asyncz::Result<()> {
        self.answer().await
    }
    async fn update_task(&self, task: &Task) -> asyncz::Result<()> {
        self.answer::<()>().await?;
        Err(Error::task_lookup(task.id()))
    }
    async fn delete_task(&self, id: &str) -> asyncz::Result<()> {
        if self.0 == Fault::Undecodable {
            return Err(Error::backend("store 'broken'", "corrupt record"));
        }
        self.answer::<()>().await?;
        Err(Error::task_lookup(id))
    }
    async fn remove_all_tasks(&self) -> asyncz::Result<()> {
        self.answer().await
    }
}

/// An executor counting its starts and shutdowns.
#[derive(Debug, Default, Clone)]
struct Counting {
    starts: Arc<AtomicU32>,
    shutdowns: Arc<AtomicU32>,
}

#[async_trait]
impl Executor for Counting {
    fn kind(&self) -> &'static str {
        "counting"
    }
    async fn start(&self, _ctx: ExecutorContext) -> asyncz::Result<()> {
        self.starts.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
    async fn shutdown(&self, _wait: bool) -> asyncz::Result<()> {
        self.shutdowns.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
    async fn send_task(&self, job: Job) -> asyncz::Result<()> {
        job.run().await;
        Ok(())
    }
}

fn far() -> DateTime<Utc> {
    t0() + asyncz::chrono::Duration::days(1)
}

#[tokio::test]
async fn an_unreachable_store_does_not_stall_add_task_to_another_store() {
    let scheduler = asyncz::builder()
        .store("stuck", Faulty(Fault::Hangs))
        .store_timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    scheduler.register("tick", |_ctx: CallContext| ()).unwrap();
    scheduler.start().await.unwrap();
    // The engine's first round is now waiting on the stuck store (up to the store timeout).
    tokio::time::sleep(Duration::from_millis(50)).await;
    let began = std::time::Instant::now();
    scheduler
        .add_task(
            TaskBuilder::new()
                .function("tick")
                .id("t")
                .trigger(DateTrigger::new(far())),
        )
        .await
        .unwrap();
    assert!(
        began.elapsed() < Duration::from_secs(1),
        "add_task to 'default' waited {:?} for the stuck store",
        began.elapsed()
    );
    scheduler.shutdown(false).await.unwrap();
}

#[tokio::test]
async fn add_task_to_an_unreachable_store_fails_after_the_store_timeout() {
    let scheduler = asyncz::builder()
        .store("stuck", Faulty(Fault::Hangs))
        .store_timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    scheduler.register("tick", |_ctx: CallContext| ()).unwrap();
    scheduler.start().await.unwrap();
    let add = scheduler.add_task(
        TaskBuilder::new()
            .function("tick")
            .store("stuck")
            .trigger(DateTrigger::new(far())),
    );
    let err = tokio::time::timeout(Duration::from_secs(5), add)
        .await
        .expect("add_task is bounded by the store timeout")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("store 'stuck'") && err.contains("store timeout"),
        "{err}"
    );
    let listing = tokio::time::timeout(Duration::from_secs(5), scheduler.get_tasks(None)).await;
    assert!(listing.expect("get_tasks is bounded too").is_err());
    scheduler.shutdown(false).await.unwrap();
}

#[tokio::test]
async fn stores_and_executors_are_looked_up_by_alias() {
    let scheduler = asyncz::builder()
        .executor("inline", DebugExecutor::new())
        .store("mem", MemoryStore::new())
        .build()
        .unwrap();
    assert_eq!(scheduler.lookup_store("mem").unwrap().kind(), "memory");
    assert_eq!(scheduler.lookup_executor("inline").unwrap().kind(), "debug");
    assert!(matches!(
        scheduler.lookup_store("nope"),
        Err(Error::Alias { kind: "store", .. })
    ));
    assert!(matches!(
        scheduler.lookup_executor("nope"),
        Err(Error::Alias {
            kind: "executor",
            ..
        })
    ));
}

#[tokio::test]
async fn a_start_that_fails_partway_shuts_down_what_it_started() {
    let executor = Counting::default();
    let scheduler = asyncz::builder()
        .executor("default", executor.clone())
        .store("broken", Faulty(Fault::FailsToStart))
        .build()
        .unwrap();
    let err = scheduler.start().await.unwrap_err().to_string();
    assert!(err.contains("cannot connect"), "{err}");
    assert_eq!(scheduler.state(), asyncz::SchedulerState::Stopped);
    assert_eq!(executor.starts.load(Ordering::SeqCst), 1);
    assert_eq!(
        executor.shutdowns.load(Ordering::SeqCst),
        1,
        "the executor started before the failing store is shut down again"
    );
}

#[tokio::test]
async fn scope_shuts_down_when_the_body_panics_and_the_panic_continues() {
    let scheduler = asyncz::builder().build().unwrap();
    let s = scheduler.clone();
    let outcome = tokio::spawn(async move {
        s.scope(|_s| async {
            panic!("the body failed");
        })
        .await
    })
    .await;
    assert!(
        outcome.is_err_and(|e| e.is_panic()),
        "the panic reaches the caller"
    );
    assert_eq!(scheduler.state(), asyncz::SchedulerState::Stopped);
}

/// A job run inline by the debug executor manages tasks (adds one, deletes its own task).
fn register_reentrant(scheduler: &asyncz::Scheduler) {
    let s = scheduler.clone();
    scheduler
        .register_async("reenter", move |ctx: CallContext| {
            let s = s.clone();
            async move {
                s.add_task(
                    TaskBuilder::new()
                        .function("reenter")
                        .id(format!("{}-child", ctx.task_id))
                        .paused(),
                )
                .await?;
                s.delete_task(&ctx.task_id, None).await
            }
        })
        .unwrap();
}

#[tokio::test]
async fn an_inline_job_may_call_back_into_the_scheduler_from_the_engine() {
    let (scheduler, _clock) = manual_scheduler(t0());
    register_reentrant(&scheduler);
    scheduler.start().await.unwrap();
    let every = asyncz::IntervalTrigger::new().minutes(5).start_at(t0());
    scheduler
        .add_task(
            TaskBuilder::new()
                .function("reenter")
                .id("r")
                .trigger(every),
        )
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), scheduler.process_tasks())
        .await
        .expect("the round finishes: the job's add_task and delete_task do not deadlock");
    assert!(scheduler.get_task("r", None).await.unwrap().is_none());
    assert!(scheduler.get_task("r-child", None).await.unwrap().is_some());
    scheduler.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn an_inline_job_may_call_back_into_the_scheduler_from_run_task() {
    let (scheduler, _clock) = manual_scheduler(t0());
    register_reentrant(&scheduler);
    scheduler.start().await.unwrap();
    scheduler
        .add_task(
            TaskBuilder::new()
                .function("reenter")
                .id("m")
                .trigger(DateTrigger::new(far())),
        )
        .await
        .unwrap();
    let keep = RunTaskOptions {
        force: true,
        remove_finished: false,
    };
    tokio::time::timeout(Duration::from_secs(5), scheduler.run_task("m", None, keep))
        .await
        .expect("run_task finishes: the job's calls do not deadlock")
        .unwrap();
    assert!(scheduler.get_task("m-child", None).await.unwrap().is_some());
    scheduler.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn run_task_stores_the_new_schedule_before_the_job_runs() {
    let (scheduler, _clock) = manual_scheduler(t0());
    let seen: Arc<Mutex<Option<Option<DateTime<Utc>>>>> = Arc::new(Mutex::new(None));
    let (s, record) = (scheduler.clone(), Arc::clone(&seen));
    scheduler
        .register_async("look", move |ctx: CallContext| {
            let (s, record) = (s.clone(), Arc::clone(&record));
            async move {
                let me = s.get_task_info(&ctx.task_id, None).await.unwrap();
                *record.lock().unwrap() = me.map(|i| i.next_run_time);
            }
        })
        .unwrap();
    scheduler.start().await.unwrap();
    // Due now: the manual run takes the 12:00 run time and moves the schedule to 12:05.
    let every = asyncz::IntervalTrigger::new().minutes(5).start_at(t0());
    scheduler
        .add_task(TaskBuilder::new().function("look").id("l").trigger(every))
        .await
        .unwrap();
    let after = tokio::time::timeout(
        Duration::from_secs(5),
        scheduler.run_task("l", None, RunTaskOptions::default()),
    )
    .await
    .expect("no deadlock")
    .unwrap()
    .unwrap();
    let during = *seen.lock().unwrap();
    assert_eq!(
        during,
        Some(after.next_run_time),
        "the job saw the schedule run_task stored"
    );
    assert_eq!(
        after.next_run_time,
        Some(t0() + asyncz::chrono::Duration::minutes(5))
    );
    scheduler.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn a_failing_store_does_not_hide_tasks_of_later_stores() {
    let (scheduler, _clock) = manual_scheduler(t0());
    scheduler
        .add_store("broken", Arc::new(Faulty(Fault::Undecodable)))
        .await
        .unwrap();
    scheduler.register("tick", |_ctx: CallContext| ()).unwrap();
    scheduler.start().await.unwrap();
    scheduler
        .add_task(
            TaskBuilder::new()
                .function("tick")
                .id("found")
                .trigger(DateTrigger::new(far())),
        )
        .await
        .unwrap();
    assert_eq!(scheduler.store_aliases(), ["broken", "default"]);
    let task = scheduler.get_task("found", None).await.unwrap();
    assert_eq!(task.map(|t| t.id().to_owned()).as_deref(), Some("found"));
    let paused = scheduler.pause_task("found", None).await.unwrap();
    assert!(paused.paused);
    scheduler.delete_task("found", None).await.unwrap();
    // Found nowhere: the failing store's error is the answer, not "no such task".
    let err = scheduler.get_task("gone", None).await.unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err}");
    scheduler.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn the_task_default_time_zone_is_the_zone_tasks_compute_in() {
    let clock = asyncz::ManualClock::new(t0());
    let scheduler = asyncz::builder()
        .clock(clock)
        .executor("default", DebugExecutor::new())
        .config(
            json!({"asyncz.timezone": "UTC", "asyncz.task_defaults.timezone": "Europe/Berlin"})
                .as_object()
                .cloned()
                .unwrap(),
        )
        .build()
        .unwrap();
    assert_eq!(
        scheduler.task_defaults().timezone,
        Some(asyncz::chrono_tz::Europe::Berlin)
    );
    scheduler.register("tick", |_ctx: CallContext| ()).unwrap();
    scheduler.start().await.unwrap();
    let handle = scheduler
        .add_task(
            TaskBuilder::new()
                .function("tick")
                .id("nine")
                .trigger_alias("cron", json!({"hour": 9, "minute": 0})),
        )
        .await
        .unwrap();
    let info = handle.snapshot().await.unwrap();
    // 09:00 in Berlin (CET, UTC+1) on the next day is 08:00 UTC.
    let expected = Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).single().unwrap();
    assert_eq!(info.next_run_time, Some(expected));
    scheduler.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn task_info_carries_the_arguments() {
    let (scheduler, _clock) = manual_scheduler(t0());
    scheduler.register("tick", |_ctx: CallContext| ()).unwrap();
    let handle = scheduler
        .add_task(
            TaskBuilder::new()
                .function("tick")
                .arg(1)
                .arg("two")
                .kwarg("three", true)
                .trigger(DateTrigger::new(far())),
        )
        .await
        .unwrap();
    let info = handle.snapshot().await.unwrap();
    assert_eq!(info.args, vec![json!(1), json!("two")]);
    assert_eq!(info.kwargs.get("three"), Some(&json!(true)));
}

#[test]
fn a_plugin_error_names_the_users_alias_and_key() {
    let err = asyncz::builder()
        .config(
            json!({"asyncz.stores.reports": {"type": "memory", "colour": "blue"}})
                .as_object()
                .cloned()
                .unwrap(),
        )
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("asyncz.stores.reports.colour"), "{text}");
    let scheduler = asyncz::builder().build().unwrap();
    let err = scheduler
        .setup_with_prefix(
            json!({"executors": {"pool": {"type": "tokio", "max_wokers": 3}}})
                .as_object()
                .unwrap(),
            None,
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("invalid executors.pool.max_wokers"), "{err}");
}

/// Collects what the fmt subscriber writes.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn logger_name_is_on_every_log_line_of_the_scheduler() {
    let lines = Lines::default();
    let sink = lines.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .without_time()
        .with_max_level(tracing_subscriber::filter::LevelFilter::TRACE)
        .finish();
    let _guard = tracing_subscriber::util::SubscriberInitExt::set_default(subscriber);
    let clock = asyncz::ManualClock::new(t0());
    let scheduler = asyncz::builder()
        .clock(clock.clone())
        .executor("default", DebugExecutor::new())
        .logger_name("worker-a")
        .build()
        .unwrap();
    scheduler.register("tick", |_ctx: CallContext| ()).unwrap();
    scheduler
        .register("fail", |_ctx: CallContext| -> Result<(), String> {
            Err("boom".into())
        })
        .unwrap();
    // Pending, started, run, failed, paused, resumed, removed, shut down: many log lines.
    let every = asyncz::IntervalTrigger::new().minutes(1).start_at(t0());
    scheduler
        .add_task(TaskBuilder::new().function("tick").id("a").trigger(every))
        .await
        .unwrap();
    scheduler.start().await.unwrap();
    scheduler
        .add_task(TaskBuilder::new().function("fail").id("b"))
        .await
        .unwrap();
    scheduler.process_tasks().await;
    scheduler.pause().unwrap();
    scheduler.resume().unwrap();
    scheduler
        .run_task("a", None, RunTaskOptions::default())
        .await
        .unwrap();
    scheduler.delete_task("a", None).await.unwrap();
    scheduler.shutdown(true).await.unwrap();
    let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
    let ours: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(" asyncz.scheduler:"))
        .collect();
    assert!(
        ours.len() >= 6,
        "expected the scheduler to log; got:\n{text}"
    );
    for line in ours {
        assert!(
            line.contains("logger=asyncz.scheduler.worker-a"),
            "a scheduler log line without its logger_name: {line}"
        );
    }
}
