//! Steps over an explicit range: a step larger than the range selects the range's first
//! value (as cron does, and upstream for `0-0/4`), in every field and in crontab lines; a
//! step that runs to the end of the field (`*/n`, `a/n`) and exceeds it stays an error.
#![allow(clippy::unwrap_used)]

mod common;

use asyncz_core::Trigger;
use asyncz_triggers::CronTrigger;
use chrono_tz::Tz;
use common::{create, error_of, fire_times};
use serde_json::json;

fn cron_times(fields: serde_json::Value, count: usize) -> Vec<String> {
    let trigger = create("cron", fields, "2026-01-01T00:00:00Z").unwrap();
    fire_times(trigger.as_ref(), Tz::UTC, "2026-01-01T00:00:00Z", count)
}

#[test]
fn a_step_over_a_one_value_weekday_range_is_that_weekday() {
    // Upstream asyncz 0.17.2 fires `day_of_week='0-0/4'` on Mondays: 2026-01-05, 12, 19.
    assert_eq!(
        cron_times(json!({"day_of_week": "0-0/4"}), 3),
        [
            "2026-01-05T00:00:00Z",
            "2026-01-12T00:00:00Z",
            "2026-01-19T00:00:00Z"
        ]
    );
    assert_eq!(
        cron_times(json!({"day_of_week": "mon-mon/4"}), 1),
        ["2026-01-05T00:00:00Z"]
    );
    // Not only ranges that end at 0 (upstream accepts those by accident).
    assert_eq!(
        cron_times(json!({"day_of_week": "wed-wed/4"}), 2),
        ["2026-01-07T00:00:00Z", "2026-01-14T00:00:00Z"]
    );
}

#[test]
fn a_step_larger_than_a_range_selects_its_first_value_in_every_field() {
    let start = "2026-01-01T00:00:00Z";
    let cases = [
        (json!({"second": "5-6/10"}), "2026-01-01T00:00:05Z"),
        (json!({"minute": "10-10/30"}), "2026-01-01T00:10:00Z"),
        (json!({"hour": "5-6/3"}), "2026-01-01T05:00:00Z"),
        (json!({"day": "3-3/40"}), "2026-01-03T00:00:00Z"),
        (json!({"week": "2-2/60"}), "2026-01-05T00:00:00Z"),
        (json!({"month": "feb-feb/12"}), "2026-02-01T00:00:00Z"),
        (json!({"month": "3-4/5"}), "2026-03-01T00:00:00Z"),
        (json!({"year": "2030-2030/5"}), "2030-01-01T00:00:00Z"),
        // The step is exactly the size of the range: still the first value alone.
        (json!({"hour": "0-5/6"}), "2026-01-01T00:00:00Z"),
        // Saturated step numbers do not overflow.
        (json!({"minute": "7-7/99999999999"}), "2026-01-01T00:07:00Z"),
    ];
    for (fields, first) in cases {
        let trigger = create("cron", fields.clone(), start)
            .unwrap_or_else(|e| panic!("{fields}: rejected: {e}"));
        let times = fire_times(trigger.as_ref(), Tz::UTC, start, 3);
        assert_eq!(times[0], first, "{fields}");
        // Only that value: the next fire is one period of the next larger field later.
        assert_ne!(times.get(1).map(String::as_str), Some(first), "{fields}");
    }
    // Two fire times of an hour range with a large step are a day apart.
    assert_eq!(
        cron_times(json!({"hour": "5-6/3"}), 2),
        ["2026-01-01T05:00:00Z", "2026-01-02T05:00:00Z"]
    );
    // A year range with a large step fires in its first year only (the smaller fields
    // default to their minimum, so once).
    assert_eq!(
        cron_times(json!({"year": "2030-2031/5"}), 2),
        ["2030-01-01T00:00:00Z"]
    );
}

#[test]
fn a_one_value_range_with_a_step_keeps_its_end_in_the_state() {
    let trigger = CronTrigger::builder()
        .day_of_week("0-0/4")
        .hour("5-6/3")
        .build()
        .unwrap();
    // `0/4` would read back as `0-6/4` (Monday and Friday).
    assert_eq!(
        trigger.to_string(),
        "cron[day_of_week='0-0/4', hour='5-6/3']"
    );
    let ctx = asyncz_core::TriggerContext::new(Tz::UTC, common::at("2026-01-01T00:00:00Z"));
    let restored = CronTrigger::from_args(&trigger.state(), &ctx).unwrap();
    assert_eq!(
        fire_times(&restored, Tz::UTC, "2026-01-01T00:00:00Z", 3),
        [
            "2026-01-05T05:00:00Z",
            "2026-01-12T05:00:00Z",
            "2026-01-19T05:00:00Z"
        ]
    );
}

#[test]
fn crontab_weekday_ranges_take_large_steps_too() {
    let trigger = CronTrigger::from_crontab("0 9 * * 1-1/9", Some(Tz::UTC)).unwrap();
    assert_eq!(
        fire_times(&trigger, Tz::UTC, "2026-01-01T00:00:00Z", 2),
        ["2026-01-05T09:00:00Z", "2026-01-12T09:00:00Z"]
    );
    let trigger = CronTrigger::from_crontab("0 9 * * 0-0/4", Some(Tz::UTC)).unwrap();
    assert_eq!(
        fire_times(&trigger, Tz::UTC, "2026-01-01T00:00:00Z", 1),
        ["2026-01-04T09:00:00Z"]
    );
    let trigger = CronTrigger::from_crontab("0 9 * * 5-5/4294967295", Some(Tz::UTC)).unwrap();
    assert_eq!(
        fire_times(&trigger, Tz::UTC, "2026-01-01T00:00:00Z", 1),
        ["2026-01-02T09:00:00Z"]
    );
}

#[test]
fn a_step_that_runs_past_the_end_of_the_field_is_still_an_error() {
    assert_eq!(
        error_of("cron", json!({"minute": "*/90"})),
        "invalid cron field 'minute': step 90 in '*/90' is larger than the range it steps through (59)"
    );
    assert_eq!(
        error_of("cron", json!({"hour": "20/10"})),
        "invalid cron field 'hour': step 10 in '20/10' is larger than the range it steps through (3)"
    );
    assert!(CronTrigger::from_crontab("0 9 * * */8", None)
        .unwrap_err()
        .to_string()
        .contains("step 8"));
}
