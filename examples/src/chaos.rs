//! The cluster chaos test: N node processes (`asyncz-cluster-node`) share one store; tasks
//! fire every second and every 100 ms; the driver SIGKILLs random nodes at random moments
//! and restarts them, pauses one (SIGSTOP) past its lease, and for SQL and Redis cuts every
//! connection. At the end it reads the run ledger **and** the append-only log the task
//! functions wrote, and counts, for every scheduled fire time in the window:
//! - `lost`: no run record;
//! - `duplicated`: more than one record, or the function started more than once;
//! - `stale`: the function started on a node or attempt the ledger does not name (a run
//!   executed under a stale claim);
//! - `max_takeover_s`: the latest any run started after its scheduled time (a fire claimed
//!   by a node that died or paused waits for the lease to expire).
//!
//! Runs left by a killed node are `abandoned` (`OnNodeDeath::Abandon`): recorded once, not
//! run again — at most once, and accounted for.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use asyncz::chrono::{DateTime, DurationRound, TimeZone, Utc};
use asyncz::cluster::{HistoryQuery, RunRecord, RunState};
use asyncz::{IntervalTrigger, Store, TaskBuilder};

/// What a chaos run does.
#[derive(Debug, Clone)]
pub struct ChaosConfig {
    /// The backend's name, for the report.
    pub backend: String,
    /// The store's options (`{"type": "sql", "url": ...}`), with a namespace of its own.
    pub store: serde_json::Value,
    /// How to cut the store's connections, if the backend has a way.
    pub cut: Option<Cut>,
    /// How many node processes.
    pub nodes: usize,
    /// How long tasks fire.
    pub seconds: u64,
    /// Tasks firing every second.
    pub second_tasks: usize,
    /// Tasks firing every 100 ms.
    pub fast_tasks: usize,
    /// The nodes' claim lease.
    pub lease: Duration,
    /// The nodes' heartbeat interval.
    pub heartbeat: Duration,
    /// The nodes' node timeout.
    pub node_timeout: Duration,
    /// The nodes' poll interval.
    pub poll: Duration,
    /// Random seed (the kills and pauses it picks are printed).
    pub seed: u64,
    /// The `asyncz-cluster-node` binary.
    pub node_binary: PathBuf,
    /// Where the log and the nodes' stderr go.
    pub dir: PathBuf,
}

/// A way to cut every client connection of a server.
#[derive(Debug, Clone)]
pub enum Cut {
    /// `pg_terminate_backend` on every other backend of the database (through `psql`).
    Postgres(String),
    /// `KILL` every other connection (through `mysql`).
    MySql(String),
    /// `CLIENT KILL TYPE normal` (through `redis-cli`).
    Redis(String),
}

/// The outcome of one chaos run.
#[derive(Debug, Clone, Default)]
pub struct ChaosReport {
    /// Backend name.
    pub backend: String,
    /// Node processes.
    pub nodes: usize,
    /// Scheduled fire times in the window.
    pub fires: usize,
    /// Fire times with no run record.
    pub lost: usize,
    /// Fire times recorded or started more than once.
    pub duplicated: usize,
    /// Function starts the ledger does not attribute to that node and attempt.
    pub stale: usize,
    /// Runs recorded as abandoned (their node was killed mid-run).
    pub abandoned: usize,
    /// Runs recorded as skipped (`max_instances` across the cluster).
    pub skipped: usize,
    /// Runs recorded as failed or missed.
    pub failed: usize,
    /// The latest start after a scheduled time.
    pub max_takeover: Duration,
    /// SIGKILLs, SIGSTOPs and connection cuts done.
    pub kills: usize,
    /// Pauses past the lease.
    pub pauses: usize,
    /// Connection cuts.
    pub cuts: usize,
    /// The first few problems, for the failure message.
    pub problems: Vec<String>,
}

impl ChaosReport {
    /// The table's header.
    pub const HEADER: &'static str =
        "backend    nodes  fires  lost  duplicated  stale  abandoned  skipped  failed  max_takeover_s  kills  pauses  cuts";

