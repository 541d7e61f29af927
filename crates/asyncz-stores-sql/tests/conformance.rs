//! The SQL store runs the asyncz-testkit store suite against SQLite, and against PostgreSQL and
//! MySQL/MariaDB when `ASYNCZ_TEST_POSTGRES_URL` / `ASYNCZ_TEST_MYSQL_URL` are set (`cargo xtask
//! test-backends` and CI set them).
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use asyncz_core::{async_trait, Result, Store};
use asyncz_stores_sql::{SqlStore, SqlStoreConfig};
use asyncz_testkit::{store_context, Capabilities, StoreHarness};

/// SQL stores, each data set in a table of its own (and, on SQLite, a file of its own).
struct Sql {
    name: String,
    url: Box<dyn Fn(usize) -> String + Send + Sync>,
    /// The same kind of server on a closed port (networked dialects only).
    unreachable_url: Option<String>,
    key: Option<&'static str>,
    prefix: String,
}

impl Sql {
    fn new(
        name: &str,
        key: Option<&'static str>,
        url: impl Fn(usize) -> String + Send + Sync + 'static,
    ) -> Self {
        Sql {
            name: name.to_owned(),
            url: Box::new(url),
            unreachable_url: None,
            key,
            prefix: format!(
                "asyncz_t{}_{}",
                std::process::id(),
                name.len() + key.map_or(0, str::len)
            ),
        }
    }
    fn unreachable_at(mut self, url: &str) -> Self {
        self.unreachable_url = Some(url.to_owned());
        self
    }
}

#[async_trait]
impl StoreHarness for Sql {
    type Store = SqlStore;
    fn name(&self) -> String {
        format!(
            "{}{}",
            self.name,
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
    async fn open(&self, n: usize) -> Result<SqlStore> {
        let mut config =
            SqlStoreConfig::new((self.url)(n)).tablename(format!("{}_{n}", self.prefix));
        config.encryption_key = self.key.map(str::to_owned);
        SqlStore::new(config)
    }
    async fn corrupt_record(&self, store: &SqlStore, task_id: &str) -> Result<()> {
        store.write_raw_state(task_id, b"\x00not a task").await
    }
    async fn record_exists(&self, store: &SqlStore, task_id: &str) -> Result<bool> {
        store.record_exists(task_id).await
    }
    async fn unreachable_store(&self) -> Option<Result<SqlStore>> {
        let url = self.unreachable_url.as_ref()?;
        Some(SqlStore::new(
            SqlStoreConfig::new(url.clone()).connect_timeout(Duration::from_secs(2)),
        ))
    }
    async fn clean_up(&self, store: &SqlStore) -> Result<()> {
        store.drop_table().await
    }
}

/// The testkit case that needs a server to be unreachable; SQLite has none.
const UNREACHABLE_CASE: &str =
    "start_against_an_unreachable_server_fails_within_its_connect_timeout";

async fn run(harness: Sql) {
    let report = asyncz_testkit::run_store_suite(&harness).await;
    println!("{report}");
    report.assert_passed();
    let networked = harness.unreachable_url.is_some();
    let skipped: Vec<_> = report
        .skipped
        .iter()
        .filter(|case| networked || **case != UNREACHABLE_CASE)
        .collect();
    assert!(skipped.is_empty(), "{skipped:?}");
}

fn env(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            println!("skipping: {var} is not set (cargo xtask test-backends sets it)");
            None
        }
    }
}

