//! DESIGN.md §4 time semantics, pinned: cron gap and fold handling in several zones, and
//! intervals as exact elapsed time.
#![allow(clippy::unwrap_used)]

mod common;

use asyncz_core::Trigger;
use asyncz_triggers::{CronTrigger, IntervalTrigger};
use common::{at, fire_times, zone};

#[test]
fn cron_time_in_a_spring_forward_gap_fires_as_far_past_the_gap() {
    let ny = zone("America/New_York");
    let trigger = CronTrigger::builder()
        .hour(2)
        .minute(30)
        .timezone(ny)
        .build()
        .unwrap();
    // 2026-03-08 02:30 does not exist in New York: it fires at 03:30 EDT (07:30 UTC).
    assert_eq!(
        fire_times(&trigger, ny, "2026-03-07T12:00:00Z", 3),
        [
            "2026-03-08T07:30:00Z",
            "2026-03-09T06:30:00Z",
            "2026-03-10T06:30:00Z"
        ]
    );
}

#[test]
fn cron_time_in_a_half_hour_gap_fires_half_an_hour_later() {
    let lord_howe = zone("Australia/Lord_Howe");
    let trigger = CronTrigger::builder()
        .hour(2)
        .minute(15)
        .timezone(lord_howe)
        .build()
        .unwrap();
    // 2026-10-04 02:00 → 02:30: 02:15 becomes 02:45 (+11:00) = 15:45 UTC the day before.
    assert_eq!(
        fire_times(&trigger, lord_howe, "2026-10-03T00:00:00Z", 2),
        ["2026-10-03T15:45:00Z", "2026-10-04T15:15:00Z"]
    );
}

#[test]
fn cron_time_repeated_by_fall_back_fires_once_at_its_first_occurrence() {
    let ny = zone("America/New_York");
    let trigger = CronTrigger::builder()
        .minute(30)
        .timezone(ny)
        .build()
        .unwrap();
    // 01:30 happens twice on 2026-11-01 (EDT 05:30 UTC, then EST 06:30 UTC): only the first.
    assert_eq!(
        fire_times(&trigger, ny, "2026-11-01T04:00:00Z", 3),
        [
            "2026-11-01T04:30:00Z",
            "2026-11-01T05:30:00Z",
            "2026-11-01T07:30:00Z"
        ]
    );
}

#[test]
fn cron_started_inside_the_repeated_hour_does_not_go_back_to_its_first_occurrence() {
    let ny = zone("America/New_York");
    let trigger = CronTrigger::builder()
        .minute(30)
        .timezone(ny)
        .build()
        .unwrap();
    // Now is 01:10 EST (the second 01:xx); 01:30 already happened at 01:30 EDT.
    let next = trigger.next_fire_time(ny, None, at("2026-11-01T06:10:00Z"));
    assert_eq!(next, Some(at("2026-11-01T07:30:00Z")));
}

#[test]
fn cron_fold_in_chatham_with_its_quarter_hour_offsets() {
    let chatham = zone("Pacific/Chatham");
    let trigger = CronTrigger::builder()
        .hour(3)
        .minute(0)
        .timezone(chatham)
        .build()
        .unwrap();
    // 2026-04-05 03:45 +13:45 → 02:45 +12:45: 03:00 occurs twice; first is 13:15 UTC on the 4th.
    assert_eq!(
        fire_times(&trigger, chatham, "2026-04-04T00:00:00Z", 2),
        ["2026-04-04T13:15:00Z", "2026-04-05T14:15:00Z"]
    );
}

#[test]
fn cron_in_kolkata_uses_its_half_hour_offset() {
    let kolkata = zone("Asia/Kolkata");
    let trigger = CronTrigger::from_crontab("0 9 * * *", Some(kolkata)).unwrap();
    assert_eq!(
        fire_times(&trigger, zone("UTC"), "2026-01-01T00:00:00Z", 2),
        ["2026-01-01T03:30:00Z", "2026-01-02T03:30:00Z"]
    );
}

#[test]
fn cron_without_its_own_zone_follows_the_scheduler_zone() {
    let trigger = CronTrigger::builder().hour(9).build().unwrap();
    let london = zone("Europe/London");
    assert_eq!(
        fire_times(&trigger, london, "2026-07-01T00:00:00Z", 1),
        ["2026-07-01T08:00:00Z"]
    );
}

