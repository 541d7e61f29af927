//! `run`, `history`, `nodes`: the cluster's run ledger and node registry, read and written
//! through the store. `run` only writes a run request; a live scheduler node takes it, runs
//! the task and records the outcome, which `--wait` reads back.

use std::time::{Duration, Instant};

use asyncz::cluster::{HistoryQuery, NodeInfo, RunRecord, RunState};
use asyncz::Scheduler;
use chrono::{DateTime, Utc};
use clap::Args;
use serde_json::{json, Value};

use super::tasks::{failed, find, table, timezone, when, with_scheduler, StoreArgs};
use crate::{one_line, quote, CliError};

/// `run` arguments.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub common: StoreArgs,
    /// The task id.
    pub id: String,
    /// Wait for the run to finish and print its outcome (exit 1 if it failed).
    #[arg(long)]
    pub wait: bool,
    /// How long `--wait` waits for a node to take and finish the run (e.g. 30s, 2m).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_timeout)]
    pub timeout: Duration,
}

/// `history` arguments.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub common: StoreArgs,
    /// Only the runs of this task.
    pub id: Option<String>,
    /// At most this many runs (newest first).
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Only runs in this state (repeatable): requested, submitted, running, succeeded,
    /// failed, missed, skipped, abandoned.
    #[arg(long, value_parser = parse_state)]
    pub state: Vec<RunState>,
}

/// `nodes` arguments.
#[derive(Debug, Args)]
pub struct NodesArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub common: StoreArgs,
    /// A node whose heartbeat is older than this is shown as not alive (the cluster's
    /// `node_timeout`).
    #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = parse_timeout)]
    pub node_timeout: Duration,
}

pub(crate) fn parse_timeout(text: &str) -> Result<Duration, String> {
    asyncz_triggers::parse_duration(text.trim()).map_err(|e| format!("{}: {e}", quote(text)))
}

fn parse_state(text: &str) -> Result<RunState, String> {
    text.trim().parse::<RunState>().map_err(|_| {
        let names: Vec<&str> = RunState::ALL.iter().map(|s| s.as_str()).collect();
        format!("{} is not one of: {}", quote(text), names.join(", "))
    })
}

fn millis(d: Option<chrono::Duration>) -> Value {
    d.map_or(Value::Null, |d| Value::from(d.num_milliseconds()))
}

fn span(d: Option<chrono::Duration>) -> String {
    match d {
        None => "-".to_owned(),
        Some(d) => {
            let ms = d.num_milliseconds();
            if ms.abs() < 1000 {
                format!("{ms}ms")
            } else if ms.abs() < 60_000 {
                format!("{:.1}s", ms as f64 / 1000.0)
            } else {
                format!("{}m{}s", ms / 60_000, (ms % 60_000) / 1000)
            }
        }
    }
}

/// The stable JSON of a run record (field names documented in the README).
pub fn run_json(run: &RunRecord) -> Value {
    let t = |t: Option<DateTime<Utc>>| t.map_or(Value::Null, |t| Value::String(t.to_rfc3339()));
    json!({
        "run_id": run.run_id,
        "task_id": run.task_id,
        "kind": run.kind.as_str(),
        "state": run.state.as_str(),
        "scheduled_run_time": run.scheduled_run_time.to_rfc3339(),
        "created_at": run.created_at.to_rfc3339(),
        "started_at": t(run.started_at),
        "finished_at": t(run.finished_at),
        "duration_ms": millis(run.duration()),
        "lateness_ms": millis(run.lateness()),
        "node": run.node,
        "attempt": run.attempt,
        "error": run.error,
    })
}

/// The stable JSON of a node (field names documented in the README).
pub fn node_json(node: &NodeInfo, now: DateTime<Utc>, timeout: Duration) -> Value {
    json!({
        "node_id": node.node_id,
        "host": node.host,
        "pid": node.pid,
        "started_at": node.started_at.to_rfc3339(),
        "last_heartbeat": node.last_heartbeat.to_rfc3339(),
        "heartbeat_age_ms": u64::try_from(node.heartbeat_age(now).as_millis()).unwrap_or(u64::MAX),
        "state": node.state.as_str(),
        "alive": node.is_alive(now, timeout),
        "functions": node.functions,
    })
}

/// The store's clock (what heartbeats are judged by), or this host's when no store has one.
pub(crate) async fn store_now(scheduler: &Scheduler) -> DateTime<Utc> {
    for alias in scheduler.store_aliases() {
        if let Ok(store) = scheduler.lookup_store(&alias) {
            if let Some(cluster) = store.cluster() {
                if let Ok(t) = cluster.store_time().await {
                    return t;
                }
            }
        }
    }
    Utc::now()
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default() + "\n"
}

/// One line about a run's outcome.
fn outcome_line(run: &RunRecord) -> String {
    let node = run.node.as_deref().unwrap_or("-");
    let mut line = format!(
        "run {} of task {}: {} on node {} (duration {}, lateness {})",
        run.run_id,
        quote(&run.task_id),
        run.state,
        node,
        span(run.duration()),
        span(run.lateness()),
    );
    if let Some(error) = &run.error {
        line.push_str(&format!(": {}", one_line(error)));
    }
    line
}

