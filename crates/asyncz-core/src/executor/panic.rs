//! Panic capture for job runs: `catch_unwind` gives only the payload, so where a panic happened
//! (and its backtrace) is recorded by a panic hook. The hook is installed once, chained onto
//! whatever hook was there before (which still runs for every panic, so users' own hooks and the
//! standard message keep working), and records only while this thread is inside a run. An
//! application that replaces the panic hook after the first run (instead of installing its
//! own before) drops this one: panics are still caught and reported, without their location.

use std::backtrace::{Backtrace, BacktraceStatus};
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::panic::{AssertUnwindSafe, PanicHookInfo};
use std::pin::Pin;
use std::sync::Once;
use std::task::{Context, Poll};

use futures::FutureExt;

use crate::events::{PanicLocation, PanicReport};

thread_local! {
    /// How many capturing scopes this thread is inside (runs can nest: a task may run a
    /// debug executor inline).
    static CAPTURING: Cell<u32> = const { Cell::new(0) };
    /// What the hook saw of the latest panic inside a scope on this thread.
    static SEEN: RefCell<Option<Seen>> = const { RefCell::new(None) };
}

struct Seen {
    location: Option<PanicLocation>,
    backtrace: Option<String>,
}

fn install_hook() {
    static INSTALL: Once = Once::new();
    if std::thread::panicking() {
        // set_hook panics on a panicking thread; this run just goes without locations.
        return;
    }
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info: &PanicHookInfo<'_>| {
            // try_with: a panic during thread teardown must not panic again in here.
            if CAPTURING.try_with(Cell::get).unwrap_or(0) > 0 {
                let backtrace = Backtrace::capture();
                let seen = Seen {
                    location: info.location().map(PanicLocation::from),
                    backtrace: (backtrace.status() == BacktraceStatus::Captured)
                        .then(|| backtrace.to_string()),
                };
                let _ = SEEN.try_with(|s| *s.borrow_mut() = Some(seen));
            }
            previous(info);
        }));
    });
}

/// Marks this thread as inside a run for as long as it lives (panics included).
struct Scope;

impl Scope {
    fn enter() -> Scope {
        CAPTURING.with(|c| c.set(c.get() + 1));
        Scope
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        let _ = CAPTURING.try_with(|c| c.set(c.get().saturating_sub(1)));
    }
}

fn report(payload: &(dyn std::any::Any + Send)) -> PanicReport {
    let message = if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    };
    let seen = SEEN.with(|s| s.borrow_mut().take());
    PanicReport {
        message,
        location: seen.as_ref().and_then(|s| s.location.clone()),
        backtrace: seen.and_then(|s| s.backtrace),
    }
}

/// Calls `f`, turning a panic into a [`PanicReport`] with the panic's message, its location
/// and (when `RUST_BACKTRACE` asks for one) its backtrace.
pub fn catch_panic<R>(f: impl FnOnce() -> R) -> Result<R, PanicReport> {
    install_hook();
    let result = {
        let _scope = Scope::enter();
        std::panic::catch_unwind(AssertUnwindSafe(f))
    };
    result.map_err(|payload| report(payload.as_ref()))
}

/// Awaits `future`, turning a panic in any of its polls into a [`PanicReport`] (see
/// [`catch_panic`]). Only the polls count as inside the run: other tasks that run on the same
/// thread between them are not captured.
pub async fn catch_panic_async<F>(future: F) -> Result<F::Output, PanicReport>
where
    F: Future + Unpin,
{
    install_hook();
    match AssertUnwindSafe(Polled(future)).catch_unwind().await {
        Ok(output) => Ok(output),
        // CatchUnwind returns the payload in the poll that panicked, on this same thread, so
        // what the hook recorded is still here.
        Err(payload) => Err(report(payload.as_ref())),
    }
}

/// A future whose every poll runs inside a capturing [`Scope`].
struct Polled<F>(F);

impl<F: Future + Unpin> Future for Polled<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let _scope = Scope::enter();
        Pin::new(&mut self.0).poll(cx)
    }
}
