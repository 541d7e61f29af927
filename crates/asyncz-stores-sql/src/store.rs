//! The SQL store implementation. One code path for every database: the `on_pool!` macro
//! expands each query for the enabled drivers; only the DDL and placeholders differ.

use std::sync::Arc;
use std::time::{Duration, Instant};

use asyncz_core::chrono::{DateTime, Utc};
use asyncz_core::record::StartedCell;
use asyncz_core::retry::{connect_within, Attempt};
use asyncz_core::{async_trait, Error, Result, ScheduleChange, Store, StoreContext, Task};

use crate::cluster::in_tx;

use crate::config::{redact, SqlStoreConfig};

#[derive(Debug, Clone)]
pub(crate) enum Pool {
    #[cfg(feature = "sqlite")]
    Sqlite(sqlx::SqlitePool),
    #[cfg(feature = "postgres")]
    Postgres(sqlx::PgPool),
    #[cfg(feature = "mysql")]
    MySql(sqlx::MySqlPool),
}

/// Runs `$body` with `$pool` bound to the concrete pool of whichever driver is in use.
macro_rules! on_pool {
    ($pool_enum:expr, |$pool:ident| $body:expr) => {
        match $pool_enum {
            #[cfg(feature = "sqlite")]
            crate::store::Pool::Sqlite($pool) => $body,
            #[cfg(feature = "postgres")]
            crate::store::Pool::Postgres($pool) => $body,
            #[cfg(feature = "mysql")]
            crate::store::Pool::MySql($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

/// A task id bound to a statement: bytes on MySQL (the column is `VARBINARY`, so the
/// comparison is bytewise whatever the connection's collation), text elsewhere.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IdParam<'a>(pub(crate) &'a str);

/// A task id read from a row. On MySQL the column holds bytes; ids are written as UTF-8, and
/// anything else (a row written by hand) is read lossily, so the record fails to decode (its
/// state names another id) instead of failing the whole query.
#[derive(Debug, Clone)]
pub(crate) struct IdColumn(pub(crate) String);

/// The id types on a database whose id column is text (SQLite, PostgreSQL): a `&str` bound,
/// a `String` read.
macro_rules! text_id {
    ($feature:literal, $module:ident, $db:ty) => {
        #[cfg(feature = $feature)]
        mod $module {
            use super::{IdColumn, IdParam};
            use sqlx::encode::IsNull;
            use sqlx::error::BoxDynError;
            use sqlx::{Database, Decode, Encode, Type};

            impl Type<$db> for IdParam<'_> {
                fn type_info() -> <$db as Database>::TypeInfo {
                    <str as Type<$db>>::type_info()
                }
            }
            impl<'q> Encode<'q, $db> for IdParam<'q> {
                fn encode_by_ref(
                    &self,
                    buf: &mut <$db as Database>::ArgumentBuffer<'q>,
                ) -> Result<IsNull, BoxDynError> {
                    <&'q str as Encode<'q, $db>>::encode_by_ref(&self.0, buf)
                }
            }
            impl Type<$db> for IdColumn {
                fn type_info() -> <$db as Database>::TypeInfo {
                    <String as Type<$db>>::type_info()
                }
                fn compatible(ty: &<$db as Database>::TypeInfo) -> bool {
                    <String as Type<$db>>::compatible(ty)
                }
            }
            impl<'r> Decode<'r, $db> for IdColumn {
                fn decode(value: <$db as Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
                    <String as Decode<'r, $db>>::decode(value).map(IdColumn)
                }
            }
        }
    };
}

text_id!("sqlite", sqlite_id, sqlx::Sqlite);
text_id!("postgres", postgres_id, sqlx::Postgres);

#[cfg(feature = "mysql")]
mod mysql_id {
    use super::{IdColumn, IdParam};
    use sqlx::encode::IsNull;
    use sqlx::error::BoxDynError;
    use sqlx::mysql::{MySqlTypeInfo, MySqlValueRef};
    use sqlx::{Decode, Encode, MySql, Type};

    impl Type<MySql> for IdParam<'_> {
        fn type_info() -> MySqlTypeInfo {
            <[u8] as Type<MySql>>::type_info()
        }
    }
    impl Encode<'_, MySql> for IdParam<'_> {
        fn encode_by_ref(&self, buf: &mut Vec<u8>) -> Result<IsNull, BoxDynError> {
            <&[u8] as Encode<MySql>>::encode_by_ref(&self.0.as_bytes(), buf)
        }
    }
    impl Type<MySql> for IdColumn {
        fn type_info() -> MySqlTypeInfo {
            <[u8] as Type<MySql>>::type_info()
        }
        fn compatible(ty: &MySqlTypeInfo) -> bool {
            <[u8] as Type<MySql>>::compatible(ty)
        }
    }
    impl<'r> Decode<'r, MySql> for IdColumn {
        fn decode(value: MySqlValueRef<'r>) -> Result<Self, BoxDynError> {
            let bytes = <&[u8] as Decode<'r, MySql>>::decode(value)?;
            Ok(IdColumn(String::from_utf8_lossy(bytes).into_owned()))
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
    MySql,
}

impl Dialect {
    fn of(url: &str) -> Result<Dialect> {
        let scheme = url
            .split(':')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let dialect = match scheme.as_str() {
            "sqlite" => Dialect::Sqlite,
            "postgres" | "postgresql" => Dialect::Postgres,
            "mysql" | "mariadb" => Dialect::MySql,
            _ => {
                return Err(Error::invalid(
                    "stores.sql.url",
                    format!(
                        "'{}' is not a sqlite:, postgres:// or mysql:// URL",
                        redact(url)
                    ),
                ))
            }
        };
        let enabled = match dialect {
            Dialect::Sqlite => cfg!(feature = "sqlite"),
            Dialect::Postgres => cfg!(feature = "postgres"),
            Dialect::MySql => cfg!(feature = "mysql"),
        };
        if !enabled {
            return Err(Error::invalid(
                "stores.sql.url",
                format!(
                    "'{}' needs the '{scheme}' feature of asyncz-stores-sql",
                    redact(url)
                ),
            ));
        }
        Ok(dialect)
    }

    /// The placeholder of the `n`th bound value (1-based).
    pub(crate) fn ph(self, n: usize) -> String {
        match self {
            Dialect::Postgres => format!("${n}"),
            _ => "?".to_owned(),
        }
    }

    /// An identifier (the table or index name, already validated as `[A-Za-z_][A-Za-z0-9_]*`)
    /// quoted for this dialect, so SQL keywords such as `select` are valid names. PostgreSQL
    /// folds an unquoted name to lower case, so the quoted name is lowered too: a table that
    /// an earlier, unquoting version created as `Jobs` (stored as `jobs`) is still found.
    pub(crate) fn quote(self, name: &str) -> String {
        match self {
            Dialect::MySql => format!("`{name}`"),
            Dialect::Postgres => format!("\"{}\"", name.to_ascii_lowercase()),
            Dialect::Sqlite => format!("\"{name}\""),
        }
    }

    /// The id column: compared bytewise, without padding. PostgreSQL and SQLite compare text
    /// that way already; MySQL's text collations ignore case, accents or trailing spaces.
    pub(crate) fn id_type(self) -> &'static str {
        match self {
            Dialect::MySql => "VARBINARY(255)",
            _ => "VARCHAR(255)",
        }
    }

    fn blob(self) -> &'static str {
        match self {
            Dialect::Sqlite => "BLOB",
            Dialect::Postgres => "BYTEA",
            Dialect::MySql => "LONGBLOB",
        }
    }
}

/// The SQL text of every statement, built once from the table name.
#[derive(Debug)]
struct Sql {
    /// The quoted table name.
    table: String,
    create: String,
    index: String,
    lookup: String,
    due: String,
    next: String,
    all: String,
    insert: String,
    update: String,
    exists: String,
    delete: String,
    delete_all: String,
    /// The `testing` hook `write_raw_state`.
    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    write_state: String,
    drop: String,
    /// MySQL: the type and collation of the existing id column.
    #[cfg_attr(not(feature = "mysql"), allow(dead_code))]
    id_column: String,
    /// MySQL: converts a text id column to the bytewise one.
    #[cfg_attr(not(feature = "mysql"), allow(dead_code))]
    migrate_id: String,
}

impl Sql {
    fn new(d: Dialect, tablename: &str) -> Sql {
        let p = |n| d.ph(n);
        let t = d.quote(tablename);
        let i = d.quote(&format!("{tablename}_next_run_time"));
        Sql {
            table: t.clone(),
            create: format!(
                "CREATE TABLE IF NOT EXISTS {t} (id {} NOT NULL PRIMARY KEY, next_run_time BIGINT NULL, state {} NOT NULL)",
                d.id_type(),
                d.blob()
            ),
            index: match d {
                // MySQL has no CREATE INDEX IF NOT EXISTS; a duplicate is ignored below.
                Dialect::MySql => format!("CREATE INDEX {i} ON {t} (next_run_time)"),
                _ => format!("CREATE INDEX IF NOT EXISTS {i} ON {t} (next_run_time)"),
            },
            id_column: format!(
                "SELECT DATA_TYPE, COLLATION_NAME FROM information_schema.COLUMNS \
                 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = {} AND COLUMN_NAME = 'id'",
                p(1)
            ),
            migrate_id: format!("ALTER TABLE {t} MODIFY id {} NOT NULL", d.id_type()),
            lookup: format!("SELECT id, state FROM {t} WHERE id = {}", p(1)),
            due: format!(
                "SELECT id, state FROM {t} WHERE next_run_time <= {} ORDER BY next_run_time, id",
                p(1)
            ),
            // The earliest few, not MIN(): the caller skips records it could not decode.
            next: format!(
                "SELECT id, next_run_time FROM {t} WHERE next_run_time IS NOT NULL ORDER BY next_run_time LIMIT {}",
                p(1)
            ),
            all: format!(
                "SELECT id, state FROM {t} ORDER BY CASE WHEN next_run_time IS NULL THEN 1 ELSE 0 END, next_run_time, id"
            ),
            insert: format!(
                "INSERT INTO {t} (id, next_run_time, state) VALUES ({}, {}, {})",
                p(1),
                p(2),
                p(3)
            ),
            update: format!(
                // Any claim on the task is void: a node that claimed it before this change
                // cannot commit over it (its fence moved).
                "UPDATE {t} SET next_run_time = {}, state = {}, claimed_by = NULL, claimed_until = NULL, fence = fence + 1 WHERE id = {}",
                p(1),
                p(2),
                p(3)
            ),
            exists: format!("SELECT COUNT(*) FROM {t} WHERE id = {}", p(1)),
            delete: format!("DELETE FROM {t} WHERE id = {}", p(1)),
            delete_all: format!("DELETE FROM {t}"),
            write_state: format!("UPDATE {t} SET state = {} WHERE id = {}", p(1), p(2)),
            drop: format!("DROP TABLE IF EXISTS {t}"),
        }
    }
}

impl Sql {
    /// An `UPDATE` of `n` tasks in one statement (see `update`). Binds `(id, next_run_time)`
    /// `n` times, then `(id, state)` `n` times, then the `n` ids.
    fn update_many(&self, d: Dialect, n: usize) -> String {
        let when = |first: usize| {
            (0..n)
                .map(|i| {
                    format!(
                        "WHEN {} THEN {}",
                        d.ph(first + 2 * i),
                        d.ph(first + 2 * i + 1)
                    )
                })
                .collect::<Vec<_>>()
                .join(" ")
        };
        format!(
            "UPDATE {} SET next_run_time = CASE id {} END, state = CASE id {} END, claimed_by = NULL, claimed_until = NULL, fence = fence + 1 WHERE id IN ({})",
            self.table,
            when(1),
            when(1 + 2 * n),
            Self::list(d, 1 + 4 * n, n)
        )
    }

    /// A `DELETE` of `n` tasks; binds the `n` ids.
    fn delete_many(&self, d: Dialect, n: usize) -> String {
        format!(
            "DELETE FROM {} WHERE id IN ({})",
            self.table,
            Self::list(d, 1, n)
        )
    }

    /// Which of `n` ids are stored; binds the `n` ids.
    fn existing(&self, d: Dialect, n: usize) -> String {
        format!(
            "SELECT id FROM {} WHERE id IN ({})",
            self.table,
            Self::list(d, 1, n)
        )
    }

    fn list(d: Dialect, first: usize, n: usize) -> String {
        (first..first + n)
            .map(|i| d.ph(i))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// How many tasks one statement of `store_schedules` writes (5 parameters each: well under
/// every server's limit on parameters).
const SCHEDULES_PER_STATEMENT: usize = 200;
/// About how many bytes of records one statement carries: under MySQL's smallest default
/// `max_allowed_packet` (4 MiB on 5.7) with room to spare.
const SCHEDULE_BYTES_PER_STATEMENT: usize = 1 << 20;

pub(crate) type Started = asyncz_core::record::Started<Pool>;

/// Keeps tasks in a SQL table (spec: `SQLAlchemyStore`).
#[derive(Debug, Clone)]
pub struct SqlStore {
    config: SqlStoreConfig,
    pub(crate) dialect: Dialect,
    sql: Arc<Sql>,
    /// The statements of cluster mode.
    pub(crate) cluster_sql: Arc<crate::cluster::ClusterSql>,
    pub(crate) started: Arc<StartedCell<Pool>>,
    /// A pool the application gave (used instead of connecting to `config.url`).
    pool: Option<Pool>,
}

fn micros(t: Option<DateTime<Utc>>) -> Option<i64> {
    t.map(|t| t.timestamp_micros())
}

impl SqlStore {
    /// A store for `config` (connects on start). Fails on an unsupported URL or a bad table
    /// name.
    pub fn new(config: SqlStoreConfig) -> Result<Self> {
        config.validate()?;
        let dialect = Dialect::of(&config.url)?;
        // MySQL limits identifiers to 64 characters and rejects longer ones (PostgreSQL
        // truncates them to 63, consistently); the index is named `<table>_next_run_time`.
        let index_len = config.tablename.len() + "_next_run_time".len();
        if dialect == Dialect::MySql && index_len > 64 {
            return Err(Error::invalid(
                "stores.sql.tablename",
                format!(
                    "{:?} is {} characters; on MySQL/MariaDB at most 50, as the index name `<tablename>_next_run_time` can have at most 64",
                    config.tablename,
                    config.tablename.len()
                ),
            ));
        }
        Ok(SqlStore {
            sql: Arc::new(Sql::new(dialect, &config.tablename)),
            cluster_sql: Arc::new(crate::cluster::ClusterSql::new(dialect, &config.tablename)),
            dialect,
            config,
            started: Arc::new(StartedCell::new(crate::ALIAS)),
            pool: None,
        })
    }

    fn with_pool(pool: Pool, dialect: &str, config: SqlStoreConfig) -> Result<Self> {
        let mut store = SqlStore::new(SqlStoreConfig {
            url: format!("{dialect}://(application pool)"),
            ..config
        })?;
        store.pool = Some(pool);
        Ok(store)
    }

    /// A store on an SQLite pool the application already has (`config.url` is ignored).
    #[cfg(feature = "sqlite")]
    pub fn from_sqlite_pool(pool: sqlx::SqlitePool, config: SqlStoreConfig) -> Result<Self> {
        Self::with_pool(Pool::Sqlite(pool), "sqlite", config)
    }

    /// A store on a PostgreSQL pool the application already has (`config.url` is ignored).
    #[cfg(feature = "postgres")]
    pub fn from_postgres_pool(pool: sqlx::PgPool, config: SqlStoreConfig) -> Result<Self> {
        Self::with_pool(Pool::Postgres(pool), "postgres", config)
    }

    /// A store on a MySQL/MariaDB pool the application already has (`config.url` is ignored).
    #[cfg(feature = "mysql")]
    pub fn from_mysql_pool(pool: sqlx::MySqlPool, config: SqlStoreConfig) -> Result<Self> {
        Self::with_pool(Pool::MySql(pool), "mysql", config)
    }

    /// The table name.
    pub fn tablename(&self) -> &str {
        &self.config.tablename
    }

    pub(crate) fn started(&self) -> Result<Arc<Started>> {
        self.started.get()
    }

    pub(crate) fn db_error(&self, s: &Started, what: &str, e: sqlx::Error) -> Error {
        Error::backend(
            format!("store '{}' (sql)", s.alias()),
            format!("{what}: {e}"),
        )
    }

    /// Decodes rows, skipping (and noting) the undecodable ones.
    fn decode_rows(s: &Started, rows: Vec<(IdColumn, Vec<u8>)>) -> Vec<Task> {
        s.records
            .read_all(rows.into_iter().map(|(IdColumn(id), bytes)| (id, bytes)))
    }

    /// Opens the pool within `connect_timeout` (see [`open_pool`]).
    async fn connect(&self, alias: &str) -> std::result::Result<Pool, String> {
        let url = self.config.url.as_str();
        let max = self.config.max_connections;
        let timeout = self.config.connect_timeout;
        let shown = redact(url);
        let bad_url = |e: sqlx::Error| format!("cannot read the URL: {e}");
        Ok(match self.dialect {
            #[cfg(feature = "sqlite")]
            Dialect::Sqlite => {
                use std::str::FromStr;
                let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)
                    .map_err(bad_url)?
                    .create_if_missing(true)
                    .busy_timeout(std::time::Duration::from_secs(5));
                // One connection for an in-memory database: each connection would be its own.
                let max = if url.contains(":memory:") { 1 } else { max };
                let pool = sqlx::sqlite::SqlitePoolOptions::new().max_connections(max);
                Pool::Sqlite(open_pool(alias, &shown, timeout, pool, options).await?)
            }
            #[cfg(feature = "postgres")]
            Dialect::Postgres => {
                use std::str::FromStr;
                let options = sqlx::postgres::PgConnectOptions::from_str(url).map_err(bad_url)?;
                let pool = sqlx::postgres::PgPoolOptions::new().max_connections(max);
                Pool::Postgres(open_pool(alias, &shown, timeout, pool, options).await?)
            }
            #[cfg(feature = "mysql")]
            Dialect::MySql => {
                use std::str::FromStr;
                let url = url.replacen("mariadb://", "mysql://", 1);
                let options = sqlx::mysql::MySqlConnectOptions::from_str(&url).map_err(bad_url)?;
                let pool = sqlx::mysql::MySqlPoolOptions::new().max_connections(max);
                Pool::MySql(open_pool(alias, &shown, timeout, pool, options).await?)
            }
            #[allow(unreachable_patterns)]
            _ => return Err("this driver is not compiled in".to_owned()),
        })
    }

    /// MySQL/MariaDB: converts a text id column (a table made before ids were bytes, with the
    /// database's default collation, which ignores case, accents and trailing spaces) to
    /// `VARBINARY(255)` in place. The stored ids keep their bytes; no two can collide, as
    /// the new comparison only tells more ids apart.
    async fn migrate_id_column(&self, pool: &Pool, alias: &str) -> std::result::Result<(), String> {
        #[cfg(feature = "mysql")]
        if let Pool::MySql(pool) = pool {
            let column: Option<(String, Option<String>)> = sqlx::query_as(&self.sql.id_column)
                .bind(self.config.tablename.as_str())
                .fetch_optional(pool)
                .await
                .map_err(|e| format!("cannot read the type of the id column: {e}"))?;
            let Some((data_type, collation)) = column else {
                return Ok(());
            };
            if data_type.eq_ignore_ascii_case("varbinary") {
                return Ok(());
            }
            tracing::info!(
                target: "asyncz.stores",
                store = ?alias,
                table = %self.config.tablename,
                from = %data_type,
                collation = ?collation,
                "converting the id column to VARBINARY(255), so that ids compare bytewise"
            );
            sqlx::query(&self.sql.migrate_id)
                .execute(pool)
                .await
                .map_err(|e| {
                    format!(
                        "cannot convert the id column ({data_type}, collation {}) to VARBINARY(255): {e}",
                        collation.as_deref().unwrap_or("none")
                    )
                })?;
        }
        let _ = (pool, alias);
        Ok(())
    }

    /// The database's plan for the due-tasks query (`EXPLAIN QUERY PLAN` on SQLite, `EXPLAIN`
    /// elsewhere), one line per row: operators check that it uses the `next_run_time` index.
    pub async fn explain_due_query(&self, now: DateTime<Utc>) -> Result<Vec<String>> {
        self.explain(&self.sql.due, now.timestamp_micros()).await
    }

    /// The database's plan for the query behind `get_next_run_time` (the earliest scheduled
    /// rows, as many as there are undecodable records plus one), like
    /// [`SqlStore::explain_due_query`].
    pub async fn explain_next_run_time_query(&self) -> Result<Vec<String>> {
        let limit =
            i64::try_from(self.started.undecodable().len().saturating_add(1)).unwrap_or(i64::MAX);
        self.explain(&self.sql.next, limit).await
    }

    /// The plan of `query`, whose one parameter is `us`.
    async fn explain(&self, query: &str, us: i64) -> Result<Vec<String>> {
        let s = self.started()?;
        let prefix = match self.dialect {
            Dialect::Sqlite => "EXPLAIN QUERY PLAN ",
            _ => "EXPLAIN ",
        };
        let sql = format!("{prefix}{query}");
        let lines: Vec<String> = match &s.backend {
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(pool) => {
                let rows: Vec<(i64, i64, i64, String)> = sqlx::query_as(&sql)
                    .bind(us)
                    .fetch_all(pool)
                    .await
                    .map_err(|e| self.db_error(&s, "cannot explain", e))?;
                rows.into_iter().map(|r| r.3).collect()
            }
            #[cfg(feature = "postgres")]
            Pool::Postgres(pool) => sqlx::query_scalar::<_, String>(&sql)
                .bind(us)
                .fetch_all(pool)
                .await
                .map_err(|e| self.db_error(&s, "cannot explain", e))?,
            #[cfg(feature = "mysql")]
            Pool::MySql(pool) => {
                use sqlx::Row;
                let rows = sqlx::query(&sql)
                    .bind(us)
                    .fetch_all(pool)
                    .await
                    .map_err(|e| self.db_error(&s, "cannot explain", e))?;
                rows.iter()
                    .map(|r| {
                        let key: Option<String> = r.try_get("key").ok().flatten();
                        let kind: Option<String> = r.try_get("type").ok().flatten();
                        format!(
                            "type={} key={}",
                            kind.unwrap_or_default(),
                            key.unwrap_or_default()
                        )
                    })
                    .collect()
            }
        };
        Ok(lines)
    }

    /// Runs one statement of SQL (tests: bulk fixtures; feature `testing`).
    #[cfg(feature = "testing")]
    #[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
    pub async fn execute_raw(&self, sql: &str) -> Result<()> {
        let s = self.started()?;
        on_pool!(&s.backend, |pool| sqlx::query(sql)
            .execute(pool)
            .await
            .map(|_| ()))
        .map_err(|e| self.db_error(&s, "cannot execute", e))
    }

    /// Drops the table, and the run ledger, node and schema tables of cluster mode (tests and
    /// tooling; not part of the Store contract).
    pub async fn drop_table(&self) -> Result<()> {
        let s = self.started()?;
        on_pool!(&s.backend, |pool| sqlx::query(&self.sql.drop)
            .execute(pool)
            .await
            .map(|_| ()))
        .map_err(|e| self.db_error(&s, "cannot drop the table", e))?;
        for drop in crate::schema::drop(&self.cluster_sql.names) {
            on_pool!(&s.backend, |pool| sqlx::query(&drop)
                .execute(pool)
                .await
                .map(|_| ()))
            .map_err(|e| self.db_error(&s, "cannot drop the cluster tables", e))?;
        }
        Ok(())
    }

    /// Overwrites the raw `state` of a record (tests of undecodable records; feature
    /// `testing`).
    #[cfg(feature = "testing")]
    #[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
    pub async fn write_raw_state(&self, task_id: &str, state: &[u8]) -> Result<()> {
        let s = self.started()?;
        on_pool!(&s.backend, |pool| sqlx::query(&self.sql.write_state)
            .bind(state.to_vec())
            .bind(IdParam(task_id))
            .execute(pool)
            .await
            .map(|_| ()))
        .map_err(|e| self.db_error(&s, "cannot write", e))?;
        Ok(())
    }

    /// Whether a raw record exists for `task_id`, decodable or not.
    pub async fn record_exists(&self, task_id: &str) -> Result<bool> {
        let s = self.started()?;
        let count: i64 = on_pool!(&s.backend, |pool| sqlx::query_scalar::<_, i64>(
            &self.sql.exists
        )
        .bind(IdParam(task_id))
        .fetch_one(pool)
        .await)
        .map_err(|e| self.db_error(&s, "cannot read", e))?;
        Ok(count > 0)
    }
}

/// Connects once at a time until one connection succeeds or `timeout` is up, logging each
/// failed attempt ([`connect_within`]), then opens the pool (whose acquire timeout is `timeout`
/// too). Errors that waiting cannot cure (a wrong password, an unknown database, a bad path)
/// end it at once.
async fn open_pool<DB: sqlx::Database>(
    alias: &str,
    url: &str,
    timeout: Duration,
    pool: sqlx::pool::PoolOptions<DB>,
    options: <DB::Connection as sqlx::Connection>::Options,
) -> std::result::Result<sqlx::Pool<DB>, String> {
    use sqlx::{ConnectOptions, Connection};
    let began = Instant::now();
    let attempt = |_remaining| async {
        match options.connect().await {
            Ok(connection) => {
                let _ = connection.close().await;
                Attempt::Connected(())
            }
            Err(e) if !is_passing(&e) => Attempt::GiveUp(format!("cannot connect: {e}")),
            Err(e) => Attempt::Retry(e.to_string()),
        }
    };
    let log = |attempt: u32, error: &str| {
        tracing::warn!(
            target: "asyncz.stores",
            store = ?alias,
            url = %url,
            attempt,
            error = %error,
            "cannot connect to the database"
        );
    };
    connect_within(timeout, attempt, log)
        .await
        .map_err(|failed| match failed.timed_out {
            true => format!(
                "cannot connect within the connect_timeout of {timeout:?} ({} attempts): {}",
                failed.attempts, failed.error
            ),
            false => failed.error,
        })?;
    // The server just answered; the pool's first connection is bounded all the same.
    let left = timeout.saturating_sub(began.elapsed());
    let pool = pool.acquire_timeout(timeout).connect_with(options);
    match tokio::time::timeout(left.max(Duration::from_secs(1)), pool).await {
        Ok(Ok(pool)) => Ok(pool),
        Ok(Err(e)) => Err(format!("cannot connect: {e}")),
        Err(_) => Err(format!(
            "cannot connect within the connect_timeout of {timeout:?}: no answer"
        )),
    }
}

/// Whether a connection error may pass by waiting: the server is down, starting up, or
/// out of connections.
fn is_passing(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut => true,
        sqlx::Error::Database(d) => d.code().is_some_and(|c| {
            // PostgreSQL: starting up / shutting down, too many connections; MySQL: too many
            // connections (1040, SQLSTATE 08004).
            matches!(&*c, "57P03" | "53300" | "08004" | "1040")
        }),
        _ => false,
    }
}

/// MySQL: the index exists already (error 1061, duplicate key name). Only that number: its
/// SQLSTATE 42000 is shared by other errors, such as a name that is too long (1059).
fn is_duplicate_index(e: &sqlx::Error) -> bool {
    #[cfg(feature = "mysql")]
    if let Some(d) = e.as_database_error() {
        return d
            .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
            .is_some_and(|m| m.number() == 1061);
    }
    let _ = e;
    false
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
}

#[async_trait]
impl Store for SqlStore {
    fn kind(&self) -> &'static str {
        crate::ALIAS
    }

    fn is_persistent(&self) -> bool {
        !self.config.url.contains(":memory:")
    }

    async fn start(&self, ctx: StoreContext) -> Result<()> {
        let records = self
            .started
            .records(ctx, self.config.encryption_key.as_deref())?;
        let alias = records.alias().to_owned();
        let backend = format!("store '{alias}' (sql, {})", redact(&self.config.url));
        let pool = match &self.pool {
            Some(pool) => pool.clone(),
            None => self
                .connect(&alias)
                .await
                .map_err(|e| Error::backend(backend.clone(), e))?,
        };
        on_pool!(&pool, |p| sqlx::query(&self.sql.create)
            .execute(p)
            .await
            .map(|_| ()))
        .map_err(|e| Error::backend(backend.clone(), format!("cannot create the table: {e}")))?;
        self.migrate_id_column(&pool, &alias)
            .await
            .map_err(|e| Error::backend(backend.clone(), e))?;
        if let Err(e) = on_pool!(&pool, |p| sqlx::query(&self.sql.index)
            .execute(p)
            .await
            .map(|_| ()))
        {
            if !is_duplicate_index(&e) {
                return Err(Error::backend(
                    backend,
                    format!("cannot create the index: {e}"),
                ));
            }
        }
        crate::schema::upgrade(&pool, self.dialect, &self.cluster_sql.names)
            .await
            .map_err(|e| Error::backend(backend.clone(), e))?;
        self.started.set(records, pool);
        Ok(())
    }

    async fn shutdown(&self) -> Result<()> {
        if let Some(s) = self.started.take() {
            // An application's own pool stays open: it is theirs to close.
            if self.pool.is_none() {
                on_pool!(&s.backend, |pool| pool.close().await);
            }
        }
        Ok(())
    }

    async fn lookup_task(&self, task_id: &str) -> Result<Option<Task>> {
        let s = self.started()?;
        let row: Option<(IdColumn, Vec<u8>)> =
            on_pool!(&s.backend, |pool| sqlx::query_as(&self.sql.lookup)
                .bind(IdParam(task_id))
                .fetch_optional(pool)
                .await)
            .map_err(|e| self.db_error(&s, "cannot read", e))?;
        row.map(|(IdColumn(id), bytes)| s.records.read(&id, &bytes))
            .transpose()
    }

    async fn get_due_tasks(&self, now: DateTime<Utc>) -> Result<Vec<Task>> {
        let s = self.started()?;
        let rows: Vec<(IdColumn, Vec<u8>)> =
            on_pool!(&s.backend, |pool| sqlx::query_as(&self.sql.due)
                .bind(now.timestamp_micros())
                .fetch_all(pool)
                .await)
            .map_err(|e| self.db_error(&s, "cannot read due tasks", e))?;
        Ok(Self::decode_rows(&s, rows))
    }

    async fn get_next_run_time(&self) -> Result<Option<DateTime<Utc>>> {
        let s = self.started()?;
        // An undecodable record is never run, so its time must not wake the engine (it would
        // find the record due, skip it, and ask again at once). Of the `n + 1` earliest rows,
        // at most `n` are undecodable; the query stays an index range scan
        // (`explain_next_run_time_query`).
        let limit =
            i64::try_from(self.started.undecodable().len().saturating_add(1)).unwrap_or(i64::MAX);
        let rows: Vec<(IdColumn, i64)> =
            on_pool!(&s.backend, |pool| sqlx::query_as(&self.sql.next)
                .bind(limit)
                .fetch_all(pool)
                .await)
            .map_err(|e| self.db_error(&s, "cannot read the next run time", e))?;
        Ok(rows
            .into_iter()
            .find(|(IdColumn(id), _)| !self.started.undecodable().contains(id))
            .and_then(|(_, us)| DateTime::<Utc>::from_timestamp_micros(us)))
    }

    async fn get_all_tasks(&self) -> Result<Vec<Task>> {
        let s = self.started()?;
        let rows: Vec<(IdColumn, Vec<u8>)> =
            on_pool!(&s.backend, |pool| sqlx::query_as(&self.sql.all)
                .fetch_all(pool)
                .await)
            .map_err(|e| self.db_error(&s, "cannot read tasks", e))?;
        Ok(Self::decode_rows(&s, rows))
    }

    async fn add_task(&self, task: &Task) -> Result<()> {
        let s = self.started()?;
        if task.id().len() > 255 {
            return Err(Error::invalid(
                "id",
                format!(
                    "{:?}… is {} bytes; a SQL store id can be at most 255",
                    task.id().chars().take(16).collect::<String>(),
                    task.id().len()
                ),
            ));
        }
        let bytes = s.records.encode(task)?;
        let result = on_pool!(&s.backend, |pool| sqlx::query(&self.sql.insert)
            .bind(IdParam(task.id()))
            .bind(micros(task.next_run_time()))
            .bind(bytes)
            .execute(pool)
            .await
            .map(|_| ()));
        match result {
            Ok(()) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(Error::conflict(task.id())),
            Err(e) => Err(self.db_error(&s, "cannot insert", e)),
        }
    }

    async fn update_task(&self, task: &Task) -> Result<()> {
        let s = self.started()?;
        let bytes = s.records.encode(task)?;
        let affected = on_pool!(&s.backend, |pool| sqlx::query(&self.sql.update)
            .bind(micros(task.next_run_time()))
            .bind(bytes)
            .bind(IdParam(task.id()))
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .map_err(|e| self.db_error(&s, "cannot update", e))?;
        // MySQL counts changed rows, not matched ones: an identical update reports 0.
        if affected == 0 && !self.record_exists(task.id()).await? {
            return Err(Error::task_lookup(task.id()));
        }
        self.started.undecodable().clear(task.id());
        Ok(())
    }

    async fn delete_task(&self, task_id: &str) -> Result<()> {
        let s = self.started()?;
        let affected = on_pool!(&s.backend, |pool| sqlx::query(&self.sql.delete)
            .bind(IdParam(task_id))
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .map_err(|e| self.db_error(&s, "cannot delete", e))?;
        if affected == 0 {
            return Err(Error::task_lookup(task_id));
        }
        self.started.undecodable().clear(task_id);
        Ok(())
    }

    fn batches_schedules(&self) -> bool {
        true
    }

    /// Every change in one transaction: one fsync on SQLite, one commit on a server, instead
    /// of one per due task.
    async fn store_schedules(&self, changes: &[ScheduleChange]) -> Result<Vec<Result<()>>> {
        let s = self.started()?;
        // Encoded before the transaction: a task that cannot be encoded fails alone.
        let mut encoded: Vec<Result<Option<Vec<u8>>>> = changes
            .iter()
            .map(|change| match change {
                ScheduleChange::Update(task) => s.records.encode(task).map(Some),
                ScheduleChange::Delete(_) => Ok(None),
                other => Err(Error::invalid(
                    "schedule change",
                    format!(
                        "task {:?}: a kind of change this store does not know",
                        other.task_id()
                    ),
                )),
            })
            .collect();
        // Updates and deletes, each in statements of up to SCHEDULES_PER_STATEMENT tasks.
        let mut updates: Vec<(usize, &Task, &[u8])> = Vec::new();
        let mut deletes: Vec<(usize, &str)> = Vec::new();
        for (i, (change, bytes)) in changes.iter().zip(&encoded).enumerate() {
            match (change, bytes) {
                (ScheduleChange::Update(task), Ok(Some(bytes))) => {
                    updates.push((i, task, bytes.as_slice()));
                }
                (ScheduleChange::Delete(id), Ok(_)) => deletes.push((i, id.as_str())),
                _ => {}
            }
        }
        let (d, statements) = (self.dialect, &self.sql);
        // The ids of `$ids` that are stored, read in the transaction `$tx`.
        macro_rules! stored_of {
            ($tx:ident, $ids:expr) => {{
                let ids: &[&str] = $ids;
                let sql = statements.existing(d, ids.len());
                let mut q = sqlx::query_as::<_, (IdColumn,)>(&sql);
                for id in ids {
                    q = q.bind(IdParam(id));
                }
                q.fetch_all(&mut *$tx)
                    .await?
                    .into_iter()
                    .map(|(id,)| id.0)
                    .collect::<std::collections::HashSet<String>>()
            }};
        }
        let found: Vec<bool> = in_tx!(self, s, |tx, now| {
            let mut found = vec![true; changes.len()];
            for part in asyncz_core::chunks_by(
                &updates,
                SCHEDULES_PER_STATEMENT,
                SCHEDULE_BYTES_PER_STATEMENT,
                |(_, task, bytes)| bytes.len() + task.id().len(),
            ) {
                let sql = self.sql.update_many(d, part.len());
                let mut q = sqlx::query(&sql);
                for (_, task, _) in part {
                    q = q
                        .bind(IdParam(task.id()))
                        .bind(micros(task.next_run_time()));
                }
                for (_, task, bytes) in part {
                    q = q.bind(IdParam(task.id())).bind(*bytes);
                }
                for (_, task, _) in part {
                    q = q.bind(IdParam(task.id()));
                }
                // Every stored row changes (its fence moves), so fewer rows than tasks means
                // some ids are not stored: ask which.
                if (q.execute(&mut *tx).await?.rows_affected() as usize) < part.len() {
                    let ids: Vec<&str> = part.iter().map(|(_, task, _)| task.id()).collect();
                    let stored = stored_of!(tx, &ids);
                    for (i, task, _) in part {
                        found[*i] = stored.contains(task.id());
                    }
                }
            }
            for part in deletes.chunks(SCHEDULES_PER_STATEMENT) {
                let ids: Vec<&str> = part.iter().map(|(_, id)| *id).collect();
                // Which are stored, read first: a delete reports only how many it removed.
                let stored = stored_of!(tx, &ids);
                if !stored.is_empty() {
                    let sql = self.sql.delete_many(d, ids.len());
                    let mut q = sqlx::query(&sql);
                    for id in &ids {
                        q = q.bind(IdParam(id));
                    }
                    q.execute(&mut *tx).await?;
                }
                for (i, id) in part {
                    found[*i] = stored.contains(*id);
                }
            }
            found
        })
        .map_err(|e| self.db_error(&s, "cannot store the new schedules", e))?;
        Ok(changes
            .iter()
            .zip(encoded.drain(..))
            .zip(found)
            .map(|((change, encoded), found)| {
                encoded?;
                if !found {
                    return Err(Error::task_lookup(change.task_id()));
                }
                self.started.undecodable().clear(change.task_id());
                Ok(())
            })
            .collect())
    }

    async fn remove_all_tasks(&self) -> Result<()> {
        let s = self.started()?;
        on_pool!(&s.backend, |pool| sqlx::query(&self.sql.delete_all)
            .execute(pool)
            .await
            .map(|_| ()))
        .map_err(|e| self.db_error(&s, "cannot delete", e))?;
        self.started.undecodable().clear_all();
        Ok(())
    }

    fn undecodable_records(&self) -> Vec<(String, String)> {
        self.started.undecodable().list()
    }

    fn cluster(&self) -> Option<&dyn asyncz_core::cluster::ClusterStore> {
        Some(self)
    }

    async fn schema_version(&self) -> Result<Option<asyncz_core::SchemaVersion>> {
        let s = self.started()?;
        let stored = crate::schema::stored_version(&s.backend, &self.cluster_sql.names)
            .await
            .map_err(|e| self.db_error(&s, "cannot read the schema version", e))?;
        let stored = u32::try_from(stored).map_err(|_| {
            Error::invalid(
                format!("store '{}' (sql) schema_version", s.alias()),
                format!("{stored} is not a version"),
            )
        })?;
        // VERSION is a small positive constant.
        let supported = u32::try_from(crate::schema::VERSION).unwrap_or(u32::MAX);
        Ok(Some(asyncz_core::SchemaVersion::new(stored, supported)))
    }
}
