//! The configuration map (spec: `global_config` with `asyncz.*` keys, and `setup()`), and the
//! value coercions upstream applies to it (`"false"` → false, `"3"` → 3).

use std::time::Duration;

use chrono_tz::Tz;
use indexmap::IndexMap;

use crate::{Error, Map, Result, Value};

/// A parsed scheduler configuration. Every field is optional: unset ones keep the scheduler's
/// current value (or the default).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SchedulerConfig {
    /// `timezone`: an IANA zone name.
    pub timezone: Option<Tz>,
    /// `store_retry_interval`: seconds before retrying a failed store.
    pub store_retry_interval: Option<Duration>,
    /// `logger_name`: recorded in every log line of the scheduler.
    pub logger_name: Option<String>,
    /// `isolated_event_loop`: run on the scheduler's own runtime thread.
    pub isolated_runtime: Option<bool>,
    /// `lock_path`: a lock file template shared by processes using the same stores.
    pub lock_path: Option<String>,
    /// `startup_delay`: seconds before tasks committed at start may first run.
    pub startup_delay: Option<Duration>,
    /// `store_timeout`: seconds the engine waits for one store call.
    pub store_timeout: Option<Duration>,
    /// `task_defaults.mistrigger_grace_time`.
    pub default_mistrigger_grace_time: Option<Option<Duration>>,
    /// `task_defaults.coalesce`.
    pub default_coalesce: Option<bool>,
    /// `task_defaults.max_instances`.
    pub default_max_instances: Option<u32>,
    /// `stores.<alias>`: `type` plus the plugin's options.
    pub stores: IndexMap<String, Map>,
    /// `executors.<alias>`: `type` plus the plugin's options.
    pub executors: IndexMap<String, Map>,
}

impl SchedulerConfig {
    /// Parses a flat or nested map. With `prefix` (normally `"asyncz."`), only keys starting
    /// with it are read and the prefix is stripped; dotted keys nest
    /// (`asyncz.stores.default.type`).
    pub fn from_map(global: &Map, prefix: Option<&str>) -> Result<Self> {
        let mut tree = Map::new();
        for (key, value) in global {
            let key = match prefix {
                Some(p) if !p.is_empty() => match key.strip_prefix(p) {
                    Some(rest) => rest,
                    None => continue,
                },
                _ => key.as_str(),
            };
            insert_dotted(&mut tree, key, value.clone());
        }
        let mut config = SchedulerConfig::default();
        let full = |k: &str| format!("{}{k}", prefix.unwrap_or(""));
        for (key, value) in tree {
            match key.as_str() {
                "timezone" => config.timezone = Some(timezone(&full("timezone"), &value)?),
                "store_retry_interval" => {
                    config.store_retry_interval = Some(seconds(&full("store_retry_interval"), &value)?)
                }
                "logger_name" => config.logger_name = Some(string(&full("logger_name"), &value)?),
                "lock_path" => {
                    let path = string(&full("lock_path"), &value)?;
                    config.lock_path = (!path.trim().is_empty()).then_some(path);
                }
                "startup_delay" => config.startup_delay = Some(seconds(&full("startup_delay"), &value)?),
                "store_timeout" => {
                    let timeout = seconds(&full("store_timeout"), &value)?;
                    if timeout.is_zero() {
                        return Err(Error::invalid(full("store_timeout"), "must be above 0"));
                    }
                    config.store_timeout = Some(timeout);
                }
                "isolated_event_loop" | "isolated_runtime" => {
                    config.isolated_runtime = Some(as_bool(&full(&key), &value)?)
                }
                "task_defaults" => {
                    let Value::Object(map) = value else {
                        return Err(Error::invalid(full("task_defaults"), format!("expected an object, got {value}")));
                    };
                    for (k, v) in map {
                        let field = full(&format!("task_defaults.{k}"));
                        match k.as_str() {
                            "mistrigger_grace_time" => config.default_mistrigger_grace_time = Some(grace_time(&field, &v)?),
                            "coalesce" => config.default_coalesce = Some(as_bool(&field, &v)?),
                            "max_instances" => config.default_max_instances = Some(as_u32(&field, &v)?),
                            // Upstream accepts a task-default time zone; the scheduler zone rules.
                            "timezone" => {
                                timezone(&field, &v)?;
                            }
                            _ => return Err(Error::invalid(field, "unknown task default (expected coalesce, max_instances, mistrigger_grace_time)")),
                        }
                    }
                }
                "stores" | "executors" => {
                    let Value::Object(map) = value else {
                        return Err(Error::invalid(full(&key), format!("expected an object of aliases, got {value}")));
                    };
                    for (alias, options) in map {
                        let field = full(&format!("{key}.{alias}"));
                        let Value::Object(options) = options else {
                            return Err(Error::invalid(field, format!("expected an object with a 'type', got {options}")));
                        };
                        if !options.contains_key("type") {
                            let hint = if options.contains_key("class") {
                                "'class' (a Python import path) has no Rust counterpart; name the plugin with 'type'"
                            } else {
                                "missing 'type' (the plugin alias, e.g. 'memory' or 'tokio')"
                            };
                            return Err(Error::invalid(field, hint));
                        }
                        if key == "stores" {
                            config.stores.insert(alias, options);
                        } else {
                            config.executors.insert(alias, options);
                        }
                    }
                }
                other => {
                    return Err(Error::invalid(
                        full(other),
                        "unknown configuration key (expected timezone, store_retry_interval, logger_name, \
                         isolated_event_loop, lock_path, startup_delay, store_timeout, task_defaults.*, stores.*, executors.*)",
                    ))
                }
            }
        }
        Ok(config)
    }
}