#[test]
fn interval_hours_are_exact_elapsed_time_across_spring_forward() {
    let ny = zone("America/New_York");
    let start = at("2026-03-08T05:00:00Z"); // 00:00 EST
    let trigger = IntervalTrigger::new_at(start)
        .hours(1)
        .start_at(start)
        .timezone(ny);
    assert_eq!(
        fire_times(&trigger, ny, "2026-03-08T05:00:00Z", 4),
        [
            "2026-03-08T05:00:00Z",
            "2026-03-08T06:00:00Z",
            "2026-03-08T07:00:00Z",
            "2026-03-08T08:00:00Z"
        ]
    );
}

#[test]
fn interval_days_are_86400_seconds_across_fall_back() {
    let london = zone("Europe/London");
    let start = at("2026-10-24T07:00:00Z"); // 08:00 BST
    let trigger = IntervalTrigger::new_at(start)
        .days(1)
        .start_at(start)
        .timezone(london);
    // After the change (2026-10-25) the same instant is 07:00 GMT: elapsed time, not wall time.
    assert_eq!(
        fire_times(&trigger, london, "2026-10-24T00:00:00Z", 3),
        [
            "2026-10-24T07:00:00Z",
            "2026-10-25T07:00:00Z",
            "2026-10-26T07:00:00Z"
        ]
    );
}

#[test]
fn every_skipped_wall_time_fires_shifted_not_only_the_first() {
    let ny = zone("America/New_York");
    let trigger = CronTrigger::builder()
        .hour(2)
        .minute("*/20")
        .timezone(ny)
        .build()
        .unwrap();
    // 02:00, 02:20, 02:40 do not exist on 2026-03-08: 03:00, 03:20, 03:40 EDT.
    // (Upstream fires only 03:00: its walk moves the hour to 03 and finds no hour 2 left.)
    assert_eq!(
        fire_times(&trigger, ny, "2026-03-08T06:30:00Z", 4),
        [
            "2026-03-08T07:00:00Z",
            "2026-03-08T07:20:00Z",
            "2026-03-08T07:40:00Z",
            "2026-03-09T06:00:00Z"
        ]
    );
}

#[test]
fn wall_times_in_a_half_hour_gap_keep_their_order() {
    let lord_howe = zone("Australia/Lord_Howe");
    let trigger = CronTrigger::builder()
        .hour(2)
        .minute("5-20/5")
        .timezone(lord_howe)
        .build()
        .unwrap();
    // 02:05..02:20 on 2026-10-04 fall in the 02:00–02:30 gap: 02:35..02:50 (+11:00).
    assert_eq!(
        fire_times(&trigger, lord_howe, "2026-10-03T12:00:00Z", 5),
        [
            "2026-10-03T15:35:00Z",
            "2026-10-03T15:40:00Z",
            "2026-10-03T15:45:00Z",
            "2026-10-03T15:50:00Z",
            "2026-10-04T15:05:00Z"
        ]
    );
}

#[test]
fn a_real_wall_time_after_the_gap_can_come_before_a_shifted_one() {
    let chatham = zone("Pacific/Chatham");
    let trigger = CronTrigger::builder()
        .hour(3)
        .minute("*/15")
        .second(30)
        .timezone(chatham)
        .build()
        .unwrap();
    // 2026-09-27 02:45 → 03:45 (+12:45 → +13:45). 03:45:30 is real (14:00:30 UTC); 03:00:30,
    // 03:15:30, 03:30:30 are in the gap and land an hour later (14:15:30 UTC …).
    assert_eq!(
        fire_times(&trigger, chatham, "2026-09-26T12:00:00Z", 4),
        [
            "2026-09-26T14:00:30Z",
            "2026-09-26T14:15:30Z",
            "2026-09-26T14:30:30Z",
            "2026-09-26T14:45:30Z"
        ]
    );
}

#[test]
fn a_whole_skipped_day_fires_a_day_later() {
    // Samoa skipped 2011-12-30 entirely (UTC-10 → UTC+14).
    let apia = zone("Pacific/Apia");
    let trigger = CronTrigger::builder()
        .hour(12)
        .timezone(apia)
        .build()
        .unwrap();
    assert_eq!(
        fire_times(&trigger, apia, "2011-12-29T00:00:00Z", 3),
        // 12-29 12:00 −10; 12-30 12:00 (skipped) → 12-31 12:00 +14 = 12-30 22:00 UTC, which
        // is also 12-31's own 12:00: one run.
        [
            "2011-12-29T22:00:00Z",
            "2011-12-30T22:00:00Z",
            "2011-12-31T22:00:00Z"
        ]
    );
}
