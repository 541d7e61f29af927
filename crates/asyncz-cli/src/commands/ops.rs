//! `status`, `doctor` and `timeline`: what the stores hold and whether it is healthy, read
//! only. Each store of `status` and `doctor` is opened on its own, so one unreachable store
//! is reported beside the others instead of failing the command before it looks.

use std::time::Duration;

use asyncz::cluster::NodeInfo;
use asyncz::{Map, ScheduleState, Scheduler, TaskInfo, TaskInfoQuery, Value};
use chrono::{DateTime, Utc};
use clap::Args;
use serde_json::json;

use super::runs::parse_timeout;
use super::tasks::{failed, table, timezone, when, with_scheduler, StoreArgs};
use crate::{one_line, quote, CliError};

/// `status` arguments.
#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub common: StoreArgs,
    /// A node whose heartbeat is older than this is not counted as alive
    #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = parse_timeout)]
    pub node_timeout: Duration,
}

/// `doctor` arguments.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub common: StoreArgs,
    /// Exit 1 on any warning, not only on errors
    #[arg(long)]
    pub strict: bool,
    /// A node whose heartbeat is older than this is not counted as alive
    #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = parse_timeout)]
    pub node_timeout: Duration,
    /// Clock difference between this host and a store above which to warn
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_timeout)]
    pub max_skew: Duration,
}

/// `timeline` arguments.
#[derive(Debug, Args)]
pub struct TimelineArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub common: StoreArgs,
    /// From this instant (RFC 3339; default now)
    #[arg(long, value_name = "RFC3339")]
    pub from: Option<String>,
    /// Until this instant (RFC 3339; default --from + 1 day)
    #[arg(long, value_name = "RFC3339")]
    pub until: Option<String>,
    /// At most this many fires in all
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
}

fn instant(flag: &str, text: &str) -> Result<DateTime<Utc>, CliError> {
    DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            CliError::Usage(format!(
                "{flag}: {} is not an RFC 3339 date-time ({e}), e.g. 2026-01-01T09:00:00Z",
                quote(text)
            ))
        })
}

/// One store's scheduler, or why it could not be opened.
struct Opened {
    alias: String,
    kind: String,
    scheduler: Result<Scheduler, String>,
}

/// Opens each configured store in a scheduler of its own (started paused).
async fn open_each(common: &StoreArgs) -> Result<Vec<Opened>, CliError> {
    let map = super::store::config_map(
        &common.stores,
        common.config.as_deref(),
        common.connect_timeout,
    )?;
    let Some(Value::Object(stores)) = map.get("asyncz.stores") else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (alias, store) in stores {
        let kind = store
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_owned();
        let mut one = map.clone();
        let mut only = Map::new();
        only.insert(alias.clone(), store.clone());
        one.insert("asyncz.stores".into(), Value::Object(only));
        let scheduler = asyncz::builder()
            .config(one)
            .build()
            .map_err(CliError::from)?;
        let scheduler = match scheduler.start_paused().await {
            Ok(_) => Ok(scheduler),
            Err(e) => Err(one_line(&e.to_string())),
        };
        out.push(Opened {
            alias: alias.clone(),
            kind,
            scheduler,
        });
    }
    Ok(out)
}

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::Failed(format!("cannot start the runtime: {e}")))
}

async fn close(opened: &[Opened]) {
    for o in opened {
        if let Ok(s) = &o.scheduler {
            let _ = s.shutdown(false).await;
        }
    }
}

/// Nodes alive in a store (None: the store keeps no node registry), and the store's clock.
async fn alive_nodes(
    scheduler: &Scheduler,
    alias: &str,
    timeout: Duration,
) -> (Option<Vec<NodeInfo>>, Option<DateTime<Utc>>) {
    let Ok(store) = scheduler.lookup_store(alias) else {
        return (None, None);
    };
    let Some(cluster) = store.cluster() else {
        return (None, None);
    };
    let now = cluster.store_time().await.ok();
    let nodes = cluster.list_nodes().await.ok().map(|nodes| {
        let at = now.unwrap_or_else(Utc::now);
        nodes
            .into_iter()
            .filter(|n| n.is_alive(at, timeout))
            .collect()
    });
    (nodes, now)
}

