//! The Redis store runs the asyncz-testkit store suite when `ASYNCZ_TEST_REDIS_URL` is set
//! (`cargo xtask test-backends` and CI set it), plain and encrypted.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use asyncz_core::{async_trait, Result, Store};
use asyncz_stores_redis::{RedisStore, RedisStoreConfig};
use asyncz_testkit::{store_context, Capabilities, StoreHarness};

/// Hands out stores on fresh keys and remembers them.
struct Redis {
    url: String,
    key: Option<&'static str>,
    prefix: String,
    stores: Mutex<HashMap<usize, RedisStore>>,
    next: Mutex<usize>,
}

fn key_of(store: &Arc<dyn Store>) -> usize {
    Arc::as_ptr(store).cast::<()>() as usize
}

impl Redis {
    fn new(url: &str, key: Option<&'static str>) -> Self {
        Redis {
            url: url.to_owned(),
            key,
            prefix: format!("asyncz.test.{}.{}", std::process::id(), key.is_some()),
            stores: Mutex::default(),
            next: Mutex::new(0),
        }
    }
    fn config(&self, n: usize) -> RedisStoreConfig {
        RedisStoreConfig {
            tasks_key: format!("{}.{n}.tasks", self.prefix),
            run_times_key: format!("{}.{n}.run_times", self.prefix),
            encryption_key: self.key.map(str::to_owned),
            ..RedisStoreConfig::new(&self.url)
        }
    }
    fn open(&self, n: usize) -> Arc<dyn Store> {
        let store = RedisStore::new(self.config(n)).unwrap();
        let shared: Arc<dyn Store> = Arc::new(store.clone());
        self.stores.lock().unwrap().insert(key_of(&shared), store);
        shared
    }
    fn get(&self, store: &Arc<dyn Store>) -> RedisStore {
        self.stores.lock().unwrap()[&key_of(store)].clone()
    }
    async fn cleanup(&self) {
        let count = *self.next.lock().unwrap();
        for n in 0..count {
            let store = RedisStore::new(self.config(n)).unwrap();
            if store.start(store_context()).await.is_ok() {
                let _ = store.delete_keys().await;
            }
        }
    }
}

#[async_trait]
impl StoreHarness for Redis {
    fn name(&self) -> String {
        format!(
            "redis{}",
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
        let (tasks, _) = old.keys();
        let n: usize = tasks.rsplit('.').nth(1).unwrap().parse().unwrap();
        Ok(self.open(n))
    }
    async fn corrupt_record(&self, store: &Arc<dyn Store>, task_id: &str) -> Result<()> {
        self.get(store)
            .write_raw_record(task_id, b"\x00not a task")
            .await
    }
    async fn record_exists(&self, store: &Arc<dyn Store>, task_id: &str) -> Result<bool> {
        self.get(store).record_exists(task_id).await
    }
}

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
        let harness = Redis::new(&url, key);
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
    let c = RedisStoreConfig::from_map(&map(
        serde_json::json!({"database": "3", "tasks_key": "t", "run_times_key": "r"}),
    ))
    .unwrap();
    assert_eq!(
        (c.database, c.tasks_key.as_str(), c.run_times_key.as_str()),
        (Some(3), "t", "r")
    );
    assert_eq!(c.url, "redis://127.0.0.1:6379");
    for (bad, fragment) in [
        (
            serde_json::json!({"database": "zero"}),
            "stores.redis.database",
        ),
        (
            serde_json::json!({"tasks_key": "same", "run_times_key": "same"}),
            "must differ",
        ),
        (serde_json::json!({"host": "x"}), "stores.redis.host"),
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
