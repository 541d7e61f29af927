//! `asyncz preview` end to end: the real binary, its output and its exit codes.
#![allow(clippy::unwrap_used)]

use std::process::Command;

fn asyncz(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_asyncz"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn crontab_weekdays_use_standard_numbering_in_the_given_zone() {
    let (code, out, _) = asyncz(&[
        "preview",
        "--cron",
        "0 9 * * 1-5",
        "--timezone",
        "America/New_York",
        "--from",
        "2026-03-06T00:00:00Z",
        "--count",
        "3",
    ]);
    assert_eq!(code, 0);
    // 2026-03-06 is a Friday; US daylight saving time starts on Sunday 2026-03-08.
    assert_eq!(
        out,
        "2026-03-06 09:00:00 -05:00 (Fri)\n2026-03-09 09:00:00 -04:00 (Mon)\n2026-03-10 09:00:00 -04:00 (Tue)\n"
    );
}

#[test]
fn a_wall_time_in_the_spring_forward_gap_fires_past_the_gap() {
    let (code, out, _) = asyncz(&[
        "preview",
        "--cron",
        "30 2 * * *",
        "--timezone",
        "America/New_York",
        "--from",
        "2026-03-07T12:00:00Z",
        "--count",
        "2",
        "--json",
    ]);
    assert_eq!(code, 0);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        doc,
        serde_json::json!({
            "timezone": "America/New_York",
            "run_times": ["2026-03-08T03:30:00-04:00", "2026-03-09T02:30:00-04:00"],
            "exhausted": false
        })
    );
}

#[test]
fn repeated_fields_build_a_cron_trigger() {
    let (code, out, _) = asyncz(&[
        "preview",
        "--field",
        "day=last fri",
        "--field",
        "hour=10",
        "--from",
        "2026-01-01T00:00:00Z",
        "--count",
        "2",
    ]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out,
        "2026-01-30 10:00:00 +00:00 (Fri)\n2026-02-27 10:00:00 +00:00 (Fri)\n"
    );
}

#[test]
fn intervals_chain_from_their_start_and_stop_at_end_at() {
    let (code, out, _) = asyncz(&[
        "preview",
        "--interval",
        "1h30m",
        "--start-at",
        "2026-01-01T00:00:00Z",
        "--end-at",
        "2026-01-01T03:00:00Z",
        "--from",
        "2026-01-01T00:00:00Z",
        "--json",
    ]);
    assert_eq!(code, 0);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        doc["run_times"],
        serde_json::json!([
            "2026-01-01T00:00:00+00:00",
            "2026-01-01T01:30:00+00:00",
            "2026-01-01T03:00:00+00:00"
        ])
    );
    assert_eq!(doc["exhausted"], serde_json::json!(true));
}

#[test]
fn a_date_fires_once() {
    let (code, out, _) = asyncz(&[
        "preview",
        "--at",
        "2026-05-01T08:00:00+02:00",
        "--timezone",
        "Europe/Paris",
        "--from",
        "2026-01-01T00:00:00Z",
    ]);
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "2026-05-01 08:00:00 +02:00 (Fri)\n(the schedule ends after 1 run time)\n"
    );
}

