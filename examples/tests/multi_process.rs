//! Several scheduler processes on one SQLite store with a lock path: process A adds tasks and
//! exits; three worker processes (one killed midway) run every fire time exactly once.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::process::{Command, Stdio};

use asyncz::chrono::{DurationRound, Utc};
use asyncz::{CallContext, IntervalTrigger, TaskBuilder};

/// Process A adds tasks to `store` and exits; three workers (one killed) run them.
async fn shared_store_runs_each_fire_once(store: serde_json::Value, dir: &std::path::Path) {
    let lock = format!("{}/asyncz-{{store}}.lock", dir.display());
    let log = dir.join("runs.log");
    let store_arg = store.to_string();

    // Process A (this test): adds the tasks, then stops. Fires on whole seconds.
    let start = (Utc::now() + asyncz::chrono::Duration::seconds(2))
        .duration_trunc(asyncz::chrono::Duration::seconds(1))
        .unwrap();
    let end = start + asyncz::chrono::Duration::seconds(5);
    {
        let config = serde_json::json!({"asyncz.stores.default": store});
        let a = asyncz::builder()
            .config(config.as_object().cloned().unwrap())
            .build()
            .unwrap();
        a.register("record", |_ctx: CallContext| ()).unwrap();
        a.start_paused().await.unwrap();
        a.remove_all_tasks(None).await.unwrap();
        for i in 0..4 {
            a.add_task(
                TaskBuilder::new()
                    .function("record")
                    .id(format!("task-{i}"))
                    .mistrigger_grace_time(None)
                    .trigger(
                        IntervalTrigger::new()
                            .seconds(1)
                            .start_at(start)
                            .end_at(end),
                    ),
            )
            .await
            .unwrap();
        }
        a.shutdown(true).await.unwrap();
    }

    let run_for = (end - Utc::now()).num_milliseconds() as f64 / 1000.0 + 2.0;
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_asyncz-shared-worker"))
            .args([
                store_arg.as_str(),
                lock.as_str(),
                log.to_str().unwrap(),
                &run_for.to_string(),
            ])
            .stdout(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut workers = vec![spawn(), spawn(), spawn()];
    // Kill one between two fire times, after it may have run some.
    let kill_at = start + asyncz::chrono::Duration::milliseconds(1500);
    tokio::time::sleep((kill_at - Utc::now()).to_std().unwrap_or_default()).await;
    workers[0].kill().unwrap();
    for mut worker in workers {
        let status = worker.wait().unwrap();
        let _ = status;
    }

    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let mut runs: HashMap<(String, i64), u32> = HashMap::new();
    let mut pids = std::collections::HashSet::new();
    for line in text.lines() {
        let parts: Vec<&str> = line.split(' ').collect();
        *runs
            .entry((parts[0].to_owned(), parts[1].parse().unwrap()))
            .or_default() += 1;
        pids.insert(parts[2].to_owned());
    }
    let duplicates: Vec<_> = runs.iter().filter(|(_, n)| **n > 1).collect();
    assert!(duplicates.is_empty(), "ran twice: {duplicates:?}");
    for i in 0..4 {
        for s in 0..=5 {
            let key = (
                format!("task-{i}"),
                (start + asyncz::chrono::Duration::seconds(s)).timestamp(),
            );
            assert!(runs.contains_key(&key), "lost {key:?}; log:\n{text}");
        }
    }
    assert_eq!(runs.len(), 4 * 6);
    println!("{} runs across {} processes", runs.len(), pids.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_sharing_a_sqlite_store_run_each_fire_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = serde_json::json!({"type": "sql", "url": format!("sqlite://{}/shared.db", dir.path().display())});
    shared_store_runs_each_fire_once(store, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_sharing_a_file_store_run_each_fire_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = serde_json::json!({"type": "file", "directory": dir.path().join("tasks").display().to_string()});
    shared_store_runs_each_fire_once(store, dir.path()).await;
}

fn env(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            println!("skipping: {var} is not set (cargo xtask test-backends sets it)");
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_sharing_a_postgres_store_run_each_fire_once() {
    let Some(url) = env("ASYNCZ_TEST_POSTGRES_URL") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let table = format!("asyncz_mp_{}", std::process::id());
    let store = serde_json::json!({"type": "sql", "url": url, "tablename": table});
    shared_store_runs_each_fire_once(store, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_sharing_a_redis_store_run_each_fire_once() {
    let Some(url) = env("ASYNCZ_TEST_REDIS_URL") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let keys = format!("asyncz.mp.{}", std::process::id());
    let store = serde_json::json!({"type": "redis", "url": url, "tasks_key": format!("{keys}.tasks"), "run_times_key": format!("{keys}.run_times")});
    shared_store_runs_each_fire_once(store, dir.path()).await;
}
