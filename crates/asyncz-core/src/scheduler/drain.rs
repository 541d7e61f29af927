//! Shutting down inside a service: [`Scheduler::shutdown_signal`] (a future resolving on
//! SIGINT/SIGTERM, Ctrl-C on Windows, made for `axum::serve(...).with_graceful_shutdown`) and
//! the drain with a timeout ([`Scheduler::shutdown_with_timeout`]): no new runs start, running
//! ones get until the timeout to finish, what is left is cancelled (each cancelled run is
//! reported as a `TASK_ERROR` whose failure is [`crate::CANCELLED_BY_SHUTDOWN`]), then the
//! scheduler shuts down as usual.

use std::future::Future;
use std::time::Duration;

use super::{lock, Scheduler, SchedulerState};
use crate::executor::RunningRun;
use crate::{Error, Result};

/// What a drain found: the runs that finished within the timeout and those it cancelled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DrainReport {
    /// Runs in flight when the drain began that ended by themselves before the timeout.
    pub finished: usize,
    /// Runs still in flight at the timeout, cancelled (their executors were shut down without
    /// waiting). A blocking function cannot be interrupted: it is listed here and ends on its
    /// thread.
    pub cancelled: Vec<RunningRun>,
    /// Whether the scheduler is stopped now (false when an outer `start` still holds it; the
    /// drain then only releases this start and cancels nothing).
    pub stopped: bool,
}

/// How often a drain looks at the runs in flight.
const DRAIN_POLL: Duration = Duration::from_millis(10);

/// How long a drain waits after cancelling for the cancelled runs to report.
const CANCEL_SETTLE: Duration = Duration::from_millis(200);

impl Scheduler {
    /// Shuts down, giving running jobs `timeout` to finish: the engine stops submitting (the
    /// scheduler is paused), running jobs continue until they end or the timeout passes, then
    /// the executors are shut down without waiting, cancelling what is left (each cancelled run
    /// reports a `TASK_ERROR` with [`crate::CANCELLED_BY_SHUTDOWN`]), shutdown-trigger tasks
    /// run and the stores shut down. [`Error::SchedulerNotRunning`] when stopped.
    pub async fn shutdown_with_timeout(&self, timeout: Duration) -> Result<DrainReport> {
        if self.state() == SchedulerState::Stopped {
            return Err(Error::SchedulerNotRunning);
        }
        if self.inner.lifecycle.outer_starts() > 0 {
            let stopped = self.shutdown(false).await?;
            return Ok(DrainReport {
                stopped,
                ..DrainReport::default()
            });
        }
        // Paused, the engine submits nothing new; jobs already submitted run on.
        let _ = self.pause();
        let before = self.runs_in_flight().len();
        let deadline = tokio::time::Instant::now() + timeout;
        let mut left = self.runs_in_flight();
        while !left.is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(DRAIN_POLL.min(deadline - tokio::time::Instant::now())).await;
            left = self.runs_in_flight();
        }
        if !left.is_empty() {
            log!(warn, self, runs = left.len(), timeout = ?timeout, "runs still in flight at the shutdown timeout are cancelled");
        }
        // Without waiting: jobs queued but not started are dropped, running ones cancelled.
        let stopped = self.shutdown(false).await?;
        // A cancelled async run reports as its executor drops it, a moment later.
        let settle = tokio::time::Instant::now() + CANCEL_SETTLE;
        while !self.runs_in_flight().is_empty() && tokio::time::Instant::now() < settle {
            tokio::time::sleep(DRAIN_POLL).await;
        }
        Ok(DrainReport {
            finished: before.saturating_sub(left.len()),
            cancelled: left,
            stopped,
        })
    }

    /// [`Scheduler::shutdown_with_timeout`] with the builder's `shutdown_timeout`, or, without
    /// one, a shutdown that waits for every running job.
    pub async fn shutdown_gracefully(&self) -> Result<DrainReport> {
        let timeout = *lock(&self.inner.observed.shutdown_timeout);
        match timeout {
            Some(timeout) => self.shutdown_with_timeout(timeout).await,
            None => {
                let before = self.runs_in_flight().len();
                let stopped = self.shutdown(true).await?;
                Ok(DrainReport {
                    finished: before,
                    cancelled: Vec::new(),
                    stopped,
                })
            }
        }
    }

    /// A future that resolves when the process is asked to stop: SIGINT or SIGTERM on Unix,
    /// Ctrl-C on Windows. The handlers are installed now (so a signal arriving before the
    /// future is first polled is not lost), on the scheduler's runtime. It does not shut the
    /// scheduler down; a service passes it to `axum::serve(...).with_graceful_shutdown(...)`
    /// and then calls [`Scheduler::shutdown_gracefully`]:
    ///
    /// ```no_run
    /// # async fn service(scheduler: asyncz_core::Scheduler) -> asyncz_core::Result<()> {
    /// let stop = scheduler.shutdown_signal()?;
    /// stop.await; // or: axum::serve(listener, app).with_graceful_shutdown(stop)
    /// scheduler.shutdown_gracefully().await?;
    /// # Ok(()) }
    /// ```
    ///
    /// [`Error::Runtime`] when there is no runtime or the handlers cannot be installed.
    pub fn shutdown_signal(&self) -> Result<impl Future<Output = ()> + Send + 'static> {
        let handle = self.runtime_handle()?;
        let _entered = handle.enter();
        let logger = self.logger();
        let signal = signals::install().map_err(|e| {
            Error::Runtime(format!("cannot install the shutdown signal handlers: {e}"))
        })?;
        Ok(async move {
            let name = signal.await;
            tracing::info!(target: super::LOG, logger = %logger, signal = name, "shutdown signal received");
        })
    }
}

#[cfg(unix)]
mod signals {
    use std::future::Future;
    use tokio::signal::unix::{signal, SignalKind};

    /// SIGINT or SIGTERM; resolves to the name of the one that came.
    pub(super) fn install() -> std::io::Result<impl Future<Output = &'static str> + Send> {
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => "SIGINT",
                _ = terminate.recv() => "SIGTERM",
            }
        })
    }
}

#[cfg(not(unix))]
mod signals {
    use std::future::Future;

    /// Ctrl-C (and Ctrl-Break through the console); resolves to its name.
    pub(super) fn install() -> std::io::Result<impl Future<Output = &'static str> + Send> {
        let mut ctrl_c = tokio::signal::windows::ctrl_c()?;
        Ok(async move {
            ctrl_c.recv().await;
            "Ctrl-C"
        })
    }
}
