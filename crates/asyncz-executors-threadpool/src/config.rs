//! Configuration of the thread-pool executor: the spec's `max_workers`, `pool_kwargs`,
//! `cancel_futures` and `overwrite_wait`, read from a plugin configuration map.

use asyncz_core::{config, Error, Map, Result, Value};

/// The default number of pool threads (spec: `max_workers=10`).
pub const DEFAULT_MAX_WORKERS: u32 = 10;
/// The default thread name prefix; threads are named `<prefix><index>`.
pub const DEFAULT_THREAD_NAME_PREFIX: &str = "asyncz-pool-";

/// Options of [`crate::ThreadPoolExecutor`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadPoolExecutorConfig {
    /// How many threads the pool has (spec default 10). Jobs beyond that wait in the pool's
    /// queue; the wait counts against `mistrigger_grace_time`.
    pub max_workers: u32,
    /// Pool threads are named `<prefix><index>` (spec: `pool_kwargs.thread_name_prefix`).
    pub thread_name_prefix: String,
    /// Stack size of each pool thread in bytes (`None`: the platform default).
    pub stack_size: Option<usize>,
    /// On shutdown, drop jobs that have not started yet (spec: `cancel_futures`, default false).
    pub cancel_futures: bool,
    /// Replaces the `wait` argument of every shutdown when set (spec: `overwrite_wait`).
    pub overwrite_wait: Option<bool>,
}

impl Default for ThreadPoolExecutorConfig {
    fn default() -> Self {
        ThreadPoolExecutorConfig {
            max_workers: DEFAULT_MAX_WORKERS,
            thread_name_prefix: DEFAULT_THREAD_NAME_PREFIX.to_owned(),
            stack_size: None,
            cancel_futures: false,
            overwrite_wait: None,
        }
    }
}

const FIELD: &str = "executors.threadpool";

impl ThreadPoolExecutorConfig {
    /// Reads `max_workers`, `pool_kwargs` (`thread_name_prefix`, `stack_size`),
    /// `cancel_futures` and `overwrite_wait` (numbers and booleans may be strings, as
    /// upstream coerces them). Unknown keys are rejected by name.
    pub fn from_map(map: &Map) -> Result<Self> {
        let mut out = ThreadPoolExecutorConfig::default();
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
                "thread_name_prefix" | "stack_size" => out.pool_kwarg(&field, key, value)?,
                _ => {
                    return Err(Error::invalid(
                        field,
                        "unknown option (expected max_workers, pool_kwargs, thread_name_prefix, \
                         stack_size, cancel_futures, overwrite_wait)",
                    ))
                }
            }
        }
        Ok(out)
    }

    fn pool_kwarg(&mut self, field: &str, key: &str, value: &Value) -> Result<()> {
        match key {
            "thread_name_prefix" => self.thread_name_prefix = config::string(field, value)?,
            "stack_size" => {
                let bytes = config::as_u64(field, value)?;
                let bytes = usize::try_from(bytes)
                    .map_err(|_| Error::invalid(field, format!("{bytes} is too large")))?;
                if bytes == 0 {
                    return Err(Error::invalid(
                        field,
                        "must be a positive number of bytes, got 0",
                    ));
                }
                self.stack_size = Some(bytes);
            }
            _ => {
                return Err(Error::invalid(
                    field,
                    "unknown pool option (expected thread_name_prefix, stack_size)",
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
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn defaults_follow_the_spec() {
        let c = ThreadPoolExecutorConfig::from_map(&Map::new()).unwrap();
        assert_eq!(c.max_workers, 10);
        assert!(!c.cancel_futures);
        assert_eq!(c.overwrite_wait, None);
    }

    #[test]
    fn reads_coerced_values_and_pool_kwargs() {
        let c = ThreadPoolExecutorConfig::from_map(&map(serde_json_value())).unwrap();
        assert_eq!(c.max_workers, 3);
        assert!(c.cancel_futures);
        assert_eq!(c.overwrite_wait, Some(false));
        assert_eq!(c.thread_name_prefix, "jobs-");
        assert_eq!(c.stack_size, Some(1 << 20));
    }

    fn serde_json_value() -> Value {
        let mut kwargs = Map::new();
        kwargs.insert("thread_name_prefix".into(), Value::from("jobs-"));
        kwargs.insert("stack_size".into(), Value::from(1 << 20));
        let mut m = Map::new();
        m.insert("max_workers".into(), Value::from("3"));
        m.insert("cancel_futures".into(), Value::from("true"));
        m.insert("overwrite_wait".into(), Value::from(false));
        m.insert("pool_kwargs".into(), Value::Object(kwargs));
        Value::Object(m)
    }

    #[test]
    fn unknown_and_invalid_options_are_named() {
        let mut m = Map::new();
        m.insert("max_worker".into(), Value::from(3));
        let e = ThreadPoolExecutorConfig::from_map(&m)
            .unwrap_err()
            .to_string();
        assert!(e.contains("executors.threadpool.max_worker"), "{e}");

        let mut m = Map::new();
        m.insert("max_workers".into(), Value::from(0));
        let e = ThreadPoolExecutorConfig::from_map(&m)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("executors.threadpool.max_workers") && e.contains('0'),
            "{e}"
        );

        let mut kwargs = Map::new();
        kwargs.insert("initializer".into(), Value::from("x"));
        let mut m = Map::new();
        m.insert("pool_kwargs".into(), Value::Object(kwargs));
        let e = ThreadPoolExecutorConfig::from_map(&m)
            .unwrap_err()
            .to_string();
        assert!(e.contains("pool_kwargs.initializer"), "{e}");
    }
}