#[test]
fn bad_input_exits_2_with_one_line_naming_the_problem() {
    let cases: &[(&[&str], &str)] = &[
        (&["preview", "--cron", "0 24 * * *"], "hour"),
        (&["preview", "--cron", "0 9 * *"], "expected 5"),
        (
            &["preview", "--field", "hour=9", "--field", "colour=red"],
            "colour",
        ),
        (&["preview", "--field", "hour"], "NAME=EXPR"),
        (&["preview", "--interval", "90x"], "'90x'"),
        (&["preview", "--at", "tomorrow"], "'tomorrow'"),
        (
            &[
                "preview",
                "--cron",
                "* * * * *",
                "--timezone",
                "Mars/Olympus",
            ],
            "'Mars/Olympus'",
        ),
        (
            &["preview", "--cron", "* * * * *", "--count", "0"],
            "--count",
        ),
        (
            &["preview", "--cron", "* * * * *", "--count", "1001"],
            "--count",
        ),
        (
            &[
                "preview",
                "--cron",
                "* * * * *",
                "--at",
                "2026-01-01T00:00:00Z",
            ],
            "only one schedule",
        ),
        (&["preview"], "needs a schedule"),
        (
            &[
                "preview",
                "--cron",
                "* * * * *",
                "--start-at",
                "2026-01-01T00:00:00Z",
            ],
            "--start-at",
        ),
        (&["preview", "--cron"], "needs a value"),
        (&["preview", "--bogus"], "'--bogus'"),
        (&["frobnicate"], "'frobnicate'"),
    ];
    for (args, fragment) in cases {
        let (code, out, err) = asyncz(args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(out.is_empty(), "{args:?} printed to stdout: {out}");
        assert_eq!(err.lines().count(), 1, "{args:?}: not one line: {err}");
        assert!(
            err.starts_with("asyncz: error: ") && err.contains(fragment),
            "{args:?}: '{err}' lacks '{fragment}'"
        );
    }
}

#[test]
fn help_is_not_an_error() {
    let (code, out, _) = asyncz(&["preview", "--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("--interval"));
    let (code, out, _) = asyncz(&[]);
    assert_eq!(code, 0);
    assert!(out.contains("preview"));
}

#[test]
fn zero_and_ambiguous_intervals_are_rejected_naming_the_value() {
    for (value, fragment) in [
        ("0s", "'0s' is zero"),
        ("0h0m", "'0h0m' is zero"),
        ("0w", "'0w' is zero"),
        ("1M", "'1M' is ambiguous"),
        ("1h30M", "'1h30M' is ambiguous"),
    ] {
        let (code, out, err) = asyncz(&["preview", "--interval", value]);
        assert_eq!(code, 2, "{value}: {out}{err}");
        assert!(out.is_empty());
        assert_eq!(err.lines().count(), 1, "{value}: {err}");
        assert!(
            err.starts_with("asyncz: error: --interval: ") && err.contains(fragment),
            "{value}: {err}"
        );
    }
    // Minutes are `m`; other units may be upper case.
    let (code, out, err) = asyncz(&[
        "preview",
        "--interval",
        "1m",
        "--start-at",
        "2026-01-01T00:00:00Z",
        "--from",
        "2026-01-01T00:00:00Z",
        "--count",
        "2",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "2026-01-01 00:00:00 +00:00 (Thu)\n2026-01-01 00:01:00 +00:00 (Thu)\n"
    );
    let (code, _, err) = asyncz(&["preview", "--interval", "1H", "--count", "1"]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn json_stops_at_the_last_time_rfc3339_can_write() {
    // Every 52 weeks from 9998-06-01: the third run time is in the year 10000.
    let args = [
        "preview",
        "--interval",
        "52w",
        "--start-at",
        "9998-06-01T00:00:00Z",
        "--from",
        "9998-01-01T00:00:00Z",
        "--count",
        "5",
    ];
    let (code, out, err) = asyncz(&[&args[..], &["--json"]].concat());
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        doc,
        serde_json::json!({
            "timezone": "UTC",
            "run_times": ["9998-06-01T00:00:00+00:00", "9999-05-31T00:00:00+00:00"],
            "exhausted": true
        })
    );
    for t in doc["run_times"].as_array().unwrap() {
        assert!(
            chrono::DateTime::parse_from_rfc3339(t.as_str().unwrap()).is_ok(),
            "{t}"
        );
    }
    let (code, out, _) = asyncz(&args);
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "9998-06-01 00:00:00 +00:00 (Mon)\n9999-05-31 00:00:00 +00:00 (Mon)\n\
         (the schedule ends after 2 run times: the next falls outside the years 0000-9999, \
         past what RFC 3339 can write)\n"
    );
}

#[test]
fn the_rfc3339_limit_is_the_year_in_the_output_zone() {
    // 9999-12-31 23:00 UTC is 10000-01-01 08:00 in Tokyo.
    let (code, out, _) = asyncz(&[
        "preview",
        "--at",
        "9999-12-31T23:00:00Z",
        "--timezone",
        "Asia/Tokyo",
        "--from",
        "9999-01-01T00:00:00Z",
        "--json",
    ]);
    assert_eq!(code, 0);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["run_times"], serde_json::json!([]));
    assert_eq!(doc["exhausted"], serde_json::json!(true));
    let (code, out, _) = asyncz(&[
        "preview",
        "--at",
        "9999-12-31T23:00:00Z",
        "--timezone",
        "America/New_York",
        "--from",
        "9999-01-01T00:00:00Z",
        "--json",
    ]);
    assert_eq!(code, 0);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        doc["run_times"],
        serde_json::json!(["9999-12-31T18:00:00-05:00"])
    );
}

#[test]
fn repeating_an_option_keeps_the_last_value() {
    let (code, out, err) = asyncz(&[
        "preview",
        "--cron",
        "0 9 * * *",
        "--from",
        "2026-01-01T00:00:00Z",
        "--count",
        "9",
        "--count",
        "1",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "2026-01-01 09:00:00 +00:00 (Thu)\n");
}
