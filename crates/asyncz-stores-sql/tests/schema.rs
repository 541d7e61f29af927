//! The table the store keeps: ids compare bytewise (a MySQL table made the old way, with a
//! text id column, is converted in place), SQL keywords are valid table names, and `start`
//! against a closed port fails within `connect_timeout`, logging each attempt. PostgreSQL and
//! MySQL/MariaDB cases run when `ASYNCZ_TEST_POSTGRES_URL` / `ASYNCZ_TEST_MYSQL_URL` are set.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use asyncz_core::chrono::{TimeZone, Utc};
use asyncz_core::{Error, Store};
use asyncz_stores_sql::sqlx;
use asyncz_stores_sql::{SqlStore, SqlStoreConfig};
use asyncz_testkit::{sample_task, store_context};

fn at(us: i64) -> Option<asyncz_core::chrono::DateTime<Utc>> {
    Some(Utc.timestamp_micros(1_767_225_600_000_000 + us).unwrap())
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

fn store(url: &str, tablename: &str) -> SqlStore {
    SqlStore::new(SqlStoreConfig::new(url).tablename(tablename)).unwrap()
}

/// Every store operation on a table named after a SQL keyword.
async fn keyword_table_works(url: &str, tablename: &str) {
    let store = store(url, tablename);
    store
        .start(store_context())
        .await
        .unwrap_or_else(|e| panic!("start with table {tablename:?}: {e}"));
    store.remove_all_tasks().await.unwrap();
    store.add_task(&sample_task("a", at(2))).await.unwrap();
    store.add_task(&sample_task("b", at(1))).await.unwrap();
    assert_eq!(store.lookup_task("a").await.unwrap().unwrap().id(), "a");
    let due: Vec<String> = store
        .get_due_tasks(at(5).unwrap())
        .await
        .unwrap()
        .iter()
        .map(|t| t.id().to_owned())
        .collect();
    assert_eq!(due, ["b", "a"]);
    assert_eq!(store.get_next_run_time().await.unwrap(), at(1));
    store.update_task(&sample_task("b", at(9))).await.unwrap();
    store.delete_task("a").await.unwrap();
    assert_eq!(store.get_next_run_time().await.unwrap(), at(9));
    assert!(store.record_exists("b").await.unwrap());
    store.write_raw_state("b", b"\x00junk").await.unwrap();
    assert!(store.get_all_tasks().await.unwrap().is_empty());
    store.drop_table().await.unwrap();
    store.shutdown().await.unwrap();
}

#[tokio::test]
async fn sql_keywords_are_valid_table_names_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["select", "order", "table", "Group"] {
        keyword_table_works(
            &format!("sqlite://{}/{name}.db", dir.path().display()),
            name,
        )
        .await;
    }
}

#[tokio::test]
async fn sql_keywords_are_valid_table_names_on_postgres() {
    let Some(url) = env("ASYNCZ_TEST_POSTGRES_URL") else {
        return;
    };
    for name in ["select", "order", "table", "Group"] {
        keyword_table_works(&url, name).await;
    }
}

#[tokio::test]
async fn sql_keywords_are_valid_table_names_on_mysql() {
    let Some(url) = env("ASYNCZ_TEST_MYSQL_URL") else {
        return;
    };
    for name in ["select", "order", "table", "Group"] {
        keyword_table_works(&url, name).await;
    }
}

/// PostgreSQL folds unquoted names to lower case; the store, which now quotes its table name,
/// still finds the table an earlier version made for a mixed-case name.
#[tokio::test]
async fn postgres_finds_a_mixed_case_table_made_without_quotes() {
    let Some(url) = env("ASYNCZ_TEST_POSTGRES_URL") else {
        return;
    };
    let name = format!("AsynczFold{}", std::process::id());
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::query(&format!("DROP TABLE IF EXISTS {name}"))
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(&format!(
        "CREATE TABLE {name} (id VARCHAR(255) NOT NULL PRIMARY KEY, next_run_time BIGINT NULL, state BYTEA NOT NULL)"
    ))
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(&format!(
        "INSERT INTO {name} (id, next_run_time, state) VALUES ('old', 1, '\\x00')"
    ))
    .execute(&pool)
    .await
    .unwrap();
    let store = store(&url, &name);
    store.start(store_context()).await.unwrap();
    let found = store.record_exists("old").await;
    store.drop_table().await.unwrap();
    store.shutdown().await.unwrap();
    assert!(
        found.unwrap(),
        "the store did not see the existing table {name}"
    );
}