    /// One row of the table.
    pub fn row(&self) -> String {
        format!(
            "{:<10} {:>5}  {:>5}  {:>4}  {:>10}  {:>5}  {:>9}  {:>7}  {:>6}  {:>14.2}  {:>5}  {:>6}  {:>4}",
            self.backend,
            self.nodes,
            self.fires,
            self.lost,
            self.duplicated,
            self.stale,
            self.abandoned,
            self.skipped,
            self.failed,
            self.max_takeover.as_secs_f64(),
            self.kills,
            self.pauses,
            self.cuts
        )
    }

    /// Whether every fire ran once, none under a stale claim, and takeovers stayed within
    /// `lease + poll + slack`.
    pub fn passed(&self, config: &ChaosConfig, slack: Duration) -> bool {
        self.lost == 0
            && self.duplicated == 0
            && self.stale == 0
            && self.max_takeover <= config.lease + config.poll + slack
    }
}

/// A small xorshift generator: the driver needs no randomness crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A running `asyncz-cluster-node` process.
pub struct NodeProcess {
    index: usize,
    generation: usize,
    /// The process.
    pub child: Child,
}

/// Starts node `n<index>-<generation>` of `config`, writing its function log to `log`.
pub fn spawn_node(
    config: &ChaosConfig,
    index: usize,
    generation: usize,
    log: &Path,
) -> Result<NodeProcess, String> {
    let id = format!("n{index}-{generation}");
    let stderr = std::fs::File::create(config.dir.join(format!("{id}.stderr")))
        .map_err(|e| format!("cannot create the stderr file of node {id}: {e}"))?;
    let ms = |d: Duration| d.as_millis().to_string();
    let child = Command::new(&config.node_binary)
        .arg(config.store.to_string())
        .arg(&id)
        .arg(log)
        .args([
            ms(config.lease),
            ms(config.heartbeat),
            ms(config.node_timeout),
            ms(config.poll),
        ])
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", config.node_binary.display()))?;
    Ok(NodeProcess {
        index,
        generation,
        child,
    })
}

