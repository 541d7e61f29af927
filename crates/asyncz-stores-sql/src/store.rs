//! The SQL store implementation. One code path for every database: the `on_pool!` macro
//! expands each query for the enabled drivers; only the DDL and placeholders differ.

use std::sync::{Arc, Mutex};

use asyncz_core::chrono::{DateTime, Utc};
use asyncz_core::chrono_tz::Tz;
use asyncz_core::codec::{RecordCodec, UndecodableRecords};
use asyncz_core::{async_trait, Error, PluginRegistry, Result, Store, StoreContext, Task};

use crate::config::{redact, SqlStoreConfig};

#[derive(Debug, Clone)]
enum Pool {
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
            Pool::Sqlite($pool) => $body,
            #[cfg(feature = "postgres")]
            Pool::Postgres($pool) => $body,
            #[cfg(feature = "mysql")]
            Pool::MySql($pool) => $body,
        }
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
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
    fn ph(self, n: usize) -> String {
        match self {
            Dialect::Postgres => format!("${n}"),
            _ => "?".to_owned(),
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
}

impl Sql {
    fn new(d: Dialect, t: &str) -> Sql {
        let p = |n| d.ph(n);
        Sql {
            create: format!(
                "CREATE TABLE IF NOT EXISTS {t} (id VARCHAR(255) NOT NULL PRIMARY KEY, next_run_time BIGINT NULL, state {} NOT NULL)",
                d.blob()
            ),
            index: match d {
                // MySQL has no CREATE INDEX IF NOT EXISTS; a duplicate is ignored below.
                Dialect::MySql => format!("CREATE INDEX {t}_next_run_time ON {t} (next_run_time)"),
                _ => format!("CREATE INDEX IF NOT EXISTS {t}_next_run_time ON {t} (next_run_time)"),
            },
            lookup: format!("SELECT id, state FROM {t} WHERE id = {}", p(1)),
            due: format!(
                "SELECT id, state FROM {t} WHERE next_run_time <= {} ORDER BY next_run_time, id",
                p(1)
            ),
            next: format!("SELECT MIN(next_run_time) FROM {t} WHERE next_run_time IS NOT NULL"),
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
                "UPDATE {t} SET next_run_time = {}, state = {} WHERE id = {}",
                p(1),
                p(2),
                p(3)
            ),
            exists: format!("SELECT COUNT(*) FROM {t} WHERE id = {}", p(1)),
            delete: format!("DELETE FROM {t} WHERE id = {}", p(1)),
            delete_all: format!("DELETE FROM {t}"),
        }
    }
}

#[derive(Debug)]
struct Started {
    alias: String,
    pool: Pool,
    codec: RecordCodec,
    plugins: Arc<PluginRegistry>,
    timezone: Tz,
}

/// Keeps tasks in a SQL table (spec: `SQLAlchemyStore`).
#[derive(Debug, Clone)]
pub struct SqlStore {
    config: SqlStoreConfig,
    dialect: Dialect,
    sql: Arc<Sql>,
    started: Arc<Mutex<Option<Arc<Started>>>>,
    undecodable: Arc<UndecodableRecords>,
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
        Ok(SqlStore {
            sql: Arc::new(Sql::new(dialect, &config.tablename)),
            dialect,
            config,
            started: Arc::new(Mutex::new(None)),
            undecodable: Arc::new(UndecodableRecords::default()),
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

    fn started(&self) -> Result<Arc<Started>> {
        self.started
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| Error::backend("store (sql)", "the store is not started"))
    }

    fn db_error(&self, s: &Started, what: &str, e: sqlx::Error) -> Error {
        Error::backend(format!("store '{}' (sql)", s.alias), format!("{what}: {e}"))
    }

    /// Decodes rows, skipping (and reporting) the undecodable ones.
    fn decode_rows(&self, s: &Started, rows: Vec<(String, Vec<u8>)>) -> Vec<Task> {
        let mut tasks = Vec::with_capacity(rows.len());
        for (id, bytes) in rows {
            match self.decode(s, &id, &bytes) {
                Ok(task) => {
                    self.undecodable.clear(&id);
                    tasks.push(task);
                }
                Err(e) => {
                    self.undecodable.record(&s.alias, &id, &e);
                }
            }
        }
        tasks
    }

    fn decode(&self, s: &Started, id: &str, bytes: &[u8]) -> Result<Task> {
        let state = s.codec.decode(id, bytes)?;
        Task::from_state(state, &s.alias, &s.plugins, s.timezone).map_err(|e| Error::Decode {
            store: s.alias.clone(),
            task_id: id.to_owned(),
            message: e.to_string(),
        })
    }

    async fn connect(&self) -> std::result::Result<Pool, sqlx::Error> {
        let url = self.config.url.as_str();
        let max = self.config.max_connections;
        Ok(match self.dialect {
            #[cfg(feature = "sqlite")]
            Dialect::Sqlite => {
                use std::str::FromStr;
                let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)?
                    .create_if_missing(true)
                    .busy_timeout(std::time::Duration::from_secs(5));
                // One connection for an in-memory database: each connection would be its own.
                let max = if url.contains(":memory:") { 1 } else { max };
                Pool::Sqlite(
                    sqlx::sqlite::SqlitePoolOptions::new()
                        .max_connections(max)
                        .connect_with(options)
                        .await?,
                )
            }
            #[cfg(feature = "postgres")]
            Dialect::Postgres => Pool::Postgres(
                sqlx::postgres::PgPoolOptions::new()
                    .max_connections(max)
                    .connect(url)
                    .await?,
            ),
            #[cfg(feature = "mysql")]
            Dialect::MySql => {
                let url = url.replacen("mariadb://", "mysql://", 1);
                Pool::MySql(
                    sqlx::mysql::MySqlPoolOptions::new()
                        .max_connections(max)
                        .connect(&url)
                        .await?,
                )
            }
            #[allow(unreachable_patterns)]
            _ => {
                return Err(sqlx::Error::Configuration(
                    "this driver is not compiled in".into(),
                ))
            }
        })
    }

