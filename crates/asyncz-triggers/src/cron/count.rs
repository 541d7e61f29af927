//! Counting the fire times of a [`CronTrigger`] between two instants without visiting each one
//! (its [`Trigger::fire_times_until`](asyncz_core::Trigger::fire_times_until)), so a task a
//! year behind on a one-second cron catches up in a few steps instead of 31 million.
//!
//! Away from the zone's offset changes, the fire times are exactly the matching wall-clock
//! seconds shifted by one fixed offset, and those are counted arithmetically: a matching day
//! holds `hours × minutes × seconds` of them, partial days are counted from the same bitmasks,
//! and days are matched month by month with the day mask the search already uses (so `last`,
//! `<nth> <weekday>`, `week` and `day_of_week` cost nothing extra). Near an offset change (a
//! gap or a fold, where fire times are shifted, merged or skipped, see DESIGN.md §4) the count
//! walks [`Trigger::next_fire_time`](asyncz_core::Trigger::next_fire_time) instead, because
//! the walk is the definition there.

use std::collections::VecDeque;

use asyncz_core::Trigger;
use chrono::{DateTime, Datelike, NaiveDate, Offset, TimeZone, Utc};
use chrono_tz::Tz;

use super::search::{days_in_month, week_matches};
use super::CronTrigger;

const DAY: i64 = 86_400;
/// Days from 0001-01-01 (chrono's day 1) to 1970-01-01, so wall seconds count from 1970.
const EPOCH_DAYS_FROM_CE: i64 = 719_163;
/// How far apart the zone's offset is sampled when looking for its changes. Two changes that
/// undo each other within one sample would go unseen; in the tz database chrono-tz ships,
/// offset changes are at least 167 hours apart.
const SAMPLE: i64 = DAY;
/// Extra seconds walked on either side of an offset change, on top of the span the change
/// itself disturbs: cheap insurance for the boundary instants.
const MARGIN: i64 = 60;
/// How far before `first` to look for an offset change whose disturbed span reaches past it
/// (more than the longest offset jump, a day, plus [`PENDING_LOOKBACK`]).
const LOOKBACK: i64 = 3 * DAY;
/// The search looks 26 hours back for a spring-forward whose gap times are still to fire; when
/// two changes come that close, everything until 27 hours after the second one walks.
const PENDING_LOOKBACK: i64 = 27 * 3600;

impl CronTrigger {
    /// [`Trigger::fire_times_until`] without walking every fire time, or `None` when a time is
    /// out of chrono's range (the caller then walks).
    ///
    /// Walked rather than counted: the step from `first` (it may be any instant, also before
    /// `start_at`, or not on a whole second), and the fire times from [`MARGIN`] before an
    /// offset change of the zone to the change's size plus [`MARGIN`] after it.
    pub(super) fn count_fire_times(
        &self,
        tz: Tz,
        first: DateTime<Utc>,
        now: DateTime<Utc>,
        keep: usize,
    ) -> Option<(Vec<DateTime<Utc>>, u64)> {
        let zone = self.timezone.unwrap_or(tz);
        let limit = self.end_at.map_or(now, |end| end.min(now)).timestamp();
        let mut tally = Tally::new(keep);
        tally.walked(first);
        let mut cursor = first;
        if !self.step(tz, &mut cursor, now, &mut tally) {
            return tally.finish(self);
        }
        let mut transitions = Transitions::new(
            zone,
            first.timestamp().checked_sub(LOOKBACK)?,
            limit.checked_add(2 * DAY)?,
        )?;
        let mut upcoming = transitions.next();
        let mut previous_change: Option<i64> = None;
        // Until then, fire times are those of the last offset change's disturbed span.
        let mut disturbed_until = i64::MIN;
        loop {
            let at = cursor.timestamp();
            while let Some(change) = upcoming.filter(|t| t.at <= at) {
                disturbed_until = disturbed_until.max(change.disturbed_until(previous_change));
                previous_change = Some(change.at);
                upcoming = transitions.next();
            }
            // Fire times before this are plain wall-clock matches at the current offset.
            let steady_until = upcoming.map_or(i64::MAX, |t| t.at.saturating_sub(MARGIN));
            if at >= disturbed_until && at < steady_until {
                let upto = steady_until.saturating_sub(1).min(limit);
                let offset = offset_at(zone, at)?;
                let low = at.checked_add(offset)?;
                let count = self.count_after(low, upto.checked_add(offset)?)?;
                if count > 0 {
                    let last = self.nth_after(low, count)?;
                    cursor = DateTime::from_timestamp(last.checked_sub(offset)?, 0)?;
                    tally.counted(low, count, offset);
                }
                if upto == limit {
                    break;
                }
            }
            // Leaves the steady span (or crosses a disturbed one) the way the walk does.
            if !self.step(tz, &mut cursor, now, &mut tally) {
                break;
            }
        }
        tally.finish(self)
    }

