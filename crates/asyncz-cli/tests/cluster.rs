//! `run`, `history` and `nodes` run as the built binary against a store that a cluster node
//! in the test process shares: the node takes the CLI's run request, runs the registered
//! function and records the outcome, which `run --wait` prints (exit 1 when it failed).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use asyncz::{CallContext, IntervalTrigger, TaskBuilder};
use common::{cli_async, fast_node, Backend};

async fn run_history_nodes(backend: Backend) {
    let node = backend.scheduler(Some(fast_node("node-a")));
    node.register("ok", |_: CallContext| {}).unwrap();
    node.register("boom", |_: CallContext| -> Result<(), asyncz::TaskError> {
        Err("disk full".into())
    })
    .unwrap();
    for (id, function) in [("good", "ok"), ("bad", "boom")] {
        node.add_task(
            TaskBuilder::new()
                .id(id)
                .function(function)
                .trigger(IntervalTrigger::new().every(Duration::from_secs(3600))),
        )
        .await
        .unwrap();
    }
    // A task whose function only another (absent) service registers: doctor names it.
    let elsewhere = backend.scheduler(None);
    elsewhere
        .register("reports.elsewhere", |_: CallContext| {})
        .unwrap();
    elsewhere.start_paused().await.unwrap();
    elsewhere
        .add_task(
            TaskBuilder::new()
                .id("orphan")
                .function("reports.elsewhere")
                .trigger(IntervalTrigger::new().every(Duration::from_secs(3600))),
        )
        .await
        .unwrap();
    elsewhere.shutdown(true).await.unwrap();
    node.start().await.unwrap();

    let out = cli_async(&backend, &["run", "good", "--wait", "--timeout", "20s"]).await;
    let line = out.ok().to_owned();
    assert!(line.starts_with("run "), "{line}");
    assert!(
        line.contains("of task 'good': succeeded on node node-a"),
        "{}: {line}",
        backend.name
    );

    let out = cli_async(&backend, &["run", "bad", "--wait", "--json"]).await;
    let err = out.fails(1);
    assert!(err.contains("of task 'bad' failed: disk full"), "{err}");
    let run: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(run["state"], "failed");
    assert_eq!(run["node"], "node-a");
    assert_eq!(run["kind"], "manual");
    assert_eq!(run["error"], "disk full");
    assert!(run["duration_ms"].is_i64(), "{run}");

    // Without --wait: the request is written, and a node runs it afterwards.
    let out = cli_async(&backend, &["run", "good", "--json"]).await;
    let requested = out.json();
    assert_eq!(requested["state"], "requested");
    assert!(requested["node"].is_null());
    let run_id = requested["run_id"].as_str().unwrap().to_owned();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let history = cli_async(&backend, &["history", "good", "--json"])
            .await
            .json();
        let found = history
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["run_id"] == run_id.as_str())
            .cloned();
        if found.as_ref().is_some_and(|r| r["state"] == "succeeded") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{history}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // history: filters, newest first, and the table.
    let all = cli_async(&backend, &["history", "--json"]).await.json();
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 3, "{all:?}");
    assert_eq!(all[0]["run_id"], run_id.as_str(), "newest first");
    let failed = cli_async(&backend, &["history", "--state", "failed", "--json"])
        .await
        .json();
    assert_eq!(failed.as_array().unwrap().len(), 1);
    assert_eq!(failed[0]["task_id"], "bad");
    let limited = cli_async(&backend, &["history", "--limit", "1", "--json"])
        .await
        .json();
    assert_eq!(limited.as_array().unwrap().len(), 1);
    let table = cli_async(&backend, &["history", "bad"])
        .await
        .ok()
        .to_owned();
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("TASK  STATE"), "{table}");
    assert!(lines[0].contains("LATENESS"), "{table}");
    assert!(lines[1].starts_with("bad   failed  manual"), "{table}");
    assert!(lines[1].contains("node-a"), "{table}");
    assert!(lines[1].ends_with("disk full"), "{table}");
    let err = cli_async(&backend, &["history", "--state", "done"])
        .await
        .fails(2);
    assert!(
        err.contains("'done' is not one of: requested, submitted"),
        "{err}"
    );

    // nodes: the live node, alive.
    let nodes = cli_async(&backend, &["nodes", "--json"]).await.json();
    let me = nodes
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["node_id"] == "node-a")
        .cloned()
        .unwrap_or_else(|| panic!("{nodes}"));
    assert_eq!(me["alive"], true);
    assert_eq!(me["state"], "alive");
    assert_eq!(me["pid"], std::process::id());
    assert!(me["heartbeat_age_ms"].as_u64().unwrap() < 3000, "{me}");
    assert_eq!(me["functions"], serde_json::json!(["boom", "ok"]), "{me}");

    // doctor: the schema, and the one task whose function no live node registered.
    let doctor = cli_async(&backend, &["doctor", "--json"]).await.json();
    let check = |name: &str| {
        doctor["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} check: {doctor}"))
    };
    let functions = check("functions");
    assert_eq!(functions["level"], "warn", "{functions}");
    assert_eq!(
        functions["ids"],
        serde_json::json!(["orphan"]),
        "{functions}"
    );
    assert!(
        functions["message"]
            .as_str()
            .unwrap()
            .starts_with("1 task(s) name a function no live node has registered"),
        "{functions}"
    );
    let schema = check("schema");
    assert_eq!(schema["level"], "ok", "{schema}");
    let strict = cli_async(&backend, &["doctor", "--strict"]).await;
    strict.fails(1);
    assert!(
        strict
            .stdout
            .contains("name a function no live node has registered: orphan"),
        "{}",
        strict.stdout
    );
    let table = cli_async(&backend, &["nodes"]).await.ok().to_owned();
    assert!(table.starts_with("NODE"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("node-a") && l.ends_with("yes")),
        "{table}"
    );

    node.shutdown(true).await.unwrap();
    let nodes = cli_async(&backend, &["nodes", "--json"]).await.json();
    let me = nodes
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["node_id"] == "node-a")
        .cloned()
        .unwrap();
    assert_eq!(me["alive"], false, "a node that left is not alive");

    // No live node: the request is not taken within the timeout.
    let out = cli_async(&backend, &["run", "good", "--wait", "--timeout", "1s"]).await;
    let err = out.fails(1);
    assert!(err.starts_with("no live node took run "), "{err}");
    assert!(err.contains("of task 'good' within 1s"), "{err}");
    let err = cli_async(&backend, &["run", "nope"]).await.fails(1);
    assert_eq!(err, "no task with id 'nope'");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_runs_the_clis_request_on_sqlite() {
    run_history_nodes(Backend::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_runs_the_clis_request_on_postgres() {
    if let Some(b) = Backend::postgres("cluster") {
        run_history_nodes(b).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_runs_the_clis_request_on_redis() {
    if let Some(b) = Backend::redis("cluster") {
        run_history_nodes(b).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_runs_the_clis_request_on_mongo() {
    if let Some(b) = Backend::mongo("cluster") {
        run_history_nodes(b).await;
    }
}

#[test]
fn run_on_a_store_without_a_ledger_fails_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().display());
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let map =
            asyncz_cli::commands::store::config_map(std::slice::from_ref(&url), None, 5.0).unwrap();
        let s = asyncz::builder().config(map).build().unwrap();
        s.register("ok", |_: CallContext| {}).unwrap();
        s.start_paused().await.unwrap();
        s.add_task(
            TaskBuilder::new()
                .id("t")
                .function("ok")
                .trigger(IntervalTrigger::new().every(Duration::from_secs(60))),
        )
        .await
        .unwrap();
        s.shutdown(true).await.unwrap();
    });
    let err = common::asyncz(&["run", "t", "--store", &url]).fails(1);
    assert_eq!(
        err,
        "store 'default' keeps no run ledger: run needs a SQL, Redis or MongoDB store shared with a cluster node"
    );
}
