//! Configuration of the process-pool executor: the spec's `max_workers`, `cancel_futures`
//! and `overwrite_wait` (the [`PoolConfig`] it shares with the thread pool) and
//! `pool_kwargs`, read from a plugin configuration map. The `pool_kwargs` that make sense for
//! re-executed Rust binaries are the worker's program, arguments and environment, and how
//! long a worker may take to start.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use asyncz_core::plugin_config::{
    optional_positive_seconds, optional_positive_u32, parse_pool_config, positive_seconds,
    string_values, PoolConfig,
};
use asyncz_core::{Map, PluginConfig, Result};
use serde::Deserialize;

/// The default number of worker processes (spec: `ProcessPoolExecutor(max_workers=10)`).
pub use asyncz_core::plugin_config::DEFAULT_MAX_WORKERS;

/// How long a new worker may take to start and register its functions, by default.
pub const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(10);

/// Options of [`crate::ProcessPoolExecutor`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ProcessPoolExecutorConfig {
    /// `max_workers` (how many worker processes run at once, default 10; workers start on
    /// demand and are kept until shutdown, and jobs beyond that wait in the pool's queue,
    /// the wait counting against `mistrigger_grace_time`), `cancel_futures`,
    /// `overwrite_wait`.
    #[serde(flatten)]
    pub pool: PoolConfig,
    /// `program`: the worker binary (default: this program, `std::env::current_exe()`). It
    /// must call [`crate::worker_main_if_requested`] first thing in `main`.
    #[serde(default)]
    pub program: Option<PathBuf>,
    /// `args`: arguments passed to the worker binary.
    #[serde(default)]
    pub args: Vec<String>,
    /// `env`: environment variables set for the workers, on top of the parent's environment
    /// (numbers and booleans are taken as their text).
    #[serde(default, deserialize_with = "string_values")]
    pub env: BTreeMap<String, String>,
    /// `startup_timeout`: how long a worker may take from spawn to its hello (default 10 s;
    /// in seconds, above zero); a worker that does not answer in time is killed and the run
    /// is a `TASK_ERROR`.
    #[serde(
        default = "default_startup_timeout",
        deserialize_with = "positive_seconds"
    )]
    pub startup_timeout: Duration,
    /// `task_timeout`: how long one run may take in its worker (`None`, the default or null:
    /// no limit). A run still going after that is a `TASK_ERROR`, and its worker is killed and
    /// replaced. Unix only (elsewhere the limit is not enforced).
    #[serde(default, deserialize_with = "optional_positive_seconds")]
    pub task_timeout: Option<Duration>,
    /// `max_tasks_per_child`: replace a worker after it has run this many tasks (Python's
    /// `max_tasks_per_child`; `None`, the default or null: workers live until shutdown or
    /// until they die).
    #[serde(default, deserialize_with = "optional_positive_u32")]
    pub max_tasks_per_child: Option<u32>,
}

fn default_startup_timeout() -> Duration {
    DEFAULT_STARTUP_TIMEOUT
}

impl Default for ProcessPoolExecutorConfig {
    fn default() -> Self {
        ProcessPoolExecutorConfig {
            pool: PoolConfig::default(),
            program: None,
            args: Vec::new(),
            env: BTreeMap::new(),
            startup_timeout: DEFAULT_STARTUP_TIMEOUT,
            max_tasks_per_child: None,
            task_timeout: None,
        }
    }
}

impl PluginConfig for ProcessPoolExecutorConfig {
    fn accepted_keys() -> Vec<&'static str> {
        let mut keys = PoolConfig::accepted_keys();
        keys.extend([
            "pool_kwargs",
            "program",
            "args",
            "env",
            "startup_timeout",
            "task_timeout",
            "max_tasks_per_child",
        ]);
        keys
    }
}

impl ProcessPoolExecutorConfig {
    asyncz_core::pool_setters!();

    /// The worker binary (default: this program).
    pub fn program(mut self, program: impl Into<PathBuf>) -> Self {
        self.program = Some(program.into());
        self
    }

