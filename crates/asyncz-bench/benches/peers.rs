//! Punctuality beside the peers (issue 14): N tasks each firing every second for S seconds,
//! in asyncz (default memory store, tokio executor, cron `second="*"`) and in
//! tokio-cron-scheduler 0.15.1 (`* * * * * *`), one scheduler after the other in one process.
//! Lateness is start − scheduled time, taken as the job's first statement; a fire that never
//! started in the window is lost. tokio-cron-scheduler hands its jobs no scheduled time, so
//! theirs is the whole second the job started in (exact while it is less than a second late).
//!
//! `cargo xtask bench punctuality` runs
//! `cargo bench -p asyncz-bench --bench peers -- --tasks 100,1000,10000 --seconds 20`
//! (`--only asyncz` or `--only tokio-cron-scheduler` runs one of them).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use asyncz::chrono::{DateTime, DurationRound, TimeDelta, Utc};
use asyncz::{CallContext, CronTrigger, TaskBuilder};
use asyncz_bench::{Samples, Summary};

/// Runs started before the window are the warm-up; those started after it are not waited for
/// longer than this.
const WARM_UP: TimeDelta = TimeDelta::seconds(3);
const GRACE: Duration = Duration::from_millis(1500);

/// `(scheduled second, lateness in ms)` of each run.
type Sink = Arc<Mutex<Vec<(i64, f64)>>>;

struct Args {
    tasks: Vec<usize>,
    seconds: i64,
    only: Option<String>,
}

fn args() -> Result<Args, String> {
    let mut out = Args {
        tasks: vec![100, 1000, 10_000],
        seconds: 20,
        only: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--tasks" => {
                let v = it.next().ok_or("--tasks needs a value")?;
                out.tasks = v
                    .split(',')
                    .map(|n| {
                        n.trim()
                            .parse()
                            .map_err(|_| format!("--tasks: {n:?} is not a count"))
                    })
                    .collect::<Result<_, _>>()?;
            }
            "--seconds" => {
                let v = it.next().ok_or("--seconds needs a value")?;
                out.seconds = v
                    .parse()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or(format!("--seconds: {v:?} is not a positive number"))?;
            }
            "--only" => out.only = Some(it.next().ok_or("--only needs a value")?),
            // cargo bench passes `--bench`.
            "--bench" => {}
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(out)
}

/// The first whole second after the warm-up.
fn window_start() -> DateTime<Utc> {
    (Utc::now() + WARM_UP + TimeDelta::seconds(1))
        .duration_trunc(TimeDelta::seconds(1))
        .expect("a whole second")
}

async fn wait_until(at: DateTime<Utc>) {
    let left = (at - Utc::now()).to_std().unwrap_or(Duration::ZERO);
    tokio::time::sleep(left).await;
}

/// The runs scheduled in `[start, start + seconds)`.
fn in_window(sink: &Sink, start: DateTime<Utc>, seconds: i64, tasks: usize) -> Samples {
    let (from, to) = (start.timestamp(), start.timestamp() + seconds);
    let runs = sink.lock().expect("lock");
    Samples {
        late_ms: runs
            .iter()
            .filter(|(at, _)| (from..to).contains(at))
            .map(|(_, late)| *late)
            .collect(),
        expected: tasks as u64 * seconds as u64,
    }
}

fn late_ms(now: DateTime<Utc>, scheduled: DateTime<Utc>) -> f64 {
    (now - scheduled).num_microseconds().unwrap_or(i64::MAX) as f64 / 1000.0
}

