//! Failure paths: re-entrant jobs at shutdown, store write failures, cancelled jobs,
//! rejected submissions, bad sizes.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use asyncz::chrono::{DateTime, Utc};
use asyncz::events::*;
use asyncz::{
    async_trait, CallContext, DateTrigger, Error, IntervalTrigger, MemoryStore, RunTaskOptions,
    ShutdownTrigger, Store, StoreContext, Task, TaskBuilder,
};

use crate::common::{drain, manual_scheduler, t0, until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_adds_a_task_during_shutdown_does_not_deadlock() {
    let scheduler = asyncz::builder().build().unwrap();
    let s2 = scheduler.clone();
    scheduler
        .register_async("chain", move |_ctx: CallContext| {
            let s = s2.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(100)).await;
                s.add_task(TaskBuilder::new().function("chain").paused())
                    .await
                    .map(|_| ())
            }
        })
        .unwrap();
    scheduler.start().await.unwrap();
    let mut rx = scheduler.subscribe(TASK_SUBMITTED);
    scheduler
        .add_task(TaskBuilder::new().function("chain"))
        .await
        .unwrap();
    until(&mut rx, TASK_SUBMITTED, Duration::from_secs(5)).await;
    tokio::time::timeout(Duration::from_secs(5), scheduler.shutdown(true))
        .await
        .expect("shutdown(wait=true) finished while the job called back into the scheduler")
        .unwrap();
}

#[tokio::test]
async fn a_shutdown_task_may_manage_tasks() {
    let scheduler = asyncz::builder().build().unwrap();
    let s2 = scheduler.clone();
    let ran = Arc::new(AtomicBool::new(false));
    let r = Arc::clone(&ran);
    scheduler
        .register_async("cleanup", move |_ctx: CallContext| {
            let (s, r) = (s2.clone(), Arc::clone(&r));
            async move {
                let left = s.get_tasks(None).await.map_err(|e| e.to_string())?;
                r.store(true, Ordering::SeqCst);
                Ok::<_, String>(left.len())
            }
        })
        .unwrap();
    scheduler
        .add_task(
            TaskBuilder::new()
                .function("cleanup")
                .trigger(ShutdownTrigger::new()),
        )
        .await
        .unwrap();
    scheduler.start().await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), scheduler.shutdown(true))
        .await
        .unwrap()
        .unwrap();
    assert!(ran.load(Ordering::SeqCst));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_sync_job_does_not_hold_up_another_due_at_the_same_time() {
    let scheduler = asyncz::builder().build().unwrap();
    scheduler
        .register("long", |_ctx: CallContext| {
            std::thread::sleep(Duration::from_millis(1500))
        })
        .unwrap();
    scheduler.register("short", |_ctx: CallContext| ()).unwrap();
    let mut rx = scheduler.subscribe(TASK_EXECUTED | TASK_MISSED);
    let at = Utc::now() + asyncz::chrono::Duration::milliseconds(50);
    for (id, f) in [("long", "long"), ("short", "short")] {
        scheduler
            .add_task(
                TaskBuilder::new()
                    .function(f)
                    .id(id)
                    .trigger(DateTrigger::new(at)),
            )
            .await
            .unwrap();
    }
    scheduler.start().await.unwrap();
    let events = until(&mut rx, TASK_EXECUTED, Duration::from_secs(5)).await;
    assert_eq!(
        events.last().and_then(|e| e.task_id()),
        Some("short"),
        "{events:?}"
    );
    scheduler.shutdown(false).await.unwrap();
}

#[tokio::test]
async fn a_job_cancelled_by_shutdown_still_reports_its_finished_task_removed() {
    let scheduler = asyncz::builder().build().unwrap();
    scheduler
        .register_async("forever", |_ctx: CallContext| async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        })
        .unwrap();
    let mut rx = scheduler.subscribe(TASK_SUBMITTED | TASK_REMOVED);
    scheduler.start().await.unwrap();
    scheduler
        .add_task(TaskBuilder::new().function("forever").id("once"))
        .await
        .unwrap();
    until(&mut rx, TASK_SUBMITTED, Duration::from_secs(5)).await;
    scheduler.shutdown(false).await.unwrap();
    let events = until(&mut rx, TASK_REMOVED, Duration::from_secs(5)).await;
    assert_eq!(events.last().and_then(|e| e.task_id()), Some("once"));
}

