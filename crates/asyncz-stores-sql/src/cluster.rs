//! Cluster mode ([`ClusterStore`]) on SQL: the statements, the transactions they run in, and
//! the trait's implementation, which hands each method to the part that owns it (claims and
//! fire commits, the run ledger, the node registry).
//!
//! Every write that must not race runs in one transaction per call: PostgreSQL and
//! MySQL/MariaDB lock the rows they take with `FOR UPDATE SKIP LOCKED` (so racing nodes take
//! disjoint rows without waiting for each other), in `READ COMMITTED` on MySQL so that no gap
//! locks serialize them; SQLite takes the database's write lock at `BEGIN IMMEDIATE`.
//! The store's clock is the server's (`clock_timestamp()`, `UTC_TIMESTAMP(6)`); SQLite has
//! none, so it is the scheduler's clock from the `StoreContext`.

use std::time::Duration;

use asyncz_core::chrono::{DateTime, Utc};
use asyncz_core::cluster::{
    ClaimRequest, ClaimedRound, ClaimedTask, ClusterStore, CommitResult, FireCommit, HistoryQuery,
    NodeInfo, NodeState, RunFinish, RunRecord, RunRef, SettleReason,
};
use asyncz_core::{async_trait, Error, Result};

use crate::schema::Names;
use crate::store::{Dialect, SqlStore};

mod batch;
mod claims;
mod ledger;
mod nodes;
mod peek;

/// The fixed statements of cluster mode, built once from the table name.
#[derive(Debug)]
pub(crate) struct ClusterSql {
    pub(crate) names: Names,
    dialect: Dialect,
    /// The store's clock in microseconds (`None`: SQLite, the scheduler's clock).
    pub(crate) now: Option<String>,
    /// The statement that opens a transaction.
    pub(crate) begin: &'static str,
    /// Run on the connection before `begin`.
    pub(crate) pre_begin: Option<&'static str>,
    /// Locks the selected rows, skipping those another transaction holds.
    skip_locked: &'static str,
    /// Locks the selected rows, waiting for them.
    for_update: &'static str,
    /// `INSERT` that leaves out a row whose key is taken.
    insert_ignore: (&'static str, &'static str),
}

impl ClusterSql {
    pub(crate) fn new(d: Dialect, tablename: &str) -> ClusterSql {
        let (now, begin, pre_begin, skip_locked, for_update, insert_ignore) = match d {
            Dialect::Postgres => (
                Some("SELECT (EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::BIGINT".to_owned()),
                "BEGIN",
                None,
                " FOR UPDATE SKIP LOCKED",
                " FOR UPDATE",
                ("INSERT INTO", " ON CONFLICT DO NOTHING"),
            ),
            Dialect::MySql => (
                Some(
                    "SELECT TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', UTC_TIMESTAMP(6))"
                        .to_owned(),
                ),
                "BEGIN",
                Some("SET TRANSACTION ISOLATION LEVEL READ COMMITTED"),
                " FOR UPDATE SKIP LOCKED",
                " FOR UPDATE",
                ("INSERT IGNORE INTO", ""),
            ),
            Dialect::Sqlite => (
                None,
                "BEGIN IMMEDIATE",
                None,
                "",
                "",
                ("INSERT INTO", " ON CONFLICT DO NOTHING"),
            ),
        };
        ClusterSql {
            names: Names::new(d, tablename),
            dialect: d,
            now,
            begin,
            pre_begin,
            skip_locked,
            for_update,
            insert_ignore,
        }
    }

    /// The placeholder of the `n`th bound value.
    fn ph(&self, n: usize) -> String {
        self.dialect.ph(n)
    }

