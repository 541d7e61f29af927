//! [`AndTrigger`] (`and`) and [`OrTrigger`] (`or`): triggers made of other triggers.

use std::fmt;
use std::sync::Arc;

use asyncz_core::{Error, Map, Result, Trigger, TriggerContext, Value};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::parse;

/// How many times an [`AndTrigger`] asks its triggers to catch up with each other before it
/// gives up: triggers that never agree (`minute=0` AND `minute=30`) end the schedule instead
/// of searching forever.
pub const AND_SEARCH_LIMIT: usize = 100_000;

/// Fires at the earliest time all its triggers agree on (spec: `AndTrigger`). It is exhausted
/// as soon as any of them is, or when they have not agreed after [`AND_SEARCH_LIMIT`] rounds.
///
/// ```
/// use std::sync::Arc;
/// use asyncz_core::Trigger;
/// use asyncz_triggers::{AndTrigger, CronTrigger};
/// use chrono::{TimeZone, Utc};
///
/// let weekdays = CronTrigger::builder().day_of_week("mon-fri").hour("*").build()?;
/// let nine = CronTrigger::builder().hour(9).build()?;
/// let trigger = AndTrigger::new(vec![Arc::new(weekdays), Arc::new(nine)]);
/// let saturday = Utc.with_ymd_and_hms(2026, 1, 3, 12, 0, 0).unwrap();
/// let next = trigger.next_fire_time(chrono_tz::UTC, None, saturday);
/// assert_eq!(next, Some(Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0).unwrap()));
/// # Ok::<(), asyncz_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct AndTrigger {
    triggers: Vec<Arc<dyn Trigger>>,
    jitter: Option<u32>,
}

/// Fires at the earliest time any of its triggers gives (spec: `OrTrigger`). It is exhausted
/// when all of them are.
#[derive(Debug, Clone)]
pub struct OrTrigger {
    triggers: Vec<Arc<dyn Trigger>>,
    jitter: Option<u32>,
}

macro_rules! combination_common {
    ($ty:ident, $alias:literal) => {
        impl $ty {
            /// Combines `triggers`.
            pub fn new(triggers: Vec<Arc<dyn Trigger>>) -> Self {
                $ty {
                    triggers,
                    jitter: None,
                }
            }

            /// Delays each run by a random 0..=`seconds` (0 = none).
            #[must_use]
            pub fn jitter(mut self, seconds: u32) -> Self {
                self.jitter = (seconds > 0).then_some(seconds);
                self
            }

            /// The combined triggers.
            pub fn triggers(&self) -> &[Arc<dyn Trigger>] {
                &self.triggers
            }

            #[doc = concat!("Builds the trigger from its arguments (the `", $alias, "` plugin): ")]
            /// `triggers`, a list of `{"alias": ..., "args": {...}}` objects, and `jitter`.
            /// Children come from the registry building this trigger
            /// ([`TriggerContext::plugins`]: the scheduler's own), so a trigger registered
            /// only there can be a child; this crate's triggers are known without one.
            pub fn from_args(args: &Map, ctx: &TriggerContext) -> Result<Self> {
                parse::check_known_args($alias, args, &["triggers", "jitter"])?;
                Ok($ty {
                    triggers: children($alias, args, ctx)?,
                    jitter: parse::optional_jitter(args)?,
                })
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}[", $alias)?;
                for (i, trigger) in self.triggers.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{trigger}")?;
                }
                f.write_str("]")
            }
        }
    };
}

combination_common!(AndTrigger, "and");
combination_common!(OrTrigger, "or");

impl Trigger for AndTrigger {
    fn alias(&self) -> &'static str {
        "and"
    }

    fn type_name(&self) -> &'static str {
        "AndTrigger"
    }

    fn next_fire_time(
        &self,
        tz: Tz,
        previous: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let mut times = Vec::with_capacity(self.triggers.len());
        for trigger in &self.triggers {
            times.push(trigger.next_fire_time(tz, previous, now)?);
        }
        for _ in 0..AND_SEARCH_LIMIT {
            let latest = *times.iter().max()?;
            if times.iter().all(|t| *t == latest) {
                return Some(parse::apply_jitter(latest, self.jitter));
            }
            // Every trigger behind catches up to the latest candidate: its first fire time at
            // or after it. One that cannot reach it (a past date) is exhausted.
            for (time, trigger) in times.iter_mut().zip(&self.triggers) {
                if *time < latest {
                    let next = trigger.next_fire_time(tz, None, latest)?;
                    if next < latest {
                        return None;
                    }
                    *time = next;
                }
            }
        }
        tracing::warn!(
            target: "asyncz.triggers",
            trigger = %self,
            rounds = AND_SEARCH_LIMIT,
            "the combined triggers never agreed on a fire time; the schedule is exhausted"
        );
        None
    }

    fn state(&self) -> Map {
        combination_state(&self.triggers, self.jitter)
    }
}

