//! The Redis store runs the asyncz-testkit store suite when `ASYNCZ_TEST_REDIS_URL` is set
//! (`cargo xtask test-backends` and CI set it), plain and encrypted.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use asyncz_core::chrono::{TimeZone, Utc};
use asyncz_core::Store;
use asyncz_stores_redis::{RedisStore, RedisStoreConfig, DEFAULT_CONNECT_TIMEOUT};
use asyncz_testkit::{sample_task, store_context};
use common::{unreachable, Redis};

#[tokio::test]
async fn redis_passes_the_store_suite() {
    let url = match std::env::var("ASYNCZ_TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => {
            println!(
                "skipping: ASYNCZ_TEST_REDIS_URL is not set (cargo xtask test-backends sets it)"
            );
            return;
        }
    };
    for key in [None, Some("redis key")] {
        let harness = Redis::new(&url, "store", key);
        let report = asyncz_testkit::run_store_suite(&harness).await;
        println!("{report}");
        report.assert_passed();
        assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    }
}

#[test]
fn config_is_read_from_a_map_with_clear_errors() {
    let map = |v: serde_json::Value| v.as_object().cloned().unwrap();
    let c = RedisStoreConfig::from_map(&map(
        serde_json::json!({"database": "3", "tasks_key": "t", "run_times_key": "r"}),
    ))
    .unwrap();
    assert_eq!(
        (c.database, c.tasks_key.as_str(), c.run_times_key.as_str()),
        (Some(3), "t", "r")
    );
    assert_eq!(c.url, "redis://127.0.0.1:6379");
    assert_eq!(c.connect_timeout, DEFAULT_CONNECT_TIMEOUT);
    assert_eq!(DEFAULT_CONNECT_TIMEOUT, Duration::from_secs(10));
    for (given, expected) in [
        (serde_json::json!(2), Duration::from_secs(2)),
        (serde_json::json!("0.5"), Duration::from_millis(500)),
    ] {
        let c = RedisStoreConfig::from_map(&map(serde_json::json!({ "connect_timeout": given })))
            .unwrap();
        assert_eq!(c.connect_timeout, expected);
    }
    for (bad, fragment) in [
        (serde_json::json!({"database": "zero"}), "invalid database:"),
        (
            serde_json::json!({"tasks_key": "same", "run_times_key": "same"}),
            "must differ",
        ),
        (serde_json::json!({"host": "x"}), "invalid host:"),
        (
            serde_json::json!({"connect_timeout": 0}),
            "invalid connect_timeout:",
        ),
        (
            serde_json::json!({"connect_timeout": "soon"}),
            "invalid connect_timeout:",
        ),
    ] {
        let err = RedisStoreConfig::from_map(&map(bad))
            .unwrap_err()
            .to_string();
        assert!(err.contains(fragment), "{err}");
    }
    let err = RedisStore::new(RedisStoreConfig::new("http://user:secret@x"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("stores.redis.url") && !err.contains("secret"),
        "{err}"
    );
}

/// Issue 8, item 4: `start()` against a server that is down took about eight minutes.
#[tokio::test]
async fn start_against_a_closed_port_fails_within_the_connect_timeout() {
    let store = unreachable("redis://user:secret@127.0.0.1:1/0").unwrap();
    asyncz_testkit::logs::capture_logs().unwrap();
    let began = Instant::now();
    let outcome = tokio::time::timeout(Duration::from_secs(60), store.start(store_context())).await;
    let took = began.elapsed();
    let err = outcome
        .expect("start() had not returned after 60 s")
        .unwrap_err()
        .to_string();
    println!("start() against a closed port failed after {took:?}: {err}");
    assert!(
        took < Duration::from_secs(5),
        "start() failed only after {took:?}: {err}"
    );
    assert!(
        err.contains("redis://user:***@127.0.0.1:1/0") && !err.contains("secret"),
        "the error names the redacted URL: {err}"
    );
    assert!(
        err.contains("connect_timeout = 2s"),
        "the error names the timeout: {err}"
    );
    // Refused at once, so retried with backoff within the 2 s, each attempt logged.
    let warnings = warnings_naming("redis://user:***@127.0.0.1:1/0");
    assert!(warnings >= 2, "{warnings} failed attempts logged");
    assert!(
        err.contains(&format!("({warnings} attempts)")),
        "one warning per attempt: {warnings} warnings, {err}"
    );
}

/// How many warnings of the Redis store named `url` (captured by the testkit's global
/// subscriber, which also sees the lines a scoped one would miss).
fn warnings_naming(url: &str) -> usize {
    let quoted = format!("{url:?}");
    asyncz_testkit::logs::captured_logs()
        .iter()
        .filter(|l| l.level == tracing::Level::WARN && l.target == "asyncz.stores.redis")
        .filter(|l| l.field("url") == Some(quoted.as_str()))
        .count()
}

/// Once started, a lost server is reconnected within the same bound, not the redis crate's
/// minutes of backoff.
#[tokio::test]
async fn reconnecting_after_the_server_went_away_is_bounded_by_the_connect_timeout() {
    let Some(target) = std::env::var("ASYNCZ_TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        println!("skipping: ASYNCZ_TEST_REDIS_URL is not set");
        return;
    };
    let target = target
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .to_owned();
    // A proxy to the real server that can be taken down.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let proxy = tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        while let Ok((mut inbound, _)) = listener.accept().await {
            let target = target.clone();
            connections.spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    let store = RedisStore::new(
        RedisStoreConfig::new(format!("redis://127.0.0.1:{port}"))
            .connect_timeout(Duration::from_secs(2))
            .tasks_key(format!(
                "asyncz.test.reconnect.{}.tasks",
                std::process::id()
            ))
            .run_times_key(format!(
                "asyncz.test.reconnect.{}.run_times",
                std::process::id()
            )),
    )
    .unwrap();
    store.start(store_context()).await.unwrap();
    store.get_next_run_time().await.unwrap();
    proxy.abort();
    let _ = proxy.await;
    // The first call may find the old connection dropped; every later one must reconnect.
    for round in 0..3 {
        let began = Instant::now();
        let outcome = tokio::time::timeout(Duration::from_secs(60), store.get_all_tasks()).await;
        let took = began.elapsed();
        let result = outcome.expect("a call with the server away had not returned after 60 s");
        println!("round {round}: failed after {took:?}: {result:?}");
        assert!(
            result.is_err(),
            "round {round}: the server is away, yet {result:?}"
        );
        assert!(
            took < Duration::from_secs(5),
            "round {round}: failed only after {took:?}: {result:?}"
        );
    }
}

/// Issue 8, item 1: a score is a double, so a microsecond epoch beyond 2^53 (about the year
/// 2255) is rounded; the next run time must still read back exactly.
#[tokio::test]
async fn a_next_run_time_beyond_2_pow_53_microseconds_reads_back_exactly() {
    let Some(url) = std::env::var("ASYNCZ_TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        println!("skipping: ASYNCZ_TEST_REDIS_URL is not set");
        return;
    };
    let store = RedisStore::new(
        RedisStoreConfig::new(url)
            .tasks_key(format!("asyncz.test.far.{}.tasks", std::process::id()))
            .run_times_key(format!("asyncz.test.far.{}.run_times", std::process::id())),
    )
    .unwrap();
    store.start(store_context()).await.unwrap();
    store.remove_all_tasks().await.unwrap();
    let last = Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap()
        + asyncz_core::chrono::Duration::microseconds(999_999);
    // One microsecond earlier shares the rounded score (a double's step there is 32 µs) and
    // sorts after by id, so the first member of the set is not the earliest.
    let earlier = last - asyncz_core::chrono::Duration::microseconds(1);
    store
        .add_task(&sample_task("a-last", Some(last)))
        .await
        .unwrap();
    assert_eq!(store.get_next_run_time().await.unwrap(), Some(last));
    store
        .add_task(&sample_task("b-earlier", Some(earlier)))
        .await
        .unwrap();
    assert_eq!(store.get_next_run_time().await.unwrap(), Some(earlier));
    // The due query compares exact times: at `earlier`, only that task is due.
    let due = store.get_due_tasks(earlier).await.unwrap();
    assert_eq!(
        due.iter().map(|t| t.id()).collect::<Vec<_>>(),
        ["b-earlier"]
    );
    store.delete_keys().await.unwrap();
}
