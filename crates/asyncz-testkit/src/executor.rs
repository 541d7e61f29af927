//! The executor suite: the [`Executor`](asyncz_core::Executor) behaviour every executor must
//! have, written once as cases run through a real scheduler. A backend provides an
//! [`ExecutorHarness`] (a stopped scheduler with the executor under test at [`POOL`], built
//! from [`PoolOptions`]) and declares its [`ExecutorCapabilities`]; [`run_executor_suite`]
//! runs every case that applies and returns a [`SuiteReport`].
//!
//! The cases run the functions of [`case_functions`], which the suite registers on the
//! scheduler; an executor that runs functions in other processes registers them in its workers
//! too ([`case_functions::register`]).

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use asyncz_core::{Event, Result, Scheduler};
use tokio::sync::mpsc::UnboundedReceiver;

#[path = "executor_functions.rs"]
pub mod case_functions;
#[path = "executor_cases.rs"]
mod cases;
#[path = "executor_outcome_cases.rs"]
mod outcome_cases;

use crate::SuiteReport;

/// The alias under which a harness installs the executor under test.
pub const POOL: &str = "pool";

/// The environment variable a process-based executor under test sets in its workers, with
/// [`PoolOptions::marker`] as its value, so the suite can find every worker it started.
pub const MARKER_ENV: &str = "ASYNCZ_TESTKIT_MARKER";

/// How the executor under test is asked to build its executor for one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolOptions {
    /// Jobs that may run at once.
    pub max_workers: u32,
    /// Whether shutdown drops queued jobs (only asked of an executor that has the option).
    pub cancel_futures: bool,
    /// A string unique to this case: the prefix of the executor's thread names
    /// ([`Workers::Threads`]) or the value of [`MARKER_ENV`] in its worker processes
    /// ([`Workers::Processes`]). Short enough for a Linux thread name (15 bytes) with an index.
    pub marker: String,
}

impl Default for PoolOptions {
    /// Four workers, no `cancel_futures`, and a fresh marker.
    fn default() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        PoolOptions {
            max_workers: 4,
            cancel_futures: false,
            marker: format!(
                "tk{}x{}-",
                std::process::id() % 100_000,
                NEXT.fetch_add(1, Ordering::Relaxed)
            ),
        }
    }
}

/// What runs the jobs of the executor under test, so the suite can tell whether anything of
/// it is left after a shutdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workers {
    /// Tasks of the scheduler's runtime (and its blocking pool): nothing of the executor's own
    /// to look for; the reaping cases are skipped.
    Runtime,
    /// Threads of this process, named with [`PoolOptions::marker`] as prefix.
    Threads,
    /// Processes carrying [`MARKER_ENV`]` = `[`PoolOptions::marker`] in their environment.
    Processes,
}

/// What the executor under test does; cases that need what it lacks are skipped (and listed
/// as skipped in the report).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecutorCapabilities {
    /// What runs its jobs.
    pub workers: Workers,
    /// It has the `cancel_futures` option.
    pub cancel_futures: bool,
    /// `shutdown(wait = false)` stops the jobs that are running (each such run is a
    /// `TASK_ERROR` whose text says it was stopped by the shutdown) instead of letting them
    /// finish.
    pub shutdown_without_wait_stops_running_jobs: bool,
}

/// An executor under test.
pub trait ExecutorHarness: Send + Sync {
    /// A name for the report (`tokio`, `threadpool`, ...).
    fn name(&self) -> String;

    /// What the executor does.
    fn capabilities(&self) -> ExecutorCapabilities;

    /// A stopped scheduler with the executor under test installed at [`POOL`], built with
    /// `options`. Each case gets its own; the suite registers [`case_functions`] and starts
    /// it.
    fn scheduler(&self, options: &PoolOptions) -> Result<Scheduler>;
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
type CaseFn = for<'a> fn(&'a dyn ExecutorHarness) -> BoxFuture<'a, ()>;

/// One case of the executor suite. A case panics (with what it saw) when the executor fails it.
#[derive(Clone, Copy)]
pub struct ExecutorCase {
    /// The case name, after the behaviour it checks.
    pub name: &'static str,
    /// Whether the case applies to an executor with these capabilities.
    pub applies: fn(&ExecutorCapabilities) -> bool,
    /// Runs the case.
    pub run: CaseFn,
}

impl std::fmt::Debug for ExecutorCase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecutorCase")
            .field("name", &self.name)
            .finish()
    }
}

pub use cases::executor_cases;

