//! [`Schedule`]: the one home of the scheduling maths — a task's first run time, its next one
//! after the engine fired it, and after a manual run — so the engine, `add_task`, `resume`,
//! `reschedule` and `run_task` cannot drift apart.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::task::{FireTime, RunTimes, Task};
use crate::trigger::Trigger;

/// The scheduling rules in one zone, logging with the scheduler's `logger_name`.
#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    pub(crate) tz: Tz,
    pub(crate) logger: Arc<str>,
}

/// How far a manual run moves a schedule that would otherwise fire again at once.
const MANUAL_RUN_STEP: chrono::Duration = chrono::Duration::milliseconds(1);

impl Schedule {
    fn answer(&self, task: &Task, answer: FireTime) -> Option<DateTime<Utc>> {
        match answer {
            FireTime::At(t) => Some(t),
            FireTime::Over => None,
            FireTime::NotAdvancing { previous, next } => {
                tracing::error!(target: super::LOG, logger = %self.logger, task = ?task.id(), trigger = %task.trigger(), previous = %previous, next = %next, "the trigger's next fire time does not advance; treating the schedule as over");
                None
            }
        }
    }

    /// The first run time of a task scheduled at `now` (added, resumed, started).
    pub(crate) fn first_run_time(&self, task: &Task, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.first_fire_of(task.trigger().as_ref(), now)
    }

    /// The first fire time of a trigger at `now` (a task rescheduled onto it), in whole
    /// microseconds.
    pub(crate) fn first_fire_of(
        &self,
        trigger: &dyn Trigger,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        trigger
            .next_fire_time(self.tz, None, now)
            .map(crate::clock::truncate_to_micros)
    }

    /// The first run time at start: never before `not_before` (the startup delay).
    pub(crate) fn start_run_time(
        &self,
        task: &Task,
        now: DateTime<Utc>,
        not_before: Option<DateTime<Utc>>,
    ) -> Option<DateTime<Utc>> {
        let first = match task.next_run_time() {
            Some(t) => Some(t),
            None => self.first_run_time(task, now),
        };
        match (first, not_before) {
            (Some(t), Some(min)) => Some(t.max(min)),
            (first, _) => first,
        }
    }

    /// The run times due at `now` (bounded; see [`Task::run_times`]).
    pub(crate) fn due(&self, task: &Task, now: DateTime<Utc>) -> RunTimes {
        task.run_times(self.tz, now)
    }

    /// The next run time after the engine fired `last` (`None`: the schedule is over).
    pub(crate) fn after_fire(
        &self,
        task: &Task,
        last: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        self.answer(task, task.fire_time_after(self.tz, Some(last), now))
    }

    /// The next run time after a manual run of `last`: like [`Schedule::after_fire`], but always
    /// past `now`, so an admin action never loops at zero delay.
    pub(crate) fn after_manual_run(
        &self,
        task: &Task,
        last: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        self.after_fire(task, last, now).map(|next| {
            if next <= now {
                now + MANUAL_RUN_STEP
            } else {
                next
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::function::Callable;
    use crate::Map;
    use chrono::TimeZone;

    /// Fires every `step` seconds from `start`; `stuck` returns `previous` itself.
    #[derive(Debug)]
    struct Every {
        start: DateTime<Utc>,
        step: i64,
        stuck: bool,
    }
    impl std::fmt::Display for Every {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "every {}s", self.step)
        }
    }
    impl Trigger for Every {
        fn alias(&self) -> &'static str {
            "every"
        }
        fn type_name(&self) -> &'static str {
            "Every"
        }
        fn next_fire_time(
            &self,
            _: Tz,
            previous: Option<DateTime<Utc>>,
            _now: DateTime<Utc>,
        ) -> Option<DateTime<Utc>> {
            match previous {
                None => Some(self.start),
                Some(p) if self.stuck => Some(p),
                Some(p) => Some(p + chrono::Duration::seconds(self.step)),
            }
        }
        fn state(&self) -> Map {
            Map::new()
        }
    }

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + s, 0).unwrap()
    }

    fn task(step: i64, stuck: bool) -> Task {
        let trigger = Every {
            start: t(0),
            step,
            stuck,
        };
        Task::new("t", Callable::Registered(Arc::from("f")), Arc::new(trigger))
    }

    fn schedule() -> Schedule {
        Schedule {
            tz: Tz::UTC,
            logger: Arc::from("asyncz.scheduler"),
        }
    }

    #[test]
    fn the_first_run_time_is_the_triggers_first_fire_time() {
        assert_eq!(
            schedule().first_run_time(&task(10, false), t(-5)),
            Some(t(0))
        );
    }

    #[test]
    fn the_startup_delay_holds_back_the_first_run() {
        let s = schedule();
        let task = task(10, false);
        assert_eq!(s.start_run_time(&task, t(-5), Some(t(3))), Some(t(3)));
        assert_eq!(s.start_run_time(&task, t(-5), None), Some(t(0)));
        let set = task.with_next_run_time(Some(t(50)));
        assert_eq!(s.start_run_time(&set, t(-5), Some(t(3))), Some(t(50)));
    }

    #[test]
    fn after_a_fire_the_next_one_follows_the_last_run_time() {
        assert_eq!(
            schedule().after_fire(&task(10, false), t(20), t(25)),
            Some(t(30))
        );
    }

    #[test]
    fn a_trigger_that_does_not_advance_ends_the_schedule() {
        assert_eq!(schedule().after_fire(&task(10, true), t(20), t(25)), None);
    }

    #[test]
    fn a_manual_run_always_moves_the_schedule_past_now() {
        let s = schedule();
        // The next fire time (30) is already past at 40: a manual run moves it just past now.
        assert_eq!(
            s.after_manual_run(&task(10, false), t(20), t(40)),
            Some(t(40) + MANUAL_RUN_STEP)
        );
        assert_eq!(
            s.after_manual_run(&task(10, false), t(20), t(25)),
            Some(t(30))
        );
    }
}
