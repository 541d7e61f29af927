//! A cluster node's part of an engine round, per store: take the run requests (run now,
//! reruns), claim the due tasks, compute their run times and next fire times, commit every
//! fire in one batch guarded by the claims' fences, then hand the committed runs to their
//! executors with their ledger records.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::super::backends::BoundedStore;
use super::super::engine::Round;
use super::super::Scheduler;
use super::{after, LedgerWriter, Node};
use crate::cluster::{
    ClaimRequest, ClaimedTask, ClusterStore, CommitResult, FireCommit, FireUpdate, HistoryQuery,
    RunKind, RunRecord, RunState, RunTicket,
};
use crate::events::{
    ClusterEvent, Event, SubmissionSource, TaskSubmissionEvent, CLAIM_LOST, TASK_MAX_INSTANCES,
    TASK_REMOVED,
};
use crate::executor::JobRuns;
use crate::store::Store;
use crate::task::{RunTimes, Task};

/// A claimed task the round decided to fire.
struct Planned {
    task: Task,
    coalesced: u64,
    finished: bool,
}

/// What committing a round's claims did.
struct Fired {
    /// The earliest next run time of the tasks rescheduled.
    earliest: Option<DateTime<Utc>>,
    /// How many fires were committed (not stale).
    committed: usize,
}

impl Scheduler {
    /// One store's part of a cluster round; returns when to look at it again (never later
    /// than the poll interval: other nodes add tasks and run requests too).
    pub(crate) async fn process_store_cluster(
        &self,
        store: &BoundedStore,
        round: &Round,
        node: &Node,
    ) -> Option<DateTime<Utc>> {
        let alias = store.alias();
        let (Some(cluster), Some(writer)) = (store.cluster_half(), node.writer(alias)) else {
            return None;
        };
        let poll_at = after(round.now, node.config.poll_interval);
        let retry_at = round.retry_at.min(poll_at);
        let batch = node.config.batch_size;
        let request = ClaimRequest::new(&node.id, round.now, node.config.lease, batch);
        let claimed = match store
            .bounded_op("claim_round", cluster.claim_round(request))
            .await
        {
            Ok(claimed) => claimed,
            Err(e) => {
                log!(warn, self, store = %alias, error = %e, "cannot claim due tasks and run requests from the store; retrying later");
                return Some(retry_at);
            }
        };
        let full_requests = claimed.requests.len() >= batch;
        let full_tasks = claimed.tasks.len() >= batch;
        for run in claimed.requests {
            self.run_request(store, writer, run).await;
        }
        let Some(fired) = self
            .fire_claims(store, cluster, round, node, writer, claimed.tasks)
            .await
        else {
            return Some(retry_at);
        };
        // A full batch: more may be waiting. A full batch of tasks whose fires all went stale
        // (another node committed them) is not a reason to spin: wait for the poll.
        if full_requests || (full_tasks && fired.committed > 0) {
            return Some(round.now);
        }
        let next = match claimed.next_run_time {
            Some(unclaimed) => unclaimed.into_iter().chain(fired.earliest).min(),
            None => match store.get_next_run_time().await {
                Ok(next) => next,
                Err(e) => {
                    log!(warn, self, store = %alias, error = %e, "error getting the next run time from the store; retrying later");
                    return Some(retry_at);
                }
            },
        };
        match next {
            // Still due after the round: claimed by another node, which commits it in a moment.
            Some(next) if next <= round.now => Some(poll_at),
            Some(next) => Some(next.min(poll_at)),
            None => Some(poll_at),
        }
    }

