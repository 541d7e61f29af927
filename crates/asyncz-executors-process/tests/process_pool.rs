#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The process-pool executor through the scheduler, with a real worker binary
//! (`asyncz-process-test-worker`, which registers the testkit's case functions): the shared
//! executor suite, then what is particular to worker processes.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use asyncz_core::events::*;
use asyncz_core::{CallContext, Map, RunOutcome, Scheduler, TaskBuilder};
use asyncz_executors_process::{PoolConfig, ProcessPoolExecutor, ProcessPoolExecutorConfig};
use asyncz_testkit::executor::{self as executor_cases, case_functions as f, outcome, POOL};
use asyncz_testkit::{ExecutorCapabilities, ExecutorHarness, PoolOptions, Workers};

mod common;
use common::{builder, plugins};

const WORKER: &str = env!("CARGO_BIN_EXE_asyncz-process-test-worker");

fn config(options: PoolOptions) -> ProcessPoolExecutorConfig {
    ProcessPoolExecutorConfig::default()
        .pool(
            PoolConfig::with_max_workers(options.max_workers)
                .cancel_futures(options.cancel_futures),
        )
        .program(WORKER)
        .env(executor_cases::MARKER_ENV, options.marker)
}

struct ProcessPool;

impl ExecutorHarness for ProcessPool {
    fn name(&self) -> String {
        "processpool".into()
    }
    fn capabilities(&self) -> ExecutorCapabilities {
        ExecutorCapabilities {
            workers: Workers::Processes,
            cancel_futures: true,
            shutdown_without_wait_stops_running_jobs: true,
        }
    }
    fn scheduler(&self, options: &PoolOptions) -> asyncz_core::Result<Scheduler> {
        builder()
            .executor(
                POOL,
                ProcessPoolExecutor::with_config(config(options.clone())),
            )
            .build()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_executor_suite_passes() {
    let report = asyncz_testkit::run_executor_suite(&ProcessPool).await;
    println!("{report}");
    report.assert_passed();
}

async fn started(config: ProcessPoolExecutorConfig) -> (Scheduler, Arc<ProcessPoolExecutor>) {
    // Keep a handle on the executor to look at its workers: the scheduler takes it by value, so
    // wrap it in a forwarding executor.
    let executor = Arc::new(ProcessPoolExecutor::with_config(config));
    let scheduler = builder()
        .executor(POOL, Shared(Arc::clone(&executor)))
        .build()
        .unwrap();
    f::register(scheduler.functions()).unwrap();
    scheduler.start().await.unwrap();
    (scheduler, executor)
}

#[derive(Debug)]
struct Shared(Arc<ProcessPoolExecutor>);

#[asyncz_core::async_trait]
impl asyncz_core::Executor for Shared {
    fn kind(&self) -> &'static str {
        self.0.kind()
    }
    async fn start(&self, ctx: asyncz_core::ExecutorContext) -> asyncz_core::Result<()> {
        self.0.start(ctx).await
    }
    async fn shutdown(&self, wait: bool) -> asyncz_core::Result<()> {
        self.0.shutdown(wait).await
    }
    async fn send_task(&self, job: asyncz_core::Job) -> asyncz_core::Result<()> {
        self.0.send_task(job).await
    }
    fn supports_closures(&self) -> bool {
        self.0.supports_closures()
    }
}

fn task(function: &str, id: &str) -> TaskBuilder {
    TaskBuilder::new()
        .function(function)
        .id(id)
        .executor(POOL)
        .mistrigger_grace_time(None)
}

/// The parent pid of `pid` and its state letter, from /proc (None once it is reaped).
fn proc_stat(pid: u32) -> Option<(u32, char)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut parts = rest.split_whitespace();
    let state = parts.next()?.chars().next()?;
    let ppid = parts.next()?.parse().ok()?;
    Some((ppid, state))
}

