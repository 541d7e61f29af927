//! The run ledger on the `<table>_runs` table: one row per run, keyed by `run_id` and unique
//! per `(task_id, scheduled_run_time)`; times in microseconds since the epoch, UTC.

use std::collections::{HashMap, HashSet};

use asyncz_core::chrono::{DateTime, Utc};
use asyncz_core::cluster::{HistoryQuery, NodeState, RunFinish, RunRecord, RunRef, SettleReason};
use asyncz_core::{Error, Result};

use super::{in_tx, time_of};
use crate::store::{on_pool, IdColumn, IdParam, SqlStore};

/// The columns of a run, in the order [`bind_run`] binds them and [`RunRow`] reads them.
pub(super) const COLUMNS: &str = "run_id, task_id, scheduled_run_time, kind, state, node, fence, \
     attempt, on_node_death, created_at, started_at, finished_at, error";

/// Binds the columns of run `$r` to query `$q` in [`COLUMNS`] order (fences are checked to
/// fit a BIGINT before).
macro_rules! bind_run {
    ($q:expr, $r:expr) => {
        $q.bind(IdParam(&$r.run_id))
            .bind(IdParam(&$r.task_id))
            .bind($r.scheduled_run_time.timestamp_micros())
            .bind($r.kind.as_str())
            .bind($r.state.as_str())
            .bind($r.node.as_deref().map(IdParam))
            .bind(i64::try_from($r.fence).unwrap_or(i64::MAX))
            .bind(i64::from($r.attempt))
            .bind($r.on_node_death.as_str())
            .bind($r.created_at.timestamp_micros())
            .bind($r.started_at.map(|t| t.timestamp_micros()))
            .bind($r.finished_at.map(|t| t.timestamp_micros()))
            .bind($r.error.as_deref())
    };
}
pub(super) use bind_run;

/// A run as read, in [`COLUMNS`] order.
type RunRow = (
    IdColumn,
    IdColumn,
    i64,
    String,
    String,
    Option<IdColumn>,
    i64,
    i64,
    String,
    i64,
    Option<i64>,
    Option<i64>,
    Option<String>,
);

/// The record of a row; a value that cannot be read is an error naming the run and field.
fn run_of(row: RunRow) -> Result<RunRecord> {
    let (
        IdColumn(run_id),
        IdColumn(task_id),
        scheduled,
        kind,
        state,
        node,
        fence,
        attempt,
        policy,
        created,
        started,
        finished,
        error,
    ) = row;
    let field = |name: &str| format!("run '{run_id}' {name}");
    let mut run = RunRecord::new(
        task_id,
        time_of(&field("scheduled_run_time"), scheduled)?,
        kind.parse().map_err(|e| Error::invalid(field("kind"), e))?,
        state
            .parse()
            .map_err(|e| Error::invalid(field("state"), e))?,
        time_of(&field("created_at"), created)?,
    );
    run.node = node.map(|IdColumn(n)| n);
    run.fence = u64::try_from(fence)
        .map_err(|_| Error::invalid(field("fence"), format!("{fence} is negative")))?;
    run.attempt = u32::try_from(attempt)
        .map_err(|_| Error::invalid(field("attempt"), format!("{attempt} is not a u32")))?;
    run.on_node_death = policy
        .parse()
        .map_err(|e| Error::invalid(field("on_node_death"), e))?;
    run.started_at = started
        .map(|us| time_of(&field("started_at"), us))
        .transpose()?;
    run.finished_at = finished
        .map(|us| time_of(&field("finished_at"), us))
        .transpose()?;
    run.error = error;
    run.run_id = run_id;
    Ok(run)
}

fn runs_of(rows: Vec<RunRow>) -> Result<Vec<RunRecord>> {
    rows.into_iter().map(run_of).collect()
}

/// `NOT IN` list of the states a run holds while it is not over.
const ACTIVE_OR_REQUESTED: &str = "('requested', 'submitted', 'running')";

