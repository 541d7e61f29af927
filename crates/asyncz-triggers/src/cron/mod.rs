//! [`CronTrigger`] (`cron`): fires when the wall-clock time in a zone matches every field, as
//! upstream's cron trigger does, and [`CronTrigger::from_crontab`] for 5-field crontab strings.
//!
//! The search is not upstream's field walk, but finds the same times: the smallest wall-clock
//! time at or after the start whose fields all match, found with precompiled bitmasks (no
//! allocation per call), then placed in the zone by DESIGN.md §4 (a gap time keeps the offset
//! before the gap, a repeated time is its first occurrence). Fire times are those placed
//! instants in order: every matching wall time in a gap fires, shifted past it, even where
//! upstream's walk skips it (see the crate README for the list of differences).

mod count;
mod crontab;
mod expressions;
mod fields;
mod search;

use std::fmt;

use asyncz_core::{Error, Map, Result, Trigger, TriggerContext, Value};
use chrono::{DateTime, Datelike, Duration, Utc};
use chrono_tz::Tz;

use crate::parse;
use fields::{Field, FieldKind};

/// Fires when the time matches all the given fields (spec: `CronTrigger`).
///
/// Fields, most significant first: `year` (1970–9999), `month` (1–12 or `jan`–`dec`), `day`
/// (1–31), `week` (ISO week 1–53), `day_of_week` (0–6 or `mon`–`sun`, **0 = Monday**), `hour`,
/// `minute`, `second`. Each takes a comma list of `*`, `*/n`, `a`, `a-b`, `a-b/n`, `a/n`;
/// `month` and `day_of_week` also take names and name ranges (with steps: `mon-fri/2`); `day`
/// also takes `last` and `<1st|2nd|3rd|4th|5th|last> <weekday>`. `day` and `day_of_week` must
/// both match (AND, as upstream).
///
/// Unset fields take upstream's defaults: those *less* significant than the least significant
/// set field are their minimum (`day=1`, `hour=0`, …; `week` and `day_of_week` are `*`), the
/// others are `*`. So `hour="9"` fires at 09:00:00 every day, and `day_of_week="mon"` at
/// midnight every Monday.
///
/// `start_at` and `end_at` are inclusive bounds; `timezone` defaults to the scheduler's;
/// `jitter` delays each run by a random 0..=jitter seconds without moving the schedule.
///
/// ```
/// use asyncz_core::Trigger;
/// use asyncz_triggers::CronTrigger;
/// use chrono::{TimeZone, Utc};
///
/// let trigger = CronTrigger::builder()
///     .day_of_week("mon-fri")
///     .hour(9)
///     .minute("*/30")
///     .build()?;
/// assert_eq!(trigger.to_string(), "cron[day_of_week='mon-fri', hour='9', minute='*/30']");
/// let friday = Utc.with_ymd_and_hms(2026, 1, 2, 9, 45, 0).unwrap();
/// let next = trigger.next_fire_time(chrono_tz::UTC, None, friday);
/// assert_eq!(next, Some(Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0).unwrap()));
/// # Ok::<(), asyncz_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronTrigger {
    fields: [Field; 8],
    /// For each weekday of the 1st of a month (0 = Monday), bit d set when day d of that month
    /// falls on an allowed weekday.
    weekday_days: [u32; 7],
    /// The month and day fields can never agree (`month=2, day=30`): no fire time, found at
    /// once instead of by searching every year up to 9999.
    never: bool,
    start_at: Option<DateTime<Utc>>,
    end_at: Option<DateTime<Utc>>,
    timezone: Option<Tz>,
    jitter: Option<u32>,
}

/// Collects the fields and options of a [`CronTrigger`]; [`CronBuilder::build`] validates them.
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct CronBuilder {
    fields: [Option<String>; 8],
    start_at: Option<DateTime<Utc>>,
    end_at: Option<DateTime<Utc>>,
    timezone: Option<Tz>,
    jitter: Option<u32>,
}

