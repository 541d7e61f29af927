//! The memory store runs the whole asyncz-testkit store suite.

use std::sync::Arc;

use asyncz_core::{async_trait, Result, Store};
use asyncz_stores_memory::MemoryStore;
use asyncz_testkit::{Capabilities, StoreHarness};

struct Memory;

#[async_trait]
impl StoreHarness for Memory {
    fn name(&self) -> String {
        "memory".to_owned()
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }
    async fn fresh_store(&self) -> Result<Arc<dyn Store>> {
        Ok(Arc::new(MemoryStore::new()))
    }
}

#[tokio::test]
async fn the_memory_store_passes_the_store_suite() {
    let report = asyncz_testkit::run_store_suite(&Memory).await;
    println!("{report}");
    report.assert_passed();
    assert_eq!(
        report.skipped.len(),
        2,
        "only the persistence cases are skipped"
    );
}
