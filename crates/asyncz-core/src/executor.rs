//! The [`Executor`] contract and the [`Job`] an executor runs. A job carries everything one
//! submission needs: the function, its args, the run times, the grace time, the clock and the
//! event sink; `Job::run` does the shared part (grace check, panic capture, events), so an
//! executor only decides *where* a job runs. The `max_instances` slot is held by the job and
//! released when the job is dropped, so it cannot leak on error, panic or cancellation.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tracing::Instrument;

use crate::clock::Clock;
use crate::cluster::RunTicket;
use crate::events::{Event, TaskExecutionEvent, TASK_EXECUTED, TASK_MISSED};
use crate::function::{CallContext, FunctionRegistry, TaskFunction, TaskOutput};
use crate::{Error, Map, Result, Value};

mod observe;
mod panic;

pub use crate::events::RunOutcome;
pub(crate) use observe::{RunMeta, RunObserver};
pub use observe::{RunningRun, RUN_SPAN_TARGET};
pub use panic::{catch_panic, catch_panic_async};

/// What an executor receives when the scheduler starts it.
#[derive(Clone)]
pub struct ExecutorContext {
    /// The alias the executor is registered under.
    pub alias: String,
    /// Registered functions.
    pub functions: Arc<FunctionRegistry>,
    /// The runtime the scheduler runs on; spawn async work here.
    pub runtime: tokio::runtime::Handle,
}

impl fmt::Debug for ExecutorContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExecutorContext")
            .field("alias", &self.alias)
            .finish_non_exhaustive()
    }
}

/// Runs jobs.
#[async_trait]
pub trait Executor: fmt::Debug + Send + Sync + 'static {
    /// The plugin alias of this executor type (`tokio`, `threadpool`, ...).
    fn kind(&self) -> &'static str;

    /// Prepares the executor.
    async fn start(&self, ctx: ExecutorContext) -> Result<()>;

    /// Stops accepting jobs. With `wait`, returns once running jobs are done; without, returns
    /// promptly (cancelling what can be cancelled).
    async fn shutdown(&self, wait: bool) -> Result<()>;

    /// Takes a job. Returns once the job is accepted (or, for an inline executor, run).
    ///
    /// # Behavior
    /// - The job reports its own events through [`Job::run`] / [`Job::run_blocking`].
    /// - An error means the job was not run; the scheduler logs it.
    async fn send_task(&self, job: Job) -> Result<()>;

    /// Whether closure tasks can run here (a process pool runs registered functions only).
    fn supports_closures(&self) -> bool {
        true
    }

    /// How many accepted jobs wait to start (for [`crate::Scheduler::info`]); `None` (the
    /// default) when the executor does not keep a queue it can count.
    fn queued(&self) -> Option<usize> {
        None
    }
}

/// An `Arc<E>` is an executor too, so an application can keep a handle on the executor it
/// gave the scheduler.
#[async_trait]
impl<E: Executor + ?Sized> Executor for Arc<E> {
    fn kind(&self) -> &'static str {
        (**self).kind()
    }
    async fn start(&self, ctx: ExecutorContext) -> Result<()> {
        (**self).start(ctx).await
    }
    async fn shutdown(&self, wait: bool) -> Result<()> {
        (**self).shutdown(wait).await
    }
    async fn send_task(&self, job: Job) -> Result<()> {
        (**self).send_task(job).await
    }
    fn supports_closures(&self) -> bool {
        (**self).supports_closures()
    }
    fn queued(&self) -> Option<usize> {
        (**self).queued()
    }
}

/// Where events go; a handle to the scheduler's dispatcher.
#[derive(Clone)]
pub struct EventSink {
    emit: Arc<dyn Fn(Event) + Send + Sync>,
    mask: Arc<AtomicU32>,
}

impl EventSink {
    /// A sink calling `f` for each event.
    pub fn new(f: impl Fn(Event) + Send + Sync + 'static) -> Self {
        EventSink {
            emit: Arc::new(f),
            mask: Arc::new(AtomicU32::new(crate::events::EVERY_EVENT)),
        }
    }

