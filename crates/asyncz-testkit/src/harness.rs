//! What a backend provides to run the suite, and the report it gets back.

use std::fmt;
use std::sync::Arc;

use asyncz_core::chrono::{DateTime, TimeZone, Utc};
use asyncz_core::{
    async_trait, Callable, FunctionRegistry, PluginRegistry, Result, Store, StoreContext, Task,
    TaskFunction,
};

/// What a store can do; cases that need a capability the store lacks are skipped (and listed
/// as skipped in the report).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// Tasks outlive the store instance (a second store on the same backend sees them).
    pub persistent: bool,
    /// The harness can corrupt a stored record ([`StoreHarness::corrupt_record`]).
    pub corruptible: bool,
    /// The longest id the store accepts, in bytes (`None`: 255, the SQL column width).
    pub max_id_len: Option<usize>,
}

/// A backend under test.
#[async_trait]
pub trait StoreHarness: Send + Sync {
    /// A name for the report (`sqlite`, `redis`, ...).
    fn name(&self) -> String;

    /// What the store can do.
    fn capabilities(&self) -> Capabilities;

    /// A fresh, empty store, not yet started. Each case gets its own.
    async fn fresh_store(&self) -> Result<Arc<dyn Store>>;

    /// A second store over the same backend data as `store` (for persistence cases).
    async fn reopen(&self, store: &Arc<dyn Store>) -> Result<Arc<dyn Store>> {
        Ok(Arc::clone(store))
    }

    /// Overwrites the stored record of `task_id` with bytes that cannot be decoded.
    async fn corrupt_record(&self, _store: &Arc<dyn Store>, _task_id: &str) -> Result<()> {
        Ok(())
    }

    /// A store configured against a server that does not answer (a closed port such as
    /// `127.0.0.1:1`) with a `connect_timeout` of 2 seconds, not yet started; `None` for a
    /// store that connects to nothing (its case is skipped).
    async fn unreachable_store(&self) -> Option<Result<Arc<dyn Store>>> {
        None
    }

    /// Whether a raw record for `task_id` is still stored (decodable or not).
    async fn record_exists(&self, store: &Arc<dyn Store>, task_id: &str) -> Result<bool> {
        Ok(store.lookup_task(task_id).await?.is_some())
    }
}

/// 2026-01-01T00:00:00Z: the instant the cases build their schedules around.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// Every built-in trigger.
pub fn plugins() -> Arc<PluginRegistry> {
    let mut registry = PluginRegistry::new();
    asyncz_triggers::register(&mut registry);
    Arc::new(registry)
}

/// The functions the sample tasks name.
pub fn functions() -> Arc<FunctionRegistry> {
    let registry = FunctionRegistry::new();
    for name in ["testkit.noop", "testkit.other"] {
        let _ = registry.insert(name, TaskFunction::new_sync(|_ctx| ()));
    }
    Arc::new(registry)
}

/// The context the suite starts stores with (alias `testkit`, UTC).
pub fn store_context() -> StoreContext {
    StoreContext {
        alias: "testkit".to_owned(),
        plugins: plugins(),
        functions: functions(),
        timezone: asyncz_core::chrono_tz::Tz::UTC,
    }
}

/// A task running `testkit.noop` every minute from [`t0`], with this next run time.
pub fn sample_task(id: &str, next_run_time: Option<DateTime<Utc>>) -> Task {
    let trigger = asyncz_triggers::IntervalTrigger::new_at(t0())
        .minutes(1)
        .start_at(t0());
    Task::new(id, Callable::registered("testkit.noop"), Arc::new(trigger))
        .with_next_run_time(next_run_time)
}

/// The outcome of a suite run.
#[derive(Debug, Clone, Default)]
pub struct SuiteReport {
    /// The harness name.
    pub backend: String,
    /// Cases that passed.
    pub passed: Vec<&'static str>,
    /// Cases that failed, with why.
    pub failed: Vec<(&'static str, String)>,
    /// Cases skipped for a missing capability.
    pub skipped: Vec<&'static str>,
}

impl SuiteReport {
    /// Panics with every failure when any case failed.
    pub fn assert_passed(&self) {
        assert!(self.failed.is_empty(), "{self}");
        assert!(!self.passed.is_empty(), "{}: no case ran", self.backend);
    }
}

impl fmt::Display for SuiteReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}: {} passed, {} failed, {} skipped",
            self.backend,
            self.passed.len(),
            self.failed.len(),
            self.skipped.len()
        )?;
        for (case, why) in &self.failed {
            writeln!(f, "  FAILED {case}: {why}")?;
        }
        Ok(())
    }
}

/// Runs every case against fresh stores from `harness`.
pub async fn run_store_suite(harness: &dyn StoreHarness) -> SuiteReport {
    let caps = harness.capabilities();
    let mut report = SuiteReport {
        backend: harness.name(),
        ..SuiteReport::default()
    };
    for case in crate::cases::store_cases() {
        if (case.needs.persistent && !caps.persistent)
            || (case.needs.corruptible && !caps.corruptible)
        {
            report.skipped.push(case.name);
            continue;
        }
        let store = match harness.fresh_store().await {
            Ok(store) => store,
            Err(e) => {
                report
                    .failed
                    .push((case.name, format!("cannot create a store: {e}")));
                continue;
            }
        };
        if let Err(e) = store.start(store_context()).await {
            report
                .failed
                .push((case.name, format!("cannot start the store: {e}")));
            continue;
        }
        let outcome = (case.run)(harness, Arc::clone(&store)).await;
        let _ = store.remove_all_tasks().await;
        let _ = store.shutdown().await;
        match outcome {
            Ok(()) => report.passed.push(case.name),
            Err(why) if why == crate::cases::SKIPPED => report.skipped.push(case.name),
            Err(why) => report.failed.push((case.name, why)),
        }
    }
    report
}
