//! `list`, `show`, `pause`, `resume`, `remove`: task records read and written through a
//! scheduler that is started paused over the given stores ([`super::store::open`]), so reading
//! never fires a task or advances its schedule.

use std::io::IsTerminal;

use asyncz::{Scheduler, TaskInfo, TaskInfoQuery};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use clap::Args;
use serde_json::{json, Value};

use crate::{one_line, quote, CliError};

/// Options every store command takes.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// A store as URL (`sqlite://tasks.db`, `postgres://...`, `mysql://...`, `redis://...`,
    /// `mongodb://...`, `file://DIR`), optionally `alias=URL`; repeatable. Default:
    /// `ASYNCZ_STORE_URL`.
    #[arg(long = "store", value_name = "[ALIAS=]URL", action = clap::ArgAction::Append)]
    pub stores: Vec<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Time zone for times shown (IANA name, default UTC).
    #[arg(long, value_name = "TZ", default_value = "UTC")]
    pub timezone: String,
    /// A TOML file with the spec's `asyncz.*` keys (`[asyncz.stores.NAME]` tables). Default:
    /// `ASYNCZ_CONFIG`.
    #[arg(long, value_name = "FILE")]
    pub config: Option<String>,
    /// Seconds to keep trying to reach a networked store before failing.
    #[arg(long, value_name = "SECONDS", default_value_t = super::store::DEFAULT_CONNECT_TIMEOUT_SECS, value_parser = parse_seconds)]
    pub connect_timeout: f64,
}

fn parse_seconds(text: &str) -> Result<f64, String> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0)
        .ok_or_else(|| format!("{} is not a number of seconds above zero", quote(text)))
}

/// `list` arguments.
#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub common: StoreArgs,
    /// Only tasks in this state (pending, paused, scheduled).
    #[arg(long)]
    pub state: Option<String>,
    /// Only tasks on this executor.
    #[arg(long)]
    pub executor: Option<String>,
    /// Only tasks with this trigger (alias or type name).
    #[arg(long)]
    pub trigger: Option<String>,
    /// Only tasks of this store alias.
    #[arg(long = "in-store", value_name = "ALIAS")]
    pub in_store: Option<String>,
    /// Only tasks whose id or name matches this glob (`*`, `?`).
    #[arg(long, value_name = "GLOB")]
    pub id: Option<String>,
    /// Sort key: id, name, next_run_time, schedule_state, executor, store, trigger.
    #[arg(long, default_value = "next_run_time")]
    pub sort_by: String,
    /// Reverse the order.
    #[arg(long)]
    pub desc: bool,
}

/// `show` arguments.
#[derive(Debug, Args)]
pub struct ShowArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub common: StoreArgs,
    /// The task id.
    pub id: String,
}

/// `pause`, `resume` and `remove` arguments.
#[derive(Debug, Args)]
pub struct IdsArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub common: StoreArgs,
    /// Task ids.
    #[arg(required = true)]
    pub ids: Vec<String>,
    /// Do not ask before removing (`remove` only; it never asks when stdin is not a TTY).
    #[arg(long, short)]
    pub yes: bool,
}

pub(crate) fn timezone(name: &str) -> Result<Tz, CliError> {
    name.parse()
        .map_err(|_| CliError::Usage(format!("--timezone: unknown time zone {}", quote(name))))
}

pub(crate) fn failed(e: asyncz::Error) -> CliError {
    CliError::Failed(one_line(&e.to_string()))
}

/// Runs an async command body on a runtime of its own, and shuts the scheduler down after.
pub(crate) fn with_scheduler<F, Fut>(common: &StoreArgs, body: F) -> Result<String, CliError>
where
    F: FnOnce(Scheduler) -> Fut,
    Fut: std::future::Future<Output = Result<String, CliError>>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::Failed(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async {
        let scheduler = super::store::open(
            &common.stores,
            common.config.as_deref(),
            common.connect_timeout,
        )
        .await?;
        let out = body(scheduler.clone()).await;
        let _ = scheduler.shutdown(false).await;
        out
    })
}

/// `*` any run, `?` one character.
fn glob(pattern: &[char], text: &[char]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some(('*', rest)) => (0..=text.len()).any(|i| glob(rest, &text[i..])),
        Some(('?', rest)) => !text.is_empty() && glob(rest, &text[1..]),
        Some((c, rest)) => text.first() == Some(c) && glob(rest, &text[1..]),
    }
}

fn matches_glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    glob(&p, &t)
}

/// "in 4m", "3h ago", "now".
pub fn relative(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (t - now).num_seconds();
    let a = secs.unsigned_abs();
    let span = if a < 60 {
        format!("{a}s")
    } else if a < 3600 {
        format!("{}m", a / 60)
    } else if a < 86_400 {
        format!("{}h", a / 3600)
    } else {
        format!("{}d", a / 86_400)
    };
    match secs {
        0 => "now".to_owned(),
        s if s > 0 => format!("in {span}"),
        _ => format!("{span} ago"),
    }
}

