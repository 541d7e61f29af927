//! `IntervalTrigger::fire_times_until` (arithmetic) agrees with walking `next_fire_time`.
#![allow(clippy::unwrap_used)]

use asyncz_core::{walk_fire_times, Trigger};
use asyncz_triggers::IntervalTrigger;
use chrono::{Duration, TimeZone, Utc};
use chrono_tz::Tz;

#[test]
fn arithmetic_missed_runs_match_the_walk() {
    let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let triggers = [
        IntervalTrigger::new_at(t0).seconds(1).start_at(t0),
        IntervalTrigger::new_at(t0).minutes(1).start_at(t0),
        IntervalTrigger::new_at(t0)
            .seconds(7)
            .start_at(t0)
            .end_at(t0 + Duration::seconds(100)),
        IntervalTrigger::new_at(t0)
            .hours(1)
            .start_at(t0 + Duration::minutes(30)),
    ];
    let firsts = [
        t0,
        t0 + Duration::milliseconds(1500),
        t0 - Duration::seconds(3),
    ];
    let nows = [
        t0,
        t0 + Duration::seconds(59),
        t0 + Duration::seconds(60),
        t0 + Duration::seconds(3601),
        t0 + Duration::hours(5),
    ];
    for trigger in &triggers {
        for &first in &firsts {
            for &now in &nows {
                for keep in [0, 1, 3, 1000] {
                    let fast = trigger.fire_times_until(Tz::UTC, first, now, keep);
                    let slow = walk_fire_times(trigger, Tz::UTC, first, now, keep);
                    assert_eq!(fast, slow, "{trigger} first={first} now={now} keep={keep}");
                }
            }
        }
    }
}

#[test]
fn a_year_behind_on_one_second_is_counted_without_walking() {
    let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let trigger = IntervalTrigger::new_at(t0).seconds(1).start_at(t0);
    let now = t0 + Duration::days(365);
    let (kept, total) = trigger.fire_times_until(Tz::UTC, t0, now, 1);
    assert_eq!(total, 365 * 86_400 + 1);
    assert_eq!(kept, vec![now]);
}
