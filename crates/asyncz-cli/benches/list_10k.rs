//! `asyncz list --json` on 10 000 tasks in PostgreSQL (`ASYNCZ_TEST_POSTGRES_URL`): seeds a
//! table of its own, runs the built binary several times and prints the wall times (the
//! target is under 1 s). A bench binary (`harness = false`), not a timed test:
//! `cargo bench -p asyncz-cli --bench list_10k`.
#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::{Duration, Instant};

use asyncz::{CallContext, IntervalTrigger, TaskBuilder};

const TASKS: usize = 10_000;

fn main() {
    let Ok(url) = std::env::var("ASYNCZ_TEST_POSTGRES_URL") else {
        println!("skipping: ASYNCZ_TEST_POSTGRES_URL is not set");
        return;
    };
    let table = format!("asyncz_cli_bench_{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("asyncz.toml");
    std::fs::write(
        &config,
        format!("[asyncz.stores.default]\nurl = \"{url}\"\ntablename = \"{table}\"\n"),
    )
    .unwrap();
    let config = config.to_str().unwrap().to_owned();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let map = asyncz_cli::commands::store::read_config(&config).unwrap();
    let scheduler = asyncz::builder().config(map).build().unwrap();
    rt.block_on(async {
        scheduler.register("f", |_: CallContext| {}).unwrap();
        scheduler.start_paused().await.unwrap();
        let seeded = Instant::now();
        for i in 0..TASKS {
            scheduler
                .add_task(
                    TaskBuilder::new()
                        .id(format!("task-{i:05}"))
                        .function("f")
                        .trigger(IntervalTrigger::new().every(Duration::from_secs(60 + i as u64)))
                        .kwarg("n", i),
                )
                .await
                .unwrap();
        }
        println!("seeded {TASKS} tasks in {:?}", seeded.elapsed());
    });
    let mut times = Vec::new();
    for _ in 0..5 {
        let began = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_asyncz"))
            .args(["list", "--json", "--config", &config])
            .output()
            .unwrap();
        let took = began.elapsed();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(list.as_array().unwrap().len(), TASKS);
        times.push(took);
    }
    times.sort();
    println!(
        "asyncz list --json, {TASKS} tasks in PostgreSQL: min {:?}, median {:?}, max {:?}",
        times[0],
        times[times.len() / 2],
        times[times.len() - 1]
    );
    rt.block_on(async {
        scheduler.remove_all_tasks(None).await.unwrap();
        scheduler.shutdown(true).await.unwrap();
    });
}