impl SqlStore {
    pub(super) async fn insert(&self, run: &RunRecord) -> Result<()> {
        let s = self.started()?;
        let c = &self.cluster_sql;
        super::to_i64("run.fence", run.fence)?;
        let insert = format!(
            "INSERT INTO {} ({COLUMNS}) VALUES ({})",
            c.names.runs,
            c.list(1, 13)
        );
        let result = on_pool!(&s.backend, |pool| bind_run!(sqlx::query(&insert), run)
            .execute(pool)
            .await
            .map(|_| ()));
        match result {
            Ok(()) => Ok(()),
            Err(e)
                if e.as_database_error()
                    .is_some_and(|d| d.is_unique_violation()) =>
            {
                Err(Error::ConflictRun {
                    task_id: run.task_id.clone(),
                    scheduled_run_time: run.scheduled_run_time,
                })
            }
            Err(e) => Err(self.db_error(&s, "cannot insert a run", e)),
        }
    }

    pub(super) async fn take_requests(&self, node: &str, limit: usize) -> Result<Vec<RunRecord>> {
        let s = self.started()?;
        if limit == 0 {
            return Ok(Vec::new());
        }
        let c = &self.cluster_sql;
        let runs = &c.names.runs;
        let select = format!(
            "SELECT run_id FROM {runs} WHERE state = 'requested' ORDER BY created_at, run_id LIMIT {}{}",
            c.ph(1),
            c.skip_locked
        );
        let rows: Vec<RunRow> = in_tx!(self, s, |tx, now| {
            let ids: Vec<IdColumn> = sqlx::query_scalar(&select)
                .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                .fetch_all(&mut *tx)
                .await?;
            let mut taken = Vec::with_capacity(ids.len());
            for chunk in ids.chunks(500) {
                let list = c.list(2, chunk.len());
                let update = format!(
                    "UPDATE {runs} SET state = 'submitted', node = {} WHERE state = 'requested' AND run_id IN ({list})",
                    c.ph(1)
                );
                let mut q = sqlx::query(&update).bind(IdParam(node));
                for IdColumn(id) in chunk {
                    q = q.bind(IdParam(id));
                }
                q.execute(&mut *tx).await?;
                let read = format!(
                    "SELECT {COLUMNS} FROM {runs} WHERE state = 'submitted' AND node = {} AND run_id IN ({})",
                    c.ph(1),
                    c.list(2, chunk.len())
                );
                let mut q = sqlx::query_as::<_, RunRow>(&read).bind(IdParam(node));
                for IdColumn(id) in chunk {
                    q = q.bind(IdParam(id));
                }
                taken.extend(q.fetch_all(&mut *tx).await?);
            }
            taken
        })
        .map_err(|e| self.locking_error(&s, "cannot take run requests", e))?;
        let mut runs = runs_of(rows)?;
        runs.sort_by(|a, b| (a.created_at, &a.run_id).cmp(&(b.created_at, &b.run_id)));
        Ok(runs)
    }

    fn start_sql(&self) -> String {
        let c = &self.cluster_sql;
        format!(
            "UPDATE {} SET state = 'running', started_at = COALESCE(started_at, {}) \
             WHERE run_id = {} AND state IN ('submitted', 'running') AND node = {} AND attempt = {}",
            c.names.runs,
            c.ph(1),
            c.ph(2),
            c.ph(3),
            c.ph(4)
        )
    }

    fn finish_sql(&self) -> String {
        let c = &self.cluster_sql;
        format!(
            "UPDATE {} SET state = {}, finished_at = {}, error = {} \
             WHERE run_id = {} AND state IN ('submitted', 'running') AND node = {} AND attempt = {}",
            c.names.runs,
            c.ph(1),
            c.ph(2),
            c.ph(3),
            c.ph(4),
            c.ph(5),
            c.ph(6)
        )
    }

    /// The records of `ids` that a start or finish may still write (`submitted` or
    /// `running`), as `run_id → (node, attempt)`, locked until the transaction ends.
    fn lock_open_sql(&self, count: usize) -> String {
        let c = &self.cluster_sql;
        format!(
            "SELECT run_id, node, attempt FROM {} WHERE state IN ('submitted', 'running') AND run_id IN ({}){}",
            c.names.runs,
            c.list(1, count),
            c.for_update
        )
    }