    pub(crate) fn with_mask(
        f: impl Fn(Event) + Send + Sync + 'static,
        mask: Arc<AtomicU32>,
    ) -> Self {
        EventSink {
            emit: Arc::new(f),
            mask,
        }
    }

    /// Whether anyone listens for `code` (building an event nobody wants is skipped).
    pub fn wants(&self, code: u32) -> bool {
        self.mask.load(Ordering::Relaxed) & code != 0
    }

    /// Emits one event.
    pub fn emit(&self, event: Event) {
        (self.emit)(event)
    }
}

impl fmt::Debug for EventSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EventSink")
    }
}

/// Counts running instances per task, across every executor of a scheduler.
#[derive(Debug, Default)]
pub struct Instances {
    running: Mutex<HashMap<Arc<str>, u32>>,
}

impl Instances {
    /// Takes one slot for `task_id`, or fails with [`Error::MaximumInstances`].
    pub fn try_acquire(
        self: &Arc<Self>,
        task_id: &Arc<str>,
        max_instances: u32,
    ) -> Result<InstanceGuard> {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        let count = running.entry(Arc::clone(task_id)).or_insert(0);
        if *count >= max_instances {
            return Err(Error::MaximumInstances {
                task_id: task_id.to_string(),
                max_instances,
            });
        }
        *count += 1;
        Ok(InstanceGuard {
            instances: Arc::clone(self),
            task_id: Arc::clone(task_id),
        })
    }

    /// How many runs of `task_id` are in flight.
    pub fn running(&self, task_id: &str) -> u32 {
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(task_id)
            .copied()
            .unwrap_or(0)
    }
}

/// One `max_instances` slot; released on drop.
#[derive(Debug)]
pub struct InstanceGuard {
    instances: Arc<Instances>,
    task_id: Arc<str>,
}

impl Drop for InstanceGuard {
    fn drop(&mut self) {
        let mut running = self
            .instances
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(count) = running.get_mut(&self.task_id) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                running.remove(&self.task_id);
            }
        }
    }
}

/// The failure message of a run cancelled mid-run by a shutdown.
pub const CANCELLED_BY_SHUTDOWN: &str =
    "cancelled: the scheduler shut down before the run finished";

/// One submission of a task: run the function once per run time, reporting each outcome.
///
/// An executor runs a job in one of three ways:
/// - [`Job::run`] on an async task, or [`Job::run_blocking`] on a thread: the job checks the
///   grace time, calls the function, captures panics and reports every outcome itself;
/// - elsewhere (another process): for each run time, [`Job::missed_by`] decides whether it is
///   too late, the executor runs the function by its [`Job::function_name`] and reports with
///   [`Job::report`]; then it calls [`Job::finish`];
/// - not at all (shutdown without waiting): dropping the job, or [`Job::finish`], releases the
///   task's `max_instances` slot.
pub struct Job {
    pub(crate) task_id: Arc<str>,
    pub(crate) store_alias: Arc<str>,
    pub(crate) function_name: Option<Arc<str>>,
    pub(crate) function: TaskFunction,
    pub(crate) args: Vec<Value>,
    pub(crate) kwargs: Map,
    pub(crate) run_times: Vec<DateTime<Utc>>,
    pub(crate) mistrigger_grace_time: Option<Duration>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) sink: EventSink,
    pub(crate) after: Vec<Event>,
    pub(crate) guard: Option<InstanceGuard>,
    /// In a cluster: the ledger records of the run times, moved to running and final.
    pub(crate) runs: Option<JobRuns>,
    /// The task's name, executor and trigger, and the scheduler's run observer.
    pub(crate) meta: RunMeta,
    /// The run started by [`Job::begin`] and not reported yet.
    pub(crate) active: Option<observe::ActiveRun>,
}

/// Where a cluster job's run records are moved along (implemented by the scheduler's node).
pub(crate) trait RunLedger: Send + Sync {
    /// Moves the run to `running`; resolves to whether it is still this node's to run. The
    /// future needs no runtime of its own (it may be awaited from a blocking thread).
    fn begin(&self, ticket: &RunTicket) -> futures::future::BoxFuture<'static, bool>;
    /// Records the run's final state (in the background, in order after `begin`).
    fn finish(&self, ticket: &RunTicket, outcome: &RunOutcome);
}

