//! [`SchedulerBuilder`]: collects a [`SchedulerConfig`] (the one copy of the settings; the
//! setters write into it), the clock, the plugin registry and store/executor instances, then
//! builds a stopped [`Scheduler`].

use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono_tz::Tz;
use tokio::sync::Notify;

use super::backends::{duplicate, Backends};
use super::event_bus::EventBus;
use super::lifecycle::Lifecycle;
use super::pending::PendingStore;
use super::runtime::OwnRuntime;
use super::{Inner, Scheduler};
use crate::clock::{Clock, MicrosClock, SystemClock};
use crate::config::SchedulerConfig;
use crate::executor::{Executor, Instances};
use crate::function::FunctionRegistry;
use crate::plugins::{global_registry, PluginRegistry};
use crate::store::Store;
use crate::task::TaskDefaults;
use crate::{Map, Result};

/// Builds a [`Scheduler`].
pub struct SchedulerBuilder {
    config: SchedulerConfig,
    clock: Arc<dyn Clock>,
    plugins: Option<PluginRegistry>,
    stores: Vec<(String, Arc<dyn Store>)>,
    executors: Vec<(String, Arc<dyn Executor>)>,
    maps: Vec<Map>,
    metrics_task_label: bool,
    shutdown_timeout: Option<Duration>,
}

impl std::fmt::Debug for SchedulerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchedulerBuilder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Default for SchedulerBuilder {
    fn default() -> Self {
        SchedulerBuilder {
            config: SchedulerConfig::default(),
            clock: Arc::new(SystemClock),
            plugins: None,
            stores: Vec::new(),
            executors: Vec::new(),
            maps: Vec::new(),
            metrics_task_label: false,
            shutdown_timeout: None,
        }
    }
}

impl SchedulerBuilder {
    /// The zone triggers compute in when they have none of their own (default UTC).
    pub fn timezone(mut self, tz: Tz) -> Self {
        self.config.timezone = tz;
        self
    }
    /// How long to wait before retrying a store that failed (default 10 s).
    pub fn store_retry_interval(mut self, interval: Duration) -> Self {
        self.config.store_retry_interval = interval;
        self
    }
    /// How long one store call may take before it counts as failed (default 10 s): every call,
    /// the engine's and task management's alike, so an unreachable server does not stall the
    /// other stores.
    pub fn store_timeout(mut self, timeout: Duration) -> Self {
        self.config.store_timeout = timeout;
        self
    }
    /// A name recorded in every log line (spec: `logger_name`).
    pub fn logger_name(mut self, name: impl Into<String>) -> Self {
        self.config.logger_name = SchedulerConfig::logger_name_for(&name.into());
        self
    }
    /// Defaults for options tasks leave unset.
    pub fn task_defaults(mut self, defaults: TaskDefaults) -> Self {
        self.config.task_defaults = defaults;
        self
    }
    /// Run the engine and the tokio executor on a runtime owned by the scheduler (its own
    /// threads) instead of the caller's (spec: `isolated_event_loop`).
    pub fn isolated_runtime(mut self, isolated: bool) -> Self {
        self.config.isolated_runtime = isolated;
        self
    }
    /// Coordinate with other processes sharing the same stores (spec: `lock_path`): each
    /// engine round takes an exclusive file lock per store, without waiting, around reading
    /// due tasks and writing their next run times; a process that does not get it skips that
    /// store until the next round. Placeholders: `{store}`, `{ppid}`, `{pgrp}`. With a lock
    /// path, the engine also polls every `store_retry_interval` (other processes add tasks).
    pub fn lock_path(mut self, template: impl Into<String>) -> Self {
        self.config.lock_path = Some(template.into());
        self
    }
    /// How long after start tasks committed at start may first run (spec: `startup_delay`;
    /// default 1 s with a lock path, else 0), so sibling processes start before work is taken.
    pub fn startup_delay(mut self, delay: Duration) -> Self {
        self.config.startup_delay = Some(delay);
        self
    }
    /// The clock (default: the system clock). Tests pass a [`crate::ManualClock`].
    pub fn clock(mut self, clock: impl Clock) -> Self {
        // Whatever precision the clock has, the scheduler reads whole microseconds.
        self.clock = Arc::new(MicrosClock(Arc::new(clock)));
        self
    }
    /// The plugin registry (default: a copy of the process-wide one).
    pub fn plugins(mut self, plugins: PluginRegistry) -> Self {
        self.plugins = Some(plugins);
        self
    }
    /// Adds a store instance under `alias`.
    pub fn store(mut self, alias: impl Into<String>, store: impl Store) -> Self {
        self.stores.push((alias.into(), Arc::new(store)));
        self
    }
    /// Adds an executor instance under `alias`.
    pub fn executor(mut self, alias: impl Into<String>, executor: impl Executor) -> Self {
        self.executors.push((alias.into(), Arc::new(executor)));
        self
    }
    /// Applies a configuration map with the spec's `asyncz.*` keys (see
    /// [`SchedulerConfig::update_from_map`]) when the scheduler is built, over the settings
    /// given so far.
    pub fn config(mut self, config: Map) -> Self {
        self.maps.push(config);
        self
    }

