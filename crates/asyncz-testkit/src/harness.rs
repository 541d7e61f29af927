//! What a backend provides to run the suite, and the report it gets back.

use std::fmt;
use std::sync::{Arc, Mutex};

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

/// A backend under test, typed by the store it makes, so its hooks get that store itself.
///
/// The suite gives every case its own data set, numbered `n` (a directory, a table, a key
/// prefix or a collection, whatever the backend keeps tasks in): [`StoreHarness::open`] with
/// the same `n` again is a second store over the same data (the persistence cases).
#[async_trait]
pub trait StoreHarness: Send + Sync + Sized + 'static {
    /// The store type under test.
    type Store: Store;

    /// A name for the report (`sqlite`, `redis`, ...).
    fn name(&self) -> String;

    /// What the store can do.
    fn capabilities(&self) -> Capabilities;

    /// A store over data set `n`, not yet started; empty the first time `n` is asked for.
    async fn open(&self, n: usize) -> Result<Self::Store>;

    /// Overwrites the stored record of `task_id` with bytes that cannot be decoded.
    async fn corrupt_record(&self, _store: &Self::Store, _task_id: &str) -> Result<()> {
        Ok(())
    }

    /// Whether a raw record for `task_id` is still stored (decodable or not).
    async fn record_exists(&self, store: &Self::Store, task_id: &str) -> Result<bool> {
        Ok(store.lookup_task(task_id).await?.is_some())
    }

    /// A store configured against a server that does not answer (a closed port such as
    /// `127.0.0.1:1`) with a `connect_timeout` of 2 seconds, not yet started; `None` for a
    /// store that connects to nothing (its case is skipped).
    async fn unreachable_store(&self) -> Option<Result<Self::Store>> {
        None
    }

    /// Removes what a case left of its data set, with its store still started (drops the
    /// table, the keys, the collection). Default: `remove_all_tasks`.
    async fn clean_up(&self, store: &Self::Store) -> Result<()> {
        store.remove_all_tasks().await
    }
}

/// What a case runs against: the harness and the started store over the case's own data set.
pub struct Fixture<'h, H: StoreHarness> {
    harness: &'h H,
    store: Arc<H::Store>,
    n: usize,
    reopened: Mutex<Vec<Arc<H::Store>>>,
}

impl<'h, H: StoreHarness> Fixture<'h, H> {
    fn new(harness: &'h H, store: H::Store, n: usize) -> Self {
        Fixture {
            harness,
            store: Arc::new(store),
            n,
            reopened: Mutex::new(Vec::new()),
        }
    }

    /// The harness.
    pub fn harness(&self) -> &H {
        self.harness
    }

    /// What the store can do.
    pub fn capabilities(&self) -> Capabilities {
        self.harness.capabilities()
    }

    /// The store under test (started with [`store_context`]).
    pub fn store(&self) -> &Arc<H::Store> {
        &self.store
    }

    /// A second store over the same data, started with `ctx` (the suite shuts it down after
    /// the case).
    pub async fn reopen(&self, ctx: StoreContext) -> Result<Arc<H::Store>> {
        let again = Arc::new(self.harness.open(self.n).await?);
        again.start(ctx).await?;
        self.reopened
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Arc::clone(&again));
        Ok(again)
    }

    /// Corrupts the store's record of `task_id` ([`StoreHarness::corrupt_record`]).
    pub async fn corrupt_record(&self, task_id: &str) -> Result<()> {
        self.harness.corrupt_record(&self.store, task_id).await
    }

    /// Whether the store still has a raw record of `task_id` ([`StoreHarness::record_exists`]).
    pub async fn record_exists(&self, task_id: &str) -> Result<bool> {
        self.harness.record_exists(&self.store, task_id).await
    }

    /// [`StoreHarness::unreachable_store`].
    pub async fn unreachable_store(&self) -> Option<Result<H::Store>> {
        self.harness.unreachable_store().await
    }

    /// Cleans the data set up and shuts the store down; errors are the backend's to report.
    async fn finish(self) {
        let reopened =
            std::mem::take(&mut *self.reopened.lock().unwrap_or_else(|e| e.into_inner()));
        for store in reopened {
            let _ = store.shutdown().await;
        }
        let _ = self.harness.clean_up(&self.store).await;
        let _ = self.store.shutdown().await;
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
    StoreContext::new("testkit", plugins(), functions())
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

/// Runs every case against fresh stores from `harness`, each on its own data set.
pub async fn run_store_suite<H: StoreHarness>(harness: &H) -> SuiteReport {
    run_cases(harness, crate::cases::store_cases::<H>(), 0).await
}

/// Runs the cluster cases (the `# Behavior` bullets of
/// [`ClusterStore`](asyncz_core::cluster::ClusterStore)) against fresh stores from `harness`,
/// each on its own data set (numbered from 1000, apart from [`run_store_suite`]'s). A case
/// races two "nodes" by opening the same data set twice; a store whose
/// [`Store::cluster`] answers `None` fails every case, saying so.
pub async fn run_cluster_suite<H: StoreHarness>(harness: &H) -> SuiteReport {
    run_cases(harness, crate::cases::cluster_cases::<H>(), 1000).await
}

/// Runs `cases`, case `i` on data set `first + i`.
async fn run_cases<H: StoreHarness>(
    harness: &H,
    cases: Vec<crate::cases::StoreCase<H>>,
    first: usize,
) -> SuiteReport {
    let caps = harness.capabilities();
    let mut report = SuiteReport {
        backend: harness.name(),
        ..SuiteReport::default()
    };
    for (i, case) in cases.into_iter().enumerate() {
        let n = first + i;
        if (case.needs.persistent && !caps.persistent)
            || (case.needs.corruptible && !caps.corruptible)
        {
            report.skipped.push(case.name);
            continue;
        }
        let store = match harness.open(n).await {
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
        let fixture = Fixture::new(harness, store, n);
        let outcome = (case.run)(&fixture).await;
        fixture.finish().await;
        match outcome {
            Ok(()) => report.passed.push(case.name),
            Err(why) if why == crate::cases::SKIPPED => report.skipped.push(case.name),
            Err(why) => report.failed.push((case.name, why)),
        }
    }
    report
}
