//! Claims (`claim_due_tasks`, `renew_claims`, `release_claims`) and fire commits
//! (`commit_fires`) on the task table's `claimed_by`, `claimed_until` and `fence` columns.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use asyncz_core::cluster::{
    ClaimRequest, ClaimedTask, CommitResult, FireCommit, FireUpdate, RunRecord, RunState,
};
use asyncz_core::{Result, Task};

use super::ledger::bind_run;
use super::{in_tx, micros_of, to_i64};
use crate::store::{Dialect, IdColumn, IdParam, SqlStore};

/// At most this many ids in one `IN (...)` list.
const CHUNK: usize = 500;

/// What a fire writes to its task, prepared before the transaction.
enum Write {
    Reschedule {
        next: Option<i64>,
        state: Vec<u8>,
    },
    Remove,
    /// The task could not be encoded: the fire writes nothing.
    Unwritable,
}

/// The fence of a new claim on a row whose fence is `fence`, at store time `now` (µs): one
/// more, and at least `now`, so that a task deleted and added again under the same id (its
/// row, and fence, new) still gets fences greater than any of the old row's, and a commit
/// computed under an old claim stays stale. (The claim statement computes the same.)
fn next_fence(fence: i64, now: i64) -> i64 {
    if fence >= now {
        fence.saturating_add(1)
    } else {
        now
    }
}

impl SqlStore {
    pub(super) async fn claim(&self, request: ClaimRequest<'_>) -> Result<Vec<ClaimedTask>> {
        let s = self.started()?;
        if request.limit == 0 {
            return Ok(Vec::new());
        }
        let c = &self.cluster_sql;
        let t = &c.names.tasks;
        let select = format!(
            "SELECT id, state, fence FROM {t} WHERE next_run_time <= {} \
             AND (claimed_until IS NULL OR claimed_until <= {}) \
             ORDER BY next_run_time, id LIMIT {}{}",
            c.ph(1),
            c.ph(2),
            c.ph(3),
            c.skip_locked
        );
        let due = request.now.timestamp_micros();
        let lease = micros_of(request.lease);
        let known_bad = self.started.undecodable().len();
        let claimed: Vec<(Task, i64)> = in_tx!(self, s, |tx, now| {
            // Undecodable rows are never claimed and must not use up the limit: fetch past
            // them until `limit` tasks decode or no row is left.
            let mut extra = known_bad;
            let tasks = loop {
                let fetch = request.limit.saturating_add(extra);
                let rows: Vec<(IdColumn, Vec<u8>, i64)> = sqlx::query_as(&select)
                    .bind(due)
                    .bind(now)
                    .bind(i64::try_from(fetch).unwrap_or(i64::MAX))
                    .fetch_all(&mut *tx)
                    .await?;
                let full = rows.len() == fetch;
                let mut tasks = Vec::new();
                for (IdColumn(id), bytes, fence) in rows {
                    if tasks.len() == request.limit {
                        break;
                    }
                    if let Ok(task) = s.records.read(&id, &bytes) {
                        tasks.push((task, fence));
                    }
                }
                if tasks.len() == request.limit || !full {
                    break tasks;
                }
                extra = extra.saturating_add(request.limit - tasks.len());
            };
            let until = now.saturating_add(lease);
            for chunk in tasks.chunks(CHUNK) {
                let update = format!(
                    "UPDATE {t} SET claimed_by = {}, claimed_until = {}, \
                     fence = CASE WHEN fence >= {} THEN fence + 1 ELSE {} END WHERE id IN ({})",
                    c.ph(1),
                    c.ph(2),
                    c.ph(3),
                    c.ph(4),
                    c.list(5, chunk.len())
                );
                let mut q = sqlx::query(&update)
                    .bind(IdParam(request.node))
                    .bind(until)
                    .bind(now)
                    .bind(now);
                for (task, _) in chunk {
                    q = q.bind(IdParam(task.id()));
                }
                q.execute(&mut *tx).await?;
            }
            tasks
                .into_iter()
                .map(|(task, fence)| (task, next_fence(fence, now)))
                .collect::<Vec<_>>()
        })
        .map_err(|e| self.locking_error(&s, "cannot claim due tasks", e))?;
        Ok(claimed
            .into_iter()
            .map(|(task, fence)| ClaimedTask::new(task, u64::try_from(fence).unwrap_or(0)))
            .collect())
    }