pub(crate) fn when(t: Option<DateTime<Utc>>, tz: Tz, now: DateTime<Utc>) -> String {
    match t {
        Some(t) => format!(
            "{} ({})",
            t.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S %:z"),
            relative(t, now)
        ),
        None => "-".to_owned(),
    }
}

/// An aligned table: columns padded to their widest cell.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  "));
            }
        }
        out.trim_end().to_owned() + "\n"
    };
    let mut out = line(header.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// The stable JSON of a task (field names documented in the README).
pub fn task_json(info: &TaskInfo) -> Value {
    let mut v = serde_json::to_value(info).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut v {
        map.insert(
            "next_run_time".into(),
            info.next_run_time
                .map_or(Value::Null, |t| Value::String(t.to_rfc3339())),
        );
    }
    v
}

/// `asyncz list`.
pub fn list(args: &ListArgs) -> Result<String, CliError> {
    let tz = timezone(&args.common.timezone)?;
    let mut query = TaskInfoQuery::new()
        .sort_by(&args.sort_by)
        .map_err(CliError::from)?
        .descending(args.desc);
    if let Some(state) = &args.state {
        query = query.schedule_state(state.parse().map_err(CliError::from)?);
    }
    if let Some(e) = &args.executor {
        query = query.executor(e.clone());
    }
    if let Some(t) = &args.trigger {
        query = query.trigger(t.clone());
    }
    if let Some(s) = &args.in_store {
        query = query.store(s.clone());
    }
    let json_out = args.common.json;
    let pattern = args.id.clone();
    with_scheduler(&args.common, |scheduler| async move {
        let infos: Vec<TaskInfo> = scheduler
            .get_task_infos(&query)
            .await
            .map_err(failed)?
            .into_iter()
            .filter(|i| {
                pattern
                    .as_deref()
                    .is_none_or(|p| matches_glob(p, &i.id) || matches_glob(p, &i.name))
            })
            .collect();
        if json_out {
            let list: Vec<Value> = infos.iter().map(task_json).collect();
            return Ok(serde_json::to_string_pretty(&list).unwrap_or_default() + "\n");
        }
        let now = Utc::now();
        let rows: Vec<Vec<String>> = infos
            .iter()
            .map(|i| {
                vec![
                    i.id.clone(),
                    i.name.clone(),
                    i.schedule_state.as_str().to_owned(),
                    i.trigger_description.clone(),
                    i.executor.clone(),
                    i.store_alias.clone(),
                    when(i.next_run_time, tz, now),
                ]
            })
            .collect();
        Ok(table(
            &[
                "ID", "NAME", "STATE", "TRIGGER", "EXECUTOR", "STORE", "NEXT RUN",
            ],
            &rows,
        ))
    })
}

pub(crate) async fn find(scheduler: &Scheduler, id: &str) -> Result<TaskInfo, CliError> {
    scheduler
        .get_task_info(id, None)
        .await
        .map_err(failed)?
        .ok_or_else(|| CliError::Failed(format!("no task with id {}", quote(id))))
}

/// `asyncz show ID`.
pub fn show(args: &ShowArgs) -> Result<String, CliError> {
    let tz = timezone(&args.common.timezone)?;
    let json_out = args.common.json;
    let id = args.id.clone();
    with_scheduler(&args.common, |scheduler| async move {
        let info = find(&scheduler, &id).await?;
        let fire_times = next_fire_times(&scheduler, &info, 10).await?;
        let words = scheduler
            .get_task(&info.id, Some(&info.store_alias))
            .await
            .ok()
            .flatten()
            .and_then(|t| asyncz::triggers::in_words(t.trigger().as_ref()));
        if json_out {
            let mut doc = task_json(&info);
            if let Value::Object(map) = &mut doc {
                map.insert("trigger_words".into(), words.clone().into());
                map.insert(
                    "next_fire_times".into(),
                    fire_times
                        .iter()
                        .map(|t| Value::String(t.to_rfc3339()))
                        .collect(),
                );
            }
            return Ok(serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n");
        }
        let now = Utc::now();
        let rows = [
            ("id", info.id.clone()),
            ("name", info.name.clone()),
            ("callable", info.callable_name.clone()),
            (
                "function",
                info.callable_reference
                    .clone()
                    .unwrap_or_else(|| "-".into()),
            ),
            ("state", info.schedule_state.as_str().to_owned()),
            ("trigger", info.trigger_description.clone()),
            ("in words", words.unwrap_or_else(|| "-".into())),
            ("executor", info.executor.clone()),
            ("store", info.store_alias.clone()),
            ("next run", when(info.next_run_time, tz, now)),
            ("coalesce", info.coalesce.to_string()),
            ("max instances", info.max_instances.to_string()),
            (
                "grace time",
                info.mistrigger_grace_time
                    .map_or_else(|| "-".into(), |d| format!("{}s", d.as_secs())),
            ),
            ("args", Value::from(info.args.clone()).to_string()),
            ("kwargs", Value::Object(info.kwargs.clone()).to_string()),
        ];
        let mut out = String::new();
        for (k, v) in rows {
            out.push_str(&format!("{:<14} {}\n", format!("{k}:"), one_line(&v)));
        }
        out.push_str("next fires:\n");
        if fire_times.is_empty() {
            out.push_str("  (none: the schedule is over or the task is paused)\n");
        }
        for t in &fire_times {
            out.push_str(&format!("  {}\n", when(Some(*t), tz, now)));
        }
        Ok(out)
    })
}

/// The next `count` fire times of a stored task from its next run time (none when paused or
/// finished); computed from the trigger, nothing is written.
pub(crate) async fn next_fire_times(
    scheduler: &Scheduler,
    info: &TaskInfo,
    count: usize,
) -> Result<Vec<DateTime<Utc>>, CliError> {
    if info.next_run_time.is_none() {
        return Ok(Vec::new());
    }
    let task = scheduler
        .get_task(&info.id, Some(&info.store_alias))
        .await
        .map_err(failed)?
        .ok_or_else(|| CliError::Failed(format!("no task with id {}", quote(&info.id))))?;
    Ok(task.preview_run_times(scheduler.timezone(), count))
}

/// What `pause`/`resume`/`remove` did to each id.
fn report(json_out: bool, verb: &str, done: &[(String, Option<TaskInfo>)]) -> String {
    if json_out {
        let list: Vec<Value> = done
            .iter()
            .map(|(id, info)| {
                json!({"id": id, "action": verb, "task": info.as_ref().map(task_json)})
            })
            .collect();
        return serde_json::to_string_pretty(&list).unwrap_or_default() + "\n";
    }
    done.iter()
        .map(|(id, _)| format!("{verb} {id}\n"))
        .collect()
}

/// `asyncz pause ID...`.
pub fn pause(args: &IdsArgs) -> Result<String, CliError> {
    let ids = args.ids.clone();
    let json_out = args.common.json;
    with_scheduler(&args.common, |scheduler| async move {
        let mut done = Vec::new();
        for id in ids {
            find(&scheduler, &id).await?;
            let info = scheduler.pause_task(&id, None).await.map_err(failed)?;
            done.push((id, Some(info)));
        }
        Ok(report(json_out, "paused", &done))
    })
}

/// `asyncz resume ID...`.
pub fn resume(args: &IdsArgs) -> Result<String, CliError> {
    let ids = args.ids.clone();
    let json_out = args.common.json;
    with_scheduler(&args.common, |scheduler| async move {
        let mut done = Vec::new();
        for id in ids {
            find(&scheduler, &id).await?;
            let info = scheduler.resume_task(&id, None).await.map_err(failed)?;
            done.push((id, info));
        }
        Ok(report(json_out, "resumed", &done))
    })
}

/// A progress bar on stderr for long work (at least 100 steps), drawn only when stderr is a
/// terminal: piped or redirected output stays quiet.
pub(crate) fn progress(len: usize, what: &str) -> indicatif::ProgressBar {
    if len < 100 || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len as u64);
    if let Ok(style) = indicatif::ProgressStyle::with_template("{msg} {bar:40} {pos}/{len} ({eta})")
    {
        bar.set_style(style);
    }
    bar.set_message(what.to_owned());
    bar
}

fn confirm(ids: &[String]) -> Result<bool, CliError> {
    use std::io::Write;
    eprint!("remove {} task(s): {}? [y/N] ", ids.len(), ids.join(", "));
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|e| CliError::Failed(format!("cannot read the answer: {e}")))?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// `asyncz remove ID...`: asks first unless `--yes` or stdin is not a TTY.
pub fn remove(args: &IdsArgs) -> Result<String, CliError> {
    let ids = args.ids.clone();
    let json_out = args.common.json;
    let ask = !args.yes && std::io::stdin().is_terminal();
    with_scheduler(&args.common, |scheduler| async move {
        for id in &ids {
            find(&scheduler, id).await?;
        }
        if ask && !confirm(&ids)? {
            return Err(CliError::Failed("not removed".to_owned()));
        }
        let bar = progress(ids.len(), "removing");
        let mut done = Vec::new();
        for id in ids {
            scheduler.delete_task(&id, None).await.map_err(failed)?;
            done.push((id, None));
            bar.inc(1);
        }
        bar.finish_and_clear();
        Ok(report(json_out, "removed", &done))
    })
}
