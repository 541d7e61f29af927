//! The configuration map: the spec's `asyncz.*` keys, string coercion and clear errors.

use std::time::Duration;

use asyncz::{chrono_tz, Error, Map, SchedulerConfig};
use serde_json::json;

fn map(v: serde_json::Value) -> Map {
    v.as_object().cloned().expect("an object")
}

#[tokio::test]
async fn a_scheduler_is_built_from_the_spec_config_keys() {
    let scheduler = asyncz::builder()
        .config(map(json!({
            "asyncz.timezone": "America/New_York",
            "asyncz.stores.default.type": "memory",
            "asyncz.stores.archive": {"type": "memory"},
            "asyncz.executors.default": {"type": "tokio"},
            "asyncz.executors.pool.type": "asyncio",
            "asyncz.executors.pool.max_workers": "20",
            "asyncz.task_defaults.coalesce": "false",
            "asyncz.task_defaults.max_instances": "3",
            "asyncz.task_defaults.mistrigger_grace_time": "30",
            "asyncz.store_retry_interval": 2,
            "not.asyncz.key": "ignored: other prefix",
        })))
        .build()
        .unwrap();
    assert_eq!(scheduler.timezone(), chrono_tz::America::New_York);
    assert_eq!(scheduler.store_aliases(), ["default", "archive"]);
    assert_eq!(scheduler.executor_aliases(), ["default", "pool"]);
    let d = scheduler.task_defaults();
    assert!(!d.coalesce);
    assert_eq!(d.max_instances, 3);
    assert_eq!(d.mistrigger_grace_time, Some(Duration::from_secs(30)));
    assert_eq!(scheduler.store_retry_interval(), Duration::from_secs(2));
    scheduler.start().await.unwrap();
    scheduler.shutdown(true).await.unwrap();
}

#[test]
fn bad_config_values_name_the_key_and_value() {
    let cases = [
        (
            json!({"asyncz.timezone": "Mars/Olympus"}),
            "asyncz.timezone",
            "'Mars/Olympus'",
        ),
        (
            json!({"asyncz.task_defaults.coalesce": "perhaps"}),
            "asyncz.task_defaults.coalesce",
            "'perhaps'",
        ),
        (
            json!({"asyncz.task_defaults.max_instances": "0"}),
            "asyncz.task_defaults.max_instances",
            "0",
        ),
        (
            json!({"asyncz.task_defaults.max_instances": "three"}),
            "asyncz.task_defaults.max_instances",
            "'three'",
        ),
        (
            json!({"asyncz.task_defaults.mistrigger_grace_time": 0}),
            "mistrigger_grace_time",
            "0",
        ),
        (
            json!({"asyncz.task_defaults.colour": 1}),
            "asyncz.task_defaults.colour",
            "unknown",
        ),
        (
            json!({"asyncz.stores.default": {"database": "0"}}),
            "asyncz.stores.default",
            "'type'",
        ),
        (
            json!({"asyncz.executors.pool": {"class": "asyncz.executors.pool:ThreadPoolExecutor"}}),
            "asyncz.executors.pool",
            "'class'",
        ),
        (
            json!({"asyncz.bogus": 1}),
            "asyncz.bogus",
            "unknown configuration key",
        ),
    ];
    for (config, field, fragment) in cases {
        let err = SchedulerConfig::from_map(&map(config.clone()), Some("asyncz.")).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, Error::InvalidArgument { .. }), "{text}");
        assert!(
            text.contains(field) && text.contains(fragment),
            "{config}: '{text}' lacks '{field}' / '{fragment}'"
        );
    }
}

#[test]
fn unknown_plugins_and_options_are_rejected_when_building() {
    let err = asyncz::builder()
        .config(map(json!({"asyncz.stores.default.type": "etcd"})))
        .build()
        .unwrap_err()
        .to_string();
    assert!(err.contains("store 'etcd'"), "{err}");
    let err = asyncz::builder()
        .config(map(
            json!({"asyncz.executors.default": {"type": "tokio", "max_wokers": 3}}),
        ))
        .build()
        .unwrap_err()
        .to_string();
    // The error names the user's alias and key, not the plugin kind.
    assert!(err.contains("asyncz.executors.default.max_wokers"), "{err}");
}

#[test]
fn booleans_coerce_like_upstream() {
    for (raw, expected) in [
        ("true", true),
        ("Yes", true),
        ("on", true),
        ("1", true),
        ("false", false),
        ("no", false),
        ("OFF", false),
        ("0", false),
    ] {
        assert_eq!(
            asyncz::config::as_bool("f", &json!(raw)).unwrap(),
            expected,
            "{raw}"
        );
    }
    assert!(asyncz::config::as_bool("f", &json!(2)).is_err());
}

#[tokio::test]
async fn setup_reconfigures_a_stopped_scheduler() {
    let scheduler = asyncz::builder().build().unwrap();
    scheduler
        .setup(&map(
            json!({"asyncz.task_defaults": {"max_instances": 7}, "asyncz.logger_name": "worker-a"}),
        ))
        .unwrap();
    assert_eq!(scheduler.task_defaults().max_instances, 7);
    let bad = scheduler.setup(&map(json!({"asyncz.task_defaults": {"max_instances": -1}})));
    assert!(bad.is_err());
    assert_eq!(
        scheduler.task_defaults().max_instances,
        7,
        "a rejected setup changes nothing"
    );
}
