//! # asyncz-stores-sql
//!
//! The `sql` store (spec: `SQLAlchemyStore`, alias `sqlalchemy` too) on sqlx, for SQLite
//! (feature `sqlite`, default), PostgreSQL (`postgres`) and MySQL/MariaDB (`mysql`). The
//! feature `testing` adds hooks that write raw SQL and raw records, for tests only.
//!
//! - Table `asyncz_store` (configurable) with `id VARCHAR(255) PRIMARY KEY` (`VARBINARY(255)`
//!   on MySQL/MariaDB), `next_run_time BIGINT` (microseconds since the Unix epoch, UTC; NULL
//!   when paused) and `state` (the versioned MessagePack record, encrypted when
//!   `ASYNCZ_STORE_ENCRYPTION_KEY` is set), plus an index on `next_run_time`; both are created
//!   on start.
//! - Ids compare bytewise on every database: `case`, `CASE` and `case ` are three tasks. On
//!   MySQL/MariaDB a text id column (the default collation ignores case, accents and trailing
//!   spaces) is converted in place to `VARBINARY(255)` on start.
//! - `start` tries to connect for at most `connect_timeout` (default 10 s), logging each
//!   failed attempt, then fails naming the (redacted) URL.
//! - Values are always bound; the table name, which cannot be bound, must be a plain
//!   identifier, and is quoted (`select` is a valid table name).
//! - A record that cannot be decoded is skipped, logged, listed by
//!   `Store::undecodable_records`, and never deleted.
//! - Cluster mode: the store is a [`ClusterStore`](asyncz_core::cluster::ClusterStore). On
//!   start the schema (versioned in `<table>_meta`) is upgraded in place: claim columns on the
//!   task table, the run ledger `<table>_runs` and the node registry `<table>_nodes` (see the
//!   README).
//!
//! ```
//! use asyncz_stores_sql::{SqlStore, SqlStoreConfig};
//! let store = SqlStore::new(SqlStoreConfig::new("sqlite::memory:"))?;
//! # let _ = store;
//! # Ok::<(), asyncz_core::Error>(())
//! ```
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(not(any(feature = "sqlite", feature = "postgres", feature = "mysql")))]
compile_error!("asyncz-stores-sql needs at least one of the features sqlite, postgres, mysql");

mod cluster;
mod config;
mod schema;
mod store;

pub use config::{SqlStoreConfig, DEFAULT_CONNECT_TIMEOUT};
/// The sqlx this store is built on, for `SqlStore::from_*_pool`.
pub use sqlx;
pub use store::SqlStore;

/// The plugin alias of this store.
pub const ALIAS: &str = "sql";
/// The spec's alias for the same store.
pub const SQLALCHEMY_ALIAS: &str = "sqlalchemy";

/// Registers the `sql` and `sqlalchemy` store plugins.
pub fn register(registry: &mut asyncz_core::PluginRegistry) {
    for alias in [ALIAS, SQLALCHEMY_ALIAS] {
        registry.add_store(alias, |config| {
            let config = SqlStoreConfig::from_map(config)?;
            Ok(std::sync::Arc::new(SqlStore::new(config)?))
        });
    }
}