    /// Plans, commits and submits the claimed tasks. Returns what it committed, or `None`
    /// when the commit failed and nothing of it was found committed (the claims then expire
    /// and the fires are retried, by this node or another).
    async fn fire_claims(
        &self,
        store: &BoundedStore,
        cluster: &dyn ClusterStore,
        round: &Round,
        node: &Node,
        writer: &Arc<LedgerWriter>,
        claims: Vec<ClaimedTask>,
    ) -> Option<Fired> {
        let alias = store.alias();
        let mut fires = Vec::with_capacity(claims.len());
        let mut planned = Vec::with_capacity(claims.len());
        let mut unfired = Vec::new();
        for claimed in claims {
            let task = &claimed.task;
            if self.lookup_executor(&task.executor).is_err() {
                // Another node may have this executor: give the task back untouched.
                log!(error, self, task = ?task.id, executor = %task.executor, "this node has no executor of that name for the task; leaving it to other nodes");
                unfired.push(claimed);
                continue;
            }
            let run_times = round.schedule.due(task, round.now);
            self.count_folded(task, &run_times);
            let Some(last) = run_times.latest else {
                unfired.push(claimed);
                continue;
            };
            let next = round.schedule.after_fire(task, last, round.now);
            let update = match next {
                Some(next) => {
                    let mut rescheduled = task.clone();
                    rescheduled.next_run_time = Some(next);
                    FireUpdate::Reschedule(Box::new(rescheduled))
                }
                None => FireUpdate::Remove,
            };
            let runs = run_times
                .run_times
                .iter()
                .map(|&at| {
                    RunRecord::new(
                        task.id(),
                        at,
                        RunKind::Scheduled,
                        RunState::Submitted,
                        round.now,
                    )
                    .with_owner(&node.id, claimed.fence)
                    .with_on_node_death(task.on_node_death)
                })
                .collect();
            fires.push(
                FireCommit::new(task.id(), claimed.fence, update)
                    .with_runs(runs)
                    .with_max_active(Some(task.max_instances)),
            );
            planned.push(Planned {
                task: claimed.task,
                coalesced: run_times.coalesced_run_count,
                finished: next.is_none(),
            });
        }
        if !unfired.is_empty() {
            if let Err(e) = store
                .bounded(cluster.release_claims(&node.id, &unfired))
                .await
            {
                log!(warn, self, store = %alias, error = %e, "cannot release claims; they expire after the lease");
            }
        }
        if fires.is_empty() {
            return Some(Fired {
                earliest: None,
                committed: 0,
            });
        }
        let results = match store
            .bounded_op("commit_fires", cluster.commit_fires(&node.id, &fires))
            .await
        {
            Ok(results) if results.len() == fires.len() => results,
            Ok(results) => {
                log!(error, self, store = %alias, fires = fires.len(), results = results.len(), "the store answered a different number of commits than it was given; not running them");
                return None;
            }
            Err(e) => {
                log!(warn, self, store = %alias, error = %e, fires = fires.len(), "cannot commit fires; looking up which of them the store committed");
                let found = self
                    .find_committed(store, cluster, node, writer, &fires)
                    .await;
                if found.iter().all(Option::is_none) {
                    return None;
                }
                found
                    .into_iter()
                    .map(|runs| runs.map_or(CommitResult::Stale, CommitResult::Committed))
                    .collect()
            }
        };
        let mut fired = Fired {
            earliest: None,
            committed: 0,
        };
        for ((plan, fire), result) in planned.into_iter().zip(&fires).zip(results) {
            if let CommitResult::Committed(_) = &result {
                fired.committed += 1;
                if let FireUpdate::Reschedule(task) = &fire.update {
                    fired.earliest = fired.earliest.into_iter().chain(task.next_run_time).min();
                }
            }
            self.run_committed(store, node, writer, plan, result).await;
        }
        Some(fired)
    }

    /// After a commit whose answer was lost (the connection dropped, the call timed out):
    /// which fires did the store commit? A fire commits whole, but a run whose
    /// `(task_id, scheduled_run_time)` was recorded before is left out of it, so any one of
    /// its runs found under this node and the claim's fence tells that it committed (those
    /// found are returned, to run them); none found, it did not. A fire that cannot be looked
    /// up is not run, and its records are finished `missed` in case it did commit, so that no
    /// record stays `submitted` under a live node.
    async fn find_committed(
        &self,
        store: &BoundedStore,
        cluster: &dyn ClusterStore,
        node: &Node,
        writer: &Arc<LedgerWriter>,
        fires: &[FireCommit],
    ) -> Vec<Option<Vec<RunRecord>>> {
        let mut found = Vec::with_capacity(fires.len());
        for fire in fires {
            match committed_runs(store, cluster, &node.id, fire).await {
                Ok(runs) if runs.is_empty() => found.push(None),
                Ok(runs) => found.push(Some(runs)),
                Err(e) => {
                    log!(warn, self, task = ?fire.task_id, store = %store.alias(), error = %e, "cannot tell whether a fire was committed; not running it, and recording its runs as missed if it was");
                    for run in &fire.runs {
                        if let Some(run_ref) = run.as_ref() {
                            writer.finish_state(
                                run_ref,
                                RunState::Missed,
                                Some(
                                    "not run: the store's answer to the commit was lost".to_owned(),
                                ),
                            );
                        }
                    }
                    found.push(None);
                }
            }
        }
        found
    }

