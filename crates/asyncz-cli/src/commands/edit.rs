//! `add`, `update` and `reschedule`: task records written through the paused scheduler.
//!
//! The CLI cannot know which functions the nodes register: it records the function name as
//! given. To get the name past `add_task`'s registration check, its scheduler registers a
//! placeholder under that name, which refuses to run (the CLI's scheduler never runs tasks).
//! `update --dry-run` applies the change to a copy of the task in a scratch scheduler that is
//! never started, and prints the difference; nothing is written.

use std::sync::Arc;
use std::time::Duration;

use asyncz::{
    CallContext, Map, Scheduler, Task, TaskBuilder, TaskError, TaskInfo, TaskUpdate, TriggerSpec,
    Value,
};
use chrono::Utc;
use clap::Args;
use serde_json::json;

use super::preview::ScheduleArgs;
use super::tasks::{find, task_json, timezone, when, with_scheduler, StoreArgs};
use crate::{one_line, quote, CliError};

/// Task options shared by `add` and `update`.
#[derive(Debug, Args)]
pub struct TaskOptions {
    /// Positional arguments, a JSON array (e.g. '[1, "a"]')
    #[arg(long, value_name = "JSON")]
    pub args: Option<String>,
    /// Keyword arguments, a JSON object (e.g. '{"to": "ops"}')
    #[arg(long, value_name = "JSON")]
    pub kwargs: Option<String>,
    /// A name for the task
    #[arg(long)]
    pub name: Option<String>,
    /// The executor alias
    #[arg(long)]
    pub executor: Option<String>,
    /// How late a run may still start (e.g. 30s, 5m; "none": no limit)
    #[arg(long, value_name = "DURATION")]
    pub misfire_grace_time: Option<String>,
    /// Run missed fire times once (true) or each (false)
    #[arg(long, value_name = "BOOL")]
    pub coalesce: Option<bool>,
    /// How many runs of the task may be active at once
    #[arg(long, value_name = "N")]
    pub max_instances: Option<u32>,
}

/// `add` arguments.
#[derive(Debug, Args)]
pub struct AddArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub common: StoreArgs,
    /// The registered function name the nodes run (not checked here: nodes register it)
    pub function: String,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub schedule: ScheduleArgs,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub options: TaskOptions,
    /// The task id (default: a random one)
    #[arg(long)]
    pub id: Option<String>,
    /// The store alias to add the task to (default: `default`)
    #[arg(long = "in-store", value_name = "ALIAS")]
    pub in_store: Option<String>,
    /// Replace a task with the same id instead of failing
    #[arg(long)]
    pub replace_existing: bool,
    /// Add the task paused
    #[arg(long)]
    pub paused: bool,
}

/// `update` arguments.
#[derive(Debug, Args)]
pub struct UpdateArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub common: StoreArgs,
    /// The task id.
    pub id: String,
    /// Run another registered function
    #[arg(long)]
    pub function: Option<String>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub schedule: ScheduleArgs,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub options: TaskOptions,
    /// Show what would change, write nothing
    #[arg(long)]
    pub dry_run: bool,
}

/// `reschedule` arguments.
#[derive(Debug, Args)]
pub struct RescheduleArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub common: StoreArgs,
    /// The task id.
    pub id: String,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub schedule: ScheduleArgs,
}

/// An error of the library: a rejected value is a usage error (2), anything else (conflict,
/// unreachable store) a failed operation (1).
fn classify(e: asyncz::Error) -> CliError {
    match e {
        asyncz::Error::InvalidArgument { .. } => CliError::Usage(one_line(&e.to_string())),
        e => CliError::Failed(one_line(&e.to_string())),
    }
}

fn parse_json(flag: &str, text: &str) -> Result<Value, CliError> {
    serde_json::from_str(text)
        .map_err(|e| CliError::Usage(format!("{flag}: {} is not valid JSON: {e}", quote(text))))
}

/// `--args`: a JSON array.
pub fn parse_args(text: &str) -> Result<Vec<Value>, CliError> {
    match parse_json("--args", text)? {
        Value::Array(items) => Ok(items),
        _ => Err(CliError::Usage(format!(
            "--args: {} is not a JSON array (e.g. '[1, \"a\"]')",
            quote(text)
        ))),
    }
}

/// `--kwargs`: a JSON object.
pub fn parse_kwargs(text: &str) -> Result<Map, CliError> {
    match parse_json("--kwargs", text)? {
        Value::Object(map) => Ok(map),
        _ => Err(CliError::Usage(format!(
            "--kwargs: {} is not a JSON object (e.g. '{{\"to\": \"ops\"}}')",
            quote(text)
        ))),
    }
}

/// `--misfire-grace-time`: a duration, or `none` for no limit.
fn parse_grace(text: &str) -> Result<Option<Duration>, CliError> {
    if text.trim().eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    asyncz_triggers::parse_duration(text.trim())
        .map(Some)
        .map_err(|e| CliError::Usage(format!("--misfire-grace-time: {}: {e}", quote(text))))
}