    /// Many starts in one transaction: one locking read of the records and one `IN`-list
    /// update per chunk.
    pub(super) async fn start_many(
        &self,
        runs: &[RunRef],
        started_at: DateTime<Utc>,
    ) -> Result<Vec<bool>> {
        if let [run] = runs {
            return Ok(vec![self.start(run, started_at).await?]);
        }
        if runs.is_empty() {
            return Ok(Vec::new());
        }
        let s = self.started()?;
        let c = &self.cluster_sql;
        let at = started_at.timestamp_micros();
        in_tx!(self, s, |tx, now| {
            let mut started = Vec::with_capacity(runs.len());
            for chunk in runs.chunks(CHUNK) {
                let lock = self.lock_open_sql(chunk.len());
                let mut q = sqlx::query_as::<_, (IdColumn, Option<IdColumn>, i64)>(&lock);
                for run in chunk {
                    q = q.bind(IdParam(&run.run_id));
                }
                let open = open_of(q.fetch_all(&mut *tx).await?);
                let mine: Vec<bool> = chunk.iter().map(|run| owns(&open, run)).collect();
                let ids: HashSet<&str> = chunk
                    .iter()
                    .zip(&mine)
                    .filter(|(_, m)| **m)
                    .map(|(run, _)| run.run_id.as_str())
                    .collect();
                if !ids.is_empty() {
                    let update = format!(
                        "UPDATE {} SET state = 'running', started_at = COALESCE(started_at, {}) WHERE run_id IN ({})",
                        c.names.runs,
                        c.ph(1),
                        c.list(2, ids.len())
                    );
                    let mut q = sqlx::query(&update).bind(at);
                    for id in &ids {
                        q = q.bind(IdParam(id));
                    }
                    q.execute(&mut *tx).await?;
                }
                started.extend(mine);
            }
            started
        })
        .map_err(|e| self.db_error(&s, "cannot start runs", e))
    }

    /// Many finishes in one transaction: one locking read of the records and one update
    /// joined from the finishes' values per chunk.
    pub(super) async fn finish_many(&self, runs: &[(RunRef, RunFinish)]) -> Result<Vec<bool>> {
        if let [(run, finish)] = runs {
            return Ok(vec![self.finish(run, finish).await?]);
        }
        if runs.is_empty() {
            return Ok(Vec::new());
        }
        for (_, finish) in runs {
            check_final(finish)?;
        }
        let s = self.started()?;
        let c = &self.cluster_sql;
        in_tx!(self, s, |tx, now| {
            let mut finished = Vec::with_capacity(runs.len());
            for chunk in runs.chunks(CHUNK) {
                let lock = self.lock_open_sql(chunk.len());
                let mut q = sqlx::query_as::<_, (IdColumn, Option<IdColumn>, i64)>(&lock);
                for (run, _) in chunk {
                    q = q.bind(IdParam(&run.run_id));
                }
                let open = open_of(q.fetch_all(&mut *tx).await?);
                // A run finished twice in one batch: the first finish is written, as one
                // statement after the other would.
                let mut seen = HashSet::new();
                let mine: Vec<bool> = chunk
                    .iter()
                    .map(|(run, _)| owns(&open, run) && seen.insert(run.run_id.as_str()))
                    .collect();
                let written: Vec<&(RunRef, RunFinish)> = chunk
                    .iter()
                    .zip(&mine)
                    .filter(|(_, m)| **m)
                    .map(|(r, _)| r)
                    .collect();
                if !written.is_empty() {
                    let update = c.update_from_values(
                        &c.names.runs,
                        "run_id",
                        &["state", "finished_at", "error"],
                        "",
                        written.len(),
                    );
                    let mut q = sqlx::query(&update);
                    for (run, finish) in &written {
                        q = q
                            .bind(IdParam(&run.run_id))
                            .bind(finish.state.as_str())
                            .bind(finish.finished_at.timestamp_micros())
                            .bind(finish.error.as_deref());
                    }
                    q.execute(&mut *tx).await?;
                }
                finished.extend(mine);
            }
            finished
        })
        .map_err(|e| self.db_error(&s, "cannot finish runs", e))
    }

