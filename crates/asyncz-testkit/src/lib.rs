//! # asyncz-testkit
//!
//! The [`Store`](asyncz_core::Store) contract written once, as public async cases over
//! `&dyn Store`, so every store crate (and yours) checks the same behaviour. Each case names
//! the `# Behavior` bullet of the trait method it checks.
//!
//! A backend provides a [`StoreHarness`] for its own store type: it opens a **not yet
//! started** store over a numbered data set (a directory, table, key prefix or collection;
//! the same number again reopens the same data) and declares its [`Capabilities`]; its hooks
//! (corrupting a record, cleaning a data set up) get that store itself.
//! [`run_store_suite`] gives each case a fresh data set, starts its store with a
//! [`store_context`], runs every case that applies, cleans up, and returns a [`SuiteReport`].
//! [`run_cluster_suite`] does the same for the cluster half of a store
//! ([`ClusterStore`](asyncz_core::cluster::ClusterStore)), racing two stores over one data set
//! as two nodes.
//! [`OutageStore`] wraps a store that a test takes down and brings back.
//! [`logs`] captures log lines for the cases (and store tests) that count them.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use asyncz_stores_memory::MemoryStore;
//! use asyncz_testkit::{Capabilities, StoreHarness};
//!
//! struct Memory;
//! #[asyncz_core::async_trait]
//! impl StoreHarness for Memory {
//!     type Store = MemoryStore;
//!     fn name(&self) -> String { "memory".into() }
//!     fn capabilities(&self) -> Capabilities { Capabilities::default() }
//!     async fn open(&self, _data_set: usize) -> asyncz_core::Result<MemoryStore> {
//!         Ok(MemoryStore::new())
//!     }
//! }
//! let report = asyncz_testkit::run_store_suite(&Memory).await;
//! report.assert_passed();
//! # }
//! ```
#![deny(missing_docs)]

mod cases;
pub mod executor;
mod harness;
pub mod logs;
mod outage;

pub use cases::{store_cases, StoreCase};
pub use executor::{
    run_executor_suite, ExecutorCapabilities, ExecutorHarness, PoolOptions, Workers,
};
pub use harness::{
    functions, plugins, run_cluster_suite, run_store_suite, sample_task, store_context, t0,
    Capabilities, Fixture, StoreHarness, SuiteReport,
};
pub use outage::OutageStore;
