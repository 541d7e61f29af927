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
    TriggerContext {
        timezone: Tz::UTC,
        now: at(now),
    }
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
