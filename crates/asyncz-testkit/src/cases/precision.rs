//! Times in whole microseconds (issue: interval tasks ran twice per period on every persistent
//! store, because the trigger's grid kept nanoseconds while the store kept microseconds).

use std::sync::Arc;

use asyncz_core::chrono::{DateTime, Duration as Span, TimeZone, Utc};
use asyncz_core::{Callable, ManualClock, Store, Task, TaskBuilder};
use asyncz_triggers::IntervalTrigger;
use serde_json::json;

use super::scheduler::{runs_of, scheduler_over};
use super::{err, StoreCase, ANY};
use crate::harness::t0;
use crate::harness::StoreHarness;

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, us: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s)
        .single()
        .map_or(t0(), |t| t + Span::microseconds(us))
}

/// A task every second whose trigger starts at `start`.
fn every_second(id: &str, start: DateTime<Utc>) -> Task {
    let trigger = IntervalTrigger::new_at(start).seconds(1).start_at(start);
    Task::new(id, Callable::registered("testkit.noop"), Arc::new(trigger))
        .with_next_run_time(Some(start))
}

pub(super) fn cases<H: StoreHarness>() -> Vec<StoreCase<H>> {
    vec![
        case!(every_stored_time_reads_back_equal, ANY, |h, store| {
            // Sub-second parts that a float or a millisecond column would lose, an instant
            // before 1970, and the last microsecond of year 9999 (beyond 2^53 microseconds).
            let times = [
                utc(1900, 1, 1, 0, 0, 0, 123_457),
                utc(1970, 1, 1, 0, 0, 0, 1),
                t0() + Span::microseconds(1),
                t0() + Span::microseconds(999_999),
                utc(2255, 6, 5, 23, 47, 34, 740_993),
                utc(9999, 12, 31, 23, 59, 59, 999_999),
            ];
            for (i, t) in times.iter().enumerate() {
                store
                    .add_task(&every_second(&format!("p{i}"), *t))
                    .await
                    .map_err(err)?;
            }
            for (i, t) in times.iter().enumerate() {
                let id = format!("p{i}");
                let found = store.lookup_task(&id).await.map_err(err)?;
                let found = found.ok_or_else(|| format!("{id} is gone"))?;
                ensure!(
                    found.next_run_time() == Some(*t),
                    "{id}: next_run_time {:?} read back as {:?}",
                    t,
                    found.next_run_time()
                );
                let expected = every_second(&id, *t);
                ensure!(
                    found.trigger().state() == expected.trigger().state(),
                    "{id}: trigger state {:?} read back as {:?}",
                    expected.trigger().state(),
                    found.trigger().state()
                );
            }
            let all = store.get_all_tasks().await.map_err(err)?;
            let read: Vec<_> = all.iter().filter_map(Task::next_run_time).collect();
            ensure!(
                read == times,
                "get_all_tasks times {read:?}, wrote {times:?}"
            );
            let due = store
                .get_due_tasks(t0() + Span::seconds(1))
                .await
                .map_err(err)?;
            let read: Vec<_> = due.iter().filter_map(Task::next_run_time).collect();
            ensure!(read == times[..4], "get_due_tasks times {read:?}");
            // The earliest time, each time the earliest task is deleted.
            for (i, t) in times.iter().enumerate() {
                let next = store.get_next_run_time().await.map_err(err)?;
                ensure!(
                    next == Some(*t),
                    "get_next_run_time = {next:?}, expected {t:?}"
                );
                store.delete_task(&format!("p{i}")).await.map_err(err)?;
            }
            Ok(())
        }),
        case!(
            a_nanosecond_time_is_stored_as_its_microsecond,
            ANY,
            |h, store| {
                let exact = t0() + Span::nanoseconds(302_576_401);
                let task = every_second("nanos", exact);
                let micros = t0() + Span::microseconds(302_576);
                ensure!(
                    task.next_run_time() == Some(micros),
                    "Task keeps {:?}, expected the whole microsecond {micros:?}",
                    task.next_run_time()
                );
                store.add_task(&task).await.map_err(err)?;
                let found = store.lookup_task("nanos").await.map_err(err)?;
                ensure!(
                    found.as_ref().and_then(Task::next_run_time) == Some(micros),
                    "read back {:?}",
                    found.as_ref().and_then(Task::next_run_time)
                );
                Ok(())
            }
        ),
        case!(
            a_sub_microsecond_start_fires_once_per_period,
            ANY,
            |h, store| {
                // 39.302576401 s past t0: the start of both tasks falls between two microseconds.
                let start = t0() + Span::nanoseconds(39_302_576_401);
                let clock = ManualClock::new(start);
                let (scheduler, runs) = scheduler_over(store, &clock).await?;
                // Added without a start time (start = now, from the clock) ...
                scheduler
                    .add_task(
                        TaskBuilder::new()
                            .id("from-now")
                            .function("testkit.noop")
                            .trigger_alias("interval", json!({"seconds": 1})),
                    )
                    .await
                    .map_err(err)?;
                // ... and with a trigger built from a nanosecond instant.
                scheduler
                    .add_task(
                        TaskBuilder::new()
                            .id("from-nanos")
                            .function("testkit.other")
                            .trigger(IntervalTrigger::new_at(start).seconds(1)),
                    )
                    .await
                    .map_err(err)?;
                // Six periods, looked at four times each.
                for _ in 0..24 {
                    clock.advance(Span::milliseconds(250));
                    scheduler.process_tasks().await;
                }
                let _ = scheduler.shutdown(false).await;
                for id in ["from-now", "from-nanos"] {
                    let times = runs_of(&runs, id);
                    ensure!(
                        times.len() == 6,
                        "{id} ran {} times in 6 s of a 1 s interval: {times:?}",
                        times.len()
                    );
                    let mut distinct = times.clone();
                    distinct.dedup();
                    ensure!(
                        distinct.len() == times.len(),
                        "{id} ran a fire time twice: {times:?}"
                    );
                    ensure!(
                        times.windows(2).all(|w| w[1] - w[0] == Span::seconds(1)),
                        "{id} fire times are not one second apart: {times:?}"
                    );
                }
                Ok(())
            }
        ),
    ]
}
