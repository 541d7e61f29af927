//! How run records and node records are stored: JSON objects that the Lua scripts read and
//! rewrite with Redis' `cjson`. Every time is a decimal string of microseconds since the Unix
//! epoch (exact, and comparable in Lua), the fence a decimal string (a Lua number would lose
//! digits past 2^53), and `v` names the format so a later one can read this one.

use asyncz_core::chrono::{DateTime, Utc};
use asyncz_core::cluster::{NodeInfo, NodeState, RunRecord};
use serde::{Deserialize, Serialize};

/// The format version written today.
const VERSION: u32 = 1;

/// A run record as stored.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct WireRun {
    v: u32,
    id: String,
    task: String,
    sched: String,
    kind: String,
    state: String,
    #[serde(default)]
    node: Option<String>,
    fence: String,
    attempt: u32,
    on_death: String,
    created: String,
    #[serde(default)]
    started: Option<String>,
    #[serde(default)]
    finished: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

/// Microseconds since the epoch, as stored.
pub(crate) fn micros(t: DateTime<Utc>) -> String {
    t.timestamp_micros().to_string()
}

fn time(field: &str, value: &str) -> Result<DateTime<Utc>, String> {
    value
        .parse::<i64>()
        .ok()
        .and_then(DateTime::<Utc>::from_timestamp_micros)
        .ok_or_else(|| format!("{field} {value:?} is not a time in microseconds"))
}

fn optional_time(field: &str, value: Option<&str>) -> Result<Option<DateTime<Utc>>, String> {
    value.map(|v| time(field, v)).transpose()
}

impl WireRun {
    /// The stored form of `run`.
    pub(crate) fn from_record(run: &RunRecord) -> Self {
        WireRun {
            v: VERSION,
            id: run.run_id.clone(),
            task: run.task_id.clone(),
            sched: micros(run.scheduled_run_time),
            kind: run.kind.as_str().to_owned(),
            state: run.state.as_str().to_owned(),
            node: run.node.clone(),
            fence: run.fence.to_string(),
            attempt: run.attempt,
            on_death: run.on_node_death.as_str().to_owned(),
            created: micros(run.created_at),
            started: run.started_at.map(micros),
            finished: run.finished_at.map(micros),
            error: run.error.clone(),
        }
    }

    /// `run` as stored JSON.
    pub(crate) fn encode(run: &RunRecord) -> String {
        // A struct of strings and integers always serializes.
        serde_json::to_string(&WireRun::from_record(run)).unwrap_or_default()
    }

    /// The run record in `json`; the error says what is wrong with it.
    pub(crate) fn decode(json: &[u8]) -> Result<RunRecord, String> {
        let wire: WireRun = serde_json::from_slice(json).map_err(|e| e.to_string())?;
        if wire.v != VERSION {
            return Err(format!(
                "format version {} is not known (this build reads {VERSION})",
                wire.v
            ));
        }
        let parse = |what: &str, e: asyncz_core::Error| format!("{what}: {e}");
        let mut run = RunRecord::new(
            wire.task,
            time("sched", &wire.sched)?,
            wire.kind.parse().map_err(|e| parse("kind", e))?,
            wire.state.parse().map_err(|e| parse("state", e))?,
            time("created", &wire.created)?,
        );
        run.run_id = wire.id;
        run.node = wire.node;
        run.fence = wire
            .fence
            .parse()
            .map_err(|_| format!("fence {:?} is not a number", wire.fence))?;
        run.attempt = wire.attempt;
        run.on_node_death = wire.on_death.parse().map_err(|e| parse("on_death", e))?;
        run.started_at = optional_time("started", wire.started.as_deref())?;
        run.finished_at = optional_time("finished", wire.finished.as_deref())?;
        run.error = wire.error;
        Ok(run)
    }
}

/// A node record as stored.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct WireNode {
    v: u32,
    id: String,
    host: String,
    pid: u32,
    started: String,
    hb: String,
    state: String,
    /// Skipped when empty: Lua's cjson would write an empty list back as `{}`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    functions: Vec<String>,
}

impl WireNode {
    /// `node` as stored JSON.
    pub(crate) fn encode(node: &NodeInfo) -> String {
        let wire = WireNode {
            v: VERSION,
            id: node.node_id.clone(),
            host: node.host.clone(),
            pid: node.pid,
            started: micros(node.started_at),
            hb: micros(node.last_heartbeat),
            state: node.state.as_str().to_owned(),
            functions: node.functions.clone(),
        };
        serde_json::to_string(&wire).unwrap_or_default()
    }

    /// The node record in `json`; the error says what is wrong with it.
    pub(crate) fn decode(json: &[u8]) -> Result<NodeInfo, String> {
        let wire: WireNode = serde_json::from_slice(json).map_err(|e| e.to_string())?;
        if wire.v != VERSION {
            return Err(format!(
                "format version {} is not known (this build reads {VERSION})",
                wire.v
            ));
        }
        let mut node = NodeInfo::new(
            wire.id,
            wire.host,
            wire.pid,
            time("started", &wire.started)?,
        );
        node.last_heartbeat = time("hb", &wire.hb)?;
        node.state = node_state(&wire.state)?;
        node.functions = wire.functions;
        Ok(node)
    }
}

/// The node state stored as `s` (`''`: none).
pub(crate) fn node_state(s: &str) -> Result<NodeState, String> {
    match s {
        "alive" => Ok(NodeState::Alive),
        "dead" => Ok(NodeState::Dead),
        _ => Err(format!("unknown node state {s:?} (expected alive or dead)")),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use asyncz_core::cluster::{OnNodeDeath, RunKind, RunState};

    #[test]
    fn a_run_record_reads_back_as_written() {
        let at = DateTime::<Utc>::from_timestamp_micros(1_764_650_000_123_456).unwrap_or_default();
        let mut run = RunRecord::new("t/1", at, RunKind::Scheduled, RunState::Running, at)
            .with_owner("node \"a\"", u64::MAX)
            .with_on_node_death(OnNodeDeath::Rerun)
            .with_error("é / \u{0}");
        run.started_at = Some(at);
        run.attempt = 3;
        let json = WireRun::encode(&run);
        assert_eq!(WireRun::decode(json.as_bytes()), Ok(run));
    }

    #[test]
    fn a_bad_record_is_an_error_naming_the_field() {
        let json = r#"{"v":1,"id":"r","task":"t","sched":"soon","kind":"scheduled","state":"submitted","fence":"1","attempt":1,"on_death":"abandon","created":"0"}"#;
        let err = WireRun::decode(json.as_bytes()).unwrap_err();
        assert!(err.contains("sched \"soon\""), "{err}");
        let err = WireRun::decode(br#"{"v":2}"#).unwrap_err();
        assert!(
            err.contains("missing field") || err.contains("version"),
            "{err}"
        );
    }
}