#[tokio::test]
async fn sqlite_passes_the_store_suite() {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    for key in [None, Some("sqlite key")] {
        let d = Arc::clone(&dir);
        let tag = key.map_or("plain", |_| "enc");
        run(Sql::new("sqlite", key, move |n| {
            format!("sqlite://{}/{tag}-{n}.db", d.path().display())
        }))
        .await;
    }
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn postgres_passes_the_store_suite() {
    let Some(url) = env("ASYNCZ_TEST_POSTGRES_URL") else {
        return;
    };
    for key in [None, Some("pg key")] {
        let u = url.clone();
        run(Sql::new("postgres", key, move |_| u.clone())
            .unreachable_at("postgres://postgres:secret@127.0.0.1:1/test"))
        .await;
    }
}

#[cfg(feature = "mysql")]
#[tokio::test]
async fn mysql_passes_the_store_suite() {
    let Some(url) = env("ASYNCZ_TEST_MYSQL_URL") else {
        return;
    };
    for key in [None, Some("mysql key")] {
        let u = url.clone();
        run(Sql::new("mysql", key, move |_| u.clone())
            .unreachable_at("mysql://root:secret@127.0.0.1:1/test"))
        .await;
    }
}

#[test]
fn config_is_read_from_a_map_with_clear_errors() {
    let map = |v: serde_json::Value| v.as_object().cloned().unwrap();
    let c = SqlStoreConfig::from_map(&map(serde_json::json!({"database": "sqlite://x.db", "tablename": "jobs", "max_connections": "3"}))).unwrap();
    assert_eq!(
        (c.url.as_str(), c.tablename.as_str(), c.max_connections),
        ("sqlite://x.db", "jobs", 3)
    );
    for (bad, fragment) in [
        (serde_json::json!({}), "invalid url:"),
        (
            serde_json::json!({"url": "sqlite://x", "tablename": "jobs; DROP TABLE x"}),
            "not a plain identifier",
        ),
        (
            serde_json::json!({"url": "sqlite://x", "tablename": "1jobs"}),
            "not a plain identifier",
        ),
        (
            serde_json::json!({"url": "sqlite://x", "pool": 1}),
            "invalid pool:",
        ),
        (
            serde_json::json!({"url": "sqlite://x", "connect_timeout": 0}),
            "invalid connect_timeout:",
        ),
        (
            serde_json::json!({"url": "sqlite://x", "connect_timeout": "soon"}),
            "'soon' is not a number",
        ),
    ] {
        let err = SqlStoreConfig::from_map(&map(bad)).unwrap_err().to_string();
        assert!(err.contains(fragment), "{err}");
    }
    let long = "t".repeat(51);
    let err = SqlStore::new(SqlStoreConfig::new("mysql://db/x").tablename(long.clone()))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("stores.sql.tablename") && err.contains("at most 50"),
        "{err}"
    );
    for url in ["postgres://db/x", "sqlite://x.db"] {
        let ok = SqlStore::new(SqlStoreConfig::new(url).tablename(long.clone()));
        assert!(ok.is_ok(), "{url}: {ok:?}");
    }
    let err = SqlStore::new(SqlStoreConfig::new("oracle://scott:tiger@db/x"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("oracle://scott:***@db/x") && !err.contains("tiger"),
        "{err}"
    );
}

#[test]
fn connect_timeout_defaults_to_10_seconds_and_is_read_from_scheduler_config() {
    assert_eq!(
        SqlStoreConfig::new("sqlite://x.db").connect_timeout,
        Duration::from_secs(10)
    );
    let flat = serde_json::json!({
        "asyncz.stores.jobs.type": "sql",
        "asyncz.stores.jobs.url": "postgres://db/x",
        "asyncz.stores.jobs.connect_timeout": "2.5",
    });
    let config =
        asyncz_core::SchedulerConfig::from_map(flat.as_object().unwrap(), Some("asyncz.")).unwrap();
    let mut options = config.stores["jobs"].clone();
    options.remove("type");
    let sql = SqlStoreConfig::from_map(&options).unwrap();
    assert_eq!(sql.connect_timeout, Duration::from_millis(2500));
}

#[tokio::test]
async fn an_unreachable_database_is_an_error_naming_the_store_without_the_password() {
    let store = SqlStore::new(SqlStoreConfig::new("sqlite:///nonexistent-dir/sub/x.db")).unwrap();
    let began = std::time::Instant::now();
    let err = store.start(store_context()).await.unwrap_err().to_string();
    assert!(err.contains("store 'testkit' (sql"), "{err}");
    // A path that cannot be opened is not retried for the whole connect_timeout.
    assert!(
        began.elapsed() < Duration::from_secs(3),
        "{:?}",
        began.elapsed()
    );
}
