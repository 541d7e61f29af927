//! The Redis harness of the testkit suites, shared by the store and cluster tests.
#![allow(dead_code)]

use std::time::Duration;

use asyncz_core::{async_trait, Result};
use asyncz_stores_redis::{RedisStore, RedisStoreConfig};
use asyncz_testkit::{Capabilities, StoreHarness};

/// Redis stores, each data set on keys of its own (named after `suite`, the process and
/// whether it is encrypted).
pub struct Redis {
    url: String,
    key: Option<&'static str>,
    prefix: String,
}

impl Redis {
    /// Stores on `url`, encrypted with `key` when given.
    pub fn new(url: &str, suite: &str, key: Option<&'static str>) -> Self {
        Redis {
            url: url.to_owned(),
            key,
            prefix: format!(
                "asyncz.test.{suite}.{}.{}",
                std::process::id(),
                key.is_some()
            ),
        }
    }
}

#[async_trait]
impl StoreHarness for Redis {
    type Store = RedisStore;
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
    async fn open(&self, n: usize) -> Result<RedisStore> {
        let mut config = RedisStoreConfig::new(&self.url)
            .tasks_key(format!("{}.{n}.tasks", self.prefix))
            .run_times_key(format!("{}.{n}.run_times", self.prefix));
        config.encryption_key = self.key.map(str::to_owned);
        RedisStore::new(config)
    }
    async fn corrupt_record(&self, store: &RedisStore, task_id: &str) -> Result<()> {
        store.write_raw_record(task_id, b"\x00not a task").await
    }
    async fn record_exists(&self, store: &RedisStore, task_id: &str) -> Result<bool> {
        store.record_exists(task_id).await
    }
    async fn unreachable_store(&self) -> Option<Result<RedisStore>> {
        Some(unreachable("redis://127.0.0.1:1"))
    }
    async fn clean_up(&self, store: &RedisStore) -> Result<()> {
        store.delete_keys().await
    }
}

/// A store against a closed port, giving up after 2 s.
pub fn unreachable(url: &str) -> Result<RedisStore> {
    RedisStore::new(RedisStoreConfig::new(url).connect_timeout(Duration::from_secs(2)))
}
