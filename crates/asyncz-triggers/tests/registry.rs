//! `and` / `or` build their children from the registry that builds them: a scheduler's own
//! [`PluginRegistry`], not the process-wide one.
#![allow(clippy::unwrap_used)]

mod common;

use std::fmt;
use std::sync::Arc;

use asyncz_core::{
    DebugExecutor, Map, PluginRegistry, Result, Scheduler, Trigger, TriggerContext, TriggerSpec,
};
use chrono::{DateTime, Duration, DurationRound, Utc};
use chrono_tz::Tz;
use common::{args, at};
use serde_json::json;

/// Fires on the hour, every `every` hours (counted from midnight UTC).
#[derive(Debug)]
struct EveryHours {
    every: i64,
}

impl fmt::Display for EveryHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "every {} hours", self.every)
    }
}

impl Trigger for EveryHours {
    fn alias(&self) -> &'static str {
        "every_hours"
    }
    fn type_name(&self) -> &'static str {
        "EveryHours"
    }
    fn next_fire_time(
        &self,
        _tz: Tz,
        previous: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let from = previous.map_or(now, |p| p + Duration::seconds(1));
        let mut t = from.duration_trunc(Duration::hours(1)).ok()?;
        if t < from {
            t += Duration::hours(1);
        }
        while t.timestamp() / 3600 % self.every != 0 {
            t += Duration::hours(1);
        }
        Some(t)
    }
    fn state(&self) -> Map {
        args(json!({ "every": self.every }))
    }
}

fn every_hours(args: &Map, _ctx: &TriggerContext) -> Result<Arc<dyn Trigger>> {
    let every = args.get("every").and_then(|v| v.as_i64()).unwrap_or(1);
    Ok(Arc::new(EveryHours { every }))
}

/// The built-in triggers plus `every_hours`, which the process-wide registry does not have.
fn own_registry() -> PluginRegistry {
    let mut registry = PluginRegistry::new();
    asyncz_triggers::register(&mut registry);
    registry.add_trigger("every_hours", every_hours);
    registry
}

fn scheduler() -> Scheduler {
    assert!(!asyncz_core::global_registry().has_trigger("every_hours"));
    Scheduler::builder()
        .plugins(own_registry())
        .timezone(Tz::UTC)
        .executor("default", DebugExecutor::new())
        .build()
        .unwrap()
}

fn rfc3339(times: Vec<DateTime<Utc>>) -> Vec<String> {
    times
        .iter()
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .collect()
}

#[test]
fn an_or_trigger_takes_a_child_registered_only_on_the_schedulers_registry() {
    let spec = TriggerSpec::alias(
        "or",
        json!({"triggers": [
            {"alias": "every_hours", "args": {"every": 6}},
            {"alias": "date", "args": {"run_at": "2026-03-01T01:30:00Z"}},
        ]}),
    )
    .unwrap();
    let times = scheduler()
        .preview(spec, 4, Some(at("2026-03-01T00:00:00Z")))
        .unwrap();
    assert_eq!(
        rfc3339(times),
        [
            "2026-03-01T00:00:00Z",
            "2026-03-01T01:30:00Z",
            "2026-03-01T06:00:00Z",
            "2026-03-01T12:00:00Z",
        ]
    );
}

#[test]
fn an_and_trigger_takes_a_child_registered_only_on_the_schedulers_registry() {
    let spec = TriggerSpec::alias(
        "and",
        json!({"triggers": [
            {"alias": "every_hours", "args": {"every": 4}},
            {"alias": "cron", "args": {"minute": 0, "timezone": "UTC"}},
        ]}),
    )
    .unwrap();
    let times = scheduler()
        .preview(spec, 3, Some(at("2026-03-01T00:30:00Z")))
        .unwrap();
    assert_eq!(
        rfc3339(times),
        [
            "2026-03-01T04:00:00Z",
            "2026-03-01T08:00:00Z",
            "2026-03-01T12:00:00Z",
        ]
    );
}

#[test]
fn a_combination_with_a_custom_child_is_rebuilt_from_its_state_by_the_same_registry() {
    let registry = own_registry();
    let ctx = TriggerContext::new(Tz::UTC, at("2026-03-01T00:00:00Z"));
    let children = args(json!({"triggers": [{"alias": "every_hours", "args": {"every": 3}}]}));
    let trigger = registry.create_trigger("or", &children, &ctx).unwrap();
    // What a persistent store does when it reads the task back.
    let again = registry
        .create_trigger(trigger.alias(), &trigger.state(), &ctx)
        .unwrap();
    assert_eq!(again.state(), trigger.state());
    let from = at("2026-03-01T01:00:00Z");
    assert_eq!(
        again.next_fire_time(Tz::UTC, None, from),
        Some(at("2026-03-01T03:00:00Z"))
    );
}

#[test]
fn a_child_unknown_to_the_registry_is_refused_naming_its_alias() {
    let mut registry = PluginRegistry::new();
    asyncz_triggers::register(&mut registry);
    let ctx = TriggerContext::new(Tz::UTC, at("2026-03-01T00:00:00Z"));
    let children = args(json!({"triggers": [{"alias": "every_hours"}]}));
    let error = registry
        .create_trigger("and", &children, &ctx)
        .unwrap_err()
        .to_string();
    assert!(error.contains("'every_hours'"), "{error}");
    assert!(error.contains("registry"), "{error}");
}
