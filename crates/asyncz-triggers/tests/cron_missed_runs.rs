//! `CronTrigger::fire_times_until` (counted) agrees with walking `next_fire_time`
//! (`asyncz_core::walk_fire_times`), across DST gaps and folds, month ends and leap days.
#![allow(clippy::unwrap_used)]

mod common;

use asyncz_core::{walk_fire_times, Trigger};
use asyncz_triggers::CronTrigger;
use chrono::{DateTime, Duration, TimeZone, Utc};
use chrono_tz::Tz;
use common::{at, zone};

const HOUR: i64 = 3600;
const DAY: i64 = 86_400;

/// Field expressions, and the longest span (seconds) worth walking for each in a test.
const EXPRESSIONS: [(&[(&str, &str)], i64); 19] = [
    (&[("second", "*")], 3 * HOUR),
    (&[("second", "*/7")], 10 * HOUR),
    (&[("minute", "10-40"), ("second", "*/15")], 2 * DAY),
    (&[("hour", "1,2,3,23"), ("minute", "*/20")], 200 * DAY),
    (
        &[
            ("day_of_week", "mon,wed,fri"),
            ("hour", "2"),
            ("minute", "30"),
        ],
        3 * 365 * DAY,
    ),
    (
        &[("day", "last"), ("hour", "0,12"), ("minute", "0")],
        4 * 365 * DAY,
    ),
    (
        &[("month", "1,2,3,10,11"), ("day", "29-31"), ("hour", "*/6")],
        4 * 365 * DAY,
    ),
    (
        &[("day", "2nd sun"), ("hour", "2-3"), ("minute", "*/5")],
        3 * 365 * DAY,
    ),
    (
        &[("week", "1,9,10,44"), ("hour", "*"), ("minute", "0,30")],
        2 * 365 * DAY,
    ),
    (
        &[
            ("year", "2026,2028"),
            ("month", "feb,mar"),
            ("day", "28,29,1"),
            ("hour", "1-3"),
            ("minute", "*/10"),
        ],
        3 * 365 * DAY,
    ),
    (&[("hour", "0-3"), ("minute", "*")], 15 * DAY),
    (&[("minute", "0-5,30-35"), ("second", "0,30")], 7 * DAY),
    (
        &[("day", "last fri"), ("hour", "2"), ("minute", "15,45")],
        5 * 365 * DAY,
    ),
    (&[("hour", "2"), ("minute", "15")], 5 * 365 * DAY),
    (
        &[
            ("day_of_week", "sun"),
            ("hour", "1-3"),
            ("minute", "*"),
            ("second", "*/10"),
        ],
        30 * DAY,
    ),
    (
        &[("month", "2"), ("day", "29"), ("hour", "12")],
        8 * 365 * DAY,
    ),
    // Only gap times: each fires shifted, on an instant no real wall time matches.
    (&[("hour", "2"), ("minute", "*/10")], 2 * 365 * DAY),
    (
        &[("hour", "2"), ("minute", "0-29/7"), ("second", "0,30")],
        365 * DAY,
    ),
    (
        &[("day_of_week", "sun"), ("hour", "2"), ("second", "*/20")],
        365 * DAY,
    ),
];

/// The zones, each with instants (UTC) at its 2026 and 2028 offset changes.
fn zones() -> Vec<(Tz, Vec<&'static str>)> {
    vec![
        (Tz::UTC, vec![]),
        (
            zone("Europe/Berlin"),
            vec![
                "2026-03-29T01:00:00Z",
                "2026-10-25T01:00:00Z",
                "2028-03-26T01:00:00Z",
                "2028-10-29T01:00:00Z",
            ],
        ),
        (
            zone("America/New_York"),
            vec![
                "2026-03-08T07:00:00Z",
                "2026-11-01T06:00:00Z",
                "2028-03-12T07:00:00Z",
            ],
        ),
        (
            // 30-minute changes: 02:00 → 01:30 in April, 02:00 → 02:30 in October.
            zone("Australia/Lord_Howe"),
            vec![
                "2026-04-04T15:00:00Z",
                "2026-10-03T15:30:00Z",
                "2028-04-01T15:00:00Z",
            ],
        ),
    ]
}

/// Month ends, year ends and the leap day 2028-02-29, for every zone.
const CALENDAR_ANCHORS: [&str; 7] = [
    "2026-01-31T23:00:00Z",
    "2026-04-30T12:00:00Z",
    "2026-12-31T23:59:30Z",
    "2028-02-28T22:00:00Z",
    "2028-02-29T12:00:00Z",
    "2028-03-01T00:00:00Z",
    "2027-02-28T23:00:00Z",
];

