//! [`IntervalTrigger`] (`interval`): fires every fixed span of elapsed time, on the grid
//! `start_at + k × interval`.

use std::fmt;

use asyncz_core::{truncate_to_micros, Error, Map, Result, Trigger, TriggerContext, Value};
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

use crate::parse;

const MICROS_PER_SECOND: i64 = 1_000_000;
const UNITS: [(&str, i64); 5] = [
    ("weeks", 7 * 86_400 * MICROS_PER_SECOND),
    ("days", 86_400 * MICROS_PER_SECOND),
    ("hours", 3_600 * MICROS_PER_SECOND),
    ("minutes", 60 * MICROS_PER_SECOND),
    ("seconds", MICROS_PER_SECOND),
];

/// Fires every `interval` of elapsed time (spec: `IntervalTrigger`).
///
/// - The interval is exact elapsed time: `hours(1)` is 3600 s even across a DST change and
///   `days(1)` is 86 400 s (DESIGN.md §4). A wall-clock "every day at 08:00" is a cron.
/// - An interval of zero is one second, as upstream.
/// - Fire times lie on the grid `start_at + k × interval`; the next one is computed from that
///   grid, never from the (possibly jittered) previous run, so jitter never drifts the series.
/// - `start_at` defaults to *creation time + interval*. The creation time is taken when the
///   trigger is made ([`IntervalTrigger::new`] reads the system clock, [`IntervalTrigger::new_at`]
///   and the `interval` factory take it from the caller), so the trigger is fixed from then on
///   and its [`Trigger::state`] always carries the resolved `start_at`.
/// - `end_at` is inclusive.
///
/// ```
/// use asyncz_triggers::IntervalTrigger;
/// use chrono::{TimeZone, Utc};
///
/// let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
/// let trigger = IntervalTrigger::new_at(start).minutes(5).start_at(start);
/// assert_eq!(trigger.to_string(), "interval[0:05:00]");
/// ```
#[derive(Debug, Clone)]
pub struct IntervalTrigger {
    /// weeks, days, hours, minutes, seconds as set by the builder.
    units: [u64; 5],
    /// Sub-second part (the factory accepts fractional values).
    extra_micros: u64,
    created: DateTime<Utc>,
    start_at: Option<DateTime<Utc>>,
    end_at: Option<DateTime<Utc>>,
    timezone: Option<Tz>,
    jitter: Option<u32>,
}

/// Equal when they fire at the same times: same interval, first fire time, end, zone and
/// jitter (however the first fire time was given).
impl PartialEq for IntervalTrigger {
    fn eq(&self, other: &Self) -> bool {
        self.interval_micros() == other.interval_micros()
            && self.first_fire_time() == other.first_fire_time()
            && self.end_at == other.end_at
            && self.timezone == other.timezone
            && self.jitter == other.jitter
    }
}

impl Eq for IntervalTrigger {}

impl Default for IntervalTrigger {
    fn default() -> Self {
        Self::new()
    }
}

impl IntervalTrigger {
    /// An interval trigger of zero length (one second until a unit is set), created now.
    pub fn new() -> Self {
        Self::new_at(Utc::now())
    }

    /// Like [`IntervalTrigger::new`], with the creation time given (for a `Clock`, or tests):
    /// the default `start_at` is `created + interval`. Times are kept in whole microseconds,
    /// like every time in asyncz ([`asyncz_core::truncate_to_micros`]).
    pub fn new_at(created: DateTime<Utc>) -> Self {
        let created = truncate_to_micros(created);
        IntervalTrigger {
            units: [0; 5],
            extra_micros: 0,
            created,
            start_at: None,
            end_at: None,
            timezone: None,
            jitter: None,
        }
    }

    /// Sets the number of weeks in the interval.
    #[must_use]
    pub fn weeks(mut self, weeks: u64) -> Self {
        self.units[0] = weeks;
        self
    }

    /// Sets the number of days (each 86 400 s) in the interval.
    #[must_use]
    pub fn days(mut self, days: u64) -> Self {
        self.units[1] = days;
        self
    }

