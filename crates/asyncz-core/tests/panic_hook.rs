//! The panic hook asyncz installs to learn where a task panicked is chained onto the
//! application's own, and a backtrace is captured exactly when `RUST_BACKTRACE` asks for one.
//! Panic hooks and the backtrace setting are process-wide, so each check runs in a child
//! process of this test binary with the environment it needs.
#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use asyncz_core::{catch_panic, RunOutcome, TaskError};

const CHILD: &str = "ASYNCZ_PANIC_HOOK_CHILD";

/// Runs `test` of this binary alone in a child process with `env`; panics unless it ran there
/// and passed.
fn in_child(test: &str, env: &[(&str, &str)]) {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", test, "--test-threads=1"])
        .env(CHILD, "1")
        .env_remove("RUST_LIB_BACKTRACE");
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "{test} failed in its child process with {env:?}:\n{}\n{}",
        stdout,
        String::from_utf8_lossy(&output.stderr)
    );
}

fn is_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

#[test]
fn the_applications_panic_hook_still_runs() {
    if !is_child() {
        return in_child("the_applications_panic_hook_still_runs", &[]);
    }
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    std::panic::set_hook(Box::new(move |_| {
        seen.fetch_add(1, Ordering::SeqCst);
    }));
    let report = catch_panic(|| -> () { panic!("in a run") }).unwrap_err();
    assert!(report.location.is_some(), "{report:?}");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "the app's hook saw the run's panic"
    );
    // A panic outside a run reaches the app's hook too, and is not taken for a run's.
    let outside = std::panic::catch_unwind(|| panic!("outside"));
    assert!(outside.is_err());
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let report = catch_panic(|| std::panic::panic_any(1_i32)).unwrap_err();
    assert!(report.location.unwrap().line > 0);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

fn check_backtraces(wanted: bool) {
    let report = catch_panic(|| -> () { panic!("traced") }).unwrap_err();
    assert_eq!(report.backtrace.is_some(), wanted, "{report:?}");
    let traceback = RunOutcome::Panicked(report.clone()).traceback().unwrap();
    match &report.backtrace {
        Some(backtrace) => assert_eq!(&traceback, backtrace),
        None => assert!(traceback.starts_with("panicked at "), "{traceback}"),
    }
    let failure = TaskError::from(std::io::Error::other("failed")).to_failure();
    assert_eq!(failure.backtrace.is_some(), wanted, "{failure:?}");
}

#[test]
fn a_backtrace_is_captured_when_rust_backtrace_asks_for_one() {
    if !is_child() {
        return in_child(
            "a_backtrace_is_captured_when_rust_backtrace_asks_for_one",
            &[("RUST_BACKTRACE", "1")],
        );
    }
    check_backtraces(true);
}

#[test]
fn no_backtrace_is_captured_when_rust_backtrace_is_off() {
    if !is_child() {
        return in_child(
            "no_backtrace_is_captured_when_rust_backtrace_is_off",
            &[("RUST_BACKTRACE", "0")],
        );
    }
    check_backtraces(false);
}