    pub(super) async fn renew(
        &self,
        node: &str,
        claims: &[ClaimedTask],
        lease: Duration,
    ) -> Result<Vec<String>> {
        let s = self.started()?;
        let c = &self.cluster_sql;
        let renew = format!(
            "UPDATE {} SET claimed_until = {} WHERE id = {} AND claimed_by = {} AND fence = {}",
            c.names.tasks,
            c.ph(1),
            c.ph(2),
            c.ph(3),
            c.ph(4)
        );
        let fences = claims
            .iter()
            .map(|claim| to_i64("claim.fence", claim.fence))
            .collect::<Result<Vec<_>>>()?;
        let lease = micros_of(lease);
        in_tx!(self, s, |tx, now| {
            let mut held = Vec::new();
            for (claim, fence) in claims.iter().zip(&fences) {
                let renewed = sqlx::query(&renew)
                    .bind(now.saturating_add(lease))
                    .bind(IdParam(claim.task.id()))
                    .bind(IdParam(node))
                    .bind(*fence)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if renewed == 1 {
                    held.push(claim.task.id().to_owned());
                }
            }
            held
        })
        .map_err(|e| self.db_error(&s, "cannot renew claims", e))
    }

    pub(super) async fn release(&self, node: &str, claims: &[ClaimedTask]) -> Result<()> {
        let s = self.started()?;
        let c = &self.cluster_sql;
        let release = format!(
            "UPDATE {} SET claimed_by = NULL, claimed_until = NULL WHERE id = {} AND claimed_by = {} AND fence = {}",
            c.names.tasks,
            c.ph(1),
            c.ph(2),
            c.ph(3)
        );
        let fences = claims
            .iter()
            .map(|claim| to_i64("claim.fence", claim.fence))
            .collect::<Result<Vec<_>>>()?;
        in_tx!(self, s, |tx, now| {
            for (claim, fence) in claims.iter().zip(&fences) {
                sqlx::query(&release)
                    .bind(IdParam(claim.task.id()))
                    .bind(IdParam(node))
                    .bind(*fence)
                    .execute(&mut *tx)
                    .await?;
            }
        })
        .map_err(|e| self.db_error(&s, "cannot release claims", e))
    }

