//! Behaviour of each trigger, one per test, in the spec's words.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use asyncz_core::Trigger;
use asyncz_triggers::{
    AndTrigger, CronTrigger, DateTrigger, IntervalTrigger, OrTrigger, ShutdownTrigger,
};
use chrono::{Duration, Utc};
use common::{at, create, fire_times, zone};
use serde_json::json;

const UTC: chrono_tz::Tz = chrono_tz::UTC;

#[test]
fn date_trigger_fires_once_at_run_at() {
    let trigger = DateTrigger::new(at("2026-01-01T10:00:00Z"));
    assert_eq!(
        trigger.next_fire_time(UTC, None, at("2025-01-01T00:00:00Z")),
        Some(at("2026-01-01T10:00:00Z"))
    );
    assert_eq!(
        trigger.next_fire_time(
            UTC,
            Some(at("2026-01-01T10:00:00Z")),
            at("2026-01-01T10:00:00Z")
        ),
        None
    );
    assert!(!trigger.allow_mistrigger_by_default());
    assert_eq!(trigger.to_string(), "date[2026-01-01 10:00:00 UTC]");
}

#[test]
fn date_trigger_past_run_at_is_due_at_once() {
    let trigger = DateTrigger::new(at("2020-01-01T10:00:00Z"));
    assert_eq!(
        trigger.next_fire_time(UTC, None, at("2026-01-01T00:00:00Z")),
        Some(at("2020-01-01T10:00:00Z"))
    );
}

#[test]
fn date_trigger_reads_naive_run_at_in_its_zone_or_the_scheduler_zone() {
    let paris = create(
        "date",
        json!({"run_at": "2026-01-01 10:00:00", "timezone": "Europe/Paris"}),
        "2025-01-01T00:00:00Z",
    )
    .unwrap();
    assert_eq!(
        paris.next_fire_time(UTC, None, at("2025-01-01T00:00:00Z")),
        Some(at("2026-01-01T09:00:00Z"))
    );
    assert_eq!(paris.to_string(), "date[2026-01-01 10:00:00 CET]");
    let mut ctx = common::ctx("2025-01-01T00:00:00Z");
    ctx.timezone = zone("Asia/Kolkata");
    let kolkata = common::registry()
        .create_trigger(
            "date",
            &common::args(json!({"run_at": "2026-01-01T10:00:00"})),
            &ctx,
        )
        .unwrap();
    assert_eq!(
        kolkata.next_fire_time(UTC, None, ctx.now),
        Some(at("2026-01-01T04:30:00Z"))
    );
    let offset = create(
        "date",
        json!({"run_at": "2026-01-01T10:00:00+02:00"}),
        "2025-01-01T00:00:00Z",
    )
    .unwrap();
    assert_eq!(
        offset.next_fire_time(UTC, None, at("2025-01-01T00:00:00Z")),
        Some(at("2026-01-01T08:00:00Z"))
    );
}

#[test]
fn date_trigger_without_run_at_fires_now_and_is_never_missed() {
    let trigger = create("date", json!({}), "2026-04-01T12:00:00Z").unwrap();
    assert_eq!(
        trigger.next_fire_time(UTC, None, at("2026-04-01T12:00:05Z")),
        Some(at("2026-04-01T12:00:00Z"))
    );
    assert!(trigger.allow_mistrigger_by_default());
}

#[test]
fn interval_starts_one_interval_after_creation_by_default() {
    let trigger = create("interval", json!({"minutes": 5}), "2026-01-01T00:00:00Z").unwrap();
    assert_eq!(
        fire_times(trigger.as_ref(), UTC, "2026-01-01T00:00:00Z", 3),
        [
            "2026-01-01T00:05:00Z",
            "2026-01-01T00:10:00Z",
            "2026-01-01T00:15:00Z"
        ]
    );
    assert_eq!(trigger.to_string(), "interval[0:05:00]");
}

#[test]
fn interval_catches_up_on_its_grid_after_downtime() {
    let start = at("2026-01-01T00:00:00Z");
    let trigger = IntervalTrigger::new_at(start).minutes(10).start_at(start);
    assert_eq!(
        trigger.next_fire_time(UTC, None, at("2026-01-01T01:03:00Z")),
        Some(at("2026-01-01T01:10:00Z"))
    );
    assert_eq!(
        trigger.next_fire_time(UTC, None, at("2026-01-01T01:10:00Z")),
        Some(at("2026-01-01T01:10:00Z"))
    );
}

#[test]
fn interval_of_zero_is_one_second() {
    let start = at("2026-01-01T00:00:00Z");
    let trigger = IntervalTrigger::new_at(start).start_at(start);
    assert_eq!(trigger.interval(), Duration::seconds(1));
    assert_eq!(trigger.to_string(), "interval[0:00:01]");
}

