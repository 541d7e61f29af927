#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Scheduler behaviour through the public API of the `asyncz` facade. One test binary with a
//! module per area, so the workspace links it once.

mod common;

#[cfg(feature = "stores-sql-sqlite")]
mod cluster;
#[cfg(feature = "stores-sql-sqlite")]
mod cluster_faults;
mod config;
mod engine;
mod events;
mod executors;
mod lifecycle;
mod management;
mod parts;
#[cfg(all(
    feature = "stores-file",
    feature = "stores-sql-sqlite",
    feature = "executors-threadpool"
))]
mod persistence;
mod precision;
mod robustness;
mod runtime;
