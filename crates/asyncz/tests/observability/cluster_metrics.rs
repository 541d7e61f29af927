//! The cluster's metrics with a recording recorder: a node's heartbeat age, and a run left
//! running by a dead node counted as `asyncz_runs_total{outcome="abandoned"}` by the node that
//! settles it. SQLite, one node in this process and a made-up dead one.

use std::time::Duration;

use asyncz::chrono::Utc;
use asyncz::cluster::{ClusterConfig, NodeInfo, OnNodeDeath, RunKind, RunRecord, RunState};
use asyncz::metrics::{NODE_HEARTBEAT_AGE_SECONDS, RUNS_TOTAL};
use metrics_util::debugging::DebuggingRecorder;
use serde_json::json;

use crate::common::Seen;

#[test]
fn a_node_reports_its_heartbeat_age_and_counts_a_dead_nodes_run_as_abandoned() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let mut seen = Seen::default();
    crate::metrics::local(&recorder, async {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("cluster.db").display());
        let stores = json!({"asyncz.stores.default": {"type": "sql", "url": url}});
        let node = asyncz::builder()
            .config(stores.as_object().cloned().unwrap())
            .cluster(
                ClusterConfig::new()
                    .node_id("a")
                    .lease(Duration::from_millis(600))
                    .heartbeat_interval(Duration::from_millis(100))
                    .node_timeout(Duration::from_millis(400))
                    .poll_interval(Duration::from_millis(50)),
            )
            .build()
            .unwrap();
        node.start().await.unwrap();

        // A node that heartbeat once, started a run and went silent.
        let store = node.lookup_store("default").unwrap();
        let cluster = store.cluster().unwrap();
        cluster
            .heartbeat(&NodeInfo::new("ghost", "elsewhere", 1, Utc::now()))
            .await
            .unwrap();
        let run = RunRecord::new(
            "t",
            Utc::now() - asyncz::chrono::Duration::seconds(1),
            RunKind::Scheduled,
            RunState::Submitted,
            Utc::now(),
        )
        .with_owner("ghost", 7)
        .with_on_node_death(OnNodeDeath::Abandon);
        cluster.insert_run(&run).await.unwrap();
        assert!(cluster
            .start_run(&run.as_ref().unwrap(), Utc::now())
            .await
            .unwrap());

        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let record = node.run_record(&run.run_id).await.unwrap().unwrap();
            if record.state == RunState::Abandoned {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{record:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        node.shutdown(true).await.unwrap();
    });
    seen.take(&snapshotter);
    assert_eq!(
        seen.counter(RUNS_TOTAL, &[("outcome", "abandoned")]),
        1,
        "{:?}",
        seen.counters
    );
    assert_eq!(seen.counter(RUNS_TOTAL, &[("outcome", "succeeded")]), 0);
    let age = seen
        .gauge(NODE_HEARTBEAT_AGE_SECONDS, &[("node", "a")])
        .unwrap_or_else(|| panic!("no heartbeat age: {:?}", seen.gauges));
    assert!(
        (0.0..2.0).contains(&age),
        "the last heartbeat is recent: {age}"
    );
}