/// The `schema` finding of a store: its layout version against this build's.
async fn schema_check(scheduler: &Scheduler, alias: &str) -> (&'static str, String) {
    let store = match scheduler.lookup_store(alias) {
        Ok(store) => store,
        Err(e) => return ("error", format!("cannot read the schema version: {e}")),
    };
    match store.schema_version().await {
        Ok(Some(v)) if v.stored == v.supported => {
            ("ok", format!("schema version {} (current)", v.stored))
        }
        Ok(Some(v)) if v.stored < v.supported => (
            "warn",
            format!(
                "schema version {}; this asyncz writes {}: the next scheduler start upgrades it in place",
                v.stored, v.supported
            ),
        ),
        Ok(Some(v)) => (
            "warn",
            format!(
                "schema version {} is newer than this asyncz knows ({}); it is usable, but upgrade asyncz",
                v.stored, v.supported
            ),
        ),
        Ok(None) => (
            "ok",
            "the store keeps no versioned schema (records that cannot be read show under undecodable)"
                .into(),
        ),
        Err(e) => ("error", format!("cannot read the schema version: {e}")),
    }
}

/// The `functions` finding: tasks naming a function that no live node has registered, judged
/// by the names the live nodes publish with their heartbeats.
fn functions_check(infos: &[TaskInfo], alive: &[NodeInfo]) -> (&'static str, String, Vec<String>) {
    let publishing: Vec<&NodeInfo> = alive.iter().filter(|n| !n.functions.is_empty()).collect();
    if publishing.is_empty() {
        return (
            "info",
            "not checked: no live node publishes the functions it registered".into(),
            vec![],
        );
    }
    let known: std::collections::HashSet<&str> = publishing
        .iter()
        .flat_map(|n| n.functions.iter().map(String::as_str))
        .collect();
    let silent = alive.len() - publishing.len();
    let note = if silent > 0 {
        format!(" ({silent} live node(s) publish no names and may run them)")
    } else {
        String::new()
    };
    let unknown: Vec<String> = infos
        .iter()
        .filter(|i| {
            i.callable_reference
                .as_deref()
                .is_some_and(|name| !known.contains(name))
        })
        .map(|i| i.id.clone())
        .collect();
    if unknown.is_empty() {
        (
            "ok",
            format!(
                "every task's function is registered on a live node ({} node(s) checked){note}",
                publishing.len()
            ),
            vec![],
        )
    } else {
        // A node that publishes nothing may run them: only an answer from every node warns.
        let level = if silent > 0 { "info" } else { "warn" };
        (
            level,
            format!(
                "{} task(s) name a function no live node has registered{note}",
                unknown.len()
            ),
            unknown,
        )
    }
}

/// `asyncz status`.
pub fn status(args: &StatusArgs) -> Result<String, CliError> {
    let tz = timezone(&args.common.timezone)?;
    runtime()?.block_on(async {
        let opened = open_each(&args.common).await?;
        let now = Utc::now();
        let mut docs = Vec::new();
        let mut rows = Vec::new();
        let mut unreachable = Vec::new();
        for o in &opened {
            let doc = match &o.scheduler {
                Err(error) => {
                    unreachable.push(o.alias.clone());
                    json!({"store": o.alias, "type": o.kind, "reachable": false, "error": error})
                }
                Ok(s) => {
                    let infos = s
                        .get_task_infos(&TaskInfoQuery::new().store(o.alias.clone()))
                        .await
                        .map_err(failed)?;
                    let scheduled = infos
                        .iter()
                        .filter(|i| i.schedule_state == ScheduleState::Scheduled)
                        .count();
                    let paused = infos
                        .iter()
                        .filter(|i| i.schedule_state == ScheduleState::Paused)
                        .count();
                    let undecodable = s
                        .lookup_store(&o.alias)
                        .map(|st| st.undecodable_records().len())
                        .unwrap_or(0);
                    let next = infos.iter().filter_map(|i| i.next_run_time).min();
                    let (nodes, _) = alive_nodes(s, &o.alias, args.node_timeout).await;
                    let nodes = nodes.map(|alive| alive.len());
                    json!({
                        "store": o.alias, "type": o.kind, "reachable": true,
                        "tasks_scheduled": scheduled, "tasks_paused": paused,
                        "undecodable": undecodable, "nodes_alive": nodes,
                        "next_fire": next.map(|t| t.to_rfc3339()),
                    })
                }
            };
            rows.push(vec![
                o.alias.clone(),
                o.kind.clone(),
                if doc["reachable"] == true {
                    "yes"
                } else {
                    "no"
                }
                .to_owned(),
                doc["tasks_scheduled"].to_string().replace("null", "-"),
                doc["tasks_paused"].to_string().replace("null", "-"),
                doc["undecodable"].to_string().replace("null", "-"),
                doc["nodes_alive"].to_string().replace("null", "-"),
                doc["next_fire"]
                    .as_str()
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                    .map_or_else(
                        || "-".to_owned(),
                        |t| when(Some(t.with_timezone(&Utc)), tz, now),
                    ),
            ]);
            docs.push(doc);
        }
        close(&opened).await;
        let output = if args.common.json {
            serde_json::to_string_pretty(&Value::Array(docs)).unwrap_or_default() + "\n"
        } else {
            table(
                &[
                    "STORE",
                    "TYPE",
                    "REACHABLE",
                    "SCHEDULED",
                    "PAUSED",
                    "UNDECODABLE",
                    "NODES ALIVE",
                    "NEXT FIRE",
                ],
                &rows,
            )
        };
        if unreachable.is_empty() {
            Ok(output)
        } else {
            let names: Vec<String> = unreachable.iter().map(|a| quote(a)).collect();
            Err(CliError::Reported {
                output,
                message: format!("unreachable store(s): {}", names.join(", ")),
            })
        }
    })
}

