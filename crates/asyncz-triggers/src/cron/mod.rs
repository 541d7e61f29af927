//! [`CronTrigger`] (`cron`): fires when the wall-clock time in a zone matches every field, as
//! upstream's cron trigger does, and [`CronTrigger::from_crontab`] for 5-field crontab strings.
//!
//! The search is not upstream's field walk, but finds the same times: the smallest wall-clock
//! time at or after the start whose fields all match, found with precompiled bitmasks (no
//! allocation per call), then placed in the zone by DESIGN.md §4 (a gap time keeps the offset
//! before the gap, a repeated time is its first occurrence). Fire times are those placed
//! instants in order: every matching wall time in a gap fires, shifted past it, even where
//! upstream's walk skips it (see the crate README for the list of differences).

mod crontab;
mod expressions;
mod fields;

use std::fmt;

use asyncz_core::{Error, Map, Result, Trigger, TriggerContext, Value};
use chrono::{
    DateTime, Datelike, Duration, FixedOffset, LocalResult, NaiveDate, NaiveDateTime, Offset,
    TimeZone, Timelike, Utc,
};
use chrono_tz::Tz;

use crate::parse;
use fields::{next_bit, Field, FieldKind};

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
                    format!(
                        "unknown field name '{name}' (expected one of: {})",
                        FieldKind::ALL.map(FieldKind::name).join(", ")
                    ),
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
                format!(
                    "'{expression}' has {} field{}, expected 5 (minute hour day month day_of_week)",
                    values.len(),
                    if values.len() == 1 { "" } else { "s" }
                ),
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
        let never = never_matches(&fields);
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

    /// The days of `year`-`month` that match `day` and `day_of_week` (bit d = day d).
    fn day_mask(&self, year: i32, month: u32) -> u32 {
        let days_in_month = days_in_month(year, month);
        let first_weekday = weekday(year, month, 1);
        let all_days = (u32::MAX >> (31 - days_in_month)) & !1;
        let day = &self.fields[2];
        // The day mask has bits 1..=31 only, so it fits a u32.
        let mut mask = u32::try_from(day.mask & 0xFFFF_FFFF).unwrap_or(0) & all_days;
        for expr in day.exprs.iter().filter(|e| e.is_dynamic()) {
            match *expr {
                expressions::Expr::LastDay => mask |= 1 << days_in_month,
                expressions::Expr::WeekdayPosition { nth, weekday } => {
                    let first_hit = (u32::from(weekday) + 7 - first_weekday) % 7 + 1;
                    let target = if nth < 5 {
                        first_hit + 7 * u32::from(nth)
                    } else {
                        first_hit + (days_in_month - first_hit) / 7 * 7
                    };
                    if target <= days_in_month {
                        mask |= 1 << target;
                    }
                }
                _ => {}
            }
        }
        mask & self.weekday_days[usize::try_from(first_weekday).unwrap_or(0)]
    }

    /// The smallest wall-clock time ≥ `from` (whole seconds) that matches every field, in a
    /// year no later than `last_year`.
    fn next_match(&self, from: NaiveDateTime, last_year: i32) -> Option<NaiveDateTime> {
        if self.never {
            return None;
        }
        let [year, month, _, week, _, hour, minute, second] = &self.fields;
        let (mut y, mut mo, mut d) = (from.year(), from.month(), from.day());
        let (mut h, mut mi, mut s) = (from.hour(), from.minute(), from.second());
        let mut cached: Option<(i32, u32, u32)> = None;
        loop {
            if y < 1970 {
                (y, mo, d, h, mi, s) = (1970, 1, 1, 0, 0, 0);
            }
            let ny = if year.any {
                u32::try_from(y).ok()?
            } else {
                year.next_static(u32::try_from(y).ok()?)?
            };
            let ny = i32::try_from(ny).ok()?;
            if ny > last_year || ny > 9999 {
                return None;
            }
            if ny != y {
                (y, mo, d, h, mi, s) = (ny, 1, 1, 0, 0, 0);
            }

            match next_bit(month.mask, mo) {
                None => {
                    (y, mo, d, h, mi, s) = (y + 1, 1, 1, 0, 0, 0);
                    continue;
                }
                Some(n) if n != mo => (mo, d, h, mi, s) = (n, 1, 0, 0, 0),
                Some(_) => {}
            }

            let mut days = match cached {
                Some((cy, cm, mask)) if cy == y && cm == mo => mask,
                _ => {
                    let mask = self.day_mask(y, mo);
                    cached = Some((y, mo, mask));
                    mask
                }
            };
            let day = loop {
                match next_bit(u64::from(days), d) {
                    Some(n) if !week.any && !week_matches(week.mask, y, mo, n) => {
                        days &= !(1 << n);
                    }
                    other => break other,
                }
            };
            match day {
                None => {
                    (mo, d, h, mi, s) = (mo + 1, 1, 0, 0, 0);
                    continue;
                }
                Some(n) if n != d => (d, h, mi, s) = (n, 0, 0, 0),
                Some(_) => {}
            }

            match next_bit(hour.mask, h) {
                None => {
                    (d, h, mi, s) = (d + 1, 0, 0, 0);
                    continue;
                }
                Some(n) if n != h => (h, mi, s) = (n, 0, 0),
                Some(_) => {}
            }
            match next_bit(minute.mask, mi) {
                None => {
                    (h, mi, s) = (h + 1, 0, 0);
                    continue;
                }
                Some(n) if n != mi => (mi, s) = (n, 0),
                Some(_) => {}
            }
            match next_bit(second.mask, s) {
                None => {
                    (mi, s) = (mi + 1, 0);
                    continue;
                }
                Some(n) => s = n,
            }
            return NaiveDate::from_ymd_opt(y, mo, d)?.and_hms_opt(h, mi, s);
        }
    }

    /// The first fire time at or after `start` in `tz`, ignoring `start_at`, `end_at` and
    /// jitter.
    fn first_at_or_after(
        &self,
        tz: Tz,
        start: DateTime<Utc>,
        last_year: i32,
    ) -> Option<DateTime<Utc>> {
        if tz == Tz::UTC {
            let from = ceil_to_second(start.naive_utc())?;
            return self.next_match(from, last_year).map(|c| c.and_utc());
        }
        let (wall, offset_now) = parse::wall_time(tz, start)?;
        let mut from = ceil_to_second(wall)?;
        // The first matching wall time inside a gap, shifted past it. Within a gap the shift
        // keeps the order, so only the first one can be the answer; but a real wall time just
        // after the gap can come earlier than it (03:45:30 real before 03:00:30 shifted by an
        // hour), so the search goes on past the gap.
        let mut shifted: Option<DateTime<Utc>> = None;
        let real = loop {
            let Some(candidate) = self.next_match(from, last_year) else {
                break None;
            };
            match tz.from_local_datetime(&candidate) {
                LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => {
                    let instant = t.with_timezone(&Utc);
                    if instant >= start {
                        break Some(instant);
                    }
                    // A repeated wall time whose first occurrence is already past: it fired then.
                    from = candidate.checked_add_signed(Duration::seconds(1))?;
                }
                LocalResult::None => {
                    if shifted.is_none() {
                        shifted = parse::localize(tz, candidate).filter(|t| *t >= start);
                    }
                    from = gap_end(tz, candidate)?;
                }
            }
            if shifted.is_some_and(|s| {
                // Past the shifted candidate's own wall time: nothing later can precede it.
                !matches!(parse::wall_time(tz, s), Some((wall, _)) if from <= wall)
            }) {
                break None;
            }
        };
        // Shortly after a spring-forward, wall times inside the gap that are still to come
        // (shifted past the gap by its length) can precede the next real wall-clock match:
        // 02:10 and 02:20 in Lord Howe's 02:00–02:30 gap fire at 02:40 and 02:50.
        let pending = self.pending_gap_time(tz, start, offset_now, last_year);
        [real, shifted, pending].into_iter().flatten().min()
    }

    /// When `start` lies within a gap's length after a spring-forward, the first matching wall
    /// time inside the gap whose shifted instant is at or after `start`.
    fn pending_gap_time(
        &self,
        tz: Tz,
        start: DateTime<Utc>,
        offset_now: FixedOffset,
        last_year: i32,
    ) -> Option<DateTime<Utc>> {
        // Gaps are at most a day long; no zone changes its offset twice within 26 hours.
        let earlier = start.checked_sub_signed(Duration::hours(26))?;
        let offset_before = tz.offset_from_utc_datetime(&earlier.naive_utc()).fix();
        if offset_before.local_minus_utc() >= offset_now.local_minus_utc() {
            return None;
        }
        // The wall time `start` would have had if the clock had not moved forward.
        let unshifted = start.naive_utc().checked_add_offset(offset_before)?;
        if tz.from_local_datetime(&unshifted) != LocalResult::None {
            return None;
        }
        let candidate = self.next_match(ceil_to_second(unshifted)?, last_year)?;
        if tz.from_local_datetime(&candidate) != LocalResult::None {
            // Past the gap: the ordinary search finds it.
            return None;
        }
        parse::localize(tz, candidate)
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

/// The first wall time after the gap that `inside` falls in.
fn gap_end(tz: Tz, inside: NaiveDateTime) -> Option<NaiveDateTime> {
    chrono_tz::GapInfo::new(&inside, &tz)?
        .end
        .map(|end| end.naive_local())
}

fn ceil_to_second(t: NaiveDateTime) -> Option<NaiveDateTime> {
    if t.nanosecond() == 0 {
        return Some(t);
    }
    t.with_nanosecond(0)?
        .checked_add_signed(Duration::seconds(1))
}

/// Whether no allowed month has an allowed day (a leap February has 29 days; `last` and
/// `<nth> <weekday>` always can match some month).
fn never_matches(fields: &[Field; 8]) -> bool {
    let [_, month, day, _, weekdays, hour, minute, second] = fields;
    if [weekdays, hour, minute, second].iter().any(|f| f.mask == 0) {
        return true;
    }
    if day.exprs.iter().any(expressions::Expr::is_dynamic) {
        return month.mask == 0;
    }
    !(1..=12u32).any(|m| {
        let longest = if m == 2 { 29 } else { days_in_month(2001, m) };
        let days = (u64::MAX >> (63 - longest)) & !1;
        month.mask & (1 << m) != 0 && day.mask & days != 0
    })
}

fn is_leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Day of the week, 0 = Monday (Sakamoto's method).
fn weekday(year: i32, month: u32, day: u32) -> u32 {
    const T: [i32; 12] = [0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4];
    let y = if month < 3 { year - 1 } else { year };
    let m = usize::try_from(month.clamp(1, 12) - 1).unwrap_or(0);
    let d = i32::try_from(day).unwrap_or(1);
    // 0 = Sunday here; shift so that 0 = Monday.
    let sunday_based = (y + y / 4 - y / 100 + y / 400 + T[m] + d).rem_euclid(7);
    u32::try_from((sunday_based + 6) % 7).unwrap_or(0)
}

fn week_matches(mask: u64, year: i32, month: u32, day: u32) -> bool {
    NaiveDate::from_ymd_opt(year, month, day)
        .is_some_and(|date| mask & (1u64 << date.iso_week().week()) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weekday_agrees_with_chrono() {
        let mut date = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
        for _ in 0..(366 * 60) {
            assert_eq!(
                weekday(date.year(), date.month(), date.day()),
                date.weekday().num_days_from_monday(),
                "{date}"
            );
            assert_eq!(
                days_in_month(date.year(), date.month()),
                date.with_day(31)
                    .or_else(|| date.with_day(30))
                    .or_else(|| date.with_day(29))
                    .map_or(28, |d| d.day())
            );
            date = date.succ_opt().unwrap_or(date);
        }
    }
}
