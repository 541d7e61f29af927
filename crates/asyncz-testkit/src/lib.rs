//! # asyncz-testkit
//!
//! The [`Store`](asyncz_core::Store) contract written once, as public async cases over
//! `&dyn Store`, so every store crate (and yours) checks the same behaviour. Each case names
//! the `# Behavior` bullet of the trait method it checks.
//!
//! A backend provides a [`StoreHarness`]: it makes a fresh, empty, **not yet started** store
//! and declares its [`Capabilities`]; [`run_store_suite`] starts each store with a
//! [`store_context`], runs every case that applies, and returns a [`SuiteReport`].
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use std::sync::Arc;
//! use asyncz_testkit::{Capabilities, StoreHarness};
//!
//! struct Memory;
//! #[asyncz_core::async_trait]
//! impl StoreHarness for Memory {
//!     fn name(&self) -> String { "memory".into() }
//!     fn capabilities(&self) -> Capabilities { Capabilities::default() }
//!     async fn fresh_store(&self) -> asyncz_core::Result<Arc<dyn asyncz_core::Store>> {
//!         Ok(Arc::new(asyncz_stores_memory::MemoryStore::new()))
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

pub use cases::{store_cases, StoreCase};
pub use executor::{
    run_executor_suite, ExecutorCapabilities, ExecutorHarness, PoolOptions, Workers,
};
pub use harness::{
    functions, plugins, run_store_suite, sample_task, store_context, t0, Capabilities,
    StoreHarness, SuiteReport,
};