async fn id_column_type(pool: &sqlx::MySqlPool, table: &str) -> String {
    sqlx::query_scalar::<_, String>(
        "SELECT CAST(COLUMN_TYPE AS CHAR) FROM information_schema.COLUMNS \
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = 'id'",
    )
    .bind(table)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// A table made by an earlier version (`id VARCHAR(255)` with the default, case-, accent- and
/// padding-insensitive collation) is converted on start, its tasks kept, and from then on
/// `case`, `CASE` and `case ` are three tasks that lookup, update and delete tell apart.
#[tokio::test]
async fn mysql_converts_an_old_text_id_column_and_then_tells_lookalike_ids_apart() {
    let Some(url) = env("ASYNCZ_TEST_MYSQL_URL") else {
        return;
    };
    let table = format!("asyncz_old_ids_{}", std::process::id());
    let helper = format!("{table}_new");
    let pool = sqlx::MySqlPool::connect(&url.replacen("mariadb://", "mysql://", 1))
        .await
        .unwrap();
    for t in [&table, &helper] {
        sqlx::query(&format!("DROP TABLE IF EXISTS {t}"))
            .execute(&pool)
            .await
            .unwrap();
    }
    // The old schema, as the previous version created it.
    sqlx::query(&format!(
        "CREATE TABLE {table} (id VARCHAR(255) NOT NULL PRIMARY KEY, next_run_time BIGINT NULL, state LONGBLOB NOT NULL)"
    ))
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(&format!(
        "CREATE INDEX {table}_next_run_time ON {table} (next_run_time)"
    ))
    .execute(&pool)
    .await
    .unwrap();
    assert!(id_column_type(&pool, &table).await.starts_with("varchar"));
    // One task stored the old way: a record written by a store, copied into the old table.
    let writer = store(&url, &helper);
    writer.start(store_context()).await.unwrap();
    writer.add_task(&sample_task("case", at(0))).await.unwrap();
    sqlx::query(&format!(
        "INSERT INTO {table} (id, next_run_time, state) SELECT CONVERT(id USING utf8mb4), next_run_time, state FROM {helper}"
    ))
    .execute(&pool)
    .await
    .unwrap();
    writer.drop_table().await.unwrap();
    writer.shutdown().await.unwrap();

    let store = store(&url, &table);
    store.start(store_context()).await.unwrap();
    let (inner, pool, t) = (store.clone(), pool.clone(), table.clone());
    let outcome = async move {
        let (store, table) = (inner, t);
        assert_eq!(
            store
                .lookup_task("case")
                .await
                .unwrap()
                .unwrap()
                .next_run_time(),
            at(0),
            "the existing task survives the conversion"
        );
        for other in ["CASE", "case ", "Case ", "cäse"] {
            assert!(
                store.lookup_task(other).await.unwrap().is_none(),
                "{other:?}"
            );
            let updated = store.update_task(&sample_task(other, at(7))).await;
            assert!(
                matches!(updated, Err(Error::TaskLookup { .. })),
                "{other:?}: {updated:?}"
            );
            let deleted = store.delete_task(other).await;
            assert!(
                matches!(deleted, Err(Error::TaskLookup { .. })),
                "{other:?}: {deleted:?}"
            );
        }
        store.add_task(&sample_task("CASE", at(1))).await.unwrap();
        store.add_task(&sample_task("case ", at(2))).await.unwrap();
        store
            .update_task(&sample_task("CASE", at(10)).with_name("renamed"))
            .await
            .unwrap();
        store.delete_task("case ").await.unwrap();
        let mut left: Vec<(String, String)> = store
            .get_all_tasks()
            .await
            .unwrap()
            .iter()
            .map(|t| (t.id().to_owned(), t.name().to_owned()))
            .collect();
        left.sort();
        assert_eq!(left.len(), 2, "{left:?}");
        assert_eq!(left[0].0, "CASE");
        assert_eq!(left[0].1, "renamed");
        assert_eq!(left[1].0, "case");
        assert_ne!(left[1].1, "renamed", "updating \"CASE\" renamed \"case\"");
        assert_eq!(
            store
                .lookup_task("case")
                .await
                .unwrap()
                .unwrap()
                .next_run_time(),
            at(0)
        );
        assert_eq!(id_column_type(&pool, &table).await, "varbinary(255)");
        // A second start finds the column converted and leaves it alone.
        store.shutdown().await.unwrap();
        store.start(store_context()).await.unwrap();
        assert_eq!(store.get_all_tasks().await.unwrap().len(), 2);
    };
    // Drop the table whatever happened.
    let result = tokio::spawn(outcome).await;
    let _ = store.drop_table().await;
    let _ = store.shutdown().await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic.into_panic());
    }
}

/// `start` against a closed port returns within the connect timeout (plus a margin), with an
/// error naming the store and the URL without its password, after logging every attempt.
async fn start_fails_within_connect_timeout(url: &str) {
    let store =
        SqlStore::new(SqlStoreConfig::new(url).connect_timeout(Duration::from_secs(2))).unwrap();
    asyncz_testkit::logs::capture_logs().unwrap();
    let began = Instant::now();
    let outcome = tokio::time::timeout(Duration::from_secs(20), store.start(store_context()))
        .await
        .expect("start() against a closed port did not return within 20 s");
    let took = began.elapsed();
    let err = outcome.unwrap_err().to_string();
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(4),
        "took {took:?}: {err}"
    );
    assert!(err.contains("store 'testkit' (sql"), "{err}");
    assert!(
        err.contains("127.0.0.1:1/test") && err.contains(":***@"),
        "{err}"
    );
    assert!(!err.contains("secret"), "{err}");
    assert!(err.contains("connect_timeout of 2s"), "{err}");
    // This test's lines (the PostgreSQL and MySQL ones run at the same time), redacted or not.
    let scheme = &url[..url.find("://").unwrap() + 3];
    let lines: Vec<String> = asyncz_testkit::logs::captured_logs()
        .iter()
        .filter(|l| l.target.starts_with("asyncz.stores"))
        .filter(|l| l.mentions(scheme) && l.mentions("127.0.0.1:1/test"))
        .map(ToString::to_string)
        .collect();
    assert!(
        lines.len() >= 2,
        "one warning per failed attempt: {lines:?}"
    );
    for line in &lines {
        assert!(
            line.contains("attempt=") && line.contains(":***@") && !line.contains("secret"),
            "{line}"
        );
    }
}

#[tokio::test]
async fn postgres_start_against_a_closed_port_fails_within_connect_timeout() {
    start_fails_within_connect_timeout("postgres://postgres:secret@127.0.0.1:1/test").await;
}

#[tokio::test]
async fn mysql_start_against_a_closed_port_fails_within_connect_timeout() {
    start_fails_within_connect_timeout("mysql://root:secret@127.0.0.1:1/test").await;
}
