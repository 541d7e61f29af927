//! `asyncz preview`: the next fire times of a trigger, chained as upstream's preview does
//! (first = next(None, from), then next(previous, previous)).
//!
//! Times are shown in RFC 3339, whose years run from 0000 to 9999: a fire time whose year in
//! `--timezone` falls outside that range ends the preview there, reported as exhausted.
//!
//! ```
//! let out = asyncz_cli::run([
//!     "preview", "--cron", "0 9 * * 1-5", "--timezone", "Europe/Berlin",
//!     "--from", "2026-01-02T00:00:00Z", "--count", "2",
//! ]).unwrap();
//! assert_eq!(out, "2026-01-02 09:00:00 +01:00 (Fri)\n2026-01-05 09:00:00 +01:00 (Mon)\n");
//! ```

use std::sync::Arc;
use std::time::Duration;

use asyncz_core::{preview_fire_times, Map, Trigger, TriggerContext, Value};
use asyncz_triggers::{parse_duration, CronTrigger, DateTrigger, IntervalTrigger};
use chrono::{DateTime, Datelike, Offset, TimeZone, Utc};
use chrono_tz::Tz;
use clap::Args;

use crate::{quote, CliError};

/// Examples and notes shown at the end of `asyncz preview --help`.
const AFTER_HELP: &str =
    "Give exactly one schedule: --cron, --field (repeatable), --interval or --at.

Examples:
  asyncz preview --cron \"0 9 * * mon-fri\" --timezone Europe/Berlin --count 3
  asyncz preview --field day=\"last fri\" --field hour=10 --json
  asyncz preview --field day_of_week=0-0/4 --field hour=6
  asyncz preview --interval 1h30m --start-at 2026-01-01T00:00:00Z --end-at 2026-01-02T00:00:00Z
  asyncz preview --at 2026-05-01T08:00:00+02:00 --timezone Europe/Paris

Output: one line per run time in --timezone; with --json
  {\"timezone\": \"UTC\", \"run_times\": [\"2026-01-01T09:00:00+00:00\", ...], \"exhausted\": false}
\"exhausted\" is true when the schedule has fewer than --count run times left (--end-at, a
date, or a cron year range). RFC 3339 has no years past 9999: the preview stops before the
first run time it cannot write and reports the schedule as exhausted there.";

/// The schedule options shared by `preview`, `add`, `update` and `reschedule`: exactly one of
/// `--cron`, `--field` (repeatable), `--interval` or `--at`.
#[derive(Debug, Clone, PartialEq, Args)]
pub struct ScheduleArgs {
    /// A crontab line: minute hour day month day_of_week (0 and 7 = Sunday)
    #[arg(long, value_name = "CRONTAB")]
    pub cron: Vec<String>,
    /// One cron field, repeatable: year, month, day, week, day_of_week, hour, minute, second
    #[arg(long, value_name = "NAME=EXPR", value_parser = parse_field)]
    pub field: Vec<(String, String)>,
    /// A duration of at least 1s: 90s, 45m, 2h, 1d, 2w3d, 1h30m (m = minutes; no months)
    #[arg(long, value_name = "DURATION", value_parser = parse_interval)]
    pub interval: Option<Duration>,
    /// First fire time of an interval (default: --from + interval)
    #[arg(long, value_name = "RFC3339", value_parser = parse_instant)]
    pub start_at: Option<DateTime<Utc>>,
    /// A single date-time
    #[arg(long, value_name = "RFC3339", value_parser = parse_instant)]
    pub at: Vec<DateTime<Utc>>,
    /// No fire time after this (inclusive)
    #[arg(long, value_name = "RFC3339", value_parser = parse_instant)]
    pub end_at: Option<DateTime<Utc>>,
}

/// Parsed `preview` options.
#[derive(Debug, Clone, PartialEq, Args)]
#[command(after_help = AFTER_HELP)]
pub struct PreviewArgs {
    /// A stored task whose trigger to preview (needs --store or --config) instead of a
    /// schedule given here
    #[arg(value_name = "ID")]
    pub id: Option<String>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub schedule: ScheduleArgs,
    /// IANA zone the schedule and the output use
    #[arg(long, value_name = "IANA", default_value = "UTC", value_parser = parse_timezone)]
    pub timezone: Tz,
    /// Compute from this instant (default: now; for a stored task: its next run time)
    #[arg(long, value_name = "RFC3339", value_parser = parse_instant)]
    pub from: Option<DateTime<Utc>>,
    /// How many run times, 1..=1000
    #[arg(long, value_name = "N", default_value = "5", value_parser = parse_count)]
    pub count: usize,
    /// Print {"timezone": ..., "run_times": [...], "exhausted": bool}
    #[arg(long)]
    pub json: bool,
    /// The store of a stored task (as for `list`)
    #[arg(long = "store", value_name = "[ALIAS=]URL", action = clap::ArgAction::Append)]
    pub stores: Vec<String>,
    /// A TOML config naming the stores (as for `list`)
    #[arg(long, value_name = "FILE")]
    pub config: Option<String>,
}