/// Registers a placeholder under `name` unless the scheduler has that function already.
pub(crate) fn record_function_name(scheduler: &Scheduler, name: &str) -> Result<(), CliError> {
    if scheduler.functions().contains(name) {
        return Ok(());
    }
    scheduler
        .register(name, |ctx: CallContext| -> Result<(), TaskError> {
            Err(format!(
                "the asyncz CLI only records the name of function for task {:?}; a scheduler node runs it",
                ctx.task_id
            )
            .into())
        })
        .map_err(classify)
}

fn trigger_of(
    schedule: &ScheduleArgs,
    common: &StoreArgs,
) -> Result<Option<Arc<dyn asyncz::Trigger>>, CliError> {
    if !schedule.is_given() {
        return Ok(None);
    }
    let tz = timezone(&common.timezone)?;
    schedule.trigger(tz, Utc::now()).map(Some)
}

/// `asyncz add FUNCTION <schedule> [options]`.
pub fn add(args: &AddArgs) -> Result<String, CliError> {
    let tz = timezone(&args.common.timezone)?;
    let trigger = trigger_of(&args.schedule, &args.common)?.ok_or_else(|| {
        CliError::Usage("add: a schedule is needed: --cron, --field, --interval or --at".into())
    })?;
    let mut builder = TaskBuilder::new()
        .function(args.function.clone())
        .trigger(TriggerSpec::Instance(trigger))
        .replace_existing(args.replace_existing);
    let o = &args.options;
    if let Some(a) = &o.args {
        builder = builder.args(parse_args(a)?);
    }
    if let Some(k) = &o.kwargs {
        builder = builder.kwargs(parse_kwargs(k)?);
    }
    if let Some(g) = &o.misfire_grace_time {
        builder = builder.mistrigger_grace_time(parse_grace(g)?);
    }
    if let Some(id) = &args.id {
        builder = builder.id(id.clone());
    }
    if let Some(name) = &o.name {
        builder = builder.name(name.clone());
    }
    if let Some(e) = &o.executor {
        builder = builder.executor(e.clone());
    }
    if let Some(s) = &args.in_store {
        builder = builder.store(s.clone());
    }
    if let Some(c) = o.coalesce {
        builder = builder.coalesce(c);
    }
    if let Some(m) = o.max_instances {
        builder = builder.max_instances(m);
    }
    if args.paused {
        builder = builder.paused();
    }
    let function = args.function.clone();
    let json_out = args.common.json;
    with_scheduler(&args.common, |scheduler| async move {
        record_function_name(&scheduler, &function)?;
        let handle = scheduler.add_task(builder).await.map_err(classify)?;
        let info = find(&scheduler, handle.id()).await?;
        if json_out {
            return Ok(serde_json::to_string_pretty(&task_json(&info)).unwrap_or_default() + "\n");
        }
        Ok(format!(
            "added {} ({}), next run {}\n",
            info.id,
            info.trigger_description,
            when(info.next_run_time, tz, Utc::now())
        ))
    })
}

/// The update the options describe (without the trigger, which is a reschedule).
fn task_update(function: Option<&str>, o: &TaskOptions) -> Result<(TaskUpdate, bool), CliError> {
    let mut update = TaskUpdate::new();
    let mut any = false;
    if let Some(f) = function {
        update = update.function(f.to_owned());
        any = true;
    }
    if let Some(a) = &o.args {
        update = update.args(parse_args(a)?);
        any = true;
    }
    if let Some(k) = &o.kwargs {
        update = update.kwargs(parse_kwargs(k)?);
        any = true;
    }
    if let Some(g) = &o.misfire_grace_time {
        update = update.mistrigger_grace_time(parse_grace(g)?);
        any = true;
    }
    if let Some(n) = &o.name {
        update = update.name(n.clone());
        any = true;
    }
    if let Some(e) = &o.executor {
        update = update.executor(e.clone());
        any = true;
    }
    if let Some(c) = o.coalesce {
        update = update.coalesce(c);
        any = true;
    }
    if let Some(m) = o.max_instances {
        update = update.max_instances(m);
        any = true;
    }
    Ok((update, any))
}

/// The fields that differ between two task documents, in the order of `after`.
pub fn diff(before: &Value, after: &Value) -> Vec<(String, Value, Value)> {
    let (Value::Object(b), Value::Object(a)) = (before, after) else {
        return Vec::new();
    };
    a.iter()
        .filter(|(k, v)| b.get(*k) != Some(*v))
        .map(|(k, v)| {
            (
                k.clone(),
                b.get(k).cloned().unwrap_or(Value::Null),
                v.clone(),
            )
        })
        .collect()
}

