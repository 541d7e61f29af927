//! `asyncz preview`: the next fire times of a trigger, chained as upstream's preview does
//! (first = next(None, from), then next(previous, previous)).
//!
//! ```text
//! asyncz preview (--cron "<5-field crontab>" | --field NAME=EXPR ... | --interval <DURATION> [--start-at <RFC3339>] | --at <RFC3339>)
//!                [--end-at <RFC3339>] [--timezone <IANA>] [--from <RFC3339>] [--count N] [--json]
//! ```

use std::sync::Arc;

use asyncz_core::{preview_fire_times, Map, Trigger, TriggerContext, Value};
use asyncz_triggers::{parse_duration, CronTrigger, DateTrigger, IntervalTrigger};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::CliError;

/// The `preview` usage text.
pub const USAGE: &str = "usage: asyncz preview (--cron \"<5-field crontab>\" | --field NAME=EXPR ... | --interval <DURATION> [--start-at <RFC3339>] | --at <RFC3339>)
                      [--end-at <RFC3339>] [--timezone <IANA>] [--from <RFC3339>] [--count N] [--json]

  --cron       a crontab line: minute hour day month day_of_week (0 and 7 = Sunday)
  --field      one cron field, repeatable: year, month, day, week, day_of_week, hour, minute, second
  --interval   a duration: 90s, 45m, 2h, 1d, 2w3d, 1h30m
  --start-at   first fire time of an interval (default: --from + interval)
  --at         a single date-time
  --end-at     no fire time after this (inclusive)
  --timezone   IANA zone the schedule and the output use (default UTC)
  --from       compute from this instant (default: now)
  --count      how many run times, 1..=1000 (default 5)
  --json       {\"timezone\": ..., \"run_times\": [...], \"exhausted\": bool}
";

/// The trigger the command line describes.
#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    /// `--cron`.
    Crontab(String),
    /// `--field NAME=EXPR`, in order.
    Fields(Vec<(String, String)>),
    /// `--interval` (and `--start-at`).
    Interval(std::time::Duration, Option<DateTime<Utc>>),
    /// `--at`.
    At(DateTime<Utc>),
}

/// Parsed `preview` options.
#[derive(Debug, Clone, PartialEq)]
pub struct PreviewArgs {
    /// The trigger.
    pub schedule: Schedule,
    /// `--end-at`.
    pub end_at: Option<DateTime<Utc>>,
    /// `--timezone`.
    pub timezone: Tz,
    /// `--from`.
    pub from: Option<DateTime<Utc>>,
    /// `--count`.
    pub count: usize,
    /// `--json`.
    pub json: bool,
}

fn usage(message: impl Into<String>) -> CliError {
    CliError::Usage(message.into())
}

fn instant(flag: &str, text: &str) -> Result<DateTime<Utc>, CliError> {
    DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            usage(format!(
                "{flag}: '{text}' is not an RFC 3339 date-time ({e}), e.g. 2026-01-01T09:00:00Z"
            ))
        })
}

