//! A task read back from a store is rebuilt at the scheduler's clock, not the system time
//! (issue: `Task::from_state` read `Utc::now()`, so under a `ManualClock` a stored trigger
//! that leaves its time to the factory got the real time).

use std::fmt;
use std::sync::Arc;

use asyncz_core::chrono::{DateTime, TimeZone, Utc};
use asyncz_core::chrono_tz::Tz;
use asyncz_core::{Callable, ManualClock, Map, Store, Task, Trigger};

use super::{err, StoreCase, PERSISTENT};
use crate::harness::{store_context, StoreHarness};

/// A trigger stored as a `date` trigger without `run_at` (as a hand-written or foreign record
/// may be): the date factory rebuilds it to fire at the `now` it is given.
#[derive(Debug)]
struct Undated;

impl fmt::Display for Undated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "date[now]")
    }
}

impl Trigger for Undated {
    fn alias(&self) -> &'static str {
        "date"
    }
    fn type_name(&self) -> &'static str {
        "DateTrigger"
    }
    fn next_fire_time(
        &self,
        _: Tz,
        _: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        Some(now)
    }
    fn state(&self) -> Map {
        Map::new()
    }
}

pub(super) fn cases<H: StoreHarness>() -> Vec<StoreCase<H>> {
    vec![case!(
        a_stored_trigger_is_rebuilt_at_the_schedulers_clock,
        PERSISTENT,
        |h, store| {
            let long_ago = Utc
                .with_ymd_and_hms(2001, 2, 3, 4, 5, 6)
                .single()
                .ok_or("a bad test date")?;
            let task = Task::new(
                "undated",
                Callable::registered("testkit.noop"),
                Arc::new(Undated),
            )
            .with_next_run_time(Some(long_ago));
            store.add_task(&task).await.map_err(err)?;
            let clock = ManualClock::new(long_ago);
            let again = h
                .reopen(store_context().with_clock(Arc::new(clock)))
                .await
                .map_err(err)?;
            let looked_up = again
                .lookup_task("undated")
                .await
                .map_err(err)?
                .ok_or("the task vanished")?;
            let listed = again.get_all_tasks().await.map_err(err)?;
            for (read, back) in [
                ("lookup_task", Some(&looked_up)),
                ("get_all_tasks", listed.first()),
            ] {
                let back = back.ok_or(format!("{read}: the task vanished"))?;
                let fires = back.trigger().next_fire_time(Tz::UTC, None, long_ago);
                ensure!(
                    fires == Some(long_ago),
                    "{read}: a date trigger stored without run_at, read back by a store whose clock says {long_ago}, fires at {fires:?} (the system time, not the scheduler's)"
                );
            }
            Ok(())
        }
    )]
}
