//! Fire-time tables computed by upstream asyncz 0.17.2 (`fixtures/generate.py`), replayed
//! through the registry factories: same fire times, same descriptions.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use asyncz_core::{preview_fire_times, Map, PluginRegistry, Trigger, TriggerContext, Value};
use asyncz_triggers::CronTrigger;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

fn registry() -> PluginRegistry {
    let mut registry = PluginRegistry::new();
    asyncz_triggers::register(&mut registry);
    registry
}

fn instant(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .with_timezone(&Utc)
}

fn format(times: &[DateTime<Utc>]) -> Vec<String> {
    times
        .iter()
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .collect()
}

fn replay(fixture: &str, alias: &str) -> usize {
    let cases: Vec<Value> = serde_json::from_str(fixture).unwrap();
    let registry = registry();
    let mut failures = Vec::new();
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let tz: Tz = case["timezone"].as_str().unwrap().parse().unwrap();
        let from = instant(case["from"].as_str().unwrap());
        let expected: Vec<String> = case["expected"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        let ctx = TriggerContext {
            timezone: Tz::UTC,
            now: from,
        };
        let trigger: std::sync::Arc<dyn Trigger> = match case.get("crontab") {
            Some(line) => std::sync::Arc::new(
                CronTrigger::from_crontab(line.as_str().unwrap(), Some(tz)).unwrap(),
            ),
            None => {
                let mut args: Map = case["args"].as_object().unwrap().clone();
                args.insert("timezone".into(), tz.name().into());
                let trigger = registry.create_trigger(alias, &args, &ctx).unwrap();
                let description = case["description"].as_str().unwrap();
                if trigger.to_string() != description {
                    failures.push(format!(
                        "{name}: described as {trigger}, upstream {description}"
                    ));
                }
                trigger
            }
        };
        // Ask for one more than upstream gave: an exhausted schedule must end at the same place.
        let got = format(&preview_fire_times(
            trigger.as_ref(),
            Tz::UTC,
            from,
            expected.len() + 1,
        ));
        let got: Vec<String> = if got.len() > expected.len() && expected.len() < 3 {
            got
        } else {
            got.into_iter().take(expected.len()).collect()
        };
        if got != expected {
            failures.push(format!(
                "{name}:\n  got      {got:?}\n  upstream {expected:?}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
    cases.len()
}

#[test]
fn cron_fire_times_match_upstream() {
    let count = replay(include_str!("fixtures/upstream_cron.json"), "cron");
    assert!(count > 40);
}

#[test]
fn interval_fire_times_match_upstream() {
    let count = replay(include_str!("fixtures/upstream_interval.json"), "interval");
    assert!(count >= 5);
}
