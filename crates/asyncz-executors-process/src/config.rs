//! Configuration of the process-pool executor: the spec's `max_workers`, `pool_kwargs`,
//! `cancel_futures` and `overwrite_wait`, read from a plugin configuration map. The
//! `pool_kwargs` that make sense for re-executed Rust binaries are the worker's program,
//! arguments and environment, and how long a worker may take to start.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use asyncz_core::{config, Error, Map, Result, Value};

/// How long a new worker may take to start and register its functions, by default.
pub const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(10);

/// Options of [`crate::ProcessPoolExecutor`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessPoolExecutorConfig {
    /// How many worker processes run at once (default: the number of CPUs). Workers start on
    /// demand and are kept until shutdown; jobs beyond that wait in the pool's queue, and the
    /// wait counts against `mistrigger_grace_time`.
    pub max_workers: u32,
    /// The worker binary (default: this program, `std::env::current_exe()`). It must call
    /// [`crate::worker_main_if_requested`] first thing in `main`.
    pub program: Option<PathBuf>,
    /// Arguments passed to the worker binary.
    pub args: Vec<String>,
    /// Environment variables set for the workers, on top of the parent's environment.
    pub env: BTreeMap<String, String>,
    /// How long a worker may take from spawn to its hello (default 10 s); a worker that does
    /// not answer in time is killed and the run is a `TASK_ERROR`.
    pub startup_timeout: Duration,
    /// How long one run may take in its worker (`None`, the default: no limit). A run still
    /// going after that is a `TASK_ERROR`, and its worker is killed and replaced. Unix only
    /// (elsewhere the limit is not enforced).
    pub task_timeout: Option<Duration>,
    /// Replace a worker after it has run this many tasks (Python's `max_tasks_per_child`;
    /// `None`, the default: workers live until shutdown or until they die).
    pub max_tasks_per_child: Option<u32>,
    /// On shutdown, drop jobs that have not started yet (spec: `cancel_futures`, default false).
    pub cancel_futures: bool,
    /// Replaces the `wait` argument of every shutdown when set (spec: `overwrite_wait`).
    pub overwrite_wait: Option<bool>,
}

impl Default for ProcessPoolExecutorConfig {
    fn default() -> Self {
        ProcessPoolExecutorConfig {
            max_workers: default_max_workers(),
            program: None,
            args: Vec::new(),
            env: BTreeMap::new(),
            startup_timeout: DEFAULT_STARTUP_TIMEOUT,
            max_tasks_per_child: None,
            task_timeout: None,
            cancel_futures: false,
            overwrite_wait: None,
        }
    }
}

/// The number of CPUs (spec: `ProcessPoolExecutor` defaults to the CPU count).
pub fn default_max_workers() -> u32 {
    std::thread::available_parallelism()
        .map(|n| u32::try_from(n.get()).unwrap_or(u32::MAX))
        .unwrap_or(1)
}

const FIELD: &str = "executors.processpool";

impl ProcessPoolExecutorConfig {
    /// Reads `max_workers`, `cancel_futures`, `overwrite_wait` and `pool_kwargs` (`program`,
    /// `args`, `env`, `startup_timeout` and `task_timeout` in seconds, `max_tasks_per_child`); the pool options may also be given at the
    /// top level. Numbers and booleans may be strings, as upstream coerces them. Unknown keys
    /// are rejected by name.
    pub fn from_map(map: &Map) -> Result<Self> {
        let mut out = ProcessPoolExecutorConfig::default();
        for (key, value) in map {
            let field = format!("{FIELD}.{key}");
            match key.as_str() {
                "max_workers" => out.max_workers = config::as_u32(&field, value)?,
                "cancel_futures" => out.cancel_futures = config::as_bool(&field, value)?,
                "overwrite_wait" => {
                    out.overwrite_wait = match value {
                        Value::Null => None,
                        v => Some(config::as_bool(&field, v)?),
                    }
                }
                "pool_kwargs" => match value {
                    Value::Null => {}
                    Value::Object(kwargs) => {
                        for (k, v) in kwargs {
                            out.pool_kwarg(&format!("{field}.{k}"), k, v)?;
                        }
                    }
                    other => {
                        return Err(Error::invalid(
                            field,
                            format!("expected an object of pool options, got {other}"),
                        ))
                    }
                },
                "program"
                | "args"
                | "env"
                | "startup_timeout"
                | "max_tasks_per_child"
                | "task_timeout" => out.pool_kwarg(&field, key, value)?,
                _ => {
                    return Err(Error::invalid(
                        field,
                        "unknown option (expected max_workers, pool_kwargs, program, args, env, \
                         startup_timeout, max_tasks_per_child, task_timeout, cancel_futures, \
                         overwrite_wait)",
                    ))
                }
            }
        }
        Ok(out)
    }