#[tokio::test]
async fn run_task_refused_by_max_instances_removes_nothing() {
    let scheduler = asyncz::builder().build().unwrap();
    let gate = Arc::new(tokio::sync::Notify::new());
    let g = Arc::clone(&gate);
    scheduler
        .register_async("slow", move |_ctx: CallContext| {
            let g = Arc::clone(&g);
            async move { g.notified().await }
        })
        .unwrap();
    scheduler.start().await.unwrap();
    let far = Utc::now() + asyncz::chrono::Duration::days(1);
    scheduler
        .add_task(
            TaskBuilder::new()
                .function("slow")
                .id("one")
                .trigger(DateTrigger::new(far)),
        )
        .await
        .unwrap();
    let keep = RunTaskOptions {
        force: true,
        remove_finished: false,
    };
    scheduler.run_task("one", None, keep).await.unwrap();
    let mut rx = scheduler.subscribe(TASK_REMOVED | TASK_MAX_INSTANCES);
    let err = scheduler
        .run_task("one", None, RunTaskOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::MaximumInstances { .. }));
    assert_eq!(
        crate::common::names(&drain(&mut rx)),
        ["TASK_MAX_INSTANCES"]
    );
    assert!(scheduler.get_task("one", None).await.unwrap().is_some());
    gate.notify_waiters();
    scheduler.shutdown(false).await.unwrap();
}

/// A store whose writes fail while `failing` is set.
#[derive(Debug, Clone, Default)]
struct ReadOnlyStore {
    inner: MemoryStore,
    failing: Arc<AtomicBool>,
    persistent: bool,
}

#[async_trait]
impl Store for ReadOnlyStore {
    fn kind(&self) -> &'static str {
        "read-only"
    }
    fn is_persistent(&self) -> bool {
        self.persistent
    }
    async fn start(&self, ctx: StoreContext) -> asyncz::Result<()> {
        self.inner.start(ctx).await
    }
    async fn shutdown(&self) -> asyncz::Result<()> {
        Ok(())
    }
    async fn lookup_task(&self, id: &str) -> asyncz::Result<Option<Task>> {
        self.inner.lookup_task(id).await
    }
    async fn get_due_tasks(&self, now: DateTime<Utc>) -> asyncz::Result<Vec<Task>> {
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
        if self.failing.load(Ordering::SeqCst) {
            return Err(Error::backend("store 'ro'", "read-only file system"));
        }
        self.inner.update_task(task).await
    }
    async fn delete_task(&self, id: &str) -> asyncz::Result<()> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(Error::backend("store 'ro'", "read-only file system"));
        }
        self.inner.delete_task(id).await
    }
    async fn remove_all_tasks(&self) -> asyncz::Result<()> {
        self.inner.remove_all_tasks().await
    }
}

