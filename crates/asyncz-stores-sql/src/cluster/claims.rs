//! Claims (`claim_due_tasks`, `renew_claims`, `release_claims`) and fire commits
//! (`commit_fires`) on the task table's `claimed_by`, `claimed_until` and `fence` columns.

use std::time::Duration;

use asyncz_core::cluster::{
    ClaimRequest, ClaimedTask, CommitResult, FireCommit, FireUpdate, RunState,
};
use asyncz_core::{Result, Task};

use super::ledger::bind_run;
use super::{in_tx, micros_of, to_i64};
use crate::store::{IdColumn, IdParam, SqlStore};

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
        let t = &c.names.tasks;
        let guard = format!(
            "id = {} AND fence = {} AND claimed_by = {}",
            c.ph(3),
            c.ph(4),
            c.ph(5)
        );
        let reschedule = format!(
            "UPDATE {t} SET next_run_time = {}, state = {}, claimed_by = NULL, claimed_until = NULL WHERE {guard}",
            c.ph(1),
            c.ph(2)
        );
        let remove = format!(
            "DELETE FROM {t} WHERE id = {} AND fence = {} AND claimed_by = {}",
            c.ph(1),
            c.ph(2),
            c.ph(3)
        );
        let active_sql = format!(
            "SELECT COUNT(DISTINCT fence) FROM {} WHERE task_id = {} AND state IN ('submitted', 'running')",
            c.names.runs,
            c.ph(1)
        );
        let insert = format!(
            "{} {} ({}) VALUES ({}){}",
            c.insert_ignore.0,
            c.names.runs,
            super::ledger::COLUMNS,
            c.list(1, 13),
            c.insert_ignore.1
        );
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
            let mut results = Vec::with_capacity(fires.len());
            for (fire, write) in fires.iter().zip(&writes) {
                let fence = i64::try_from(fire.fence).unwrap_or(i64::MAX);
                let id = IdParam(&fire.task_id);
                let written = match write {
                    Write::Reschedule { next, state } => {
                        sqlx::query(&reschedule)
                            .bind(*next)
                            .bind(state.as_slice())
                            .bind(id)
                            .bind(fence)
                            .bind(IdParam(node))
                            .execute(&mut *tx)
                            .await?
                            .rows_affected()
                    }
                    Write::Remove => {
                        sqlx::query(&remove)
                            .bind(id)
                            .bind(fence)
                            .bind(IdParam(node))
                            .execute(&mut *tx)
                            .await?
                            .rows_affected()
                    }
                    Write::Unwritable => 0,
                };
                if written != 1 {
                    results.push(CommitResult::Stale);
                    continue;
                }
                // The fire is one instance (one job runs its runs in turn): its runs are all
                // submitted or all skipped, against the active fires (distinct fences).
                let active = match fire.max_active {
                    Some(_) if fire.runs.iter().any(|r| r.state == RunState::Submitted) => {
                        let n: i64 = sqlx::query_scalar(&active_sql)
                            .bind(id)
                            .fetch_one(&mut *tx)
                            .await?;
                        u64::try_from(n).unwrap_or(0)
                    }
                    _ => 0,
                };
                let mut stored = Vec::with_capacity(fire.runs.len());
                for run in &fire.runs {
                    let mut run = run.clone();
                    if let Some(max) = fire.max_active {
                        if run.state == RunState::Submitted && active >= u64::from(max) {
                            run.state = RunState::Skipped;
                            run.finished_at = Some(run.created_at);
                            run.error = Some(format!(
                                "skipped: task '{}' already has {active} active instances across the cluster (max_instances {max})",
                                run.task_id
                            ));
                        }
                    }
                    let inserted = bind_run!(sqlx::query(&insert), run)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    if inserted == 1 {
                        stored.push(run);
                    }
                }
                results.push(CommitResult::Committed(stored));
            }
            results
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
