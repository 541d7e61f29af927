//! [`ShutdownTrigger`] (`shutdown`): no fire time; the task runs once, when the scheduler
//! shuts down.

use std::fmt;

use asyncz_core::{Map, Result, Trigger, TriggerContext};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::parse;

/// Runs its task once, when the scheduler shuts down (spec: `ShutdownTrigger`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShutdownTrigger;

impl ShutdownTrigger {
    /// The shutdown trigger.
    pub fn new() -> Self {
        ShutdownTrigger
    }

    /// Builds the trigger from its (empty) arguments.
    pub fn from_args(args: &Map, _ctx: &TriggerContext) -> Result<Self> {
        parse::check_known_args("shutdown", args, &[])?;
        Ok(ShutdownTrigger)
    }
}

impl Trigger for ShutdownTrigger {
    fn alias(&self) -> &'static str {
        "shutdown"
    }

    fn type_name(&self) -> &'static str {
        "ShutdownTrigger"
    }

    fn next_fire_time(
        &self,
        _tz: Tz,
        _previous: Option<DateTime<Utc>>,
        _now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        None
    }

    fn state(&self) -> Map {
        Map::new()
    }

    fn is_shutdown(&self) -> bool {
        true
    }
}

impl fmt::Display for ShutdownTrigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("shutdown")
    }
}