/// Sends `sig` (`-STOP`, `-CONT`, `-TERM`) to `pid` with `kill`.
pub fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .args([sig, &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

fn cut(cut: &Cut) -> Result<(), String> {
    let status = match cut {
        Cut::Postgres(url) => Command::new("psql")
            .args([url.as_str(), "-qAtc"])
            .arg("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
            .stdout(Stdio::null())
            .status(),
        Cut::MySql(url) => {
            let (user, host, port) = mysql_parts(url);
            let list = Command::new("mysql")
                .args(["-u", &user, "-h", &host, "-P", &port, "-N", "-e"])
                .arg("SELECT id FROM information_schema.processlist WHERE id <> CONNECTION_ID() AND command NOT IN ('Daemon', 'Binlog Dump')")
                .output()
                .map_err(|e| format!("cannot run mysql: {e}"))?;
            let ids = String::from_utf8_lossy(&list.stdout);
            let kills: String = ids
                .split_whitespace()
                .map(|id| format!("KILL {id};"))
                .collect();
            if kills.is_empty() {
                return Ok(());
            }
            Command::new("mysql")
                .args(["-u", &user, "-h", &host, "-P", &port, "-f", "-e", &kills])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
        }
        Cut::Redis(url) => Command::new("redis-cli")
            .args(["-u", url.as_str(), "CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"])
            .stdout(Stdio::null())
            .status(),
    };
    match status {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!("cutting the connections exited with {s}")),
        Err(e) => Err(format!("cannot cut the connections: {e}")),
    }
}

/// `(user, host, port)` of `mysql://user[:pass]@host[:port]/db`.
fn mysql_parts(url: &str) -> (String, String, String) {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let (auth, rest) = rest.rsplit_once('@').unwrap_or(("root", rest));
    let user = auth.split(':').next().unwrap_or("root").to_owned();
    let authority = rest.split(['/', '?']).next().unwrap_or("127.0.0.1:3306");
    let (host, port) = authority.rsplit_once(':').unwrap_or((authority, "3306"));
    (user, host.to_owned(), port.to_owned())
}

/// A started, paused, single-process scheduler over `store`: reads and writes the store and
/// its ledger without running anything.
pub async fn plain_scheduler(store: &serde_json::Value) -> Result<asyncz::Scheduler, String> {
    let config = serde_json::json!({"asyncz.stores.default": store});
    let scheduler = asyncz::builder()
        .config(config.as_object().cloned().unwrap_or_default())
        .build()
        .map_err(|e| e.to_string())?;
    for name in ["chaos.tick", "bench.noop"] {
        scheduler
            .register(name, |_ctx: asyncz::CallContext| ())
            .map_err(|e| e.to_string())?;
    }
    scheduler.start_paused().await.map_err(|e| e.to_string())?;
    Ok(scheduler)
}

/// Adds the tasks (every second, every 100 ms) for `[start, end)`.
async fn set_up(
    config: &ChaosConfig,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<(), String> {
    let scheduler = plain_scheduler(&config.store).await?;
    scheduler
        .remove_all_tasks(None)
        .await
        .map_err(|e| e.to_string())?;
    // The ledger of an earlier run in the same namespace goes too.
    let store = scheduler
        .lookup_store("default")
        .map_err(|e| e.to_string())?;
    let cluster = store
        .cluster()
        .ok_or_else(|| format!("store {} cannot be shared by a cluster", config.store))?;
    cluster
        .prune_runs(Utc::now() + asyncz::chrono::Duration::days(1), 0)
        .await
        .map_err(|e| format!("cannot clear the run ledger: {e}"))?;
    let tasks = (0..config.second_tasks)
        .map(|i| (format!("second-{i}"), Duration::from_secs(1)))
        .chain((0..config.fast_tasks).map(|i| (format!("fast-{i}"), Duration::from_millis(100))));
    for (id, every) in tasks {
        scheduler
            .add_task(
                TaskBuilder::new()
                    .id(&id)
                    .function("chaos.tick")
                    .coalesce(false)
                    .mistrigger_grace_time(None)
                    // A run left by a killed node counts as active until it is settled; the
                    // fires meanwhile are not what the test is about.
                    .max_instances(10)
                    .trigger(
                        IntervalTrigger::new()
                            .every(every)
                            .start_at(start)
                            .end_at(end),
                    ),
            )
            .await
            .map_err(|e| format!("cannot add task {id}: {e}"))?;
    }
    scheduler.shutdown(true).await.map_err(|e| e.to_string())?;
    Ok(())
}

/// Every fire time of the tasks in `[start, end]` (the interval trigger's `end_at` is
/// inclusive).
fn expected(config: &ChaosConfig, start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    let mut add = |id: String, step_us: i64| {
        let mut t = start.timestamp_micros();
        while t <= end.timestamp_micros() {
            out.push((id.clone(), t));
            t += step_us;
        }
    };
    for i in 0..config.second_tasks {
        add(format!("second-{i}"), 1_000_000);
    }
    for i in 0..config.fast_tasks {
        add(format!("fast-{i}"), 100_000);
    }
    out
}

/// One line of the function log.
struct Started {
    task: String,
    scheduled_us: i64,
    node: String,
    attempt: u32,
}

fn read_log(path: &Path) -> Result<Vec<Started>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    text.lines()
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            if f.len() != 7 {
                return Err(format!("malformed log line {line:?}"));
            }
            Ok(Started {
                task: f[0].to_owned(),
                scheduled_us: f[1].parse().map_err(|e| format!("{line:?}: {e}"))?,
                node: f[2].to_owned(),
                attempt: f[4].parse().map_err(|e| format!("{line:?}: {e}"))?,
            })
        })
        .collect()
}

