//! The configuration map (spec: `global_config` with `asyncz.*` keys, and `setup()`), and the
//! value coercions upstream applies to it (`"false"` → false, `"3"` → 3).

use std::time::Duration;

use chrono_tz::Tz;
use indexmap::IndexMap;

use crate::task::TaskDefaults;
use crate::{Error, Map, Result, Value};

/// The scheduler's settings, resolved: the one copy the builder, `setup()` and the running
/// scheduler share. [`SchedulerConfig::default`] holds the spec's defaults; a configuration
/// map is applied on top of a config with [`SchedulerConfig::update_from_map`], so a key the map
/// does not name keeps its current value.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SchedulerConfig {
    /// `timezone`: the zone triggers compute in when they have none of their own (default UTC).
    pub timezone: Tz,
    /// `store_retry_interval`: how long before a failed store is tried again (default 10 s).
    pub store_retry_interval: Duration,
    /// `logger_name`, in full: recorded as the `logger` field of every log line of the
    /// scheduler (default `asyncz.scheduler`; the config key or builder setter with a name `n`
    /// sets `asyncz.scheduler.n`, see [`SchedulerConfig::logger_name_for`]).
    pub logger_name: String,
    /// `isolated_event_loop`: run on the scheduler's own runtime threads.
    pub isolated_runtime: bool,
    /// `lock_path`: a lock file template shared by processes using the same stores.
    pub lock_path: Option<String>,
    /// `startup_delay`: how long after start tasks committed at start may first run (`None`:
    /// 1 s with a lock path, else 0; see [`SchedulerConfig::effective_startup_delay`]).
    pub startup_delay: Option<Duration>,
    /// `store_timeout`: how long one store call may take before it counts as failed (default
    /// 10 s), so one unreachable server does not stall work on the other stores.
    pub store_timeout: Duration,
    /// `task_defaults.*`: defaults for options tasks leave unset.
    pub task_defaults: TaskDefaults,
    /// `stores.<alias>`: `type` plus the plugin's options, built when the config is applied.
    pub stores: IndexMap<String, Map>,
    /// `executors.<alias>`: `type` plus the plugin's options, built when the config is applied.
    pub executors: IndexMap<String, Map>,
    /// Cluster mode: this scheduler is one node of several sharing its stores
    /// ([`crate::cluster`]); `None` (the default): a single process.
    pub cluster: Option<crate::cluster::ClusterConfig>,
    /// The prefix the keys of the last applied map came with (`asyncz.`), so errors about
    /// the stores and executors it lists name the key the user wrote.
    pub key_prefix: String,
}

/// The logger name every scheduler log line carries unless `logger_name` says otherwise.
pub const DEFAULT_LOGGER_NAME: &str = "asyncz.scheduler";

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            timezone: Tz::UTC,
            store_retry_interval: Duration::from_secs(10),
            logger_name: DEFAULT_LOGGER_NAME.to_owned(),
            isolated_runtime: false,
            lock_path: None,
            startup_delay: None,
            store_timeout: Duration::from_secs(10),
            task_defaults: TaskDefaults::default(),
            stores: IndexMap::new(),
            executors: IndexMap::new(),
            cluster: None,
            key_prefix: String::new(),
        }
    }
}

impl SchedulerConfig {
    /// The defaults with a flat or nested map applied (see [`SchedulerConfig::update_from_map`]).
    pub fn from_map(global: &Map, prefix: Option<&str>) -> Result<Self> {
        let mut config = SchedulerConfig::default();
        config.update_from_map(global, prefix)?;
        Ok(config)
    }

    /// The full logger name for a user's `logger_name` (`worker-a` → `asyncz.scheduler.worker-a`).
    pub fn logger_name_for(name: &str) -> String {
        format!("{DEFAULT_LOGGER_NAME}.{name}")
    }

    /// The startup delay in force: as configured, else 1 s with a lock path, else none.
    pub fn effective_startup_delay(&self) -> Duration {
        self.startup_delay.unwrap_or(if self.lock_path.is_some() {
            Duration::from_secs(1)
        } else {
            Duration::ZERO
        })
    }

    /// The zone a task's trigger computes in when it has none of its own:
    /// `task_defaults.timezone` when set, else `timezone`.
    pub fn task_timezone(&self) -> Tz {
        self.task_defaults.timezone.unwrap_or(self.timezone)
    }

    /// Applies a flat or nested map onto this config; on error nothing is changed. With
    /// `prefix` (normally `"asyncz."`), only keys starting with it are read and the prefix is
    /// stripped; dotted keys nest (`asyncz.stores.default.type`). `stores` and `executors`
    /// named in the map are added to (or replace) the ones already listed.
    pub fn update_from_map(&mut self, global: &Map, prefix: Option<&str>) -> Result<()> {
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
        let mut next = self.clone();
        next.key_prefix = prefix.unwrap_or("").to_owned();
        for (key, value) in tree {
            next.apply_key(&key, value)?;
        }
        *self = next;
        Ok(())
    }