/// A cluster job's run records, one per run time.
pub(crate) struct JobRuns {
    pub(crate) ledger: Arc<dyn RunLedger>,
    pub(crate) tickets: Vec<(DateTime<Utc>, RunTicket)>,
}

impl JobRuns {
    fn ticket(&self, run_time: DateTime<Utc>) -> Option<&RunTicket> {
        self.tickets
            .iter()
            .find(|(t, _)| *t == run_time)
            .map(|(_, ticket)| ticket)
    }
}

impl fmt::Debug for Job {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Job")
            .field("task_id", &self.task_id)
            .field("function", &self.function_name)
            .field("run_times", &self.run_times)
            .finish_non_exhaustive()
    }
}

impl Job {
    /// The task id.
    pub fn task_id(&self) -> &str {
        &self.task_id
    }
    /// The store alias.
    pub fn store_alias(&self) -> &str {
        &self.store_alias
    }
    /// The registered function name (`None` for closures).
    pub fn function_name(&self) -> Option<&str> {
        self.function_name.as_deref()
    }
    /// The function body.
    pub fn function(&self) -> &TaskFunction {
        &self.function
    }
    /// True when the function is async.
    pub fn is_async(&self) -> bool {
        self.function.is_async()
    }
    /// Positional arguments.
    pub fn args(&self) -> &[Value] {
        &self.args
    }
    /// Keyword arguments.
    pub fn kwargs(&self) -> &Map {
        &self.kwargs
    }
    /// The run times to run, oldest first.
    pub fn run_times(&self) -> &[DateTime<Utc>] {
        &self.run_times
    }

