//! The triggers of asyncz: they decide *when* a task runs.
//!
//! | alias      | type                | fires                                                     |
//! |------------|---------------------|-----------------------------------------------------------|
//! | `date`     | [`DateTrigger`]     | once, at a given time (or at once)                        |
//! | `interval` | [`IntervalTrigger`] | every fixed span of elapsed time                          |
//! | `cron`     | [`CronTrigger`]     | when the wall clock matches cron fields (or a crontab)    |
//! | `and`      | [`AndTrigger`]      | when all of its triggers agree                            |
//! | `or`       | [`OrTrigger`]       | whenever any of its triggers fires                        |
//! | `shutdown` | [`ShutdownTrigger`] | once, when the scheduler shuts down                       |
//!
//! Each implements [`asyncz_core::Trigger`]: it describes itself like upstream Asyncz
//! (`cron[day_of_week='mon-fri', hour='9']`, `interval[0:05:00]`), and its
//! [`state`](asyncz_core::Trigger::state) fed back to its factory rebuilds an equal trigger,
//! which is how persistent stores keep triggers; [`in_words`] says it for people (`at 09:00 on
//! Monday to Friday`). [`register`] installs the factories in a
//! [`asyncz_core::PluginRegistry`] under the aliases above.
//!
//! # Arguments and state
//!
//! Each factory takes a JSON object; `state()` returns the same keys, so a stored trigger is
//! rebuilt by its factory. Datetimes are strings (`2026-01-01 10:00:00`, optionally with `Z`
//! or `±HH:MM`; without one they are read in `timezone`, else in the scheduler's zone) or UNIX
//! timestamps; state writes RFC 3339 with the offset. Unknown keys are refused.
//!
//! | alias | keys |
//! |---|---|
//! | `date` | `run_at`, `timezone`, `allow_mistrigger_by_default` |
//! | `interval` | `weeks`, `days`, `hours`, `minutes`, `seconds` (numbers ≥ 0, or numeric strings), `start_at`, `end_at`, `timezone`, `jitter` |
//! | `cron` | `year`, `month`, `day`, `week`, `day_of_week`, `hour`, `minute`, `second` (expression strings or whole numbers), `start_at`, `end_at`, `timezone`, `jitter` |
//! | `and`, `or` | `triggers` (a list of `{"alias": ..., "args": {...}}`), `jitter` |
//! | `shutdown` | none |
//!
//! Time semantics (DESIGN.md §4): zones are IANA zones; cron matches the wall clock and, when
//! the clock springs forward over a matching time, fires as far past the gap as the time was
//! into it (02:30 → 03:30), and when it falls back fires a repeated time once, at its first
//! occurrence; intervals are exact elapsed time; jitter delays a run but never moves the
//! schedule.
//!
//! ```
//! use asyncz_core::{PluginRegistry, Trigger, TriggerContext};
//! use chrono::{TimeZone, Utc};
//!
//! let mut registry = PluginRegistry::new();
//! asyncz_triggers::register(&mut registry);
//!
//! let ctx = TriggerContext::new(chrono_tz::Europe::London, Utc::now());
//! let args = serde_json::json!({"day_of_week": "mon-fri", "hour": 9});
//! let serde_json::Value::Object(args) = args else { unreachable!() };
//! let trigger = registry.create_trigger("cron", &args, &ctx)?;
//! assert_eq!(trigger.to_string(), "cron[day_of_week='mon-fri', hour='9']");
//!
//! // 2026-07-03 is a Friday; London is on summer time (UTC+1).
//! let friday_noon = Utc.with_ymd_and_hms(2026, 7, 3, 11, 0, 0).unwrap();
//! let next = trigger.next_fire_time(ctx.timezone, None, friday_noon);
//! assert_eq!(next, Some(Utc.with_ymd_and_hms(2026, 7, 6, 8, 0, 0).unwrap()));
//!
//! // The state rebuilds the same trigger.
//! let again = registry.create_trigger("cron", &trigger.state(), &ctx)?;
//! assert_eq!(again.to_string(), trigger.to_string());
//! # Ok::<(), asyncz_core::Error>(())
//! ```

#![deny(missing_docs)]

mod combining;
mod cron;
mod date;
mod interval;
mod parse;
mod shutdown;
mod words;

use std::sync::Arc;

use asyncz_core::{Map, PluginRegistry, Result, Trigger, TriggerContext};

pub use combining::{AndTrigger, OrTrigger, AND_SEARCH_LIMIT};
pub use cron::{CronBuilder, CronTrigger};
pub use date::DateTrigger;
pub use interval::{parse_duration, IntervalTrigger};
pub use shutdown::ShutdownTrigger;
pub use words::{in_words, words_of};

/// The aliases [`register`] installs.
pub const ALIASES: [&str; 6] = ["date", "interval", "cron", "and", "or", "shutdown"];

/// Registers the factories of every trigger of this crate under its alias (`date`,
/// `interval`, `cron`, `and`, `or`, `shutdown`), replacing any registered before.
pub fn register(registry: &mut PluginRegistry) {
    for alias in ALIASES {
        registry.add_trigger(alias, move |args: &Map, ctx: &TriggerContext| {
            build(alias, args, ctx).unwrap_or_else(|| {
                Err(asyncz_core::Error::invalid(
                    "trigger",
                    format!("'{alias}' is not a built-in trigger"),
                ))
            })
        });
    }
}

/// Builds one of this crate's triggers by alias; `None` for an alias it does not know.
pub fn build(alias: &str, args: &Map, ctx: &TriggerContext) -> Option<Result<Arc<dyn Trigger>>> {
    fn arc<T: Trigger>(trigger: Result<T>) -> Result<Arc<dyn Trigger>> {
        trigger.map(|t| Arc::new(t) as Arc<dyn Trigger>)
    }
    Some(match alias {
        "date" => arc(DateTrigger::from_args(args, ctx)),
        "interval" => arc(IntervalTrigger::from_args(args, ctx)),
        "cron" => arc(CronTrigger::from_args(args, ctx)),
        "and" => arc(AndTrigger::from_args(args, ctx)),
        "or" => arc(OrTrigger::from_args(args, ctx)),
        "shutdown" => arc(ShutdownTrigger::from_args(args, ctx)),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync + Clone + std::fmt::Debug + 'static>() {}

    #[test]
    fn triggers_are_plain_data() {
        assert_send_sync::<DateTrigger>();
        assert_send_sync::<IntervalTrigger>();
        assert_send_sync::<CronTrigger>();
        assert_send_sync::<AndTrigger>();
        assert_send_sync::<OrTrigger>();
        assert_send_sync::<ShutdownTrigger>();
    }

    #[test]
    fn register_installs_every_alias() {
        let mut registry = PluginRegistry::new();
        register(&mut registry);
        for alias in ALIASES {
            assert!(registry.has_trigger(alias), "{alias}");
        }
    }
}