    /// Arguments passed to the worker binary.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args = args.into_iter().map(Into::into).collect();
        self
    }

    /// Sets one environment variable for the workers (on top of the parent's environment).
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.insert(key.into(), value.into());
        self
    }

    /// How long a worker may take from spawn to its hello.
    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = timeout;
        self
    }

    /// How long one run may take in its worker (default: no limit).
    pub fn task_timeout(mut self, timeout: Duration) -> Self {
        self.task_timeout = Some(timeout);
        self
    }

    /// Replace a worker after it has run this many tasks (default: never).
    pub fn max_tasks_per_child(mut self, tasks: u32) -> Self {
        self.max_tasks_per_child = Some(tasks);
        self
    }

    /// Reads `max_workers`, `cancel_futures`, `overwrite_wait` and `pool_kwargs` (`program`,
    /// `args`, `env`, `startup_timeout` and `task_timeout` in seconds, `max_tasks_per_child`,
    /// which may also be given at the top level). Numbers and booleans may be strings, as
    /// upstream coerces them; an error names the key and the value, and an unknown key is
    /// rejected.
    pub fn from_map(map: &Map) -> Result<Self> {
        parse_pool_config(map)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use asyncz_core::{Error, Value};

    fn map(v: Value) -> Map {
        serde_json::from_value(v).unwrap()
    }

    fn field_and_message(v: Value) -> (String, String) {
        match ProcessPoolExecutorConfig::from_map(&map(v)).unwrap_err() {
            Error::InvalidArgument { field, message } => (field, message),
            other => panic!("{other}"),
        }
    }

    #[test]
    fn defaults_follow_the_spec() {
        let c = ProcessPoolExecutorConfig::from_map(&Map::new()).unwrap();
        assert_eq!(c, ProcessPoolExecutorConfig::default());
        assert_eq!(c.pool.max_workers, 10);
        assert!(!c.pool.cancel_futures);
        assert_eq!(c.pool.overwrite_wait, None);
        assert_eq!(c.startup_timeout, DEFAULT_STARTUP_TIMEOUT);
        assert_eq!((c.task_timeout, c.max_tasks_per_child), (None, None));
    }

    /// Each setter sets the option its map key does.
    #[test]
    fn the_setters_match_the_map_keys() {
        let from_map = ProcessPoolExecutorConfig::from_map(&map(serde_json::json!({
            "max_workers": 3, "cancel_futures": true, "overwrite_wait": true,
            "program": "/usr/local/bin/app", "args": ["--quiet", "-v"],
            "env": {"RUST_LOG": "info", "WORKERS": "2"}, "startup_timeout": 2,
            "task_timeout": 30, "max_tasks_per_child": 100,
        })))
        .unwrap();
        let built = ProcessPoolExecutorConfig::default()
            .pool(PoolConfig::with_max_workers(1).cancel_futures(true))
            .max_workers(3)
            .overwrite_wait(true)
            .program("/usr/local/bin/app")
            .args(["--quiet", "-v"])
            .env("RUST_LOG", "info")
            .env("WORKERS", "2")
            .startup_timeout(Duration::from_secs(2))
            .task_timeout(Duration::from_secs(30))
            .max_tasks_per_child(100);
        assert_eq!(built, from_map);
    }

    #[test]
    fn reads_pool_kwargs_and_coerces_values() {
        let c = ProcessPoolExecutorConfig::from_map(&map(serde_json::json!({
            "max_workers": "3",
            "cancel_futures": "yes",
            "overwrite_wait": true,
            "pool_kwargs": {
                "program": "/usr/local/bin/app",
                "args": ["--quiet"],
                "env": {"RUST_LOG": "info", "WORKERS": 2},
                "startup_timeout": "2.5",
                "max_tasks_per_child": 100,
                "task_timeout": 30
            }
        })))
        .unwrap();
        assert_eq!(c.pool.max_workers, 3);
        assert!(c.pool.cancel_futures);
        assert_eq!(c.pool.overwrite_wait, Some(true));
        assert_eq!(c.program, Some(PathBuf::from("/usr/local/bin/app")));
        assert_eq!(c.args, ["--quiet"]);
        assert_eq!(c.env.get("WORKERS").map(String::as_str), Some("2"));
        assert_eq!(c.startup_timeout, Duration::from_millis(2500));
        assert_eq!(c.max_tasks_per_child, Some(100));
        assert_eq!(c.task_timeout, Some(Duration::from_secs(30)));
        let c = ProcessPoolExecutorConfig::from_map(&map(
            serde_json::json!({"task_timeout": null, "max_tasks_per_child": "7"}),
        ))
        .unwrap();
        assert_eq!((c.task_timeout, c.max_tasks_per_child), (None, Some(7)));
    }

    #[test]
    fn unknown_and_invalid_options_are_named() {
        for (bad, field, fragment) in [
            (
                serde_json::json!({"max_wokers": 2}),
                "max_wokers",
                "expected max_workers, cancel_futures, overwrite_wait, pool_kwargs, program, args",
            ),
            (
                serde_json::json!({"pool_kwargs": {"mp_context": "fork"}}),
                "pool_kwargs.mp_context",
                "unknown pool option (expected program, args, env",
            ),
            (
                serde_json::json!({"pool_kwargs": {"env": {"A": [1]}}}),
                "pool_kwargs.env.A",
                "[1]",
            ),
            (
                serde_json::json!({"startup_timeout": -1}),
                "startup_timeout",
                "-1",
            ),
            (
                serde_json::json!({"startup_timeout": 0}),
                "startup_timeout",
                "0 is not a positive",
            ),
            (
                serde_json::json!({"task_timeout": 0}),
                "task_timeout",
                "0 is not a positive",
            ),
            (
                serde_json::json!({"max_tasks_per_child": 0}),
                "max_tasks_per_child",
                "got 0",
            ),
            (serde_json::json!({"args": ["a", 1]}), "args[1]", "1"),
            (
                serde_json::json!({"pool_kwargs": {"args": "a"}}),
                "pool_kwargs.args",
                "\"a\"",
            ),
            (
                serde_json::json!({"max_workers": "lots"}),
                "max_workers",
                "'lots'",
            ),
        ] {
            let (f, message) = field_and_message(bad.clone());
            assert_eq!(f, field, "{bad}: {message}");
            assert!(
                message.contains(fragment),
                "{bad}: '{message}' lacks '{fragment}'"
            );
        }
    }

    /// The hand-written key list (serde has none for a struct with a flattened field) names
    /// only keys the struct reads.
    #[test]
    fn every_listed_key_is_read() {
        for key in ProcessPoolExecutorConfig::accepted_keys() {
            let (field, message) = field_and_message(serde_json::json!({ key: {"x": []} }));
            assert!(field.starts_with(key), "{key}: {field}");
            assert!(!message.contains("unknown option"), "{key}: {message}");
        }
    }
}