#[test]
fn interval_describes_itself_like_a_python_timedelta() {
    let t = at("2026-01-01T00:00:00Z");
    assert_eq!(
        IntervalTrigger::new_at(t).days(1).hours(2).to_string(),
        "interval[1 day, 2:00:00]"
    );
    assert_eq!(
        IntervalTrigger::new_at(t).weeks(2).to_string(),
        "interval[14 days, 0:00:00]"
    );
    assert_eq!(
        IntervalTrigger::new_at(t)
            .every(std::time::Duration::from_millis(500))
            .to_string(),
        "interval[0:00:00.500000]"
    );
    assert_eq!(
        IntervalTrigger::new_at(t).hours(25).to_string(),
        "interval[1 day, 1:00:00]"
    );
}

#[test]
fn interval_end_at_is_inclusive_and_exhausts_the_schedule() {
    let start = at("2026-01-01T00:00:00Z");
    let trigger = IntervalTrigger::new_at(start)
        .hours(12)
        .start_at(start)
        .end_at(at("2026-01-02T00:00:00Z"));
    assert_eq!(
        fire_times(&trigger, UTC, "2026-01-01T00:00:00Z", 10),
        [
            "2026-01-01T00:00:00Z",
            "2026-01-01T12:00:00Z",
            "2026-01-02T00:00:00Z"
        ]
    );
}

#[test]
fn interval_jitter_never_drifts_the_series() {
    let start = at("2026-01-01T00:00:00Z");
    let trigger = IntervalTrigger::new_at(start)
        .minutes(1)
        .start_at(start)
        .jitter(20);
    let mut previous = None;
    let mut now = start;
    for k in 0..200 {
        let next = trigger.next_fire_time(UTC, previous, now).unwrap();
        let grid = start + Duration::minutes(k);
        assert!(
            next >= grid && next <= grid + Duration::seconds(20),
            "run {k}: {next}"
        );
        previous = Some(next);
        now = next;
    }
}

#[test]
fn cron_jitter_delays_runs_within_bounds_without_skipping_any() {
    let trigger = CronTrigger::builder()
        .minute("*")
        .jitter(30)
        .build()
        .unwrap();
    let start = at("2026-01-01T00:00:00Z");
    let mut previous = None;
    let mut now = start;
    for k in 0..200 {
        let next = trigger.next_fire_time(UTC, previous, now).unwrap();
        let grid = start + Duration::minutes(k);
        assert!(
            next >= grid && next <= grid + Duration::seconds(30),
            "run {k}: {next}"
        );
        previous = Some(next);
        now = next;
    }
}

#[test]
fn cron_defaults_fields_below_the_least_significant_set_one_to_their_minimum() {
    let trigger = CronTrigger::builder().hour(9).build().unwrap();
    assert_eq!(trigger.field("minute").as_deref(), Some("0"));
    assert_eq!(trigger.field("second").as_deref(), Some("0"));
    assert_eq!(trigger.field("day").as_deref(), Some("*"));
    let trigger = CronTrigger::builder().month(6).build().unwrap();
    assert_eq!(trigger.field("day").as_deref(), Some("1"));
    assert_eq!(trigger.field("day_of_week").as_deref(), Some("*"));
    // Fields between two set fields stay `*`.
    let trigger = CronTrigger::builder().hour(9).second(30).build().unwrap();
    assert_eq!(trigger.field("minute").as_deref(), Some("*"));
}

#[test]
fn cron_day_and_day_of_week_must_both_match() {
    // Friday the 13th.
    let trigger = CronTrigger::builder()
        .day(13)
        .day_of_week("fri")
        .build()
        .unwrap();
    assert_eq!(
        fire_times(&trigger, UTC, "2026-01-01T00:00:00Z", 3),
        [
            "2026-02-13T00:00:00Z",
            "2026-03-13T00:00:00Z",
            "2026-11-13T00:00:00Z"
        ]
    );
}

#[test]
fn cron_start_at_and_end_at_are_inclusive() {
    let trigger = CronTrigger::builder()
        .minute("*/30")
        .start_at(at("2026-01-01T10:00:00Z"))
        .end_at(at("2026-01-01T11:00:00Z"))
        .build()
        .unwrap();
    assert_eq!(
        fire_times(&trigger, UTC, "2026-01-01T00:00:00Z", 10),
        [
            "2026-01-01T10:00:00Z",
            "2026-01-01T10:30:00Z",
            "2026-01-01T11:00:00Z"
        ]
    );
}

