//! `asyncz-cluster-bench --backend postgres|redis|... [--tasks N] [--nodes 1,2,3]
//! [--seconds S]`: fires per second a cluster sustains, with 1, 2 and 3 node processes of
//! `asyncz-cluster-node` over one store; N no-op tasks fire every second. The tasks are added
//! first, with their first fire time set from how long adding them takes, so the measured
//! window (from 2 s after the first fire) is steady state, not the catch-up of a schedule
//! that started during the set-up. It reports the lateness of the measured runs (start −
//! scheduled). On PostgreSQL it also counts transactions per fire: the cluster runs in a
//! database of its own (`asyncz_bench`, created if missing, so other users of the server do not
//! count), and `pg_stat_database.xact_commit` is read only while none of its connections is
//! open (a backend flushes its counts lazily, but always when it exits), over the nodes' whole
//! life. `cargo xtask bench cluster` runs it (release build).

use std::process::{Command, ExitCode};
use std::time::Duration;

use asyncz::chrono::{DurationRound, Utc};
use asyncz::cluster::{HistoryQuery, RunState};
use asyncz::{IntervalTrigger, Store, TaskBuilder};
use asyncz_examples::chaos::{self, ChaosConfig};

/// Seconds between the end of the set-up and the first fire (the nodes start meanwhile).
const LEAD_SECONDS: f64 = 3.0;
/// Seconds from the first fire to the measured window.
const WARM_UP_SECONDS: i64 = 2;
/// The database the PostgreSQL cluster runs in.
const PG_DATABASE: &str = "asyncz_bench";

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

/// `url` naming database `name` instead of its own.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let host = base.find("://").map_or(0, |i| i + 3);
    let server = match base[host..].find('/') {
        Some(i) => &base[..host + i],
        None => base,
    };
    match query {
        Some(q) => format!("{server}/{name}?{q}"),
        None => format!("{server}/{name}"),
    }
}

/// The bench's own PostgreSQL database (created when missing): its URL.
fn pg_database(url: &str) -> Result<String, String> {
    let exists = Command::new("psql")
        .args([
            url,
            "-qAtc",
            &format!("SELECT 1 FROM pg_database WHERE datname = '{PG_DATABASE}'"),
        ])
        .output()
        .map_err(|e| format!("cannot run psql: {e}"))?;
    if String::from_utf8_lossy(&exists.stdout).trim() != "1" {
        let created = Command::new("psql")
            .args([url, "-qAtc", &format!("CREATE DATABASE {PG_DATABASE}")])
            .output()
            .map_err(|e| format!("cannot run psql: {e}"))?;
        if !created.status.success() {
            return Err(format!(
                "cannot create database {PG_DATABASE}: {}",
                String::from_utf8_lossy(&created.stderr).trim()
            ));
        }
    }
    Ok(with_database(url, PG_DATABASE))
}

/// Adds `tasks` tasks firing every second; returns the first fire time, `LEAD_SECONDS` after
/// the set-up ends. The first 100 adds are timed to estimate how long the rest take; the
/// tasks added before the estimate get the same first fire time (set explicitly).
async fn set_up(
    store: &serde_json::Value,
    tasks: usize,
) -> Result<asyncz::chrono::DateTime<Utc>, String> {
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
    let add = |i: usize, start: asyncz::chrono::DateTime<Utc>| {
        TaskBuilder::new()
            .id(format!("bench-{i}"))
            .function("bench.noop")
            .mistrigger_grace_time(None)
            .next_run_time(start)
            .trigger(IntervalTrigger::new().seconds(1).start_at(start))
    };
    // A placeholder far ahead for the timed adds; they are rescheduled below.
    let far = Utc::now() + asyncz::chrono::Duration::hours(1);
    let probe = tasks.min(100);
    let began = std::time::Instant::now();
    for i in 0..probe {
        scheduler
            .add_task(add(i, far))
            .await
            .map_err(|e| e.to_string())?;
    }
    let per_task = began.elapsed().as_secs_f64() / probe.max(1) as f64;
    let rest = per_task * (tasks + probe) as f64 * 1.5;
    let start = (Utc::now()
        + asyncz::chrono::Duration::milliseconds(((rest + LEAD_SECONDS) * 1000.0) as i64))
    .duration_trunc(asyncz::chrono::Duration::seconds(1))
    .unwrap_or_else(|_| Utc::now());
    for i in 0..probe {
        scheduler
            .add_task(add(i, start).replace_existing(true))
            .await
            .map_err(|e| e.to_string())?;
    }
    for i in probe..tasks {
        scheduler
            .add_task(add(i, start))
            .await
            .map_err(|e| e.to_string())?;
    }
    scheduler.shutdown(true).await.map_err(|e| e.to_string())?;
    Ok(start)
}