macro_rules! field_setters {
    ($($name:ident => $index:expr, $doc:literal;)*) => {
        $(
            #[doc = $doc]
            pub fn $name(mut self, expression: impl fmt::Display) -> Self {
                self.fields[$index] = Some(expression.to_string());
                self
            }
        )*
    };
}

impl CronBuilder {
    field_setters! {
        year => 0, "The `year` field (4-digit years).";
        month => 1, "The `month` field (1–12, `jan`–`dec`).";
        day => 2, "The `day` field (1–31, `last`, `2nd mon`, `last fri`).";
        week => 3, "The `week` field (ISO week, 1–53).";
        day_of_week => 4, "The `day_of_week` field (0–6 or `mon`–`sun`; 0 = Monday).";
        hour => 5, "The `hour` field (0–23).";
        minute => 6, "The `minute` field (0–59).";
        second => 7, "The `second` field (0–59).";
    }

    /// The earliest possible fire time (inclusive).
    pub fn start_at(mut self, start_at: DateTime<Utc>) -> Self {
        self.start_at = Some(start_at);
        self
    }

    /// The latest possible fire time (inclusive).
    pub fn end_at(mut self, end_at: DateTime<Utc>) -> Self {
        self.end_at = Some(end_at);
        self
    }

    /// The zone whose wall clock the fields match (default: the scheduler's).
    pub fn timezone(mut self, timezone: Tz) -> Self {
        self.timezone = Some(timezone);
        self
    }

    /// Delays each run by a random 0..=`seconds` (0 = none).
    pub fn jitter(mut self, seconds: u32) -> Self {
        self.jitter = (seconds > 0).then_some(seconds);
        self
    }

    /// Sets a field by its name (`"day_of_week"`, …), as a command line's `--field NAME=EXPR`
    /// gives it. An unknown name is an error listing the valid ones.
    pub fn field(mut self, name: &str, expression: impl fmt::Display) -> Result<Self> {
        let index = FieldKind::ALL
            .iter()
            .position(|k| k.name() == name)
            .ok_or_else(|| {
                Error::invalid(
                    "cron field",
                    expressions::escape_controls(format!(
                        "unknown field name '{name}' (expected one of: {})",
                        FieldKind::ALL.map(FieldKind::name).join(", ")
                    )),
                )
            })?;
        self.fields[index] = Some(expression.to_string());
        Ok(self)
    }

    /// Validates the fields and builds the trigger.
    pub fn build(self) -> Result<CronTrigger> {
        CronTrigger::compile(
            &self.fields,
            self.start_at,
            self.end_at,
            self.timezone,
            self.jitter,
        )
    }
}

const ARGS: [&str; 12] = [
    "year",
    "month",
    "day",
    "week",
    "day_of_week",
    "hour",
    "minute",
    "second",
    "start_at",
    "end_at",
    "timezone",
    "jitter",
];

impl CronTrigger {
    /// Starts a trigger description.
    pub fn builder() -> CronBuilder {
        CronBuilder::default()
    }