#[test]
fn cron_that_can_never_match_is_exhausted() {
    let trigger = CronTrigger::builder().month(2).day(30).build().unwrap();
    assert_eq!(
        trigger.next_fire_time(UTC, None, at("2026-01-01T00:00:00Z")),
        None
    );
    let week_53_in_february = CronTrigger::builder().month(2).week(53).build().unwrap();
    assert_eq!(
        week_53_in_february.next_fire_time(UTC, None, at("2026-01-01T00:00:00Z")),
        None
    );
    let past = CronTrigger::builder().year(2020).build().unwrap();
    assert_eq!(
        past.next_fire_time(UTC, None, at("2026-01-01T00:00:00Z")),
        None
    );
}

#[test]
fn cron_rounds_a_fractional_now_up_to_the_next_second() {
    let trigger = CronTrigger::builder().second("*").build().unwrap();
    assert_eq!(
        trigger.next_fire_time(UTC, None, at("2026-01-01T00:00:00.000001Z")),
        Some(at("2026-01-01T00:00:01Z"))
    );
}

#[test]
fn and_trigger_fires_when_all_agree() {
    let every_2h: Arc<dyn Trigger> = Arc::new(CronTrigger::builder().hour("*/2").build().unwrap());
    let every_3h: Arc<dyn Trigger> = Arc::new(CronTrigger::builder().hour("*/3").build().unwrap());
    let trigger = AndTrigger::new(vec![every_2h, every_3h]);
    assert_eq!(
        fire_times(&trigger, UTC, "2026-01-01T01:00:00Z", 4),
        [
            "2026-01-01T06:00:00Z",
            "2026-01-01T12:00:00Z",
            "2026-01-01T18:00:00Z",
            "2026-01-02T00:00:00Z"
        ]
    );
}

#[test]
fn and_trigger_that_never_agrees_terminates() {
    let on_the_hour: Arc<dyn Trigger> = Arc::new(CronTrigger::builder().minute(0).build().unwrap());
    let half_past: Arc<dyn Trigger> = Arc::new(CronTrigger::builder().minute(30).build().unwrap());
    let trigger = AndTrigger::new(vec![on_the_hour, half_past]);
    assert_eq!(
        trigger.next_fire_time(UTC, None, at("2026-01-01T00:00:00Z")),
        None
    );
    assert_eq!(
        trigger.next_fire_time(
            UTC,
            Some(at("2026-01-01T00:00:00Z")),
            at("2026-01-01T00:00:00Z")
        ),
        None
    );
}

#[test]
fn and_trigger_with_a_past_date_is_exhausted() {
    let date: Arc<dyn Trigger> = Arc::new(DateTrigger::new(at("2026-01-01T00:10:00Z")));
    let hourly: Arc<dyn Trigger> = Arc::new(CronTrigger::builder().minute(0).build().unwrap());
    let trigger = AndTrigger::new(vec![date, hourly]);
    assert_eq!(
        trigger.next_fire_time(UTC, None, at("2026-01-01T00:00:00Z")),
        None
    );
}

#[test]
fn or_trigger_fires_at_the_earliest_of_its_triggers() {
    let nine: Arc<dyn Trigger> = Arc::new(CronTrigger::builder().hour(9).build().unwrap());
    let start = at("2026-01-01T00:00:00Z");
    let every_5h: Arc<dyn Trigger> =
        Arc::new(IntervalTrigger::new_at(start).hours(5).start_at(start));
    let trigger = OrTrigger::new(vec![nine, every_5h]);
    assert_eq!(
        fire_times(&trigger, UTC, "2026-01-01T00:00:00Z", 5),
        [
            "2026-01-01T00:00:00Z",
            "2026-01-01T05:00:00Z",
            "2026-01-01T09:00:00Z",
            "2026-01-01T10:00:00Z",
            "2026-01-01T15:00:00Z"
        ]
    );
}

#[test]
fn or_trigger_is_exhausted_when_all_are() {
    let a: Arc<dyn Trigger> = Arc::new(DateTrigger::new(at("2026-01-01T00:00:00Z")));
    let b: Arc<dyn Trigger> = Arc::new(DateTrigger::new(at("2026-01-02T00:00:00Z")));
    let trigger = OrTrigger::new(vec![a, b]);
    assert_eq!(
        fire_times(&trigger, UTC, "2025-01-01T00:00:00Z", 5),
        ["2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"]
    );
}

#[test]
fn combined_triggers_build_from_nested_arguments() {
    let trigger = create(
        "and",
        json!({"triggers": [
            {"alias": "cron", "args": {"day_of_week": "mon-fri", "hour": "*"}},
            {"alias": "or", "args": {"triggers": [
                {"alias": "cron", "args": {"hour": 9}},
                {"alias": "cron", "args": {"hour": 17}}
            ]}}
        ]}),
        "2026-01-01T00:00:00Z",
    )
    .unwrap();
    assert_eq!(
        fire_times(trigger.as_ref(), UTC, "2026-01-02T10:00:00Z", 3),
        [
            "2026-01-02T17:00:00Z",
            "2026-01-05T09:00:00Z",
            "2026-01-05T17:00:00Z"
        ]
    );
}