    /// One step of [`asyncz_core::walk_fire_times`]: the fire time after `cursor`, when it is
    /// due by `now`; false when the walk would stop.
    fn step(
        &self,
        tz: Tz,
        cursor: &mut DateTime<Utc>,
        now: DateTime<Utc>,
        tally: &mut Tally,
    ) -> bool {
        match self.next_fire_time(tz, Some(*cursor), now) {
            Some(next) if next <= now && next > *cursor => {
                tally.walked(next);
                *cursor = next;
                true
            }
            _ => false,
        }
    }

    /// The number of matching wall-clock seconds `w` with `low < w ≤ high` (seconds since
    /// 1970-01-01 00:00 wall time).
    fn count_after(&self, low: i64, high: i64) -> Option<u64> {
        let from = low.checked_add(1)?;
        if from > high {
            return Some(0);
        }
        let clock = self.clock();
        let (first_day, first_time) = (from.div_euclid(DAY), from.rem_euclid(DAY));
        let (last_day, last_time) = (high.div_euclid(DAY), high.rem_euclid(DAY));
        if first_day == last_day {
            return Some(if self.day_matches(first_day)? {
                clock.below(last_time + 1) - clock.below(first_time)
            } else {
                0
            });
        }
        let mut count = 0;
        if self.day_matches(first_day)? {
            count += clock.per_day() - clock.below(first_time);
        }
        count += self.matching_days(first_day + 1, last_day - 1)? * clock.per_day();
        if self.day_matches(last_day)? {
            count += clock.below(last_time + 1);
        }
        Some(count)
    }

    /// The `k`-th (from 1) matching wall-clock second after `low`; `None` if there is none by
    /// the year 9999.
    fn nth_after(&self, low: i64, k: u64) -> Option<i64> {
        let clock = self.clock();
        let per_day = clock.per_day();
        if k == 0 || per_day == 0 {
            return None;
        }
        let from = low.checked_add(1)?;
        let (day, time) = (from.div_euclid(DAY), from.rem_euclid(DAY));
        let mut k = k;
        if self.day_matches(day)? {
            let before = clock.below(time);
            let here = per_day - before;
            if k <= here {
                return at_day(day, clock.select(before + k - 1)?);
            }
            k -= here;
        }
        let mut date = day_date(day.checked_add(1)?)?;
        loop {
            let (year, month) = (date.year(), date.month());
            if year > 9999 {
                return None;
            }
            let days = self.month_days(year, month) & (u32::MAX << date.day());
            let in_month = u64::from(days.count_ones()) * per_day;
            if k <= in_month {
                let mut rest = days;
                while rest != 0 {
                    let d = rest.trailing_zeros();
                    if k <= per_day {
                        let index = day_index(NaiveDate::from_ymd_opt(year, month, d)?);
                        return at_day(index, clock.select(k - 1)?);
                    }
                    k -= per_day;
                    rest &= rest - 1;
                }
                return None;
            }
            k -= in_month;
            date = self.next_month_to_search(year, month)?;
        }
    }

