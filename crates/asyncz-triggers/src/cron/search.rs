//! The fire-time search of [`CronTrigger`]: the smallest matching wall-clock time from a start,
//! found field by field on precompiled bitmasks, then placed in the zone by DESIGN.md §4.

use chrono::{
    DateTime, Datelike, Duration, FixedOffset, LocalResult, NaiveDate, NaiveDateTime, Offset,
    TimeZone, Timelike, Utc,
};
use chrono_tz::Tz;

use super::expressions::Expr;
use super::fields::{next_bit, Field};
use super::CronTrigger;
use crate::parse;

impl CronTrigger {
    /// The days of `year`-`month` that match `day` and `day_of_week` (bit d = day d).
    pub(super) fn day_mask(&self, year: i32, month: u32) -> u32 {
        let days_in_month = days_in_month(year, month);
        let first_weekday = weekday(year, month, 1);
        let all_days = (u32::MAX >> (31 - days_in_month)) & !1;
        let day = &self.fields[2];
        // The day mask has bits 1..=31 only, so it fits a u32.
        let mut mask = u32::try_from(day.mask & 0xFFFF_FFFF).unwrap_or(0) & all_days;
        for expr in day.exprs.iter().filter(|e| e.is_dynamic()) {
            match *expr {
                Expr::LastDay => mask |= 1 << days_in_month,
                Expr::WeekdayPosition { nth, weekday } => {
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
    pub(super) fn next_match(&self, from: NaiveDateTime, last_year: i32) -> Option<NaiveDateTime> {
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
    pub(super) fn first_at_or_after(
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

/// For each month (index 1..=12), the ISO weeks any of its days can fall in, over all years.
const MONTH_WEEKS: [u64; 13] = [
    0,
    0x0030_0000_0000_003e,
    0x0000_0000_0000_03e0,
    0x0000_0000_0000_7e00,
    0x0000_0000_0007_e000,
    0x0000_0000_00fe_0000,
    0x0000_0000_0fc0_0000,
    0x0000_0000_fc00_0000,
    0x0000_001f_c000_0000,
    0x0000_01f8_0000_0000,
    0x0000_1f80_0000_0000,
    0x0003_f000_0000_0000,
    0x003f_0000_0000_0002,
];

/// Whether no allowed month has an allowed day and an allowed ISO week (a leap February has
/// 29 days; `last` and `<nth> <weekday>` can match in any month).
pub(super) fn never_matches(fields: &[Field; 8]) -> bool {
    let [_, month, day, week, weekdays, hour, minute, second] = fields;
    if [weekdays, hour, minute, second].iter().any(|f| f.mask == 0) {
        return true;
    }
    let dynamic_days = day.exprs.iter().any(Expr::is_dynamic);
    !(1..=12u32).any(|m| {
        let longest = if m == 2 { 29 } else { days_in_month(2001, m) };
        let days = (u64::MAX >> (63 - longest)) & !1;
        month.mask & (1 << m) != 0
            && (dynamic_days || day.mask & days != 0)
            && week.mask & MONTH_WEEKS[m as usize] != 0
    })
}

fn is_leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

pub(super) fn days_in_month(year: i32, month: u32) -> u32 {
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

pub(super) fn week_matches(mask: u64, year: i32, month: u32, day: u32) -> bool {
    NaiveDate::from_ymd_opt(year, month, day)
        .is_some_and(|date| mask & (1u64 << date.iso_week().week()) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_weeks_cover_every_date() {
        let mut date = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
        let end = NaiveDate::from_ymd_opt(2400, 1, 1).unwrap_or_default();
        let mut seen = [0u64; 13];
        while date < end {
            seen[date.month() as usize] |= 1 << date.iso_week().week();
            date = date.succ_opt().unwrap_or(end);
        }
        assert_eq!(seen, MONTH_WEEKS);
    }

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
