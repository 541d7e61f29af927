//! What the process pool's test files share: the plugins they build schedulers with.

use asyncz_core::{PluginRegistry, Scheduler, SchedulerBuilder};

/// The plugins these tests need, registered directly (this crate's tests do not depend on the
/// `asyncz` facade, which depends on this crate): triggers, the memory store for the default
/// store, the tokio executor for the default executor, and this crate's executor.
#[allow(dead_code)] // worker_lifetime.rs needs only `builder`
pub fn plugins() -> PluginRegistry {
    let mut registry = PluginRegistry::new();
    asyncz_triggers::register(&mut registry);
    asyncz_stores_memory::register(&mut registry);
    asyncz_executors_tokio::register(&mut registry);
    asyncz_executors_process::register(&mut registry);
    registry
}

/// A scheduler builder with [`plugins`].
pub fn builder() -> SchedulerBuilder {
    Scheduler::builder().plugins(plugins())
}
