#![allow(clippy::unwrap_used, clippy::expect_used)]
//! No worker outlives its program: a real program (this test binary, re-run in the role of
//! `program_with_a_never_ending_job`) starts a process pool whose worker runs a job that never
//! ends, then exits after `shutdown(wait = false)`, or is SIGKILLed; afterwards no process
//! carrying its marker is alive.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use asyncz_core::events::{TASK_ERROR, TASK_SUBMITTED};
use asyncz_core::TaskBuilder;
use asyncz_executors_process::{ProcessPoolExecutor, ProcessPoolExecutorConfig};
use asyncz_testkit::executor::{case_functions as f, marked_processes, MARKER_ENV, POOL};

mod common;
use common::builder;

const WORKER: &str = env!("CARGO_BIN_EXE_asyncz-process-test-worker");
/// Set in the program's environment: `exit` or `wait-for-kill`.
const ROLE_ENV: &str = "ASYNCZ_TEST_PROGRAM_ROLE";
/// The marker the program gives its workers (as `MARKER_ENV`; the program itself has not it).
const WORKER_MARKER_ENV: &str = "ASYNCZ_TEST_PROGRAM_WORKER_MARKER";

/// The program under test; does nothing unless started by one of the tests below.
#[test]
fn program_with_a_never_ending_job() {
    let Ok(role) = std::env::var(ROLE_ENV) else {
        return;
    };
    let marker = std::env::var(WORKER_MARKER_ENV).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let config = ProcessPoolExecutorConfig::default()
            .max_workers(1)
            .program(WORKER)
            .env(MARKER_ENV, marker.clone());
        let scheduler = builder()
            .executor(POOL, ProcessPoolExecutor::with_config(config))
            .build()
            .unwrap();
        f::register(scheduler.functions()).unwrap();
        scheduler.start().await.unwrap();
        let mut rx = scheduler.subscribe(TASK_SUBMITTED | TASK_ERROR);
        scheduler
            .add_task(
                TaskBuilder::new()
                    .function(f::SLEEP)
                    .id("forever")
                    .arg(3_600_000)
                    .executor(POOL),
            )
            .await
            .unwrap();
        let event = rx.recv().await.unwrap();
        assert_eq!(event.code(), TASK_SUBMITTED, "{event:?}");
        // The worker is up once it carries the marker and has had time to take the job.
        let deadline = Instant::now() + Duration::from_secs(10);
        while marked_processes(&marker).unwrap_or_default().is_empty() {
            assert!(Instant::now() < deadline, "no worker started");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        println!("\nREADY");
        if role == "exit" {
            // The test counts the worker first, then says go (a line on stdin).
            let mut go = String::new();
            std::io::stdin().read_line(&mut go).unwrap();
            scheduler.shutdown(false).await.unwrap();
            // What a program does at the end of main: exit, whatever threads still run.
            std::process::exit(0);
        }
        tokio::time::sleep(Duration::from_secs(3600)).await;
    });
}

/// Runs the program in `role`, waits for it to say READY, lets `end` end it, then checks that
/// none of its workers is alive within 5 s (killing any that is, so none is left behind).
fn no_worker_outlives_the_program(role: &str, end: impl FnOnce(&mut std::process::Child)) {
    if !std::path::Path::new("/proc/self/environ").exists() {
        eprintln!("skipped: no /proc on this platform");
        return;
    }
    let marker = format!("lifetime-{role}-{}", std::process::id());
    let mut program = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "program_with_a_never_ending_job",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ROLE_ENV, role)
        .env(WORKER_MARKER_ENV, &marker)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = program.stdout.take().unwrap();
    let ready = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|line| line.ends_with("READY"));
    assert!(ready, "the program ended before its worker ran the job");
    let workers = marked_processes(&marker).unwrap();
    assert_eq!(workers.len(), 1, "{workers:?}");
    end(&mut program);
    let deadline = Instant::now() + Duration::from_secs(5);
    let left = loop {
        let left = marked_processes(&marker).unwrap();
        if left.is_empty() || Instant::now() >= deadline {
            break left;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    for pid in &left {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    }
    assert!(
        left.is_empty(),
        "worker(s) {left:?} of program {} still alive 5 s after it ended",
        program.id()
    );
}

#[test]
fn no_worker_outlives_a_program_that_exits_after_shutdown_without_wait() {
    no_worker_outlives_the_program("exit", |program| {
        use std::io::Write;
        let mut stdin = program.stdin.take().unwrap();
        stdin.write_all(b"go\n").unwrap();
        drop(stdin);
        let status = program.wait().unwrap();
        assert!(status.success(), "the program failed: {status}");
    });
}

#[test]
fn no_worker_outlives_a_program_that_is_killed() {
    no_worker_outlives_the_program("wait-for-kill", |program| {
        program.kill().unwrap();
        program.wait().unwrap();
    });
}
