//! Property tests of the cron search against an independent model: random field expressions
//! (built from structured values whose allowed sets the test computes itself), random start
//! times. Fire times strictly increase, each matches every field, and over a bounded window no
//! matching second is skipped (checked by scanning every second).
#![allow(clippy::unwrap_used)]

mod common;

use asyncz_core::{Map, Trigger};
use asyncz_triggers::CronTrigger;
use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Timelike, Utc};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Item {
    All(Option<u32>),
    Single(u32),
    Range(u32, u32, Option<u32>),
    From(u32, u32),
}

impl Item {
    fn text(&self) -> String {
        match self {
            Item::All(None) => "*".into(),
            Item::All(Some(s)) => format!("*/{s}"),
            Item::Single(a) => a.to_string(),
            Item::Range(a, b, None) => format!("{a}-{b}"),
            Item::Range(a, b, Some(s)) => format!("{a}-{b}/{s}"),
            Item::From(a, s) => format!("{a}/{s}"),
        }
    }

    fn allows(&self, v: u32, min: u32, max: u32) -> bool {
        let stepped =
            |low: u32, high: u32, step: u32| v >= low && v <= high && (v - low) % step == 0;
        match *self {
            Item::All(step) => stepped(min, max, step.unwrap_or(1)),
            Item::Single(a) => v == a,
            Item::Range(a, b, step) => stepped(a, b, step.unwrap_or(1)),
            Item::From(a, step) => stepped(a, max, step),
        }
    }
}

fn item(min: u32, max: u32) -> impl Strategy<Value = Item> {
    prop_oneof![
        3 => Just(Item::All(None)),
        1 => (1..=(max - min)).prop_map(|s| Item::All(Some(s))),
        2 => (min..=max).prop_map(Item::Single),
        2 => (min..=max, min..=max, 0..6u32).prop_map(|(a, b, s)| {
            let (a, b) = (a.min(b), a.max(b));
            let step = (s > 0 && b > a).then(|| s.min(b - a));
            Item::Range(a, b, step)
        }),
        1 => (min..max, 1..10u32).prop_map(move |(a, s)| Item::From(a, s.min(max - a).max(1))),
    ]
}

#[derive(Debug, Clone)]
struct Field {
    items: Vec<Item>,
    min: u32,
    max: u32,
}

impl Field {
    fn text(&self) -> String {
        self.items
            .iter()
            .map(Item::text)
            .collect::<Vec<_>>()
            .join(",")
    }
    fn allows(&self, v: u32) -> bool {
        self.items.iter().any(|i| i.allows(v, self.min, self.max))
    }
}

fn field(min: u32, max: u32, max_items: usize) -> impl Strategy<Value = Field> {
    prop::collection::vec(item(min, max), 1..=max_items).prop_map(move |items| Field {
        items,
        min,
        max,
    })
}

/// A day-field extra: `last` or `<nth> <weekday>`.
#[derive(Debug, Clone)]
enum DayExtra {
    None,
    Last,
    Nth(u32, u32),
}

#[derive(Debug, Clone)]
struct Spec {
    month: Field,
    day: Field,
    day_extra: DayExtra,
    week: Field,
    dow: Field,
    hour: Field,
    minute: Field,
    second: Field,
}

const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const POSITIONS: [&str; 6] = ["1st", "2nd", "3rd", "4th", "5th", "last"];

impl Spec {
    fn trigger(&self) -> CronTrigger {
        let mut day = self.day.text();
        match self.day_extra {
            DayExtra::None => {}
            DayExtra::Last => day.push_str(",last"),
            DayExtra::Nth(n, w) => day.push_str(&format!(
                ",{} {}",
                POSITIONS[n as usize], WEEKDAYS[w as usize]
            )),
        }
        CronTrigger::builder()
            .year("*")
            .month(self.month.text())
            .day(day)
            .week(self.week.text())
            .day_of_week(self.dow.text())
            .hour(self.hour.text())
            .minute(self.minute.text())
            .second(self.second.text())
            .build()
            .unwrap_or_else(|e| panic!("{self:?}: {e}"))
    }

    fn day_text(&self) -> String {
        let mut day = self.day.text();
        match self.day_extra {
            DayExtra::None => {}
            DayExtra::Last => day.push_str(",last"),
            DayExtra::Nth(n, w) => day.push_str(&format!(
                ",{} {}",
                POSITIONS[n as usize], WEEKDAYS[w as usize]
            )),
        }
        day
    }