    pub(super) async fn start(&self, run: &RunRef, started_at: DateTime<Utc>) -> Result<bool> {
        let s = self.started()?;
        let start = self.start_sql();
        let started = on_pool!(&s.backend, |pool| sqlx::query(&start)
            .bind(started_at.timestamp_micros())
            .bind(IdParam(&run.run_id))
            .bind(IdParam(&run.node))
            .bind(i64::from(run.attempt))
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .map_err(|e| self.db_error(&s, "cannot start a run", e))?;
        Ok(started == 1)
    }

    pub(super) async fn finish(&self, run: &RunRef, finish: &RunFinish) -> Result<bool> {
        let s = self.started()?;
        check_final(finish)?;
        let update = self.finish_sql();
        let finished = on_pool!(&s.backend, |pool| sqlx::query(&update)
            .bind(finish.state.as_str())
            .bind(finish.finished_at.timestamp_micros())
            .bind(finish.error.as_deref())
            .bind(IdParam(&run.run_id))
            .bind(IdParam(&run.node))
            .bind(i64::from(run.attempt))
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .map_err(|e| self.db_error(&s, "cannot finish a run", e))?;
        Ok(finished == 1)
    }

    pub(super) async fn run(&self, run_id: &str) -> Result<Option<RunRecord>> {
        let s = self.started()?;
        let c = &self.cluster_sql;
        let read = format!(
            "SELECT {COLUMNS} FROM {} WHERE run_id = {}",
            c.names.runs,
            c.ph(1)
        );
        let row: Option<RunRow> = on_pool!(&s.backend, |pool| sqlx::query_as(&read)
            .bind(IdParam(run_id))
            .fetch_optional(pool)
            .await)
        .map_err(|e| self.db_error(&s, "cannot read a run", e))?;
        row.map(run_of).transpose()
    }

    pub(super) async fn runs(&self, query: &HistoryQuery) -> Result<Vec<RunRecord>> {
        let s = self.started()?;
        let c = &self.cluster_sql;
        let mut filters = Vec::new();
        let mut n = 0;
        let mut next = || {
            n += 1;
            c.ph(n)
        };
        if query.task_id.is_some() {
            filters.push(format!("task_id = {}", next()));
        }
        if !query.states.is_empty() {
            let states: Vec<String> = query.states.iter().map(|_| next()).collect();
            filters.push(format!("state IN ({})", states.join(", ")));
        }
        if query.before.is_some() {
            filters.push(format!("scheduled_run_time < {}", next()));
        }
        let limit = next();
        let filter = match filters.is_empty() {
            true => String::new(),
            false => format!(" WHERE {}", filters.join(" AND ")),
        };
        let read = format!(
            "SELECT {COLUMNS} FROM {}{filter} ORDER BY scheduled_run_time DESC, run_id DESC LIMIT {limit}",
            c.names.runs
        );
        let limit = i64::try_from(query.effective_limit()).unwrap_or(i64::MAX);
        let rows: Vec<RunRow> = on_pool!(&s.backend, |pool| {
            let mut q = sqlx::query_as(&read);
            if let Some(task_id) = &query.task_id {
                q = q.bind(IdParam(task_id));
            }
            for state in &query.states {
                q = q.bind(state.as_str());
            }
            if let Some(before) = query.before {
                q = q.bind(before.timestamp_micros());
            }
            q.bind(limit).fetch_all(pool).await
        })
        .map_err(|e| self.db_error(&s, "cannot read the run history", e))?;
        runs_of(rows)
    }

    pub(super) async fn prune(
        &self,
        older_than: DateTime<Utc>,
        keep_per_task: usize,
    ) -> Result<u64> {
        let s = self.started()?;
        let runs = &self.cluster_sql.names.runs;
        let c = &self.cluster_sql;
        let by_age = format!(
            "DELETE FROM {runs} WHERE created_at < {} AND state NOT IN {ACTIVE_OR_REQUESTED}",
            c.ph(1)
        );
        // The derived table is materialized (it has a window function), so MySQL allows
        // deleting from the table it reads.
        let by_count = format!(
            "DELETE FROM {runs} WHERE run_id IN (SELECT run_id FROM (\
             SELECT run_id, state, ROW_NUMBER() OVER (PARTITION BY task_id ORDER BY scheduled_run_time DESC, run_id DESC) AS n \
             FROM {runs}) ranked WHERE ranked.n > {} AND ranked.state NOT IN {ACTIVE_OR_REQUESTED})",
            c.ph(1)
        );
        let keep = i64::try_from(keep_per_task).unwrap_or(i64::MAX);
        let deleted = on_pool!(&s.backend, |pool| async {
            let old = sqlx::query(&by_age)
                .bind(older_than.timestamp_micros())
                .execute(pool)
                .await?
                .rows_affected();
            let beyond = sqlx::query(&by_count)
                .bind(keep)
                .execute(pool)
                .await?
                .rows_affected();
            Ok::<u64, sqlx::Error>(old + beyond)
        }
        .await)
        .map_err(|e| self.db_error(&s, "cannot prune the run history", e))?;
        Ok(deleted)
    }

    pub(super) async fn settle(
        &self,
        node_id: &str,
        now: DateTime<Utc>,
        reason: SettleReason,
    ) -> Result<Vec<RunRecord>> {
        let s = self.started()?;
        let c = &self.cluster_sql;
        let runs = &c.names.runs;
        // Locks the node's row, so a heartbeat that revives it waits for this settle, and a
        // settle after the heartbeat sees the node alive.
        let node_state = format!(
            "SELECT state FROM {} WHERE node_id = {}{}",
            c.names.nodes,
            c.ph(1),
            c.for_update
        );
        let select = format!(
            "SELECT {COLUMNS} FROM {runs} WHERE node = {} AND state IN ('submitted', 'running') \
             ORDER BY created_at, run_id{}",
            c.ph(1),
            c.for_update
        );
        let update = format!(
            "UPDATE {runs} SET state = {}, node = {}, attempt = {}, started_at = {}, finished_at = {}, error = {} WHERE run_id = {}",
            c.ph(1),
            c.ph(2),
            c.ph(3),
            c.ph(4),
            c.ph(5),
            c.ph(6),
            c.ph(7)
        );
        in_tx!(self, s, |tx, _now| {
            let revived = if reason == SettleReason::NodeDead {
                let state: Option<String> = sqlx::query_scalar(&node_state)
                    .bind(IdParam(node_id))
                    .fetch_optional(&mut *tx)
                    .await?;
                state.as_deref() == Some(NodeState::Alive.as_str())
            } else {
                false
            };
            let rows: Vec<RunRow> = if revived {
                Vec::new()
            } else {
                sqlx::query_as(&select)
                    .bind(IdParam(node_id))
                    .fetch_all(&mut *tx)
                    .await?
            };
            let mut settled = Vec::with_capacity(rows.len());
            for row in rows {
                let mut run = match run_of(row) {
                    Ok(run) => run,
                    // A row this build cannot read is left as it is, for an operator.
                    Err(e) => {
                        tracing::warn!(
                            target: "asyncz.stores",
                            store = %s.alias(),
                            error = %e,
                            "cannot read an unfinished run of a node: left unsettled"
                        );
                        continue;
                    }
                };
                run.settle(node_id, now, reason);
                sqlx::query(&update)
                    .bind(run.state.as_str())
                    .bind(run.node.as_deref().map(IdParam))
                    .bind(i64::from(run.attempt))
                    .bind(run.started_at.map(|t| t.timestamp_micros()))
                    .bind(run.finished_at.map(|t| t.timestamp_micros()))
                    .bind(run.error.as_deref())
                    .bind(IdParam(&run.run_id))
                    .execute(&mut *tx)
                    .await?;
                settled.push(run);
            }
            settled
        })
        .map_err(|e| self.db_error(&s, "cannot settle the runs of a node", e))
    }
}

/// At most this many runs in one `IN (...)` list.
const CHUNK: usize = 500;

/// The open records read by [`SqlStore::lock_open_sql`]: run id → (node, attempt).
fn open_of(rows: Vec<(IdColumn, Option<IdColumn>, i64)>) -> HashMap<String, (Option<String>, i64)> {
    rows.into_iter()
        .map(|(IdColumn(id), node, attempt)| (id, (node.map(|IdColumn(n)| n), attempt)))
        .collect()
}

/// Whether `run` is an open record's current attempt, owned by its node.
fn owns(open: &HashMap<String, (Option<String>, i64)>, run: &RunRef) -> bool {
    open.get(&run.run_id).is_some_and(|(node, attempt)| {
        node.as_deref() == Some(run.node.as_str()) && *attempt == i64::from(run.attempt)
    })
}

/// A finish must name a final state.
fn check_final(finish: &RunFinish) -> Result<()> {
    if finish.state.is_final() {
        return Ok(());
    }
    Err(Error::invalid(
        "finish.state",
        format!(
            "{} is not a final state (expected succeeded, failed, missed, skipped or abandoned)",
            finish.state
        ),
    ))
}