fn insert_dotted(tree: &mut Map, key: &str, value: Value) {
    let mut parts = key.split('.').peekable();
    let mut node = tree;
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            match (node.get_mut(part), value) {
                (Some(Value::Object(existing)), Value::Object(incoming)) => {
                    for (k, v) in incoming {
                        existing.insert(k, v);
                    }
                }
                (_, value) => {
                    node.insert(part.to_owned(), value);
                }
            }
            return;
        }
        let entry = node
            .entry(part.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        let Value::Object(next) = entry else { return };
        node = next;
    }
}

/// A boolean, coerced like upstream's `asbool`: true/false, yes/no, on/off, 1/0 (any case).
pub fn as_bool(field: &str, value: &Value) -> Result<bool> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::Number(n) if n.as_i64() == Some(0) => Ok(false),
        Value::Number(n) if n.as_i64() == Some(1) => Ok(true),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "y" | "t" | "1" => Ok(true),
            "false" | "no" | "off" | "n" | "f" | "0" => Ok(false),
            _ => Err(Error::invalid(field, format!("'{s}' is not a boolean"))),
        },
        other => Err(Error::invalid(field, format!("{other} is not a boolean"))),
    }
}

/// A non-negative integer, from a number or a numeric string.
pub fn as_u64(field: &str, value: &Value) -> Result<u64> {
    match value {
        Value::Number(n) => n
            .as_u64()
            .ok_or_else(|| Error::invalid(field, format!("{n} is not a non-negative integer"))),
        Value::String(s) => s
            .trim()
            .parse::<u64>()
            .map_err(|_| Error::invalid(field, format!("'{s}' is not a non-negative integer"))),
        other => Err(Error::invalid(field, format!("{other} is not an integer"))),
    }
}

/// A positive `u32` (used for `max_instances`, `max_workers`).
pub fn as_u32(field: &str, value: &Value) -> Result<u32> {
    let n = as_u64(field, value)?;
    if n == 0 {
        return Err(Error::invalid(field, "must be a positive integer, got 0"));
    }
    u32::try_from(n).map_err(|_| Error::invalid(field, format!("{n} is too large")))
}

/// A number, from a number or a numeric string.
pub fn as_f64(field: &str, value: &Value) -> Result<f64> {
    match value {
        Value::Number(n) => n
            .as_f64()
            .ok_or_else(|| Error::invalid(field, format!("{n} is not a number"))),
        Value::String(s) => s
            .trim()
            .parse::<f64>()
            .map_err(|_| Error::invalid(field, format!("'{s}' is not a number"))),
        other => Err(Error::invalid(field, format!("{other} is not a number"))),
    }
}

/// A duration in (fractional) seconds, zero or more.
pub fn seconds(field: &str, value: &Value) -> Result<Duration> {
    let secs = as_f64(field, value)?;
    if !secs.is_finite() || secs < 0.0 {
        return Err(Error::invalid(
            field,
            format!("{secs} is not a non-negative number of seconds"),
        ));
    }
    // About 136 years: beyond any schedule, and far from chrono's range limits.
    if secs > f64::from(u32::MAX) {
        return Err(Error::invalid(field, format!("{secs} seconds is too long")));
    }
    Duration::try_from_secs_f64(secs).map_err(|e| Error::invalid(field, format!("{secs}: {e}")))
}

/// A grace time: null (no limit) or a positive number of seconds.
pub fn grace_time(field: &str, value: &Value) -> Result<Option<Duration>> {
    if value.is_null() {
        return Ok(None);
    }
    let d = seconds(field, value)?;
    if d.is_zero() {
        return Err(Error::invalid(
            field,
            "must be null or a positive number of seconds, got 0",
        ));
    }
    Ok(Some(d))
}

/// A string.
pub fn string(field: &str, value: &Value) -> Result<String> {
    match value {
        Value::String(s) => Ok(s.clone()),
        other => Err(Error::invalid(field, format!("{other} is not a string"))),
    }
}

/// An IANA time zone name.
pub fn timezone(field: &str, value: &Value) -> Result<Tz> {
    let name = string(field, value)?;
    parse_timezone(field, &name)
}

/// Parses an IANA time zone name (`UTC`, `Europe/Berlin`, ...).
pub fn parse_timezone(field: &str, name: &str) -> Result<Tz> {
    name.trim()
        .parse::<Tz>()
        .map_err(|_| Error::invalid(field, format!("'{name}' is not an IANA time zone name")))
}