/// Runs the chaos test and reports; `Err` when it could not be run at all.
pub async fn run(config: &ChaosConfig) -> Result<ChaosReport, String> {
    std::fs::create_dir_all(&config.dir)
        .map_err(|e| format!("cannot create {}: {e}", config.dir.display()))?;
    let log = config.dir.join("runs.log");
    let _ = std::fs::remove_file(&log);
    let start = (Utc::now() + asyncz::chrono::Duration::seconds(3))
        .duration_trunc(asyncz::chrono::Duration::seconds(1))
        .map_err(|e| e.to_string())?;
    let end = start + asyncz::chrono::Duration::seconds(config.seconds as i64);
    set_up(config, start, end).await?;

    let mut rng = Rng(config.seed | 1);
    let mut nodes = Vec::new();
    for index in 0..config.nodes {
        nodes.push(spawn_node(config, index, 0, &log)?);
    }
    let mut report = ChaosReport {
        backend: config.backend.clone(),
        nodes: config.nodes,
        ..ChaosReport::default()
    };
    let chaos_until = Instant::now() + (end - Utc::now()).to_std().unwrap_or_default();
    let pause_at = Instant::now() + (chaos_until - Instant::now()) / 3;
    let cut_at = Instant::now() + (chaos_until - Instant::now()) * 2 / 3;
    let mut paused_done = false;
    let mut cut_done = config.cut.is_none();
    while Instant::now() < chaos_until {
        tokio::time::sleep(Duration::from_millis(300 + rng.below(900))).await;
        if !paused_done && Instant::now() >= pause_at && !nodes.is_empty() {
            // Pause one node past its lease and its node timeout: it must come back to find
            // its claims and runs taken over, and run nothing it no longer owns.
            let n = &nodes[rng.below(nodes.len() as u64) as usize];
            let pid = n.child.id();
            eprintln!("chaos: SIGSTOP n{}-{} (pid {pid})", n.index, n.generation);
            signal(pid, "-STOP");
            tokio::time::sleep(config.lease.max(config.node_timeout) + Duration::from_millis(500))
                .await;
            eprintln!("chaos: SIGCONT pid {pid}");
            signal(pid, "-CONT");
            report.pauses += 1;
            paused_done = true;
            continue;
        }
        if !cut_done && Instant::now() >= cut_at {
            if let Some(how) = &config.cut {
                eprintln!("chaos: cutting every connection ({how:?})");
                cut(how)?;
                report.cuts += 1;
            }
            cut_done = true;
            continue;
        }
        // Kill a random node with SIGKILL, and restart it as a new node a little later.
        let i = rng.below(nodes.len() as u64) as usize;
        let mut victim = nodes.swap_remove(i);
        eprintln!(
            "chaos: SIGKILL n{}-{} (pid {})",
            victim.index,
            victim.generation,
            victim.child.id()
        );
        let _ = victim.child.kill();
        let _ = victim.child.wait();
        report.kills += 1;
        tokio::time::sleep(Duration::from_millis(rng.below(800))).await;
        nodes.push(spawn_node(
            config,
            victim.index,
            victim.generation + 1,
            &log,
        )?);
    }
    // Let the last fires run and the dead nodes' runs be settled, then stop cleanly.
    tokio::time::sleep(
        config.lease + config.node_timeout + config.heartbeat * 2 + Duration::from_secs(1),
    )
    .await;
    for n in &nodes {
        signal(n.child.id(), "-TERM");
    }
    for mut n in nodes {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match n.child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await
                }
                _ => {
                    let _ = n.child.kill();
                    let _ = n.child.wait();
                    report.problems.push(format!(
                        "node n{}-{} did not stop on SIGTERM",
                        n.index, n.generation
                    ));
                    break;
                }
            }
        }
    }
    analyse(config, start, end, &log, &mut report).await?;
    Ok(report)
}

