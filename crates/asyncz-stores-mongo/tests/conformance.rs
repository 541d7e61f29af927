//! The MongoDB store runs the asyncz-testkit store suite when `ASYNCZ_TEST_MONGO_URL` is set
//! (`cargo xtask test-backends` and CI set it), plain and encrypted.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use asyncz_core::chrono::{TimeZone, Utc};
use asyncz_core::{async_trait, Result, Store};
use asyncz_stores_mongo::{MongoStore, MongoStoreConfig, DEFAULT_CONNECT_TIMEOUT};
use asyncz_testkit::{sample_task, store_context, Capabilities, StoreHarness};

/// MongoDB stores, each data set in a collection of its own.
struct Mongo {
    url: String,
    key: Option<&'static str>,
    database: String,
}

impl Mongo {
    fn new(url: &str, key: Option<&'static str>) -> Self {
        Mongo {
            url: url.to_owned(),
            key,
            database: format!(
                "asyncz_test_{}_{}",
                std::process::id(),
                u8::from(key.is_some())
            ),
        }
    }
}

#[async_trait]
impl StoreHarness for Mongo {
    type Store = MongoStore;
    fn name(&self) -> String {
        format!(
            "mongo{}",
            if self.key.is_some() {
                " (encrypted)"
            } else {
                ""
            }
        )
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            persistent: true,
            corruptible: true,
            max_id_len: None,
        }
    }
    async fn open(&self, n: usize) -> Result<MongoStore> {
        let mut config = MongoStoreConfig::new(&self.url)
            .database(self.database.clone())
            .collection(format!("tasks_{n}"));
        config.encryption_key = self.key.map(str::to_owned);
        Ok(MongoStore::new(config))
    }
    async fn corrupt_record(&self, store: &MongoStore, task_id: &str) -> Result<()> {
        store.write_raw_state(task_id, b"\x00not a task").await
    }
    async fn record_exists(&self, store: &MongoStore, task_id: &str) -> Result<bool> {
        store.record_exists(task_id).await
    }
    async fn unreachable_store(&self) -> Option<Result<MongoStore>> {
        Some(Ok(unreachable("mongodb://127.0.0.1:1")))
    }
    async fn clean_up(&self, store: &MongoStore) -> Result<()> {
        store.drop_collection().await
    }
}

/// A store against a closed port, giving up after 2 s.
fn unreachable(url: &str) -> MongoStore {
    MongoStore::new(MongoStoreConfig::new(url).connect_timeout(Duration::from_secs(2)))
}

#[tokio::test]
async fn mongo_passes_the_store_suite() {
    let url = match std::env::var("ASYNCZ_TEST_MONGO_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => {
            println!(
                "skipping: ASYNCZ_TEST_MONGO_URL is not set (cargo xtask test-backends sets it)"
            );
            return;
        }
    };
    for key in [None, Some("mongo key")] {
        let harness = Mongo::new(&url, key);
        let report = asyncz_testkit::run_store_suite(&harness).await;
        println!("{report}");
        report.assert_passed();
        assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    }
}

#[test]
fn config_is_read_from_a_map_with_clear_errors() {
    let map = |v: serde_json::Value| v.as_object().cloned().unwrap();
    let c = MongoStoreConfig::from_map(&map(
        serde_json::json!({"database": "jobs", "collection": "queue"}),
    ))
    .unwrap();
    assert_eq!(
        (c.url.as_str(), c.database.as_str(), c.collection.as_str()),
        ("mongodb://127.0.0.1:27017", "jobs", "queue")
    );
    assert_eq!(c.connect_timeout, DEFAULT_CONNECT_TIMEOUT);
    assert_eq!(DEFAULT_CONNECT_TIMEOUT, Duration::from_secs(10));
    for (given, expected) in [
        (serde_json::json!(2), Duration::from_secs(2)),
        (serde_json::json!("0.5"), Duration::from_millis(500)),
    ] {
        let c = MongoStoreConfig::from_map(&map(serde_json::json!({ "connect_timeout": given })))
            .unwrap();
        assert_eq!(c.connect_timeout, expected);
    }
    for (bad, fragment) in [
        (serde_json::json!({"database": "a/b"}), "invalid database:"),
        (
            serde_json::json!({"collection": "$x"}),
            "invalid collection:",
        ),
        (serde_json::json!({"client": 1}), "invalid client:"),
        (
            serde_json::json!({"connect_timeout": 0}),
            "invalid connect_timeout:",
        ),
        (
            serde_json::json!({"connect_timeout": -1}),
            "invalid connect_timeout:",
        ),
    ] {
        let err = MongoStoreConfig::from_map(&map(bad))
            .unwrap_err()
            .to_string();
        assert!(err.contains(fragment), "{err}");
    }
}