async fn asyncz_run(tasks: usize, seconds: i64) -> Result<Samples, String> {
    let sink: Sink = Arc::new(Mutex::new(Vec::with_capacity(
        tasks * (seconds as usize + 5),
    )));
    let scheduler = asyncz::builder().build().map_err(|e| e.to_string())?;
    scheduler
        .register_async("peer_probe", {
            let sink = Arc::clone(&sink);
            move |ctx: CallContext| {
                let sink = Arc::clone(&sink);
                async move {
                    let late = late_ms(Utc::now(), ctx.scheduled_run_time);
                    let at = ctx.scheduled_run_time.timestamp();
                    sink.lock().expect("lock").push((at, late));
                }
            }
        })
        .map_err(|e| e.to_string())?;
    for i in 0..tasks {
        let trigger = CronTrigger::builder()
            .second("*")
            .build()
            .map_err(|e| e.to_string())?;
        scheduler
            .add_task(
                TaskBuilder::new()
                    .id(format!("peer-{i}"))
                    .function("peer_probe")
                    .trigger(trigger),
            )
            .await
            .map_err(|e| e.to_string())?;
    }
    scheduler.start().await.map_err(|e| e.to_string())?;
    let start = window_start();
    wait_until(start + TimeDelta::seconds(seconds)).await;
    tokio::time::sleep(GRACE).await;
    scheduler.shutdown(false).await.map_err(|e| e.to_string())?;
    Ok(in_window(&sink, start, seconds, tasks))
}

async fn tcs_run(tasks: usize, seconds: i64) -> Result<Samples, String> {
    use tokio_cron_scheduler::{Job, JobScheduler};
    let sink: Sink = Arc::new(Mutex::new(Vec::with_capacity(
        tasks * (seconds as usize + 5),
    )));
    let scheduler = JobScheduler::new().await.map_err(|e| e.to_string())?;
    for _ in 0..tasks {
        let sink = Arc::clone(&sink);
        let job = Job::new_async("* * * * * *", move |_id, _scheduler| {
            let sink = Arc::clone(&sink);
            Box::pin(async move {
                let now = Utc::now();
                let second = now
                    .duration_trunc(TimeDelta::seconds(1))
                    .expect("a whole second");
                sink.lock()
                    .expect("lock")
                    .push((second.timestamp(), late_ms(now, second)));
            })
        })
        .map_err(|e| e.to_string())?;
        scheduler.add(job).await.map_err(|e| e.to_string())?;
    }
    scheduler.start().await.map_err(|e| e.to_string())?;
    let start = window_start();
    wait_until(start + TimeDelta::seconds(seconds)).await;
    tokio::time::sleep(GRACE).await;
    let mut scheduler = scheduler;
    scheduler.shutdown().await.map_err(|e| e.to_string())?;
    Ok(in_window(&sink, start, seconds, tasks))
}

/// Each run in a runtime of its own (two workers, as on this 2-core machine), so one's
/// leftover tasks cannot slow the other.
fn measure<F, Fut>(run: F) -> Result<Option<Summary>, String>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<Samples, String>>,
{
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let samples = rt.block_on(run())?;
    rt.shutdown_timeout(Duration::from_secs(5));
    Ok(samples.summary())
}

fn cell(summary: &Result<Option<Summary>, String>) -> String {
    match summary {
        Ok(Some(s)) => s.to_string(),
        Ok(None) => "no run started".to_owned(),
        Err(e) => format!("error: {e}"),
    }
}

fn main() {
    let args = match args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("peers: {e}");
            std::process::exit(2);
        }
    };
    let wants = |name: &str| args.only.as_deref().is_none_or(|only| only == name);
    println!(
        "N tasks firing every second for {} s (lateness = start − scheduled time)\n",
        args.seconds
    );
    println!("| tasks | asyncz | tokio-cron-scheduler 0.15.1 | p50 ratio |");
    println!("|---|---|---|---|");
    for &tasks in &args.tasks {
        let ours = if wants("asyncz") {
            measure(|| asyncz_run(tasks, args.seconds))
        } else {
            Err("not run".to_owned())
        };
        let theirs = if wants("tokio-cron-scheduler") {
            measure(|| tcs_run(tasks, args.seconds))
        } else {
            Err("not run".to_owned())
        };
        let ratio = match (&ours, &theirs) {
            (Ok(Some(a)), Ok(Some(b))) if a.p50_ms > 0.0 => format!("{:.0}×", b.p50_ms / a.p50_ms),
            _ => String::new(),
        };
        println!(
            "| {tasks} | {} | {} | {ratio} |",
            cell(&ours),
            cell(&theirs)
        );
    }
}
