//! The cluster chaos test, short: 3 node processes per backend for 6 seconds, with kills,
//! a pause past the lease and (SQL, Redis) every connection cut. SQLite always runs; the
//! servers run when their `ASYNCZ_TEST_*_URL` is set (CI sets them all). Longer runs by hand:
//! `cargo xtask chaos --backend postgres --nodes 5 --seconds 120`.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::time::Duration;

use asyncz_examples::chaos::{self, ChaosConfig, ChaosReport};

const BACKENDS: &[(&str, Option<&str>)] = &[
    ("sqlite", None),
    ("postgres", Some("ASYNCZ_TEST_POSTGRES_URL")),
    ("mysql", Some("ASYNCZ_TEST_MYSQL_URL")),
    ("redis", Some("ASYNCZ_TEST_REDIS_URL")),
    ("mongo", Some("ASYNCZ_TEST_MONGO_URL")),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fire_runs_once_across_killed_paused_and_cut_off_nodes() {
    let root = tempfile::tempdir().unwrap();
    let mut reports = Vec::new();
    let mut failures = Vec::new();
    for (name, var) in BACKENDS {
        if let Some(var) = var {
            if std::env::var(var).map_or(true, |v| v.is_empty()) {
                eprintln!("skipping: {name} ({var} is not set)");
                continue;
            }
        }
        let dir = root.path().join(name);
        let (store, cut) = chaos::backend(name, "asyncz_chaos", &dir).unwrap();
        let config = ChaosConfig {
            backend: (*name).to_owned(),
            store,
            cut,
            nodes: 3,
            seconds: 6,
            second_tasks: 3,
            fast_tasks: 1,
            lease: Duration::from_millis(1500),
            heartbeat: Duration::from_millis(300),
            node_timeout: Duration::from_millis(1500),
            poll: Duration::from_millis(200),
            seed: 0x5eed + reports.len() as u64,
            node_binary: PathBuf::from(env!("CARGO_BIN_EXE_asyncz-cluster-node")),
            dir,
        };
        let report = chaos::run(&config).await.unwrap();
        if !report.passed(&config, Duration::from_secs(2)) {
            failures.push(format!("{}: {:?}", name, report.problems));
        }
        reports.push(report);
    }
    println!("{}", ChaosReport::HEADER);
    for r in &reports {
        println!("{}", r.row());
    }
    assert!(
        failures.is_empty(),
        "{failures:#?}\n{}\n{}",
        ChaosReport::HEADER,
        reports
            .iter()
            .map(ChaosReport::row)
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        reports.iter().all(|r| r.kills > 0 && r.pauses == 1),
        "the chaos did happen"
    );
}