/// `asyncz run ID [--wait]`.
pub fn run(args: &RunArgs) -> Result<String, CliError> {
    let id = args.id.clone();
    let json_out = args.common.json;
    let wait = args.wait;
    let timeout = args.timeout;
    with_scheduler(&args.common, |scheduler| async move {
        let info = find(&scheduler, &id).await?;
        let store = scheduler.lookup_store(&info.store_alias).map_err(failed)?;
        if store.cluster().is_none() {
            return Err(CliError::Failed(format!(
                "store {} keeps no run ledger: run needs a SQL, Redis or MongoDB store shared with a cluster node",
                quote(&info.store_alias)
            )));
        }
        let requested = scheduler.request_run(&id).await.map_err(failed)?;
        if !wait {
            if json_out {
                return Ok(pretty(&run_json(&requested)));
            }
            return Ok(format!(
                "requested run {} of task {} (a live cluster node takes it; see asyncz history {})\n",
                requested.run_id, id, id
            ));
        }
        let began = Instant::now();
        let mut last = requested;
        loop {
            if let Some(run) = scheduler.run_record(&last.run_id).await.map_err(failed)? {
                last = run;
            }
            if last.state.is_final() || began.elapsed() >= timeout {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let output = if json_out {
            pretty(&run_json(&last))
        } else {
            outcome_line(&last) + "\n"
        };
        match last.state {
            RunState::Succeeded => Ok(output),
            RunState::Requested => Err(CliError::Reported {
                output,
                message: format!(
                    "no live node took run {} of task {} within {:?} (is a cluster scheduler running on this store?)",
                    last.run_id,
                    quote(&id),
                    timeout
                ),
            }),
            state if !state.is_final() => Err(CliError::Reported {
                output,
                message: format!(
                    "run {} of task {} is still {state} after {:?}",
                    last.run_id,
                    quote(&id),
                    timeout
                ),
            }),
            state => Err(CliError::Reported {
                output,
                message: format!(
                    "run {} of task {} {state}{}",
                    last.run_id,
                    quote(&id),
                    last.error
                        .as_deref()
                        .map_or(String::new(), |e| format!(": {}", one_line(e)))
                ),
            }),
        }
    })
}

/// `asyncz history [ID]`.
pub fn history(args: &HistoryArgs) -> Result<String, CliError> {
    let tz = timezone(&args.common.timezone)?;
    let mut query = HistoryQuery::new().limit(args.limit.max(1));
    if let Some(id) = &args.id {
        query = query.task(id.clone());
    }
    if !args.state.is_empty() {
        query = query.states(args.state.clone());
    }
    let json_out = args.common.json;
    with_scheduler(&args.common, |scheduler| async move {
        let runs = scheduler.history(&query).await.map_err(failed)?;
        if json_out {
            return Ok(pretty(&Value::Array(runs.iter().map(run_json).collect())));
        }
        let now = Utc::now();
        let rows: Vec<Vec<String>> = runs
            .iter()
            .map(|r| {
                vec![
                    r.task_id.clone(),
                    r.state.as_str().to_owned(),
                    r.kind.as_str().to_owned(),
                    when(Some(r.scheduled_run_time), tz, now),
                    r.started_at.map_or("-".into(), |t| when(Some(t), tz, now)),
                    span(r.duration()),
                    span(r.lateness()),
                    r.node.clone().unwrap_or_else(|| "-".into()),
                    r.error.as_deref().map_or("-".into(), one_line),
                ]
            })
            .collect();
        Ok(table(
            &[
                "TASK",
                "STATE",
                "KIND",
                "SCHEDULED",
                "STARTED",
                "DURATION",
                "LATENESS",
                "NODE",
                "ERROR",
            ],
            &rows,
        ))
    })
}

/// `asyncz nodes`.
pub fn nodes(args: &NodesArgs) -> Result<String, CliError> {
    let tz = timezone(&args.common.timezone)?;
    let json_out = args.common.json;
    let node_timeout = args.node_timeout;
    with_scheduler(&args.common, |scheduler| async move {
        let nodes = scheduler.nodes().await.map_err(failed)?;
        let now = store_now(&scheduler).await;
        if json_out {
            return Ok(pretty(&Value::Array(
                nodes
                    .iter()
                    .map(|n| node_json(n, now, node_timeout))
                    .collect(),
            )));
        }
        let rows: Vec<Vec<String>> = nodes
            .iter()
            .map(|n| {
                vec![
                    n.node_id.clone(),
                    n.host.clone(),
                    n.pid.to_string(),
                    when(Some(n.started_at), tz, now),
                    span(chrono::Duration::from_std(n.heartbeat_age(now)).ok()),
                    if n.is_alive(now, node_timeout) {
                        "yes"
                    } else {
                        "no"
                    }
                    .to_owned(),
                ]
            })
            .collect();
        Ok(table(
            &["NODE", "HOST", "PID", "STARTED", "HEARTBEAT AGE", "ALIVE"],
            &rows,
        ))
    })
}
