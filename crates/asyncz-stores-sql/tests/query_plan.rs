//! With 100k rows, the due-tasks query uses the `next_run_time` index (SQLite always;
//! PostgreSQL when `ASYNCZ_TEST_POSTGRES_URL` is set). The plans are in docs/query-plans.md.
#![allow(clippy::unwrap_used)]

use asyncz_core::chrono::{TimeZone, Utc};
use asyncz_core::Store;
use asyncz_stores_sql::{SqlStore, SqlStoreConfig};
use asyncz_testkit::store_context;

fn due_at() -> asyncz_core::chrono::DateTime<Utc> {
    Utc.timestamp_micros(50_000_000).unwrap()
}

#[tokio::test]
async fn sqlite_due_tasks_use_the_index_at_100k_rows() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqlStore::new(SqlStoreConfig::new(format!(
        "sqlite://{}/plan.db",
        dir.path().display()
    )))
    .unwrap();
    store.start(store_context()).await.unwrap();
    store
        .execute_raw(
            "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 100000) \
             INSERT INTO asyncz_store (id, next_run_time, state) SELECT 't' || x, x * 1000, X'00' FROM n",
        )
        .await
        .unwrap();
    store.execute_raw("ANALYZE").await.unwrap();
    let plan = store.explain_due_query(due_at()).await.unwrap();
    println!("sqlite plan:\n{}", plan.join("\n"));
    assert!(
        plan.iter()
            .any(|l| l.contains("USING INDEX asyncz_store_next_run_time")
                || l.contains("USING COVERING INDEX asyncz_store_next_run_time")),
        "{plan:?}"
    );
}

#[tokio::test]
async fn postgres_due_tasks_use_the_index_at_100k_rows() {
    let Some(url) = std::env::var("ASYNCZ_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        println!(
            "skipping: ASYNCZ_TEST_POSTGRES_URL is not set (cargo xtask test-backends sets it)"
        );
        return;
    };
    let table = format!("asyncz_plan_{}", std::process::id());
    let store = SqlStore::new(SqlStoreConfig {
        tablename: table.clone(),
        ..SqlStoreConfig::new(url)
    })
    .unwrap();
    store.start(store_context()).await.unwrap();
    store
        .execute_raw(&format!(
            "INSERT INTO {table} (id, next_run_time, state) SELECT 't' || g, g * 1000, '\\x00'::bytea FROM generate_series(1, 100000) g"
        ))
        .await
        .unwrap();
    store
        .execute_raw(&format!("ANALYZE {table}"))
        .await
        .unwrap();
    let plan = store.explain_due_query(due_at()).await.unwrap();
    println!("postgres plan:\n{}", plan.join("\n"));
    store.drop_table().await.unwrap();
    assert!(
        plan.iter()
            .any(|l| l.contains(&format!("{table}_next_run_time"))),
        "{plan:?}"
    );
}

#[tokio::test]
async fn a_store_can_use_the_applications_own_pool() {
    let dir = tempfile::tempdir().unwrap();
    let options = asyncz_stores_sql::sqlx::sqlite::SqliteConnectOptions::new()
        .filename(dir.path().join("app.db"))
        .create_if_missing(true);
    let pool = asyncz_stores_sql::sqlx::SqlitePool::connect_with(options)
        .await
        .unwrap();
    let config = SqlStoreConfig {
        tablename: "jobs".into(),
        ..SqlStoreConfig::new("")
    };
    let store = SqlStore::from_sqlite_pool(pool.clone(), config).unwrap();
    store.start(store_context()).await.unwrap();
    store
        .add_task(&asyncz_testkit::sample_task("via-pool", Some(due_at())))
        .await
        .unwrap();
    let count: i64 = asyncz_stores_sql::sqlx::query_scalar("SELECT COUNT(*) FROM jobs")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(count, 1);
}