    /// How late `run_time` is now, when that is later than the task's
    /// `mistrigger_grace_time` allows (the run must then be reported as
    /// [`RunOutcome::missed`] instead of run). Queueing delay counts, as upstream.
    pub fn missed_by(&self, run_time: DateTime<Utc>) -> Option<chrono::Duration> {
        let grace = self.mistrigger_grace_time?;
        let late = self.clock.now() - run_time;
        let grace = chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::MAX);
        (late > grace).then_some(late)
    }

    fn context(&self, run_time: DateTime<Utc>) -> CallContext {
        CallContext {
            task_id: self.task_id.to_string(),
            scheduled_run_time: run_time,
            args: self.args.clone(),
            kwargs: self.kwargs.clone(),
            run: self.ticket(run_time).cloned(),
        }
    }

    /// In a cluster, the run's ledger identity (run id, node, attempt, fence) for
    /// `run_time`; `None` outside a cluster.
    pub fn ticket(&self, run_time: DateTime<Utc>) -> Option<&RunTicket> {
        self.runs.as_ref()?.ticket(run_time)
    }

    /// Just before the function runs for `run_time`: in a cluster, moves its run record to
    /// `running` and answers whether it is still this node's to run (`false` after the node
    /// was declared dead and the run was taken over: the caller must skip it). Always `true`
    /// outside a cluster. [`Job::run`] and [`Job::run_blocking`] call it themselves; an
    /// executor that runs functions elsewhere calls it (or [`Job::begin_blocking`]) before
    /// each run.
    ///
    /// It also opens the run's `asyncz.run` tracing span ([`Job::span`]), records its
    /// lateness and lists it in [`crate::Scheduler::runs_in_flight`] until its outcome is
    /// reported with [`Job::report`].
    pub async fn begin(&mut self, run_time: DateTime<Utc>) -> bool {
        let ours = match self.begin_future(run_time) {
            Some(begin) => begin.await,
            None => true,
        };
        self.opened(run_time, ours)
    }

    /// [`Job::begin`] from a blocking thread.
    pub fn begin_blocking(&mut self, run_time: DateTime<Utc>) -> bool {
        let ours = match self.begin_future(run_time) {
            Some(begin) => futures::executor::block_on(begin),
            None => true,
        };
        self.opened(run_time, ours)
    }

    /// Opens the run's span, metrics and table row once it is known to be this node's.
    fn opened(&mut self, run_time: DateTime<Utc>, ours: bool) -> bool {
        if let Some(previous) = self.active.take() {
            previous.abort(&self.meta);
        }
        if ours {
            let ticket = self.ticket(run_time).cloned();
            self.active = Some(observe::ActiveRun::open(
                &self.meta,
                &self.task_id,
                run_time,
                self.clock.now(),
                ticket.as_ref(),
            ));
        }
        ours
    }

    /// The `asyncz.run` span of the run started by the last [`Job::begin`] and not reported
    /// yet (a disabled span otherwise). An executor that runs the function itself enters it
    /// (or instruments the function's future with it), so the function's logs land inside.
    pub fn span(&self) -> tracing::Span {
        match &self.active {
            Some(active) => active.span.clone(),
            None => tracing::Span::none(),
        }
    }

    fn begin_future(
        &self,
        run_time: DateTime<Utc>,
    ) -> Option<futures::future::BoxFuture<'static, bool>> {
        let runs = self.runs.as_ref()?;
        let ticket = runs.ticket(run_time)?;
        let begin = runs.ledger.begin(ticket);
        let task_id = Arc::clone(&self.task_id);
        Some(Box::pin(async move {
            let ours = begin.await;
            if !ours {
                tracing::warn!(target: "asyncz.executors", task = ?task_id, %run_time, "not running: the run is no longer this node's (its claim was lost)");
            }
            ours
        }))
    }

    /// Releases the task's `max_instances` slot now, before the job's last outcome is reported,
    /// so a listener that reacts to it with `run_task` finds the slot free (as upstream).
    /// [`Job::run`] and [`Job::run_blocking`] call it before their last report; an executor
    /// that reports outcomes itself calls it before reporting the last run time.
    pub fn release_slot(&mut self) {
        self.guard.take();
    }

    /// Reports the outcome of one run, computed elsewhere (e.g. by a worker process).
    pub fn report(&mut self, run_time: DateTime<Utc>, outcome: RunOutcome) {
        let label = self.meta.observer.task_label().then_some(&self.task_id);
        self.meta.handles.run_finished(&outcome, label);
        if let Some(active) = self.active.take() {
            if active.run_time() == run_time {
                active.close(&self.meta, &self.task_id, &outcome);
            } else {
                active.abort(&self.meta);
            }
        }
        if let Some(runs) = &self.runs {
            if let Some(ticket) = runs.ticket(run_time) {
                runs.ledger.finish(ticket, &outcome);
            }
        }
        let code = outcome.code();
        match code {
            TASK_EXECUTED => {
                tracing::debug!(target: "asyncz.executors", task = ?self.task_id, %run_time, "task executed successfully")
            }
            TASK_MISSED => {}
            _ => {
                tracing::error!(target: "asyncz.executors", task = ?self.task_id, %run_time, error = outcome.exception().unwrap_or_default(), "task failed")
            }
        }
        if !self.sink.wants(code) {
            return;
        }
        self.sink.emit(Event::Execution(TaskExecutionEvent::new(
            self.task_id.to_string(),
            Some(self.store_alias.to_string()),
            run_time,
            outcome,
        )));
    }

    /// Reports the run at `run_time` as missed when it is too late to start (returns true).
    fn skip_if_missed(&mut self, run_time: DateTime<Utc>, last: Option<DateTime<Utc>>) -> bool {
        let Some(late) = self.missed_by(run_time) else {
            return false;
        };
        tracing::warn!(target: "asyncz.executors", task = ?self.task_id, %run_time, late_by = %late, "run time of task was missed");
        if Some(run_time) == last {
            self.release_slot();
        }
        self.report(run_time, RunOutcome::missed(late));
        true
    }

    /// Runs every run time on the current task. Async functions are awaited; sync functions
    /// are called inline (executors put sync work on a blocking thread with
    /// [`Job::run_blocking`] instead).
    pub async fn run(mut self) {
        let run_times = std::mem::take(&mut self.run_times);
        let last = run_times.last().copied();
        for &run_time in &run_times {
            if self.skip_if_missed(run_time, last) {
                continue;
            }
            if !self.begin(run_time).await {
                if Some(run_time) == last {
                    self.release_slot();
                }
                continue;
            }
            let ctx = self.context(run_time);
            let span = self.span();
            let outcome = match &self.function {
                TaskFunction::Async(f) => {
                    outcome_of(catch_panic_async(f(ctx)).instrument(span).await)
                }
                TaskFunction::Sync(f) => outcome_of(span.in_scope(|| catch_panic(|| f(ctx)))),
            };
            if Some(run_time) == last {
                self.release_slot();
            }
            self.report(run_time, outcome);
        }
    }

    /// Runs every run time on this (blocking) thread. Async functions are driven to completion
    /// with `runtime` when given (so they can use tokio timers and I/O), else with a minimal
    /// executor.
    pub fn run_blocking(mut self, runtime: Option<&tokio::runtime::Handle>) {
        let run_times = std::mem::take(&mut self.run_times);
        let last = run_times.last().copied();
        for &run_time in &run_times {
            if self.skip_if_missed(run_time, last) {
                continue;
            }
            if !self.begin_blocking(run_time) {
                if Some(run_time) == last {
                    self.release_slot();
                }
                continue;
            }
            let ctx = self.context(run_time);
            let span = self.span();
            let _entered = span.enter();
            let outcome = match &self.function {
                TaskFunction::Sync(f) => outcome_of(catch_panic(|| f(ctx))),
                TaskFunction::Async(f) => outcome_of(catch_panic(|| match runtime {
                    Some(handle) => handle.block_on(f(ctx)),
                    None => futures::executor::block_on(f(ctx)),
                })),
            };
            drop(_entered);
            if Some(run_time) == last {
                self.release_slot();
            }
            self.report(run_time, outcome);
        }
    }

    /// Emits the events that follow the job (a finished task's `TASK_REMOVED`) and releases
    /// its instance slot. Dropping the job does the same; `finish` says it on purpose.
    pub fn finish(self) {
        drop(self);
    }
}