    /// Sets the number of hours in the interval.
    #[must_use]
    pub fn hours(mut self, hours: u64) -> Self {
        self.units[2] = hours;
        self
    }

    /// Sets the number of minutes in the interval.
    #[must_use]
    pub fn minutes(mut self, minutes: u64) -> Self {
        self.units[3] = minutes;
        self
    }

    /// Sets the number of seconds in the interval.
    #[must_use]
    pub fn seconds(mut self, seconds: u64) -> Self {
        self.units[4] = seconds;
        self
    }

    /// Sets the whole interval at once (microsecond resolution).
    #[must_use]
    pub fn every(mut self, interval: std::time::Duration) -> Self {
        self.units = [0, 0, 0, 0, interval.as_secs()];
        self.extra_micros = u64::from(interval.subsec_micros());
        self
    }

    /// The first fire time; the grid is anchored here.
    #[must_use]
    pub fn start_at(mut self, start_at: DateTime<Utc>) -> Self {
        self.start_at = Some(truncate_to_micros(start_at));
        self
    }

    /// The last possible fire time (inclusive).
    #[must_use]
    pub fn end_at(mut self, end_at: DateTime<Utc>) -> Self {
        self.end_at = Some(truncate_to_micros(end_at));
        self
    }

    /// The zone recorded with the trigger (its state shows `start_at`/`end_at` in it). Interval
    /// arithmetic is elapsed time, so it does not change when the trigger fires.
    #[must_use]
    pub fn timezone(mut self, timezone: Tz) -> Self {
        self.timezone = Some(timezone);
        self
    }

    /// Delays each run by a random 0..=`seconds` (0 = none).
    #[must_use]
    pub fn jitter(mut self, seconds: u32) -> Self {
        self.jitter = (seconds > 0).then_some(seconds);
        self
    }

    /// The interval, in microseconds; at least one second.
    fn interval_micros(&self) -> i64 {
        let mut total: i64 = i64::try_from(self.extra_micros).unwrap_or(i64::MAX);
        for (count, (_, unit)) in self.units.iter().zip(UNITS) {
            let part = i64::try_from(*count)
                .ok()
                .and_then(|c| c.checked_mul(unit))
                .unwrap_or(i64::MAX);
            total = total.saturating_add(part);
        }
        if total == 0 {
            MICROS_PER_SECOND
        } else {
            total
        }
    }

    /// The interval between two fire times (at least one second).
    pub fn interval(&self) -> Duration {
        Duration::microseconds(self.interval_micros())
    }

    /// The resolved first fire time.
    pub fn first_fire_time(&self) -> DateTime<Utc> {
        self.start_at.unwrap_or_else(|| {
            self.created
                .checked_add_signed(self.interval())
                .unwrap_or(DateTime::<Utc>::MAX_UTC)
        })
    }

    /// Builds the trigger from its arguments: `weeks`, `days`, `hours`, `minutes`, `seconds`
    /// (numbers ≥ 0, fractions allowed, numeric strings accepted), `start_at`, `end_at`,
    /// `timezone`, `jitter`.
    pub fn from_args(args: &Map, ctx: &TriggerContext) -> Result<Self> {
        parse::check_known_args(
            "interval",
            args,
            &[
                "weeks", "days", "hours", "minutes", "seconds", "start_at", "end_at", "timezone",
                "jitter",
            ],
        )?;
        let mut micros: f64 = 0.0;
        for (name, unit) in UNITS {
            if let Some(value) = args.get(name).filter(|v| !v.is_null()) {
                // Unit sizes are far below 2^53: exact in f64.
                #[allow(clippy::cast_precision_loss)]
                let unit = unit as f64;
                micros += parse::number(name, value)? * unit;
            }
        }
        // Ten thousand years, in microseconds: beyond that nothing could ever fire twice.
        if micros > 3.2e17 {
            return Err(Error::invalid(
                "interval",
                format!(
                    "{} seconds is too long (at most 10 000 years)",
                    micros / 1e6
                ),
            ));
        }
        // Checked above: non-negative and within u64.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let micros = micros.round() as u64;
        let timezone = parse::optional_timezone(args)?;
        let zone = timezone.unwrap_or(ctx.timezone);
        let mut trigger =
            IntervalTrigger::new_at(ctx.now).every(std::time::Duration::from_micros(micros));
        trigger.timezone = timezone;
        trigger.jitter = parse::optional_jitter(args)?;
        trigger.end_at = parse::optional_datetime(args, "end_at", zone)?;
        let start_at = parse::optional_datetime(args, "start_at", zone)?;
        trigger.start_at = Some(start_at.unwrap_or_else(|| trigger.first_fire_time()));
        Ok(trigger)
    }

