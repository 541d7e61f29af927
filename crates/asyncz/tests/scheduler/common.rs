//! Helpers shared by the scheduler tests.

use std::time::Duration;

use asyncz::chrono::{DateTime, TimeZone, Utc};
use asyncz::{DebugExecutor, Event, ManualClock, Scheduler};
use tokio::sync::mpsc::UnboundedReceiver;

/// A fixed instant the manual-clock tests start from.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0)
        .single()
        .expect("valid date")
}

/// A scheduler on a manual clock at `start`, with the inline debug executor as default: every
/// run happens inside `process_tasks`, so tests are exact.
pub fn manual_scheduler(start: DateTime<Utc>) -> (Scheduler, ManualClock) {
    let clock = ManualClock::new(start);
    let scheduler = asyncz::builder()
        .clock(clock.clone())
        .executor("default", DebugExecutor::new())
        .build()
        .expect("scheduler builds");
    (scheduler, clock)
}

/// Every event received so far.
pub fn drain(rx: &mut UnboundedReceiver<Event>) -> Vec<Event> {
    let mut out = Vec::new();
    while let Ok(e) = rx.try_recv() {
        out.push(e);
    }
    out
}

/// Events until one with `code` arrives (inclusive); panics after `timeout`.
pub async fn until(rx: &mut UnboundedReceiver<Event>, code: u32, timeout: Duration) -> Vec<Event> {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(e)) => {
                let done = e.code() == code;
                out.push(e);
                if done {
                    return out;
                }
            }
            Ok(None) => panic!("event channel closed while waiting for {code}"),
            Err(_) => panic!(
                "timed out waiting for event {}; got {:?}",
                asyncz::events::code_name(code),
                out.iter().map(Event::name).collect::<Vec<_>>()
            ),
        }
    }
}

/// The codes' names, for readable assertions.
pub fn names(events: &[Event]) -> Vec<&'static str> {
    events.iter().map(Event::name).collect()
}