    fn full(&self, key: &str) -> String {
        format!("{}{key}", self.key_prefix)
    }

    fn apply_key(&mut self, key: &str, value: Value) -> Result<()> {
        let field = self.full(key);
        match key {
            "timezone" => self.timezone = timezone(&field, &value)?,
            "store_retry_interval" => self.store_retry_interval = seconds(&field, &value)?,
            "logger_name" => {
                self.logger_name = Self::logger_name_for(&string(&field, &value)?);
            }
            "lock_path" => {
                let path = string(&field, &value)?;
                self.lock_path = (!path.trim().is_empty()).then_some(path);
            }
            "startup_delay" => self.startup_delay = Some(seconds(&field, &value)?),
            "store_timeout" => {
                let timeout = seconds(&field, &value)?;
                if timeout.is_zero() {
                    return Err(Error::invalid(field, "must be above 0"));
                }
                self.store_timeout = timeout;
            }
            "isolated_event_loop" | "isolated_runtime" => {
                self.isolated_runtime = as_bool(&field, &value)?
            }
            "task_defaults" => {
                let Value::Object(map) = value else {
                    return Err(Error::invalid(
                        field,
                        format!("expected an object, got {value}"),
                    ));
                };
                for (k, v) in map {
                    self.apply_task_default(&k, &v)?;
                }
            }
            "stores" | "executors" => self.apply_plugins(key, value)?,
            other => {
                return Err(Error::invalid(
                    self.full(other),
                    "unknown configuration key (expected timezone, store_retry_interval, logger_name, \
                     isolated_event_loop, lock_path, startup_delay, store_timeout, task_defaults.*, stores.*, executors.*)",
                ))
            }
        }
        Ok(())
    }

    fn apply_task_default(&mut self, key: &str, value: &Value) -> Result<()> {
        let field = self.full(&format!("task_defaults.{key}"));
        let defaults = &mut self.task_defaults;
        match key {
            "mistrigger_grace_time" => defaults.mistrigger_grace_time = grace_time(&field, value)?,
            "coalesce" => defaults.coalesce = as_bool(&field, value)?,
            "max_instances" => defaults.max_instances = as_u32(&field, value)?,
            "timezone" => defaults.timezone = Some(timezone(&field, value)?),
            _ => {
                return Err(Error::invalid(
                    field,
                    "unknown task default (expected coalesce, max_instances, mistrigger_grace_time, timezone)",
                ))
            }
        }
        Ok(())
    }

    fn apply_plugins(&mut self, key: &str, value: Value) -> Result<()> {
        let Value::Object(map) = value else {
            return Err(Error::invalid(
                self.full(key),
                format!("expected an object of aliases, got {value}"),
            ));
        };
        for (alias, options) in map {
            let field = self.full(&format!("{key}.{alias}"));
            let Value::Object(options) = options else {
                return Err(Error::invalid(
                    field,
                    format!("expected an object with a 'type', got {options}"),
                ));
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
                self.stores.insert(alias, options);
            } else {
                self.executors.insert(alias, options);
            }
        }
        Ok(())
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

// The coercions are plugin_config's (one implementation for the scheduler's keys and every
// plugin's); these name the field the way the scheduler's own parser reports it.
use crate::plugin_config as coerce;

/// A boolean, coerced like upstream's `asbool`: true/false, yes/no, on/off, 1/0 (any case).
pub fn as_bool(field: &str, value: &Value) -> Result<bool> {
    coerce::to_bool(value).map_err(|m| Error::invalid(field, m))
}

/// A non-negative integer, from a number or a numeric string.
pub fn as_u64(field: &str, value: &Value) -> Result<u64> {
    coerce::to_u64(value).map_err(|m| Error::invalid(field, m))
}

/// A positive `u32` (used for `max_instances`, `max_workers`).
pub fn as_u32(field: &str, value: &Value) -> Result<u32> {
    coerce::to_positive_u32(value).map_err(|m| Error::invalid(field, m))
}

/// A duration in (fractional) seconds, zero or more.
pub fn seconds(field: &str, value: &Value) -> Result<Duration> {
    coerce::to_seconds(value).map_err(|m| Error::invalid(field, m))
}

/// A grace time: null (no limit) or a positive number of seconds.
pub fn grace_time(field: &str, value: &Value) -> Result<Option<Duration>> {
    if value.is_null() {
        return Ok(None);
    }
    coerce::to_positive_seconds(value).map(Some).map_err(|m| {
        Error::invalid(
            field,
            format!("must be null or a positive number of seconds: {m}"),
        )
    })
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