/// What the ledger says about a measured window.
struct Window {
    /// Runs that succeeded in the window.
    fires: usize,
    /// Their lateness (start − scheduled), sorted, in milliseconds.
    lateness_ms: Vec<f64>,
    /// Run records created while the nodes lived.
    recorded: usize,
}

async fn read_window(
    store: &serde_json::Value,
    from: asyncz::chrono::DateTime<Utc>,
    until: asyncz::chrono::DateTime<Utc>,
    nodes_from: asyncz::chrono::DateTime<Utc>,
) -> Result<Window, String> {
    let scheduler = chaos::plain_scheduler(store).await?;
    let runs = scheduler
        .history(&HistoryQuery::new().limit(10_000_000))
        .await
        .map_err(|e| e.to_string())?;
    scheduler.shutdown(true).await.map_err(|e| e.to_string())?;
    let measured: Vec<_> = runs
        .iter()
        .filter(|r| r.state == RunState::Succeeded)
        .filter(|r| r.finished_at.is_some_and(|f| f >= from && f < until))
        .collect();
    let mut lateness_ms: Vec<f64> = measured
        .iter()
        .filter_map(|r| r.lateness())
        .map(|l| l.num_microseconds().unwrap_or(i64::MAX) as f64 / 1000.0)
        .collect();
    lateness_ms.sort_by(f64::total_cmp);
    Ok(Window {
        fires: measured.len(),
        lateness_ms,
        recorded: runs.iter().filter(|r| r.created_at >= nodes_from).count(),
    })
}

/// The `q` quantile of sorted values.
fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    sorted.get(((last as f64) * q).round() as usize).copied()
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
    let (mut store, _) = match chaos::backend(&backend, "asyncz_bench", &dir) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let pg_url = if backend == "postgres" {
        let url = std::env::var("ASYNCZ_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
        match pg_database(&url) {
            Ok(own) => {
                store["url"] = serde_json::Value::String(own.clone());
                Some(own)
            }
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        None
    };
    println!(
        "backend   tasks  nodes  fires_per_s  late_p50_ms  late_p99_ms  late_max_ms  commits_per_fire"
    );
    for &nodes in &node_counts {
        let start = match set_up(&store, tasks).await {
            Ok(start) => start,
            Err(e) => {
                eprintln!("setting up: {e}");
                return ExitCode::FAILURE;
            }
        };
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
        // No connection of the bench's is open here: the count is complete.
        let commits_before = pg_url.as_deref().and_then(xact_commit);
        let nodes_from = Utc::now();
        if nodes_from >= start {
            eprintln!(
                "warning: the set-up ended {} ms after the first fire time; the window may see catch-up fires",
                (nodes_from - start).num_milliseconds()
            );
        }
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
        let from = start + asyncz::chrono::Duration::seconds(WARM_UP_SECONDS);
        let until = from + asyncz::chrono::Duration::seconds(seconds as i64);
        tokio::time::sleep((until - Utc::now()).to_std().unwrap_or_default()).await;
        for p in &procs {
            chaos::signal(p.child.id(), "-TERM");
        }
        for mut p in procs {
            let _ = p.child.wait();
        }
        // Every node's backend has exited (and so flushed its counts).
        tokio::time::sleep(Duration::from_millis(500)).await;
        let commits_after = pg_url.as_deref().and_then(xact_commit);
        let window = match read_window(&store, from, until, nodes_from).await {
            Ok(w) => w,
            Err(e) => {
                eprintln!("reading the ledger: {e}");
                return ExitCode::FAILURE;
            }
        };
        let per_s = window.fires as f64 / seconds as f64;
        let commits = match (commits_before, commits_after) {
            (Some(a), Some(b)) if window.recorded > 0 => {
                format!("{:.3}", b.saturating_sub(a) as f64 / window.recorded as f64)
            }
            _ => "-".to_owned(),
        };
        let ms =
            |q: f64| quantile(&window.lateness_ms, q).map_or("-".to_owned(), |v| format!("{v:.0}"));
        println!(
            "{backend:<9} {tasks:>6}  {nodes:>5}  {per_s:>11.0}  {:>11}  {:>11}  {:>11}  {commits:>16}",
            ms(0.5),
            ms(0.99),
            ms(1.0)
        );
    }
    ExitCode::SUCCESS
}
