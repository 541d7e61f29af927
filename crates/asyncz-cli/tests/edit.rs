//! `add`, `update`, `reschedule` and `preview ID` run as the built binary against SQLite
//! (and PostgreSQL when configured); the task is read back by a library scheduler over the
//! same store. Bad JSON arguments and bad triggers are one-line usage errors.
#![allow(clippy::unwrap_used)]

mod common;

use common::Backend;

fn edit_commands(b: &Backend) {
    // add: every option, read back through the library.
    let added = b
        .cli(&[
            "add",
            "reports.send",
            "--cron",
            "0 9 * * mon-fri",
            "--timezone",
            "Europe/Berlin",
            "--id",
            "report",
            "--name",
            "daily report",
            "--args",
            "[1, \"a\"]",
            "--kwargs",
            "{\"to\": \"ops\"}",
            "--misfire-grace-time",
            "5m",
            "--coalesce",
            "false",
            "--max-instances",
            "3",
            "--json",
        ])
        .json();
    assert_eq!(added["id"], "report");
    assert_eq!(added["name"], "daily report");
    assert_eq!(added["callable_reference"], "reports.send");
    assert_eq!(added["args"], serde_json::json!([1, "a"]));
    assert_eq!(added["kwargs"]["to"], "ops");
    assert_eq!(added["coalesce"], false);
    assert_eq!(added["max_instances"], 3);
    assert_eq!(added["schedule_state"], "scheduled");
    let next = added["next_run_time"].as_str().unwrap();
    let next = chrono::DateTime::parse_from_rfc3339(next).unwrap();
    let local = next.with_timezone(&chrono_tz::Europe::Berlin);
    assert_eq!(local.format("%H:%M").to_string(), "09:00", "{next}");

    let rt = tokio::runtime::Runtime::new().unwrap();
    let info = rt.block_on(async {
        let s = b.scheduler(None);
        s.start_paused().await.unwrap();
        let info = s.get_task_info("report", None).await.unwrap().unwrap();
        s.shutdown(true).await.unwrap();
        info
    });
    assert_eq!(
        info.mistrigger_grace_time,
        Some(std::time::Duration::from_secs(300))
    );
    assert_eq!(info.callable_reference.as_deref(), Some("reports.send"));

    let human = b
        .cli(&["add", "cleanup", "--interval", "90s", "--id", "tidy"])
        .ok()
        .to_owned();
    assert!(
        human.starts_with("added tidy (interval[0:01:30]"),
        "{human}"
    );
    let err = b
        .cli(&["add", "cleanup", "--interval", "90s", "--id", "tidy"])
        .fails(1);
    assert!(err.contains("tidy"), "a conflicting id is named: {err}");
    b.cli(&[
        "add",
        "cleanup",
        "--interval",
        "2m",
        "--id",
        "tidy",
        "--replace-existing",
        "--paused",
    ])
    .ok();
    let tidy = b.cli(&["show", "tidy", "--json"]).json();
    assert_eq!(tidy["schedule_state"], "paused");

    // preview ID: the stored trigger, from its next run time.
    let preview = b
        .cli(&[
            "preview",
            "report",
            "--count",
            "3",
            "--json",
            "--timezone",
            "Europe/Berlin",
        ])
        .json();
    let times = preview["run_times"].as_array().unwrap();
    assert_eq!(times.len(), 3);
    assert!(
        times
            .iter()
            .all(|t| t.as_str().unwrap().contains("T09:00:00+0")),
        "{preview}"
    );
    let err = b
        .cli(&["preview", "report", "--cron", "* * * * *"])
        .fails(2);
    assert!(err.contains("not both"), "{err}");

    // update --dry-run writes nothing; update writes and shows the difference.
    let dry = b
        .cli(&[
            "update",
            "report",
            "--max-instances",
            "5",
            "--name",
            "r2",
            "--dry-run",
        ])
        .ok()
        .to_owned();
    assert_eq!(
        dry,
        "would update report:\n  name: \"daily report\" -> \"r2\"\n  max_instances: 3 -> 5\n"
    );
    assert_eq!(
        b.cli(&["show", "report", "--json"]).json()["max_instances"],
        3
    );
    let done = b
        .cli(&["update", "report", "--max-instances", "5", "--json"])
        .json();
    assert_eq!(done["dry_run"], false);
    assert_eq!(done["changes"]["max_instances"]["from"], 3);
    assert_eq!(done["changes"]["max_instances"]["to"], 5);
    assert_eq!(done["changes"].as_object().unwrap().len(), 1, "{done}");
    assert_eq!(
        b.cli(&["show", "report", "--json"]).json()["max_instances"],
        5
    );
    let dry = b
        .cli(&[
            "update",
            "report",
            "--interval",
            "1h",
            "--dry-run",
            "--json",
        ])
        .json();
    assert!(dry["changes"]["trigger_description"].is_object(), "{dry}");
    assert!(dry["changes"]["next_run_time"].is_object(), "{dry}");
    assert_eq!(
        b.cli(&["show", "report", "--json"]).json()["trigger_name"],
        added["trigger_name"]
    );

    // reschedule: a new trigger and next run time.
    let out = b
        .cli(&[
            "reschedule",
            "report",
            "--at",
            "2099-01-01T00:00:00Z",
            "--json",
        ])
        .json();
    assert_eq!(out["next_run_time"], "2099-01-01T00:00:00+00:00");
    assert_eq!(out["trigger_alias"], "date");
    let err = b.cli(&["reschedule", "nope", "--interval", "1h"]).fails(1);
    assert_eq!(err, "no task with id 'nope'");

    // Bad input: one line naming the value, exit 2, nothing written.
    let err = b
        .cli(&["add", "f", "--interval", "1m", "--args", "[1,"])
        .fails(2);
    assert!(err.starts_with("--args: '[1,' is not valid JSON"), "{err}");
    let err = b
        .cli(&["add", "f", "--interval", "1m", "--args", "{\"a\": 1}"])
        .fails(2);
    assert!(
        err.starts_with(r#"--args: '{\"a\": 1}' is not a JSON array"#),
        "{err}"
    );
    let err = b
        .cli(&["add", "f", "--interval", "1m", "--kwargs", "[1]"])
        .fails(2);
    assert!(
        err.starts_with("--kwargs: '[1]' is not a JSON object"),
        "{err}"
    );
    let err = b.cli(&["add", "f", "--cron", "0 25 * * *"]).fails(2);
    assert!(err.contains("hour") && err.contains("25"), "{err}");
    let err = b.cli(&["add", "f", "--field", "hour=x"]).fails(2);
    assert!(err.contains("'x'") || err.contains("\"x\""), "{err}");
    let err = b.cli(&["add", "f", "--interval", "0s"]).fails(2);
    assert!(err.contains("--interval"), "{err}");
    let err = b.cli(&["add", "f"]).fails(2);
    assert!(err.contains("a schedule is needed"), "{err}");
    let err = b.cli(&["update", "report"]).fails(2);
    assert!(err.starts_with("update: nothing to change"), "{err}");
    let err = b
        .cli(&["update", "report", "--max-instances", "0"])
        .fails(2);
    assert!(err.contains("max_instances"), "{err}");
    let ids: Vec<String> = b
        .cli(&["list", "--json"])
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
}

#[test]
fn add_update_reschedule_on_sqlite() {
    edit_commands(&Backend::sqlite());
}

#[test]
fn add_update_reschedule_on_postgres() {
    if let Some(b) = Backend::postgres("edit") {
        edit_commands(&b);
    }
}