    /// Builds a trigger from a standard 5-field crontab line `minute hour day month
    /// day_of_week`, with the **crontab** weekday numbering: 0 and 7 are Sunday, 1 is Monday
    /// (names mean the same as everywhere). Steps work on names too (`mon-fri/2`). The weekday
    /// field is stored in the trigger's own spelling (`1-5` becomes `mon-fri`). The macros
    /// `@yearly` (`@annually`), `@monthly`, `@weekly`, `@daily` (`@midnight`) and `@hourly`
    /// stand for their usual lines.
    ///
    /// ```
    /// use asyncz_triggers::CronTrigger;
    /// let trigger = CronTrigger::from_crontab("0 9 * * 1-5", None)?;
    /// assert_eq!(
    ///     trigger.to_string(),
    ///     "cron[month='*', day='*', day_of_week='mon-fri', hour='9', minute='0']"
    /// );
    /// # Ok::<(), asyncz_core::Error>(())
    /// ```
    pub fn from_crontab(expression: &str, timezone: Option<Tz>) -> Result<CronTrigger> {
        let expression = crontab::expand_macro(expression);
        let values: Vec<&str> = expression.split_whitespace().collect();
        if values.len() != 5 {
            return Err(Error::invalid(
                "crontab expression",
                expressions::escape_controls(format!(
                    "'{expression}' has {} field{}, expected 5 (minute hour day month day_of_week)",
                    values.len(),
                    if values.len() == 1 { "" } else { "s" }
                )),
            ));
        }
        let mut builder = CronTrigger::builder()
            .minute(values[0])
            .hour(values[1])
            .day(crontab::any(values[2]))
            .month(crontab::any(values[3]))
            .day_of_week(crontab::weekdays(values[4])?);
        builder.timezone = timezone;
        builder.build()
    }

    /// Builds the trigger from its arguments (the `cron` plugin): the eight fields as strings
    /// or integers, `start_at`, `end_at`, `timezone`, `jitter`. Naive datetimes are read in
    /// `timezone`, else in the scheduler's zone.
    pub fn from_args(args: &Map, ctx: &TriggerContext) -> Result<CronTrigger> {
        parse::check_known_args("cron", args, &ARGS)?;
        let mut fields: [Option<String>; 8] = Default::default();
        for (slot, kind) in fields.iter_mut().zip(FieldKind::ALL) {
            *slot = match args.get(kind.name()) {
                None | Some(Value::Null) => None,
                Some(Value::String(text)) => Some(text.clone()),
                Some(Value::Number(n)) if n.is_u64() => Some(n.to_string()),
                Some(other) => {
                    return Err(Error::invalid(
                        format!("cron field '{}'", kind.name()),
                        format!("expected an expression string or a whole number, got {other}"),
                    ))
                }
            };
        }
        let timezone = parse::optional_timezone(args)?;
        let zone = timezone.unwrap_or(ctx.timezone);
        CronTrigger::compile(
            &fields,
            parse::optional_datetime(args, "start_at", zone)?,
            parse::optional_datetime(args, "end_at", zone)?,
            timezone,
            parse::optional_jitter(args)?,
        )
    }

    fn compile(
        given: &[Option<String>; 8],
        start_at: Option<DateTime<Utc>>,
        end_at: Option<DateTime<Utc>>,
        timezone: Option<Tz>,
        jitter: Option<u32>,
    ) -> Result<CronTrigger> {
        let least_significant_set = given.iter().rposition(Option::is_some);
        let mut fields: Vec<Field> = Vec::with_capacity(8);
        for (index, (kind, text)) in FieldKind::ALL.into_iter().zip(given).enumerate() {
            let field = match text {
                Some(text) => Field::parse(kind, text, false)?,
                None if least_significant_set.is_some_and(|l| index > l) => {
                    Field::parse(kind, kind.default_expression(), true)?
                }
                None => Field::parse(kind, "*", true)?,
            };
            fields.push(field);
        }
        let fields: [Field; 8] = fields
            .try_into()
            .map_err(|_| Error::invalid("cron", "internal error: expected 8 fields"))?;
        let weekdays = fields[4].mask;
        let mut weekday_days = [0u32; 7];
        for (first_weekday, days) in (0u32..).zip(weekday_days.iter_mut()) {
            for day in 1..=31u32 {
                if weekdays & (1 << ((first_weekday + day - 1) % 7)) != 0 {
                    *days |= 1 << day;
                }
            }
        }
        let never = search::never_matches(&fields);
        Ok(CronTrigger {
            fields,
            weekday_days,
            never,
            start_at,
            end_at,
            timezone,
            jitter,
        })
    }

    /// The zone whose wall clock the fields match, if the trigger has its own.
    pub fn timezone(&self) -> Option<Tz> {
        self.timezone
    }

