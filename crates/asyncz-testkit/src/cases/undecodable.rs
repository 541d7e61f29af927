//! An undecodable record never drives the engine (issue: with a wrong encryption key the engine
//! busy-looped, because the record stayed due and the next round started at once).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use asyncz_core::chrono::Duration as Span;
use asyncz_core::{Callable, ManualClock, Task};
use asyncz_triggers::IntervalTrigger;
use tracing::instrument::WithSubscriber;

use super::scheduler::{runs_of, scheduler_over};
use super::{at_us, err, StoreCase, CORRUPTIBLE};
use crate::harness::{sample_task, t0};

pub(super) fn cases() -> Vec<StoreCase> {
    vec![
        case!(
            an_undecodable_record_does_not_drive_the_next_run_time,
            CORRUPTIBLE,
            |h, store| {
                store
                    .add_task(&sample_task("good", at_us(10_000_000)))
                    .await
                    .map_err(err)?;
                store
                    .add_task(&sample_task("bad", at_us(0)))
                    .await
                    .map_err(err)?;
                h.corrupt_record(&store, "bad").await.map_err(err)?;
                let due = store
                    .get_due_tasks(t0() + Span::seconds(1))
                    .await
                    .map_err(err)?;
                ensure!(due.is_empty(), "due: {due:?}");
                let next = store.get_next_run_time().await.map_err(err)?;
                ensure!(
                next == at_us(10_000_000),
                "get_next_run_time = {next:?}: the undecodable record's time (t0) must be ignored, the good task is due at t0+10s"
            );
                ensure!(
                    h.record_exists(&store, "bad").await.map_err(err)?,
                    "the undecodable record was deleted"
                );
                Ok(())
            }
        ),
        case!(
            an_undecodable_due_record_leaves_the_engine_idle_and_the_log_small,
            CORRUPTIBLE,
            |h, store| {
                let bad = sample_task("bad", Some(t0() - Span::seconds(1)));
                store.add_task(&bad).await.map_err(err)?;
                h.corrupt_record(&store, "bad").await.map_err(err)?;
                let start = t0() + Span::seconds(1);
                let good = Task::new(
                    "good",
                    Callable::registered("testkit.noop"),
                    Arc::new(IntervalTrigger::new_at(t0()).seconds(1).start_at(start)),
                )
                .with_next_run_time(Some(start));
                store.add_task(&good).await.map_err(err)?;

                let logged = Arc::new(AtomicUsize::new(0));
                let counter = CountWarnings(Arc::clone(&logged));
                let outcome: Result<(), String> = async {
                    let clock = ManualClock::new(t0());
                    let (scheduler, runs) = scheduler_over(&store, &clock).await?;
                    let mut waits = Vec::new();
                    for _ in 0..10 {
                        waits.push(scheduler.process_tasks().await);
                        clock.advance(Span::seconds(1));
                    }
                    let _ = scheduler.shutdown(false).await;
                    let fired = runs_of(&runs, "good");
                    ensure!(
                        fired.len() == 9,
                        "the good task fired {} times in 9 periods: {fired:?}",
                        fired.len()
                    );
                    // Idle in between, and on time: each round says "come back when the good
                    // task is due" (one second), never "now" (a spin) nor later (it would be late).
                    ensure!(
                        waits.iter().all(|w| *w == Some(Duration::from_secs(1))),
                        "the engine was not told to come back when the good task is due (0 spins, more is late): {waits:?}"
                    );
                    Ok(())
                }
                .with_subscriber(counter)
                .await;
                outcome?;
                let lines = logged.load(Ordering::SeqCst);
                ensure!(
                    lines <= 2,
                    "{lines} warnings or errors logged in 10 rounds for one undecodable record"
                );
                Ok(())
            }
        ),
    ]
}

/// A tracing subscriber that counts WARN and ERROR events and nothing else.
struct CountWarnings(Arc<AtomicUsize>);

impl tracing::Subscriber for CountWarnings {
    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        *metadata.level() <= tracing::Level::WARN
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, _: &tracing::Event<'_>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}
