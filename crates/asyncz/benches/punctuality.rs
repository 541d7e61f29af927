//! Schedule-to-start lateness of one task (issue 14's first target: p50 ≤ 100 µs, p99 ≤ 1 ms):
//! one task on a 20 ms interval, default memory store, tokio executor, wall clock; each run
//! records `Utc::now() - scheduled_run_time` as its first statement. Prints p50/p99/max over
//! the runs after a warm-up, and the process CPU time per second of the measuring window, so a
//! precise wait that spins a core would show.
//!
//! `cargo bench -p asyncz --bench punctuality` (`-- RUNS` to change the 500 runs)

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use asyncz::chrono::Utc;
use asyncz::{CallContext, IntervalTrigger, TaskBuilder};

fn cpu_seconds() -> Option<f64> {
    // Linux: utime + stime of this process, in clock ticks (100 per second).
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after_name = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    let runs: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(500);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let late: Arc<Mutex<Vec<f64>>> = Arc::new(Mutex::new(Vec::with_capacity(runs + 50)));
    let (cpu, wall) = rt.block_on(async {
        let scheduler = asyncz::builder().build().expect("scheduler");
        scheduler
            .register_async("probe_async", {
                let sink = Arc::clone(&late);
                move |ctx: CallContext| {
                    let sink = Arc::clone(&sink);
                    async move {
                        let lateness = (Utc::now() - ctx.scheduled_run_time)
                            .num_nanoseconds()
                            .unwrap_or(i64::MAX) as f64
                            / 1000.0;
                        sink.lock().expect("lock").push(lateness);
                    }
                }
            })
            .expect("register");
        scheduler.start().await.expect("start");
        scheduler
            .add_task(
                TaskBuilder::new()
                    .id("probe")
                    .function("probe_async")
                    .trigger(IntervalTrigger::new().every(Duration::from_millis(20))),
            )
            .await
            .expect("add");
        // Warm-up: the first runs pay for thread and pool start-up.
        tokio::time::sleep(Duration::from_millis(500)).await;
        late.lock().expect("lock").clear();
        let cpu_start = cpu_seconds();
        let started = Instant::now();
        while late.lock().expect("lock").len() < runs {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let wall = started.elapsed().as_secs_f64();
        let cpu = cpu_seconds().zip(cpu_start).map(|(b, a)| b - a);
        scheduler.shutdown(true).await.expect("shutdown");
        (cpu, wall)
    });
    let mut values = late.lock().expect("lock").clone();
    values.truncate(runs);
    values.sort_by(f64::total_cmp);
    println!(
        "one task every 20 ms, {} runs: lateness p50 {:.0} µs, p99 {:.0} µs, max {:.0} µs; CPU {}",
        values.len(),
        percentile(&values, 0.50),
        percentile(&values, 0.99),
        values.last().copied().unwrap_or(0.0),
        cpu.map_or("n/a".to_owned(), |c| format!(
            "{:.1}% of a core",
            100.0 * c / wall
        )),
    );
}