/// One finding of `doctor`.
struct Check {
    level: &'static str,
    check: &'static str,
    store: String,
    message: String,
    ids: Vec<String>,
}

/// `asyncz doctor [--strict]`.
pub fn doctor(args: &DoctorArgs) -> Result<String, CliError> {
    runtime()?.block_on(async {
        let opened = open_each(&args.common).await?;
        let mut checks: Vec<Check> = Vec::new();
        let mut push = |level, check, store: &str, message: String, ids: Vec<String>| {
            checks.push(Check {
                level,
                check,
                store: store.to_owned(),
                message,
                ids,
            });
        };
        for o in &opened {
            let s = match &o.scheduler {
                Err(e) => {
                    push("error", "connectivity", &o.alias, format!("unreachable: {e}"), vec![]);
                    continue;
                }
                Ok(s) => s,
            };
            push("ok", "connectivity", &o.alias, format!("reachable ({})", o.kind), vec![]);
            let (level, message) = schema_check(s, &o.alias).await;
            push(level, "schema", &o.alias, message, vec![]);
            let infos = s
                .get_task_infos(&TaskInfoQuery::new().store(o.alias.clone()))
                .await
                .map_err(failed)?;
            let undecodable = s
                .lookup_store(&o.alias)
                .map(|st| st.undecodable_records())
                .unwrap_or_default();
            if undecodable.is_empty() {
                push("ok", "undecodable", &o.alias, "every record decodes".into(), vec![]);
            } else {
                let first = one_line(&undecodable[0].1);
                push(
                    "warn",
                    "undecodable",
                    &o.alias,
                    format!(
                        "{} record(s) cannot be decoded (first: {first})",
                        undecodable.len()
                    ),
                    undecodable.into_iter().map(|(id, _)| id).collect(),
                );
            }
            let (nodes, store_now) = alive_nodes(s, &o.alias, args.node_timeout).await;
            match store_now {
                Some(t) => {
                    let skew = (Utc::now() - t).abs();
                    let ms = skew.num_milliseconds();
                    let limit = i64::try_from(args.max_skew.as_millis()).unwrap_or(i64::MAX);
                    let level = if ms > limit { "warn" } else { "ok" };
                    push(level, "clock_skew", &o.alias, format!("this host and the store differ by {ms}ms"), vec![]);
                }
                None => push("ok", "clock_skew", &o.alias, "the store has no clock to compare (not shared by a cluster)".into(), vec![]),
            }
            if nodes.is_none() {
                push("info", "functions", &o.alias, "not checked: the store has no node registry".into(), vec![]);
            }
            if let Some(alive) = &nodes {
                let (level, message, ids) = functions_check(&infos, alive);
                push(level, "functions", &o.alias, message, ids);
                let alive = alive.len();
                let overdue: Vec<String> = infos
                    .iter()
                    .filter(|i| i.next_run_time.is_some_and(|t| Utc::now() - t > chrono::Duration::minutes(1)))
                    .map(|i| i.id.clone())
                    .collect();
                if alive == 0 && !infos.is_empty() {
                    push("warn", "nodes", &o.alias, "no live scheduler node: nothing runs these tasks".into(), vec![]);
                } else {
                    push("ok", "nodes", &o.alias, format!("{alive} live node(s)"), vec![]);
                }
                if !overdue.is_empty() {
                    push("warn", "overdue", &o.alias, format!("{} task(s) more than 1m past their next run time", overdue.len()), overdue);
                }
            }
            let mut never = Vec::new();
            let bar = super::tasks::progress(infos.len(), "checking tasks");
            for info in &infos {
                bar.inc(1);
                if let Ok(Some(task)) = s.get_task(&info.id, Some(&o.alias)).await {
                    let ahead = asyncz::preview_fire_times(task.trigger().as_ref(), s.timezone(), Utc::now(), 1);
                    let pending_fire = info.next_run_time.is_some_and(|t| t >= Utc::now());
                    // A date trigger still answers its (past) date: only a time ahead counts.
                    let fires_ahead = ahead.iter().any(|t| *t >= Utc::now());
                    if !fires_ahead && !pending_fire {
                        never.push(info.id.clone());
                    }
                }
            }
            bar.finish_and_clear();
            if never.is_empty() {
                push("ok", "never_fires", &o.alias, "every task has a fire time ahead".into(), vec![]);
            } else {
                push("warn", "never_fires", &o.alias, format!("{} task(s) will never fire again", never.len()), never);
            }
        }
        close(&opened).await;
        let warnings = checks.iter().filter(|c| c.level == "warn").count();
        let errors = checks.iter().filter(|c| c.level == "error").count();
        let output = if args.common.json {
            let list: Vec<Value> = checks
                .iter()
                .map(|c| json!({"level": c.level, "check": c.check, "store": c.store, "message": c.message, "ids": c.ids}))
                .collect();
            serde_json::to_string_pretty(&json!({"checks": list, "warnings": warnings, "errors": errors})).unwrap_or_default() + "\n"
        } else {
            let rows: Vec<Vec<String>> = checks
                .iter()
                .map(|c| {
                    let mut message = c.message.clone();
                    if !c.ids.is_empty() {
                        let shown: Vec<&str> = c.ids.iter().take(10).map(String::as_str).collect();
                        message.push_str(&format!(": {}", one_line(&shown.join(", "))));
                        if c.ids.len() > 10 {
                            message.push_str(&format!(" (+{} more)", c.ids.len() - 10));
                        }
                    }
                    vec![c.level.to_owned(), c.check.to_owned(), c.store.clone(), message]
                })
                .collect();
            table(&["LEVEL", "CHECK", "STORE", "MESSAGE"], &rows)
        };
        if errors > 0 || (args.strict && warnings > 0) {
            return Err(CliError::Reported {
                output,
                message: format!("doctor found {errors} error(s) and {warnings} warning(s)"),
            });
        }
        Ok(output)
    })
}

