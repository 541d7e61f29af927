//! Memory per idle scheduled task, at 1M tasks in the memory store (issue target: ≤ 1 KiB).
//! Reads the resident set size from /proc before and after adding the tasks.
//!
//! `cargo bench -p asyncz --bench memory`

use asyncz::chrono::Utc;
use asyncz::{CallContext, IntervalTrigger, TaskBuilder};

fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn main() {
    let count: usize = std::env::var("ASYNCZ_BENCH_TASKS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let scheduler = asyncz::builder().build().expect("scheduler");
        scheduler.register("noop", |_ctx: CallContext| ()).expect("register");
        scheduler.start().await.expect("start");
        let start = Utc::now() + asyncz::chrono::Duration::days(1);
        let before = rss_bytes();
        for i in 0..count {
            scheduler
                .add_task(
                    TaskBuilder::new()
                        .function("noop")
                        .trigger(IntervalTrigger::new().hours(1).start_at(start + asyncz::chrono::Duration::seconds(i as i64))),
                )
                .await
                .expect("add");
        }
        let after = rss_bytes();
        match (before, after) {
            (Some(b), Some(a)) => println!(
                "memory per idle scheduled task at {count} tasks: {:.0} bytes (RSS {:.1} MiB -> {:.1} MiB)",
                (a.saturating_sub(b)) as f64 / count as f64,
                b as f64 / 1048576.0,
                a as f64 / 1048576.0
            ),
            _ => println!("/proc/self/statm is not readable on this platform"),
        }
        scheduler.shutdown(false).await.expect("shutdown");
    });
}
