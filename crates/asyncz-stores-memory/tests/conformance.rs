//! The memory store runs the whole asyncz-testkit store suite.

use asyncz_core::{async_trait, Result};
use asyncz_stores_memory::MemoryStore;
use asyncz_testkit::{Capabilities, StoreHarness};

struct Memory;

#[async_trait]
impl StoreHarness for Memory {
    type Store = MemoryStore;
    fn name(&self) -> String {
        "memory".to_owned()
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }
    async fn open(&self, _data_set: usize) -> Result<MemoryStore> {
        Ok(MemoryStore::new())
    }
}

#[tokio::test]
async fn the_memory_store_passes_the_store_suite() {
    let report = asyncz_testkit::run_store_suite(&Memory).await;
    println!("{report}");
    report.assert_passed();
    // Memory is not persistent, cannot hold an undecodable record and has no server.
    let mut skipped = report.skipped.clone();
    skipped.sort_unstable();
    assert_eq!(
        skipped,
        [
            "a_stored_trigger_is_rebuilt_at_the_schedulers_clock",
            "an_undecodable_due_record_leaves_the_engine_idle_and_the_log_small",
            "an_undecodable_record_does_not_drive_the_next_run_time",
            "an_undecodable_record_is_skipped_reported_and_kept",
            "start_against_an_unreachable_server_fails_within_its_connect_timeout",
            "tasks_survive_reopening_the_store",
        ]
    );
}
