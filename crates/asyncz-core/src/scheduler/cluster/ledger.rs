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
/// A finish that cannot reach the store is retried for this long.
const FINISH_PATIENCE: Duration = Duration::from_secs(30);

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
/// another, answers flushes, and ends when every handle is gone.
async fn write(
    store: Arc<BoundedStore>,
    mut queue: mpsc::UnboundedReceiver<Op>,
    clock: Arc<dyn Clock>,
) {
    let mut ops = Vec::new();
    while queue.recv_many(&mut ops, BATCH).await > 0 {
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
            start(&store, begins, clock.now()).await;
        }
        if !finishes.is_empty() {
            finish(&store, finishes).await;
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

async fn start(
    store: &BoundedStore,
    begins: Vec<(RunRef, oneshot::Sender<bool>)>,
    now: chrono::DateTime<Utc>,
) {
    let Some(cluster) = store.cluster_half() else {
        return;
    };
    let (runs, answers): (Vec<_>, Vec<_>) = begins.into_iter().unzip();
    let mut attempt = 0;
    let written = loop {
        attempt += 1;
        match store.bounded(cluster.start_runs(&runs, now)).await {
            Ok(written) if written.len() == runs.len() => break written,
            Ok(written) => {
                tracing::error!(target: "asyncz.scheduler", store = %store.alias(), asked = runs.len(), answered = written.len(), "the store answered start_runs for a different number of runs; not starting them");
                break vec![false; runs.len()];
            }
            Err(e) if attempt < START_ATTEMPTS => {
                tracing::warn!(target: "asyncz.scheduler", store = %store.alias(), error = %e, "cannot mark runs as running; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => {
                tracing::error!(target: "asyncz.scheduler", store = %store.alias(), error = %e, runs = runs.len(), "cannot mark runs as running; not starting them (their records stay submitted)");
                break vec![false; runs.len()];
            }
        }
    };
    for (answer, ours) in answers.into_iter().zip(written) {
        let _ = answer.send(ours);
    }
}

async fn finish(store: &BoundedStore, finishes: Vec<(RunRef, RunFinish)>) {
    let Some(cluster) = store.cluster_half() else {
        return;
    };
    let started = tokio::time::Instant::now();
    let mut wait = Duration::from_millis(100);
    loop {
        match store.bounded(cluster.finish_runs(&finishes)).await {
            Ok(written) => {
                for ((run, finish), ok) in finishes.iter().zip(written) {
                    if !ok {
                        tracing::warn!(target: "asyncz.scheduler", store = %store.alias(), run = %run.run_id, state = %finish.state, "the run's record was settled by another node meanwhile (its node was declared dead); leaving it as it is");
                    }
                }
                return;
            }
            Err(e) if started.elapsed() < FINISH_PATIENCE => {
                tracing::warn!(target: "asyncz.scheduler", store = %store.alias(), error = %e, "cannot record finished runs; retrying");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(5));
            }
            Err(e) => {
                tracing::error!(target: "asyncz.scheduler", store = %store.alias(), error = %e, runs = finishes.len(), "cannot record finished runs; giving up (their records stay running until this node leaves)");
                return;
            }
        }
    }
}
