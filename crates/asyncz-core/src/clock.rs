//! Time as the engine sees it. The engine never calls `Utc::now()` or sleeps directly: it asks a
//! [`Clock`], so tests move time with a [`ManualClock`] and check missed runs, coalescing and
//! grace times exactly, without sleeping.

use std::fmt;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, SubsecRound, Utc};
use futures::future::BoxFuture;
use tokio::sync::watch;

/// The instant `t` in whole microseconds, the one precision of asyncz.
///
/// Every time the scheduler computes, stores or compares (clock readings, fire times, next run
/// times, run times) is in whole microseconds, because that is what every store keeps (SQL
/// `BIGINT` epoch microseconds, Redis scores, Mongo integers, the task record). A finer time
/// would not read back equal, and a schedule computed at nanosecond precision would see both
/// its exact and its stored (truncated) time as due, firing twice. Truncation is toward the
/// past, so a truncated fire time is never later than the exact one.
pub fn truncate_to_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}

/// A source of the current time and of timers.
///
/// # Behavior
/// - `now` is in whole microseconds ([`truncate_to_micros`]); the scheduler truncates what a
///   clock returns anyway, so a finer clock is harmless.
/// - `now` never goes backwards for the engine's purposes (a system clock may; the engine
///   tolerates it by treating a past deadline as due).
/// - `sleep_until(deadline)` resolves once `now() >= deadline`, and at once if it already is.
pub trait Clock: fmt::Debug + Send + Sync + 'static {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;
    /// A future that resolves when `now()` reaches `deadline`.
    fn sleep_until(&self, deadline: DateTime<Utc>) -> BoxFuture<'static, ()>;
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> DateTime<Utc> {
        (**self).now()
    }
    fn sleep_until(&self, deadline: DateTime<Utc>) -> BoxFuture<'static, ()> {
        (**self).sleep_until(deadline)
    }
}

/// A clock read in whole microseconds: how the scheduler wraps a user's clock.
#[derive(Debug)]
pub(crate) struct MicrosClock(pub(crate) Arc<dyn Clock>);

impl Clock for MicrosClock {
    fn now(&self) -> DateTime<Utc> {
        truncate_to_micros(self.0.now())
    }
    fn sleep_until(&self, deadline: DateTime<Utc>) -> BoxFuture<'static, ()> {
        self.0.sleep_until(deadline)
    }
}

/// The wall clock, with tokio timers (millisecond precision, no polling).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        truncate_to_micros(Utc::now())
    }

    fn sleep_until(&self, deadline: DateTime<Utc>) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            // Re-check after each sleep: the wall clock can be adjusted while we wait.
            loop {
                let remaining = deadline - Utc::now();
                let Ok(duration) = remaining.to_std() else {
                    return;
                };
                if duration.is_zero() {
                    return;
                }
                tokio::time::sleep(duration).await;
            }
        })
    }
}

/// A clock that only moves when told to. Timers waiting on it fire when [`ManualClock::advance`]
/// or [`ManualClock::set`] moves the time past their deadline.
#[derive(Clone)]
pub struct ManualClock {
    now: Arc<Mutex<DateTime<Utc>>>,
    tick: watch::Sender<DateTime<Utc>>,
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock")
            .field("now", &self.now())
            .finish()
    }
}

impl ManualClock {
    /// A clock standing still at `start` (in whole microseconds, like every clock).
    pub fn new(start: DateTime<Utc>) -> Self {
        let start = truncate_to_micros(start);
        let (tick, _) = watch::channel(start);
        ManualClock {
            now: Arc::new(Mutex::new(start)),
            tick,
        }
    }

    /// Moves the time forward by `by`.
    pub fn advance(&self, by: chrono::Duration) {
        let mut now = self.now.lock().unwrap_or_else(|e| e.into_inner());
        *now = truncate_to_micros(*now + by);
        self.tick.send_replace(*now);
    }

    /// Sets the time to `to`.
    pub fn set(&self, to: DateTime<Utc>) {
        let mut now = self.now.lock().unwrap_or_else(|e| e.into_inner());
        *now = truncate_to_micros(to);
        self.tick.send_replace(*now);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn sleep_until(&self, deadline: DateTime<Utc>) -> BoxFuture<'static, ()> {
        let mut rx = self.tick.subscribe();
        Box::pin(async move {
            loop {
                if *rx.borrow_and_update() >= deadline {
                    return;
                }
                if rx.changed().await.is_err() {
                    // The clock is gone: nothing will ever move time again.
                    futures::future::pending::<()>().await;
                }
            }
        })
    }
}