fn is_our_child(pid: u32) -> bool {
    matches!(proc_stat(pid), Some((ppid, _)) if ppid == std::process::id())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closure_is_refused_when_it_is_added() {
    let (scheduler, _) = started(config(PoolOptions::default())).await;
    let err = scheduler
        .add_task(
            TaskBuilder::new()
                .closure(|_ctx: CallContext| ())
                .id("closure")
                .executor(POOL),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("registered functions only") && err.contains("closure"),
        "{err}"
    );
    scheduler.shutdown(true).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_aborts_is_an_error_and_is_replaced() {
    let (scheduler, _) = started(config(PoolOptions {
        max_workers: 1,
        ..Default::default()
    }))
    .await;
    let mut rx = scheduler.subscribe(TASK_EXECUTED | TASK_ERROR | TASK_MISSED);
    scheduler.add_task(task(f::PID, "before")).await.unwrap();
    let before = outcome(&mut rx, "before").await.return_value.unwrap();
    scheduler.add_task(task(f::ABORT, "abort")).await.unwrap();
    let event = outcome(&mut rx, "abort").await;
    assert_eq!(event.code, TASK_ERROR);
    assert!(
        matches!(
            event.outcome,
            RunOutcome::WorkerDied {
                signal: Some(6),
                exit_code: None,
                ..
            }
        ),
        "{event:?}"
    );
    let text = event.exception.unwrap();
    assert_eq!(
        text,
        format!(
            "worker process {before} exited with signal 6 (SIGABRT) while running task 'abort' \
             (function '{}')",
            f::ABORT
        )
    );
    executor_cases::assert_no_instance_leaks(&scheduler, "abort").await;
    scheduler.add_task(task(f::PID, "after")).await.unwrap();
    let after = outcome(&mut rx, "after").await;
    assert_eq!(after.code, TASK_EXECUTED);
    assert_ne!(
        after.return_value.unwrap(),
        before,
        "the worker was not replaced"
    );
    assert!(
        !is_our_child(before.as_u64().unwrap() as u32),
        "the dead worker was not reaped"
    );
    assert!(scheduler.running());
    scheduler.shutdown(true).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_exits_is_an_error_naming_its_status() {
    let (scheduler, _) = started(config(PoolOptions::default())).await;
    let mut rx = scheduler.subscribe(TASK_EXECUTED | TASK_ERROR | TASK_MISSED);
    scheduler.add_task(task(f::EXIT, "exit")).await.unwrap();
    let event = outcome(&mut rx, "exit").await;
    assert!(
        matches!(
            event.outcome,
            RunOutcome::WorkerDied {
                signal: None,
                exit_code: Some(3),
                ..
            }
        ),
        "{event:?}"
    );
    let text = event.exception.unwrap();
    assert!(
        text.contains("exited with status 3 while running task 'exit'"),
        "{text}"
    );
    scheduler.shutdown(true).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_task_is_an_error_and_the_scheduler_keeps_running() {
    let (scheduler, executor) = started(config(PoolOptions {
        max_workers: 1,
        ..Default::default()
    }))
    .await;
    let mut rx = scheduler.subscribe(TASK_EXECUTED | TASK_ERROR | TASK_MISSED);
    scheduler
        .add_task(task(f::SLEEP, "victim").arg(10_000).max_instances(1))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let pid = loop {
        if let Some(pid) = executor.worker_pids().first().copied() {
            break pid;
        }
        assert!(Instant::now() < deadline, "no worker started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let status = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let event = outcome(&mut rx, "victim").await;
    assert_eq!(event.code, TASK_ERROR);
    assert!(
        matches!(
            event.outcome,
            RunOutcome::WorkerDied {
                signal: Some(9),
                ..
            }
        ),
        "{event:?}"
    );
    let text = event.exception.unwrap();
    assert!(
        text.starts_with(&format!(
            "worker process {pid} exited with signal 9 (SIGKILL) while running task 'victim'"
        )),
        "{text}"
    );
    executor_cases::assert_no_instance_leaks(&scheduler, "victim").await;
    scheduler.add_task(task(f::OK, "next")).await.unwrap();
    assert_eq!(outcome(&mut rx, "next").await.code, TASK_EXECUTED);
    scheduler.shutdown(true).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_reaps_every_worker() {
    let (scheduler, executor) = started(config(PoolOptions {
        max_workers: 3,
        ..Default::default()
    }))
    .await;
    let mut rx = scheduler.subscribe(TASK_EXECUTED);
    for i in 0..3 {
        scheduler
            .add_task(task(f::SLEEP, &format!("s{i}")).arg(200))
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let pids = executor.worker_pids();
    assert_eq!(pids.len(), 3, "{pids:?}");
    assert!(pids.iter().all(|&p| is_our_child(p)));
    scheduler.shutdown(true).await.unwrap();
    for _ in 0..3 {
        assert_eq!(rx.try_recv().unwrap().code(), TASK_EXECUTED);
    }
    for pid in pids {
        assert!(
            proc_stat(pid).is_none() || !is_our_child(pid),
            "worker {pid} is left behind: {:?}",
            proc_stat(pid)
        );
    }
    assert!(executor.worker_pids().is_empty());
}

/// `shutdown(wait = false)` kills the running worker at once (the run is a `TASK_ERROR` saying
/// so) and its driver reaps it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_are_killed_and_reaped_after_a_shutdown_without_wait() {
    let (scheduler, executor) = started(config(PoolOptions::default())).await;
    let mut rx = scheduler.subscribe(TASK_EXECUTED | TASK_ERROR);
    scheduler
        .add_task(task(f::SLEEP, "s").arg(30_000))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while executor.worker_pids().is_empty() {
        assert!(Instant::now() < deadline, "no worker started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let pids = executor.worker_pids();
    assert_eq!(pids.len(), 1);
    let started_at = Instant::now();
    scheduler.shutdown(false).await.unwrap();
    let event = outcome(&mut rx, "s").await;
    assert!(started_at.elapsed() < Duration::from_secs(5));
    assert_eq!(event.code, TASK_ERROR, "{event:?}");
    assert!(
        matches!(
            event.outcome,
            RunOutcome::WorkerDied {
                signal: Some(9),
                ..
            }
        ),
        "{event:?}"
    );
    let text = event.exception.unwrap();
    assert!(
        text.starts_with(&format!(
            "worker process {} was stopped by shutdown(wait = false) while running task 's' \
             (function '{}'); it exited with signal 9 (SIGKILL)",
            pids[0],
            f::SLEEP
        )),
        "{text}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while pids.iter().any(|&p| is_our_child(p)) {
        assert!(
            Instant::now() < deadline,
            "worker not reaped: {:?}",
            proc_stat(pids[0])
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn captured_logs() -> Captured {
    static LOGS: OnceLock<Captured> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Captured::default();
        let writer = logs.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .init();
        logs
    })
    .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_logs_and_output_reach_the_parent_tracing_with_the_pid() {
    let logs = captured_logs();
    let (scheduler, _) = started(config(PoolOptions::default())).await;
    let mut rx = scheduler.subscribe(TASK_EXECUTED | TASK_ERROR);
    scheduler.add_task(task(f::LOG, "log")).await.unwrap();
    let pid = outcome(&mut rx, "log").await.return_value.unwrap();
    scheduler.add_task(task(f::PRINT, "print")).await.unwrap();
    let printed = outcome(&mut rx, "print").await;
    assert_eq!(
        printed.return_value,
        Some(serde_json::json!("printed")),
        "{printed:?}"
    );
    scheduler.shutdown(true).await.unwrap();
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains("hello from the worker"))
        .unwrap_or_else(|| panic!("no worker log line in:\n{text}"));
    assert!(line.contains("INFO"), "{line}");
    assert!(line.contains("asyncz.executors.process"), "{line}");
    assert!(line.contains(&format!("pid={pid}")), "{line}");
    assert!(line.contains(r#""answer":42"#), "{line}");
    // Inside the run's span (the fmt subscriber prints the span and its fields first).
    assert!(line.contains("asyncz.run{"), "{line}");
    assert!(line.contains("task.id=log"), "{line}");
    assert!(line.contains("job.system=\"asyncz\""), "{line}");
    assert!(
        text.lines().any(
            |l| l.contains("a line on stdout that must not corrupt the protocol")
                && l.contains("pid=")
        ),
        "printed output not forwarded:\n{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_get_the_configured_environment() {
    let mut config = config(PoolOptions::default());
    config
        .env
        .insert("ASYNCZ_TEST_VALUE".into(), "from the pool".into());
    let (scheduler, _) = started(config).await;
    let mut rx = scheduler.subscribe(TASK_EXECUTED | TASK_ERROR);
    scheduler
        .add_task(task(f::ENV, "env").arg("ASYNCZ_TEST_VALUE"))
        .await
        .unwrap();
    let event = outcome(&mut rx, "env").await;
    assert_eq!(event.return_value, Some(serde_json::json!("from the pool")));
    scheduler
        .add_task(task(f::ENV, "marker").arg("ASYNCZ_PROCESS_WORKER"))
        .await
        .unwrap();
    let event = outcome(&mut rx, "marker").await;
    assert_eq!(
        event.return_value,
        Some(serde_json::Value::Null),
        "the worker marker leaks into the task's environment"
    );
    scheduler.shutdown(true).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_missing_in_the_worker_is_an_error() {
    let (scheduler, _) = started(config(PoolOptions::default())).await;
    scheduler
        .register("parent.only", |_ctx: CallContext| ())
        .unwrap();
    let mut rx = scheduler.subscribe(TASK_EXECUTED | TASK_ERROR);
    scheduler.add_task(task("parent.only", "p")).await.unwrap();
    let event = outcome(&mut rx, "p").await;
    assert!(matches!(event.outcome, RunOutcome::Failed(_)), "{event:?}");
    let text = event.exception.unwrap();
    assert!(
        text.starts_with("function 'parent.only' is not registered in worker process"),
        "{text}"
    );
    scheduler.shutdown(true).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_binary_that_never_says_hello_times_out() {
    let (scheduler, executor) = started(
        ProcessPoolExecutorConfig::default()
            .program("sleep")
            .args(["30"])
            .startup_timeout(Duration::from_millis(300))
            .max_workers(1),
    )
    .await;
    let mut rx = scheduler.subscribe(TASK_EXECUTED | TASK_ERROR);
    let started_at = Instant::now();
    scheduler.add_task(task(f::OK, "x")).await.unwrap();
    let text = outcome(&mut rx, "x").await.exception.unwrap();
    assert!(started_at.elapsed() < Duration::from_secs(5));
    assert!(text.contains("did not start within 300ms"), "{text}");
    assert!(text.contains("exited with signal 9 (SIGKILL)"), "{text}");
    assert!(executor.worker_pids().is_empty());
    scheduler.shutdown(true).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_binary_is_an_error_naming_it() {
    let (scheduler, _) =
        started(ProcessPoolExecutorConfig::default().program("/nonexistent/asyncz-worker")).await;
    let mut rx = scheduler.subscribe(TASK_EXECUTED | TASK_ERROR);
    scheduler.add_task(task(f::OK, "x")).await.unwrap();
    let text = outcome(&mut rx, "x").await.exception.unwrap();
    assert!(
        text.contains("cannot start a worker process '/nonexistent/asyncz-worker'"),
        "{text}"
    );
    scheduler.shutdown(true).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plugin_is_configured_by_alias_from_a_config_map() {
    let mut plugins = plugins();
    asyncz_executors_process::register(&mut plugins);
    let config: Map = serde_json::from_value(serde_json::json!({
        "asyncz.executors.pool.type": "processpool",
        "asyncz.executors.pool.max_workers": "1",
        "asyncz.executors.pool.pool_kwargs": {"program": WORKER, "startup_timeout": 5},
    }))
    .unwrap();
    let scheduler = builder().plugins(plugins).config(config).build().unwrap();
    f::register(scheduler.functions()).unwrap();
    scheduler.start().await.unwrap();
    let mut rx = scheduler.subscribe(TASK_EXECUTED | TASK_ERROR);
    scheduler.add_task(task(f::OK, "ok").arg(1)).await.unwrap();
    let event = outcome(&mut rx, "ok").await;
    assert_eq!(
        event.return_value,
        Some(serde_json::json!({"answer": 42, "args": [1]}))
    );
    scheduler.shutdown(true).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_a_worker_names_its_location_and_the_worker_survives() {
    let (scheduler, executor) = started(config(PoolOptions {
        max_workers: 1,
        ..Default::default()
    }))
    .await;
    let mut rx = scheduler.subscribe(TASK_EXECUTED | TASK_ERROR);
    scheduler.add_task(task(f::PANIC, "panic")).await.unwrap();
    let event = outcome(&mut rx, "panic").await;
    let pids = executor.worker_pids();
    let RunOutcome::Panicked(panic) = &event.outcome else {
        panic!("expected a panicked outcome: {event:?}");
    };
    let location = panic
        .location
        .as_ref()
        .expect("the worker reports the location");
    assert!(
        location.file.ends_with("executor_functions.rs"),
        "{location}"
    );
    assert_eq!(
        panic.message,
        format!("deliberate panic (worker process {})", pids[0])
    );
    let text = event.exception.unwrap();
    assert!(
        text.starts_with(&format!("panicked at {location}: deliberate panic"))
            && text.ends_with(&format!("(worker process {})", pids[0])),
        "{text}"
    );
    scheduler.add_task(task(f::PID, "pid")).await.unwrap();
    let pid = outcome(&mut rx, "pid").await.return_value.unwrap();
    assert_eq!(
        pid,
        serde_json::json!(pids[0]),
        "a panic must not cost the worker"
    );
    scheduler.shutdown(true).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overwrite_wait_replaces_the_wait_argument_of_shutdown() {
    let mut options = config(PoolOptions::default());
    options.pool.overwrite_wait = Some(true);
    let (scheduler, _) = started(options).await;
    let mut rx = scheduler.subscribe(TASK_EXECUTED | TASK_ERROR);
    scheduler
        .add_task(task(f::SLEEP, "s").arg(300))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    scheduler.shutdown(false).await.unwrap();
    assert_eq!(
        rx.try_recv().map(|e| e.code()).ok(),
        Some(TASK_EXECUTED),
        "shutdown(false) with overwrite_wait = true did not wait"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_tasks_per_child_replaces_a_worker_after_that_many_tasks() {
    let (scheduler, _) = started(
        config(PoolOptions {
            max_workers: 1,
            ..Default::default()
        })
        .max_tasks_per_child(2),
    )
    .await;
    let mut rx = scheduler.subscribe(TASK_EXECUTED | TASK_ERROR);
    let mut pids = Vec::new();
    for i in 0..4 {
        let id = format!("pid-{i}");
        scheduler.add_task(task(f::PID, &id)).await.unwrap();
        pids.push(outcome(&mut rx, &id).await.return_value.unwrap());
    }
    assert_eq!(pids[0], pids[1]);
    assert_ne!(pids[1], pids[2]);
    assert_eq!(pids[2], pids[3]);
    assert!(
        !is_our_child(pids[0].as_u64().unwrap() as u32),
        "retired worker not reaped"
    );
    scheduler.shutdown(true).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_whose_registration_fails_is_an_error_with_the_reason() {
    let mut config = config(PoolOptions::default());
    config
        .env
        .insert("ASYNCZ_TEST_FAIL_REGISTRATION".into(), "1".into());
    let (scheduler, executor) = started(config).await;
    let mut rx = scheduler.subscribe(TASK_EXECUTED | TASK_ERROR);
    scheduler.add_task(task(f::OK, "x")).await.unwrap();
    let text = outcome(&mut rx, "x").await.exception.unwrap();
    assert!(
        text.contains(
            "could not register its functions: invalid function name: registration failed on \
             purpose; it exited with status 2"
        ),
        "{text}"
    );
    assert!(executor.worker_pids().is_empty());
    executor_cases::assert_no_instance_leaks(&scheduler, "x").await;
    scheduler.shutdown(true).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_beyond_task_timeout_is_an_error_and_its_worker_is_replaced() {
    let (scheduler, _) = started(
        config(PoolOptions {
            max_workers: 1,
            ..Default::default()
        })
        .task_timeout(Duration::from_millis(300)),
    )
    .await;
    let mut rx = scheduler.subscribe(TASK_EXECUTED | TASK_ERROR);
    scheduler.add_task(task(f::PID, "before")).await.unwrap();
    let before = outcome(&mut rx, "before").await.return_value.unwrap();
    let started_at = Instant::now();
    scheduler
        .add_task(task(f::SLEEP, "stuck").arg(20_000))
        .await
        .unwrap();
    let event = outcome(&mut rx, "stuck").await;
    assert!(started_at.elapsed() < Duration::from_secs(5));
    assert!(
        matches!(
            event.outcome,
            RunOutcome::TimedOut { timeout, .. } if timeout == Duration::from_millis(300)
        ),
        "{event:?}"
    );
    let text = event.exception.unwrap();
    assert_eq!(
        text,
        format!(
            "task 'stuck' (function '{}') did not finish within 300ms; worker process {before} \
             was killed (exited with signal 9 (SIGKILL))",
            f::SLEEP
        )
    );
    executor_cases::assert_no_instance_leaks(&scheduler, "stuck").await;
    scheduler.add_task(task(f::PID, "after")).await.unwrap();
    let after = outcome(&mut rx, "after").await;
    assert_eq!(after.code, TASK_EXECUTED);
    assert_ne!(after.return_value.unwrap(), before);
    scheduler.shutdown(true).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_over_the_frame_limit_is_an_error_naming_the_limit_and_the_size() {
    let (scheduler, _) = started(config(PoolOptions {
        max_workers: 1,
        ..Default::default()
    }))
    .await;
    let mut rx = scheduler.subscribe(TASK_EXECUTED | TASK_ERROR);
    scheduler.add_task(task(f::PID, "before")).await.unwrap();
    let before = outcome(&mut rx, "before").await.return_value.unwrap();
    let bytes = 256 * 1024 * 1024 + 1;
    scheduler
        .add_task(task(f::BIG_RESULT, "big").arg(bytes))
        .await
        .unwrap();
    let event = outcome(&mut rx, "big").await;
    assert_eq!(event.code, TASK_ERROR, "{event:?}");
    let text = event.exception.unwrap();
    assert!(
        text.starts_with(&format!(
            "the result of task 'big' (function '{}') is {} bytes of MessagePack, above the \
             frame limit of 268435456 bytes",
            f::BIG_RESULT,
            bytes + 9
        )),
        "{text}"
    );
    executor_cases::assert_no_instance_leaks(&scheduler, "big").await;
    scheduler.add_task(task(f::PID, "after")).await.unwrap();
    let after = outcome(&mut rx, "after").await.return_value.unwrap();
    assert_eq!(
        after, before,
        "an oversized result must not cost the worker"
    );
    scheduler.shutdown(true).await.unwrap();
}
