//! `asyncz serve` as the built binary over a store a cluster node in the test process shares:
//! the probes, the API with a token, run now through a run request that the node takes (the
//! serving process never runs a function), adding a task naming a function the node runs,
//! SIGTERM ending it with exit 0, and the usage errors of its options.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use asyncz::{CallContext, IntervalTrigger, TaskBuilder};
use common::{asyncz as cli, fast_node, Backend};
use serde_json::{json, Value};

const TOKEN: &str = "serve-test-token";

struct Served {
    child: Child,
    stdout: BufReader<std::process::ChildStdout>,
    addr: String,
}

impl Served {
    fn start(backend: &Backend, extra: &[&str]) -> Served {
        let token = format!("ops:admin:{}", asyncz::web::hash_token(TOKEN));
        let mut child = Command::new(env!("CARGO_BIN_EXE_asyncz"))
            .args([
                "serve",
                "--config",
                backend.config_arg(),
                "--bind",
                "127.0.0.1:0",
            ])
            .args(["--token", &token])
            .args(extra)
            .env_remove("ASYNCZ_WEB_TOKENS")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let addr = line
            .trim()
            .strip_prefix("serving on http://")
            .and_then(|a| a.strip_suffix('/'))
            .unwrap_or_else(|| panic!("banner: {line:?}"))
            .to_owned();
        Served {
            child,
            stdout,
            addr,
        }
    }

    /// One request with the admin token (or none); the status and the JSON body.
    fn call(&self, method: &str, path: &str, auth: bool, body: Option<Value>) -> (u16, Value) {
        let mut stream = TcpStream::connect(&self.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let auth = if auth {
            format!("Authorization: Bearer {TOKEN}\r\n")
        } else {
            String::new()
        };
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.addr,
            body.len()
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let status = response
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let text = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        let value = serde_json::from_str(text).unwrap_or(Value::String(text.to_owned()));
        (status, value)
    }

    /// SIGTERM; the exit code and what it printed after the banner.
    fn terminate(mut self) -> (Option<i32>, String) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let mut rest = String::new();
                self.stdout.read_to_string(&mut rest).unwrap();
                return (status.code(), rest);
            }
            assert!(Instant::now() < deadline, "serve did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn call(
    served: &std::sync::Arc<Served>,
    method: &str,
    path: &str,
    auth: bool,
    body: Option<Value>,
) -> (u16, Value) {
    let (served, method, path) = (served.clone(), method.to_owned(), path.to_owned());
    tokio::task::spawn_blocking(move || served.call(&method, &path, auth, body))
        .await
        .unwrap()
}

async fn serve_over(backend: Backend) {
    let node = backend.scheduler(Some(fast_node("node-s")));
    node.register("ok", |_: CallContext| {}).unwrap();
    node.register("nightly", |_: CallContext| {}).unwrap();
    node.add_task(
        TaskBuilder::new()
            .id("good")
            .function("ok")
            .trigger(IntervalTrigger::new().every(Duration::from_secs(3600))),
    )
    .await
    .unwrap();
    node.start().await.unwrap();

    let served = std::sync::Arc::new(Served::start(&backend, &["--function", "nightly"]));
    let (status, health) = call(&served, "GET", "/healthz", false, None).await;
    assert_eq!(status, 200, "{}: {health}", backend.name);
    assert_eq!(health["state"], "paused", "serve never fires: {health}");
    let (status, _) = call(&served, "GET", "/readyz", false, None).await;
    assert_eq!(status, 200);
    let (status, _) = call(&served, "GET", "/api/v1/tasks", false, None).await;
    assert_eq!(status, 401, "the API needs the token");

    let (status, tasks) = call(&served, "GET", "/api/v1/tasks", true, None).await;
    assert_eq!(status, 200, "{tasks}");
    assert_eq!(tasks["tasks"][0]["id"], "good", "{tasks}");

    // Run now: a run request for the live node, which runs it and records the outcome.
    let (status, answer) = call(&served, "POST", "/api/v1/tasks/good/run", true, None).await;
    assert_eq!(status, 202, "{}: {answer}", backend.name);
    assert_eq!(answer["run"]["state"], "requested");
    let run_id = answer["run"]["run_id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(20);
    let run = loop {
        let (status, run) = call(
            &served,
            "GET",
            &format!("/api/v1/runs/{run_id}"),
            true,
            None,
        )
        .await;
        assert_eq!(status, 200, "{run}");
        if run["run"]["state"] == "succeeded" {
            break run;
        }
        assert!(Instant::now() < deadline, "{}: {run}", backend.name);
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(run.to_string().contains("node-s"), "run by the node: {run}");

    // Adding names a function a node runs: one a task already uses, or one given with
    // --function; any other is refused, naming the field.
    for (id, function) in [("again", "ok"), ("night", "nightly")] {
        let body =
            json!({"id": id, "function": function, "trigger": {"type": "interval", "hours": 6}});
        let (status, added) = call(&served, "POST", "/api/v1/tasks", true, Some(body)).await;
        assert_eq!(status, 201, "{added}");
    }
    let body = json!({"function": "os:system", "trigger": {"type": "interval", "hours": 6}});
    let (status, refused) = call(&served, "POST", "/api/v1/tasks", true, Some(body)).await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["error"]["field"], "function", "{refused}");
    assert!(node.get_task("night", None).await.unwrap().is_some());

    let (status, nodes) = call(&served, "GET", "/api/v1/nodes", true, None).await;
    assert_eq!(status, 200);
    assert!(
        nodes["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["node_id"] == "node-s" && n["alive"] == true),
        "{nodes}"
    );
    let (status, status_body) = call(&served, "GET", "/api/v1/status", true, None).await;
    assert_eq!(status, 200);
    assert_eq!(status_body["nodes_alive"], 1, "{status_body}");

    let served = std::sync::Arc::into_inner(served).unwrap();
    let (code, rest) = tokio::task::spawn_blocking(move || served.terminate())
        .await
        .unwrap();
    assert_eq!(code, Some(0), "serve exits 0 on SIGTERM: {rest}");
    assert_eq!(rest, "stopped\n");
    node.shutdown(true).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_over_sqlite() {
    serve_over(Backend::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_over_postgres() {
    if let Some(backend) = Backend::postgres("serve") {
        serve_over(backend).await;
    }
}

#[test]
fn serve_refuses_unsafe_or_bad_options() {
    let backend = Backend::sqlite();
    let config = backend.config_arg();
    let err = cli(&["serve", "--config", config]).fails(2);
    assert!(err.contains("no token"), "{err}");
    let err = cli(&[
        "serve",
        "--config",
        config,
        "--no-auth",
        "--bind",
        "0.0.0.0:0",
    ])
    .fails(2);
    assert!(
        err.contains("refusing to serve 0.0.0.0:0 with auth off"),
        "{err}"
    );
    let err = cli(&["serve", "--config", config, "--bind", "localhost-ish"]).fails(2);
    assert!(err.contains("'localhost-ish' is not an address"), "{err}");
    let err = cli(&["serve", "--config", config, "--token", "ops:root:abc"]).fails(2);
    assert!(
        err.contains("'root' is not one of read, operate, admin"),
        "{err}"
    );
    let err = cli(&["serve", "--config", config, "--token", "ops:read:abc"]).fails(2);
    assert!(err.contains("'abc' is not 64 hex digits"), "{err}");
    let err = cli(&["serve", "--config", config, "--token", "opsonly"]).fails(2);
    assert!(
        err.contains("'opsonly' is not PRINCIPAL:ROLE:SHA256"),
        "{err}"
    );
}
