//! The node's ledger writer, one per store: moves run records to `running` before a job
//! starts and to their final state after, in batches (a busy round's starts and finishes go
//! to the store in a few round trips, not one per run), in the order they were asked for.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};

use super::super::backends::BoundedStore;
use crate::clock::Clock;
use crate::cluster::{RunFinish, RunRef, RunState, RunTicket};
use crate::events::RunOutcome;
use crate::executor::RunLedger;

/// At most this many transitions per store call.
const BATCH: usize = 256;
/// A start that cannot reach the store is retried this often (then the run is not started).
const START_ATTEMPTS: u32 = 3;
/// A finish that cannot reach the store is retried for this long (the writer waits),
/// then kept in the backlog.
const FINISH_PATIENCE: Duration = Duration::from_secs(5);
/// The backlog of finishes the store did not take is retried this often.
const BACKLOG_RETRY: Duration = Duration::from_secs(5);
/// At most this many finishes wait in the backlog.
const BACKLOG_LIMIT: usize = 100_000;

enum Op {
    Begin(RunRef, oneshot::Sender<bool>),
    Finish(RunRef, RunFinish),
    Flush(oneshot::Sender<()>),
}

/// The writer's handle: what jobs call (through [`RunLedger`]).
pub(crate) struct LedgerWriter {
    ops: mpsc::UnboundedSender<Op>,
    clock: Arc<dyn Clock>,
}

impl LedgerWriter {
    /// Starts the writer for `store` on `runtime`.
    pub(crate) fn spawn(
        store: Arc<BoundedStore>,
        clock: Arc<dyn Clock>,
        runtime: &tokio::runtime::Handle,
    ) -> Arc<LedgerWriter> {
        let (ops, queue) = mpsc::unbounded_channel();
        runtime.spawn(write(store, queue, Arc::clone(&clock)));
        Arc::new(LedgerWriter { ops, clock })
    }

    /// Resolves once every transition asked for before it was written (or given up).
    pub(crate) async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.ops.send(Op::Flush(done)).is_ok() {
            let _ = wait.await;
        }
    }

    /// Records a final state for a run that never reached an executor.
    pub(crate) fn finish_state(&self, run: RunRef, state: RunState, error: Option<String>) {
        let finish = RunFinish::new(state, self.clock.now()).with_error(error);
        let _ = self.ops.send(Op::Finish(run, finish));
    }
}

impl RunLedger for LedgerWriter {
    fn begin(&self, ticket: &RunTicket) -> BoxFuture<'static, bool> {
        let (answer, wait) = oneshot::channel();
        let sent = self.ops.send(Op::Begin(ticket.as_ref(), answer)).is_ok();
        Box::pin(async move { sent && wait.await.unwrap_or(false) })
    }

    fn finish(&self, ticket: &RunTicket, outcome: &RunOutcome) {
        let state = match outcome {
            RunOutcome::Returned { .. } => RunState::Succeeded,
            RunOutcome::Missed { .. } => RunState::Missed,
            _ => RunState::Failed,
        };
        self.finish_state(ticket.as_ref(), state, outcome.exception());
    }
}

