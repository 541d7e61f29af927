//! [`OwnRuntime`]: the tokio runtime a scheduler owns with `isolated_runtime` (and always under
//! [`super::BlockingScheduler`]), created on first use and shut down in the background when
//! the scheduler is dropped (dropping a runtime from async code would panic).

use std::sync::Mutex;

use super::{lock, read, Scheduler};
use crate::{Error, Result};

/// A lazily created multi-thread runtime (two workers).
#[derive(Default)]
pub(crate) struct OwnRuntime(Mutex<Option<tokio::runtime::Runtime>>);

impl OwnRuntime {
    /// The runtime's handle, creating it on first use.
    pub(crate) fn handle(&self) -> Result<tokio::runtime::Handle> {
        let mut own = lock(&self.0);
        if let Some(rt) = own.as_ref() {
            return Ok(rt.handle().clone());
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("asyncz-scheduler")
            .enable_all()
            .build()
            .map_err(|e| Error::backend("scheduler runtime", e))?;
        let handle = rt.handle().clone();
        *own = Some(rt);
        Ok(handle)
    }
}

impl Drop for OwnRuntime {
    fn drop(&mut self) {
        let runtime = self.0.get_mut().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(runtime) = runtime {
            // Dropping a runtime from async code panics; this never blocks.
            runtime.shutdown_background();
        }
    }
}

impl Scheduler {
    /// The runtime the engine and the tokio executor run on: the scheduler's own when
    /// `isolated_runtime` is set, else the caller's.
    pub(crate) fn runtime_handle(&self) -> Result<tokio::runtime::Handle> {
        if read(&self.inner.config).isolated_runtime {
            return self.own_runtime_handle();
        }
        tokio::runtime::Handle::try_current().map_err(|_| {
            Error::Runtime(
                "no tokio runtime: call start() inside a tokio runtime, set isolated_runtime, or \
                 use BlockingScheduler"
                    .to_owned(),
            )
        })
    }

    pub(crate) fn own_runtime_handle(&self) -> Result<tokio::runtime::Handle> {
        self.inner.runtime.handle()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runtime_is_created_once_and_dropped_without_blocking() {
        let own = OwnRuntime::default();
        let a = own.handle().unwrap();
        let b = own.handle().unwrap();
        assert_eq!(a.id(), b.id());
        assert_eq!(a.block_on(async { 1 + 1 }), 2);
        drop(own);
    }

    #[test]
    fn without_a_runtime_start_needs_isolated_runtime() {
        let scheduler = Scheduler::builder().build().unwrap();
        assert!(matches!(scheduler.runtime_handle(), Err(Error::Runtime(_))));
        let isolated = Scheduler::builder().isolated_runtime(true).build().unwrap();
        assert!(isolated.runtime_handle().is_ok());
    }
}