    /// The same fields as `cron` plugin arguments.
    fn args(&self) -> Map {
        let mut args = Map::new();
        for (name, text) in [
            ("month", self.month.text()),
            ("day", self.day_text()),
            ("week", self.week.text()),
            ("day_of_week", self.dow.text()),
            ("hour", self.hour.text()),
            ("minute", self.minute.text()),
            ("second", self.second.text()),
        ] {
            args.insert(name.into(), text.into());
        }
        args
    }

    fn matches(&self, t: DateTime<Utc>) -> bool {
        let date = t.date_naive();
        let dim = days_in_month(date.year(), date.month());
        let weekday = date.weekday().num_days_from_monday();
        let day_ok = self.day.allows(date.day())
            || match self.day_extra {
                DayExtra::None => false,
                DayExtra::Last => date.day() == dim,
                DayExtra::Nth(n, w) => {
                    weekday == w
                        && if n == 5 {
                            date.day() + 7 > dim
                        } else {
                            (date.day() - 1) / 7 == n
                        }
                }
            };
        self.month.allows(date.month())
            && day_ok
            && self.week.allows(date.iso_week().week())
            && self.dow.allows(weekday)
            && self.hour.allows(t.hour())
            && self.minute.allows(t.minute())
            && self.second.allows(t.second())
    }
}

fn days_in_month(year: i32, month: u32) -> u32 {
    let next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)
    };
    next.unwrap().pred_opt().unwrap().day()
}

fn sometimes_all(
    f: impl Strategy<Value = Field>,
    min: u32,
    max: u32,
    all_weight: u32,
) -> impl Strategy<Value = Field> {
    prop_oneof![
        all_weight => Just(Field { items: vec![Item::All(None)], min, max }),
        1 => f,
    ]
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        sometimes_all(field(1, 12, 3), 1, 12, 3),
        sometimes_all(field(1, 31, 3), 1, 31, 2),
        prop_oneof![3 => Just(DayExtra::None), 1 => Just(DayExtra::Last), 1 => (0..6u32, 0..7u32).prop_map(|(n, w)| DayExtra::Nth(n, w))],
        sometimes_all(field(1, 53, 2), 1, 53, 6),
        sometimes_all(field(0, 6, 3), 0, 6, 2),
        sometimes_all(field(0, 23, 3), 0, 23, 1),
        field(0, 59, 3),
        field(0, 59, 3),
    )
        .prop_map(|(month, day, day_extra, week, dow, hour, minute, second)| Spec {
            month,
            day,
            day_extra,
            week,
            dow,
            hour,
            minute,
            second,
        })
}