    /// The first grid point at or after `t` (`strictly` after, when asked).
    fn grid_point(&self, t: DateTime<Utc>, strictly: bool) -> Option<DateTime<Utc>> {
        let start = self.first_fire_time();
        if t < start {
            return Some(start);
        }
        let step = self.interval_micros();
        let elapsed = (t - start).num_microseconds()?;
        let mut k = elapsed / step;
        if strictly || elapsed % step != 0 {
            k = k.checked_add(1)?;
        }
        let offset = k.checked_mul(step)?;
        start.checked_add_signed(Duration::microseconds(offset))
    }
}

impl Trigger for IntervalTrigger {
    fn alias(&self) -> &'static str {
        "interval"
    }

    fn type_name(&self) -> &'static str {
        "IntervalTrigger"
    }

    fn next_fire_time(
        &self,
        _tz: Tz,
        previous: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let next = match previous {
            // `previous` may carry jitter (≤ the grid point + jitter): the next grid point
            // strictly after it is the one that follows its own grid point.
            Some(previous) => self.grid_point(previous, true)?,
            None => self.grid_point(now, false)?,
        };
        match self.end_at {
            Some(end) if next > end => None,
            Some(end) => Some(parse::apply_jitter(next, self.jitter).min(end)),
            None => Some(parse::apply_jitter(next, self.jitter)),
        }
    }

    /// Counts missed fire times on the grid arithmetically, so a task a year behind on a
    /// one-second interval costs O(keep) instead of 31 million steps. Jittered triggers walk.
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
        if self.jitter.is_some() {
            return asyncz_core::walk_fire_times(self, tz, first, now, keep);
        }
        let limit = self.end_at.map_or(now, |end| end.min(now));
        let step = self.interval_micros();
        let Some(after) = self.grid_point(first, true) else {
            return asyncz_core::walk_fire_times(self, tz, first, now, keep);
        };
        if after > limit {
            return (if keep > 0 { vec![first] } else { Vec::new() }, 1);
        }
        let Some(span) = (limit - after).num_microseconds() else {
            return asyncz_core::walk_fire_times(self, tz, first, now, keep);
        };
        // Grid points in [after, limit], plus `first` itself.
        let on_grid = u64::try_from(span / step).unwrap_or(0) + 1;
        let total = on_grid + 1;
        let kept_on_grid = on_grid.min(keep as u64);
        let mut kept = Vec::with_capacity(keep.min(1024));
        if (keep as u64) > on_grid {
            kept.push(first);
        }
        for i in (on_grid - kept_on_grid)..on_grid {
            let offset = i64::try_from(i).ok().and_then(|i| i.checked_mul(step));
            match offset.and_then(|o| after.checked_add_signed(Duration::microseconds(o))) {
                Some(t) => kept.push(t),
                None => return asyncz_core::walk_fire_times(self, tz, first, now, keep),
            }
        }
        (kept, total)
    }

    fn state(&self) -> Map {
        let mut state = Map::new();
        let micros = self.interval_micros();
        let (days, rest) = (micros / UNITS[1].1, micros % UNITS[1].1);
        let (hours, rest) = (rest / UNITS[2].1, rest % UNITS[2].1);
        let (minutes, rest) = (rest / UNITS[3].1, rest % UNITS[3].1);
        for (name, value) in [("days", days), ("hours", hours), ("minutes", minutes)] {
            if value != 0 {
                state.insert(name.into(), value.into());
            }
        }
        if rest != 0 {
            let seconds: Value = if rest % MICROS_PER_SECOND == 0 {
                (rest / MICROS_PER_SECOND).into()
            } else {
                // < 60 s in microseconds: exact in f64.
                #[allow(clippy::cast_precision_loss)]
                let seconds = rest as f64 / 1e6;
                seconds.into()
            };
            state.insert("seconds".into(), seconds);
        }
        state.insert(
            "start_at".into(),
            parse::format_state_datetime(self.first_fire_time(), self.timezone).into(),
        );
        if let Some(end) = self.end_at {
            state.insert(
                "end_at".into(),
                parse::format_state_datetime(end, self.timezone).into(),
            );
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

impl fmt::Display for IntervalTrigger {
    /// Python's `timedelta` text, as upstream shows it: `interval[0:05:00]`,
    /// `interval[1 day, 2:00:00]`, `interval[0:00:00.500000]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let micros = self.interval_micros();
        let days = micros / UNITS[1].1;
        let rest = micros % UNITS[1].1;
        let seconds = rest / MICROS_PER_SECOND;
        let fraction = rest % MICROS_PER_SECOND;
        f.write_str("interval[")?;
        if days != 0 {
            write!(f, "{days} day{}, ", if days == 1 { "" } else { "s" })?;
        }
        write!(
            f,
            "{}:{:02}:{:02}",
            seconds / 3600,
            seconds % 3600 / 60,
            seconds % 60
        )?;
        if fraction != 0 {
            write!(f, ".{fraction:06}")?;
        }
        f.write_str("]")
    }
}

/// Reads a compact duration: one or more `<number><unit>` parts with units `w`, `d`, `h`, `m`,
/// `s` (`90s`, `45m`, `2h`, `1d`, `2w3d`, `1h30m`), as `asyncz preview --interval` takes it.
/// Zero is refused, and so is `M` (months or minutes?).
///
/// ```
/// use asyncz_triggers::parse_duration;
/// assert_eq!(parse_duration("1h30m")?, std::time::Duration::from_secs(5400));
/// assert!(parse_duration("30").is_err());
/// assert!(parse_duration("0s").is_err());
/// assert!(parse_duration("1M").is_err());
/// # Ok::<(), asyncz_core::Error>(())
/// ```
pub fn parse_duration(text: &str) -> Result<std::time::Duration> {
    let bad = |why: &str| {
        Error::invalid(
            "interval",
            format!(
                "'{text}' is not a duration ({why}); expected e.g. 90s, 45m, 2h, 1d, 2w3d, 1h30m"
            ),
        )
    };
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(bad("it is empty"));
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in trimmed.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        if c == 'M' {
            // `1M` read as a minute surprises whoever meant a month (which has no fixed length).
            return Err(bad(
                "'M' is ambiguous: months or minutes? write 'm' for minutes",
            ));
        }
        let unit = match c.to_ascii_lowercase() {
            'w' => 7 * 86_400,
            'd' => 86_400,
            'h' => 3_600,
            'm' => 60,
            's' => 1,
            _ => return Err(bad(&format!("unknown unit '{c}'"))),
        };
        if digits.is_empty() {
            return Err(bad(&format!("no number before '{c}'")));
        }
        let count: u64 = digits.parse().map_err(|_| bad("the number is too large"))?;
        total = count
            .checked_mul(unit)
            .and_then(|part| total.checked_add(part))
            .ok_or_else(|| bad("it is too long"))?;
        digits.clear();
    }
    if !digits.is_empty() {
        return Err(bad(&format!("'{digits}' has no unit")));
    }
    if total == 0 {
        return Err(Error::invalid(
            "interval",
            format!("'{text}' is zero; an interval is at least 1s"),
        ));
    }
    Ok(std::time::Duration::from_secs(total))
}
