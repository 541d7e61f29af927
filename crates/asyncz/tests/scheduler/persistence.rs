//! Persistent stores and extra executors chosen by plugin alias from the configuration map,
//! and tasks surviving a scheduler restart (runs when the facade has the `full` features,
//! as in `cargo test --workspace`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use asyncz::chrono;
use asyncz::events::*;
use asyncz::{CallContext, DateTrigger, IntervalTrigger, Scheduler, Store, TaskBuilder};
use serde_json::json;

use crate::common::{manual_scheduler, t0};

fn configured(dir: &std::path::Path, clock: asyncz::ManualClock) -> Scheduler {
    let config = json!({
        "asyncz.stores.default": {"type": "sql", "url": format!("sqlite://{}/tasks.db", dir.display())},
        "asyncz.stores.files": {"type": "file", "directory": dir.join("files").display().to_string()},
        "asyncz.executors.default": {"type": "debug"},
        "asyncz.executors.pool": {"type": "threadpool", "max_workers": "2"},
    });
    asyncz::builder()
        .clock(clock)
        .config(config.as_object().cloned().unwrap())
        .build()
        .unwrap()
}

#[tokio::test]
async fn tasks_in_sql_and_file_stores_survive_a_restart_and_missed_runs_coalesce() {
    let dir = tempfile::tempdir().unwrap();
    let runs = Arc::new(AtomicU32::new(0));
    let clock = asyncz::ManualClock::new(t0() - chrono::Duration::seconds(1));

    // Process A: adds tasks, runs nothing, stops.
    let a = configured(dir.path(), clock.clone());
    a.register("report", |_ctx: CallContext| ()).unwrap();
    a.start().await.unwrap();
    for store in ["default", "files"] {
        a.add_task(
            TaskBuilder::new()
                .function("report")
                .id(format!("every-minute-{store}"))
                .store(store)
                .arg(store)
                .mistrigger_grace_time(None)
                .trigger(IntervalTrigger::new().minutes(1).start_at(t0())),
        )
        .await
        .unwrap();
    }
    let err = a
        .add_task(TaskBuilder::new().closure(|_ctx| ()).store("files"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("closure"), "{err}");
    a.shutdown(true).await.unwrap();
    drop(a);

    // Down for 5m30s: six fire times (t0 .. t0+5m) pass.
    clock.set(t0() + chrono::Duration::seconds(330));

    // Process B: same stores, same function registry.
    let b = configured(dir.path(), clock.clone());
    let r = Arc::clone(&runs);
    b.register("report", move |ctx: CallContext| {
        let _store: String = ctx.arg(0).unwrap();
        r.fetch_add(1, Ordering::SeqCst);
    })
    .unwrap();
    let mut rx = b.subscribe(TASK_SUBMITTED);
    b.start().await.unwrap();
    b.process_tasks().await;
    let submissions: Vec<_> = crate::common::drain(&mut rx)
        .into_iter()
        .filter_map(|e| match e {
            asyncz::Event::Submission(s) => {
                Some((s.scheduled_run_times.len(), s.coalesced_run_count))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        submissions,
        vec![(1, 5), (1, 5)],
        "each store's task ran once, coalescing five missed runs"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    for store in ["default", "files"] {
        let info = b
            .get_task_info(&format!("every-minute-{store}"), Some(store))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            info.next_run_time,
            Some(t0() + chrono::Duration::minutes(6))
        );
    }
    b.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn the_threadpool_executor_is_chosen_by_alias() {
    let (scheduler, clock) = manual_scheduler(t0());
    scheduler
        .add_executor_plugin("pool", "pool", &asyncz::Map::new())
        .await
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    scheduler
        .register("where", move |_ctx: CallContext| {
            let _ = tx.send(std::thread::current().name().map(str::to_owned));
        })
        .unwrap();
    scheduler.start().await.unwrap();
    scheduler
        .add_task(
            TaskBuilder::new()
                .function("where")
                .executor("pool")
                .trigger(DateTrigger::new(t0())),
        )
        .await
        .unwrap();
    clock.advance(chrono::Duration::seconds(1));
    scheduler.process_tasks().await;
    let name = rx
        .recv_timeout(Duration::from_secs(5))
        .unwrap()
        .unwrap_or_default();
    assert!(name.starts_with("asyncz-pool"), "ran on thread '{name}'");
    scheduler.shutdown(true).await.unwrap();
}

/// Two schedulers (as two processes would) sharing one SQLite store and one lock path.
fn sibling(
    dir: &std::path::Path,
    clock: asyncz::ManualClock,
    log: Arc<std::sync::Mutex<Vec<(String, i64)>>>,
) -> Scheduler {
    let config = json!({
        "asyncz.stores.default": {"type": "sql", "url": format!("sqlite://{}/shared.db", dir.display())},
        "asyncz.executors.default": {"type": "debug"},
        "asyncz.lock_path": format!("{}/asyncz-{{store}}-{{pgrp}}.lock", dir.display()),
        "asyncz.startup_delay": 0,
        "asyncz.store_retry_interval": 1,
    });
    let scheduler = asyncz::builder()
        .clock(clock)
        .config(config.as_object().cloned().unwrap())
        .build()
        .unwrap();
    scheduler
        .register("record", move |ctx: CallContext| {
            log.lock()
                .unwrap()
                .push((ctx.task_id.clone(), ctx.scheduled_run_time.timestamp()));
        })
        .unwrap();
    scheduler
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedulers_sharing_a_store_and_a_lock_path_run_each_fire_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let clock = asyncz::ManualClock::new(t0() - chrono::Duration::seconds(1));
    let log = Arc::new(std::sync::Mutex::new(Vec::new()));
    let a = sibling(dir.path(), clock.clone(), Arc::clone(&log));
    let b = sibling(dir.path(), clock.clone(), Arc::clone(&log));
    a.start().await.unwrap();
    b.start().await.unwrap();
    for i in 0..5 {
        a.add_task(
            TaskBuilder::new()
                .function("record")
                .id(format!("t{i}"))
                .mistrigger_grace_time(None)
                .trigger(IntervalTrigger::new().seconds(1).start_at(t0())),
        )
        .await
        .unwrap();
    }
    for step in 0..20 {
        clock.set(t0() + chrono::Duration::seconds(step));
        let (x, y) = tokio::join!(a.process_tasks(), b.process_tasks());
        let _ = (x, y);
    }
    a.shutdown(true).await.unwrap();
    b.shutdown(true).await.unwrap();
    let mut runs = log.lock().unwrap().clone();
    let total = runs.len();
    runs.sort();
    runs.dedup();
    assert_eq!(runs.len(), total, "a fire time ran twice");
    assert_eq!(total, 5 * 20, "every fire time of every task ran once");
    let leftover: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".lock"))
        .collect();
    assert!(leftover.is_empty(), "lock files left: {leftover:?}");
}

#[tokio::test]
async fn with_a_lock_path_tasks_committed_at_start_wait_the_startup_delay() {
    let dir = tempfile::tempdir().unwrap();
    let clock = asyncz::ManualClock::new(t0());
    let config = json!({
        "asyncz.lock_path": format!("{}/l-{{store}}.lock", dir.path().display()),
        "asyncz.executors.default": {"type": "debug"},
    });
    let scheduler = asyncz::builder()
        .clock(clock)
        .config(config.as_object().cloned().unwrap())
        .build()
        .unwrap();
    scheduler.register("tick", |_ctx: CallContext| ()).unwrap();
    scheduler
        .add_task(
            TaskBuilder::new()
                .function("tick")
                .id("now")
                .trigger(DateTrigger::new(t0())),
        )
        .await
        .unwrap();
    scheduler.start().await.unwrap();
    let info = scheduler.get_task_info("now", None).await.unwrap().unwrap();
    assert_eq!(
        info.next_run_time,
        Some(t0() + chrono::Duration::seconds(1)),
        "default startup_delay is 1 s"
    );
    assert_eq!(
        scheduler.process_tasks().await,
        Some(Duration::from_secs(1))
    );
    scheduler.shutdown(true).await.unwrap();
}

/// A TCP proxy in front of a real server that can be taken down and brought back.
struct Proxy {
    port: u16,
    target: String,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Proxy {
    async fn start(target: &str) -> Proxy {
        let mut proxy = Proxy {
            port: 0,
            target: target.to_owned(),
            task: None,
        };
        proxy.up().await;
        proxy
    }

    async fn up(&mut self) {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        socket
            .bind(format!("127.0.0.1:{}", self.port).parse().unwrap())
            .unwrap();
        let listener = socket.listen(64).unwrap();
        self.port = listener.local_addr().unwrap().port();
        let target = self.target.clone();
        self.task = Some(tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                connections.spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        }));
    }

    /// Stops accepting and drops every open connection (the JoinSet aborts them).
    fn down(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_whose_server_goes_away_is_retried_while_others_keep_running() {
    let Ok(url) = std::env::var("ASYNCZ_TEST_REDIS_URL") else {
        println!("skipping: ASYNCZ_TEST_REDIS_URL is not set (cargo xtask test-backends sets it)");
        return;
    };
    let target = url
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .to_owned();
    let mut proxy = Proxy::start(&target).await;
    let keys = format!("asyncz.test.outage.{}", std::process::id());
    let redis = asyncz::RedisStore::new(
        asyncz::RedisStoreConfig::new(format!("redis://127.0.0.1:{}", proxy.port))
            .tasks_key(format!("{keys}.tasks"))
            .run_times_key(format!("{keys}.run_times")),
    )
    .unwrap();
    let scheduler = asyncz::builder()
        .store("redis", redis.clone())
        .store_retry_interval(Duration::from_millis(500))
        .store_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let counts: Arc<std::sync::Mutex<HashMap<String, u32>>> = Arc::default();
    let c = Arc::clone(&counts);
    scheduler
        .register("count", move |ctx: CallContext| {
            *c.lock().unwrap().entry(ctx.task_id).or_default() += 1;
        })
        .unwrap();
    scheduler.start().await.unwrap();
    redis.remove_all_tasks().await.unwrap();
    for store in ["default", "redis"] {
        scheduler
            .add_task(
                TaskBuilder::new()
                    .function("count")
                    .id(store)
                    .store(store)
                    .trigger(
                        IntervalTrigger::new()
                            .every(Duration::from_millis(300))
                            .start_at(chrono::Utc::now()),
                    ),
            )
            .await
            .unwrap();
    }
    let count = |id: &str| counts.lock().unwrap().get(id).copied().unwrap_or(0);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(
        count("redis") >= 2,
        "runs before the outage: {:?}",
        counts.lock().unwrap()
    );

    proxy.down();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (memory_before, redis_before) = (count("default"), count("redis"));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        count("default") >= memory_before + 3,
        "the memory store kept running during the outage"
    );
    assert!(
        count("redis") <= redis_before + 1,
        "the redis task cannot run while its server is away"
    );

    proxy.up().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while count("redis") < redis_before + 3 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        count("redis") >= redis_before + 3,
        "the redis store resumed: {:?}",
        counts.lock().unwrap()
    );
    scheduler.shutdown(true).await.unwrap();
    let _ = redis
        .start(asyncz::StoreContext::clone(&test_context()))
        .await;
    let _ = redis.delete_keys().await;
}

fn test_context() -> asyncz::StoreContext {
    asyncz::StoreContext::new(
        "redis",
        Arc::new(asyncz::default_plugins()),
        Arc::new(asyncz::FunctionRegistry::new()),
    )
}
