//! Invalid input is an error that names the field, the offending token or value, and why —
//! one test per class of mistake. Nothing panics.
#![allow(clippy::unwrap_used)]

mod common;

use asyncz_triggers::CronTrigger;
use common::error_of;
use serde_json::json;

#[test]
fn value_above_the_maximum() {
    assert_eq!(
        error_of("cron", json!({"hour": "24"})),
        "invalid cron field 'hour': value 24 is above the maximum 23"
    );
    assert_eq!(
        error_of("cron", json!({"minute": 99999999999u64})),
        "invalid cron field 'minute': value 99999999999 is above the maximum 59"
    );
    assert_eq!(
        error_of("cron", json!({"month": "1-13"})),
        "invalid cron field 'month': value 13 is above the maximum 12"
    );
}

#[test]
fn value_below_the_minimum() {
    assert_eq!(
        error_of("cron", json!({"day": "0"})),
        "invalid cron field 'day': value 0 is below the minimum 1"
    );
    assert_eq!(
        error_of("cron", json!({"year": "1969"})),
        "invalid cron field 'year': value 1969 is below the minimum 1970"
    );
}

#[test]
fn step_zero() {
    assert_eq!(
        error_of("cron", json!({"minute": "*/0"})),
        "invalid cron field 'minute': step 0 in '*/0' must be at least 1"
    );
    assert_eq!(
        error_of("cron", json!({"second": "5-10/0"})),
        "invalid cron field 'second': step 0 in '5-10/0' must be at least 1"
    );
}

#[test]
fn step_larger_than_the_range() {
    assert_eq!(
        error_of("cron", json!({"hour": "*/24"})),
        "invalid cron field 'hour': step 24 in '*/24' is larger than the range it steps through (23)"
    );
}

#[test]
fn first_above_last() {
    assert_eq!(
        error_of("cron", json!({"hour": "17-9"})),
        "invalid cron field 'hour': range '17-9' in '17-9' starts above its end (17 > 9)"
    );
    assert_eq!(
        error_of("cron", json!({"day_of_week": "fri-mon"})),
        "invalid cron field 'day_of_week': range 'fri-mon' in 'fri-mon' starts above its end (4 > 0)"
    );
}

#[test]
fn unknown_names() {
    assert_eq!(
        error_of("cron", json!({"month": "janu"})),
        "invalid cron field 'month': unknown month name 'janu' in 'janu' (expected one of jan, feb, mar, apr, may, jun, jul, aug, sep, oct, nov, dec)"
    );
    assert_eq!(
        error_of("cron", json!({"day_of_week": "mon-fry"})),
        "invalid cron field 'day_of_week': unknown weekday name 'fry' in 'mon-fry' (expected one of mon, tue, wed, thu, fri, sat, sun)"
    );
    assert!(error_of("cron", json!({"day": "6th mon"}))
        .starts_with("invalid cron field 'day': unknown weekday position '6th' in '6th mon'"));
    assert!(error_of("cron", json!({"day": "last funday"}))
        .starts_with("invalid cron field 'day': unknown weekday name 'funday' in 'last funday'"));
}

#[test]
fn unrecognized_expressions() {
    assert!(error_of("cron", json!({"hour": "9am"}))
        .starts_with("invalid cron field 'hour': unrecognized expression '9am'"));
    assert_eq!(
        error_of("cron", json!({"minute": "1,,2"})),
        "invalid cron field 'minute': empty expression"
    );
    assert!(error_of("cron", json!({"hour": 9.5})).starts_with(
        "invalid cron field 'hour': expected an expression string or a whole number, got 9.5"
    ));
}

#[test]
fn wrong_crontab_field_count() {
    let message = CronTrigger::from_crontab("*/5 * * *", None)
        .err()
        .unwrap()
        .to_string();
    assert_eq!(
        message,
        "invalid crontab expression: '*/5 * * *' has 4 fields, expected 5 (minute hour day month day_of_week)"
    );
    assert!(CronTrigger::from_crontab("", None).is_err());
    assert!(CronTrigger::from_crontab("* * * * * *", None).is_err());
}

#[test]
fn crontab_weekday_out_of_range() {
    let message = CronTrigger::from_crontab("0 9 * * 8", None)
        .err()
        .unwrap()
        .to_string();
    assert_eq!(
        message,
        "invalid cron field 'day_of_week': value 8 is above the maximum 7"
    );
}

#[test]
fn unknown_arguments_are_refused() {
    assert!(error_of("cron", json!({"hours": "9"}))
        .starts_with("invalid cron trigger argument 'hours': unknown argument"));
    assert!(error_of("interval", json!({"minute": 5}))
        .starts_with("invalid interval trigger argument 'minute': unknown argument"));
}

#[test]
fn bad_interval_numbers_datetimes_and_zones() {
    assert_eq!(
        error_of("interval", json!({"minutes": "five"})),
        "invalid minutes: expected a non-negative number, got \"five\""
    );
    assert!(error_of("interval", json!({"hours": -1})).starts_with("invalid hours: -1 is negative"));
    assert!(
        error_of("interval", json!({"minutes": 1, "start_at": "tomorrow"}))
            .starts_with("invalid start_at: 'tomorrow' is not a datetime")
    );
    assert_eq!(
        error_of("cron", json!({"hour": 1, "timezone": "Mars/Olympus"})),
        "invalid timezone: unknown time zone 'Mars/Olympus' (expected an IANA name like 'Europe/London')"
    );
    assert!(error_of("date", json!({"run_at": "2026-02-30 10:00:00"}))
        .starts_with("invalid run_at: '2026-02-30 10:00:00' is not a datetime (no such date)"));
    assert!(error_of("cron", json!({"hour": 1, "jitter": 1.5}))
        .starts_with("invalid jitter: expected whole seconds"));
}

#[test]
fn bad_combinations() {
    assert!(error_of("and", json!({})).starts_with("invalid and trigger argument 'triggers'"));
    assert!(error_of("or", json!({"triggers": []})).contains("needs at least one trigger"));
    assert!(error_of("and", json!({"triggers": [{"args": {}}]}))
        .starts_with("invalid and trigger 'triggers[0]': missing the trigger's \"alias\""));
    assert_eq!(
        error_of(
            "or",
            json!({"triggers": [{"alias": "cron", "args": {"hour": "25"}}]})
        ),
        "invalid cron field 'hour': value 25 is above the maximum 23"
    );
    assert!(error_of("or", json!({"triggers": [{"alias": "nope"}]})).contains("nope"));
}