    /// The database's plan for the due-tasks query (`EXPLAIN QUERY PLAN` on SQLite, `EXPLAIN`
    /// elsewhere), one line per row: operators check that it uses the `next_run_time` index.
    pub async fn explain_due_query(&self, now: DateTime<Utc>) -> Result<Vec<String>> {
        let s = self.started()?;
        let prefix = match self.dialect {
            Dialect::Sqlite => "EXPLAIN QUERY PLAN ",
            _ => "EXPLAIN ",
        };
        let sql = format!("{prefix}{}", self.sql.due);
        let us = now.timestamp_micros();
        let lines: Vec<String> = match &s.pool {
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

    /// Runs one statement of SQL (tests and tooling: bulk fixtures, cleanup).
    pub async fn execute_raw(&self, sql: &str) -> Result<()> {
        let s = self.started()?;
        on_pool!(&s.pool, |pool| sqlx::query(sql)
            .execute(pool)
            .await
            .map(|_| ()))
        .map_err(|e| self.db_error(&s, "cannot execute", e))
    }

    /// Drops the table (tests and tooling; not part of the Store contract).
    pub async fn drop_table(&self) -> Result<()> {
        let s = self.started()?;
        let sql = format!("DROP TABLE IF EXISTS {}", self.config.tablename);
        on_pool!(&s.pool, |pool| sqlx::query(&sql)
            .execute(pool)
            .await
            .map(|_| ()))
        .map_err(|e| self.db_error(&s, "cannot drop the table", e))?;
        Ok(())
    }

    /// Overwrites the raw `state` of a record (tests of undecodable records).
    pub async fn write_raw_state(&self, task_id: &str, state: &[u8]) -> Result<()> {
        let s = self.started()?;
        let sql = format!(
            "UPDATE {} SET state = {} WHERE id = {}",
            self.config.tablename,
            self.dialect.ph(1),
            self.dialect.ph(2)
        );
        on_pool!(&s.pool, |pool| sqlx::query(&sql)
            .bind(state.to_vec())
            .bind(task_id)
            .execute(pool)
            .await
            .map(|_| ()))
        .map_err(|e| self.db_error(&s, "cannot write", e))?;
        Ok(())
    }

    /// Whether a raw record exists for `task_id`, decodable or not.
    pub async fn record_exists(&self, task_id: &str) -> Result<bool> {
        let s = self.started()?;
        let count: i64 = on_pool!(&s.pool, |pool| sqlx::query_scalar::<_, i64>(
            &self.sql.exists
        )
        .bind(task_id)
        .fetch_one(pool)
        .await)
        .map_err(|e| self.db_error(&s, "cannot read", e))?;
        Ok(count > 0)
    }
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
        let codec = match &self.config.encryption_key {
            Some(key) => RecordCodec::with_key(&ctx.alias, Some(key))?,
            None => RecordCodec::from_env(&ctx.alias)?,
        };
        let backend = format!("store '{}' (sql, {})", ctx.alias, redact(&self.config.url));
        let pool = match &self.pool {
            Some(pool) => pool.clone(),
            None => self
                .connect()
                .await
                .map_err(|e| Error::backend(backend.clone(), format!("cannot connect: {e}")))?,
        };
        on_pool!(&pool, |p| sqlx::query(&self.sql.create)
            .execute(p)
            .await
            .map(|_| ()))
        .map_err(|e| Error::backend(backend.clone(), format!("cannot create the table: {e}")))?;
        if let Err(e) = on_pool!(&pool, |p| sqlx::query(&self.sql.index)
            .execute(p)
            .await
            .map(|_| ()))
        {
            // MySQL: the index exists already (error 1061, duplicate key name).
            let duplicate = e
                .as_database_error()
                .and_then(|d| d.code())
                .is_some_and(|c| c == "42000" || c == "1061");
            if !(self.dialect == Dialect::MySql && duplicate) {
                return Err(Error::backend(
                    backend,
                    format!("cannot create the index: {e}"),
                ));
            }
        }
        *self.started.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(Started {
            alias: ctx.alias,
            pool,
            codec,
            plugins: ctx.plugins,
            timezone: ctx.timezone,
        }));
        Ok(())
    }

