//! Catching up a task one year behind on a one-second cron (`second="*"`), keeping the latest
//! fire time (coalescing): `CronTrigger::fire_times_until` counts instead of walking 31.5
//! million fire times. In UTC the year is counted outright; in Europe/Berlin the spans around
//! its two offset changes are walked. Run: `cargo bench -p asyncz-triggers --bench cron_catchup`.
#![allow(clippy::unwrap_used, missing_docs)]

use std::hint::black_box;

use asyncz_core::Trigger;
use asyncz_triggers::CronTrigger;
use chrono::{Duration, TimeZone, Utc};
use chrono_tz::Tz;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

fn one_year_behind(c: &mut Criterion) {
    let mut group = c.benchmark_group("cron_catchup_one_year_second_star_keep_1");
    let first = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let now = first + Duration::days(365);
    for zone in [Tz::UTC, chrono_tz::Europe::Berlin] {
        let trigger = CronTrigger::builder()
            .second("*")
            .timezone(zone)
            .build()
            .unwrap();
        group.bench_function(BenchmarkId::from_parameter(zone.name()), |b| {
            b.iter(|| trigger.fire_times_until(zone, black_box(first), black_box(now), 1));
        });
    }
    group.finish();
}

criterion_group!(benches, one_year_behind);
criterion_main!(benches);
