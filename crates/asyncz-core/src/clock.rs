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

/// The wall clock. Long waits use tokio timers (millisecond wheel, no polling); the last
/// 2 ms before a deadline is waited on a timer thread of its own with the operating
/// system's high-resolution timed wait, so a fire starts within tens of microseconds of its time
/// instead of up to a millisecond late, without spinning a core.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

/// How close to a deadline the tokio timer hands over to the precise sleep. Tokio rounds a
/// sleep up to the next millisecond tick, so it must stop at least a tick early.
const PRECISE_TAIL: std::time::Duration = std::time::Duration::from_millis(2);

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
                if duration > PRECISE_TAIL {
                    tokio::time::sleep(duration - PRECISE_TAIL).await;
                    continue;
                }
                // The last stretch on the process's timer thread; a wait dropped meanwhile (the
                // engine was woken for another reason) is forgotten there.
                let ended = match precise::wait(std::time::Instant::now() + duration) {
                    Some(done) => done.await.is_ok(),
                    None => false,
                };
                if !ended {
                    tokio::time::sleep(duration).await;
                }
            }
        })
    }
}

/// One thread per process that ends the last [`PRECISE_TAIL`] of [`SystemClock`] waits with
/// the operating system's high-resolution timed wait. It is its own thread, not tokio's
/// blocking pool: sync jobs may hold every thread of that pool, and the engine's wakeups must
/// never queue behind them. Idle, it blocks in `recv` and costs nothing.
mod precise {
    use std::sync::mpsc::{self, RecvTimeoutError};
    use std::sync::OnceLock;
    use std::time::Instant;

    use tokio::sync::oneshot;

    struct Wait {
        at: Instant,
        done: oneshot::Sender<()>,
    }

    /// The thread's queue; `None` when the thread could not be started (the caller then
    /// falls back to tokio's timer).
    static TIMER: OnceLock<Option<mpsc::Sender<Wait>>> = OnceLock::new();

    /// A receiver that completes at `at` (`None`: no timer thread).
    pub(super) fn wait(at: Instant) -> Option<oneshot::Receiver<()>> {
        let timer = TIMER.get_or_init(|| {
            let (tx, rx) = mpsc::channel();
            std::thread::Builder::new()
                .name("asyncz-timer".into())
                .spawn(move || run(&rx))
                .ok()
                .map(|_| tx)
        });
        let (done, receiver) = oneshot::channel();
        timer.as_ref()?.send(Wait { at, done }).ok()?;
        Some(receiver)
    }

    fn run(requests: &mpsc::Receiver<Wait>) {
        let mut pending: Vec<Wait> = Vec::new();
        loop {
            let now = Instant::now();
            let mut i = 0;
            while i < pending.len() {
                if pending[i].at <= now || pending[i].done.is_closed() {
                    let wait = pending.swap_remove(i);
                    // A closed receiver is a dropped wait: nothing to tell.
                    let _ = wait.done.send(());
                } else {
                    i += 1;
                }
            }
            let next = match pending.iter().map(|w| w.at).min() {
                Some(at) => requests.recv_timeout(at.saturating_duration_since(Instant::now())),
                None => requests.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            match next {
                Ok(wait) => pending.push(wait),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The precise tail never wakes before the deadline, whether the wait starts inside the
    /// tail, just outside it, or well before it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_system_clock_never_wakes_before_the_deadline() {
        for micros in [0_i64, 300, 1_500, 2_000, 2_700, 4_000, 12_345] {
            let deadline = Utc::now() + chrono::Duration::microseconds(micros);
            SystemClock.sleep_until(deadline).await;
            let woke = Utc::now();
            assert!(
                woke >= deadline,
                "{micros} µs: woke {woke} before {deadline}"
            );
        }
        // A deadline in the past returns at once.
        let past = Utc::now() - chrono::Duration::seconds(1);
        tokio::time::timeout(
            std::time::Duration::from_secs(1),
            SystemClock.sleep_until(past),
        )
        .await
        .expect("a past deadline returns at once");
    }

    /// The precise tail does not queue behind tokio's blocking pool: with its only thread
    /// held by a long sync job, a wait of a millisecond still ends in time.
    #[test]
    fn a_full_blocking_pool_does_not_delay_the_system_clock() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let (held_tx, held_rx) = std::sync::mpsc::channel::<()>();
            let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
            let job = tokio::task::spawn_blocking(move || {
                let _ = held_tx.send(());
                let _ = release_rx.recv();
            });
            held_rx.recv().expect("the blocking thread is held");
            for _ in 0..3 {
                let deadline = Utc::now() + chrono::Duration::milliseconds(1);
                tokio::time::timeout(
                    std::time::Duration::from_secs(2),
                    SystemClock.sleep_until(deadline),
                )
                .await
                .expect("the wait ends although the blocking pool is full");
                assert!(Utc::now() >= deadline);
            }
            release_tx.send(()).expect("release");
            job.await.expect("job");
        });
    }
}