/// The trigger the command line describes.
#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    /// `--cron`.
    Crontab(String),
    /// `--field NAME=EXPR`, in order.
    Fields(Vec<(String, String)>),
    /// `--interval` (and `--start-at`).
    Interval(Duration, Option<DateTime<Utc>>),
    /// `--at`.
    At(DateTime<Utc>),
}

fn usage(message: impl Into<String>) -> CliError {
    CliError::Usage(message.into())
}

/// `--at`, `--start-at`, `--end-at`, `--from`: an RFC 3339 instant.
fn parse_instant(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            format!(
                "{} is not an RFC 3339 date-time ({e}), e.g. 2026-01-01T09:00:00Z",
                quote(text)
            )
        })
}

/// `--field NAME=EXPR`.
fn parse_field(text: &str) -> Result<(String, String), String> {
    let (name, expr) = text
        .split_once('=')
        .ok_or_else(|| format!("{} is not NAME=EXPR (e.g. hour=9-17)", quote(text)))?;
    Ok((name.trim().to_owned(), expr.trim().to_owned()))
}

/// `--interval`: a compact duration of at least one second; `M` is refused (months have no
/// fixed length, and `1M` read as a minute surprises whoever meant a month).
fn parse_interval(text: &str) -> Result<Duration, String> {
    if text.contains('M') {
        return Err(format!(
            "{} is ambiguous: 'M' could mean months or minutes; write 'm' for minutes \
             (months have no fixed length: use --cron or --field day=... for monthly schedules)",
            quote(text)
        ));
    }
    // The library refuses zero (and `M`) too; the check above words `M` for the command line.
    parse_duration(text).map_err(|e| e.to_string())
}

/// `--timezone`: an IANA name.
fn parse_timezone(text: &str) -> Result<Tz, String> {
    text.trim().parse::<Tz>().map_err(|_| {
        format!(
            "{} is not an IANA time zone name (e.g. Europe/Berlin)",
            quote(text)
        )
    })
}

/// `--count`: 1..=1000.
fn parse_count(text: &str) -> Result<usize, String> {
    text.trim()
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=1000).contains(n))
        .ok_or_else(|| format!("{} is not a number from 1 to 1000", quote(text)))
}

impl ScheduleArgs {
    /// Whether any schedule option is given.
    pub fn is_given(&self) -> bool {
        !self.cron.is_empty()
            || !self.field.is_empty()
            || self.interval.is_some()
            || !self.at.is_empty()
            || self.start_at.is_some()
            || self.end_at.is_some()
    }

    /// The one schedule the options give.
    pub fn schedule(&self) -> Result<Schedule, CliError> {
        let mut schedules: Vec<Schedule> = Vec::new();
        schedules.extend(self.cron.iter().cloned().map(Schedule::Crontab));
        if let Some(every) = self.interval {
            schedules.push(Schedule::Interval(every, self.start_at));
        } else if self.start_at.is_some() {
            return Err(usage("--start-at only applies to --interval"));
        }
        schedules.extend(self.at.iter().copied().map(Schedule::At));
        if !self.field.is_empty() {
            schedules.push(Schedule::Fields(self.field.clone()));
        }
        match schedules.len() {
            1 => Ok(schedules.remove(0)),
            0 => Err(usage(
                "a schedule is needed: --cron, --field, --interval or --at",
            )),
            _ => Err(usage(
                "give only one schedule: --cron, --field, --interval or --at",
            )),
        }
    }

    /// Builds the trigger the options describe, computing in `timezone`.
    pub fn trigger(&self, timezone: Tz, now: DateTime<Utc>) -> Result<Arc<dyn Trigger>, CliError> {
        let ctx = TriggerContext::new(timezone, now);
        let mut map = Map::new();
        map.insert("timezone".into(), Value::String(timezone.name().to_owned()));
        if let Some(end) = self.end_at {
            map.insert("end_at".into(), Value::String(end.to_rfc3339()));
        }
        let trigger: Arc<dyn Trigger> = match self.schedule()? {
            Schedule::Crontab(line) => {
                let crontab = CronTrigger::from_crontab(&line, Some(timezone))?;
                let mut state = crontab.state();
                state.extend(map);
                Arc::new(CronTrigger::from_args(&state, &ctx)?)
            }
            Schedule::Fields(fields) => {
                for (name, expr) in fields {
                    if map.insert(name.clone(), Value::String(expr)).is_some() {
                        return Err(usage(format!("--field: {} is given twice", quote(&name))));
                    }
                }
                Arc::new(CronTrigger::from_args(&map, &ctx)?)
            }
            Schedule::Interval(every, start_at) => {
                map.insert("seconds".into(), Value::from(every.as_secs()));
                if let Some(start) = start_at {
                    map.insert("start_at".into(), Value::String(start.to_rfc3339()));
                }
                Arc::new(IntervalTrigger::from_args(&map, &ctx)?)
            }
            Schedule::At(at) => {
                // A date trigger has no end; `render` drops a run time after --end-at.
                map.remove("end_at");
                map.insert("run_at".into(), Value::String(at.to_rfc3339()));
                Arc::new(DateTrigger::from_args(&map, &ctx)?)
            }
        };
        Ok(trigger)
    }
}

