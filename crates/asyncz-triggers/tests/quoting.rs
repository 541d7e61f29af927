//! Cron errors quote the token they reject with its control characters escaped, so a
//! message (and the log line it lands in) stays one line without escape codes.
#![allow(clippy::unwrap_used)]

mod common;

use asyncz_triggers::CronTrigger;
use common::error_of;
use serde_json::json;

fn assert_plain(message: &str) {
    assert!(
        !message.chars().any(char::is_control),
        "control characters in {message:?}"
    );
}

#[test]
fn a_bad_field_token_is_shown_escaped() {
    let message = error_of("cron", json!({"hour": "9\n[fake] ok\u{1b}[2J"}));
    assert_plain(&message);
    assert!(message.contains(r"'9\n[fake] ok\u{1b}[2J'"), "{message}");
    let message = error_of("cron", json!({"day_of_week": "mon-\rfri"}));
    assert_plain(&message);
    assert!(message.contains(r"\r"), "{message}");
}

#[test]
fn a_bad_field_name_and_crontab_line_are_shown_escaped() {
    let message = CronTrigger::builder()
        .field("hour\n[fake]", "1")
        .unwrap_err()
        .to_string();
    assert_plain(&message);
    assert!(message.contains(r"'hour\n[fake]'"), "{message}");
    let message = CronTrigger::from_crontab("0 9 * *\u{7}", None)
        .unwrap_err()
        .to_string();
    assert_plain(&message);
    let message = CronTrigger::from_crontab("0 9 * * m\u{1b}on", None)
        .unwrap_err()
        .to_string();
    assert_plain(&message);
    assert!(message.contains(r"m\u{1b}on"), "{message}");
}
