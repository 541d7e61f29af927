//! A round of 1,000 due tasks on each persistent store (issue 14: the 1,000th run of a round
//! starts ≤ 50 ms late on SQLite and PostgreSQL). 1,000 tasks on a 3-second interval share
//! their start, so each round has all 1,000 due at once; each run records
//! `Utc::now() - scheduled_run_time` as its first statement. Prints, per store, the lateness of
//! the 1,000th start of each round (median and range over the rounds) and of the median start.
//! Servers come from `ASYNCZ_TEST_*_URL` (stores whose variable is unset are left out).
//!
//! `cargo bench -p asyncz --features full --bench round` (`-- ROUNDS` to change the 5 rounds)

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use asyncz::chrono::{DateTime, DurationRound, Utc};
use asyncz::{
    CallContext, IntervalTrigger, MongoStore, MongoStoreConfig, RedisStore, RedisStoreConfig,
    SqlStore, SqlStoreConfig, Store, TaskBuilder,
};

const TASKS: usize = 1_000;
const EVERY: Duration = Duration::from_secs(3);

type Starts = Arc<Mutex<BTreeMap<DateTime<Utc>, Vec<f64>>>>;

fn stores(dir: &std::path::Path) -> Vec<(&'static str, Arc<dyn Store>)> {
    let mut out: Vec<(&'static str, Arc<dyn Store>)> = Vec::new();
    let sqlite = format!("sqlite://{}/round.db", dir.display());
    if let Ok(s) = SqlStore::new(SqlStoreConfig::new(sqlite)) {
        out.push(("sqlite", Arc::new(s)));
    }
    let var = |v: &str| std::env::var(v).ok().filter(|s| !s.is_empty());
    for (name, v) in [
        ("postgres", "ASYNCZ_TEST_POSTGRES_URL"),
        ("mysql", "ASYNCZ_TEST_MYSQL_URL"),
    ] {
        if let Some(url) = var(v) {
            let config = SqlStoreConfig::new(url).tablename("asyncz_round_bench");
            if let Ok(s) = SqlStore::new(config) {
                out.push((name, Arc::new(s)));
            }
        }
    }
    if let Some(url) = var("ASYNCZ_TEST_REDIS_URL") {
        let config = RedisStoreConfig::new(url)
            .tasks_key("asyncz.round_bench.tasks")
            .run_times_key("asyncz.round_bench.run_times");
        if let Ok(s) = RedisStore::new(config) {
            out.push(("redis", Arc::new(s)));
        }
    }
    if let Some(url) = var("ASYNCZ_TEST_MONGO_URL") {
        let config = MongoStoreConfig::new(url).database("asyncz_round_bench");
        out.push(("mongo", Arc::new(MongoStore::new(config))));
    }
    out
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Runs `rounds` rounds on `store`; returns each full round's (1,000th start, median start)
/// lateness in milliseconds.
async fn measure(store: Arc<dyn Store>, rounds: usize) -> asyncz::Result<Vec<(f64, f64)>> {
    let starts: Starts = Arc::default();
    let scheduler = asyncz::builder().store("default", store).build()?;
    scheduler.register_async("round_probe", {
        let starts = Arc::clone(&starts);
        move |ctx: CallContext| {
            let starts = Arc::clone(&starts);
            async move {
                let late = (Utc::now() - ctx.scheduled_run_time)
                    .num_microseconds()
                    .unwrap_or(i64::MAX) as f64
                    / 1000.0;
                let mut starts = starts.lock().expect("lock");
                starts.entry(ctx.scheduled_run_time).or_default().push(late);
            }
        }
    })?;
    scheduler.start().await?;
    scheduler.remove_all_tasks(None).await?;
    let first = (Utc::now() + asyncz::chrono::Duration::seconds(8))
        .duration_trunc(asyncz::chrono::Duration::seconds(1))
        .expect("a whole second");
    for i in 0..TASKS {
        scheduler
            .add_task(
                TaskBuilder::new()
                    .id(format!("round-{i:04}"))
                    .function("round_probe")
                    .trigger(IntervalTrigger::new().every(EVERY).start_at(first)),
            )
            .await?;
    }
    let end = first + asyncz::chrono::Duration::from_std(EVERY * rounds as u32).expect("span");
    while Utc::now() < end + asyncz::chrono::Duration::seconds(1) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    scheduler.remove_all_tasks(None).await?;
    scheduler.shutdown(true).await?;
    let starts = starts.lock().expect("lock");
    Ok(starts
        .values()
        .filter(|late| late.len() == TASKS)
        .map(|late| {
            let mut late = late.clone();
            late.sort_by(f64::total_cmp);
            (late[TASKS - 1], percentile(&late, 0.5))
        })
        .collect())
}

fn main() {
    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(5);
    let dir = tempfile::tempdir().expect("temp dir");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "{TASKS} tasks due at once every {} s, {rounds} rounds",
        EVERY.as_secs()
    );
    println!("| store | 1,000th start late, median (range) | median start late |");
    println!("|---|---|---|");
    for (name, store) in stores(dir.path()) {
        match rt.block_on(measure(store, rounds)) {
            Ok(rows) if !rows.is_empty() => {
                let mut last: Vec<f64> = rows.iter().map(|r| r.0).collect();
                let mut median: Vec<f64> = rows.iter().map(|r| r.1).collect();
                last.sort_by(f64::total_cmp);
                median.sort_by(f64::total_cmp);
                println!(
                    "| {name} | {:.1} ms ({:.1}–{:.1}) | {:.1} ms |",
                    percentile(&last, 0.5),
                    last[0],
                    last[last.len() - 1],
                    percentile(&median, 0.5),
                );
            }
            Ok(_) => println!("| {name} | no round ran all {TASKS} tasks | |"),
            Err(e) => println!("| {name} | error: {e} | |"),
        }
    }
}
