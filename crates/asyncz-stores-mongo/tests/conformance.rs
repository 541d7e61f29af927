//! The MongoDB store runs the asyncz-testkit store suite when `ASYNCZ_TEST_MONGO_URL` is set
//! (`cargo xtask test-backends` and CI set it), plain and encrypted.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use asyncz_core::{async_trait, Result, Store};
use asyncz_stores_mongo::{MongoStore, MongoStoreConfig};
use asyncz_testkit::{store_context, Capabilities, StoreHarness};

/// Hands out stores on fresh collections and remembers them.
struct Mongo {
    url: String,
    key: Option<&'static str>,
    database: String,
    stores: Mutex<HashMap<usize, MongoStore>>,
    next: Mutex<usize>,
}

fn key_of(store: &Arc<dyn Store>) -> usize {
    Arc::as_ptr(store).cast::<()>() as usize
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
            stores: Mutex::default(),
            next: Mutex::new(0),
        }
    }
    fn config(&self, n: usize) -> MongoStoreConfig {
        MongoStoreConfig {
            database: self.database.clone(),
            collection: format!("tasks_{n}"),
            encryption_key: self.key.map(str::to_owned),
            ..MongoStoreConfig::new(&self.url)
        }
    }
    fn open(&self, n: usize) -> Arc<dyn Store> {
        let store = MongoStore::new(self.config(n));
        let shared: Arc<dyn Store> = Arc::new(store.clone());
        self.stores.lock().unwrap().insert(key_of(&shared), store);
        shared
    }
    fn get(&self, store: &Arc<dyn Store>) -> MongoStore {
        self.stores.lock().unwrap()[&key_of(store)].clone()
    }
    async fn cleanup(&self) {
        let count = *self.next.lock().unwrap();
        for n in 0..count {
            let store = MongoStore::new(self.config(n));
            if store.start(store_context()).await.is_ok() {
                let _ = store.drop_collection().await;
            }
        }
    }
}

#[async_trait]
impl StoreHarness for Mongo {
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
    async fn fresh_store(&self) -> Result<Arc<dyn Store>> {
        let n = {
            let mut next = self.next.lock().unwrap();
            *next += 1;
            *next - 1
        };
        Ok(self.open(n))
    }
    async fn reopen(&self, store: &Arc<dyn Store>) -> Result<Arc<dyn Store>> {
        let old = self.get(store);
        let n: usize = old.names().1.trim_start_matches("tasks_").parse().unwrap();
        Ok(self.open(n))
    }
    async fn corrupt_record(&self, store: &Arc<dyn Store>, task_id: &str) -> Result<()> {
        self.get(store)
            .write_raw_state(task_id, b"\x00not a task")
            .await
    }
    async fn record_exists(&self, store: &Arc<dyn Store>, task_id: &str) -> Result<bool> {
        self.get(store).record_exists(task_id).await
    }
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
        harness.cleanup().await;
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
    for (bad, fragment) in [
        (
            serde_json::json!({"database": "a/b"}),
            "stores.mongo.database",
        ),
        (
            serde_json::json!({"collection": "$x"}),
            "stores.mongo.collection",
        ),
        (serde_json::json!({"client": 1}), "stores.mongo.client"),
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
    let config = MongoStoreConfig {
        database: format!("asyncz_client_{}", std::process::id()),
        ..MongoStoreConfig::new("ignored")
    };
    let store = MongoStore::with_client(client, config);
    store.start(store_context()).await.unwrap();
    store
        .add_task(&asyncz_testkit::sample_task("via-client", None))
        .await
        .unwrap();
    assert!(store.lookup_task("via-client").await.unwrap().is_some());
    store.drop_collection().await.unwrap();
}