    /// The first day of the month after `year`-`month`, skipping years the year field rules
    /// out (and the years before 1970, which never match).
    fn next_month_to_search(&self, year: i32, month: u32) -> Option<NaiveDate> {
        let (mut year, month) = if month >= 12 {
            (year.checked_add(1)?, 1)
        } else {
            (year, month + 1)
        };
        let mut month = month;
        if !self.year_matches(year) {
            year = self.next_year(year.checked_add(if month == 1 { 0 } else { 1 })?)?;
            month = 1;
        }
        NaiveDate::from_ymd_opt(year, month, 1)
    }

    /// The first year ≥ `year` the year field allows (at least 1970); past 9999 when none is.
    fn next_year(&self, year: i32) -> Option<i32> {
        let year = u32::try_from(year.max(1970)).ok()?;
        let field = &self.fields[0];
        let next = if field.any {
            Some(year)
        } else {
            field.next_static(year)
        };
        Some(next.and_then(|y| i32::try_from(y).ok()).unwrap_or(10_000))
    }

    /// The number of matching days from `first` to `last` inclusive (day numbers from 1970).
    fn matching_days(&self, first: i64, last: i64) -> Option<u64> {
        if first > last {
            return Some(0);
        }
        let end = day_date(last)?;
        let mut date = day_date(first)?;
        let mut count = 0u64;
        while date <= end {
            let (year, month) = (date.year(), date.month());
            let mut days = self.month_days(year, month) & (u32::MAX << date.day());
            if year == end.year() && month == end.month() && end.day() < 31 {
                days &= (1u32 << (end.day() + 1)) - 1;
            }
            count += u64::from(days.count_ones());
            date = self.next_month_to_search(year, month)?;
            if date.year() > 9999 {
                break;
            }
        }
        Some(count)
    }

    /// Whether every date field matches day `day` (days from 1970-01-01).
    fn day_matches(&self, day: i64) -> Option<bool> {
        let date = day_date(day)?;
        Some(self.month_days(date.year(), date.month()) & (1 << date.day()) != 0)
    }

    /// The days of `year`-`month` (bit d = day d) that match every date field: what the search
    /// ([`CronTrigger::next_match`]) accepts, years before 1970 and after 9999 included (never).
    fn month_days(&self, year: i32, month: u32) -> u32 {
        if !self.year_matches(year) || self.fields[1].mask & (1 << month) == 0 {
            return 0;
        }
        let mut days = self.day_mask(year, month);
        let week = &self.fields[3];
        if !week.any {
            let mut rest = days;
            while rest != 0 {
                let d = rest.trailing_zeros();
                if !week_matches(week.mask, year, month, d) {
                    days &= !(1 << d);
                }
                rest &= rest - 1;
            }
        }
        days & (u32::MAX >> (31 - days_in_month(year, month)))
    }

    fn year_matches(&self, year: i32) -> bool {
        (1970..=9999).contains(&year) && self.next_year(year) == Some(year)
    }

    fn clock(&self) -> DayClock {
        DayClock {
            hours: self.fields[5].mask & ((1 << 24) - 1),
            minutes: self.fields[6].mask & ((1 << 60) - 1),
            seconds: self.fields[7].mask & ((1 << 60) - 1),
        }
    }
}

/// The matching times of day: the hour, minute and second bitmasks.
#[derive(Debug, Clone, Copy)]
struct DayClock {
    hours: u64,
    minutes: u64,
    seconds: u64,
}

impl DayClock {
    fn per_day(self) -> u64 {
        u64::from(self.hours.count_ones())
            * u64::from(self.minutes.count_ones())
            * u64::from(self.seconds.count_ones())
    }

    /// How many matching times of day come before `time` (seconds since midnight, 0..=86 400).
    fn below(self, time: i64) -> u64 {
        let (hour, minute, second) = (time / 3600, time % 3600 / 60, time % 60);
        let seconds = u64::from(self.seconds.count_ones());
        let per_hour = u64::from(self.minutes.count_ones()) * seconds;
        let mut count = bits_below(self.hours, hour) * per_hour;
        if has_bit(self.hours, hour) {
            count += bits_below(self.minutes, minute) * seconds;
            if has_bit(self.minutes, minute) {
                count += bits_below(self.seconds, second);
            }
        }
        count
    }

