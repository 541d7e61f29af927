//! Several scheduler processes on one SQLite store with a lock path: process A adds tasks and
//! exits; three worker processes (one killed midway) run every fire time exactly once.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::process::{Command, Stdio};

use asyncz::chrono::{DurationRound, Utc};
use asyncz::{CallContext, IntervalTrigger, TaskBuilder};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_sharing_a_store_run_each_fire_once_even_when_one_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/shared.db", dir.path().display());
    let lock = format!("{}/asyncz-{{store}}.lock", dir.path().display());
    let log = dir.path().join("runs.log");

    // Process A (this test): adds the tasks, then stops. Fires on whole seconds.
    let start = (Utc::now() + asyncz::chrono::Duration::seconds(2))
        .duration_trunc(asyncz::chrono::Duration::seconds(1))
        .unwrap();
    let end = start + asyncz::chrono::Duration::seconds(5);
    {
        let config = serde_json::json!({"asyncz.stores.default": {"type": "sql", "url": url}});
        let a = asyncz::builder()
            .config(config.as_object().cloned().unwrap())
            .build()
            .unwrap();
        a.register("record", |_ctx: CallContext| ()).unwrap();
        a.start_paused().await.unwrap();
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
                url.as_str(),
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
