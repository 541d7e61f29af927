#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The `axum_service` example as a real process: it serves `/metrics`, and asyncz-web under
//! `/asyncz` with its `/healthz`, `/readyz` and API, and on SIGTERM mid-run it drains within its shutdown timeout (the run finishes,
//! or is cancelled and reported) and exits 0.

#![cfg(unix)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The example binary next to this test's (`target/<profile>/examples/axum_service`), built
/// first when `cargo test` was limited to this test target.
fn example() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let path = profile_dir.join("examples").join("axum_service");
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let status = Command::new(cargo)
            .args([
                "build",
                "-p",
                "asyncz-examples",
                "--example",
                "axum_service",
            ])
            .status()
            .unwrap();
        assert!(status.success(), "building the example failed");
    }
    path
}

struct Service {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Service {
    fn start(job_ms: u64, shutdown_timeout_ms: u64) -> Service {
        let mut child = Command::new(example())
            .env("ASYNCZ_EXAMPLE_ADDR", "127.0.0.1:0")
            .env("ASYNCZ_EXAMPLE_JOB_MS", job_ms.to_string())
            .env(
                "ASYNCZ_EXAMPLE_SHUTDOWN_TIMEOUT_MS",
                shutdown_timeout_ms.to_string(),
            )
            .env("RUST_LOG", "asyncz=warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Service {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a stdout line starting with `prefix`.
    fn wait_for(&mut self, prefix: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.starts_with(prefix) {
                        return line;
                    }
                }
                Err(_) => panic!("no line starting with {prefix:?}; saw {:?}", self.seen),
            }
        }
    }

    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit; returns its code and how long that took.
    fn exit(&mut self, timeout: Duration) -> (Option<i32>, Duration) {
        let began = Instant::now();
        while began.elapsed() < timeout {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status.code(), began.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        panic!(
            "the service did not exit within {timeout:?}; saw {:?}",
            self.seen
        );
    }

    fn rest(&mut self) -> Vec<String> {
        while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(500)) {
            self.seen.push(line);
        }
        self.seen.clone()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn get(addr: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn sigterm_mid_run_cancels_the_run_at_the_timeout_and_exits_0() {
    let mut service = Service::start(60_000, 1_000);
    let listening = service.wait_for("listening on ", Duration::from_secs(60));
    let addr = listening.trim_start_matches("listening on ").to_owned();
    service.wait_for("run started", Duration::from_secs(10));

    let (status, body) = get(&addr, "/asyncz/healthz");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""status":"ok""#), "{body}");
    let (status, body) = get(&addr, "/asyncz/readyz");
    assert_eq!(status, 200, "{body}");
    let (status, tasks) = get(&addr, "/asyncz/api/v1/tasks");
    assert_eq!(status, 200, "{tasks}");
    assert!(tasks.contains(r#""id":"work""#), "{tasks}");
    let (status, scraped) = get(&addr, "/asyncz/metrics");
    assert_eq!(status, 200);
    assert!(scraped.contains("asyncz_runs_active"), "{scraped}");
    let (status, metrics) = get(&addr, "/metrics");
    assert_eq!(status, 200);
    assert!(metrics.contains("asyncz_runs_active 1"), "{metrics}");
    assert!(
        metrics.contains("asyncz_tasks{state=\"scheduled\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("asyncz_store_call_seconds_bucket"),
        "{metrics}"
    );

    service.terminate();
    let (code, took) = service.exit(Duration::from_secs(10));
    assert_eq!(code, Some(0), "{:?}", service.rest());
    assert!(took < Duration::from_secs(4), "exited after {took:?}");
    let lines = service.rest();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("event error task=work error=cancelled")),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l == "drained finished=0 cancelled=1"),
        "{lines:?}"
    );
}

#[test]
fn sigterm_mid_run_lets_a_short_run_finish_and_exits_0() {
    let mut service = Service::start(700, 10_000);
    service.wait_for("listening on ", Duration::from_secs(60));
    service.wait_for("run started", Duration::from_secs(10));
    service.terminate();
    let (code, took) = service.exit(Duration::from_secs(10));
    assert_eq!(code, Some(0), "{:?}", service.rest());
    assert!(took < Duration::from_secs(5), "exited after {took:?}");
    let lines = service.rest();
    assert!(
        lines.iter().any(|l| l == "event executed task=work"),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l == "drained finished=1 cancelled=0"),
        "{lines:?}"
    );
}