    pub(super) async fn commit(
        &self,
        node: &str,
        fires: &[FireCommit],
    ) -> Result<Vec<CommitResult>> {
        let s = self.started()?;
        let c = &self.cluster_sql;
        let mut writes = Vec::with_capacity(fires.len());
        for fire in fires {
            to_i64("fire.fence", fire.fence)?;
            for run in &fire.runs {
                to_i64("run.fence", run.fence)?;
            }
            writes.push(match &fire.update {
                FireUpdate::Remove => Write::Remove,
                FireUpdate::Reschedule(task) => match s.records.encode(task) {
                    Ok(state) => Write::Reschedule {
                        next: task.next_run_time().map(|t| t.timestamp_micros()),
                        state,
                    },
                    Err(e) => {
                        tracing::error!(
                            target: "asyncz.stores",
                            store = %s.alias(),
                            task = %fire.task_id,
                            error = %e,
                            "cannot encode the task of a fire: the fire is not committed"
                        );
                        Write::Unwritable
                    }
                },
            });
        }
        let results = in_tx!(self, s, |tx, now| {
            // 1. Which fires still hold their claim: the rows are locked until the commit, so
            //    the writes below need no guard of their own.
            let mut held: HashMap<String, i64> = HashMap::with_capacity(fires.len());
            for chunk in fires.chunks(CHUNK) {
                let lock = format!(
                    "SELECT id, fence FROM {} WHERE claimed_by = {} AND id IN ({}){}",
                    c.names.tasks,
                    c.ph(1),
                    c.list(2, chunk.len()),
                    c.for_update
                );
                let mut q = sqlx::query_as::<_, (IdColumn, i64)>(&lock).bind(IdParam(node));
                for fire in chunk {
                    q = q.bind(IdParam(&fire.task_id));
                }
                for (IdColumn(id), fence) in q.fetch_all(&mut *tx).await? {
                    held.insert(id, fence);
                }
            }
            let valid: Vec<bool> = fires
                .iter()
                .zip(&writes)
                .map(|(fire, write)| {
                    !matches!(write, Write::Unwritable)
                        && held.get(&fire.task_id).copied()
                            == Some(i64::try_from(fire.fence).unwrap_or(i64::MAX))
                })
                .collect();
            // 2. The tasks: one delete of the finished, one joined update of the rescheduled.
            let removed: Vec<&str> = fires
                .iter()
                .zip(&writes)
                .zip(&valid)
                .filter(|((_, w), ok)| **ok && matches!(w, Write::Remove))
                .map(|((f, _), _)| f.task_id.as_str())
                .collect();
            for chunk in removed.chunks(CHUNK) {
                let delete = format!(
                    "DELETE FROM {} WHERE id IN ({})",
                    c.names.tasks,
                    c.list(1, chunk.len())
                );
                let mut q = sqlx::query(&delete);
                for id in chunk {
                    q = q.bind(IdParam(id));
                }
                q.execute(&mut *tx).await?;
            }
            let rescheduled: Vec<(&str, Option<i64>, &[u8])> = fires
                .iter()
                .zip(&writes)
                .zip(&valid)
                .filter_map(|((f, w), ok)| match w {
                    Write::Reschedule { next, state } if *ok => {
                        Some((f.task_id.as_str(), *next, state.as_slice()))
                    }
                    _ => None,
                })
                .collect();
            for chunk in rescheduled.chunks(CHUNK) {
                let update = c.update_from_values(
                    &c.names.tasks,
                    "id",
                    &["next_run_time", "state"],
                    "claimed_by = NULL, claimed_until = NULL",
                    chunk.len(),
                );
                let mut q = sqlx::query(&update);
                for (id, next, state) in chunk {
                    q = q.bind(IdParam(id)).bind(*next).bind(*state);
                }
                q.execute(&mut *tx).await?;
            }
            // 3. Active instances of the limited tasks, by distinct fence, in one grouped count:
            //    a fire is one instance (one job runs its runs in turn), so its runs are all
            //    submitted or all skipped.
            let counted: Vec<&str> = fires
                .iter()
                .zip(&valid)
                .filter(|(f, ok)| {
                    **ok && f.max_active.is_some()
                        && f.runs.iter().any(|r| r.state == RunState::Submitted)
                })
                .map(|(f, _)| f.task_id.as_str())
                .collect();
            let mut active: HashMap<String, u64> = HashMap::new();
            for chunk in counted.chunks(CHUNK) {
                let count = format!(
                    "SELECT task_id, COUNT(DISTINCT fence) FROM {} \
                     WHERE state IN ('submitted', 'running') AND task_id IN ({}) GROUP BY task_id",
                    c.names.runs,
                    c.list(1, chunk.len())
                );
                let mut q = sqlx::query_as::<_, (IdColumn, i64)>(&count);
                for id in chunk {
                    q = q.bind(IdParam(id));
                }
                for (IdColumn(id), n) in q.fetch_all(&mut *tx).await? {
                    active.insert(id, u64::try_from(n).unwrap_or(0));
                }
            }
            // 4. The runs, as stored: multi-row inserts that leave out a taken
            //    `(task_id, scheduled_run_time)`; the inserted ones are read back by run id.
            let mut stored: Vec<Vec<RunRecord>> = Vec::with_capacity(fires.len());
            for (fire, ok) in fires.iter().zip(&valid) {
                if !*ok {
                    stored.push(Vec::new());
                    continue;
                }
                let n = active.get(&fire.task_id).copied().unwrap_or(0);
                stored.push(
                    fire.runs
                        .iter()
                        .map(|run| {
                            let mut run = run.clone();
                            if let Some(max) = fire.max_active {
                                if run.state == RunState::Submitted && n >= u64::from(max) {
                                    run.state = RunState::Skipped;
                                    run.finished_at = Some(run.created_at);
                                    run.error = Some(format!(
                                        "skipped: task '{}' already has {n} active instances across the cluster (max_instances {max})",
                                        run.task_id
                                    ));
                                }
                            }
                            run
                        })
                        .collect(),
                );
            }
            let all: Vec<&RunRecord> = stored.iter().flatten().collect();
            let mut inserted: HashSet<String> = HashSet::with_capacity(all.len());
            for chunk in all.chunks(super::batch::ROWS) {
                let values = c.tuples(1, 13, chunk.len());
                let insert = format!(
                    "{} {} ({}) VALUES {values}{}",
                    c.insert_ignore.0,
                    c.names.runs,
                    super::ledger::COLUMNS,
                    c.insert_ignore.1
                );
                if c.dialect == Dialect::MySql {
                    let mut q = sqlx::query(&insert);
                    for run in chunk {
                        q = bind_run!(q, run);
                    }
                    q.execute(&mut *tx).await?;
                    let read = format!(
                        "SELECT run_id FROM {} WHERE run_id IN ({})",
                        c.names.runs,
                        c.list(1, chunk.len())
                    );
                    let mut q = sqlx::query_scalar::<_, IdColumn>(&read);
                    for run in chunk {
                        q = q.bind(IdParam(&run.run_id));
                    }
                    inserted.extend(q.fetch_all(&mut *tx).await?.into_iter().map(|IdColumn(id)| id));
                } else {
                    let insert = format!("{insert} RETURNING run_id");
                    let mut q = sqlx::query_scalar::<_, IdColumn>(&insert);
                    for run in chunk {
                        q = bind_run!(q, run);
                    }
                    inserted.extend(q.fetch_all(&mut *tx).await?.into_iter().map(|IdColumn(id)| id));
                }
            }
            stored
                .into_iter()
                .zip(&valid)
                .map(|(runs, ok)| match ok {
                    true => CommitResult::Committed(
                        runs.into_iter()
                            .filter(|r| inserted.contains(&r.run_id))
                            .collect(),
                    ),
                    false => CommitResult::Stale,
                })
                .collect::<Vec<_>>()
        })
        .map_err(|e| self.db_error(&s, "cannot commit fires", e))?;
        for (fire, result) in fires.iter().zip(&results) {
            if matches!(result, CommitResult::Committed(_)) {
                self.started.undecodable().clear(&fire.task_id);
            }
        }
        Ok(results)
    }
}