/// `asyncz timeline [--from] [--until]`: upcoming fires across tasks, in time order.
pub fn timeline(args: &TimelineArgs) -> Result<String, CliError> {
    let tz = timezone(&args.common.timezone)?;
    let from = match &args.from {
        Some(t) => instant("--from", t)?,
        None => Utc::now(),
    };
    let until = match &args.until {
        Some(t) => instant("--until", t)?,
        None => from + chrono::Duration::days(1),
    };
    if until < from {
        return Err(CliError::Usage(format!(
            "--until: {} is before --from ({})",
            quote(&until.to_rfc3339()),
            from.to_rfc3339()
        )));
    }
    let limit = args.limit.max(1);
    let json_out = args.common.json;
    with_scheduler(&args.common, |scheduler| async move {
        let mut fires: Vec<(DateTime<Utc>, String, String)> = Vec::new();
        for alias in scheduler.store_aliases() {
            for task in scheduler.get_tasks(Some(&alias)).await.map_err(failed)? {
                if task.next_run_time().is_none() {
                    continue;
                }
                // A task overdue before --from fires next at its next run time; later ones
                // follow its trigger. Bounded per task by --limit.
                for t in task
                    .preview_run_times(scheduler.timezone(), limit.saturating_add(1000).min(1000))
                {
                    if t > until {
                        break;
                    }
                    if t >= from {
                        fires.push((t, task.id().to_owned(), alias.clone()));
                    }
                }
            }
        }
        fires.sort();
        fires.truncate(limit);
        if json_out {
            let list: Vec<Value> = fires
                .iter()
                .map(
                    |(t, id, store)| json!({"time": t.to_rfc3339(), "task_id": id, "store": store}),
                )
                .collect();
            return Ok(
                serde_json::to_string_pretty(&Value::Array(list)).unwrap_or_default() + "\n",
            );
        }
        let now = Utc::now();
        let rows: Vec<Vec<String>> = fires
            .iter()
            .map(|(t, id, store)| vec![when(Some(*t), tz, now), id.clone(), store.clone()])
            .collect();
        Ok(table(&["TIME", "TASK", "STORE"], &rows))
    })
}