    async fn shutdown(&self) -> Result<()> {
        let started = self
            .started
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(s) = started {
            // An application's own pool stays open: it is theirs to close.
            if self.pool.is_none() {
                on_pool!(&s.pool, |pool| pool.close().await);
            }
        }
        Ok(())
    }

    async fn lookup_task(&self, task_id: &str) -> Result<Option<Task>> {
        let s = self.started()?;
        let row: Option<(String, Vec<u8>)> =
            on_pool!(&s.pool, |pool| sqlx::query_as(&self.sql.lookup)
                .bind(task_id)
                .fetch_optional(pool)
                .await)
            .map_err(|e| self.db_error(&s, "cannot read", e))?;
        match row {
            None => Ok(None),
            Some((id, bytes)) => match self.decode(&s, &id, &bytes) {
                Ok(task) => Ok(Some(task)),
                Err(e) => {
                    self.undecodable.record(&s.alias, &id, &e);
                    Err(e)
                }
            },
        }
    }

    async fn get_due_tasks(&self, now: DateTime<Utc>) -> Result<Vec<Task>> {
        let s = self.started()?;
        let rows: Vec<(String, Vec<u8>)> = on_pool!(&s.pool, |pool| sqlx::query_as(&self.sql.due)
            .bind(now.timestamp_micros())
            .fetch_all(pool)
            .await)
        .map_err(|e| self.db_error(&s, "cannot read due tasks", e))?;
        Ok(self.decode_rows(&s, rows))
    }

    async fn get_next_run_time(&self) -> Result<Option<DateTime<Utc>>> {
        let s = self.started()?;
        let us: Option<i64> = on_pool!(&s.pool, |pool| sqlx::query_scalar::<_, Option<i64>>(
            &self.sql.next
        )
        .fetch_one(pool)
        .await)
        .map_err(|e| self.db_error(&s, "cannot read the next run time", e))?;
        Ok(us.and_then(DateTime::<Utc>::from_timestamp_micros))
    }

    async fn get_all_tasks(&self) -> Result<Vec<Task>> {
        let s = self.started()?;
        let rows: Vec<(String, Vec<u8>)> = on_pool!(&s.pool, |pool| sqlx::query_as(&self.sql.all)
            .fetch_all(pool)
            .await)
        .map_err(|e| self.db_error(&s, "cannot read tasks", e))?;
        Ok(self.decode_rows(&s, rows))
    }

    async fn add_task(&self, task: &Task) -> Result<()> {
        let s = self.started()?;
        if task.id().len() > 255 {
            return Err(Error::invalid(
                "id",
                format!(
                    "'{}…' is {} bytes; a SQL store id can be at most 255",
                    task.id().chars().take(16).collect::<String>(),
                    task.id().len()
                ),
            ));
        }
        let bytes = s.codec.encode(&task.to_state()?)?;
        let result = on_pool!(&s.pool, |pool| sqlx::query(&self.sql.insert)
            .bind(task.id())
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
        let bytes = s.codec.encode(&task.to_state()?)?;
        let affected = on_pool!(&s.pool, |pool| sqlx::query(&self.sql.update)
            .bind(micros(task.next_run_time()))
            .bind(bytes)
            .bind(task.id())
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .map_err(|e| self.db_error(&s, "cannot update", e))?;
        // MySQL counts changed rows, not matched ones: an identical update reports 0.
        if affected == 0 && !self.record_exists(task.id()).await? {
            return Err(Error::task_lookup(task.id()));
        }
        self.undecodable.clear(task.id());
        Ok(())
    }

    async fn delete_task(&self, task_id: &str) -> Result<()> {
        let s = self.started()?;
        let affected = on_pool!(&s.pool, |pool| sqlx::query(&self.sql.delete)
            .bind(task_id)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .map_err(|e| self.db_error(&s, "cannot delete", e))?;
        if affected == 0 {
            return Err(Error::task_lookup(task_id));
        }
        self.undecodable.clear(task_id);
        Ok(())
    }

    async fn remove_all_tasks(&self) -> Result<()> {
        let s = self.started()?;
        on_pool!(&s.pool, |pool| sqlx::query(&self.sql.delete_all)
            .execute(pool)
            .await
            .map(|_| ()))
        .map_err(|e| self.db_error(&s, "cannot delete", e))?;
        self.undecodable.clear_all();
        Ok(())
    }

    fn undecodable_records(&self) -> Vec<(String, String)> {
        self.undecodable.list()
    }
}
