//! Cron next-fire and parse times, beside the `croner` and `cron` crates on the same patterns,
//! in UTC and in America/New_York. Each next-fire measurement chains from the previous fire
//! time, as a scheduler does. Run: `cargo bench -p asyncz-triggers --bench cron`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::str::FromStr;

use asyncz_core::Trigger;
use asyncz_triggers::CronTrigger;
use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

struct Pattern {
    name: &'static str,
    /// How asyncz is given it: a crontab line, or cron fields.
    asyncz: fn(Tz) -> CronTrigger,
    croner: &'static str,
    /// The `cron` crate wants seconds first (and Sunday = 1 for numbers, so names are used).
    cron: &'static str,
}

fn crontab(line: &'static str) -> impl Fn(Tz) -> CronTrigger {
    move |tz| CronTrigger::from_crontab(line, Some(tz)).unwrap()
}

const PATTERNS: [Pattern; 5] = [
    Pattern {
        name: "*/5 * * * *",
        asyncz: |tz| crontab("*/5 * * * *")(tz),
        croner: "*/5 * * * *",
        cron: "0 */5 * * * *",
    },
    Pattern {
        name: "0 9 * * mon-fri",
        asyncz: |tz| crontab("0 9 * * mon-fri")(tz),
        croner: "0 9 * * MON-FRI",
        cron: "0 0 9 * * Mon-Fri",
    },
    Pattern {
        name: "30 2 * * *",
        asyncz: |tz| crontab("30 2 * * *")(tz),
        croner: "30 2 * * *",
        cron: "0 30 2 * * *",
    },
    Pattern {
        name: "0 12 28 2 *",
        asyncz: |tz| crontab("0 12 28 2 *")(tz),
        croner: "0 12 28 2 *",
        cron: "0 0 12 28 2 *",
    },
    Pattern {
        name: "fields minute=*/5 hour=9-17 day_of_week=mon-fri",
        asyncz: |tz| {
            CronTrigger::builder()
                .minute("*/5")
                .hour("9-17")
                .day_of_week("mon-fri")
                .timezone(tz)
                .build()
                .unwrap()
        },
        croner: "*/5 9-17 * * MON-FRI",
        cron: "0 */5 9-17 * * Mon-Fri",
    },
];

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

fn next_fire(c: &mut Criterion) {
    for (zone_name, tz) in [
        ("UTC", chrono_tz::UTC),
        ("America/New_York", chrono_tz::America::New_York),
    ] {
        let mut group = c.benchmark_group(format!("next_fire/{zone_name}"));
        for pattern in &PATTERNS {
            let trigger = (pattern.asyncz)(tz);
            group.bench_with_input(
                BenchmarkId::new("asyncz", pattern.name),
                &trigger,
                |b, t| {
                    let mut previous = start();
                    b.iter(|| {
                        previous = t
                            .next_fire_time(tz, Some(black_box(previous)), previous)
                            .unwrap_or_else(start);
                    });
                },
            );

            let croner = croner::Cron::new(pattern.croner).parse().unwrap();
            group.bench_with_input(
                BenchmarkId::new("croner", pattern.name),
                &croner,
                |b, cron| {
                    let mut previous = start().with_timezone(&tz);
                    b.iter(|| {
                        previous = cron
                            .find_next_occurrence(black_box(&previous), false)
                            .unwrap_or_else(|_| start().with_timezone(&tz));
                    });
                },
            );

            let schedule = cron::Schedule::from_str(pattern.cron).unwrap();
            group.bench_with_input(BenchmarkId::new("cron", pattern.name), &schedule, |b, s| {
                let mut previous = start().with_timezone(&tz);
                b.iter(|| {
                    previous = s
                        .after(black_box(&previous))
                        .next()
                        .unwrap_or_else(|| start().with_timezone(&tz));
                });
            });
        }
        group.finish();
    }
}

fn parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse");
    for pattern in &PATTERNS {
        group.bench_function(BenchmarkId::new("asyncz", pattern.name), |b| {
            b.iter(|| (pattern.asyncz)(black_box(chrono_tz::UTC)));
        });
        group.bench_function(BenchmarkId::new("croner", pattern.name), |b| {
            b.iter(|| {
                croner::Cron::new(black_box(pattern.croner))
                    .parse()
                    .unwrap()
            });
        });
        group.bench_function(BenchmarkId::new("cron", pattern.name), |b| {
            b.iter(|| cron::Schedule::from_str(black_box(pattern.cron)).unwrap());
        });
    }
    group.finish();
}

/// Schedules that can never fire: the search must still end (it stops after the year 9999).
fn never(c: &mut Criterion) {
    let mut group = c.benchmark_group("never");
    group.sample_size(10);
    let cases = [
        (
            "month=2 day=30",
            CronTrigger::builder().month(2).day(30).build().unwrap(),
        ),
        (
            "week=53 month=2",
            CronTrigger::builder().month(2).week(53).build().unwrap(),
        ),
        (
            "day=31 month=4,6,9,11",
            CronTrigger::builder()
                .month("4,6,9,11")
                .day(31)
                .build()
                .unwrap(),
        ),
    ];
    for (name, trigger) in &cases {
        group.bench_function(BenchmarkId::new("asyncz", name), |b| {
            b.iter(|| trigger.next_fire_time(chrono_tz::UTC, None, black_box(start())));
        });
    }
    group.finish();
}

criterion_group!(benches, next_fire, parse, never);
criterion_main!(benches);