    /// The matching time of day of rank `rank` (from 0), in seconds since midnight.
    fn select(self, rank: u64) -> Option<i64> {
        let seconds = u64::from(self.seconds.count_ones());
        let per_hour = u64::from(self.minutes.count_ones()) * seconds;
        if per_hour == 0 {
            return None;
        }
        let hour = nth_bit(self.hours, rank / per_hour)?;
        let rest = rank % per_hour;
        let minute = nth_bit(self.minutes, rest / seconds)?;
        let second = nth_bit(self.seconds, rest % seconds)?;
        Some(i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second))
    }
}

fn bits_below(mask: u64, value: i64) -> u64 {
    match u32::try_from(value) {
        Ok(v) if v < 64 => u64::from((mask & ((1u64 << v) - 1)).count_ones()),
        Ok(_) => u64::from(mask.count_ones()),
        Err(_) => 0,
    }
}

fn has_bit(mask: u64, value: i64) -> bool {
    u32::try_from(value).is_ok_and(|v| v < 64 && mask & (1u64 << v) != 0)
}

/// The position of the `n`-th (from 0) set bit.
fn nth_bit(mask: u64, n: u64) -> Option<u32> {
    let mut rest = mask;
    for _ in 0..n {
        if rest == 0 {
            return None;
        }
        rest &= rest - 1;
    }
    (rest != 0).then(|| rest.trailing_zeros())
}

fn day_date(day: i64) -> Option<NaiveDate> {
    NaiveDate::from_num_days_from_ce_opt(i32::try_from(day.checked_add(EPOCH_DAYS_FROM_CE)?).ok()?)
}

fn day_index(date: NaiveDate) -> i64 {
    i64::from(date.num_days_from_ce()) - EPOCH_DAYS_FROM_CE
}

fn at_day(day: i64, time: i64) -> Option<i64> {
    day.checked_mul(DAY)?.checked_add(time)
}

/// The zone's offset from UTC at `at` (seconds since 1970), in seconds.
fn offset_at(zone: Tz, at: i64) -> Option<i64> {
    let utc = DateTime::from_timestamp(at, 0)?.naive_utc();
    Some(i64::from(
        zone.offset_from_utc_datetime(&utc).fix().local_minus_utc(),
    ))
}

/// A change of the zone's offset from UTC.
#[derive(Debug, Clone, Copy)]
struct Transition {
    /// The first second (since 1970) with the new offset.
    at: i64,
    before: i64,
    after: i64,
}

impl Transition {
    /// Until when fire times may differ from plain wall-clock matches because of this change:
    /// gap times fire shifted into the change's first `after - before` seconds, and a fold's
    /// repeated times do not fire again in its first `before - after` seconds.
    fn disturbed_until(&self, previous_change: Option<i64>) -> i64 {
        let size = (self.after - self.before).abs();
        let mut until = self.at.saturating_add(size).saturating_add(MARGIN);
        if previous_change.is_some_and(|p| self.at - p < PENDING_LOOKBACK) {
            until = until.max(self.at.saturating_add(PENDING_LOOKBACK + MARGIN));
        }
        until
    }
}

/// The zone's offset changes from a start, found by sampling every [`SAMPLE`] and bisecting
/// to the second (chrono-tz does not expose its transition table).
struct Transitions {
    zone: Tz,
    position: i64,
    offset: i64,
    until: i64,
}

impl Transitions {
    fn new(zone: Tz, from: i64, until: i64) -> Option<Self> {
        Some(Transitions {
            zone,
            position: from,
            offset: offset_at(zone, from)?,
            until,
        })
    }

    /// The next change up to `until`; `None` when there is none (or times leave chrono's
    /// range, where the walk decides anyway).
    fn next(&mut self) -> Option<Transition> {
        if self.zone == Tz::UTC {
            return None;
        }
        while self.position < self.until {
            let step_end = self.position.saturating_add(SAMPLE).min(self.until);
            let end_offset = offset_at(self.zone, step_end)?;
            if end_offset != self.offset {
                let (mut low, mut high) = (self.position, step_end);
                while high - low > 1 {
                    let middle = low + (high - low) / 2;
                    if offset_at(self.zone, middle)? == self.offset {
                        low = middle;
                    } else {
                        high = middle;
                    }
                }
                let after = offset_at(self.zone, high)?;
                let change = Transition {
                    at: high,
                    before: self.offset,
                    after,
                };
                self.position = high;
                self.offset = after;
                return Some(change);
            }
            self.position = step_end;
        }
        None
    }
}