/// Runs every case that applies to `harness`, one after the other, and reports each (a
/// failing case does not stop the others). Call it on a multi-threaded runtime.
pub async fn run_executor_suite(harness: &dyn ExecutorHarness) -> SuiteReport {
    let caps = harness.capabilities();
    let mut report = SuiteReport {
        backend: harness.name(),
        ..SuiteReport::default()
    };
    for case in executor_cases() {
        if !(case.applies)(&caps) {
            report.skipped.push(case.name);
            continue;
        }
        match (CatchUnwind((case.run)(harness))).await {
            Ok(()) => report.passed.push(case.name),
            Err(why) => report.failed.push((case.name, why)),
        }
    }
    report
}

/// A case's future, with its panic turned into the failure text.
struct CatchUnwind<'a>(BoxFuture<'a, ()>);

impl Future for CatchUnwind<'_> {
    type Output = std::result::Result<(), String>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.0.as_mut();
        match std::panic::catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(())) => Poll::Ready(Ok(())),
            Err(panic) => Poll::Ready(Err(asyncz_core::panic_message(panic.as_ref()))),
        }
    }
}

/// Events until `done` says so; panics after `timeout` with what was seen.
pub async fn until(
    rx: &mut UnboundedReceiver<Event>,
    timeout: Duration,
    mut done: impl FnMut(&Event) -> bool,
) -> Vec<Event> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut seen = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(e)) => {
                let stop = done(&e);
                seen.push(e);
                if stop {
                    return seen;
                }
            }
            Ok(None) => panic!("event channel closed; got {seen:?}"),
            Err(_) => panic!("timed out; got {seen:?}"),
        }
    }
}

/// The first execution outcome (`TASK_EXECUTED`, `TASK_ERROR`, `TASK_MISSED`) of `task_id`
/// (within 20 s).
pub async fn outcome(
    rx: &mut UnboundedReceiver<Event>,
    task_id: &str,
) -> asyncz_core::events::TaskExecutionEvent {
    let events = until(
        rx,
        Duration::from_secs(20),
        |e| matches!(e, Event::Execution(x) if x.task_id == task_id),
    )
    .await;
    match events.into_iter().last() {
        Some(Event::Execution(x)) => x,
        other => panic!("expected an execution event, got {other:?}"),
    }
}

/// Waits (up to 10 s) until no run of `task_id` is counted as running.
pub async fn assert_no_instance_leaks(scheduler: &Scheduler, task_id: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while scheduler.running_instances(task_id) != 0 {
        assert!(
            Instant::now() < deadline,
            "task '{task_id}' still counts {} running instance(s)",
            scheduler.running_instances(task_id)
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// What is alive of the executor whose workers carry `marker`: thread names (with their
/// thread id) or process ids. `None` when this platform cannot tell (no `/proc`) or `workers`
/// is [`Workers::Runtime`].
pub fn live_workers(workers: Workers, marker: &str) -> Option<Vec<String>> {
    match workers {
        Workers::Runtime => None,
        Workers::Threads => {
            let tasks = std::fs::read_dir("/proc/self/task").ok()?;
            Some(
                tasks
                    .filter_map(|t| t.ok())
                    .filter_map(|t| {
                        let name = std::fs::read_to_string(t.path().join("comm")).ok()?;
                        let name = name.trim_end();
                        name.starts_with(marker)
                            .then(|| format!("thread {name} ({:?})", t.file_name()))
                    })
                    .collect(),
            )
        }
        Workers::Processes => Some(
            marked_processes(marker)?
                .into_iter()
                .map(|pid| format!("process {pid}"))
                .collect(),
        ),
    }
}

/// The live (not zombie) processes whose environment holds [`MARKER_ENV`]` = marker`.
/// `None` without `/proc`.
pub fn marked_processes(marker: &str) -> Option<Vec<u32>> {
    let wanted = format!("{MARKER_ENV}={marker}");
    let entries = std::fs::read_dir("/proc").ok()?;
    let mut pids: Vec<u32> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let Ok(env) = std::fs::read(format!("/proc/{pid}/environ")) else {
                return false;
            };
            let marked = env.split(|&b| b == 0).any(|var| var == wanted.as_bytes());
            marked && process_state(*pid).is_some_and(|state| state != 'Z' && state != 'X')
        })
        .collect();
    pids.sort_unstable();
    Some(pids)
}

/// The state letter of `pid` (`R`, `S`, `Z`, ...) from `/proc/<pid>/stat`; `None` once it is
/// gone.
pub fn process_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.get(stat.rfind(')')? + 2..)?.chars().next()
}

/// Waits up to `within` until nothing of the executor with `marker` is alive; panics naming
/// what is left. Does nothing when the platform cannot tell.
pub async fn assert_no_live_workers(workers: Workers, marker: &str, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let Some(left) = live_workers(workers, marker) else {
            return;
        };
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "still alive {within:?} after the shutdown: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