/// A copy of `task` in a scheduler that is never started (its pending store), to apply an
/// update to without writing the real store.
async fn scratch_copy(task: &Task, info: &TaskInfo) -> Result<Scheduler, CliError> {
    let scratch = asyncz::builder().build().map_err(classify)?;
    let Some(function) = info.callable_reference.clone() else {
        return Err(CliError::Failed(format!(
            "task {} runs a closure; it cannot be updated from the CLI",
            quote(&info.id)
        )));
    };
    record_function_name(&scratch, &function)?;
    let mut builder = TaskBuilder::new()
        .id(info.id.clone())
        .name(info.name.clone())
        .function(function)
        .trigger(TriggerSpec::Instance(Arc::clone(task.trigger())))
        .args(info.args.clone())
        .kwargs(info.kwargs.clone())
        .executor(info.executor.clone())
        .mistrigger_grace_time(info.mistrigger_grace_time)
        .coalesce(info.coalesce)
        .max_instances(info.max_instances)
        .store(info.store_alias.clone());
    builder = match info.next_run_time {
        Some(t) => builder.next_run_time(t),
        None => builder.paused(),
    };
    scratch.add_task(builder).await.map_err(classify)?;
    Ok(scratch)
}

/// Applies the update (and the reschedule) to `scheduler` and returns the task after.
async fn apply(
    scheduler: &Scheduler,
    info: &TaskInfo,
    update: Option<TaskUpdate>,
    trigger: Option<Arc<dyn asyncz::Trigger>>,
) -> Result<TaskInfo, CliError> {
    let store = Some(info.store_alias.as_str());
    let mut after = info.clone();
    if let Some(update) = update {
        after = scheduler
            .update_task(&info.id, store, update)
            .await
            .map_err(classify)?;
    }
    if let Some(trigger) = trigger {
        after = scheduler
            .reschedule_task(&info.id, store, TriggerSpec::Instance(trigger))
            .await
            .map_err(classify)?;
    }
    Ok(after)
}

fn render_diff(
    id: &str,
    dry_run: bool,
    before: &TaskInfo,
    after: &TaskInfo,
    json_out: bool,
) -> String {
    let (b, a) = (task_json(before), task_json(after));
    let changes = diff(&b, &a);
    if json_out {
        let mut map = Map::new();
        for (k, from, to) in &changes {
            map.insert(k.clone(), json!({"from": from, "to": to}));
        }
        let doc = json!({"id": id, "dry_run": dry_run, "changes": map, "task": a});
        return serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n";
    }
    let mut out = if dry_run {
        format!("would update {id}:\n")
    } else {
        format!("updated {id}:\n")
    };
    if changes.is_empty() {
        out.push_str("  (no change)\n");
    }
    for (k, from, to) in changes {
        out.push_str(&format!(
            "  {k}: {} -> {}\n",
            one_line(&from.to_string()),
            one_line(&to.to_string())
        ));
    }
    out
}

/// `asyncz update ID [fields] [--dry-run]`.
pub fn update(args: &UpdateArgs) -> Result<String, CliError> {
    let trigger = trigger_of(&args.schedule, &args.common)?;
    let (update, any) = task_update(args.function.as_deref(), &args.options)?;
    if !any && trigger.is_none() {
        return Err(CliError::Usage(
            "update: nothing to change (give --name, --function, --args, --kwargs, --executor, --misfire-grace-time, --coalesce, --max-instances or a schedule)".into(),
        ));
    }
    let update = any.then_some(update);
    let id = args.id.clone();
    let function = args.function.clone();
    let dry_run = args.dry_run;
    let json_out = args.common.json;
    with_scheduler(&args.common, |scheduler| async move {
        let before = find(&scheduler, &id).await?;
        let target = if dry_run {
            let task = scheduler
                .get_task(&id, Some(&before.store_alias))
                .await
                .map_err(classify)?
                .ok_or_else(|| CliError::Failed(format!("no task with id {}", quote(&id))))?;
            scratch_copy(&task, &before).await?
        } else {
            scheduler.clone()
        };
        if let Some(f) = &function {
            record_function_name(&target, f)?;
        }
        let mut after = apply(&target, &before, update, trigger).await?;
        // The scratch copy lives in a pending store: its alias and state read as pending.
        after.store_alias.clone_from(&before.store_alias);
        if dry_run {
            after.pending = before.pending;
            after.submitted = before.submitted;
            after.paused = after.next_run_time.is_none();
            after.schedule_state = if after.paused {
                asyncz::ScheduleState::Paused
            } else {
                asyncz::ScheduleState::Scheduled
            };
        }
        Ok(render_diff(&id, dry_run, &before, &after, json_out))
    })
}

/// `asyncz reschedule ID <schedule>`.
pub fn reschedule(args: &RescheduleArgs) -> Result<String, CliError> {
    let tz = timezone(&args.common.timezone)?;
    let trigger = trigger_of(&args.schedule, &args.common)?.ok_or_else(|| {
        CliError::Usage(
            "reschedule: a schedule is needed: --cron, --field, --interval or --at".into(),
        )
    })?;
    let id = args.id.clone();
    let json_out = args.common.json;
    with_scheduler(&args.common, |scheduler| async move {
        let before = find(&scheduler, &id).await?;
        let after = apply(&scheduler, &before, None, Some(trigger)).await?;
        if json_out {
            return Ok(serde_json::to_string_pretty(&task_json(&after)).unwrap_or_default() + "\n");
        }
        Ok(format!(
            "rescheduled {} ({}), next run {}\n",
            after.id,
            after.trigger_description,
            when(after.next_run_time, tz, Utc::now())
        ))
    })
}
