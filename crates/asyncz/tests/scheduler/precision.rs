//! One precision for every time (whole microseconds), as the engine sees it: a trigger that
//! computes nanoseconds, and a store that keeps offering a due record the engine cannot run.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use asyncz::chrono::{self, DateTime, Utc};
use asyncz::chrono_tz::Tz;
use asyncz::{
    async_trait, CallContext, DebugExecutor, ManualClock, Map, MemoryStore, Result, Store,
    StoreContext, Task, TaskBuilder, Trigger, TriggerContext,
};

use crate::common::t0;

/// A third-party trigger whose grid keeps nanoseconds: `start + k * step_ns`.
#[derive(Debug)]
struct NanoGrid {
    start: DateTime<Utc>,
    step_ns: i64,
}

impl std::fmt::Display for NanoGrid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "every second from {}", self.start)
    }
}

impl Trigger for NanoGrid {
    fn alias(&self) -> &'static str {
        "nanogrid"
    }
    fn type_name(&self) -> &'static str {
        "NanoGrid"
    }
    fn next_fire_time(
        &self,
        _tz: Tz,
        previous: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let after = previous.unwrap_or(now - chrono::Duration::nanoseconds(1));
        if after < self.start {
            return Some(self.start);
        }
        let elapsed = (after - self.start).num_nanoseconds()?;
        let k = elapsed / self.step_ns + 1;
        Some(self.start + chrono::Duration::nanoseconds(k * self.step_ns))
    }
    fn state(&self) -> Map {
        let mut state = Map::new();
        state.insert(
            "start".into(),
            self.start
                .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
                .into(),
        );
        state.insert("step_ns".into(), self.step_ns.into());
        state
    }
}

fn nanogrid(args: &Map, _ctx: &TriggerContext) -> Result<Arc<dyn Trigger>> {
    let start = args
        .get("start")
        .and_then(|v| v.as_str())
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .ok_or_else(|| asyncz::Error::invalid("start", "missing"))?;
    let step_ns = args
        .get("step_ns")
        .and_then(|v| v.as_i64())
        .filter(|n| *n > 0)
        .ok_or_else(|| asyncz::Error::invalid("step_ns", "missing"))?;
    Ok(Arc::new(NanoGrid {
        start: start.with_timezone(&Utc),
        step_ns,
    }))
}

#[cfg(feature = "stores-sql-sqlite")]
#[tokio::test]
async fn a_trigger_on_a_nanosecond_grid_fires_once_per_period_in_a_persistent_store() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/tasks.db", dir.path().display());
    let start = t0() + chrono::Duration::nanoseconds(302_576_401);
    let clock = ManualClock::new(t0());
    let mut plugins = asyncz::default_plugins();
    plugins.add_trigger("nanogrid", nanogrid);
    let scheduler = asyncz::Scheduler::builder()
        .plugins(plugins)
        .clock(clock.clone())
        .store(
            "default",
            asyncz::SqlStore::new(asyncz::SqlStoreConfig::new(url)).unwrap(),
        )
        .executor("default", DebugExecutor::new())
        .build()
        .unwrap();
    let runs = Arc::new(Mutex::new(Vec::new()));
    let r = Arc::clone(&runs);
    scheduler
        .register("tick", move |ctx: CallContext| {
            r.lock().unwrap().push(ctx.scheduled_run_time);
        })
        .unwrap();
    scheduler.start().await.unwrap();
    scheduler
        .add_task(
            TaskBuilder::new()
                .id("nanos")
                .function("tick")
                .trigger(NanoGrid {
                    start,
                    step_ns: 1_000_000_000,
                }),
        )
        .await
        .unwrap();
    for _ in 0..20 {
        clock.advance(chrono::Duration::milliseconds(250));
        scheduler.process_tasks().await;
    }
    scheduler.shutdown(true).await.unwrap();
    let runs = runs.lock().unwrap().clone();
    // Fire times start+0 s .. start+4 s fall in the five seconds stepped through.
    assert_eq!(runs.len(), 5, "ran {runs:?}");
    let mut distinct = runs.clone();
    distinct.dedup();
    assert_eq!(distinct, runs, "a fire time ran twice");
    assert!(
        runs.iter().all(|t| *t == asyncz::truncate_to_micros(*t)),
        "{runs:?}"
    );
}

