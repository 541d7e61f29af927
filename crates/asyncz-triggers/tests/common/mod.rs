//! Helpers shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used)]

use asyncz_core::{Map, PluginRegistry, Trigger, TriggerContext, Value};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use std::sync::Arc;

pub fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .with_timezone(&Utc)
}

pub fn zone(name: &str) -> Tz {
    name.parse().unwrap()
}

pub fn args(value: Value) -> Map {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

pub fn registry() -> PluginRegistry {
    let mut registry = PluginRegistry::new();
    asyncz_triggers::register(&mut registry);
    registry
}

pub fn ctx(now: &str) -> TriggerContext {
    TriggerContext::new(Tz::UTC, at(now))
}

pub fn create(alias: &str, value: Value, now: &str) -> asyncz_core::Result<Arc<dyn Trigger>> {
    registry().create_trigger(alias, &args(value), &ctx(now))
}

/// The first `count` fire times from `from`, chained like upstream's preview, as RFC 3339 UTC.
pub fn fire_times(trigger: &dyn Trigger, tz: Tz, from: &str, count: usize) -> Vec<String> {
    asyncz_core::preview_fire_times(trigger, tz, at(from), count)
        .iter()
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .collect()
}

/// The error text of a failed build.
pub fn error_of(alias: &str, value: Value) -> String {
    match create(alias, value, "2026-01-01T00:00:00Z") {
        Ok(trigger) => panic!("expected an error, built {trigger}"),
        Err(e) => e.to_string(),
    }
}

/// Where a wall-clock time lands in `tz` by DESIGN.md §4, computed independently of the
/// crate: a repeated time is its first occurrence; a skipped time keeps the offset in force
/// before the gap.
pub fn place(tz: Tz, naive: chrono::NaiveDateTime) -> Option<DateTime<Utc>> {
    use chrono::{LocalResult, Offset, TimeZone};
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(first, _) => Some(first.with_timezone(&Utc)),
        LocalResult::None => {
            // The offset a day earlier is the one before the gap (no zone changes twice a day).
            let before = tz
                .offset_from_utc_datetime(&(naive - chrono::Duration::hours(30)))
                .fix();
            Some((naive - before).and_utc())
        }
    }
}

/// The DESIGN.md §4 answer for a cron trigger given as `args` in zone `tz`: every wall-clock
/// time that matches the fields (enumerated by the same trigger in UTC, where wall time and
/// instant agree), placed in `tz` by [`place`], sorted, repeated instants once, from `from` on.
pub fn design_cron_fire_times(
    args: &Map,
    tz: Tz,
    from: DateTime<Utc>,
    count: usize,
) -> Vec<String> {
    use chrono::Duration;
    let mut utc_args = args.clone();
    utc_args.insert("timezone".into(), "UTC".into());
    let naive_clock = registry()
        .create_trigger("cron", &utc_args, &ctx("2026-01-01T00:00:00Z"))
        .unwrap();
    // The earliest wall time that can land at or after `from`: `from` read with the smaller of
    // the offsets now and a day earlier (right after a spring-forward, the gap's wall times
    // land after `from`).
    let offset = |t: DateTime<Utc>| {
        use chrono::{Offset, TimeZone};
        i64::from(
            tz.offset_from_utc_datetime(&t.naive_utc())
                .fix()
                .local_minus_utc(),
        )
    };
    let smallest = offset(from).min(offset(from - Duration::hours(26)));
    let mut cursor = from + Duration::seconds(smallest - 1);
    let mut previous = None;
    let mut instants = std::collections::BTreeSet::new();
    let mut horizon = None;
    for _ in 0..200_000 {
        let Some(wall) = naive_clock.next_fire_time(Tz::UTC, previous, cursor) else {
            break;
        };
        previous = Some(wall);
        cursor = wall;
        if let Some(instant) = place(tz, wall.naive_utc()) {
            if instant >= from && instants.insert(instant) && instants.len() >= count {
                // Past the count-th instant's wall time by more than any gap, nothing later
                // can come before it.
                let nth: DateTime<Utc> = *instants.iter().nth(count - 1).unwrap();
                horizon = Some(nth.with_timezone(&tz).naive_local() + Duration::hours(3));
            }
        }
        if horizon.is_some_and(|h| wall.naive_utc() > h) {
            break;
        }
    }
    instants
        .iter()
        .take(count)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .collect()
}