    /// Submits the runs of one committed fire (or reports its lost claim).
    async fn run_committed(
        &self,
        store: &BoundedStore,
        node: &Node,
        writer: &Arc<LedgerWriter>,
        plan: Planned,
        result: CommitResult,
    ) {
        let alias = store.alias();
        let Planned {
            mut task,
            coalesced,
            finished,
        } = plan;
        let runs = match result {
            CommitResult::Committed(runs) => runs,
            CommitResult::Stale => {
                log!(info, self, task = ?task.id, node = %node.id, store = %alias, "claim lost before the commit (taken over, or the task changed meanwhile); not firing it");
                if self.wants(CLAIM_LOST) {
                    self.dispatch_event(Event::Cluster(
                        ClusterEvent::new(CLAIM_LOST, node.id.clone(), Some(alias))
                            .with_task(task.id()),
                    ));
                }
                return;
            }
        };
        let skipped: Vec<DateTime<Utc>> = runs
            .iter()
            .filter(|r| r.state == RunState::Skipped)
            .map(|r| r.scheduled_run_time)
            .collect();
        if !skipped.is_empty() {
            log!(warn, self, task = ?task.id, max_instances = task.max_instances, skipped = skipped.len(), "execution of task skipped: maximum number of running instances reached across the cluster");
            if self.wants(TASK_MAX_INSTANCES) {
                self.dispatch_event(Event::Submission(TaskSubmissionEvent {
                    code: TASK_MAX_INSTANCES,
                    task_id: task.id.to_string(),
                    store: Some(alias.to_owned()),
                    scheduled_run_times: skipped,
                    coalesced_run_count: 0,
                    source: SubmissionSource::Scheduled,
                }));
            }
        }
        let after = if finished && self.wants(TASK_REMOVED) {
            vec![Event::task(TASK_REMOVED, &task.id, Some(alias))]
        } else {
            Vec::new()
        };
        let tickets: Vec<(DateTime<Utc>, RunTicket)> = runs
            .iter()
            .filter(|r| r.state == RunState::Submitted)
            .filter_map(|r| Some((r.scheduled_run_time, RunTicket::of(r)?)))
            .collect();
        if tickets.is_empty() {
            for event in after {
                self.dispatch_event(event);
            }
            return;
        }
        task.set_store_alias(alias);
        let run_times = RunTimes {
            run_times: tickets.iter().map(|(at, _)| *at).collect(),
            coalesced_run_count: coalesced,
            latest: tickets.last().map(|(at, _)| *at),
        };
        self.submit_with_ledger(
            &task,
            run_times,
            SubmissionSource::Scheduled,
            after,
            writer,
            tickets,
        )
        .await;
    }