#[tokio::test]
async fn a_trigger_stepping_in_nanoseconds_fires_once_per_microsecond_and_is_never_removed() {
    let clock = ManualClock::new(t0());
    let scheduler = asyncz::builder()
        .clock(clock.clone())
        .executor("default", DebugExecutor::new())
        .build()
        .unwrap();
    let runs = Arc::new(Mutex::new(Vec::new()));
    let r = Arc::clone(&runs);
    scheduler
        .register("tick", move |ctx: CallContext| {
            r.lock().unwrap().push(ctx.scheduled_run_time);
        })
        .unwrap();
    scheduler.start().await.unwrap();
    let start = t0() + chrono::Duration::nanoseconds(50);
    scheduler
        .add_task(
            TaskBuilder::new()
                .id("fine")
                .function("tick")
                .trigger(NanoGrid {
                    start,
                    step_ns: 100,
                }),
        )
        .await
        .unwrap();
    for _ in 0..5 {
        clock.advance(chrono::Duration::microseconds(1));
        scheduler.process_tasks().await;
    }
    assert!(
        scheduler.get_task("fine", None).await.unwrap().is_some(),
        "the task was removed"
    );
    let runs = runs.lock().unwrap().clone();
    let mut distinct = runs.clone();
    distinct.dedup();
    assert_eq!(distinct, runs, "a microsecond ran twice: {runs:?}");
    assert!(runs.len() >= 4, "{runs:?}");
    scheduler.shutdown(true).await.unwrap();
}

/// A store that keeps offering one record as due that it cannot return (what an undecodable
/// record looked like to the engine): the engine must come back later, not at once.
#[derive(Debug, Default)]
struct StuckRecord(MemoryStore);

#[async_trait]
impl Store for StuckRecord {
    fn kind(&self) -> &'static str {
        "stuck"
    }
    fn is_persistent(&self) -> bool {
        false
    }
    async fn start(&self, ctx: StoreContext) -> Result<()> {
        self.0.start(ctx).await
    }
    async fn shutdown(&self) -> Result<()> {
        self.0.shutdown().await
    }
    async fn lookup_task(&self, task_id: &str) -> Result<Option<Task>> {
        self.0.lookup_task(task_id).await
    }
    async fn get_due_tasks(&self, now: DateTime<Utc>) -> Result<Vec<Task>> {
        self.0.get_due_tasks(now).await
    }
    async fn get_next_run_time(&self) -> Result<Option<DateTime<Utc>>> {
        Ok(Some(t0() - chrono::Duration::hours(1)))
    }
    async fn get_all_tasks(&self) -> Result<Vec<Task>> {
        self.0.get_all_tasks().await
    }
    async fn add_task(&self, task: &Task) -> Result<()> {
        self.0.add_task(task).await
    }
    async fn update_task(&self, task: &Task) -> Result<()> {
        self.0.update_task(task).await
    }
    async fn delete_task(&self, task_id: &str) -> Result<()> {
        self.0.delete_task(task_id).await
    }
    async fn remove_all_tasks(&self) -> Result<()> {
        self.0.remove_all_tasks().await
    }
}

#[tokio::test]
async fn a_store_still_offering_a_due_time_after_the_round_is_retried_later_not_at_once() {
    let clock = ManualClock::new(t0());
    let scheduler = asyncz::builder()
        .clock(clock.clone())
        .store("default", StuckRecord::default())
        .store_retry_interval(Duration::from_secs(7))
        .executor("default", DebugExecutor::new())
        .build()
        .unwrap();
    scheduler.start().await.unwrap();
    let wait = scheduler.process_tasks().await;
    assert_eq!(wait, Some(Duration::from_secs(7)));
    scheduler.shutdown(true).await.unwrap();
}
