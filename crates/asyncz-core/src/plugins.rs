//! Plugins by alias (spec: plugin aliases, `create_plugin_instance`): factories that turn a
//! config map into a trigger, a store or an executor. The facade installs every
//! feature-enabled plugin; third-party crates register their own. Triggers read back from a
//! persistent store are rebuilt through the same registry.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock, RwLock};

use crate::executor::Executor;
use crate::store::Store;
use crate::trigger::{Trigger, TriggerContext};
use crate::{Error, Map, Result};

/// Builds a trigger from its arguments.
pub type TriggerFactory =
    Arc<dyn Fn(&Map, &TriggerContext) -> Result<Arc<dyn Trigger>> + Send + Sync>;
/// Builds a store from its configuration.
pub type StoreFactory = Arc<dyn Fn(&Map) -> Result<Arc<dyn Store>> + Send + Sync>;
/// Builds an executor from its configuration.
pub type ExecutorFactory = Arc<dyn Fn(&Map) -> Result<Arc<dyn Executor>> + Send + Sync>;

/// Factories by alias for triggers, stores and executors.
///
/// Cloning is cheap (the factories are shared, copied on the next write): a registry travels
/// in every [`TriggerContext`] it builds triggers with.
#[derive(Clone, Default)]
pub struct PluginRegistry {
    inner: Arc<Factories>,
}

#[derive(Clone, Default)]
struct Factories {
    triggers: HashMap<String, TriggerFactory>,
    stores: HashMap<String, StoreFactory>,
    executors: HashMap<String, ExecutorFactory>,
}

impl fmt::Debug for PluginRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut t: Vec<_> = self.inner.triggers.keys().collect();
        let mut s: Vec<_> = self.inner.stores.keys().collect();
        let mut e: Vec<_> = self.inner.executors.keys().collect();
        t.sort();
        s.sort();
        e.sort();
        f.debug_struct("PluginRegistry")
            .field("triggers", &t)
            .field("stores", &s)
            .field("executors", &e)
            .finish()
    }
}

impl PluginRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers (or replaces) a trigger factory under `alias`.
    pub fn add_trigger<F>(&mut self, alias: &str, factory: F) -> &mut Self
    where
        F: Fn(&Map, &TriggerContext) -> Result<Arc<dyn Trigger>> + Send + Sync + 'static,
    {
        Arc::make_mut(&mut self.inner)
            .triggers
            .insert(alias.to_owned(), Arc::new(factory));
        self
    }

    /// Registers (or replaces) a store factory under `alias`.
    pub fn add_store<F>(&mut self, alias: &str, factory: F) -> &mut Self
    where
        F: Fn(&Map) -> Result<Arc<dyn Store>> + Send + Sync + 'static,
    {
        Arc::make_mut(&mut self.inner)
            .stores
            .insert(alias.to_owned(), Arc::new(factory));
        self
    }

    /// Registers (or replaces) an executor factory under `alias`.
    pub fn add_executor<F>(&mut self, alias: &str, factory: F) -> &mut Self
    where
        F: Fn(&Map) -> Result<Arc<dyn Executor>> + Send + Sync + 'static,
    {
        Arc::make_mut(&mut self.inner)
            .executors
            .insert(alias.to_owned(), Arc::new(factory));
        self
    }

    /// Whether a trigger plugin is registered under `alias`.
    pub fn has_trigger(&self, alias: &str) -> bool {
        self.inner.triggers.contains_key(alias)
    }

    /// Whether a store plugin is registered under `alias`.
    pub fn has_store(&self, alias: &str) -> bool {
        self.inner.stores.contains_key(alias)
    }

    /// Whether an executor plugin is registered under `alias`.
    pub fn has_executor(&self, alias: &str) -> bool {
        self.inner.executors.contains_key(alias)
    }

    /// Builds a trigger by alias. The factory gets `ctx` with this registry as
    /// [`TriggerContext::plugins`], so the triggers it nests come from here too.
    pub fn create_trigger(
        &self,
        alias: &str,
        args: &Map,
        ctx: &TriggerContext,
    ) -> Result<Arc<dyn Trigger>> {
        let factory = self
            .inner
            .triggers
            .get(alias)
            .ok_or_else(|| missing("trigger", alias))?;
        factory(args, &ctx.clone().with_plugins(self.clone()))
    }

    /// Builds a store by alias.
    pub fn create_store(&self, alias: &str, config: &Map) -> Result<Arc<dyn Store>> {
        let factory = self
            .inner
            .stores
            .get(alias)
            .ok_or_else(|| missing("store", alias))?;
        factory(config)
    }

    /// Builds an executor by alias.
    pub fn create_executor(&self, alias: &str, config: &Map) -> Result<Arc<dyn Executor>> {
        let factory = self
            .inner
            .executors
            .get(alias)
            .ok_or_else(|| missing("executor", alias))?;
        factory(config)
    }
}

fn missing(kind: &'static str, alias: &str) -> Error {
    Error::Alias {
        kind,
        alias: alias.to_owned(),
        message: format!(
            "no {kind} plugin by this name is registered (enable its cargo feature and call \
             asyncz::install_default_plugins(), or register it on the PluginRegistry)"
        ),
    }
}

fn global_cell() -> &'static RwLock<PluginRegistry> {
    static GLOBAL: OnceLock<RwLock<PluginRegistry>> = OnceLock::new();
    GLOBAL.get_or_init(|| RwLock::new(PluginRegistry::new()))
}

/// Changes the process-wide registry that new schedulers start from.
pub fn with_global_registry<R>(f: impl FnOnce(&mut PluginRegistry) -> R) -> R {
    let mut guard = global_cell().write().unwrap_or_else(|e| e.into_inner());
    f(&mut guard)
}

/// A copy of the process-wide registry.
pub fn global_registry() -> PluginRegistry {
    global_cell()
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
}