/// A small deterministic generator (Knuth's MMIX LCG), so failures reproduce.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[usize::try_from(self.below(items.len() as u64)).unwrap()]
    }
}

fn build(
    fields: &[(&str, &str)],
    timezone: Option<Tz>,
    start_at: Option<DateTime<Utc>>,
    end_at: Option<DateTime<Utc>>,
) -> CronTrigger {
    let mut builder = CronTrigger::builder();
    for (name, expression) in fields {
        builder = builder.field(name, expression).unwrap();
    }
    if let Some(tz) = timezone {
        builder = builder.timezone(tz);
    }
    if let Some(start) = start_at {
        builder = builder.start_at(start);
    }
    if let Some(end) = end_at {
        builder = builder.end_at(end);
    }
    builder.build().unwrap()
}

/// Compares the counted answer with the walk for keep = 0, 1, 3, 1000: the walk keeps the
/// latest 1000, and the walk with a smaller keep keeps the tail of those.
fn assert_agrees(trigger: &CronTrigger, tz: Tz, first: DateTime<Utc>, now: DateTime<Utc>) -> u64 {
    let (walked, total) = walk_fire_times(trigger, tz, first, now, 1000);
    for keep in [0, 1, 3, 1000] {
        let expected = walked[walked.len().saturating_sub(keep)..].to_vec();
        let counted = trigger.fire_times_until(tz, first, now, keep);
        assert_eq!(
            counted,
            (expected, total),
            "{trigger} zone={tz} first={first} now={now} keep={keep} start_at/end_at={:?}",
            trigger.state()
        );
    }
    total
}

#[test]
fn counted_missed_runs_match_the_walk_across_dst_month_ends_and_leap_days() {
    let mut rng = Lcg(0x5eed_2028_0229);
    let mut cases = 0;
    let mut fires = 0;
    for (tz, changes) in zones() {
        let anchors: Vec<&str> = changes.iter().copied().chain(CALENDAR_ANCHORS).collect();
        for (fields, longest) in EXPRESSIONS {
            for draw in 0..8 {
                // Alternate the zone between the trigger's own and the scheduler's.
                let own_zone = draw % 2 == 0;
                let anchor = at(rng.pick::<&str>(&anchors));
                let span = match rng.below(3) {
                    0 => longest,
                    1 => longest / 4,
                    _ => 1 + i64::try_from(rng.below(u64::try_from(longest).unwrap())).unwrap(),
                };
                let before = i64::try_from(rng.below(u64::try_from(span).unwrap())).unwrap();
                let fraction = Duration::microseconds(i64::try_from(rng.below(1_000_000)).unwrap());
                let mut first = anchor - Duration::seconds(before);
                let mut now = first + Duration::seconds(span);
                if rng.below(2) == 0 {
                    now += fraction;
                }
                let (start_at, end_at) = match rng.below(4) {
                    0 => (
                        Some(first + Duration::seconds(span / 3) + fraction),
                        Some(first + Duration::seconds(2 * span / 3)),
                    ),
                    1 => (Some(first + Duration::seconds(span / 5)), None),
                    2 => (None, Some(now - Duration::seconds(span / 7) - fraction)),
                    _ => (None, None),
                };
                let trigger = build(fields, own_zone.then_some(tz), start_at, end_at);
                // The scheduler's zone is ignored when the trigger has its own.
                let passed = if own_zone { Tz::UTC } else { tz };
                match rng.below(3) {
                    // A fire time, as the engine passes it.
                    0 => {
                        if let Some(fire) = trigger.next_fire_time(passed, None, first) {
                            first = fire;
                        }
                    }
                    // Any instant, not on a whole second.
                    1 => first += fraction,
                    _ => {}
                }
                if first > now {
                    now = first + Duration::seconds(span);
                }
                fires += assert_agrees(&trigger, passed, first, now);
                cases += 1;
            }
        }
    }
    assert!(cases >= 300, "{cases} cases");
    assert!(fires > 100_000, "{fires} fire times compared");
}

#[test]
fn counted_missed_runs_match_the_walk_in_zones_with_unusual_changes() {
    // Samoa skipped 2011-12-30 (a 24-hour gap); Santiago's clocks change at midnight; Troll
    // moves two hours at once.
    let cases = [
        ("Pacific/Apia", "2011-12-30T10:00:00Z"),
        ("America/Santiago", "2026-09-06T04:00:00Z"),
        ("America/Santiago", "2026-04-05T03:00:00Z"),
        ("Antarctica/Troll", "2026-03-29T01:00:00Z"),
        ("Antarctica/Troll", "2026-10-25T01:00:00Z"),
    ];
    let mut rng = Lcg(0x0a91_2011_1230);
    for (name, change) in cases {
        let tz = zone(name);
        for (fields, longest) in EXPRESSIONS {
            let span = longest.min(40 * DAY);
            let before = i64::try_from(rng.below(u64::try_from(span).unwrap())).unwrap();
            let first = at(change) - Duration::seconds(before);
            let trigger = build(fields, Some(tz), None, None);
            assert_agrees(&trigger, tz, first, first + Duration::seconds(span));
        }
    }
}

