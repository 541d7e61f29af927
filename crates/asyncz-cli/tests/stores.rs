//! The task commands (`list`, `show`, `pause`, `resume`, `remove`) run as the built binary
//! against SQLite always and PostgreSQL, Redis and MongoDB when their `ASYNCZ_TEST_*_URL` is
//! set, with tasks seeded by a library scheduler over the same store; and the one-line errors
//! and exit codes of bad input.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use asyncz::{DateTrigger, IntervalTrigger, TaskBuilder};
use chrono::{DateTime, Utc};
use common::{asyncz, Backend};

/// Seeds: `hourly` (interval 1h), `overdue` (a date an hour ago: due, never run here),
/// `sleeping` (paused).
async fn seed(backend: &Backend) -> DateTime<Utc> {
    let scheduler = backend.scheduler(None);
    scheduler
        .register("reports.send", |_: asyncz::CallContext| {})
        .unwrap();
    scheduler
        .register("cleanup", |_: asyncz::CallContext| {})
        .unwrap();
    scheduler.start_paused().await.unwrap();
    let overdue_at = asyncz::truncate_to_micros(Utc::now() - chrono::Duration::hours(1));
    scheduler
        .add_task(
            TaskBuilder::new()
                .id("hourly")
                .name("report")
                .function("reports.send")
                .trigger(IntervalTrigger::new().every(Duration::from_secs(3600)))
                .kwarg("to", "ops"),
        )
        .await
        .unwrap();
    scheduler
        .add_task(
            TaskBuilder::new()
                .id("overdue")
                .function("cleanup")
                .trigger(DateTrigger::new(overdue_at))
                .arg(7),
        )
        .await
        .unwrap();
    scheduler
        .add_task(
            TaskBuilder::new()
                .id("sleeping")
                .function("cleanup")
                .trigger(IntervalTrigger::new().every(Duration::from_secs(60)))
                .paused(),
        )
        .await
        .unwrap();
    scheduler.shutdown(true).await.unwrap();
    overdue_at
}

async fn stored_next_run_time(backend: &Backend, id: &str) -> Option<DateTime<Utc>> {
    let scheduler = backend.scheduler(None);
    scheduler.start_paused().await.unwrap();
    let info = scheduler.get_task_info(id, None).await.unwrap();
    scheduler.shutdown(true).await.unwrap();
    info.and_then(|i| i.next_run_time)
}

fn ids(list: &serde_json::Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn task_commands(backend: Backend) {
    let began = Instant::now();
    let overdue_at = seed(&backend).await;

    // list: sorted by next run time, paused last; the JSON has the documented fields.
    let list = backend.cli(&["list", "--json"]).json();
    assert_eq!(
        ids(&list),
        ["overdue", "hourly", "sleeping"],
        "{}",
        backend.name
    );
    let hourly = &list[1];
    assert_eq!(hourly["name"], "report");
    assert_eq!(hourly["callable_reference"], "reports.send");
    assert_eq!(hourly["schedule_state"], "scheduled");
    assert_eq!(hourly["kwargs"]["to"], "ops");
    assert_eq!(list[0]["args"][0], 7);
    assert_eq!(list[2]["schedule_state"], "paused");
    assert!(list[2]["next_run_time"].is_null());

    let table = backend.cli(&["list"]).ok().to_owned();
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("ID "), "{table}");
    assert!(lines[0].contains("NEXT RUN"), "{table}");
    assert!(lines[1].starts_with("overdue "), "{table}");
    assert!(lines[1].contains("1h ago"), "{table}");
    assert!(
        lines[2].contains("in 59m") || lines[2].contains("in 1h"),
        "{table}"
    );
    let filtered = backend.cli(&["list", "--json", "--state", "paused"]).json();
    assert_eq!(ids(&filtered), ["sleeping"]);
    let globbed = backend.cli(&["list", "--json", "--id", "rep*"]).json();
    assert_eq!(ids(&globbed), ["hourly"], "the glob matches names too");
    let desc = backend
        .cli(&["list", "--json", "--sort-by", "id", "--desc"])
        .json();
    assert_eq!(ids(&desc), ["sleeping", "overdue", "hourly"]);

    // show: human and JSON, with the next fire times.
    let shown = backend.cli(&["show", "hourly", "--json"]).json();
    assert_eq!(shown["id"], "hourly");
    assert_eq!(shown["trigger_words"], "every hour", "{shown}");
    let fires = shown["next_fire_times"].as_array().unwrap();
    assert_eq!(fires.len(), 10);
    let first = DateTime::parse_from_rfc3339(fires[0].as_str().unwrap()).unwrap();
    let second = DateTime::parse_from_rfc3339(fires[1].as_str().unwrap()).unwrap();
    assert_eq!(second - first, chrono::Duration::hours(1));
    let text = backend
        .cli(&["show", "overdue", "--timezone", "Europe/Berlin"])
        .ok()
        .to_owned();
    assert!(text.contains("function:      cleanup"), "{text}");
    assert!(text.contains("args:          [7]"), "{text}");
    assert!(text.contains("next fires:"), "{text}");
    assert!(
        text.contains(
            &overdue_at
                .with_timezone(&chrono_tz::Europe::Berlin)
                .format("%Y-%m-%d %H:%M:%S %:z")
                .to_string()
        ),
        "{text}"
    );

    // Reading never runs or advances the overdue task.
    assert_eq!(
        stored_next_run_time(&backend, "overdue").await,
        Some(overdue_at)
    );

    // pause / resume / remove, human and JSON.
    assert_eq!(backend.cli(&["pause", "hourly"]).ok(), "paused hourly\n");
    let listed = backend.cli(&["show", "hourly", "--json"]).json();
    assert_eq!(listed["schedule_state"], "paused");
    assert!(listed["next_fire_times"].as_array().unwrap().is_empty());
    let resumed = backend.cli(&["resume", "hourly", "--json"]).json();
    assert_eq!(resumed[0]["action"], "resumed");
    assert_eq!(resumed[0]["task"]["schedule_state"], "scheduled");
    assert_eq!(
        backend.cli(&["remove", "sleeping", "overdue"]).ok(),
        "removed sleeping\nremoved overdue\n",
        "stdin is not a TTY: no question"
    );
    assert_eq!(ids(&backend.cli(&["list", "--json"]).json()), ["hourly"]);

    // Unknown ids fail with exit 1, naming the id, and change nothing.
    for command in ["show", "pause", "resume", "remove"] {
        let err = backend.cli(&[command, "nope"]).fails(1);
        assert_eq!(err, "no task with id 'nope'", "{command}");
    }
    let err = backend.cli(&["pause", "hourly", "nope"]).fails(1);
    assert_eq!(err, "no task with id 'nope'");
    println!("{}: {:?}", backend.name, began.elapsed());
}