async fn analyse(
    config: &ChaosConfig,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    log: &Path,
    report: &mut ChaosReport,
) -> Result<(), String> {
    let scheduler = plain_scheduler(&config.store).await?;
    let runs: Vec<RunRecord> = scheduler
        .history(&HistoryQuery::new().limit(1_000_000))
        .await
        .map_err(|e| format!("cannot read the run ledger: {e}"))?;
    scheduler.shutdown(true).await.map_err(|e| e.to_string())?;
    let started = read_log(log)?;

    let mut ledger: HashMap<(String, i64), Vec<&RunRecord>> = HashMap::new();
    for run in &runs {
        ledger
            .entry((
                run.task_id.clone(),
                run.scheduled_run_time.timestamp_micros(),
            ))
            .or_default()
            .push(run);
    }
    let mut starts: HashMap<(String, i64), Vec<&Started>> = HashMap::new();
    for s in &started {
        starts
            .entry((s.task.clone(), s.scheduled_us))
            .or_default()
            .push(s);
    }
    let expected = expected(config, start, end);
    report.fires = expected.len();
    let problem = |report: &mut ChaosReport, p: String| {
        if report.problems.len() < 10 {
            report.problems.push(p);
        }
    };
    let at = |us: i64| {
        Utc.timestamp_micros(us)
            .single()
            .map_or(us.to_string(), |t| t.to_rfc3339())
    };
    for key in &expected {
        let records = ledger.get(key).map_or(&[][..], Vec::as_slice);
        let calls = starts.get(key).map_or(&[][..], Vec::as_slice);
        match records {
            [] => {
                report.lost += 1;
                problem(report, format!("lost: {} at {}", key.0, at(key.1)));
            }
            [run] => {
                match run.state {
                    RunState::Abandoned => report.abandoned += 1,
                    RunState::Skipped => report.skipped += 1,
                    RunState::Failed | RunState::Missed => {
                        report.failed += 1;
                        problem(
                            report,
                            format!(
                                "{}: {} at {} ({:?})",
                                run.state,
                                key.0,
                                at(key.1),
                                run.error
                            ),
                        );
                    }
                    RunState::Succeeded => {}
                    other => problem(report, format!("left {other}: {} at {}", key.0, at(key.1))),
                }
                if let Some(late) = run.lateness() {
                    report.max_takeover =
                        report.max_takeover.max(late.to_std().unwrap_or_default());
                }
                if calls.len() > 1 {
                    report.duplicated += 1;
                    problem(
                        report,
                        format!("started {} times: {} at {}", calls.len(), key.0, at(key.1)),
                    );
                }
                for call in calls {
                    if Some(call.node.as_str()) != run.node.as_deref()
                        || call.attempt != run.attempt
                    {
                        report.stale += 1;
                        problem(report, format!("started by {} (attempt {}) but recorded for {:?} (attempt {}): {} at {}", call.node, call.attempt, run.node, run.attempt, key.0, at(key.1)));
                    }
                }
            }
            many => {
                report.duplicated += 1;
                problem(
                    report,
                    format!("{} records: {} at {}", many.len(), key.0, at(key.1)),
                );
            }
        }
    }
    let unexpected = runs
        .iter()
        .filter(|r| r.scheduled_run_time < start || r.scheduled_run_time > end)
        .count();
    if unexpected > 0 {
        problem(
            report,
            format!("{unexpected} run records outside the window"),
        );
    }
    Ok(())
}

/// The store options and connection cut for a backend, in namespace `ns` (from the
/// `ASYNCZ_TEST_*_URL` variables, else the local servers' defaults).
pub fn backend(
    name: &str,
    ns: &str,
    dir: &Path,
) -> Result<(serde_json::Value, Option<Cut>), String> {
    let env = |var: &str, default: &str| {
        std::env::var(var)
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| default.to_owned())
    };
    Ok(match name {
        "sqlite" => (
            serde_json::json!({"type": "sql", "url": format!("sqlite://{}/chaos.db", dir.display())}),
            None,
        ),
        "postgres" => {
            let url = env(
                "ASYNCZ_TEST_POSTGRES_URL",
                "postgres://postgres@127.0.0.1:5432/test",
            );
            (
                serde_json::json!({"type": "sql", "url": url, "tablename": ns}),
                Some(Cut::Postgres(url)),
            )
        }
        "mysql" | "mariadb" => {
            let url = env("ASYNCZ_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test");
            (
                serde_json::json!({"type": "sql", "url": url, "tablename": ns}),
                Some(Cut::MySql(url)),
            )
        }
        "redis" => {
            let url = env("ASYNCZ_TEST_REDIS_URL", "redis://127.0.0.1:6379");
            (
                serde_json::json!({"type": "redis", "url": url, "tasks_key": format!("{ns}.tasks"), "run_times_key": format!("{ns}.run_times")}),
                Some(Cut::Redis(url)),
            )
        }
        "mongo" | "mongodb" => {
            let url = env("ASYNCZ_TEST_MONGO_URL", "mongodb://127.0.0.1:27017");
            (
                serde_json::json!({"type": "mongodb", "url": url, "collection": ns}),
                None,
            )
        }
        other => {
            return Err(format!(
                "unknown backend {other:?} (expected sqlite, postgres, mysql, redis or mongo)"
            ))
        }
    })
}

/// The `asyncz-cluster-node` binary next to the running executable (the `asyncz-chaos`
/// binary is built into the same directory; tests pass `CARGO_BIN_EXE_asyncz-cluster-node`).
pub fn node_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    let name = format!("asyncz-cluster-node{}", std::env::consts::EXE_SUFFIX);
    [dir.join(&name), dir.join("..").join(&name)]
        .into_iter()
        .find(|p| p.exists())
        .unwrap_or_else(|| dir.join(name))
}