    /// Runs a run request (run now, or a rerun of a dead node's run) this node took.
    async fn run_request(&self, store: &BoundedStore, writer: &Arc<LedgerWriter>, run: RunRecord) {
        let Some(ticket) = RunTicket::of(&run) else {
            return;
        };
        let task = match store.lookup_task(&run.task_id).await {
            Ok(Some(task)) => task,
            Ok(None) => {
                log!(warn, self, task = ?run.task_id, run = %run.run_id, "the task of a run request no longer exists; recording the run as failed");
                writer.finish_state(
                    ticket.as_ref(),
                    RunState::Failed,
                    Some(format!("task {:?} no longer exists", run.task_id)),
                );
                return;
            }
            Err(e) => {
                log!(warn, self, task = ?run.task_id, run = %run.run_id, error = %e, "cannot look up the task of a run request; recording the run as failed");
                writer.finish_state(
                    ticket.as_ref(),
                    RunState::Failed,
                    Some(format!("cannot look up task {:?}: {e}", run.task_id)),
                );
                return;
            }
        };
        let source = match run.kind {
            RunKind::Manual => SubmissionSource::Manual,
            RunKind::Scheduled => SubmissionSource::Scheduled,
        };
        let run_times = RunTimes {
            run_times: vec![run.scheduled_run_time],
            coalesced_run_count: 0,
            latest: Some(run.scheduled_run_time),
        };
        // A run now or a rerun is not late by design: no grace time applies.
        let mut task = task;
        task.mistrigger_grace_time = None;
        self.submit_with_ledger(
            &task,
            run_times,
            source,
            Vec::new(),
            writer,
            vec![(run.scheduled_run_time, ticket)],
        )
        .await;
    }

    /// Submits a run whose ledger records the job moves along; a run this process cannot
    /// take (its own `max_instances`, no such function) is recorded as skipped or failed.
    async fn submit_with_ledger(
        &self,
        task: &Task,
        run_times: RunTimes,
        source: SubmissionSource,
        after: Vec<Event>,
        writer: &Arc<LedgerWriter>,
        tickets: Vec<(DateTime<Utc>, RunTicket)>,
    ) {
        match self.prepare(task, run_times, source, after) {
            Ok(prepared) => {
                let runs = JobRuns {
                    ledger: Arc::clone(writer) as Arc<dyn crate::executor::RunLedger>,
                    tickets: tickets.clone(),
                };
                if let Err(e) = self.send(prepared.with_runs(runs)).await {
                    for (_, ticket) in tickets {
                        writer.finish_state(
                            ticket.as_ref(),
                            RunState::Failed,
                            Some(format!("not run: the executor refused the job: {e}")),
                        );
                    }
                }
            }
            Err(refusal) => {
                let error = self.refuse(refusal);
                let state = match error {
                    crate::Error::MaximumInstances { .. } => RunState::Skipped,
                    _ => RunState::Failed,
                };
                for (_, ticket) in tickets {
                    writer.finish_state(ticket.as_ref(), state, Some(error.to_string()));
                }
            }
        }
    }
}

/// The stored records of `fire`'s runs written by its commit (this node, the claim's fence),
/// oldest first; empty when the commit did not happen. One history read of the task's runs
/// up to the fire's last run time answers it; only when that page is full before reaching
/// the fire's first run time (other records crowd the range) are the runs read one by one.
async fn committed_runs(
    store: &BoundedStore,
    cluster: &dyn ClusterStore,
    node: &str,
    fire: &FireCommit,
) -> crate::Result<Vec<RunRecord>> {
    let (Some(first), Some(last)) = (fire.runs.first(), fire.runs.last()) else {
        return Ok(Vec::new());
    };
    let ours = |stored: &RunRecord| {
        stored.node.as_deref() == Some(node)
            && stored.fence == fire.fence
            && fire.runs.iter().any(|run| run.run_id == stored.run_id)
    };
    // The fire's runs are at distinct times (the ledger's unique key), so the page holds
    // all of them unless other records sit between their times.
    let limit = fire.runs.len().saturating_add(8);
    let query = HistoryQuery::new()
        .task(fire.task_id.clone())
        .before(last.scheduled_run_time + chrono::Duration::microseconds(1))
        .limit(limit);
    let page = store.bounded_op("history", cluster.history(&query)).await?;
    let complete = page.len() < limit
        || page
            .last()
            .is_some_and(|oldest| oldest.scheduled_run_time < first.scheduled_run_time);
    let mut runs: Vec<RunRecord> = if complete {
        page.into_iter().filter(|stored| ours(stored)).collect()
    } else {
        let mut runs = Vec::with_capacity(fire.runs.len());
        for run in &fire.runs {
            if let Some(stored) = store
                .bounded_op("get_run", cluster.get_run(&run.run_id))
                .await?
            {
                if ours(&stored) {
                    runs.push(stored);
                }
            }
        }
        runs
    };
    runs.sort_by_key(|run| run.scheduled_run_time);
    Ok(runs)
}