impl Drop for Job {
    /// However a job ends (run, cancelled, refused, dropped by a shutdown), its trailing
    /// events go out exactly once and its `max_instances` slot is released.
    fn drop(&mut self) {
        if let Some(run_time) = self.active.as_ref().map(|a| a.run_time()) {
            // Started and never reported: the executor dropped it mid-run (a shutdown that
            // does not wait, or a drain past its timeout). Its outcome says so.
            self.release_slot();
            self.report(
                run_time,
                RunOutcome::Failed(crate::events::TaskFailure::new(CANCELLED_BY_SHUTDOWN)),
            );
        }
        for event in std::mem::take(&mut self.after) {
            self.sink.emit(event);
        }
    }
}

/// The outcome of a call whose panics were caught.
fn outcome_of(result: std::result::Result<TaskOutput, crate::events::PanicReport>) -> RunOutcome {
    match result {
        Ok(Ok(value)) => RunOutcome::returned(value),
        Ok(Err(error)) => RunOutcome::Failed(error.to_failure()),
        Err(panic) => RunOutcome::Panicked(panic),
    }
}

impl From<TaskOutput> for RunOutcome {
    fn from(output: TaskOutput) -> Self {
        outcome_of(Ok(output))
    }
}

/// The message of a panic payload.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        format!("panicked: {s}")
    } else if let Some(s) = payload.downcast_ref::<String>() {
        format!("panicked: {s}")
    } else {
        "panicked with a non-string payload".to_owned()
    }
}

/// Runs jobs inline, in `send_task` itself: deterministic, for tests and debugging
/// (spec: `DebugExecutor`).
///
/// Jobs are handed over with no scheduler lock held, so a function run inline may call back
/// into the scheduler (add a task, delete its own task). It runs on the engine's task, so a
/// long job delays the engine's next round.
#[derive(Debug, Default, Clone, Copy)]
pub struct DebugExecutor;

impl DebugExecutor {
    /// A debug executor.
    pub fn new() -> Self {
        DebugExecutor
    }
}

#[async_trait]
impl Executor for DebugExecutor {
    fn kind(&self) -> &'static str {
        "debug"
    }
    async fn start(&self, _ctx: ExecutorContext) -> Result<()> {
        Ok(())
    }
    async fn shutdown(&self, _wait: bool) -> Result<()> {
        Ok(())
    }
    async fn send_task(&self, job: Job) -> Result<()> {
        job.run().await;
        Ok(())
    }
}