#[tokio::test]
async fn a_due_task_whose_next_run_time_cannot_be_stored_is_not_run_and_retried_later() {
    let clock = asyncz::ManualClock::new(t0() - asyncz::chrono::Duration::seconds(1));
    let store = ReadOnlyStore::default();
    let failing = Arc::clone(&store.failing);
    let scheduler = asyncz::builder()
        .clock(clock.clone())
        .executor("default", asyncz::DebugExecutor::new())
        .store("default", store)
        .store_retry_interval(Duration::from_secs(3))
        .build()
        .unwrap();
    let runs = Arc::new(AtomicU32::new(0));
    let r = Arc::clone(&runs);
    scheduler
        .register("tick", move |_ctx: CallContext| {
            r.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    scheduler
        .add_task(
            TaskBuilder::new()
                .function("tick")
                .mistrigger_grace_time(None)
                .trigger(IntervalTrigger::new().minutes(1).start_at(t0())),
        )
        .await
        .unwrap();
    scheduler.start().await.unwrap();
    failing.store(true, Ordering::SeqCst);
    clock.set(t0());
    assert_eq!(
        scheduler.process_tasks().await,
        Some(Duration::from_secs(3))
    );
    assert_eq!(
        runs.load(Ordering::SeqCst),
        0,
        "not run while its schedule cannot be saved"
    );
    failing.store(false, Ordering::SeqCst);
    clock.set(t0() + asyncz::chrono::Duration::seconds(3));
    scheduler.process_tasks().await;
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "run once the store accepts writes"
    );
    scheduler.process_tasks().await;
    assert_eq!(runs.load(Ordering::SeqCst), 1, "and only once");
    scheduler.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn a_closure_bound_for_a_persistent_store_is_refused_before_start() {
    let store = ReadOnlyStore {
        persistent: true,
        ..ReadOnlyStore::default()
    };
    let scheduler = asyncz::builder().store("db", store).build().unwrap();
    let err = scheduler
        .add_task(TaskBuilder::new().closure(|_ctx| ()).store("db"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("closure") && err.contains("persistent store 'db'"),
        "{err}"
    );
    let err = scheduler
        .add_task(TaskBuilder::new().closure(|_ctx| ()).store("nosuch"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no such store"), "{err}");
}

#[tokio::test]
async fn a_definition_that_failed_to_add_can_be_fixed_and_added() {
    let (scheduler, _clock) = manual_scheduler(t0());
    scheduler.start().await.unwrap();
    let def = TaskBuilder::new().function("later").id("fixable");
    assert!(
        scheduler.add_task(def.clone()).await.is_err(),
        "not registered yet"
    );
    scheduler.register("later", |_ctx: CallContext| ()).unwrap();
    scheduler.add_task(def).await.unwrap();
    scheduler.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn a_template_keeps_its_errors_when_derived() {
    let (scheduler, _clock) = manual_scheduler(t0());
    let template = TaskBuilder::new().trigger_alias("interval", serde_json::json!(5));
    let err = scheduler
        .register_task("f", &template, |_ctx: CallContext| ())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("trigger"), "{err}");
}

#[tokio::test]
async fn unknown_store_aliases_read_as_empty_like_upstream() {
    let (scheduler, _clock) = manual_scheduler(t0());
    scheduler.start().await.unwrap();
    assert!(scheduler
        .get_task("x", Some("nosuch"))
        .await
        .unwrap()
        .is_none());
    assert!(scheduler
        .get_tasks(Some("nosuch"))
        .await
        .unwrap()
        .is_empty());
    assert!(matches!(
        scheduler.delete_task("x", Some("nosuch")).await,
        Err(Error::TaskLookup { .. })
    ));
    scheduler.remove_all_tasks(Some("nosuch")).await.unwrap();
    scheduler.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn previews_are_bounded_and_paused_tasks_preview_from_now() {
    let (scheduler, _clock) = manual_scheduler(t0());
    scheduler.register("job", |_ctx: CallContext| ()).unwrap();
    scheduler.start().await.unwrap();
    let every = IntervalTrigger::new().minutes(1).start_at(t0());
    for bad in [0, asyncz::MAX_PREVIEW_COUNT + 1] {
        let err = scheduler
            .preview(every.clone(), bad, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("count"), "{err}");
    }
    let h = scheduler
        .add_task(TaskBuilder::new().function("job").trigger(every).paused())
        .await
        .unwrap();
    let m = |n| t0() + asyncz::chrono::Duration::minutes(n);
    assert_eq!(h.preview(2).await.unwrap(), vec![m(0), m(1)]);
    scheduler.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn setup_replaces_only_the_stores_it_names() {
    let scheduler = asyncz::builder()
        .store("keep", MemoryStore::new())
        .build()
        .unwrap();
    let config = serde_json::json!({"asyncz.stores.default.type": "memory"});
    scheduler.setup(config.as_object().unwrap()).unwrap();
    assert_eq!(scheduler.store_aliases(), ["keep", "default"]);
}

#[tokio::test]
async fn a_huge_store_retry_interval_is_refused_by_config_and_harmless_from_the_builder() {
    let config = serde_json::json!({"asyncz.store_retry_interval": 1e13});
    let err = asyncz::builder()
        .config(config.as_object().cloned().unwrap())
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("store_retry_interval"), "{err}");
    let failing = ReadOnlyStore::default();
    failing.failing.store(true, Ordering::SeqCst);
    let clock = asyncz::ManualClock::new(t0());
    let scheduler = asyncz::builder()
        .clock(clock.clone())
        .executor("default", asyncz::DebugExecutor::new())
        .store("default", failing)
        .store_retry_interval(Duration::from_secs(u64::MAX / 4))
        .build()
        .unwrap();
    scheduler.register("tick", |_ctx: CallContext| ()).unwrap();
    scheduler
        .add_task(
            TaskBuilder::new()
                .function("tick")
                .trigger(DateTrigger::new(t0())),
        )
        .await
        .unwrap();
    scheduler.start().await.unwrap();
    assert!(
        scheduler.process_tasks().await.is_some(),
        "no panic, a far retry"
    );
    scheduler.shutdown(true).await.unwrap();
}

/// A persistent store that records the size of each batch of schedule changes and fails a
/// whole batch while `failing` is set. Single writes are counted: a round must not use them.
#[derive(Debug, Clone, Default)]
struct BatchingStore {
    inner: MemoryStore,
    failing: Arc<AtomicBool>,
    batches: Arc<std::sync::Mutex<Vec<usize>>>,
    single_writes: Arc<AtomicU32>,
}

#[async_trait]
impl Store for BatchingStore {
    fn kind(&self) -> &'static str {
        "batching"
    }
    fn is_persistent(&self) -> bool {
        true
    }
    async fn start(&self, ctx: StoreContext) -> asyncz::Result<()> {
        self.inner.start(ctx).await
    }
    async fn shutdown(&self) -> asyncz::Result<()> {
        Ok(())
    }
    async fn lookup_task(&self, id: &str) -> asyncz::Result<Option<Task>> {
        self.inner.lookup_task(id).await
    }
    async fn get_due_tasks(&self, now: DateTime<Utc>) -> asyncz::Result<Vec<Task>> {
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
        self.single_writes.fetch_add(1, Ordering::SeqCst);
        self.inner.update_task(task).await
    }
    async fn delete_task(&self, id: &str) -> asyncz::Result<()> {
        self.single_writes.fetch_add(1, Ordering::SeqCst);
        self.inner.delete_task(id).await
    }
    async fn remove_all_tasks(&self) -> asyncz::Result<()> {
        self.inner.remove_all_tasks().await
    }
    fn batches_schedules(&self) -> bool {
        true
    }
    async fn store_schedules(
        &self,
        changes: &[asyncz::ScheduleChange],
    ) -> asyncz::Result<Vec<asyncz::Result<()>>> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(Error::backend("store 'batching'", "connection reset"));
        }
        self.batches.lock().unwrap().push(changes.len());
        self.inner.store_schedules(changes).await
    }
}

#[tokio::test]
async fn a_round_stores_its_schedules_in_growing_batches_and_a_failed_batch_runs_nothing() {
    let clock = asyncz::ManualClock::new(t0() - asyncz::chrono::Duration::seconds(1));
    let store = BatchingStore::default();
    let scheduler = asyncz::builder()
        .clock(clock.clone())
        .executor("default", asyncz::DebugExecutor::new())
        .store("default", store.clone())
        .store_retry_interval(Duration::from_secs(3))
        .build()
        .unwrap();
    let runs = Arc::new(AtomicU32::new(0));
    let r = Arc::clone(&runs);
    scheduler
        .register("tick", move |_ctx: CallContext| {
            r.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    // 250 repeating tasks and 50 one-off tasks (their change deletes them), all due at t0.
    for i in 0..300 {
        let task = TaskBuilder::new()
            .id(format!("t{i:03}"))
            .function("tick")
            .mistrigger_grace_time(None);
        let task = if i < 250 {
            task.trigger(IntervalTrigger::new().minutes(1).start_at(t0()))
        } else {
            task.trigger(DateTrigger::new(t0()))
        };
        scheduler.add_task(task).await.unwrap();
    }
    scheduler.start().await.unwrap();

    store.failing.store(true, Ordering::SeqCst);
    clock.set(t0());
    assert_eq!(
        scheduler.process_tasks().await,
        Some(Duration::from_secs(3)),
        "a failed batch is retried after the store retry interval"
    );
    assert_eq!(
        runs.load(Ordering::SeqCst),
        0,
        "nothing of a failed batch runs"
    );
    assert_eq!(store.inner.len(), 300, "a failed batch loses no task");

    store.failing.store(false, Ordering::SeqCst);
    clock.set(t0() + asyncz::chrono::Duration::seconds(3));
    scheduler.process_tasks().await;
    assert_eq!(runs.load(Ordering::SeqCst), 300, "every due task ran once");
    assert_eq!(
        *store.batches.lock().unwrap(),
        [8, 16, 32, 64, 128, 52],
        "batches double from 8"
    );
    assert_eq!(store.single_writes.load(Ordering::SeqCst), 0);
    assert_eq!(store.inner.len(), 250, "the one-off tasks were deleted");
    scheduler.process_tasks().await;
    assert_eq!(runs.load(Ordering::SeqCst), 300, "and only once");
    scheduler.shutdown(true).await.unwrap();
}
