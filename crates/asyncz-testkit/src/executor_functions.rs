//! The functions the executor cases run ([`register`]), under the same names in the scheduler
//! under test and, for an executor that runs functions in other processes, in its workers (so
//! a worker runs exactly what an in-process executor runs). This file depends on asyncz-core,
//! serde_json, tokio and tracing only and names nothing else of the testkit, so a worker
//! binary can also compile it in as a module of its own.

use std::time::Duration;

use asyncz_core::{CallContext, FunctionRegistry, Result, TaskError, TaskFunction, Value};

/// Returns `{"answer": 42, "args": <positional args>}`.
pub const OK: &str = "case.ok";
/// Fails with the text `deliberate failure`.
pub const FAIL: &str = "case.fail";
/// Panics with the message `deliberate panic`.
pub const PANIC: &str = "case.panic";
/// Fails with `cannot load the report`, caused by an I/O error `disk on fire`.
pub const FAIL_WITH_CAUSE: &str = "case.fail_with_cause";
/// Panics with the message `deliberate async panic` after an await.
pub const ASYNC_PANIC: &str = "case.async_panic";
/// Sleeps (blocking) for argument 0 milliseconds, then returns it.
pub const SLEEP: &str = "case.sleep";
/// Sleeps on tokio's timer for argument 0 milliseconds, then returns it.
pub const ASYNC_SLEEP: &str = "case.async_sleep";
/// Calls `std::process::abort()`.
pub const ABORT: &str = "case.abort";
/// Calls `std::process::exit(3)`.
pub const EXIT: &str = "case.exit";
/// Logs `hello from the worker` with tracing (field `answer = 42`) and returns the pid.
pub const LOG: &str = "case.log";
/// Returns the process id.
pub const PID: &str = "case.pid";
/// Returns the value of the environment variable named by argument 0 (null when unset).
pub const ENV: &str = "case.env";
/// Prints a line to stdout and returns `"printed"`.
pub const PRINT: &str = "case.print";
/// Returns a string of argument 0 bytes (`"x"` repeated): a result of a chosen size.
pub const BIG_RESULT: &str = "case.big_result";
/// Returns how late it started, in microseconds after its scheduled run time (benchmarks).
pub const LATENESS_US: &str = "case.lateness_us";

/// Registers every case function into `registry`.
pub fn register(registry: &FunctionRegistry) -> Result<()> {
    registry.insert(
        OK,
        TaskFunction::new_sync(
            |ctx: CallContext| -> std::result::Result<Value, TaskError> {
                Ok(serde_json::json!({"answer": 42, "args": ctx.args}))
            },
        ),
    )?;
    registry.insert(
        FAIL,
        TaskFunction::new_sync(|_ctx: CallContext| -> std::result::Result<(), String> {
            Err("deliberate failure".to_owned())
        }),
    )?;
    registry.insert(
        PANIC,
        TaskFunction::new_sync(|_ctx: CallContext| -> std::result::Result<(), String> {
            panic!("deliberate panic")
        }),
    )?;
    registry.insert(
        FAIL_WITH_CAUSE,
        TaskFunction::new_sync(|_ctx: CallContext| -> std::result::Result<(), LoadError> {
            Err(LoadError(std::io::Error::other("disk on fire")))
        }),
    )?;
    registry.insert(
        ASYNC_PANIC,
        TaskFunction::new_async(|_ctx: CallContext| async move {
            tokio::task::yield_now().await;
            panic!("deliberate async panic") as ()
        }),
    )?;
    registry.insert(
        SLEEP,
        TaskFunction::new_sync(|ctx: CallContext| -> std::result::Result<u64, TaskError> {
            let ms: u64 = ctx.arg(0)?;
            std::thread::sleep(Duration::from_millis(ms));
            Ok(ms)
        }),
    )?;
    registry.insert(
        ASYNC_SLEEP,
        TaskFunction::new_async(|ctx: CallContext| async move {
            let ms: u64 = ctx.arg(0)?;
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok::<u64, TaskError>(ms)
        }),
    )?;
    registry.insert(
        ABORT,
        TaskFunction::new_sync(|_ctx: CallContext| -> std::result::Result<(), String> {
            std::process::abort()
        }),
    )?;
    registry.insert(
        EXIT,
        TaskFunction::new_sync(|_ctx: CallContext| -> std::result::Result<(), String> {
            std::process::exit(3)
        }),
    )?;
    registry.insert(
        LOG,
        TaskFunction::new_sync(|_ctx: CallContext| -> std::result::Result<u32, String> {
            tracing::info!(answer = 42, "hello from the worker");
            Ok(std::process::id())
        }),
    )?;
    registry.insert(
        PID,
        TaskFunction::new_sync(|_ctx: CallContext| -> std::result::Result<u32, String> {
            Ok(std::process::id())
        }),
    )?;
    registry.insert(
        ENV,
        TaskFunction::new_sync(
            |ctx: CallContext| -> std::result::Result<Option<String>, TaskError> {
                let name: String = ctx.arg(0)?;
                Ok(std::env::var(name).ok())
            },
        ),
    )?;
    registry.insert(
        PRINT,
        TaskFunction::new_sync(|_ctx: CallContext| -> std::result::Result<&str, String> {
            println!("a line on stdout that must not corrupt the protocol");
            Ok("printed")
        }),
    )?;
    registry.insert(
        BIG_RESULT,
        TaskFunction::new_sync(
            |ctx: CallContext| -> std::result::Result<String, TaskError> {
                let bytes: usize = ctx.arg(0)?;
                Ok("x".repeat(bytes))
            },
        ),
    )?;
    registry.insert(
        LATENESS_US,
        TaskFunction::new_sync(|ctx: CallContext| -> std::result::Result<i64, String> {
            let late = asyncz_core::chrono::Utc::now() - ctx.scheduled_run_time;
            Ok(late.num_microseconds().unwrap_or(i64::MAX))
        }),
    )?;
    Ok(())
}

/// The error of [`FAIL_WITH_CAUSE`]: a message of its own, with its cause as `source()`.
#[derive(Debug)]
pub struct LoadError(std::io::Error);

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("cannot load the report")
    }
}

impl std::error::Error for LoadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}