/// Runs `asyncz preview`: of a stored task when an id is given, else of the schedule given.
pub fn run(args: &PreviewArgs) -> Result<String, CliError> {
    match &args.id {
        Some(id) => stored(args, id),
        None if !args.schedule.is_given() => Err(usage(
            "preview needs a schedule: --cron, --field, --interval or --at (or a task ID with --store)",
        )),
        None => render(args, Utc::now()),
    }
}

/// `preview ID`: the stored task's next run times (from its next run time, or `--from`).
fn stored(args: &PreviewArgs, id: &str) -> Result<String, CliError> {
    if args.schedule.is_given() {
        return Err(usage(
            "preview: give a task id or a schedule (--cron, --field, --interval, --at), not both",
        ));
    }
    let have_store = !args.stores.is_empty()
        || super::store::config_path(args.config.as_deref()).is_some()
        || std::env::var("ASYNCZ_STORE_URL").is_ok_and(|u| !u.is_empty());
    if !have_store {
        return Err(usage(format!(
            "preview: {} would name a stored task, but no store is given (--store or --config); \
             or give a schedule: --cron, --field, --interval or --at",
            quote(id)
        )));
    }
    let common = super::tasks::StoreArgs {
        stores: args.stores.clone(),
        json: args.json,
        timezone: args.timezone.name().to_owned(),
        config: args.config.clone(),
        connect_timeout: super::store::DEFAULT_CONNECT_TIMEOUT_SECS,
    };
    let id = id.to_owned();
    let count = args.count;
    let from = args.from;
    let tz = args.timezone;
    let json_out = args.json;
    super::tasks::with_scheduler(&common, |scheduler| async move {
        let info = super::tasks::find(&scheduler, &id).await?;
        let task = scheduler
            .get_task(&id, Some(&info.store_alias))
            .await
            .map_err(super::tasks::failed)?
            .ok_or_else(|| CliError::Failed(format!("no task with id {}", quote(&id))))?;
        let times = match from {
            Some(from) => {
                preview_fire_times(task.trigger().as_ref(), scheduler.timezone(), from, count)
            }
            None => task.preview_run_times(scheduler.timezone(), count),
        };
        Ok(format_times(&times, tz, count, json_out))
    })
}

/// `t` in `tz` when RFC 3339 can write it (years 0000..=9999 there), computed without
/// chrono's panicking conversions at the ends of its range.
fn rfc3339_local(t: DateTime<Utc>, tz: Tz) -> Option<DateTime<Tz>> {
    let offset = tz.offset_from_utc_datetime(&t.naive_utc()).fix();
    let wall = t.naive_utc().checked_add_offset(offset)?;
    (0..=9999)
        .contains(&wall.year())
        .then(|| t.with_timezone(&tz))
}

/// Computes and formats the preview, with `now` as the default `--from`.
pub fn render(args: &PreviewArgs, now: DateTime<Utc>) -> Result<String, CliError> {
    let from = args.from.unwrap_or(now);
    let trigger = args.schedule.trigger(args.timezone, from)?;
    let mut times = preview_fire_times(trigger.as_ref(), args.timezone, from, args.count);
    if let Some(end) = args.schedule.end_at {
        times.retain(|t| *t <= end);
    }
    Ok(format_times(&times, args.timezone, args.count, args.json))
}

/// The preview's output: lines in `tz`, or the JSON document.
fn format_times(times: &[DateTime<Utc>], tz: Tz, count: usize, json: bool) -> String {
    let local: Vec<DateTime<Tz>> = times.iter().map_while(|t| rfc3339_local(*t, tz)).collect();
    let past_rfc3339 = local.len() < times.len();
    let exhausted = local.len() < count;
    if json {
        let run_times: Vec<Value> = local
            .iter()
            .map(|t| Value::String(t.to_rfc3339()))
            .collect();
        let doc = serde_json::json!({
            "timezone": tz.name(),
            "run_times": run_times,
            "exhausted": exhausted,
        });
        return format!("{doc}\n");
    }
    let mut out = String::new();
    for t in &local {
        out.push_str(&t.format("%Y-%m-%d %H:%M:%S %:z (%a)").to_string());
        out.push('\n');
    }
    if exhausted {
        let plural = if local.len() == 1 { "" } else { "s" };
        if past_rfc3339 {
            out.push_str(&format!(
                "(the schedule ends after {} run time{plural}: the next falls outside the years \
                 0000-9999, past what RFC 3339 can write)\n",
                local.len()
            ));
        } else {
            out.push_str(&format!(
                "(the schedule ends after {} run time{plural})\n",
                local.len()
            ));
        }
    }
    out
}
