//! With 100k rows, the due-tasks query and the next-run-time query use the `next_run_time`
//! index (SQLite always; PostgreSQL when `ASYNCZ_TEST_POSTGRES_URL` is set, MySQL/MariaDB when
//! `ASYNCZ_TEST_MYSQL_URL` is). The plans are in docs/query-plans.md.
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
    let uses_index = |plan: &[String]| {
        plan.iter().any(|l| {
            l.contains("USING INDEX asyncz_store_next_run_time")
                || l.contains("USING COVERING INDEX asyncz_store_next_run_time")
        })
    };
    let plan = store.explain_due_query(due_at()).await.unwrap();
    println!("sqlite plan:\n{}", plan.join("\n"));
    assert!(uses_index(&plan), "{plan:?}");
    let next = store.explain_next_run_time_query().await.unwrap();
    println!("sqlite next-run-time plan:\n{}", next.join("\n"));
    assert!(uses_index(&next), "{next:?}");
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
    let store = SqlStore::new(SqlStoreConfig::new(url).tablename(table.clone())).unwrap();
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
    let next = store.explain_next_run_time_query().await.unwrap();
    println!("postgres next-run-time plan:\n{}", next.join("\n"));
    store.drop_table().await.unwrap();
    let index = format!("{table}_next_run_time");
    assert!(plan.iter().any(|l| l.contains(&index)), "{plan:?}");
    assert!(next.iter().any(|l| l.contains(&index)), "{next:?}");
}

#[tokio::test]
async fn mysql_next_run_time_query_uses_the_index_at_100k_rows() {
    let Some(url) = std::env::var("ASYNCZ_TEST_MYSQL_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        println!("skipping: ASYNCZ_TEST_MYSQL_URL is not set (cargo xtask test-backends sets it)");
        return;
    };
    let table = format!("asyncz_plan_{}", std::process::id());
    let store = SqlStore::new(SqlStoreConfig::new(url).tablename(table.clone())).unwrap();
    store.start(store_context()).await.unwrap();
    // 10^5 rows from five copies of the ten digits (recursive CTEs stop at 1000 rows).
    let digits = (0..10)
        .map(|d| format!("SELECT {d} AS d"))
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let from = ["a", "b", "c", "e", "f"]
        .map(|t| format!("({digits}) {t}"))
        .join(", ");
    store
        .execute_raw(&format!(
            "INSERT INTO {table} (id, next_run_time, state) \
             SELECT CONCAT('t', x), x * 1000, X'00' FROM \
             (SELECT a.d + 10 * b.d + 100 * c.d + 1000 * e.d + 10000 * f.d AS x FROM {from}) n"
        ))
        .await
        .unwrap();
    store
        .execute_raw(&format!("ANALYZE TABLE {table}"))
        .await
        .unwrap();
    let next = store.explain_next_run_time_query().await.unwrap();
    println!("mysql next-run-time plan:\n{}", next.join("\n"));
    store.drop_table().await.unwrap();
    let index = format!("{table}_next_run_time");
    assert!(next.iter().any(|l| l.contains(&index)), "{next:?}");
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
    let config = SqlStoreConfig::new("").tablename("jobs");
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
