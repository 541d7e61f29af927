//! [`DateTrigger`] (`date`): fires once, at `run_at`, or at once when no `run_at` is given.

use std::fmt;

use asyncz_core::{truncate_to_micros, Map, Result, Trigger, TriggerContext, Value};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::parse;

/// Fires once, at a given instant (spec: `DateTrigger`).
///
/// Built from arguments (`date`), `run_at` may be a string (`2026-01-01 10:00:00`, with an
/// optional `Z` / `±HH:MM` offset; a value without one is read in `timezone`, else in the
/// scheduler's zone) or a UNIX timestamp. Without `run_at` the trigger fires *now* and, as
/// upstream, such a task is never considered missed ([`Trigger::allow_mistrigger_by_default`]).
///
/// ```
/// use asyncz_triggers::DateTrigger;
/// use chrono::{TimeZone, Utc};
///
/// let trigger = DateTrigger::new(Utc.with_ymd_and_hms(2026, 1, 1, 10, 0, 0).unwrap());
/// assert_eq!(trigger.to_string(), "date[2026-01-01 10:00:00 UTC]");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateTrigger {
    run_at: DateTime<Utc>,
    timezone: Option<Tz>,
    run_now: bool,
}

impl DateTrigger {
    /// Fires once at `run_at`.
    pub fn new(run_at: DateTime<Utc>) -> Self {
        DateTrigger {
            run_at: truncate_to_micros(run_at),
            timezone: None,
            run_now: false,
        }
    }

    /// Fires once, as soon as the task is added (`run_at = now`), and is never missed.
    pub fn now_at(now: DateTime<Utc>) -> Self {
        DateTrigger {
            run_at: truncate_to_micros(now),
            timezone: None,
            run_now: true,
        }
    }

    /// The zone `run_at` is shown in (its description and state); firing does not depend on it.
    #[must_use]
    pub fn timezone(mut self, timezone: Tz) -> Self {
        self.timezone = Some(timezone);
        self
    }

    /// The instant this trigger fires at.
    pub fn run_at(&self) -> DateTime<Utc> {
        self.run_at
    }

    /// Builds the trigger from its arguments: `run_at`, `timezone` (the zone a `run_at` without
    /// an offset is read in, and the one it is shown in; default: the scheduler's for reading,
    /// UTC for showing),
    /// `allow_mistrigger_by_default` (what a trigger without `run_at` records in its state).
    pub fn from_args(args: &Map, ctx: &TriggerContext) -> Result<Self> {
        parse::check_known_args(
            "date",
            args,
            &["run_at", "timezone", "allow_mistrigger_by_default"],
        )?;
        let timezone = parse::optional_timezone(args)?;
        let run_at = parse::optional_datetime(args, "run_at", timezone.unwrap_or(ctx.timezone))?;
        let run_now = match args.get("allow_mistrigger_by_default") {
            None | Some(Value::Null) => run_at.is_none(),
            Some(Value::Bool(flag)) => *flag,
            Some(other) => {
                return Err(asyncz_core::Error::invalid(
                    "allow_mistrigger_by_default",
                    format!("expected true or false, got {other}"),
                ))
            }
        };
        Ok(DateTrigger {
            run_at: truncate_to_micros(run_at.unwrap_or(ctx.now)),
            timezone,
            run_now,
        })
    }
}

impl Trigger for DateTrigger {
    fn alias(&self) -> &'static str {
        "date"
    }

    fn type_name(&self) -> &'static str {
        "DateTrigger"
    }

    fn next_fire_time(
        &self,
        _tz: Tz,
        previous: Option<DateTime<Utc>>,
        _now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        // Fires once (upstream): after any run, a date trigger is exhausted, so a forced
        // `run_task` of a one-off task finishes it. `OrTrigger` asks its children "what is next
        // after this instant" instead, which keeps a date inside an `or`.
        match previous {
            Some(_) => None,
            None => Some(self.run_at),
        }
    }

    fn state(&self) -> Map {
        let mut state = Map::new();
        state.insert(
            "run_at".into(),
            parse::format_state_datetime(self.run_at, self.timezone).into(),
        );
        if let Some(tz) = self.timezone {
            state.insert("timezone".into(), tz.name().into());
        }
        if self.run_now {
            state.insert("allow_mistrigger_by_default".into(), true.into());
        }
        state
    }

    fn allow_mistrigger_by_default(&self) -> bool {
        self.run_now
    }
}

impl fmt::Display for DateTrigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "date[{}]",
            parse::format_display_datetime(self.run_at, self.timezone)
        )
    }
}