/// Reads the `preview` options.
pub fn parse(args: &[String]) -> Result<PreviewArgs, CliError> {
    let mut schedules: Vec<Schedule> = Vec::new();
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut start_at = None;
    let mut interval = None;
    let mut end_at = None;
    let mut timezone = Tz::UTC;
    let mut from = None;
    let mut count = 5usize;
    let mut json = false;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) if n.starts_with("--") && n != "--field" => (n, Some(v.to_owned())),
            _ => (flag.as_str(), None),
        };
        let mut value = |name: &str| -> Result<String, CliError> {
            match &inline {
                Some(v) => Ok(v.clone()),
                None => it
                    .next()
                    .cloned()
                    .ok_or_else(|| usage(format!("{name} needs a value"))),
            }
        };
        match name {
            "--cron" => schedules.push(Schedule::Crontab(value(name)?)),
            "--field" => {
                let v = value(name)?;
                let (field, expr) = v.split_once('=').ok_or_else(|| {
                    usage(format!("--field: '{v}' is not NAME=EXPR (e.g. hour=9-17)"))
                })?;
                fields.push((field.trim().to_owned(), expr.trim().to_owned()));
            }
            "--interval" => {
                let v = value(name)?;
                interval = Some(parse_duration(&v).map_err(|e| usage(format!("--interval: {e}")))?);
            }
            "--start-at" => start_at = Some(instant(name, &value(name)?)?),
            "--at" => schedules.push(Schedule::At(instant(name, &value(name)?)?)),
            "--end-at" => end_at = Some(instant(name, &value(name)?)?),
            "--timezone" => {
                let v = value(name)?;
                timezone = v.trim().parse::<Tz>().map_err(|_| {
                    usage(format!(
                        "--timezone: '{v}' is not an IANA time zone name (e.g. Europe/Berlin)"
                    ))
                })?;
            }
            "--from" => from = Some(instant(name, &value(name)?)?),
            "--count" => {
                let v = value(name)?;
                count = v
                    .trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=1000).contains(n))
                    .ok_or_else(|| {
                        usage(format!("--count: '{v}' is not a number from 1 to 1000"))
                    })?;
            }
            "--json" => json = true,
            "-h" | "--help" => return Err(usage("__help__")),
            other => {
                return Err(usage(format!(
                    "preview: unknown option '{other}' (see asyncz preview --help)"
                )))
            }
        }
    }
    if let Some(every) = interval {
        schedules.push(Schedule::Interval(every, start_at));
    } else if start_at.is_some() {
        return Err(usage("--start-at only applies to --interval"));
    }
    if !fields.is_empty() {
        schedules.push(Schedule::Fields(fields));
    }
    let schedule = match schedules.len() {
        1 => schedules.remove(0),
        0 => {
            return Err(usage(
                "preview needs a schedule: --cron, --field, --interval or --at",
            ))
        }
        _ => {
            return Err(usage(
                "give only one schedule: --cron, --field, --interval or --at",
            ))
        }
    };
    Ok(PreviewArgs {
        schedule,
        end_at,
        timezone,
        from,
        count,
        json,
    })
}

/// Builds the trigger the options describe.
pub fn trigger(args: &PreviewArgs, now: DateTime<Utc>) -> Result<Arc<dyn Trigger>, CliError> {
    let ctx = TriggerContext {
        timezone: args.timezone,
        now,
    };
    let mut map = Map::new();
    map.insert(
        "timezone".into(),
        Value::String(args.timezone.name().to_owned()),
    );
    if let Some(end) = args.end_at {
        map.insert("end_at".into(), Value::String(end.to_rfc3339()));
    }
    let trigger: Arc<dyn Trigger> = match &args.schedule {
        Schedule::Crontab(line) => {
            let crontab = CronTrigger::from_crontab(line, Some(args.timezone))?;
            let mut state = crontab.state();
            state.extend(map);
            Arc::new(CronTrigger::from_args(&state, &ctx)?)
        }
        Schedule::Fields(fields) => {
            for (name, expr) in fields {
                if map
                    .insert(name.clone(), Value::String(expr.clone()))
                    .is_some()
                {
                    return Err(usage(format!("--field: '{name}' is given twice")));
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

/// Runs `asyncz preview`.
pub fn run(args: &[String]) -> Result<String, CliError> {
    let parsed = match parse(args) {
        Err(CliError::Usage(m)) if m == "__help__" => return Ok(USAGE.to_owned()),
        other => other?,
    };
    render(&parsed, Utc::now())
}

/// Computes and formats the preview, with `now` as the default `--from`.
pub fn render(args: &PreviewArgs, now: DateTime<Utc>) -> Result<String, CliError> {
    let from = args.from.unwrap_or(now);
    let trigger = trigger(args, from)?;
    let mut times = preview_fire_times(trigger.as_ref(), args.timezone, from, args.count);
    if let Some(end) = args.end_at {
        times.retain(|t| *t <= end);
    }
    let exhausted = times.len() < args.count;
    let local: Vec<DateTime<Tz>> = times
        .iter()
        .map(|t| t.with_timezone(&args.timezone))
        .collect();
    if args.json {
        let run_times: Vec<Value> = local
            .iter()
            .map(|t| Value::String(t.to_rfc3339()))
            .collect();
        let doc = serde_json::json!({
            "timezone": args.timezone.name(),
            "run_times": run_times,
            "exhausted": exhausted,
        });
        return Ok(format!("{doc}\n"));
    }
    let mut out = String::new();
    for t in &local {
        out.push_str(&t.format("%Y-%m-%d %H:%M:%S %:z (%a)").to_string());
        out.push('\n');
    }
    if exhausted {
        out.push_str(&format!(
            "(the schedule ends after {} run time{})\n",
            local.len(),
            if local.len() == 1 { "" } else { "s" }
        ));
    }
    Ok(out)
}