#[tokio::test(flavor = "multi_thread")]
async fn task_commands_on_sqlite() {
    task_commands(Backend::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn task_commands_on_postgres() {
    if let Some(b) = Backend::postgres("tasks") {
        task_commands(b).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn task_commands_on_redis() {
    if let Some(b) = Backend::redis("tasks") {
        task_commands(b).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn task_commands_on_mongo() {
    if let Some(b) = Backend::mongo("tasks") {
        task_commands(b).await;
    }
}

#[test]
fn a_store_that_is_not_a_url_is_a_usage_error() {
    let err = asyncz(&["list", "--store", "tasks.db"]).fails(2);
    assert_eq!(
        err,
        "--store: 'tasks.db' is not a URL (expected scheme://..., e.g. sqlite://tasks.db)"
    );
}

#[test]
fn an_unknown_scheme_is_a_usage_error_naming_it() {
    let err = asyncz(&["list", "--store", "ftp://host/x"]).fails(2);
    assert!(
        err.starts_with("--store: unknown scheme 'ftp' in 'ftp://host/x'"),
        "{err}"
    );
}

#[test]
fn no_store_is_a_usage_error() {
    let err = asyncz(&["list"]).fails(2);
    assert!(err.starts_with("no store: give --store URL"), "{err}");
}

#[test]
fn an_unreachable_server_fails_quickly_naming_it() {
    let began = Instant::now();
    // Port 1 is closed: the connection is refused at once, retried until the timeout.
    let err = asyncz(&[
        "list",
        "--store",
        "postgres://postgres@127.0.0.1:1/test",
        "--connect-timeout",
        "0.5",
    ])
    .fails(1);
    assert!(err.contains("127.0.0.1:1"), "{err}");
    assert!(
        began.elapsed() < Duration::from_secs(5),
        "{:?}",
        began.elapsed()
    );
    let err = asyncz(&[
        "list",
        "--store",
        "redis://127.0.0.1:1",
        "--connect-timeout",
        "0.5",
    ])
    .fails(1);
    assert!(err.contains("127.0.0.1:1"), "{err}");
}

#[test]
fn a_bad_config_file_is_a_usage_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("asyncz.toml");
    std::fs::write(&path, "[asyncz.stores.default\n").unwrap();
    let p = path.to_str().unwrap();
    let err = asyncz(&["list", "--config", p]).fails(2);
    assert!(err.contains("is not valid TOML"), "{err}");
    std::fs::write(
        &path,
        "[asyncz.stores.default]\nurl = \"sqlite://x.db\"\ncolour = 1\n",
    )
    .unwrap();
    let err = asyncz(&["list", "--config", p]).fails(2);
    assert!(err.contains("colour"), "{err}");
    let err = asyncz(&["list", "--config", "/nonexistent/asyncz.toml"]).fails(2);
    assert!(err.contains("'/nonexistent/asyncz.toml'"), "{err}");
}

#[test]
fn a_bad_timezone_is_a_usage_error() {
    let b = Backend::sqlite();
    let err = b.cli(&["list", "--timezone", "Mars/Base"]).fails(2);
    assert_eq!(err, "--timezone: unknown time zone 'Mars/Base'");
}
