//! `setup` and `apply_config`: reconfiguring a stopped scheduler from a [`SchedulerConfig`].
//! Every plugin named in the config is built first, so a bad entry changes nothing; a plugin's
//! error names the user's alias and key (`asyncz.stores.reports.url`), not the plugin kind.

use std::sync::Arc;

use indexmap::IndexMap;

use super::{write, Scheduler};
use crate::config::SchedulerConfig;
use crate::events::{Event, EXECUTOR_ADDED, EXECUTOR_REMOVED, STORE_ADDED, STORE_REMOVED};
use crate::executor::Executor;
use crate::store::Store;
use crate::{Error, Map, Result, Value};

impl Scheduler {
    /// Reconfigures the scheduler from a map with `asyncz.*` keys (spec: `setup`). Only while
    /// stopped ([`Error::SchedulerAlreadyRunning`] otherwise). Keys the map does not name keep
    /// their values; stores and executors it names replace the current ones of that alias.
    pub fn setup(&self, config: &Map) -> Result<()> {
        self.setup_with_prefix(config, Some("asyncz."))
    }

    /// [`Scheduler::setup`] with another key prefix (`None` or `""`: every key).
    pub fn setup_with_prefix(&self, config: &Map, prefix: Option<&str>) -> Result<()> {
        if self.running() {
            return Err(Error::SchedulerAlreadyRunning);
        }
        let mut next = self.config();
        next.update_from_map(config, prefix)?;
        self.apply_config(next)
    }

    /// Makes `config` the scheduler's settings and adds (or replaces) the stores and executors
    /// it lists; only while stopped. Start from [`Scheduler::config`] to change a few settings.
    pub fn apply_config(&self, config: SchedulerConfig) -> Result<()> {
        if self.running() {
            return Err(Error::SchedulerAlreadyRunning);
        }
        let plugins = self.plugins();
        let mut stores: IndexMap<String, Arc<dyn Store>> = IndexMap::new();
        for (alias, options) in &config.stores {
            let (kind, rest) = split_type(options);
            let store = plugins
                .create_store(&kind, &rest)
                .map_err(|e| name_alias(e, &config.key_prefix, "stores", alias, &kind))?;
            stores.insert(alias.clone(), store);
        }
        let mut executors: IndexMap<String, Arc<dyn Executor>> = IndexMap::new();
        for (alias, options) in &config.executors {
            let (kind, rest) = split_type(options);
            let executor = plugins
                .create_executor(&kind, &rest)
                .map_err(|e| name_alias(e, &config.key_prefix, "executors", alias, &kind))?;
            executors.insert(alias.clone(), executor);
        }
        let inner = &self.inner;
        inner.backends.set_store_timeout(config.store_timeout);
        *write(&inner.logger) = Arc::from(config.logger_name.as_str());
        *write(&inner.config) = SchedulerConfig {
            stores: IndexMap::new(),
            executors: IndexMap::new(),
            ..config
        };
        for (alias, store) in stores {
            if inner.backends.put_store(&alias, store) {
                self.dispatch_event(Event::scheduler(STORE_REMOVED, Some(&alias)));
            }
            self.dispatch_event(Event::scheduler(STORE_ADDED, Some(&alias)));
        }
        for (alias, executor) in executors {
            if inner.backends.put_executor(&alias, executor) {
                self.dispatch_event(Event::scheduler(EXECUTOR_REMOVED, Some(&alias)));
            }
            self.dispatch_event(Event::scheduler(EXECUTOR_ADDED, Some(&alias)));
        }
        Ok(())
    }
}

fn split_type(options: &Map) -> (String, Map) {
    let mut rest = options.clone();
    let kind = match rest.remove("type") {
        Some(Value::String(s)) => s,
        Some(other) => other.to_string(),
        None => String::new(),
    };
    (kind, rest)
}

/// Rewrites a plugin's invalid-argument error to name the key the user wrote:
/// `<prefix><section>.<alias>.<field>`. A field the plugin already qualified with its kind
/// (`executors.tokio.max_workers`) loses that qualifier first.
fn name_alias(error: Error, prefix: &str, section: &str, alias: &str, kind: &str) -> Error {
    // A third-party plugin may already name its own `<section>.<kind>.`: drop that part.
    let qualified = format!("{section}.{kind}.");
    let error = match error {
        Error::InvalidArgument { field, message } if field.starts_with(&qualified) => {
            Error::invalid(&field[qualified.len()..], message)
        }
        other => other,
    };
    crate::plugin_config::prefix_field(error, &format!("{prefix}{section}.{alias}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_errors_name_the_alias_and_key() {
        let e = name_alias(
            Error::invalid("url", "bad"),
            "asyncz.",
            "stores",
            "reports",
            "sql",
        );
        assert_eq!(e.to_string(), "invalid asyncz.stores.reports.url: bad");
        let e = name_alias(
            Error::invalid("executors.tokio.max_wokers", "unknown"),
            "",
            "executors",
            "pool",
            "tokio",
        );
        assert_eq!(e.to_string(), "invalid executors.pool.max_wokers: unknown");
        let other = name_alias(Error::SchedulerNotRunning, "", "stores", "a", "memory");
        assert!(matches!(other, Error::SchedulerNotRunning));
    }

    #[test]
    fn the_type_is_split_from_the_options() {
        let map = serde_json::json!({"type": "memory", "x": 1});
        let (kind, rest) = split_type(map.as_object().unwrap());
        assert_eq!(kind, "memory");
        assert_eq!(rest.len(), 1);
    }
}
