#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Observability and lifecycle through the public API: metrics (a recording recorder), the
//! `asyncz.run` span (a capturing subscriber), `info()` / `runs_in_flight()` during a store
//! outage, and the drain with a timeout.

#[cfg(feature = "stores-sql-sqlite")]
mod cluster_metrics;
mod common;
mod drain;
mod info;
mod metrics;
mod spans;
