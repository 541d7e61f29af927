//! `timeline`, `status` and `doctor` run as the built binary against SQLite: what they
//! report, their JSON, and their exit codes (an unreachable store is exit 1; `doctor
//! --strict` exits 1 on a warning).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use asyncz::{CallContext, DateTrigger, IntervalTrigger, TaskBuilder};
use chrono::{TimeZone, Utc};
use common::{asyncz, Backend};

fn seed(b: &Backend) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let s = b.scheduler(None);
        s.register("f", |_: CallContext| {}).unwrap();
        s.start_paused().await.unwrap();
        let start = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap();
        s.add_task(
            TaskBuilder::new().id("every-6h").function("f").trigger(
                IntervalTrigger::new()
                    .every(Duration::from_secs(6 * 3600))
                    .start_at(start),
            ),
        )
        .await
        .unwrap();
        s.add_task(
            TaskBuilder::new()
                .id("once")
                .function("f")
                .trigger(DateTrigger::new(start + chrono::Duration::hours(7))),
        )
        .await
        .unwrap();
        s.add_task(
            TaskBuilder::new()
                .id("asleep")
                .function("f")
                .trigger(IntervalTrigger::new().every(Duration::from_secs(60)))
                .paused(),
        )
        .await
        .unwrap();
        s.shutdown(true).await.unwrap();
    });
}

#[test]
fn timeline_sorts_fires_across_tasks() {
    let b = Backend::sqlite();
    seed(&b);
    let list = b
        .cli(&[
            "timeline",
            "--from",
            "2030-01-01T00:00:00Z",
            "--until",
            "2030-01-01T12:00:00Z",
            "--json",
        ])
        .json();
    let got: Vec<(String, String)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["time"].as_str().unwrap().to_owned(),
                f["task_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want = [
        ("2030-01-01T00:00:00+00:00", "every-6h"),
        ("2030-01-01T06:00:00+00:00", "every-6h"),
        ("2030-01-01T07:00:00+00:00", "once"),
        ("2030-01-01T12:00:00+00:00", "every-6h"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect();
    assert_eq!(got, want);
    let table = b
        .cli(&[
            "timeline",
            "--from",
            "2030-01-01T00:00:00Z",
            "--until",
            "2030-01-01T12:00:00Z",
            "--limit",
            "2",
        ])
        .ok()
        .to_owned();
    assert_eq!(table.lines().count(), 3, "{table}");
    assert!(table.starts_with("TIME"), "{table}");
    let err = b.cli(&["timeline", "--from", "tomorrow"]).fails(2);
    assert!(
        err.starts_with("--from: 'tomorrow' is not an RFC 3339 date-time"),
        "{err}"
    );
}

#[test]
fn status_counts_tasks_per_store_and_fails_on_an_unreachable_one() {
    let b = Backend::sqlite();
    seed(&b);
    let doc = b.cli(&["status", "--json"]).json();
    assert_eq!(doc[0]["store"], "default");
    assert_eq!(doc[0]["reachable"], true);
    assert_eq!(doc[0]["tasks_scheduled"], 2);
    assert_eq!(doc[0]["tasks_paused"], 1);
    assert_eq!(doc[0]["undecodable"], 0);
    assert_eq!(doc[0]["nodes_alive"], 0);
    assert_eq!(doc[0]["next_fire"], "2030-01-01T00:00:00+00:00");
    let db = b.dir.path().join("tasks.db");
    let out = asyncz(&[
        "status",
        "--store",
        &format!("ok=sqlite://{}", db.display()),
        "--store",
        "down=postgres://postgres@127.0.0.1:1/test",
        "--connect-timeout",
        "0.5",
    ]);
    assert_eq!(out.fails(1), "unreachable store(s): 'down'");
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with("ok ") && l.contains(" yes ")),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with("down ") && l.contains(" no ")),
        "{}",
        out.stdout
    );
}

#[test]
fn doctor_warns_and_strict_fails_on_warnings() {
    let b = Backend::sqlite();
    seed(&b);
    // A date in the past on a paused task: it will never fire again.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let s = b.scheduler(None);
        s.register("f", |_: CallContext| {}).unwrap();
        s.start_paused().await.unwrap();
        s.add_task(
            TaskBuilder::new()
                .id("gone")
                .function("f")
                .trigger(DateTrigger::new(Utc::now() - chrono::Duration::days(1)))
                .paused(),
        )
        .await
        .unwrap();
        s.shutdown(true).await.unwrap();
    });
    let doc = b.cli(&["doctor", "--json"]).json();
    let checks = doc["checks"].as_array().unwrap();
    let never = checks.iter().find(|c| c["check"] == "never_fires").unwrap();
    assert_eq!(never["level"], "warn");
    assert_eq!(never["ids"], serde_json::json!(["gone"]));
    let conn = checks
        .iter()
        .find(|c| c["check"] == "connectivity")
        .unwrap();
    assert_eq!(conn["level"], "ok");
    let schema = checks.iter().find(|c| c["check"] == "schema").unwrap();
    assert_eq!(schema["level"], "ok", "{schema}");
    assert_eq!(schema["message"], "schema version 3 (current)");
    // No live node publishes its functions here, so that check says it could not judge.
    let functions = checks.iter().find(|c| c["check"] == "functions").unwrap();
    assert_eq!(functions["level"], "info", "{functions}");
    // The SQLite store keeps a node registry: with tasks and no live node, doctor says so.
    assert!(
        checks
            .iter()
            .any(|c| c["check"] == "nodes" && c["level"] == "warn"),
        "{doc}"
    );
    assert_eq!(doc["errors"], 0);
    let out = b.cli(&["doctor", "--strict"]);
    let err = out.fails(1);
    assert!(err.starts_with("doctor found 0 error(s) and "), "{err}");
    assert!(
        out.stdout.contains("will never fire again: gone"),
        "{}",
        out.stdout
    );
    let out = asyncz(&[
        "doctor",
        "--store",
        "redis://127.0.0.1:1",
        "--connect-timeout",
        "0.5",
    ]);
    assert!(out.fails(1).starts_with("doctor found 1 error(s)"));
    assert!(out.stdout.contains("unreachable"), "{}", out.stdout);
}
