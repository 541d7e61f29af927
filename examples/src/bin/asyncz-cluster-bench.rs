//! `asyncz-cluster-bench --backend postgres|redis|... [--tasks N] [--nodes 1,2,3]
//! [--seconds S]`: fires per second a cluster sustains, with 1, 2 and 3 node processes of
//! `asyncz-cluster-node` over one store; N no-op tasks fire every second. On PostgreSQL it
//! also counts commits per fire (`pg_stat_database.xact_commit`) and the idle cost (commits
//! per second per node with nothing due). `cargo xtask bench cluster` runs it (release build).

use std::process::{Command, ExitCode};
use std::time::Duration;

use asyncz::chrono::{DurationRound, Utc};
use asyncz::cluster::{HistoryQuery, RunState};
use asyncz::{IntervalTrigger, Store, TaskBuilder};
use asyncz_examples::chaos::{self, ChaosConfig};

/// How long the idle cost is measured (before the first fire).
const IDLE_SECONDS: u64 = 5;

const USAGE: &str =
    "usage: asyncz-cluster-bench --backend NAME [--tasks N] [--nodes 1,2,3] [--seconds S]";

fn xact_commit(url: &str) -> Option<u64> {
    let out = Command::new("psql")
        .args([
            url,
            "-qAtc",
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()",
        ])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

async fn set_up(
    store: &serde_json::Value,
    tasks: usize,
    start: asyncz::chrono::DateTime<Utc>,
) -> Result<(), String> {
    let scheduler = chaos::plain_scheduler(store).await?;
    scheduler
        .remove_all_tasks(None)
        .await
        .map_err(|e| e.to_string())?;
    let handle = scheduler
        .lookup_store("default")
        .map_err(|e| e.to_string())?;
    if let Some(cluster) = handle.cluster() {
        cluster
            .prune_runs(Utc::now() + asyncz::chrono::Duration::days(1), 0)
            .await
            .map_err(|e| e.to_string())?;
    }
    for i in 0..tasks {
        scheduler
            .add_task(
                TaskBuilder::new()
                    .id(format!("bench-{i}"))
                    .function("bench.noop")
                    .mistrigger_grace_time(None)
                    .trigger(IntervalTrigger::new().seconds(1).start_at(start)),
            )
            .await
            .map_err(|e| e.to_string())?;
    }
    scheduler.shutdown(true).await.map_err(|e| e.to_string())?;
    Ok(())
}

async fn finished_between(
    store: &serde_json::Value,
    from: asyncz::chrono::DateTime<Utc>,
    until: asyncz::chrono::DateTime<Utc>,
) -> Result<usize, String> {
    let scheduler = chaos::plain_scheduler(store).await?;
    let runs = scheduler
        .history(
            &HistoryQuery::new()
                .states([RunState::Succeeded])
                .limit(10_000_000),
        )
        .await
        .map_err(|e| e.to_string())?;
    scheduler.shutdown(true).await.map_err(|e| e.to_string())?;
    Ok(runs
        .iter()
        .filter(|r| r.finished_at.is_some_and(|f| f >= from && f < until))
        .count())
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mut backend, mut tasks, mut node_counts, mut seconds) =
        (None, 10_000usize, vec![1usize, 2, 3], 10u64);
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next();
        let parsed = match (flag.as_str(), value) {
            ("--backend", Some(v)) => {
                backend = Some(v.clone());
                Ok(())
            }
            ("--tasks", Some(v)) => v
                .parse()
                .map(|n| tasks = n)
                .map_err(|e| format!("--tasks {v:?}: {e}")),
            ("--seconds", Some(v)) => v
                .parse()
                .map(|n| seconds = n)
                .map_err(|e| format!("--seconds {v:?}: {e}")),
            ("--nodes", Some(v)) => v
                .split(',')
                .map(str::parse)
                .collect::<Result<Vec<usize>, _>>()
                .map(|n| node_counts = n)
                .map_err(|e| format!("--nodes {v:?}: {e}")),
            (other, _) => Err(format!("unknown or incomplete option {other:?}")),
        };
        if let Err(e) = parsed {
            eprintln!("{e}\n{USAGE}");
            return ExitCode::from(2);
        }
    }
    let Some(backend) = backend else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let dir = std::env::temp_dir().join(format!("asyncz-cluster-bench-{}", std::process::id()));
    let (store, _) = match chaos::backend(&backend, "asyncz_bench", &dir) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let pg_url = (backend == "postgres").then(|| {
        std::env::var("ASYNCZ_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
    });
    println!("backend   tasks  nodes  fires_per_s  commits_per_fire  idle_commits_per_s_per_node");
    for &nodes in &node_counts {
        let start = (Utc::now() + asyncz::chrono::Duration::seconds(IDLE_SECONDS as i64 + 4))
            .duration_trunc(asyncz::chrono::Duration::seconds(1))
            .unwrap_or_else(|_| Utc::now());
        if let Err(e) = set_up(&store, tasks, start).await {
            eprintln!("setting up: {e}");
            return ExitCode::FAILURE;
        }
        let config = ChaosConfig {
            backend: backend.clone(),
            store: store.clone(),
            cut: None,
            nodes,
            seconds,
            second_tasks: 0,
            fast_tasks: 0,
            lease: Duration::from_secs(15),
            heartbeat: Duration::from_secs(5),
            node_timeout: Duration::from_secs(15),
            poll: Duration::from_secs(1),
            seed: 1,
            node_binary: chaos::node_binary(),
            dir: dir.clone(),
        };
        let _ = std::fs::create_dir_all(&dir);
        let log = dir.join("bench.log");
        let mut procs = Vec::new();
        for i in 0..nodes {
            match chaos::spawn_node(&config, i, 0, &log) {
                Ok(p) => procs.push(p),
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        // Idle first: the tasks' first fire is still seconds away, so the nodes only poll and
        // heartbeat. Then warm up two seconds past the first fire, and measure.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let idle_from = pg_url.as_deref().and_then(xact_commit);
        tokio::time::sleep(Duration::from_secs(IDLE_SECONDS)).await;
        let idle_until = pg_url.as_deref().and_then(xact_commit);
        let idle = match (idle_from, idle_until) {
            (Some(a), Some(b)) => Some((b - a) as f64 / IDLE_SECONDS as f64 / nodes as f64),
            _ => None,
        };
        let from = start + asyncz::chrono::Duration::seconds(2);
        tokio::time::sleep((from - Utc::now()).to_std().unwrap_or_default()).await;
        let commits_before = pg_url.as_deref().and_then(xact_commit);
        let until = from + asyncz::chrono::Duration::seconds(seconds as i64);
        tokio::time::sleep((until - Utc::now()).to_std().unwrap_or_default()).await;
        let commits_after = pg_url.as_deref().and_then(xact_commit);
        for p in &procs {
            chaos::signal(p.child.id(), "-TERM");
        }
        for mut p in procs {
            let _ = p.child.wait();
        }
        let fires = match finished_between(&store, from, until).await {
            Ok(n) => n,
            Err(e) => {
                eprintln!("reading the ledger: {e}");
                return ExitCode::FAILURE;
            }
        };
        let per_s = fires as f64 / seconds as f64;
        let commits = match (commits_before, commits_after) {
            (Some(a), Some(b)) if fires > 0 => format!("{:.3}", (b - a) as f64 / fires as f64),
            _ => "-".to_owned(),
        };
        let idle = idle.map_or("-".to_owned(), |i| format!("{i:.2}"));
        println!("{backend:<9} {tasks:>6}  {nodes:>5}  {per_s:>11.0}  {commits:>16}  {idle:>27}");
    }
    ExitCode::SUCCESS
}
