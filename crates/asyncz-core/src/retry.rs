//! Connecting within a deadline, for stores whose backend is a server (SQL, Redis): try, log
//! the failure, wait a little longer each time, and give up when `connect_timeout` has passed,
//! or at once when waiting cannot help. One loop, so every store bounds `start` the same way
//! (issue 8: a store's own client retried for minutes).

use std::future::Future;
use std::time::Duration;

// tokio's instant, which a paused test clock moves with its sleeps.
use tokio::time::Instant;

/// The first pause between two attempts; it doubles up to [`MAX_RETRY_DELAY`].
pub const FIRST_RETRY_DELAY: Duration = Duration::from_millis(100);
/// The longest pause between two attempts.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(1);

/// How one connection attempt ended.
#[derive(Debug)]
pub enum Attempt<T> {
    /// Connected.
    Connected(T),
    /// Failed in a way waiting may cure (the server is down, starting up, or full).
    Retry(String),
    /// Failed in a way waiting cannot cure (a wrong password, an unknown database): no more
    /// attempts.
    GiveUp(String),
}

/// Why [`connect_within`] gave up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectFailure {
    /// How many attempts were made.
    pub attempts: u32,
    /// The last attempt's error.
    pub error: String,
    /// True when the timeout passed; false when an attempt said [`Attempt::GiveUp`].
    pub timed_out: bool,
}

/// Calls `attempt` until it connects, gives up, or `timeout` has passed. Each attempt gets the
/// time left (and is cut off with the error `no answer` when it runs out); after each
/// retryable failure `on_failure(attempt number, error)` is called (to log it), then the loop
/// pauses ([`FIRST_RETRY_DELAY`], doubling up to [`MAX_RETRY_DELAY`], never past the
/// deadline). It gives up with the last error once the deadline has passed.
pub async fn connect_within<T, F, Fut>(
    timeout: Duration,
    mut attempt: F,
    mut on_failure: impl FnMut(u32, &str),
) -> Result<T, ConnectFailure>
where
    F: FnMut(Duration) -> Fut,
    Fut: Future<Output = Attempt<T>>,
{
    let began = Instant::now();
    let left = || timeout.saturating_sub(began.elapsed());
    let mut delay = FIRST_RETRY_DELAY;
    let mut attempts: u32 = 0;
    loop {
        attempts = attempts.saturating_add(1);
        let error = match tokio::time::timeout(left(), attempt(left())).await {
            Ok(Attempt::Connected(connected)) => return Ok(connected),
            Ok(Attempt::GiveUp(error)) => {
                return Err(ConnectFailure {
                    attempts,
                    error,
                    timed_out: false,
                })
            }
            Ok(Attempt::Retry(error)) => error,
            Err(_) => "no answer".to_owned(),
        };
        on_failure(attempts, &error);
        let pause = delay.min(left());
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
        if left().is_zero() {
            return Err(ConnectFailure {
                attempts,
                error,
                timed_out: true,
            });
        }
        delay = (delay * 2).min(MAX_RETRY_DELAY);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn failures_are_retried_with_backoff_until_the_timeout_then_the_last_error_is_given() {
        let began = tokio::time::Instant::now();
        let mut logged = Vec::new();
        let outcome: Result<(), _> = connect_within(
            Duration::from_secs(2),
            |_left| async { Attempt::Retry("refused".to_owned()) },
            |n, e| logged.push(format!("{n}: {e}")),
        )
        .await;
        let failure = outcome.expect_err("it never connects");
        // 0, 0.1, 0.3, 0.7, 1.5 s; then it waits out the last 0.5 s.
        assert_eq!(failure.attempts, 5, "{failure:?}");
        assert!(failure.timed_out);
        assert_eq!(failure.error, "refused");
        assert_eq!(logged.len(), 5, "one call per failed attempt: {logged:?}");
        assert_eq!(began.elapsed(), Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn an_incurable_failure_ends_at_once_and_a_success_is_returned() {
        let failure = connect_within(
            Duration::from_secs(10),
            |_left| async { Attempt::<()>::GiveUp("bad password".to_owned()) },
            |_, _| panic!("an incurable failure is not retried"),
        )
        .await
        .expect_err("gives up");
        assert_eq!((failure.attempts, failure.timed_out), (1, false));
        let mut calls = 0;
        let connected = connect_within(
            Duration::from_secs(10),
            |_left| {
                calls += 1;
                let n = calls;
                async move {
                    if n < 3 {
                        Attempt::Retry("starting".to_owned())
                    } else {
                        Attempt::Connected(n)
                    }
                }
            },
            |_, _| {},
        )
        .await;
        assert_eq!(connected, Ok(3));
    }

    #[tokio::test(start_paused = true)]
    async fn an_attempt_that_hangs_is_cut_off_at_the_deadline() {
        let failure = connect_within(
            Duration::from_secs(3),
            |_left| std::future::pending::<Attempt<()>>(),
            |_, _| {},
        )
        .await
        .expect_err("never answers");
        assert_eq!(failure.error, "no answer");
        assert!(failure.timed_out);
    }
}