    /// `count` placeholders from the `first`th, comma-separated.
    fn list(&self, first: usize, count: usize) -> String {
        (first..first + count)
            .map(|n| self.ph(n))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Runs `$body` in one transaction on the started store `$s`, with `$tx` the transaction
/// and `$now` the store's time in microseconds, and commits; the body's `?` on a
/// `sqlx::Error` rolls back. A deadlock or serialization failure (which leaves nothing
/// written) is retried a few times. Evaluates to `Result<T, sqlx::Error>`.
macro_rules! in_tx {
    ($store:expr, $s:expr, |$tx:ident, $now:ident| $body:block) => {{
        let mut tries = 0u32;
        loop {
            // Boxed as a `Send` future here, where its lifetimes are still concrete: left to
            // the enclosing `async_trait` future, the compiler cannot prove it `Send`.
            let attempt: std::pin::Pin<
                Box<
                    dyn std::future::Future<Output = std::result::Result<_, sqlx::Error>>
                        + Send
                        + '_,
                >,
            > = crate::store::on_pool!(&$s.backend, |pool| Box::pin(async {
                let mut conn = pool.acquire().await?;
                if let Some(pre) = $store.cluster_sql.pre_begin {
                    sqlx::Executor::execute(&mut *conn, pre).await?;
                }
                #[allow(unused_mut)]
                let mut $tx =
                    sqlx::Connection::begin_with(&mut *conn, $store.cluster_sql.begin).await?;
                #[allow(unused_variables)]
                let $now: i64 = match &$store.cluster_sql.now {
                    Some(q) => sqlx::query_scalar::<_, i64>(q).fetch_one(&mut *$tx).await?,
                    None => $s.records.context().clock.now().timestamp_micros(),
                };
                let out = $body;
                $tx.commit().await?;
                Ok::<_, sqlx::Error>(out)
            }));
            match attempt.await {
                Err(e) if tries < 5 && crate::cluster::is_transient(&e) => {
                    tries += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(3 << tries)).await;
                }
                other => break other,
            }
        }
    }};
}
pub(crate) use in_tx;

impl SqlStore {
    /// [`SqlStore::db_error`] for a statement with `FOR UPDATE SKIP LOCKED`: a server that
    /// cannot parse it (MySQL before 8.0.1, MariaDB before 10.6; error 1064) is named as too
    /// old for cluster mode.
    fn locking_error(&self, s: &crate::store::Started, what: &str, e: sqlx::Error) -> Error {
        let syntax = e
            .as_database_error()
            .and_then(|d| d.code())
            .is_some_and(|code| code == "42000")
            && e.to_string().contains("LOCKED");
        if self.dialect == Dialect::MySql && syntax {
            return Error::backend(
                format!("store '{}' (sql)", s.alias()),
                format!(
                    "{what}: cluster mode needs FOR UPDATE SKIP LOCKED, which this server does not parse (MySQL 8.0.1+ or MariaDB 10.6+ has it): {e}"
                ),
            );
        }
        self.db_error(s, what, e)
    }
}

/// A failure that left nothing written and may pass on a retry: a deadlock, a
/// serialization failure, a lock wait timeout, SQLite's busy database.
pub(crate) fn is_transient(e: &sqlx::Error) -> bool {
    let Some(d) = e.as_database_error() else {
        return false;
    };
    let code = d.code().unwrap_or_default();
    // PostgreSQL 40001 / 40P01; MySQL 1213 (40001), 1205 (HY000, lock wait timeout);
    // SQLite 5 (busy), 6 (locked), 517 (busy snapshot).
    matches!(
        &*code,
        "40001" | "40P01" | "1213" | "1205" | "5" | "6" | "517"
    ) || d.message().contains("Lock wait timeout")
        || d.message().contains("Deadlock found")
}

/// Microseconds since the epoch of a stored time, or an error naming the field.
fn time_of(field: &str, us: i64) -> Result<DateTime<Utc>> {
    DateTime::<Utc>::from_timestamp_micros(us)
        .ok_or_else(|| Error::invalid(field, format!("{us} µs since the epoch is out of range")))
}

/// A number that must fit a signed BIGINT column.
fn to_i64(field: &str, value: u64) -> Result<i64> {
    i64::try_from(value).map_err(|_| {
        Error::invalid(
            field,
            format!(
                "{value} is above the largest value a SQL BIGINT holds ({})",
                i64::MAX
            ),
        )
    })
}

/// A duration in whole microseconds (saturating).
fn micros_of(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

#[async_trait]
impl ClusterStore for SqlStore {
    async fn store_time(&self) -> Result<DateTime<Utc>> {
        let s = self.started()?;
        let us = match &self.cluster_sql.now {
            Some(q) => crate::store::on_pool!(&s.backend, |pool| sqlx::query_scalar::<_, i64>(q)
                .fetch_one(pool)
                .await)
            .map_err(|e| self.db_error(&s, "cannot read the store's clock", e))?,
            None => s.records.context().clock.now().timestamp_micros(),
        };
        time_of("store time", us)
    }

    async fn claim_due_tasks(&self, request: ClaimRequest<'_>) -> Result<Vec<ClaimedTask>> {
        self.claim(request).await
    }

    async fn claim_round(&self, request: ClaimRequest<'_>) -> Result<ClaimedRound> {
        self.claim_round_peeking(request).await
    }

    async fn renew_claims(
        &self,
        node: &str,
        claims: &[ClaimedTask],
        lease: Duration,
    ) -> Result<Vec<String>> {
        self.renew(node, claims, lease).await
    }

    async fn release_claims(&self, node: &str, claims: &[ClaimedTask]) -> Result<()> {
        self.release(node, claims).await
    }

    async fn commit_fires(&self, node: &str, fires: &[FireCommit]) -> Result<Vec<CommitResult>> {
        self.commit(node, fires).await
    }

    async fn insert_run(&self, run: &RunRecord) -> Result<()> {
        self.insert(run).await
    }

    async fn claim_run_requests(&self, node: &str, limit: usize) -> Result<Vec<RunRecord>> {
        self.take_requests(node, limit).await
    }

    async fn start_run(&self, run: &RunRef, started_at: DateTime<Utc>) -> Result<bool> {
        self.start(run, started_at).await
    }

    async fn finish_run(&self, run: &RunRef, finish: &RunFinish) -> Result<bool> {
        self.finish(run, finish).await
    }

    async fn start_runs(&self, runs: &[RunRef], started_at: DateTime<Utc>) -> Result<Vec<bool>> {
        self.start_many(runs, started_at).await
    }

    async fn finish_runs(&self, runs: &[(RunRef, RunFinish)]) -> Result<Vec<bool>> {
        self.finish_many(runs).await
    }

    async fn get_run(&self, run_id: &str) -> Result<Option<RunRecord>> {
        self.run(run_id).await
    }

    async fn history(&self, query: &HistoryQuery) -> Result<Vec<RunRecord>> {
        self.runs(query).await
    }

    async fn prune_runs(&self, older_than: DateTime<Utc>, keep_per_task: usize) -> Result<u64> {
        self.prune(older_than, keep_per_task).await
    }

    async fn settle_runs_of(
        &self,
        node_id: &str,
        now: DateTime<Utc>,
        reason: SettleReason,
    ) -> Result<Vec<RunRecord>> {
        self.settle(node_id, now, reason).await
    }

    async fn heartbeat(&self, node: &NodeInfo) -> Result<Option<NodeState>> {
        self.beat(node).await
    }

    async fn list_nodes(&self) -> Result<Vec<NodeInfo>> {
        self.nodes().await
    }

    async fn mark_dead_nodes(&self, timeout: Duration) -> Result<Vec<NodeInfo>> {
        self.mark_dead(timeout).await
    }

    async fn leave(&self, node_id: &str) -> Result<()> {
        self.depart(node_id).await
    }

    async fn forget_dead_nodes(&self, dead_for: Duration) -> Result<u64> {
        self.forget_dead(dead_for).await
    }
}