    fn pool_kwarg(&mut self, field: &str, key: &str, value: &Value) -> Result<()> {
        match key {
            "program" => self.program = Some(PathBuf::from(config::string(field, value)?)),
            "args" => {
                let Value::Array(items) = value else {
                    return Err(Error::invalid(
                        field,
                        format!("expected a list of strings, got {value}"),
                    ));
                };
                self.args = items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| config::string(&format!("{field}[{i}]"), v))
                    .collect::<Result<_>>()?;
            }
            "env" => {
                let Value::Object(vars) = value else {
                    return Err(Error::invalid(
                        field,
                        format!("expected an object of variables, got {value}"),
                    ));
                };
                for (name, v) in vars {
                    let text = match v {
                        Value::String(s) => s.clone(),
                        Value::Number(n) => n.to_string(),
                        Value::Bool(b) => b.to_string(),
                        other => {
                            return Err(Error::invalid(
                                format!("{field}.{name}"),
                                format!("{other} is not a string"),
                            ))
                        }
                    };
                    self.env.insert(name.clone(), text);
                }
            }
            "startup_timeout" => {
                let timeout = config::seconds(field, value)?;
                if timeout.is_zero() {
                    return Err(Error::invalid(
                        field,
                        "must be a positive number of seconds, got 0",
                    ));
                }
                self.startup_timeout = timeout;
            }
            "task_timeout" => {
                self.task_timeout = match value {
                    Value::Null => None,
                    v => {
                        let limit = config::seconds(field, v)?;
                        if limit.is_zero() {
                            return Err(Error::invalid(
                                field,
                                "must be null or a positive number of seconds, got 0",
                            ));
                        }
                        Some(limit)
                    }
                }
            }
            "max_tasks_per_child" => {
                self.max_tasks_per_child = match value {
                    Value::Null => None,
                    v => Some(config::as_u32(field, v)?),
                }
            }
            _ => {
                return Err(Error::invalid(
                    field,
                    "unknown pool option (expected program, args, env, startup_timeout, \
                     max_tasks_per_child, task_timeout)",
                ))
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn map(v: Value) -> Map {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn defaults_follow_the_spec() {
        let c = ProcessPoolExecutorConfig::from_map(&Map::new()).unwrap();
        assert_eq!(c.max_workers, default_max_workers());
        assert!(!c.cancel_futures);
        assert_eq!(c.overwrite_wait, None);
        assert_eq!(c.startup_timeout, DEFAULT_STARTUP_TIMEOUT);
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
        assert_eq!(c.max_workers, 3);
        assert!(c.cancel_futures);
        assert_eq!(c.overwrite_wait, Some(true));
        assert_eq!(c.program, Some(PathBuf::from("/usr/local/bin/app")));
        assert_eq!(c.args, ["--quiet"]);
        assert_eq!(c.env.get("WORKERS").map(String::as_str), Some("2"));
        assert_eq!(c.startup_timeout, Duration::from_millis(2500));
        assert_eq!(c.max_tasks_per_child, Some(100));
        assert_eq!(c.task_timeout, Some(Duration::from_secs(30)));
    }

    #[test]
    fn unknown_and_invalid_options_are_named() {
        let err = |v| {
            ProcessPoolExecutorConfig::from_map(&map(v))
                .unwrap_err()
                .to_string()
        };
        let e = err(serde_json::json!({"max_wokers": 2}));
        assert!(e.contains("executors.processpool.max_wokers"), "{e}");
        let e = err(serde_json::json!({"pool_kwargs": {"mp_context": "fork"}}));
        assert!(
            e.contains("executors.processpool.pool_kwargs.mp_context"),
            "{e}"
        );
        let e = err(serde_json::json!({"pool_kwargs": {"env": {"A": [1]}}}));
        assert!(e.contains("pool_kwargs.env.A") && e.contains("[1]"), "{e}");
        let e = err(serde_json::json!({"startup_timeout": -1}));
        assert!(
            e.contains("executors.processpool.startup_timeout") && e.contains("-1"),
            "{e}"
        );
    }
}