/// The writer loop: takes what is queued, writes the starts as one batch and the finishes as
/// another, answers flushes, and ends when every handle is gone. Finishes the store would not
/// take wait in a backlog that is retried every [`BACKLOG_RETRY`] (a store that comes back
/// gets them), so a record is not left `running` because the store was away for a while.
async fn write(
    store: Arc<BoundedStore>,
    mut queue: mpsc::UnboundedReceiver<Op>,
    clock: Arc<dyn Clock>,
) {
    let mut ops = Vec::new();
    let mut backlog: Vec<(RunRef, RunFinish)> = Vec::new();
    loop {
        let received = if backlog.is_empty() {
            queue.recv_many(&mut ops, BATCH).await
        } else {
            match tokio::time::timeout(BACKLOG_RETRY, queue.recv_many(&mut ops, BATCH)).await {
                Ok(received) => received,
                Err(_) => {
                    let pending = std::mem::take(&mut backlog);
                    backlog = finish(&store, pending).await;
                    continue;
                }
            }
        };
        if received == 0 {
            if !backlog.is_empty() {
                tracing::error!(target: "asyncz.scheduler", store = %store.alias(), runs = backlog.len(), "the scheduler stopped with finished runs the store never took; their records stay as they were until the node is settled");
            }
            return;
        }
        let mut begins = Vec::new();
        let mut finishes = Vec::new();
        let mut flushes = Vec::new();
        for op in ops.drain(..) {
            match op {
                Op::Begin(run, answer) => begins.push((run, answer)),
                Op::Finish(run, finish) => finishes.push((run, finish)),
                Op::Flush(done) => flushes.push(done),
            }
        }
        // A run's finish is only ever asked for after its begin was answered, so writing this
        // batch's begins before its finishes keeps every run's own order.
        if !begins.is_empty() {
            let now = clock.now();
            for run in start(&store, begins, now).await {
                // Not started because the store was away: the record stays `submitted` under
                // this live node unless it is finished; `missed` says what happened.
                let finish = RunFinish::new(RunState::Missed, now).with_error(Some(
                    "not run: the store could not be reached to mark the run as running".to_owned(),
                ));
                finishes.push((run, finish));
            }
        }
        if !finishes.is_empty() {
            // The backlog is older: it goes first.
            let mut pending = std::mem::take(&mut backlog);
            pending.extend(finishes);
            backlog = finish(&store, pending).await;
            if backlog.len() > BACKLOG_LIMIT {
                let dropped = backlog.len() - BACKLOG_LIMIT;
                backlog.drain(..dropped);
                tracing::error!(target: "asyncz.scheduler", store = %store.alias(), dropped, "too many finished runs waiting for the store; dropping the oldest (their records stay as they were until the node is settled)");
            }
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

/// Marks runs as running; answers each begin. Returns the runs it could not start because
/// the store could not be reached (not those another node settled meanwhile).
async fn start(
    store: &BoundedStore,
    begins: Vec<(RunRef, oneshot::Sender<bool>)>,
    now: chrono::DateTime<Utc>,
) -> Vec<RunRef> {
    let Some(cluster) = store.cluster_half() else {
        return Vec::new();
    };
    let (runs, answers): (Vec<_>, Vec<_>) = begins.into_iter().unzip();
    let mut attempt = 0;
    let (written, unreachable) = loop {
        attempt += 1;
        match store
            .bounded_op("start_runs", cluster.start_runs(&runs, now))
            .await
        {
            Ok(written) if written.len() == runs.len() => break (written, false),
            Ok(written) => {
                tracing::error!(target: "asyncz.scheduler", store = %store.alias(), asked = runs.len(), answered = written.len(), "the store answered start_runs for a different number of runs; not starting them");
                break (vec![false; runs.len()], true);
            }
            Err(e) if attempt < START_ATTEMPTS => {
                tracing::warn!(target: "asyncz.scheduler", store = %store.alias(), error = %e, "cannot mark runs as running; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => {
                tracing::error!(target: "asyncz.scheduler", store = %store.alias(), error = %e, runs = runs.len(), "cannot mark runs as running; not starting them (recording them as missed once the store is back)");
                break (vec![false; runs.len()], true);
            }
        }
    };
    for (answer, ours) in answers.into_iter().zip(written) {
        let _ = answer.send(ours);
    }
    if unreachable {
        runs
    } else {
        Vec::new()
    }
}

/// Records finished runs, retrying for [`FINISH_PATIENCE`]; returns what the store did not
/// take in that time.
async fn finish(
    store: &BoundedStore,
    finishes: Vec<(RunRef, RunFinish)>,
) -> Vec<(RunRef, RunFinish)> {
    let Some(cluster) = store.cluster_half() else {
        return Vec::new();
    };
    let started = tokio::time::Instant::now();
    let mut wait = Duration::from_millis(100);
    let mut rest = finishes;
    while !rest.is_empty() {
        let chunk: Vec<_> = rest.drain(..rest.len().min(BATCH)).collect();
        match store
            .bounded_op("finish_runs", cluster.finish_runs(&chunk))
            .await
        {
            Ok(written) => {
                for ((run, finish), ok) in chunk.iter().zip(written) {
                    if !ok {
                        tracing::warn!(target: "asyncz.scheduler", store = %store.alias(), run = %run.run_id, state = %finish.state, "the run's record was settled by another node meanwhile (its node was declared dead); leaving it as it is");
                    }
                }
            }
            Err(e) if started.elapsed() < FINISH_PATIENCE => {
                tracing::warn!(target: "asyncz.scheduler", store = %store.alias(), error = %e, "cannot record finished runs; retrying");
                rest.splice(0..0, chunk);
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(2));
            }
            Err(e) => {
                rest.splice(0..0, chunk);
                tracing::error!(target: "asyncz.scheduler", store = %store.alias(), error = %e, runs = rest.len(), "cannot record finished runs; keeping them to retry later");
                return rest;
            }
        }
    }
    Vec::new()
}
