//! Handing a run to its executor, in two steps: [`Scheduler::prepare`] takes the
//! `max_instances` slot and resolves the executor and function (no event is dispatched, so it
//! may run under a store lock), [`Scheduler::send`] emits `TASK_SUBMITTED` and gives the job
//! to the executor without waiting for any lock (an inline executor runs the job right there,
//! and the job may call back into the scheduler: during an engine round it waits at most
//! until the round's writes to that store are done). Every execution event the scheduler itself builds
//! comes from [`Scheduler::execution_error`].

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::Scheduler;
use crate::events::{
    Event, RunOutcome, SubmissionSource, TaskExecutionEvent, TaskFailure, TaskSubmissionEvent,
    TASK_ERROR, TASK_MAX_INSTANCES, TASK_SUBMITTED,
};
use crate::executor::{Executor, InstanceGuard, Job, JobRuns, RunMeta};
use crate::function::{Callable, TaskFunction};
use crate::task::{RunTimes, Task};
use crate::{Error, Result};

/// A run ready to be sent: its slot is taken.
pub(crate) struct Prepared {
    task: Task,
    run_times: RunTimes,
    source: SubmissionSource,
    after: Vec<Event>,
    executor: Arc<dyn Executor>,
    function: TaskFunction,
    guard: InstanceGuard,
    runs: Option<JobRuns>,
}

impl Prepared {
    /// The same run, moving these ledger records along as it starts and ends (cluster mode).
    pub(crate) fn with_runs(mut self, runs: JobRuns) -> Self {
        self.runs = Some(runs);
        self
    }
}

/// A run that was not submitted: the error, and the events to dispatch once locks are
/// released ([`Scheduler::refuse`]).
pub(crate) struct Refusal {
    error: Error,
    events: Vec<Event>,
}

fn submission(code: u32, task: &Task, run_times: &RunTimes, source: SubmissionSource) -> Event {
    Event::Submission(TaskSubmissionEvent {
        code,
        task_id: task.id.to_string(),
        store: Some(task.store_alias.to_string()),
        scheduled_run_times: run_times.run_times.clone(),
        coalesced_run_count: run_times.coalesced_run_count,
        source,
    })
}

impl Scheduler {
    /// The `TASK_ERROR` event for a run of `task` at `run_time` that failed before its
    /// function ran (the one place the scheduler builds an execution event).
    pub(crate) fn execution_error(
        &self,
        task: &Task,
        run_time: DateTime<Utc>,
        failure: TaskFailure,
    ) -> Event {
        Event::Execution(TaskExecutionEvent::new(
            task.id.to_string(),
            Some(task.store_alias.to_string()),
            run_time,
            RunOutcome::Failed(failure),
        ))
    }

    /// Takes the task's `max_instances` slot and resolves its executor and function.
    pub(crate) fn prepare(
        &self,
        task: &Task,
        run_times: RunTimes,
        source: SubmissionSource,
        after: Vec<Event>,
    ) -> std::result::Result<Prepared, Refusal> {
        let guard = match self
            .inner
            .instances
            .try_acquire(&task.id, task.max_instances)
        {
            Ok(guard) => guard,
            Err(error) => {
                log!(warn, self, task = ?task.id, max_instances = task.max_instances, "execution of task skipped: maximum number of running instances reached");
                let label = self.inner.observed.runs.task_label().then_some(&task.id);
                self.inner
                    .observed
                    .runs
                    .handles()
                    .run_counted(crate::metrics::OutcomeLabel::SkippedMaxInstances, label);
                let mut events = Vec::new();
                if self.wants(TASK_MAX_INSTANCES) {
                    events.push(submission(TASK_MAX_INSTANCES, task, &run_times, source));
                }
                events.extend(after);
                return Err(Refusal { error, events });
            }
        };
        match self.resolve_run(task) {
            Ok((executor, function)) => Ok(Prepared {
                task: task.clone(),
                run_times,
                source,
                after,
                executor,
                function,
                guard,
                runs: None,
            }),
            Err(error) => {
                drop(guard);
                log!(error, self, task = ?task.id, error = %error, "cannot run task");
                let mut events = vec![submission(TASK_SUBMITTED, task, &run_times, source)];
                for &t in &run_times.run_times {
                    events.push(self.execution_error(task, t, TaskFailure::from_error(&error)));
                }
                events.extend(after);
                Err(Refusal { error, events })
            }
        }
    }

    fn resolve_run(&self, task: &Task) -> Result<(Arc<dyn Executor>, TaskFunction)> {
        let executor = self.lookup_executor(&task.executor)?;
        if matches!(task.callable, Callable::Closure { .. }) && !executor.supports_closures() {
            return Err(Error::invalid(
                "executor",
                format!(
                    "executor '{}' runs registered functions only; task '{}' is a closure",
                    task.executor, task.id
                ),
            ));
        }
        let function = self.inner.functions.resolve(&task.callable)?;
        Ok((executor, function))
    }

    /// Dispatches a refusal's events and returns its error.
    pub(crate) fn refuse(&self, refusal: Refusal) -> Error {
        for event in refusal.events {
            self.dispatch_event(event);
        }
        refusal.error
    }

    /// Emits `TASK_SUBMITTED` and hands the job to the executor. The job's trailing events
    /// (`after`) are emitted when it is over, or dropped unrun.
    pub(crate) async fn send(&self, prepared: Prepared) -> Result<()> {
        let Prepared {
            task,
            run_times,
            source,
            after,
            executor,
            function,
            guard,
            runs,
        } = prepared;
        if self.wants(TASK_SUBMITTED) {
            self.dispatch_event(submission(TASK_SUBMITTED, &task, &run_times, source));
        }
        let job = Job {
            task_id: Arc::clone(&task.id),
            store_alias: Arc::clone(&task.store_alias),
            function_name: task.callable.reference().map(Arc::from),
            function,
            args: task.args.clone(),
            kwargs: task.kwargs.clone(),
            run_times: run_times.run_times.clone(),
            mistrigger_grace_time: task.mistrigger_grace_time,
            clock: Arc::clone(&self.inner.clock),
            sink: self.event_sink(),
            after,
            guard: Some(guard),
            runs,
            meta: RunMeta {
                name: Arc::clone(&task.name),
                executor: Arc::clone(&task.executor),
                trigger: Arc::clone(&task.trigger),
                observer: Arc::clone(&self.inner.observed.runs),
                handles: self.inner.observed.runs.handles(),
            },
            active: None,
        };
        if let Err(e) = executor.send_task(job).await {
            // The job was dropped unrun; its drop already emitted the trailing events.
            log!(error, self, task = ?task.id, executor = %task.executor, error = %e, "error submitting task to executor");
            if self.wants(TASK_ERROR) {
                for &t in &run_times.run_times {
                    let refused =
                        format!("not run: executor '{}' refused the job: {e}", task.executor);
                    let failure = TaskFailure::new(refused).caused_by_sources_of(&e);
                    self.dispatch_event(self.execution_error(&task, t, failure));
                }
            }
            return Err(e);
        }
        Ok(())
    }

    /// [`Scheduler::prepare`] then [`Scheduler::send`], for a caller holding no lock.
    pub(crate) async fn submit(
        &self,
        task: &Task,
        run_times: RunTimes,
        source: SubmissionSource,
        after: Vec<Event>,
    ) -> Result<()> {
        match self.prepare(task, run_times, source, after) {
            Ok(prepared) => self.send(prepared).await,
            Err(refusal) => Err(self.refuse(refusal)),
        }
    }
}