    /// Runs the scheduler as one node of a cluster: several schedulers share its stores, each
    /// fire is claimed by one node and recorded in the run ledger ([`crate::cluster`]). Every
    /// store must be able to take part (SQL, Redis, MongoDB); start fails naming one that
    /// cannot.
    pub fn cluster(mut self, cluster: crate::cluster::ClusterConfig) -> Self {
        self.config.cluster = Some(cluster);
        self
    }

    /// Labels the per-run metrics (`asyncz_runs_total`, `asyncz_run_duration_seconds`,
    /// `asyncz_run_lateness_seconds`, `asyncz_missed_runs_total`) with `task` = the task id
    /// (default off: one series per task can be many series).
    pub fn metrics_task_label(mut self, on: bool) -> Self {
        self.metrics_task_label = on;
        self
    }
    /// How long [`Scheduler::shutdown_gracefully`] waits for running jobs before cancelling
    /// what is left (default: wait as long as they take).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = Some(timeout);
        self
    }
    /// Builds the scheduler (stopped).
    pub fn build(self) -> Result<Scheduler> {
        let mut config = self.config;
        if let Some(cluster) = &config.cluster {
            cluster.validate()?;
        }
        for map in &self.maps {
            config.update_from_map(map, Some("asyncz."))?;
        }
        let backends = Backends::new(config.store_timeout);
        for (alias, store) in self.stores {
            backends.add_store(&alias, store)?;
        }
        for (alias, executor) in self.executors {
            if backends.add_executor(&alias, executor).is_err() {
                return Err(duplicate("executor", &alias));
            }
        }
        let logger = Arc::new(RwLock::new(Arc::<str>::from(config.logger_name.as_str())));
        let plugins = self.plugins.unwrap_or_else(global_registry);
        let scheduler = Scheduler {
            inner: Arc::new(Inner {
                lifecycle: Lifecycle::default(),
                config: RwLock::new(SchedulerConfig {
                    stores: Default::default(),
                    executors: Default::default(),
                    ..config.clone()
                }),
                events: Arc::new(EventBus::new(Arc::clone(&logger))),
                logger,
                backends,
                pending: Arc::new(PendingStore::default()),
                planned_wakeup: Mutex::new(None),
                round: tokio::sync::Mutex::new(()),
                wakeup: Arc::new(Notify::new()),
                clock: self.clock,
                plugins: RwLock::new(Arc::new(plugins)),
                functions: Arc::new(FunctionRegistry::new()),
                instances: Arc::new(Instances::default()),
                runtime: OwnRuntime::default(),
                interned: Mutex::new(std::collections::HashSet::new()),
                node: Mutex::new(None),
                observed: Default::default(),
            }),
        };
        let observed = &scheduler.inner.observed;
        observed.runs.set_task_label(self.metrics_task_label);
        *super::lock(&observed.shutdown_timeout) = self.shutdown_timeout;
        if !config.stores.is_empty() || !config.executors.is_empty() {
            scheduler.apply_config(config)?;
        }
        Ok(scheduler)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executor::DebugExecutor;
    use serde_json::json;

    #[test]
    fn setters_and_maps_write_the_one_config() {
        let map = json!({"asyncz.store_retry_interval": 3, "asyncz.logger_name": "a"});
        let scheduler = SchedulerBuilder::default()
            .timezone(chrono_tz::Europe::Berlin)
            .store_retry_interval(Duration::from_secs(1))
            .config(map.as_object().unwrap().clone())
            .build()
            .unwrap();
        let config = scheduler.config();
        assert_eq!(config.timezone, chrono_tz::Europe::Berlin);
        assert_eq!(
            config.store_retry_interval,
            Duration::from_secs(3),
            "the map wins"
        );
        assert_eq!(&*scheduler.logger(), "asyncz.scheduler.a");
    }

    #[test]
    fn duplicate_aliases_are_refused() {
        let err = SchedulerBuilder::default()
            .executor("x", DebugExecutor::new())
            .executor("x", DebugExecutor::new())
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("executor 'x'"), "{err}");
    }

    #[test]
    fn a_bad_map_fails_the_build_naming_the_key() {
        let map = json!({"asyncz.store_timeout": 0});
        let err = SchedulerBuilder::default()
            .config(map.as_object().unwrap().clone())
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("asyncz.store_timeout"), "{err}");
    }
}