/// What the count has passed: the total, and just enough of the latest pieces to name the
/// latest `keep` fire times at the end.
struct Tally {
    keep: u64,
    total: u64,
    pieces: VecDeque<Piece>,
    stored: u64,
}

/// Fire times passed: one walked, or `count` matching wall-clock seconds after `low` at a
/// fixed `offset`.
enum Piece {
    Walked(DateTime<Utc>),
    Counted { low: i64, count: u64, offset: i64 },
}

impl Piece {
    fn len(&self) -> u64 {
        match self {
            Piece::Walked(_) => 1,
            Piece::Counted { count, .. } => *count,
        }
    }
}

impl Tally {
    fn new(keep: usize) -> Self {
        Tally {
            keep: u64::try_from(keep).unwrap_or(u64::MAX),
            total: 0,
            pieces: VecDeque::new(),
            stored: 0,
        }
    }

    fn walked(&mut self, time: DateTime<Utc>) {
        self.total += 1;
        self.push(Piece::Walked(time));
    }

    fn counted(&mut self, low: i64, count: u64, offset: i64) {
        self.total += count;
        self.push(Piece::Counted { low, count, offset });
    }

    fn push(&mut self, piece: Piece) {
        if self.keep == 0 {
            return;
        }
        self.stored += piece.len();
        self.pieces.push_back(piece);
        while let Some(front) = self.pieces.front() {
            let len = front.len();
            if self.stored - len < self.keep {
                break;
            }
            self.stored -= len;
            self.pieces.pop_front();
        }
    }

    /// The latest `keep` fire times, oldest first, and the total; counted pieces are named by
    /// selecting their first needed time and stepping through the following matches.
    fn finish(self, trigger: &CronTrigger) -> Option<(Vec<DateTime<Utc>>, u64)> {
        let mut need = self.keep.min(self.stored);
        let mut newest_first = Vec::with_capacity(usize::try_from(need.min(1024)).unwrap_or(0));
        for piece in self.pieces.iter().rev() {
            if need == 0 {
                break;
            }
            match *piece {
                Piece::Walked(time) => {
                    newest_first.push(time);
                    need -= 1;
                }
                Piece::Counted { low, count, offset } => {
                    let wanted = count.min(need);
                    let mut times = Vec::with_capacity(usize::try_from(wanted.min(1024)).ok()?);
                    let mut wall = trigger.nth_after(low, count - wanted + 1)?;
                    times.push(wall);
                    for _ in 1..wanted {
                        wall = trigger.nth_after(wall, 1)?;
                        times.push(wall);
                    }
                    for wall in times.into_iter().rev() {
                        newest_first.push(DateTime::from_timestamp(wall.checked_sub(offset)?, 0)?);
                    }
                    need -= wanted;
                }
            }
        }
        newest_first.reverse();
        Some((newest_first, self.total))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_clock_ranks_agree_with_counting() {
        let clock = DayClock {
            hours: 0b1010_0000_0001,
            minutes: (1 << 0) | (1 << 7) | (1 << 59),
            seconds: (1 << 3) | (1 << 30),
        };
        let mut rank = 0;
        for time in 0..DAY {
            let (h, m, s) = (time / 3600, time % 3600 / 60, time % 60);
            assert_eq!(clock.below(time), rank, "{time}");
            if has_bit(clock.hours, h) && has_bit(clock.minutes, m) && has_bit(clock.seconds, s) {
                assert_eq!(clock.select(rank), Some(time));
                rank += 1;
            }
        }
        assert_eq!(clock.below(DAY), rank);
        assert_eq!(clock.per_day(), rank);
        assert_eq!(clock.select(rank), None);
    }
}
