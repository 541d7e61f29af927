//! The process pool's configuration through the public API: the plugin factory, the config
//! map and the executor's options.
#![allow(clippy::unwrap_used)]

use asyncz_core::{Map, PluginRegistry};
use asyncz_executors_process::{
    ProcessPoolExecutor, ProcessPoolExecutorConfig, ALIAS, DEFAULT_MAX_WORKERS,
};

/// Issue 9: the default was the CPU count; the spec's `ProcessPoolExecutor` takes
/// `max_workers=10`.
#[test]
fn the_default_max_workers_is_ten_as_the_spec_says() {
    assert_eq!(DEFAULT_MAX_WORKERS, 10);
    assert_eq!(ProcessPoolExecutor::new().config().pool.max_workers, 10);
    let from_map = ProcessPoolExecutorConfig::from_map(&Map::new()).unwrap();
    assert_eq!(
        ProcessPoolExecutor::with_config(from_map)
            .config()
            .pool
            .max_workers,
        10
    );
}

#[test]
fn the_factory_reads_the_map_and_names_a_bad_key() {
    let mut registry = PluginRegistry::new();
    asyncz_executors_process::register(&mut registry);
    let mut config = Map::new();
    config.insert("max_workers".into(), "3".into());
    config.insert(
        "pool_kwargs".into(),
        serde_json::json!({"startup_timeout": "1.5"}),
    );
    assert!(registry.create_executor(ALIAS, &config).is_ok());
    config.insert(
        "pool_kwargs".into(),
        serde_json::json!({"mp_context": "fork"}),
    );
    let err = registry
        .create_executor(ALIAS, &config)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("invalid pool_kwargs.mp_context") && err.contains("expected program"),
        "{err}"
    );
}