impl Trigger for OrTrigger {
    fn alias(&self) -> &'static str {
        "or"
    }

    fn type_name(&self) -> &'static str {
        "OrTrigger"
    }

    fn next_fire_time(
        &self,
        tz: Tz,
        previous: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        // Each child is asked for its first fire time strictly after `previous` (as a first
        // fire time from just after it), so a child that has not fired yet — a date, say —
        // is not lost because another child fired (upstream loses it).
        self.triggers
            .iter()
            .filter_map(|t| match previous {
                Some(p) => p
                    .checked_add_signed(chrono::Duration::microseconds(1))
                    .and_then(|after| t.next_fire_time(tz, None, after.max(now)))
                    .filter(|next| *next > p),
                None => t.next_fire_time(tz, None, now),
            })
            .min()
            .map(|t| parse::apply_jitter(t, self.jitter))
    }

    fn state(&self) -> Map {
        combination_state(&self.triggers, self.jitter)
    }
}

fn combination_state(triggers: &[Arc<dyn Trigger>], jitter: Option<u32>) -> Map {
    let list: Vec<Value> = triggers
        .iter()
        .map(|t| {
            let mut entry = Map::new();
            entry.insert("alias".into(), t.alias().into());
            entry.insert("args".into(), Value::Object(t.state()));
            Value::Object(entry)
        })
        .collect();
    let mut state = Map::new();
    state.insert("triggers".into(), Value::Array(list));
    if let Some(jitter) = jitter {
        state.insert("jitter".into(), jitter.into());
    }
    state
}

fn children(alias: &str, args: &Map, ctx: &TriggerContext) -> Result<Vec<Arc<dyn Trigger>>> {
    let field = || format!("{alias} trigger argument 'triggers'");
    let Some(Value::Array(list)) = args.get("triggers") else {
        return Err(Error::invalid(
            field(),
            "expected a list of {\"alias\": ..., \"args\": {...}} objects",
        ));
    };
    if list.is_empty() {
        return Err(Error::invalid(field(), "needs at least one trigger"));
    }
    list.iter()
        .enumerate()
        .map(|(index, entry)| {
            let bad =
                |why: &str| Error::invalid(format!("{alias} trigger 'triggers[{index}]'"), why);
            let Value::Object(entry) = entry else {
                return Err(bad("expected an object {\"alias\": ..., \"args\": {...}}"));
            };
            let Some(Value::String(child)) = entry.get("alias") else {
                return Err(bad("missing the trigger's \"alias\""));
            };
            let empty = Map::new();
            let child_args = match entry.get("args") {
                None | Some(Value::Null) => &empty,
                Some(Value::Object(map)) => map,
                Some(_) => return Err(bad("\"args\" must be an object")),
            };
            build_child(child, child_args, ctx)
        })
        .collect()
}

/// A child comes from the registry that is building its parent (the scheduler's own, so a
/// trigger registered only there works as a child); this crate's triggers are known even
/// without one, or when that registry lacks them.
fn build_child(alias: &str, args: &Map, ctx: &TriggerContext) -> Result<Arc<dyn Trigger>> {
    match ctx.plugins() {
        Some(plugins) if plugins.has_trigger(alias) => plugins.create_trigger(alias, args, ctx),
        plugins => crate::build(alias, args, ctx).unwrap_or_else(|| {
            Err(Error::Alias {
                kind: "trigger",
                alias: alias.to_owned(),
                message: if plugins.is_some() {
                    "no trigger plugin by this name is registered on the scheduler's plugin \
                     registry"
                        .to_owned()
                } else {
                    "not a built-in trigger, and no plugin registry was given to look it up \
                     in (TriggerContext::with_plugins)"
                        .to_owned()
                },
            })
        }),
    }
}