#[test]
fn counted_missed_runs_match_the_walk_when_first_is_after_now_or_start_is_later() {
    let berlin = zone("Europe/Berlin");
    let first = at("2026-03-29T00:30:00Z");
    let trigger = build(&[("second", "*/7")], Some(berlin), None, None);
    assert_eq!(
        trigger.fire_times_until(berlin, first, first - Duration::seconds(1), 3),
        (vec![], 0)
    );
    assert_agrees(&trigger, berlin, first, first);
    // Everything after `first` is before `start_at`, or after `end_at`.
    let late = build(
        &[("second", "*/7")],
        Some(berlin),
        Some(first + Duration::hours(5)),
        None,
    );
    assert_agrees(&late, berlin, first, first + Duration::hours(2));
    let early = build(
        &[("second", "*/7")],
        Some(berlin),
        None,
        Some(first - Duration::hours(5)),
    );
    assert_agrees(&early, berlin, first, first + Duration::hours(2));
    // A field combination that never matches.
    let never = build(&[("month", "2"), ("day", "30")], Some(berlin), None, None);
    assert_agrees(&never, berlin, first, first + Duration::days(800));
}

#[test]
fn a_year_behind_on_a_one_second_cron_counts_every_second() {
    let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let now = t0 + Duration::days(365) - Duration::seconds(1);
    let trigger = build(&[("second", "*")], None, None, None);
    let (kept, total) = trigger.fire_times_until(Tz::UTC, t0, now, 1);
    assert_eq!(total, 31_536_000);
    assert_eq!(kept, vec![now]);
}

#[test]
fn a_year_behind_on_a_one_second_cron_in_berlin_matches_walked_days() {
    // 2026 in Berlin, midnight to midnight CET: 365 days of 86 400 s, one of them 23 hours
    // long (its gap's wall times fire shifted onto instants that fire anyway) and one 25 hours
    // long (its repeated hour fires once). The walk gives each kind of day's count; the year
    // is their sum.
    let berlin = zone("Europe/Berlin");
    let trigger = build(&[("second", "*")], Some(berlin), None, None);
    let midnight = |text: &str| at(text) - Duration::hours(1);
    let walk_day = |start: DateTime<Utc>, end: DateTime<Utc>| {
        walk_fire_times(&trigger, berlin, start, end - Duration::seconds(1), 0).1
    };
    let ordinary = walk_day(
        midnight("2026-06-01T00:00:00Z"),
        midnight("2026-06-02T00:00:00Z"),
    );
    let spring = walk_day(
        midnight("2026-03-29T00:00:00Z"),
        midnight("2026-03-30T00:00:00Z") - Duration::hours(1),
    );
    let autumn = walk_day(
        midnight("2026-10-25T00:00:00Z") - Duration::hours(1),
        midnight("2026-10-26T00:00:00Z"),
    );
    assert_eq!((ordinary, spring, autumn), (86_400, 82_800, 86_400));

    let start = midnight("2026-01-01T00:00:00Z");
    let end = midnight("2027-01-01T00:00:00Z") - Duration::seconds(1);
    let (kept, total) = trigger.fire_times_until(berlin, start, end, 1);
    assert_eq!(total, 363 * ordinary + spring + autumn);
    assert_eq!(total, 31_536_000 - 3600);
    assert_eq!(kept, vec![end]);
}

#[test]
fn a_century_behind_on_a_last_day_cron_counts_each_month_once() {
    let ny = zone("America/New_York");
    let trigger = build(&[("day", "last"), ("hour", "23")], Some(ny), None, None);
    let first = trigger
        .next_fire_time(ny, None, at("2000-01-01T12:00:00Z"))
        .unwrap();
    let now = at("2100-01-01T12:00:00Z");
    let (kept, total) = trigger.fire_times_until(ny, first, now, 2);
    assert_eq!(total, 100 * 12);
    assert_eq!(
        kept,
        vec![at("2099-12-01T04:00:00Z"), at("2100-01-01T04:00:00Z")]
    );
    assert_agrees(&trigger, ny, first, now);
}