    fn field_named(&self, kind: FieldKind) -> &Field {
        &self.fields[FieldKind::ALL
            .iter()
            .position(|k| *k == kind)
            .unwrap_or_default()]
    }

    /// The expression of one field as upstream spells it (`"mon-fri"`), by field name.
    pub fn field(&self, name: &str) -> Option<String> {
        FieldKind::ALL
            .iter()
            .find(|k| k.name() == name)
            .map(|k| self.field_named(*k).to_string())
    }
}

impl Trigger for CronTrigger {
    fn alias(&self) -> &'static str {
        "cron"
    }

    fn type_name(&self) -> &'static str {
        "CronTrigger"
    }

    fn next_fire_time(
        &self,
        tz: Tz,
        previous: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let tz = self.timezone.unwrap_or(tz);
        let mut start = match previous {
            Some(previous) => previous.checked_add_signed(Duration::microseconds(1))?,
            None => now,
        };
        if let Some(start_at) = self.start_at {
            start = start.max(start_at);
        }
        let last_year = match self.end_at {
            // The end's wall-clock year, plus one for zones far from UTC.
            Some(end) => end.year().saturating_add(1),
            None => 9999,
        };
        let next = self.first_at_or_after(tz, start, last_year)?;
        match self.end_at {
            Some(end) if next > end => None,
            Some(end) => Some(parse::apply_jitter(next, self.jitter).min(end)),
            None => Some(parse::apply_jitter(next, self.jitter)),
        }
    }

    /// Counts missed fire times without visiting each one, so a task a year behind on a
    /// one-second cron catches up in a few microseconds (UTC) or milliseconds (a DST zone),
    /// not 31 million steps: days are counted month by month from the field bitmasks (the
    /// same day mask the search uses, so `last`, `<nth> <weekday>`, `week` and `day_of_week`
    /// count too). What walks [`Trigger::next_fire_time`], because the walk defines it there:
    /// the first step from `first` (any instant, maybe before `start_at`), and the fire times
    /// from a minute before each offset change of the zone to a minute plus the change's size
    /// after it (gap times fire shifted, repeated times once). Jittered triggers walk
    /// everything, as interval's do: each jittered time is drawn as it is reached.
    fn fire_times_until(
        &self,
        tz: Tz,
        first: DateTime<Utc>,
        now: DateTime<Utc>,
        keep: usize,
    ) -> (Vec<DateTime<Utc>>, u64) {
        if first > now {
            return (Vec::new(), 0);
        }
        if self.jitter.is_some() || self.never {
            return asyncz_core::walk_fire_times(self, tz, first, now, keep);
        }
        // `None` only for times at the ends of chrono's range, where walking is as cheap.
        self.count_fire_times(tz, first, now, keep)
            .unwrap_or_else(|| asyncz_core::walk_fire_times(self, tz, first, now, keep))
    }

    fn state(&self) -> Map {
        let mut state = Map::new();
        for field in self.fields.iter().filter(|f| !f.is_default) {
            state.insert(field.kind.name().into(), field.to_string().into());
        }
        for (key, value) in [("start_at", self.start_at), ("end_at", self.end_at)] {
            if let Some(value) = value {
                state.insert(
                    key.into(),
                    parse::format_state_datetime(value, self.timezone).into(),
                );
            }
        }
        if let Some(tz) = self.timezone {
            state.insert("timezone".into(), tz.name().into());
        }
        if let Some(jitter) = self.jitter {
            state.insert("jitter".into(), jitter.into());
        }
        state
    }
}

impl fmt::Display for CronTrigger {
    /// Upstream's description: the fields that were set, `cron[day_of_week='mon-fri', hour='9']`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("cron[")?;
        let mut first = true;
        for field in self.fields.iter().filter(|f| !f.is_default) {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{}='{}'", field.kind.name(), field)?;
        }
        f.write_str("]")
    }
}