fn start() -> impl Strategy<Value = DateTime<Utc>> {
    // 2024-01-01 .. 2031-01-01, with sub-second parts sometimes.
    (
        1_704_067_200i64..1_924_992_000,
        prop_oneof![Just(0u32), 0..1_000_000_000u32],
    )
        .prop_map(|(s, n)| Utc.timestamp_opt(s, n).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn fire_times_increase_and_match_every_field(spec in spec(), from in start()) {
        let trigger = spec.trigger();
        let mut previous: Option<DateTime<Utc>> = None;
        let mut now = from;
        for _ in 0..40 {
            let Some(next) = trigger.next_fire_time(chrono_tz::UTC, previous, now) else { break };
            prop_assert!(next >= from, "{next} before {from}");
            if let Some(p) = previous {
                prop_assert!(next > p, "{next} not after {p}");
            }
            prop_assert!(spec.matches(next), "{next} does not match {}", trigger);
            previous = Some(next);
            now = next;
        }
    }

    #[test]
    fn no_matching_second_is_skipped(spec in spec(), from in start()) {
        let trigger = spec.trigger();
        let window_end = from + Duration::hours(30);
        let mut expected = Vec::new();
        let mut t = from.with_nanosecond(0).unwrap();
        if t < from {
            t += Duration::seconds(1);
        }
        while t <= window_end {
            if spec.matches(t) {
                expected.push(t);
            }
            t += Duration::seconds(1);
        }
        let mut got = Vec::new();
        let mut previous = None;
        let mut now = from;
        while let Some(next) = trigger.next_fire_time(chrono_tz::UTC, previous, now) {
            if next > window_end {
                break;
            }
            got.push(next);
            previous = Some(next);
            now = next;
        }
        prop_assert_eq!(got, expected, "{}", trigger);
    }
}

/// Tricky inputs that a fuzzer would try first: each is parsed or refused, never a panic.
const CORPUS: [&str; 32] = [
    "",
    " ",
    ",",
    "*,",
    "*/",
    "/5",
    "-",
    "5-",
    "-5",
    "5--6",
    "*/*",
    "**",
    "1/0",
    "0/1",
    "99999999999999999999",
    "4294967295",
    "4294967296-4294967297",
    "last",
    "LAST",
    "last ",
    "5th sun",
    "last  fri",
    "1st",
    "1st 1",
    "mon-",
    "jan-dec/12",
    "jan-dec/11",
    "sun-mon",
    "mon-sun/6",
    "é",
    "*/1,*/2,*/3",
    "0-59/59",
];

#[test]
fn the_seeded_corpus_is_parsed_or_refused_without_panicking() {
    let setters: [fn(asyncz_triggers::CronBuilder, &str) -> asyncz_triggers::CronBuilder; 8] = [
        |b, t| b.year(t),
        |b, t| b.month(t),
        |b, t| b.day(t),
        |b, t| b.week(t),
        |b, t| b.day_of_week(t),
        |b, t| b.hour(t),
        |b, t| b.minute(t),
        |b, t| b.second(t),
    ];
    let from = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    for text in CORPUS {
        for set in setters {
            if let Ok(trigger) = set(CronTrigger::builder(), text).build() {
                let _ = trigger.next_fire_time(chrono_tz::UTC, None, from);
            }
        }
        for line in [
            format!("{text} * * * *"),
            format!("* * * * {text}"),
            text.to_owned(),
        ] {
            if let Ok(trigger) = CronTrigger::from_crontab(&line, None) {
                let _ = trigger.next_fire_time(chrono_tz::UTC, None, from);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_field_text_is_parsed_or_refused_without_panicking(
        text in "[0-9a-zA-Z*/,\\- ]{0,20}",
        which in 0..8usize,
        from in start(),
    ) {
        let builder = CronTrigger::builder();
        let builder = match which {
            0 => builder.year(&text),
            1 => builder.month(&text),
            2 => builder.day(&text),
            3 => builder.week(&text),
            4 => builder.day_of_week(&text),
            5 => builder.hour(&text),
            6 => builder.minute(&text),
            _ => builder.second(&text),
        };
        match builder.build() {
            Ok(trigger) => {
                let _ = trigger.next_fire_time(chrono_tz::America::New_York, None, from);
            }
            Err(e) => prop_assert!(e.to_string().starts_with("invalid cron field '"), "{e}"),
        }
    }

    #[test]
    fn any_crontab_line_is_parsed_or_refused_without_panicking(
        text in "[0-9a-zA-Z*/,\\-? ]{0,40}",
        from in start(),
    ) {
        if let Ok(trigger) = CronTrigger::from_crontab(&text, None) {
            let _ = trigger.next_fire_time(chrono_tz::Europe::London, None, from);
        }
    }
}

/// Zones with a clock change, and the UTC instants of their 2026 changes.
const CHANGES: [(&str, i64); 10] = [
    ("America/New_York", 1_772_953_200), // 2026-03-08 07:00 UTC, spring forward
    ("America/New_York", 1_793_512_800), // 2026-11-01 06:00 UTC, fall back
    ("Europe/London", 1_774_746_000),    // 2026-03-29 01:00 UTC
    ("Europe/London", 1_792_890_000),    // 2026-10-25 01:00 UTC
    ("Australia/Lord_Howe", 1_775_314_800), // 2026-04-04 15:00 UTC, 30 minutes back
    ("Australia/Lord_Howe", 1_791_041_400), // 2026-10-03 15:30 UTC, 30 minutes forward
    ("Pacific/Chatham", 1_775_311_200),  // 2026-04-04 14:00 UTC
    ("Pacific/Chatham", 1_790_431_200),  // 2026-09-26 14:00 UTC
    ("Asia/Kolkata", 1_772_953_200),     // no change: a control
    ("Pacific/Apia", 1_325_239_200),     // 2011-12-30 10:00 UTC: a whole day skipped
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 160, ..ProptestConfig::default() })]

    /// Around clock changes, the fire times are exactly the matching wall times placed by
    /// DESIGN.md §4 (gap → shifted past it, repeated → first occurrence), in order.
    #[test]
    fn dst_fire_times_follow_the_design_rules(
        spec in spec(),
        change in 0..CHANGES.len(),
        offset in -172_800i64..172_800,
    ) {
        let (zone, instant) = CHANGES[change];
        let tz: chrono_tz::Tz = zone.parse().unwrap();
        let from = Utc.timestamp_opt(instant + offset, 0).unwrap();
        let mut args = spec.args();
        args.insert("timezone".into(), zone.into());
        let trigger = common::registry()
            .create_trigger("cron", &args, &common::ctx("2026-01-01T00:00:00Z"))
            .unwrap();
        let got = common::fire_times(trigger.as_ref(), chrono_tz::UTC, &from.to_rfc3339(), 15);
        let expected = common::design_cron_fire_times(&args, tz, from, 15);
        prop_assert_eq!(got, expected, "{} in {} from {}", trigger, zone, from);
    }
}
