//! An undecodable record never drives the engine (issue: with a wrong encryption key the engine
//! busy-looped, because the record stayed due and the next round started at once).

use std::sync::Arc;
use std::time::Duration;

use asyncz_core::chrono::Duration as Span;
use asyncz_core::{Callable, ManualClock, Store, Task};
use asyncz_triggers::IntervalTrigger;

use super::scheduler::{runs_of, scheduler_logging_as};
use super::{at_us, err, StoreCase, CORRUPTIBLE};
use crate::harness::StoreHarness;
use crate::harness::{sample_task, store_context, t0};

pub(super) fn cases<H: StoreHarness>() -> Vec<StoreCase<H>> {
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
                h.corrupt_record("bad").await.map_err(err)?;
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
                    h.record_exists("bad").await.map_err(err)?,
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
                h.corrupt_record("bad").await.map_err(err)?;
                let start = t0() + Span::seconds(1);
                let good = Task::new(
                    "good",
                    Callable::registered("testkit.noop"),
                    Arc::new(IntervalTrigger::new_at(t0()).seconds(1).start_at(start)),
                )
                .with_next_run_time(Some(start));
                store.add_task(&good).await.map_err(err)?;

                // Every line that names this case's store alias or scheduler (the global
                // capture also sees the store's lines from blocking threads).
                crate::logs::capture_logs()?;
                let marker = crate::logs::unique_name("testkit-undecodable");
                let clock = ManualClock::new(t0());
                let mut ctx = store_context().with_clock(Arc::new(clock.clone()));
                ctx.alias = marker.clone();
                let reopened = h.reopen(ctx).await.map_err(err)?;
                let (scheduler, runs) = scheduler_logging_as(&reopened, &clock, &marker).await?;
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
                let lines: Vec<String> = crate::logs::captured_logs()
                    .iter()
                    .filter(|l| l.mentions(&marker))
                    .map(ToString::to_string)
                    .collect();
                ensure!(
                    !lines.is_empty(),
                    "the undecodable record was never logged (is the capture working?)"
                );
                ensure!(
                    lines.len() <= 2,
                    "{} warnings or errors logged in 10 rounds for one undecodable record: {lines:#?}",
                    lines.len()
                );
                Ok(())
            }
        ),
    ]
}
