//! `asyncz serve` as the built binary over a store a cluster node in the test process shares:
//! the probes, the API with a token, run now through a run request that the node takes (the
//! serving process never runs a function), adding a task naming a function the node runs,
//! SIGTERM ending it with exit 0, and the usage errors of its options.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use asyncz::{CallContext, IntervalTrigger, TaskBuilder};
use common::{asyncz as cli, fast_node, Backend, Served};
use serde_json::{json, Value};

const TOKEN: &str = "serve-test-token";

async fn call(
    served: &std::sync::Arc<Served>,
    method: &str,
    path: &str,
    auth: bool,
    body: Option<Value>,
) -> (u16, Value) {
    let (served, method, path) = (served.clone(), method.to_owned(), path.to_owned());
    tokio::task::spawn_blocking(move || served.call(&method, &path, auth.then_some(TOKEN), body))
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

    let served = std::sync::Arc::new(Served::start(&backend, TOKEN, &["--function", "nightly"]));
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