#[tokio::test]
async fn a_store_can_use_the_applications_own_client() {
    let Some(url) = std::env::var("ASYNCZ_TEST_MONGO_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        println!("skipping: ASYNCZ_TEST_MONGO_URL is not set");
        return;
    };
    let client = asyncz_stores_mongo::mongodb::Client::with_uri_str(&url)
        .await
        .unwrap();
    let config =
        MongoStoreConfig::new("ignored").database(format!("asyncz_client_{}", std::process::id()));
    let store = MongoStore::with_client(client, config);
    store.start(store_context()).await.unwrap();
    store
        .add_task(&asyncz_testkit::sample_task("via-client", None))
        .await
        .unwrap();
    assert!(store.lookup_task("via-client").await.unwrap().is_some());
    store.drop_collection().await.unwrap();
}

/// Issue 8, item 4: every store's start is bounded by its `connect_timeout`.
#[tokio::test]
async fn start_against_a_closed_port_fails_within_the_connect_timeout() {
    let store = unreachable("mongodb://user:secret@127.0.0.1:1/?authSource=admin");
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
        err.contains("mongodb://user:***@127.0.0.1:1/") && !err.contains("secret"),
        "the error names the redacted URL: {err}"
    );
    assert!(
        err.contains("connect_timeout = 2s"),
        "the error names the timeout: {err}"
    );
    let warnings = warnings_naming("mongodb://user:***@127.0.0.1:1/?authSource=admin");
    assert_eq!(warnings, 1, "the failed attempt is logged once");
}

/// An application's own client (whose timeouts are its own) is bounded at start too.
#[tokio::test]
async fn start_on_an_unreachable_own_client_fails_within_the_connect_timeout() {
    let mut options =
        asyncz_stores_mongo::mongodb::options::ClientOptions::parse("mongodb://127.0.0.1:1")
            .await
            .unwrap();
    options.server_selection_timeout = Some(Duration::from_secs(120));
    let client = asyncz_stores_mongo::mongodb::Client::with_options(options).unwrap();
    let store = MongoStore::with_client(
        client,
        MongoStoreConfig::new("mongodb://127.0.0.1:1").connect_timeout(Duration::from_secs(1)),
    );
    let began = Instant::now();
    let outcome = tokio::time::timeout(Duration::from_secs(60), store.start(store_context())).await;
    let took = began.elapsed();
    let err = outcome
        .expect("start() had not returned after 60 s")
        .unwrap_err()
        .to_string();
    assert!(
        took < Duration::from_secs(5),
        "start() failed only after {took:?}: {err}"
    );
    assert!(err.contains("connect_timeout = 1s"), "{err}");
}

/// How many warnings of the Mongo store named `url` (captured by the testkit's global
/// subscriber, which also sees the lines a scoped one would miss).
fn warnings_naming(url: &str) -> usize {
    let quoted = format!("{url:?}");
    asyncz_testkit::logs::captured_logs()
        .iter()
        .filter(|l| l.level == tracing::Level::WARN && l.target == "asyncz.stores.mongo")
        .filter(|l| l.field("url") == Some(quoted.as_str()))
        .count()
}

/// Issue 8, item 1: the last microsecond of year 9999 reads back exactly, as the next run time
/// too.
#[tokio::test]
async fn the_last_microsecond_of_year_9999_reads_back_exactly() {
    let Some(url) = std::env::var("ASYNCZ_TEST_MONGO_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        println!("skipping: ASYNCZ_TEST_MONGO_URL is not set");
        return;
    };
    let store = MongoStore::new(
        MongoStoreConfig::new(url).database(format!("asyncz_far_{}", std::process::id())),
    );
    store.start(store_context()).await.unwrap();
    let last = Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap()
        + asyncz_core::chrono::Duration::microseconds(999_999);
    let earlier = last - asyncz_core::chrono::Duration::microseconds(1);
    store
        .add_task(&sample_task("a-last", Some(last)))
        .await
        .unwrap();
    store
        .add_task(&sample_task("b-earlier", Some(earlier)))
        .await
        .unwrap();
    assert_eq!(store.get_next_run_time().await.unwrap(), Some(earlier));
    let found = store.lookup_task("a-last").await.unwrap().unwrap();
    assert_eq!(found.next_run_time(), Some(last));
    let due = store.get_due_tasks(earlier).await.unwrap();
    assert_eq!(
        due.iter().map(|t| t.id()).collect::<Vec<_>>(),
        ["b-earlier"]
    );
    store.drop_collection().await.unwrap();
}