#[test]
fn shutdown_trigger_has_no_fire_time() {
    let trigger = ShutdownTrigger::new();
    assert_eq!(
        trigger.next_fire_time(UTC, None, at("2026-01-01T00:00:00Z")),
        None
    );
    assert!(trigger.is_shutdown());
    assert_eq!(trigger.alias(), "shutdown");
    assert!(create("shutdown", json!({}), "2026-01-01T00:00:00Z")
        .unwrap()
        .is_shutdown());
}

#[test]
fn cron_fields_can_be_set_by_name() {
    let trigger = CronTrigger::builder()
        .field("day", "last fri")
        .and_then(|b| b.field("hour", 10))
        .and_then(|b| b.build())
        .unwrap();
    assert_eq!(trigger.to_string(), "cron[day='last fri', hour='10']");
    let message = CronTrigger::builder()
        .field("hours", 10)
        .err()
        .unwrap()
        .to_string();
    assert!(
        message.starts_with("invalid cron field: unknown field name 'hours'"),
        "{message}"
    );
}

#[test]
fn compact_durations_are_read_for_the_command_line() {
    use asyncz_triggers::parse_duration;
    use std::time::Duration as Std;
    for (text, seconds) in [
        ("90s", 90),
        ("45m", 2700),
        ("2h", 7200),
        ("1d", 86_400),
        ("2w3d", 1_468_800),
        ("1h30m", 5400),
    ] {
        assert_eq!(
            parse_duration(text).unwrap(),
            Std::from_secs(seconds),
            "{text}"
        );
    }
    for text in ["", "30", "h", "5x", "1h30", "0s", "0h0m", "1M"] {
        assert!(
            parse_duration(text)
                .unwrap_err()
                .to_string()
                .starts_with("invalid interval: '"),
            "{text}"
        );
    }
}

#[test]
fn extreme_instants_never_panic() {
    use chrono::DateTime;
    let start = at("2026-01-01T00:00:00Z");
    let triggers: Vec<Arc<dyn Trigger>> = vec![
        Arc::new(CronTrigger::builder().minute("*/5").build().unwrap()),
        Arc::new(
            CronTrigger::builder()
                .day("last fri")
                .week("*/3")
                .build()
                .unwrap(),
        ),
        Arc::new(IntervalTrigger::new_at(start).weeks(1000).start_at(start)),
        Arc::new(IntervalTrigger::new_at(DateTime::<Utc>::MAX_UTC).seconds(1)),
        Arc::new(DateTrigger::new(DateTime::<Utc>::MIN_UTC)),
        Arc::new(DateTrigger::new(DateTime::<Utc>::MAX_UTC).timezone(zone("Pacific/Chatham"))),
        Arc::new(
            IntervalTrigger::new_at(DateTime::<Utc>::MAX_UTC)
                .hours(1)
                .timezone(zone("Pacific/Kiritimati")),
        ),
        Arc::new(
            CronTrigger::builder()
                .hour(1)
                .start_at(DateTime::<Utc>::MIN_UTC)
                .end_at(DateTime::<Utc>::MAX_UTC)
                .timezone(zone("America/New_York"))
                .build()
                .unwrap(),
        ),
    ];
    let combined: Vec<Arc<dyn Trigger>> = vec![
        Arc::new(AndTrigger::new(triggers.clone())),
        Arc::new(OrTrigger::new(triggers.clone())),
    ];
    let triggers: Vec<Arc<dyn Trigger>> = triggers.into_iter().chain(combined).collect();
    let instants = [DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC, start];
    for trigger in &triggers {
        let _ = (trigger.to_string(), trigger.state());
        for zone_name in ["UTC", "America/New_York", "Pacific/Chatham", "Pacific/Apia"] {
            for now in instants {
                for previous in [
                    None,
                    Some(DateTime::<Utc>::MIN_UTC),
                    Some(DateTime::<Utc>::MAX_UTC),
                ] {
                    let _ = trigger.next_fire_time(zone(zone_name), previous, now);
                }
            }
        }
    }
}

#[test]
fn or_trigger_keeps_a_pending_date_after_another_trigger_fired() {
    let date: Arc<dyn Trigger> = Arc::new(DateTrigger::new(at("2026-01-01T10:30:00Z")));
    let hourly: Arc<dyn Trigger> = Arc::new(CronTrigger::builder().minute(0).build().unwrap());
    let trigger = OrTrigger::new(vec![date, hourly]);
    assert_eq!(
        fire_times(&trigger, UTC, "2026-01-01T09:30:00Z", 4),
        [
            "2026-01-01T10:00:00Z",
            "2026-01-01T10:30:00Z",
            "2026-01-01T11:00:00Z",
            "2026-01-01T12:00:00Z"
        ]
    );
}
