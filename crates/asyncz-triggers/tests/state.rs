//! `state()` fed back to the registry factory rebuilds an equal trigger: same state, same
//! description, same fire times. This is how persistent stores keep triggers.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use asyncz_core::{Trigger, Value};
use asyncz_triggers::{
    AndTrigger, CronTrigger, DateTrigger, IntervalTrigger, OrTrigger, ShutdownTrigger,
};
use common::{at, ctx, fire_times, registry, zone};
use serde_json::json;

/// Round-trips twice (through JSON text, as a store would) and compares everything visible.
fn assert_round_trips(trigger: &dyn Trigger) {
    let registry = registry();
    let state = trigger.state();
    let text = serde_json::to_string(&state).unwrap();
    let Value::Object(read) = serde_json::from_str::<Value>(&text).unwrap() else {
        panic!("state is not an object: {text}")
    };
    // A different "now" and zone: a rebuilt trigger must not depend on when it is rebuilt.
    let mut later = ctx("2031-06-01T12:00:00Z");
    later.timezone = zone("Asia/Tokyo");
    let rebuilt = registry
        .create_trigger(trigger.alias(), &read, &later)
        .unwrap();
    assert_eq!(rebuilt.state(), state, "state of {trigger}");
    assert_eq!(rebuilt.to_string(), trigger.to_string());
    assert_eq!(rebuilt.type_name(), trigger.type_name());
    assert_eq!(
        rebuilt.allow_mistrigger_by_default(),
        trigger.allow_mistrigger_by_default()
    );
    assert_eq!(rebuilt.is_shutdown(), trigger.is_shutdown());
    for tz in [zone("UTC"), zone("America/New_York")] {
        assert_eq!(
            fire_times(rebuilt.as_ref(), tz, "2026-03-01T00:00:00Z", 20),
            fire_times(trigger, tz, "2026-03-01T00:00:00Z", 20),
            "fire times of {trigger}"
        );
    }
}

#[test]
fn date_trigger_state_round_trips() {
    assert_round_trips(&DateTrigger::new(at("2026-05-01T10:11:12.345678Z")));
    assert_round_trips(
        &DateTrigger::new(at("2026-05-01T10:00:00Z")).timezone(zone("Asia/Kolkata")),
    );
    let now = registry()
        .create_trigger(
            "date",
            &serde_json::Map::new(),
            &ctx("2026-01-01T00:00:00Z"),
        )
        .unwrap();
    assert!(now.allow_mistrigger_by_default());
    assert_round_trips(now.as_ref());
}

#[test]
fn interval_trigger_state_round_trips() {
    let created = at("2026-01-01T00:00:00Z");
    assert_round_trips(&IntervalTrigger::new_at(created).minutes(5));
    assert_round_trips(
        &IntervalTrigger::new_at(created)
            .weeks(1)
            .days(2)
            .hours(3)
            .seconds(4)
            .end_at(at("2027-01-01T00:00:00Z"))
            .timezone(zone("Europe/London")),
    );
    assert_round_trips(
        &IntervalTrigger::new_at(created).every(std::time::Duration::from_millis(1500)),
    );
    let built = common::create(
        "interval",
        json!({"hours": "1.5", "start_at": "2026-02-01 09:00:00", "timezone": "Pacific/Chatham", "jitter": 0}),
        "2026-01-01T00:00:00Z",
    )
    .unwrap();
    assert_eq!(built.to_string(), "interval[1:30:00]");
    assert_round_trips(built.as_ref());
}

#[test]
fn cron_trigger_state_round_trips() {
    assert_round_trips(&CronTrigger::builder().minute("*/5").build().unwrap());
    assert_round_trips(
        &CronTrigger::from_crontab("0 9 * * 1-5", Some(zone("America/New_York"))).unwrap(),
    );
    assert_round_trips(
        &CronTrigger::builder()
            .year("2026-2030")
            .month("jan-mar/2,dec")
            .day("1st mon, last, 15")
            .week("*/2")
            .day_of_week("mon-fri/2")
            .hour("9-17/4")
            .second("5/20")
            .start_at(at("2026-01-01T00:00:00Z"))
            .end_at(at("2029-12-31T23:59:59Z"))
            .timezone(zone("Australia/Lord_Howe"))
            .build()
            .unwrap(),
    );
}

#[test]
fn combined_and_shutdown_trigger_states_round_trip() {
    let weekdays: Arc<dyn Trigger> = Arc::new(
        CronTrigger::builder()
            .day_of_week("mon-fri")
            .hour("*")
            .build()
            .unwrap(),
    );
    let nine: Arc<dyn Trigger> = Arc::new(CronTrigger::builder().hour("9").build().unwrap());
    let every: Arc<dyn Trigger> =
        Arc::new(IntervalTrigger::new_at(at("2026-01-01T00:00:00Z")).hours(7));
    let and = AndTrigger::new(vec![weekdays.clone(), nine.clone()]);
    assert_eq!(
        and.to_string(),
        "and[cron[day_of_week='mon-fri', hour='*'], cron[hour='9']]"
    );
    assert_round_trips(&and);
    let or: Arc<dyn Trigger> = Arc::new(OrTrigger::new(vec![nine, every]).jitter(0));
    assert_round_trips(or.as_ref());
    assert_round_trips(&AndTrigger::new(vec![or, weekdays]));
    assert_round_trips(&ShutdownTrigger::new());
}
